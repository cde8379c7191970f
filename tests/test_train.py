import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from stylenet.config import ConfigError, config_from_dict, load_config
from stylenet.dataset import build_dataset
from stylenet.train import CHECKPOINT, Piece, TrainingData, epoch_plan, make_batch, split_validation, train
from tests.midifix import N, Song, write_song

ROOT = Path(__file__).resolve().parents[1]
GENRES = ["classical", "jazz", "pop"]


def _genre_song(genre: str, seed: int, n: int = 90) -> Song:
    """Each genre has its own learnable touch: classical swells with pitch, jazz accents the off-beats,
    pop hits the downbeat of each bar."""
    rng = np.random.default_rng(seed)
    notes = []
    for i in range(n):
        on = i * 120
        pitch = int(rng.integers(48, 84))
        if genre == "classical":
            velocity = 20 + (pitch - 48) * 2 + int(rng.integers(0, 8))
        elif genre == "jazz":
            velocity = (95 if i % 2 else 40) + int(rng.integers(0, 20))
        else:
            velocity = (105 if i % 16 == 0 else 55) + int(rng.integers(0, 20))
        notes.append(N(pitch, on, on + 240, min(velocity, 127)))
    return Song(notes)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    for g_index, genre in enumerate(GENRES):
        for i in range(7):
            write_song(raw / genre / f"{genre} {i}.mid", _genre_song(genre, 100 * g_index + i, 60 + 15 * i))
    out = tmp_path_factory.mktemp("ds")
    build_dataset(raw, out, jobs=1, progress=False)
    return out


def tiny(dataset, **train):
    return config_from_dict({
        "data": {"dataset": str(dataset), "genres": GENRES, "validation_fraction": 0.15},
        "model": {"units": 12, "genre_layers": 1},
        "train": {"epochs": 3, "window": 32, "learning_rate": 0.01, "plot_every": 3, **train}})


# ------------------------------------------------------------------------------------------ config

def test_paper_config_loads_with_the_paper_values():
    config = load_config(ROOT / "configs" / "stylenet.yaml")
    t, m = config.train, config.model
    assert (t.batch_size, t.window, t.learning_rate, t.clip_norm, t.epochs, t.loss) == (4, 200, 1e-3, 10.0, 160, "mse")
    assert (m.units, m.genre_layers, m.keep_prob) == (176, 3, 0.8)
    assert config.data.validation_fraction == 0.05
    load_config(ROOT / "configs" / "tiny.yaml")


@pytest.mark.parametrize("raw, overrides, message", [
    ({"train": {"epocs": 3}}, [], "train.epocs: unknown key (did you mean 'epochs'?)"),
    ({"trian": {}}, [], "trian: unknown key (did you mean 'train'?)"),
    ({"train": {"epochs": "ten"}}, [], "train.epochs: expected int, got 'ten'"),
    ({"train": {"epochs": True}}, [], "train.epochs: expected int, got True"),
    ({"model": {"keep_prob": 1.5}}, [], "model.keep_prob: must be in (0, 1]"),
    ({"train": {"loss": "mae"}}, [], "train.loss: must be one of mse, masked_mse"),
    ({"data": {"genres": "jazz"}}, [], "data.genres: expected a list"),
    ({"train": 3}, [], "train: expected a mapping"),
    ({}, ["train.epochs"], "expected SECTION.KEY=VALUE"),
    ({}, ["train.window=1"], "train.window: must be >= 2"),
    ({}, ["model.inputs=[chords]"], "model.inputs: unknown input 'chords' (known: metre, voice)"),
    ({}, ["train.transpose=13"], "train.transpose: must be 0..12"),
    ({}, ["train.ema=1.0"], "train.ema: must be in (0, 1)"),
    ({}, ["train.lr_schedule=step"], "train.lr_schedule: must be one of constant, cosine"),
    ({}, ["train.spread_weight=-1"], "train.spread_weight: must be >= 0"),
    ({}, ["train.context=-5"], "train.context: must be >= 0"),
])
def test_config_errors_name_the_field(raw, overrides, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, overrides, "x.yaml")
    text = str(err.value)
    assert message in text and text.startswith(("x.yaml: ", "--set ")) and "\n" not in text


def test_overrides_are_typed_and_applied():
    config = config_from_dict({}, ["train.epochs=3", "train.learning_rate=2e-3", "data.genres=[jazz, pop]",
                                   "train.max_batches_per_epoch=null"])
    assert config.train.epochs == 3 and config.train.learning_rate == 0.002
    assert config.data.genres == ["jazz", "pop"] and config.train.max_batches_per_epoch is None


def test_bad_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: [3\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(path)


def test_genre_without_data_and_window_too_long(dataset, tmp_path):
    config = tiny(dataset)
    config.data.genres = ["jazz", "rock"]
    with pytest.raises(ConfigError, match="data.genres: no 'train' pieces of genre 'rock'.*it has: classical, jazz, pop"):
        train(config, tmp_path / "r1", progress=False)
    config = tiny(dataset, window=100000)
    with pytest.raises(ConfigError, match="train.window: 100000 steps is longer than every training piece"):
        train(config, tmp_path / "r2", progress=False)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


# ------------------------------------------------------------------------------------------ plan

def _toy_data(lengths_by_genre):
    return TrainingData(
        {g: [Piece(f"{g}{i}", np.zeros((n, 176), np.uint8), np.zeros((n, 88), np.float16))
             for i, n in enumerate(lengths)] for g, lengths in lengths_by_genre.items()},
        {g: [] for g in lengths_by_genre})


def test_epoch_plan_alternates_genres_and_covers_every_window_once():
    data = _toy_data({"a": [100, 250, 30, 410, 90], "b": [500, 60], "c": [40] * 9})
    plan = epoch_plan(data, batch_size=2, window=50, seed=0, epoch=0)
    genres = [g for g, _ in plan]
    # strict rotation while every genre still has batches
    n_common = 3 * min(Counter(genres).values())
    assert genres[:n_common] == ["a", "b", "c"] * (n_common // 3)
    for genre, pieces in data.train.items():
        windows = Counter(slot for g, slots in plan if g == genre for slot in slots if slot is not None)
        expected = {(i, k) for i, p in enumerate(pieces) for k in range(-(-len(p.score) // 50))}
        assert set(windows) == expected and set(windows.values()) == {1}
        # within a lane, a piece's windows come in order and back to back
        for lane in range(2):
            seq = [slots[lane] for g, slots in plan if g == genre and slots[lane] is not None]
            for (p0, k0), (p1, k1) in zip(seq, seq[1:]):
                assert (p1 == p0 and k1 == k0 + 1) or (p1 != p0 and k1 == 0)


def test_epoch_plan_reshuffles_every_epoch_and_is_reproducible():
    data = _toy_data({"a": [60] * 12, "b": [60] * 12})
    e0 = epoch_plan(data, 4, 50, seed=1, epoch=0)
    assert e0 == epoch_plan(data, 4, 50, seed=1, epoch=0)
    assert e0 != epoch_plan(data, 4, 50, seed=1, epoch=1)


def test_make_batch_pads_with_silence_and_marks_new_pieces():
    score = np.zeros((70, 176), np.uint8)
    score[:, 1] = 1
    piece = Piece("p", score, np.full((70, 88), 0.5, np.float16))
    x, y, w, keep = make_batch([piece], [(0, 1), None, (0, 0)], window=50)
    assert x.shape == (3, 50, 176) and y.shape == (3, 50, 88)
    assert w[0].tolist() == [1.0] * 20 + [0.0] * 30 and w[1].sum() == 0 and w[2].sum() == 50
    assert keep.tolist() == [1.0, 0.0, 0.0]
    assert x[0, :20, 1].sum() == 20 and x[0, 20:].sum() == 0


def test_make_batch_with_context_reads_around_the_window_and_scores_only_it():
    score = np.zeros((70, 176), np.uint8)
    score[:, 1] = 1
    velocity = (np.arange(70, dtype=np.float16)[:, None] / 100 * np.ones((1, 88), np.float16))
    piece = Piece("p", score, velocity)
    x, y, w, keep = make_batch([piece], [(0, 0), (0, 1)], window=30, context=10)
    assert x.shape == (2, 50, 176) and keep.tolist() == [0.0, 0.0]  # context replaces carried state
    # first window: no music before the piece, so the lane starts 10 steps in; steps 0..39 are read
    assert y[0, 10:50, 0].tolist() == pytest.approx((np.arange(40) / 100).tolist(), abs=1e-3)
    assert w[0].tolist() == [0.0] * 10 + [1.0] * 30 + [0.0] * 10
    # second window: steps 20..69 read (10 before, 30 scored, 10 after)
    assert y[1, :, 0].tolist() == pytest.approx((np.arange(20, 70) / 100).tolist(), abs=1e-3)
    assert w[1].tolist() == [0.0] * 10 + [1.0] * 30 + [0.0] * 10


def test_transposition_moves_keys_and_velocities_together_and_stays_on_the_keyboard():
    score = np.zeros((8, 176), np.uint8)
    score[0, 2 * 3:2 * 3 + 2] = 1  # key 3 struck
    score[1:4, 2 * 80 + 1] = 1  # key 80 held
    velocity = np.zeros((8, 88), np.float16)
    velocity[0, 3], velocity[1:4, 80] = 0.25, 0.75
    extra = np.arange(16, dtype=np.float32).reshape(8, 2)
    piece = Piece("p", score, velocity, extra)
    shifts = set()
    for seed in range(40):
        x, y, w, _ = make_batch([piece], [(0, 0)], window=8, transpose=6, rng=np.random.default_rng(seed))
        struck = np.flatnonzero(x[0, 0, 0:176:2])
        assert len(struck) == 1
        shift = int(struck[0]) - 3
        shifts.add(shift)
        assert -3 <= shift <= 6  # key 3 can go down to A0 at most; the limit of 6 holds upwards
        assert y[0, 0, 3 + shift] == 0.25 and y[0, 2, 80 + shift] == 0.75 and y.sum() == pytest.approx(0.25 + 3 * 0.75)
        assert x[0, :, 2 * (80 + shift) + 1].sum() == 3
        np.testing.assert_array_equal(x[0, :, 176:], extra)  # metre channels are not keyed
    assert shifts == set(range(-3, 7))  # every allowed shift, and no other, is drawn


def test_validation_split_is_by_piece():
    entries = [{"path": f"{i}-{v}", "piece": f"tune{i}"} for i in range(20) for v in range(2)]
    train_part, val = split_validation(entries, 0.05, seed=0)
    assert len(val) == 2 and val[0]["piece"] == val[1]["piece"]
    assert not {e["piece"] for e in val} & {e["piece"] for e in train_part}


def test_adding_asap_to_a_genre_leaves_its_validation_pieces_as_they_were():
    raw = [{"path": f"{i}.mid", "piece": f"tune{i}"} for i in range(60)]
    asap = [{"path": f"asap/w{i}/p{v}.mid", "piece": f"asap/w{i}"} for i in range(40) for v in range(3)]
    _, raw_alone = split_validation(raw, 0.05, seed=0)
    _, asap_alone = split_validation(asap, 0.05, seed=0)
    _, both = split_validation(raw + asap, 0.05, seed=0)
    assert both == raw_alone + asap_alone and len(raw_alone) == 3 and len(asap_alone) == 2 * 3


# ------------------------------------------------------------------------------------------ training

def test_tiny_training_learns_and_writes_its_run(dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny(dataset, epochs=6, plot_every=3, window=16), run, progress=False)
    assert result.epochs_done == 6 and not result.stopped
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.85 * losses[0]
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.history[-1]["val_mae"] < result.history[0]["val_mae"] - 5  # MIDI velocity units
    for name in ("config.yaml", CHECKPOINT, "best.weights.npz", "history.csv", "plots/loss.png",
                 "plots/snapshot_epoch_0003.png", "plots/snapshot_epoch_0006.png"):
        assert (run / name).exists(), name
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4, 5]
    assert {"val_mae_jazz", "val_loss_pop", "loss"} <= set(rows[0])
    assert list((run / "tensorboard").rglob("events.out.tfevents*"))


def test_resume_after_a_kill_replays_the_same_steps(dataset, tmp_path):
    whole = train(tiny(dataset, epochs=2), tmp_path / "whole", progress=False)
    config = tiny(dataset, epochs=2, checkpoint_minutes=1e-6)  # checkpoint after every batch
    killed = train(config, tmp_path / "killed", progress=False, stop_after_batches=7)
    assert killed.global_step == 7 and killed.epochs_done == 0
    resumed = train(tiny(dataset, epochs=2), tmp_path / "killed", progress=False)
    assert resumed.global_step == whole.global_step and resumed.epochs_done == 2
    with np.load(tmp_path / "whole" / CHECKPOINT) as a, np.load(tmp_path / "killed" / CHECKPOINT) as b:
        weights = [k for k in a.files if k.startswith("model/")]
        for key in weights:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)
    # extending a finished run continues from its last epoch
    longer = train(tiny(dataset, epochs=3), tmp_path / "killed", progress=False)
    assert longer.epochs_done == 3 and len(longer.history) == 3


def test_resume_refuses_a_different_model(dataset, tmp_path):
    train(tiny(dataset, epochs=1), tmp_path / "run", progress=False)
    config = tiny(dataset, epochs=2)
    config.model.units = 20
    with pytest.raises(ConfigError, match="model.units: .* was trained with 12, not 20"):
        train(config, tmp_path / "run", progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(dataset, tmp_path, monkeypatch):
    from stylenet import train as train_module

    run = tmp_path / "run"
    train(tiny(dataset, epochs=1), run, progress=False)
    good = (run / CHECKPOINT).read_bytes()
    real = train_module.Stepper.train
    calls = {"n": 0}

    def poisoned(self, *args):
        calls["n"] += 1
        loss, states = real(self, *args)
        return (float("nan") if calls["n"] == 3 else loss), states

    monkeypatch.setattr(train_module.Stepper, "train", poisoned)
    result = train(tiny(dataset, epochs=2), run, progress=False)
    assert "loss became nan at epoch 2, batch 3" in result.stopped
    assert (run / CHECKPOINT).read_bytes() == good
    assert result.epochs_done == 1


def test_patience_stops_early_and_a_resumed_run_agrees(dataset, tmp_path, monkeypatch, capsys):
    from stylenet import train as train_module

    val_losses = iter([0.5, 0.4, 0.45, 0.46, 0.3, 0.2])
    monkeypatch.setattr(train_module, "_validate", lambda *args: {"val_loss": next(val_losses)})
    run = tmp_path / "run"
    result = train(tiny(dataset, epochs=6, patience=2, max_batches_per_epoch=2), run, progress=False)
    assert result.epochs_done == 4 and not result.stopped  # best at epoch 2; epochs 3 and 4 no better
    assert "val_loss has not improved for 2 epochs (best 0.40000 at epoch 2" in capsys.readouterr().out
    # resuming with the same patience stops at once; with more patience the run goes on
    assert train(tiny(dataset, epochs=6, patience=2, max_batches_per_epoch=2), run, progress=False).epochs_done == 4
    longer = train(tiny(dataset, epochs=6, patience=3, max_batches_per_epoch=2), run, progress=False)
    assert longer.epochs_done == 6 and [h["val_loss"] for h in longer.history][-2:] == [0.3, 0.2]
    with pytest.raises(ConfigError, match="train.patience: needs a validation set"):
        config_from_dict({"data": {"validation_fraction": 0.0}, "train": {"patience": 3}})


def test_cli_train_prints_where_the_run_lives(dataset, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{dataset: '{dataset}', genres: [jazz, pop]}}\nmodel: {{units: 8, genre_layers: 1}}\n"
                   "train: {epochs: 1, window: 32}\n")
    result = subprocess.run([sys.executable, "-m", "stylenet", "train", "--config", str(cfg), "--run-dir",
                             str(tmp_path / "run"), "-q"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "resume or extend" in result.stdout and "stylenet perform song.mid --genre jazz" in result.stdout
    assert "parameters" in result.stdout
    assert "cuda" not in result.stderr.lower() and "I0000" not in result.stderr


@pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0,
                    reason="jax not installed")
def test_jax_backend_trains_the_same_model(dataset, tmp_path):
    code = ("import sys; from stylenet.config import config_from_dict; from stylenet.train import train\n"
            f"c = config_from_dict({{'data': {{'dataset': {str(dataset)!r}, 'genres': ['jazz', 'pop'], "
            "'validation_fraction': 0.15}, 'model': {'units': 12, 'genre_layers': 1}, "
            "'train': {'epochs': 2, 'window': 32, 'learning_rate': 0.01}})\n"
            f"r = train(c, {str(tmp_path / 'run')!r}, progress=False)\n"
            "import keras; print('BACKEND', keras.backend.backend(), r.global_step, "
            "r.history[0]['loss'], r.history[-1]['loss'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("BACKEND"))
    _, backend, steps, first, last = line.split()
    assert backend == "jax" and int(steps) > 0 and float(last) < float(first)
    assert (tmp_path / "run" / CHECKPOINT).exists() and (tmp_path / "run" / "plots" / "loss.png").exists()


def test_mixed_precision_trains_in_float16_and_leaves_the_policy_alone(dataset, tmp_path):
    import keras

    result = train(tiny(dataset, epochs=1, mixed_precision=True), tmp_path / "run", progress=False)
    assert np.isfinite(result.history[0]["loss"]) and np.isfinite(result.history[0]["val_loss"])
    assert keras.config.dtype_policy().name == "float32"
    with np.load(tmp_path / "run" / CHECKPOINT) as f:
        assert f["model/0"].dtype == np.float32  # weights stay float32 under mixed precision


# ------------------------------------------------------------------------------------------ losses

def _loss(kind, score, target, weight, predicted, spread_weight=0.0):
    from stylenet.backend import import_keras

    import_keras()
    from stylenet.train import velocity_loss

    return float(velocity_loss(kind, score.astype(np.float32), target.astype(np.float32),
                               weight.astype(np.float32), predicted.astype(np.float32), spread_weight))


def _two_notes():
    """One lane, 4 steps: key 0 struck at step 0 and held 3 steps (v 0.5), key 1 struck at step 2 (v 0.2)."""
    score = np.zeros((1, 4, 176))
    score[0, 0, 0:2] = 1
    score[0, 1:3, 1] = 1
    score[0, 2, 2:4] = 1
    target = np.zeros((1, 4, 88))
    target[0, 0:3, 0], target[0, 2, 1] = 0.5, 0.2
    predicted = np.zeros((1, 4, 88))
    predicted[0, 0:3, 0], predicted[0, 2, 1] = 0.3, 0.6  # errors -0.2 on key 0, +0.4 on key 1
    return score, target, predicted


def test_onset_loss_counts_each_struck_note_once_and_masked_loss_each_held_step():
    score, target, predicted = _two_notes()
    weight = np.ones((1, 4))
    assert _loss("onset_mse", score, target, weight, predicted) == pytest.approx((0.2 ** 2 + 0.4 ** 2) / 2)
    assert _loss("masked_mse", score, target, weight, predicted) == pytest.approx((3 * 0.2 ** 2 + 0.4 ** 2) / 4)
    assert _loss("mse", score, target, weight, predicted) == pytest.approx((3 * 0.2 ** 2 + 0.4 ** 2) / (4 * 88))
    weight[0, 2] = 0  # an unscored step (padding or context) drops key 1's strike
    assert _loss("onset_mse", score, target, weight, predicted) == pytest.approx(0.2 ** 2)


def test_spread_term_is_the_squared_difference_of_struck_note_spreads_per_lane():
    score, target, predicted = _two_notes()
    weight = np.ones((1, 4))
    base = _loss("onset_mse", score, target, weight, predicted)
    human_sd, model_sd = np.std([0.5, 0.2]), np.std([0.3, 0.6])
    with_spread = _loss("onset_mse", score, target, weight, predicted, spread_weight=3.0)
    assert with_spread == pytest.approx(base + 3.0 * (model_sd - human_sd) ** 2, abs=1e-6)
    # a lane with a single struck note has no spread and adds nothing
    weight[0, 2] = 0
    assert _loss("onset_mse", score, target, weight, predicted, 3.0) == pytest.approx(0.2 ** 2, abs=1e-6)


def test_averaged_weights_swaps_in_the_moving_average_and_restores_the_live_weights():
    from stylenet.backend import import_keras

    keras = import_keras()
    from stylenet.train import averaged_weights

    variable = keras.Variable(np.ones(3, np.float32))
    optimizer = keras.optimizers.Adam(learning_rate=0.5, use_ema=True, ema_momentum=0.5)
    optimizer.build([variable])
    for _ in range(3):
        optimizer.apply([np.ones(3, np.float32)], [variable])
    live = np.asarray(variable.numpy()).copy()
    average = np.asarray(optimizer._model_variables_moving_average[0].numpy()).copy()
    assert not np.allclose(live, average)
    model = type("M", (), {})()
    with averaged_weights(model, optimizer):
        np.testing.assert_allclose(variable.numpy(), average)
    np.testing.assert_allclose(variable.numpy(), live)


def test_every_lever_trains_resumes_and_exports_what_perform_reads(dataset, tmp_path):
    from stylenet.evaluate import load_pieces
    from stylenet.inference import performer_from_run

    levers = dict(loss="onset_mse", transpose=4, context=8, spread_weight=2.0, ema=0.9, lr_schedule="cosine")
    config = tiny(dataset, epochs=2, window=16, **levers)
    config.model.inputs = ["metre", "voice"]
    run = tmp_path / "run"
    result = train(config, run, progress=False)
    assert result.epochs_done == 2 and not result.stopped
    assert {"val_r_jazz", "val_mae_pop"} <= set(result.history[-1])
    performer = performer_from_run(run)
    assert performer.inputs == ["metre", "voice"]
    # the validation split evaluate rebuilds is the one the run held out
    held = load_pieces(dataset, "validation", GENRES, False, config.to_dict())
    from stylenet.train import load_training_data

    data = load_training_data(config, progress=False)
    assert sorted(p.name for p in held) == sorted(p.name for g in GENRES for p in data.validation[g])
    assert all(p.meters is not None for p in held)
    # changing a lever on resume is refused: the run is one experiment
    config.train.transpose = 0
    with pytest.raises(ConfigError, match="train.transpose: .* was trained with 4, not 0"):
        train(config, run, progress=False)


def test_a_run_from_before_the_levers_existed_resumes(dataset, tmp_path):
    import yaml

    run = tmp_path / "run"
    train(tiny(dataset, epochs=1), run, progress=False)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("spread_weight", "transpose", "context", "ema", "lr_schedule", "lr_floor"):
        del saved["train"][key]
    del saved["model"]["inputs"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    assert train(tiny(dataset, epochs=2), run, progress=False).epochs_done == 2


def test_a_model_performs_on_the_grid_its_dataset_was_built_at(tmp_path):
    """A run on an eighth-of-a-quarter grid exports a performer that quantises at 8 steps per quarter."""
    from stylenet.dataset import BuildOptions
    from stylenet.inference import performer_from_run

    raw = tmp_path / "raw"
    for genre in GENRES:
        for i in range(3):
            write_song(raw / genre / f"{i}.mid", _genre_song(genre, i, 60))
    build_dataset(raw, tmp_path / "ds", options=BuildOptions(steps_per_quarter=8), jobs=1, progress=False)
    config = tiny(tmp_path / "ds", epochs=1, window=16)
    config.data.validation_fraction = 0.0
    train(config, tmp_path / "run", progress=False)
    assert performer_from_run(tmp_path / "run").steps_per_quarter == 8
