"""The shipped model's recipe: a training run exported with its card, scored on exactly what ships."""

import json

import numpy as np
import pytest

from stylenet.data.build import build_dataset
from stylenet.velocity.evaluate import calibrate_contrast, load_pieces
from stylenet.velocity.export import LICENCES, export_pretrained
from stylenet.velocity.performer import Performer, performer_from_run, weights_signature
from stylenet.velocity.shaping import AUTO_SPREAD, MAX_CONTRAST
from stylenet.velocity.train import train
from tests.helpers import GENRES, genre_song, tiny, write_song


def _trained_run(tmp_path, validation_fraction: float, seeds=(0,)):
    """Four songs a genre (the last one test), and a one-epoch run on the rest (one run per seed: run, run1...)."""
    raw, rows = tmp_path / "raw", ["path,genre,piece,split"]
    for genre in GENRES:
        for i in range(4):
            write_song(raw / genre / f"{i}.mid", genre_song(genre, i, 60))
            rows.append(f"{genre}/{i}.mid,{genre},{genre} {i},{'test' if i == 3 else 'train'}")
    (tmp_path / "splits.csv").write_text("\n".join(rows) + "\n")
    build_dataset(raw, tmp_path / "ds", tmp_path / "splits.csv", jobs=1, progress=False)
    for seed in seeds:
        config = tiny(tmp_path / "ds", epochs=1, window=16, seed=seed)
        config.data.validation_fraction = validation_fraction
        config.data.validation_seed = 0  # every seed's run holds out the same pieces
        train(config, tmp_path / f"run{seed or ''}", progress=False)


def test_a_run_exports_float16_weights_and_a_card_scored_on_the_test_split(tmp_path):
    _trained_run(tmp_path, validation_fraction=0.34)  # one of each genre's three train pieces

    export = export_pretrained(tmp_path / "run", tmp_path / "ds", tmp_path / "out", progress=False)
    shipped, run = Performer.load(export.model), performer_from_run(tmp_path / "run")
    assert shipped.genres == GENRES and shipped.inputs == run.inputs
    # each genre's `--contrast auto` factor, calibrated on the run's validation pieces, beside the human stats
    validation = load_pieces(tmp_path / "ds", "validation", GENRES, False, run.info["config"])
    assert [p.genre for p in validation] == GENRES
    factors = {g: shipped.stats[g].pop("contrast") for g in GENRES}
    human = {g: {k: v for k, v in st.items() if k != "contrast"} for g, st in run.stats.items()}
    assert shipped.stats == human
    assert {g: st["contrast"] for g, st in run.stats.items()} == pytest.approx(factors, rel=1e-3)  # its float32 weights
    shipped.stats = human
    assert factors == calibrate_contrast(shipped, validation, False)
    assert all(1 / MAX_CONTRAST <= f <= MAX_CONTRAST for f in factors.values())
    score = (np.random.default_rng(0).random((40, 176)) < 0.1).astype(np.uint8)
    np.testing.assert_allclose(shipped.velocities(score, "jazz"), run.velocities(score, "jazz"), atol=2e-2)
    card = json.loads(export.card.read_text())
    assert card["data"]["licences"] == {g: LICENCES[g] for g in GENRES}  # each genre's data names its licence
    assert card["name"].endswith(" / ".join(GENRES))
    assert card["data"]["velocity_stats"] == {g: {**run.stats[g], "contrast": factors[g]} for g in GENRES}
    assert card["data"]["contrast"] == {"factors": factors, "target_spread": AUTO_SPREAD, "chosen_on": "validation",
                                        "validation_pieces": {g: 1 for g in GENRES}}
    assert card["data"]["train_pieces_before_validation_holdout"] == {g: 3 for g in GENRES}
    assert [(t["epochs"], t["history_rows"]) for t in card["training"]] == [(1, 1)]
    assert card["training"][0]["config"]["model"]["genre_layers"] == 1
    assert card["evaluation"]["split"] == "test" and set(card["evaluation"]["results"]) == set(GENRES)
    assert card["evaluation"]["results"]["jazz"]["model (raw)"]["pieces"] == 1
    assert card["reading"]["transpositions"] == Performer.load(export.model).reading_transpositions() == [0]
    assert card["file"] == {"name": "stylenet.npz", "bytes": export.model.stat().st_size, "weights_dtype": "float16"}
    assert export.table.read_text() == export.markdown and "| model (raw) |" in export.markdown


def test_a_run_that_held_out_nothing_exports_without_contrast_factors(tmp_path):
    _trained_run(tmp_path, validation_fraction=0.0)
    # factors cached by an earlier evaluate (for these weights) are not shipped
    weights = tmp_path / "run" / performer_from_run(tmp_path / "run").info["weights"]
    for reading in ([0, 2], None):  # factors found at another reading of the score are stale
        (tmp_path / "run" / "contrast.json").write_text(json.dumps(
            {"weights": weights_signature(weights), "transpositions": reading, "factors": {g: 3.0 for g in GENRES}}))
        assert all("contrast" not in st for st in performer_from_run(tmp_path / "run").stats.values())
    (tmp_path / "run" / "contrast.json").write_text(json.dumps(
        {"weights": weights_signature(weights), "transpositions": [0], "factors": {g: 3.0 for g in GENRES}}))
    assert all(st.get("contrast") == 3.0 for st in performer_from_run(tmp_path / "run").stats.values())
    export = export_pretrained(tmp_path / "run", tmp_path / "ds", tmp_path / "out", progress=False)
    shipped = Performer.load(export.model)
    (tmp_path / "run" / "contrast.json").unlink()
    assert shipped.stats == performer_from_run(tmp_path / "run").stats  # no "contrast": the per-piece `auto`
    assert json.loads(export.card.read_text())["data"]["contrast"]["factors"] == {}


def test_several_runs_export_as_one_ensemble_calibrated_as_a_whole(tmp_path):
    _trained_run(tmp_path, validation_fraction=0.34, seeds=(0, 1))
    export = export_pretrained([tmp_path / "run", tmp_path / "run1"], tmp_path / "ds", tmp_path / "out",
                               progress=False)
    shipped = Performer.load(export.model)
    runs = [performer_from_run(tmp_path / r) for r in ("run", "run1")]
    assert len(shipped.members) == 1
    score = (np.random.default_rng(0).random((40, 176)) < 0.1).astype(np.uint8)
    mean = (runs[0].velocities(score, "jazz") + runs[1].velocities(score, "jazz")) / 2
    np.testing.assert_allclose(shipped.velocities(score, "jazz"), mean, atol=2e-2)
    assert not np.allclose(runs[0].velocities(score, "jazz"), mean, atol=2e-2)  # the runs differ
    factors = {g: shipped.stats[g].pop("contrast") for g in GENRES}
    validation = load_pieces(tmp_path / "ds", "validation", GENRES, False, runs[0].info["config"])
    assert factors == calibrate_contrast(shipped, validation, False)  # the ensemble's own, not a member's
    card = json.loads(export.card.read_text())
    assert [t["run"] for t in card["training"]] == [str(tmp_path / "run"), str(tmp_path / "run1")]
