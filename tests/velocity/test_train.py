"""`stylenet train`: it learns, writes its run, resumes exactly, stops for the right reasons, and every lever
trains; on TensorFlow, JAX and in mixed precision."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from stylenet.core.config import ConfigError
from stylenet.core.errors import StyleNetError
from stylenet.nn.checkpoint import CHECKPOINT
from stylenet.velocity.config import config_from_dict
from stylenet.velocity.train import train
from tests.helpers import GENRES, ROOT, damaged_dataset, tiny


def test_a_missing_genre_or_too_long_a_window_is_refused_before_anything_is_written(genre_dataset, tmp_path):
    config = tiny(genre_dataset)
    config.data.genres = ["jazz", "rock"]
    with pytest.raises(ConfigError, match="data.genres: no 'train' pieces of genre 'rock'.*it has: classical, jazz, pop"):
        train(config, tmp_path / "r1", progress=False)
    config = tiny(genre_dataset, window=100000)
    with pytest.raises(ConfigError, match="train.window: 100000 steps is longer than every training piece"):
        train(config, tmp_path / "r2", progress=False)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


def test_a_damaged_dataset_piece_is_named_and_nothing_is_written(tmp_path):
    ds, damaged = damaged_dataset(tmp_path)
    config = config_from_dict({"data": {"dataset": str(ds), "genres": ["jazz", "pop"]},
                               "model": {"units": 8, "genre_layers": 1}, "train": {"epochs": 1, "window": 8}})
    with pytest.raises(StyleNetError, match=f"^{damaged}: damaged dataset piece .*rebuild it"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_tiny_training_learns_and_writes_its_run(genre_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny(genre_dataset, epochs=6, plot_every=3, window=16), run, progress=False)
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


def test_resume_after_a_kill_replays_the_same_steps(genre_dataset, tmp_path):
    whole = train(tiny(genre_dataset, epochs=2), tmp_path / "whole", progress=False)
    config = tiny(genre_dataset, epochs=2, checkpoint_minutes=1e-6)  # checkpoint after every batch
    killed = train(config, tmp_path / "killed", progress=False, stop_after_batches=7)
    assert killed.global_step == 7 and killed.epochs_done == 0
    resumed = train(tiny(genre_dataset, epochs=2), tmp_path / "killed", progress=False)
    assert resumed.global_step == whole.global_step and resumed.epochs_done == 2
    with np.load(tmp_path / "whole" / CHECKPOINT) as a, np.load(tmp_path / "killed" / CHECKPOINT) as b:
        weights = [k for k in a.files if k.startswith("model/")]
        for key in weights:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)
    # extending a finished run continues from its last epoch
    longer = train(tiny(genre_dataset, epochs=3), tmp_path / "killed", progress=False)
    assert longer.epochs_done == 3 and len(longer.history) == 3


def test_resume_refuses_a_different_model(genre_dataset, tmp_path):
    train(tiny(genre_dataset, epochs=1), tmp_path / "run", progress=False)
    config = tiny(genre_dataset, epochs=2)
    config.model.units = 20
    with pytest.raises(ConfigError, match="model.units: .* was trained with 12, not 20"):
        train(config, tmp_path / "run", progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(genre_dataset, tmp_path, monkeypatch):
    from stylenet.velocity.steps import Stepper

    run = tmp_path / "run"
    train(tiny(genre_dataset, epochs=1), run, progress=False)
    good = (run / CHECKPOINT).read_bytes()
    real = Stepper.train
    calls = {"n": 0}

    def poisoned(self, *args):
        calls["n"] += 1
        loss, states = real(self, *args)
        return (float("nan") if calls["n"] == 3 else loss), states

    monkeypatch.setattr(Stepper, "train", poisoned)
    result = train(tiny(genre_dataset, epochs=2), run, progress=False)
    assert "loss became nan at epoch 2, batch 3" in result.stopped
    assert (run / CHECKPOINT).read_bytes() == good
    assert result.epochs_done == 1


def test_patience_stops_early_and_a_resumed_run_agrees(genre_dataset, tmp_path, monkeypatch, capsys):
    val_losses = iter([0.5, 0.4, 0.45, 0.46, 0.3, 0.2])
    from stylenet.velocity import train as train_module

    monkeypatch.setattr(train_module, "_validate", lambda *args: {"val_loss": next(val_losses)})
    run = tmp_path / "run"
    result = train(tiny(genre_dataset, epochs=6, patience=2, max_batches_per_epoch=2), run, progress=False)
    assert result.epochs_done == 4 and not result.stopped  # best at epoch 2; epochs 3 and 4 no better
    assert "val_loss has not improved for 2 epochs (best 0.40000 at epoch 2" in capsys.readouterr().out
    # resuming with the same patience stops at once; with more patience the run goes on
    assert train(tiny(genre_dataset, epochs=6, patience=2, max_batches_per_epoch=2), run, progress=False).epochs_done == 4
    longer = train(tiny(genre_dataset, epochs=6, patience=3, max_batches_per_epoch=2), run, progress=False)
    assert longer.epochs_done == 6 and [h["val_loss"] for h in longer.history][-2:] == [0.3, 0.2]


@pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0,
                    reason="jax not installed")
def test_jax_backend_trains_the_same_model_without_tensorflow_installed(genre_dataset, tmp_path):
    # sys.modules[name] = None makes `import tensorflow` fail, as on a GPU image that has JAX but no TensorFlow
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from stylenet.velocity.config import config_from_dict; from stylenet.velocity.train import train\n"
            f"c = config_from_dict({{'data': {{'dataset': {str(genre_dataset)!r}, 'genres': ['jazz', 'pop'], "
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
    assert not (tmp_path / "run" / "tensorboard").exists()  # TensorBoard events are written through tf.summary


def test_mixed_precision_trains_in_float16_and_leaves_the_policy_alone(genre_dataset, tmp_path):
    import keras

    result = train(tiny(genre_dataset, epochs=1, mixed_precision=True), tmp_path / "run", progress=False)
    assert np.isfinite(result.history[0]["loss"]) and np.isfinite(result.history[0]["val_loss"])
    assert keras.config.dtype_policy().name == "float32"
    with np.load(tmp_path / "run" / CHECKPOINT) as f:
        assert f["model/0"].dtype == np.float32  # weights stay float32 under mixed precision


def test_averaged_weights_swaps_in_the_moving_average_and_restores_the_live_weights():
    from stylenet.nn.backend import import_keras

    keras = import_keras()
    from stylenet.velocity.train import averaged_weights

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


def test_every_lever_trains_resumes_and_exports_what_perform_reads(genre_dataset, tmp_path):
    from stylenet.velocity.evaluate import load_pieces
    from stylenet.velocity.performer import performer_from_run

    levers = dict(loss="onset_mse", transpose=4, context=8, spread_weight=2.0, ema=0.9, lr_schedule="cosine")
    config = tiny(genre_dataset, epochs=2, window=16, **levers)
    config.model.inputs = ["metre", "voice"]
    run = tmp_path / "run"
    result = train(config, run, progress=False)
    assert result.epochs_done == 2 and not result.stopped
    assert {"val_r_jazz", "val_mae_pop"} <= set(result.history[-1])
    performer = performer_from_run(run)
    assert performer.inputs == ["metre", "voice"]
    # the validation split evaluate rebuilds is the one the run held out
    held = load_pieces(genre_dataset, "validation", GENRES, False, config.to_dict())
    from stylenet.velocity.pieces import load_training_data

    data = load_training_data(config, progress=False)
    assert sorted(p.name for p in held) == sorted(p.name for g in GENRES for p in data.validation[g])
    assert all(p.meters is not None for p in held)
    # changing a lever on resume is refused: the run is one experiment
    config.train.transpose = 0
    with pytest.raises(ConfigError, match="train.transpose: .* was trained with 4, not 0"):
        train(config, run, progress=False)


def test_a_run_from_before_the_levers_existed_resumes(genre_dataset, tmp_path):
    import yaml

    run = tmp_path / "run"
    train(tiny(genre_dataset, epochs=1), run, progress=False)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("spread_weight", "transpose", "context", "ema", "lr_schedule", "lr_floor"):
        del saved["train"][key]
    del saved["model"]["inputs"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    assert train(tiny(genre_dataset, epochs=2), run, progress=False).epochs_done == 2


def test_a_batch_far_above_the_epoch_mean_is_reported_by_name(genre_dataset, tmp_path, monkeypatch, capsys):
    from stylenet.velocity.steps import Stepper

    real = Stepper.train
    calls = {"n": 0}

    def spiking(self, *args):
        calls["n"] += 1
        loss, states = real(self, *args)
        return (1000 * float(loss) if calls["n"] == 22 else loss), states

    monkeypatch.setattr(Stepper, "train", spiking)
    train(tiny(genre_dataset, epochs=1, window=4), tmp_path / "run", progress=False)
    assert calls["n"] > 22
    reported = [line for line in capsys.readouterr().out.splitlines() if "the epoch's mean so far" in line]
    assert len(reported) == 1 and reported[0].startswith("epoch 1, batch 22 (")
