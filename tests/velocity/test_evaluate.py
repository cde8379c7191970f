"""`stylenet evaluate`: the metrics, the model beside every baseline, the report, and bad inputs skipped."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.core import codec, midifile
from stylenet.play.step import uncalibrated_note
from stylenet.velocity.evaluate import (
    EvalPiece,
    EvaluateOptions,
    calibrate_contrast,
    evaluate,
    load_pieces,
    markdown_table,
    note_metrics,
    run,
    wasserstein,
)
from stylenet.velocity.shaping import Shaping, shape
from tests.helpers import TEMPO_ZERO, damaged_dataset, expressive_song, random_performer, tiny, write_song


def test_metrics_match_hand_computed_cases():
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
    # samples of different sizes: half the mass moves 1 (from 1 to 2), so the distance is 0.5
    assert wasserstein(np.array([1.0, 2.0]), np.array([2.0, 2.0, 2.0, 2.0])) == pytest.approx(0.5)


def test_evaluate_table_has_model_and_every_baseline(tmp_path):
    performer = random_performer(("jazz", "pop"))
    pieces = []
    for i, genre in enumerate(["jazz", "pop", "jazz"]):
        score, velocity = codec.encode(codec.quantise(midifile.load_midi(write_song(tmp_path / f"{i}.mid", expressive_song(30, seed=i)))))
        step, key = np.nonzero(score[:, 0::2])
        pieces.append(EvalPiece(f"{i}", genre, score, np.rint(velocity[step, key] * 127), step, key))
    result = evaluate(performer, pieces, progress=False)["results"]
    assert set(result) == {"jazz", "pop"}
    assert list(result["jazz"]) == ["model (calibrated)", "model (calibrated, level genre)", "model (raw)", "model as pop",
                                    "flat", "humanizer", "random"]
    assert result["jazz"]["model (raw)"]["pieces"] == 2 and result["pop"]["flat"]["notes"] == 30
    flat = result["jazz"]["flat"]
    truth = np.concatenate([p.truth for p in pieces if p.genre == "jazz"])
    assert flat["mae"] == pytest.approx(np.mean(np.abs(truth - 60.0)))  # the jazz training mean of random_performer
    assert "| model (raw) |" in markdown_table(result)
    # a model that reads the score in several keys is also scored read once, in the written key
    performer.transpositions = [-2, 0, 2]
    several = evaluate(performer, pieces, progress=False)["results"]["jazz"]
    assert list(several)[2:4] == ["model (raw)", "model (raw, written key only)"]
    assert several["model (raw, written key only)"] == result["jazz"]["model (raw)"]
    assert several["model (raw)"] != result["jazz"]["model (raw)"]


def test_a_folder_of_midi_files_is_scored_into_json_markdown_and_plots(tmp_path, model_file, capsys):
    folder = tmp_path / "raw"
    for genre in ("jazz", "pop"):
        for i in range(2):
            write_song(folder / genre / f"{i}.mid", expressive_song(25, seed=i))
    assert main(["evaluate", str(folder), "--model", str(model_file), "--genres", "jazz", "pop",
                 "-o", str(tmp_path / "rep"), "-q"]) == 0
    assert "| flat |" in capsys.readouterr().out
    for name in ("evaluation.json", "evaluation.md", "scatter_jazz.png", "timeline_pop.png"):
        assert (tmp_path / "rep" / name).exists(), name


def test_bad_files_are_skipped_and_counted(tmp_path, model_file, capsys):
    folder = tmp_path / "raw"
    for genre in ("jazz", "pop"):
        for i in range(2):
            write_song(folder / genre / f"{i}.mid", expressive_song(25, seed=i))
    (folder / "jazz" / "tempo0.mid").write_bytes(TEMPO_ZERO)
    (folder / "pop" / "cut.mid").write_bytes(TEMPO_ZERO[:40])
    assert main(["evaluate", str(folder), "--model", str(model_file), "-o", str(tmp_path / "rep"), "-q"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("evaluated ")]
    assert err[-1] == "2 file(s) skipped, 4 piece(s) loaded"
    assert sum(line.startswith("evaluated ") for line in lines) == 2  # a line a genre with pieces, under -q too
    assert any("tempo0.mid: tempo event of 0" in line for line in err) and any("cut.mid: unreadable" in line for line in err)
    assert (tmp_path / "rep" / "evaluation.json").exists()


def test_a_damaged_dataset_piece_is_skipped_in_one_line(tmp_path, model_file, capsys):
    dataset, damaged = damaged_dataset(tmp_path)
    assert main(["evaluate", str(dataset), "--model", str(model_file), "--split", "train",
                 "-o", str(tmp_path / "rep"), "-q"]) == 0
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("evaluated ")]
    assert err[0].startswith(f"skipped: {damaged}: damaged dataset piece (") and len(err) == 2
    assert err[1] == "1 file(s) skipped, 5 piece(s) loaded"


def test_multi_reference_sets_pianists_agreement_beside_the_models():
    from stylenet.velocity.evaluate import multi_reference, multi_reference_table

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


def test_a_training_run_is_scored_with_contrast_calibrated_on_its_validation_pieces(genre_dataset, tmp_path):
    from stylenet.velocity.performer import performer_from_run
    from stylenet.velocity.train import train

    train(tiny(genre_dataset, epochs=1), tmp_path / "run", progress=False)
    report = run(EvaluateOptions(str(genre_dataset), str(tmp_path / "run"), "validation", out=str(tmp_path / "ev"),
                                 progress=False))
    performer = performer_from_run(tmp_path / "run")
    validation = load_pieces(genre_dataset, "validation", performer.genres, False, performer.info["config"])
    factors = calibrate_contrast(performer, validation, False)
    assert set(factors) == set(performer.genres) and all(0.25 <= f <= 4 for f in factors.values())  # one per genre
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["meta"]["contrast"] == factors
    jazz = [p for p in validation if p.genre == "jazz"]
    raw = [codec.raw_velocities_at(performer.velocities(p.score, "jazz"), p.step, p.key) for p in jazz]
    stats = {**performer.stats["jazz"], "contrast": factors["jazz"]}
    calibrated = [np.clip(shape(r, p.truth, Shaping(), stats), 1, 127) for r, p in zip(raw, jazz)]
    expected = note_metrics(calibrated, [p.truth for p in jazz])
    assert report.results["jazz"]["model (calibrated)"] == pytest.approx(expected)
    # recorded by the run as its training ended, for these weights: `perform --model RUN` plays what was scored
    assert {g: st["contrast"] for g, st in performer_from_run(tmp_path / "run").stats.items()} == factors
    # new weights (training went on): the cached factors are not theirs, and perform says auto is uncalibrated
    weights = tmp_path / "run" / "best.weights.npz"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    retrained = performer_from_run(tmp_path / "run")
    assert not any("contrast" in st for st in retrained.stats.values())
    assert "no calibrated contrast" in uncalibrated_note(retrained, "jazz", Shaping())
    assert uncalibrated_note(retrained, "jazz", Shaping(contrast=1.0)) == ""
    assert uncalibrated_note(performer, "jazz", Shaping()) == ""
    (tmp_path / "run" / "contrast.json").write_text("{not json")  # a damaged cache is ignored, not a traceback
    assert not any("contrast" in st for st in performer_from_run(tmp_path / "run").stats.values())


def test_several_models_are_scored_as_their_ensemble_calibrated_on_validation(genre_dataset, tmp_path):
    from stylenet.velocity.performer import Performer, performer_from_run
    from stylenet.velocity.train import train

    for seed in (0, 1):  # different weights, the same validation pieces
        config = tiny(genre_dataset, epochs=1, seed=seed)
        config.data.validation_seed = 0
        train(config, tmp_path / f"run{seed}", progress=False)
    runs = (str(tmp_path / "run0"), str(tmp_path / "run1"))
    before = {f: f.read_bytes() for r in runs for f in sorted(Path(r).rglob("*")) if f.is_file()}
    report = run(EvaluateOptions(str(genre_dataset), runs, "validation", out=str(tmp_path / "ev"), progress=False))
    after = {f: f.read_bytes() for r in runs for f in sorted(Path(r).rglob("*")) if f.is_file()}
    assert after == before  # measuring never writes into what it measures
    ensemble = Performer.ensemble([performer_from_run(r) for r in runs])
    validation = load_pieces(genre_dataset, "validation", ensemble.genres, False, ensemble.info["config"])
    meta = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["meta"]
    assert meta["model"] == " + ".join(runs)
    assert meta["contrast"] == calibrate_contrast(ensemble, validation, False)
    raw = note_metrics([np.clip(codec.raw_velocities_at(ensemble.velocities(p.score, "jazz"), p.step, p.key), 1, 127)
                        for p in validation if p.genre == "jazz"], [p.truth for p in validation if p.genre == "jazz"])
    assert report.results["jazz"]["model (raw)"] == pytest.approx(raw)


class _EchoPerformer:
    """A stand-in model whose raw velocity for a note is the human one squeezed to 0.6 of its spread, plus
    noise: what an MSE-trained model does, with a spread the calibration must find (not a cap)."""

    genres = ["jazz"]

    def __init__(self, pieces, seed=0):
        rng = np.random.default_rng(seed)
        self.stats = {"jazz": {"mean": 64.0, "piece_std": 15.0}}
        self.matrices = {}
        for piece in pieces:
            matrix = np.zeros((len(piece.score), midifile.N_KEYS))
            centre = piece.truth.mean()
            matrix[piece.step, piece.key] = (centre + 0.6 * (piece.truth - centre) + rng.normal(0, 3, len(piece.truth))) / 127
            self.matrices[id(piece.score)] = matrix

    def velocities(self, score, genre, meters=None):
        return self.matrices[id(score)]

    def readings(self, score, genres, meters=None):
        return {g: (self.matrices[id(score)], self.matrices[id(score)]) for g in genres}

    def reading_transpositions(self):
        return [0]


def test_the_calibrated_contrast_gives_the_target_spread_on_the_pieces_it_was_chosen_on(tmp_path):
    pieces = []
    for i in range(4):
        score, velocity = codec.encode(codec.quantise(midifile.load_midi(
            write_song(tmp_path / f"{i}.mid", expressive_song(60, seed=10 + i)))))
        step, key = np.nonzero(score[:, 0::2])
        pieces.append(EvalPiece(f"{i}", "jazz", score, np.rint(velocity[step, key] * 127), step, key))
    performer = _EchoPerformer(pieces)
    factors = calibrate_contrast(performer, pieces, False)
    assert 1.2 < factors["jazz"] < 2.0  # undoes most of the 0.6 squeeze
    performer.stats["jazz"]["contrast"] = factors["jazz"]
    results = evaluate(performer, pieces, progress=False)["results"]["jazz"]
    assert results["model (calibrated)"]["std_ratio"] == pytest.approx(0.9, abs=1e-3)
    assert results["model (raw)"]["std_ratio"] < 0.75
    assert results["model (calibrated)"]["r"] == pytest.approx(results["model (raw)"]["r"], abs=0.02)
