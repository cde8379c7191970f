import io
import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from stylenet import codec
from stylenet.cli import main
from stylenet.evaluate import EvalPiece, evaluate, markdown_table, note_metrics, wasserstein
from stylenet.inference import Performer
from stylenet.perform import perform_file
from stylenet.shaping import Shaping
from tests.midifix import N, Song, expressive_song, write_song
from tests.modelfix import random_performer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "chorale.mid"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return random_performer().save(tmp_path_factory.mktemp("model") / "m.npz")


def rich_song() -> Song:
    """Piano with off-grid timing and repeated notes, plus everything perform must leave alone."""
    notes = [N(60 + (i * 5) % 24, i * 97 + (i % 3) * 7, i * 97 + 150, 80) for i in range(60)]
    notes += [N(64, 2000, 2400, 80), N(64, 2001, 2200, 70)]  # same key struck twice on one step
    notes += [N(36 + i % 5, i * 240, i * 240 + 100, 90, channel=9) for i in range(20)]  # drums
    notes += [N(40, i * 480, i * 480 + 400, 70, channel=1) for i in range(10)]  # bass
    return Song(notes, tempi=[(0, 100.0), (1500, 130.0)], meters=[(0, 4, 4), (1920, 3, 4)],
                programs={0: 0, 1: 33}, controls=[(0, 0, 64, 127), (1000, 0, 64, 0), (5, 1, 7, 100)],
                text=[(0, "do not touch")])


def events(data: bytes):
    return [[(m.dict(), m.time) for m in t] for t in mido.MidiFile(file=io.BytesIO(data)).tracks]


# ------------------------------------------------------------------------------------------ perform

def test_perform_keeps_everything_but_piano_velocities(tmp_path, model_file):
    src = write_song(tmp_path / "song.mid", rich_song())
    original = src.read_bytes()
    result = perform_file(src, Performer.load(model_file), "jazz", tmp_path / "song.jazz.mid", plot=True)
    assert src.read_bytes() == original
    before, after = events(original), events(result.output.read_bytes())
    assert len(before) == len(after)
    changed = 0
    for ta, tb in zip(before, after):
        assert len(ta) == len(tb)
        for (a, time_a), (b, time_b) in zip(ta, tb):
            assert time_a == time_b
            if a != b:
                assert a["type"] == "note_on" and a["channel"] == 0 and a["velocity"] > 0
                assert {k for k in a if a[k] != b[k]} == {"velocity"} and 1 <= b["velocity"] <= 127
                changed += 1
    assert changed > 40  # the random model does not happen to give 80 everywhere
    assert result.plot.exists() and result.plot.stat().st_size > 10_000


def test_a_recording_performed_on_its_beats_keeps_its_own_timing(tmp_path, model_file, capsys):
    from tests.test_beats import annotation_text, recording, rubato_beats

    times = rubato_beats(30)
    src, _ = recording(tmp_path / "take.mid", times, np.arange(0, 29, 0.25))
    (tmp_path / "take_annotations.txt").write_text(
        annotation_text(times, ["db,3/4" if i == 0 else "db" if i % 3 == 0 else "b" for i in range(30)]))
    out_beats, out_nominal = tmp_path / "beats.mid", tmp_path / "nominal.mid"
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--beats", "beside",
                 "-o", str(out_beats)]) == 0
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "-o", str(out_nominal)]) == 0
    original, on_beats, nominal = (events(p.read_bytes()) for p in (src, out_beats, out_nominal))
    for ta, tb in zip(original, on_beats):
        assert [(a["type"], t) for a, t in ta] == [(b["type"], t) for b, t in tb]
    velocities = [[a["velocity"] for a, _ in t if a["type"] == "note_on"] for t in (on_beats[1], nominal[1])]
    assert velocities[0] != velocities[1]  # the grid the notes were read on changed what the model heard


def test_perform_refuses_one_annotation_for_a_batch(tmp_path, model_file, capsys):
    for name in ("a", "b"):
        write_song(tmp_path / f"{name}.mid", expressive_song(20))
    (tmp_path / "a_annotations.txt").write_text("0.5\t0.5\tb\n1.0\t1.0\tb\n")
    assert main(["perform", str(tmp_path), "--genre", "jazz", "--model", str(model_file),
                 "--beats", str(tmp_path / "a_annotations.txt")]) == 2
    assert "use --beats beside" in capsys.readouterr().err


def test_strength_zero_returns_the_input_velocities(tmp_path, model_file):
    src = write_song(tmp_path / "song.mid", rich_song())
    out = perform_file(src, Performer.load(model_file), "pop", tmp_path / "o.mid", Shaping(strength=0.0)).output
    assert events(out.read_bytes()) == events(src.read_bytes())


def test_strength_blends_per_note(tmp_path, model_file):
    performer = Performer.load(model_file)
    src = write_song(tmp_path / "s.mid", Song([N(60 + i, i * 120, i * 120 + 100, 40) for i in range(20)]))
    full = perform_file(src, performer, "pop", tmp_path / "full.mid", Shaping(contrast=1.0)).after
    half = perform_file(src, performer, "pop", tmp_path / "half.mid", Shaping(contrast=1.0, strength=0.5)).after
    assert np.all(np.abs(half - np.clip(np.rint(0.5 * full + 0.5 * 40), 1, 127)) <= 1)


def test_overwrite_protection(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "song.mid", expressive_song(20))
    args = ["perform", str(src), "--genre", "jazz", "--model", str(model_file)]
    assert main(args) == 0
    out = tmp_path / "song.jazz.mid"
    first = out.read_bytes()
    out.write_bytes(b"user edits")
    assert main(args) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"user edits"
    assert main(args + ["--force"]) == 0 and out.read_bytes() == first
    assert main(args + ["-o", str(src), "--force"]) == 1  # never onto the input, even with --force
    assert "overwrite the input" in capsys.readouterr().err


def test_batch_skips_and_reports_bad_files(tmp_path, model_file, capsys):
    folder = tmp_path / "in"
    write_song(folder / "a.mid", expressive_song(20, seed=1))
    write_song(folder / "sub" / "b c.mid", expressive_song(20, seed=2))
    (folder / "empty.mid").write_bytes(b"")
    (folder / "corrupt.mid").write_bytes(b"MThd garbage")
    write_song(folder / "drums.mid", Song([N(38, 0, 100, 90, channel=9)]))
    code = main(["perform", str(folder), "--genre", "classical", "--model", str(model_file), "-o",
                 str(tmp_path / "out"), "-q"])
    captured = capsys.readouterr()
    assert code == 1
    assert "2 performed, 3 skipped" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.classical.mid", "b c.classical.mid"]
    for name, reason in [("empty.mid", "empty file"), ("corrupt.mid", "unreadable"), ("drums.mid", "no piano notes")]:
        assert any(name in line and reason in line for line in captured.err.splitlines()), (name, captured.err)
    # outputs beside inputs are not taken as inputs the next time
    assert main(["perform", str(folder / "a.mid"), "--genre", "jazz", "--model", str(model_file)]) == 0
    assert main(["perform", str(folder), "--genre", "pop", "--model", str(model_file), "-q"]) == 1
    assert "2 performed, 3 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("content, reason", [(b"", "empty file"), (b"MThd\x00", "unreadable")])
def test_single_bad_file_is_one_line_and_nonzero(tmp_path, model_file, capsys, content, reason):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(content)
    assert main(["perform", str(bad), "--genre", "jazz", "--model", str(model_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.mid" in err and reason in err


def test_unknown_genre_lists_the_known_ones(tmp_path, model_file, capsys):
    src = write_song(tmp_path / "s.mid", expressive_song(10))
    assert main(["perform", str(src), "--genre", "polka", "--model", str(model_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("unknown genre 'polka'; this model knows: classical, jazz, pop") and "\n" not in err


def test_a_file_that_is_not_a_model_is_one_line(tmp_path, capsys):
    src = write_song(tmp_path / "s.mid", expressive_song(10))
    (tmp_path / "bad.npz").write_bytes(b"MThd garbage")
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(tmp_path / "bad.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("bad.npz: not a StyleNet model file (.npz written by StyleNet)") and "\n" not in err
    assert not (tmp_path / "s.jazz.mid").exists()


def _rewrite_header(src, dst, change):
    import json

    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(str(arrays.pop("header")))
    change(header)
    np.savez(dst, header=np.array(json.dumps(header)), **arrays)
    return dst


def test_a_model_from_before_input_layouts_still_performs(tmp_path, model_file, capsys):
    """Models saved before the header named an input layout read the 176 score columns alone."""
    old = _rewrite_header(model_file, tmp_path / "old.npz", lambda h: h.pop("inputs", None))
    assert Performer.load(old).inputs == []
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(old)]) == 0


def test_a_model_reading_an_unknown_input_is_refused_in_one_line(tmp_path, model_file, capsys):
    future = _rewrite_header(model_file, tmp_path / "future.npz", lambda h: h.update(inputs=["harmony"]))
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(future)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("future.npz: model reads input 'harmony', which this StyleNet does not know; upgrade StyleNet")
    assert "\n" not in err


def test_bad_flags_are_rejected(tmp_path, model_file, capsys):
    for flags in (["--strength", "1.5"], ["--level", "loud"], ["--contrast", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["perform", "x.mid", "--genre", "jazz", *flags])
        assert exit_info.value.code == 2
    assert "must be a number from 0 to 1" in capsys.readouterr().err


def test_quantize_writes_the_paper_decode(tmp_path, model_file):
    src = write_song(tmp_path / "s.mid", expressive_song(30))
    result = perform_file(src, Performer.load(model_file), "jazz", tmp_path / "q.mid", quantize=True)
    decoded = codec.quantise(codec.load_midi(result.output))
    original = codec.quantise(codec.load_midi(src))
    assert np.array_equal(decoded.pitch, original.pitch) and np.array_equal(decoded.onset, original.onset)
    assert np.array_equal(np.sort(decoded.velocity), np.sort(result.after.astype(int)))


# ------------------------------------------------------------------------------------------ shaping

# ------------------------------------------------------------------------------------------ evaluate

def test_metrics_on_hand_computed_cases():
    m = note_metrics([np.array([10.0, 20.0, 30.0])], [np.array([10.0, 20.0, 36.0])])
    assert m["mae"] == pytest.approx(2.0) and m["rmse"] == pytest.approx(np.sqrt(12))
    assert m["within_6.4"] == 1.0 and m["within_12.7"] == 1.0
    assert m["std_ratio"] == pytest.approx(np.std([10, 20, 30]) / np.std([10, 20, 36]))
    assert m["r"] == pytest.approx(np.corrcoef([10, 20, 30], [10, 20, 36])[0, 1])
    # level vs shape: a prediction off by a constant has MAE 5 but no shape error
    shifted = note_metrics([np.array([15.0, 25.0]), np.array([55.0, 45.0])], [np.array([10.0, 20.0]), np.array([50.0, 40.0])])
    assert shifted["mae"] == pytest.approx(5.0) and shifted["shape_mae"] == pytest.approx(0.0)
    assert shifted["r_piece_mean"] == pytest.approx(1.0) and shifted["within_6.4"] == 1.0
    assert wasserstein(np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])) == pytest.approx(10.0)
    assert wasserstein(np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0])) == pytest.approx(0.0)


def test_evaluate_table_has_model_and_every_baseline(tmp_path):
    performer = random_performer(("jazz", "pop"))
    pieces = []
    for i, genre in enumerate(["jazz", "pop", "jazz"]):
        score, velocity = codec.encode(codec.quantise(codec.load_midi(write_song(tmp_path / f"{i}.mid", expressive_song(30, seed=i)))))
        step, key = np.nonzero(score[:, 0::2])
        pieces.append(EvalPiece(f"{i}", genre, score, np.rint(velocity[step, key] * 127), step, key))
    result = evaluate(performer, pieces, progress=False)["results"]
    assert set(result) == {"jazz", "pop"}
    assert list(result["jazz"]) == ["model (calibrated)", "model (calibrated, level genre)", "model (raw)", "model as pop",
                                    "flat", "humanizer", "random"]
    assert result["jazz"]["model (raw)"]["pieces"] == 2 and result["pop"]["flat"]["notes"] == 30
    flat = result["jazz"]["flat"]
    truth = np.concatenate([p.truth for p in pieces if p.genre == "jazz"])
    assert flat["mae"] == pytest.approx(np.mean(np.abs(truth - 60.0)))  # the jazz training mean in modelfix
    assert "| model (raw) |" in markdown_table(result)


def test_cli_evaluate_writes_report(tmp_path, model_file, capsys):
    folder = tmp_path / "raw"
    for genre in ("jazz", "pop"):
        for i in range(2):
            write_song(folder / genre / f"{i}.mid", expressive_song(25, seed=i))
    assert main(["evaluate", str(folder), "--model", str(model_file), "--genres", "jazz", "pop",
                 "-o", str(tmp_path / "rep"), "-q"]) == 0
    assert "| flat |" in capsys.readouterr().out
    for name in ("evaluation.json", "evaluation.md", "scatter_jazz.png", "timeline_pop.png"):
        assert (tmp_path / "rep" / name).exists(), name


# ------------------------------------------------------------------------------------------ speed-critical paths

def test_perform_with_a_model_file_never_imports_tensorflow(tmp_path, model_file):
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    code = (f"import sys; from stylenet.cli import main; rc = main(['perform', {str(src)!r}, '--genre', 'pop', "
            f"'--model', {str(model_file)!r}]); print('RC', rc, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "RC 0 False" in result.stdout, result.stderr


def test_numpy_forward_pass_with_metre_input_equals_keras(tmp_path):
    """A model that reads metre: the saved NumPy performer builds the same input (score + metre channels
    from the meter map) as training does, and its velocities equal the Keras model's."""
    from stylenet.backend import import_keras
    from stylenet.codec import encode_input

    keras = import_keras()
    from stylenet.model import build_model

    keras.utils.set_random_seed(4)
    model = build_model(["jazz"], units=16, genre_layers=1, inputs=["metre"])
    path = Performer.from_keras(model).save(tmp_path / "m.npz", dtype=np.float32)
    performer = Performer.load(path)
    assert performer.inputs == ["metre"]
    score = (np.random.default_rng(1).random((96, 176)) < 0.1).astype(np.uint8)
    meters = np.array([[0, 3, 4], [48, 6, 8]])
    expected = np.asarray(model.perform(encode_input(score, meters, ["metre"])[None], "jazz"))[0]
    np.testing.assert_allclose(performer.velocities(score, "jazz", meters), expected, atol=1e-5)
    # the meter map matters: the same notes in 4/4 are played differently
    assert not np.allclose(performer.velocities(score, "jazz", None), expected, atol=1e-3)


def test_numpy_forward_pass_with_voice_input_equals_keras(tmp_path):
    """A model that reads voices computes the top/bottom-key flags itself, in Keras and in NumPy alike."""
    from stylenet.backend import import_keras
    from stylenet.codec import encode_input, voice_channels

    keras = import_keras()
    from stylenet.model import build_model, voice_channels as keras_voices

    keras.utils.set_random_seed(5)
    model = build_model(["jazz"], units=16, genre_layers=1, inputs=["metre", "voice"])
    assert model.interpretation.cell.kernel.shape[0] == 176 + 5 + 176
    performer = Performer.load(Performer.from_keras(model).save(tmp_path / "m.npz", dtype=np.float32))
    score = (np.random.default_rng(2).random((96, 176)) < 0.1).astype(np.uint8)
    meters = np.array([[0, 4, 4]])
    np.testing.assert_array_equal(np.asarray(keras_voices(score[None].astype(np.float32)))[0], voice_channels(score))
    expected = np.asarray(model.perform(encode_input(score, meters, ["metre", "voice"])[None], "jazz"))[0]
    np.testing.assert_allclose(performer.velocities(score, "jazz", meters), expected, atol=1e-5)


def test_numpy_forward_pass_equals_keras():
    from stylenet.backend import import_keras

    keras = import_keras()
    from stylenet.model import build_model

    keras.utils.set_random_seed(3)
    model = build_model(["jazz", "pop"], units=16, genre_layers=2)
    performer = Performer.from_keras(model)
    score = (np.random.default_rng(0).random((1, 120, 176)) < 0.1).astype(np.float32)
    for genre in ("jazz", "pop"):
        expected = np.asarray(model.perform(score, genre))[0]
        np.testing.assert_allclose(performer.velocities(score[0], genre), expected, atol=1e-5)


def test_shipped_model_loads_and_genres_differ(tmp_path):
    from stylenet.inference import SHIPPED, load_performer

    assert SHIPPED.exists() and SHIPPED.stat().st_size < 20e6
    performer = load_performer()
    assert performer.genres == ["classical", "jazz", "pop"]
    assert all(performer.stats[g]["piece_std"] > 0 for g in performer.genres)
    outputs = {}
    for genre in performer.genres:
        result = perform_file(EXAMPLE, performer, genre, tmp_path / f"{genre}.mid", Shaping(contrast=1.0))
        outputs[genre] = result.after
        assert result.after.min() >= 1 and result.after.max() <= 127 and result.after.std() > 0
    for a, b in [("classical", "jazz"), ("jazz", "pop"), ("classical", "pop")]:
        assert np.mean(np.abs(outputs[a] - outputs[b])) > 1.0, (a, b)


def test_example_is_flat_sheet_music():
    piece = codec.load_midi(EXAMPLE)
    assert piece.n_notes > 100 and set(piece.velocity.tolist()) == {80}


def test_timings_say_where_the_time_went(tmp_path, model_file, capsys):
    import time

    src = write_song(tmp_path / "a.mid", expressive_song(40, seed=3))
    started = time.perf_counter()
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--timings", "--plot"]) == 0
    wall = time.perf_counter() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("timings: "), err
    phases = dict(part.rsplit(" ", 2)[:2] for part in err[0][len("timings: "):].split(", "))
    assert list(phases) == ["imports", "model load", "read+encode", "forward", "write", "plot"]
    measured = sum(float(s) for name, s in phases.items() if name != "imports")  # imports began before `started`
    assert 0 < measured <= wall
    # without the flag, nothing extra on stderr
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--force"]) == 0
    assert capsys.readouterr().err == ""


def test_multi_reference_sets_pianists_agreement_beside_the_models():
    from stylenet.evaluate import multi_reference, multi_reference_table

    def piece(name, work, cells, truth):
        step, key = np.array([c[0] for c in cells]), np.array([c[1] for c in cells])
        return EvalPiece(name, "classical", np.zeros((40, 176)), np.array(truth, float), step, key, work=work)

    cells = [(i, 40 + i % 5) for i in range(20)]
    a_truth = np.arange(20) * 3.0 + 20
    a = piece("a", "W", cells, a_truth)
    b = piece("b", "W", cells[:15] + [(30 + i, 10) for i in range(5)], list(a_truth[:15] + 5) + [99] * 5)
    alone = piece("c", "V", cells, a_truth)
    predictions = {"a": a_truth[::-1].copy(), "b": np.arange(20) * 2.0 + 30, "c": a_truth}
    evaluation = {"names": {"classical": ["a", "b", "c"]},
                  "predictions": {"classical": {"model (calibrated)": [predictions[n] for n in "abc"]}}}
    agreement = multi_reference([a, b, alone], evaluation)["classical"]
    assert agreement["works"] == 1 and agreement["performances"] == 2  # the lone performance has no partner
    assert agreement["human_r"] == pytest.approx(1.0) and agreement["human_mae"] == pytest.approx(5.0)
    assert agreement["matched"] == pytest.approx(15 / 20)
    # a's prediction is a's truth reversed (r = -1 against a, and against b = a + 5 on the shared notes);
    # b's rises with b and with a (r = +1): the pair means are 0
    assert agreement["per_work"][0]["pairs"] == 2
    assert agreement["same_r"] == pytest.approx(0.0) and agreement["other_r"] == pytest.approx(0.0)
    assert "| classical | 1 | 2 | 75% | 1.000, 5.0 |" in multi_reference_table({"classical": agreement})
