"""`perform` writing a whole performance, `evaluate-expression` and `train-expression` end to end, on
files the tests make (a random expression network: what is checked is the plumbing, not the music)."""

import pickle

import numpy as np
import pretty_midi
import pytest

from stylenet.cli.main import main as stylenet
from stylenet.core import midifile
from stylenet.expression.align import self_performed
from stylenet.expression.data import Row
from stylenet.expression.evaluate import evaluate
from stylenet.expression.network import ExpressionNet
from stylenet.expression.notes import FEATURES
from tests.helpers import N, Song, random_expression_net, write_song


@pytest.fixture(scope="module")
def expression_file(tmp_path_factory):
    return random_expression_net(tmp_path_factory.mktemp("expr") / "e.npz")


def _starts(path):
    pm = pretty_midi.PrettyMIDI(str(path))
    return sorted((pm.time_to_tick(n.start), n.pitch) for i in pm.instruments for n in i.notes)


def test_perform_writes_timing_for_a_score_and_keeps_a_recordings_own(tmp_path, model_file, expression_file, capsys):
    score = write_song(tmp_path / "score.mid", Song([N(60 + i % 7, i * 240, i * 240 + 240) for i in range(64)]))
    out = tmp_path / "score.jazz.mid"
    assert stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file),
                     "--expression-model", str(expression_file), "-o", str(out)]) == 0
    assert "rubato, articulation, pedal added" in capsys.readouterr().out
    assert _starts(out) != _starts(score) and len(_starts(out)) == 64
    off = tmp_path / "off.mid"
    assert stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file), "--expression-model",
                     str(expression_file), "--timing", "off", "--articulation", "0", "--pedal", "keep", "-o", str(off)]) == 0
    assert _starts(off) == _starts(score)  # velocities only, as before
    rng = np.random.default_rng(0)
    played = write_song(tmp_path / "played.mid", Song([N(60 + i % 7, int(i * 233 + rng.integers(0, 90)), i * 233 + 300)
                                                       for i in range(64)]))
    assert stylenet(["perform", str(played), "--genre", "jazz", "--model", str(model_file),
                     "--expression-model", str(expression_file), "-o", str(tmp_path / "p.mid")]) == 0
    assert "timing, lengths and pedal kept" in capsys.readouterr().out
    assert _starts(tmp_path / "p.mid") == _starts(played)


def test_bad_expression_options_are_one_line(tmp_path, model_file, capsys):
    score = write_song(tmp_path / "s.mid", Song([N(60, 0, 480)]))
    with pytest.raises(SystemExit) as usage:
        stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file), "--timing", "2"])
    assert usage.value.code == 2 and "must be a number from 0 to 1, or 'off'" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"")
    assert stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file),
                     "--expression-model", str(tmp_path / "bad.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the expression network" in err[0]


def _rows(tmp_path, genre, n, shift=0):
    rows = []
    for k in range(n):
        rng = np.random.default_rng(k + shift)
        notes = [N(int(rng.integers(48, 80)), i * 240 + int(rng.integers(-20, 20)) * (i > 0), i * 240 + 200,
                   int(rng.integers(30, 100))) for i in range(80)]
        piece = midifile.load_midi(write_song(tmp_path / f"{genre}{k}.mid", Song(notes)))
        score, performed = self_performed(piece, genre)
        rows.append(Row(genre, f"{genre}{k}", f"{genre}/{k}.mid", score, performed))
    return rows


def test_evaluate_scores_a_pianist_against_an_identical_one_perfectly(tmp_path, expression_file):
    rows = _rows(tmp_path, "jazz", 2)
    twins = [Row("jazz", "w", "asap/w/a.mid", rows[0].score, rows[0].performed),
             Row("jazz", "w", "asap/w/b.mid", rows[0].score, rows[0].performed)]
    summary = evaluate(twins + rows, ExpressionNet.load(expression_file), progress=False)["jazz"]
    assert summary["human"]["velocity_r"] == pytest.approx(1.0) and summary["human"]["onset_r"] == pytest.approx(1.0)
    assert summary["consensus"]["velocity_mae"] == pytest.approx(0.0)
    assert summary["model"]["performances"] == 4 and summary["score as is"]["velocity_r"] == 0.0
    assert abs(summary["humanizer"]["onset_r"]) < 0.3


def test_train_expression_learns_and_writes_a_network_perform_reads(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for split, shift in (("train", 0), ("validation", 100)):
        with open(data / f"{split}.pkl", "wb") as handle:
            pickle.dump(_rows(tmp_path, "jazz", 3, shift) + _rows(tmp_path, "pop", 2, shift), handle)
    out = tmp_path / "net.npz"
    assert stylenet(["train-expression", "--data", str(data), "--out", str(out), "--work-dir", str(tmp_path / "run"),
                     "--epochs", "2", "--crops", "4", "--crop", "64", "--batch", "4", "--units", "8",
                     "--layers", "1", "--validate-every", "1", "--threads", "1", "--transpose", "2",
                     "--balance", "work", "--consensus"]) == 0
    net = ExpressionNet.load(out)
    assert net.header["settings"]["transpose"] == 2 and net.header["settings"]["consensus"]
    assert net.header["features"] == list(FEATURES)
    assert net.genres == ["jazz", "pop"]
    for genre in ("jazz", "pop"):  # calibrated on validation: how much wider the pianists' spread is
        gains = net.header["spread"][genre]
        assert set(gains) == {"tempo", "onset", "duration", "chord_onset"} and all(0 <= g <= 4 for g in gains.values())
        assert 0 < net.header["velocity"]["genres"][genre]["spread"] <= 4
    assert net(_rows(tmp_path, "pop", 1, 7)[0].score, "pop").shape == (80, 6)
    # rerunning resumes (nothing left to do) rather than starting over
    assert stylenet(["train-expression", "--data", str(data), "--out", str(out), "--work-dir", str(tmp_path / "run"),
                     "--epochs", "2", "--crops", "4", "--crop", "64", "--batch", "4", "--units", "8",
                     "--layers", "1", "--validate-every", "1", "--threads", "1", "--transpose", "2",
                     "--balance", "work", "--consensus"]) == 0
