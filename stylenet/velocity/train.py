"""`stylenet train --config configs/X.yaml`: fit StyleNet to a built dataset, resumably.

The loop: load the pieces (pieces.py), cut each epoch into mini-batches (batches.py), take a training step
on each (steps.py), checkpoint every epoch and every `train.checkpoint_minutes` (checkpoint.py), validate
every epoch on whole held-out pieces.  Run directory:

    config.yaml          the resolved config          checkpoint.npz     the latest state (atomic)
    best.weights.npz     best validation weights      history.csv        one row per epoch
    tensorboard/         TensorBoard event files      plots/             loss curves and velocity snapshots
    data.json            the grid and the training data's velocity statistics (the run plays on them)
    contrast.json        `--contrast auto` factors of the best weights, chosen on validation as training ends
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.core.codec import onset_cells, velocities_at
from stylenet.core.config import dump_config, refuse_changed_fields
from stylenet.core.fileio import atomic_write_text
from stylenet.nn.checkpoint import BEST, CHECKPOINT, lock_run_dir, save_checkpoint
from stylenet.nn.epochs import batch_epochs, resume
from stylenet.velocity.batches import epoch_plan, make_batch
from stylenet.velocity.config import Config
from stylenet.velocity.performer import record_run_data
from stylenet.velocity.pieces import TrainingData, load_training_data
from stylenet.velocity.steps import Stepper, device_line, make_strategy, velocity_loss


@dataclass
class RunResult:
    run_dir: Path
    epochs_done: int
    global_step: int
    history: list[dict]
    stopped: str = ""  # why the run ended early, if it did


def _validate(stepper, data: TrainingData, loss_kind: str, spread_weight: float = 0.0) -> dict:
    """Whole validation pieces, read as `perform` reads them: the loss, and at note onsets the mean absolute
    error (MIDI units) and Pearson r of the raw predictions."""
    logs = {}
    for genre, pieces in data.validation.items():
        if not pieces:
            continue
        losses, predictions, truths = [], [], []
        for piece in pieces:
            score = piece.inputs()[None]
            target = piece.velocity[None].astype(np.float32)
            predicted = np.asarray(stepper.predict(genre, score), dtype=np.float32)
            losses.append(float(velocity_loss(loss_kind, score, target, np.ones(score.shape[:2], np.float32),
                                              predicted, spread_weight)))
            step, key = onset_cells(piece.score)
            predictions.append(velocities_at(predicted[0], step, key))
            truths.append(velocities_at(piece.velocity, step, key))
        predicted, truth = np.concatenate(predictions).astype(np.float64), np.concatenate(truths)
        logs[f"val_loss_{genre}"] = float(np.mean(losses))
        logs[f"val_mae_{genre}"] = float(np.mean(np.abs(predicted - truth)))
        logs[f"val_r_{genre}"] = float(np.corrcoef(predicted, truth)[0, 1]) if predicted.std() > 0 else 0.0
    if logs:
        logs["val_loss"] = float(np.mean([v for k, v in logs.items() if k.startswith("val_loss_")]))
        logs["val_mae"] = float(np.mean([v for k, v in logs.items() if k.startswith("val_mae_")]))
    return logs


def train(config: Config, run_dir, progress: bool = True, stop_after_batches: int | None = None) -> RunResult:
    """Train (or resume) a run.  `stop_after_batches` ends the call early, as a kill would (for tests)."""

    from stylenet.nn.backend import backend_name, import_keras

    run_dir = Path(run_dir)
    if run_dir.is_dir():  # refuse a run directory in use before the slow imports
        lock_run_dir(run_dir)
    keras = import_keras()
    from stylenet.velocity.model import build_model  # Keras and TensorFlow load quietly in import_keras, not here
    _check_resume_config(run_dir, config)
    data = load_training_data(config, progress)  # before writing anything: a bad config leaves no trace
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_run_dir(run_dir)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    record_run_data(run_dir, config)  # the run plays on its own grid and statistics, wherever the dataset goes
    t = config.train
    keras.utils.set_random_seed(t.seed)
    strategy = make_strategy(t.distribute)
    with strategy.scope() if strategy else contextlib.nullcontext():
        policy = keras.config.dtype_policy()
        if t.mixed_precision:  # float16 compute, float32 weights; the policy applies as layers are made
            keras.config.set_dtype_policy("mixed_float16")
        try:
            model = build_model(config.data.genres, config.model.units, config.model.genre_layers,
                                config.model.keep_prob, config.model.inputs)
        finally:
            keras.config.set_dtype_policy(policy)
        optimizer = _optimizer(keras, t, data)
        optimizer.build(model.trainable_variables)
    stepper = Stepper(model, optimizer, t.loss, strategy, t.spread_weight)

    run, states = resume(run_dir, model, optimizer)  # states: genre -> what its lanes carry into their next window
    print(f"StyleNet: {model.count_params():,} parameters, genres {', '.join(model.genres)}, "
          f"backend {backend_name()}, {device_line()}")
    print(data.describe())
    callbacks = _callbacks(keras, model, optimizer, run_dir)
    callbacks.on_train_begin()

    def plan(epoch):
        return epoch_plan(data, t.batch_size, t.window, t.seed, epoch)[:t.max_batches_per_epoch]

    def step(batch):
        genre, slots = batch
        rng = np.random.default_rng([t.seed, run.epoch, run.batch]) if t.transpose else None
        score, target, weight, keep = make_batch(data.train[genre], slots, t.window, t.context, t.transpose, rng)
        carried = states.get(genre) or model.zero_states(t.batch_size)
        loss, states[genre] = stepper.train(genre, score, target, weight, keep, carried)
        return loss, genre

    def end(epoch, logs, n_batches):
        logs["timesteps_per_second"] = n_batches * t.batch_size * t.window / max(logs["epoch_seconds"], 1e-9)
        with averaged_weights(model, optimizer):  # validate and keep what would ship
            logs.update(_validate(stepper, data, t.loss, t.spread_weight))
            improved = "val_loss" in logs and (run.best_val_loss is None or logs["val_loss"] < run.best_val_loss)
            if improved:
                run.best_val_loss = logs["val_loss"]
                save_checkpoint(run_dir / BEST, model, None, {"epoch": epoch + 1, **logs})
        callbacks.on_epoch_end(epoch, logs)  # history.csv's row before the epoch's checkpoint, as export counts them
        return improved

    def after(epoch, logs, improved, history):
        print(_epoch_line(epoch, logs, improved))
        if epoch % t.plot_every == 0 or epoch == t.epochs:
            from stylenet.velocity.plots import plot_run

            plot_run(run_dir, history, stepper, data, epoch)

    stopped = batch_epochs(run_dir, model, optimizer, run, t.epochs, t.patience, t.checkpoint_minutes, plan, step,
                           end, after, states, progress, stop_after_batches)
    if stopped == "stopped for test":
        return RunResult(run_dir, run.epoch, run.global_step, run.history, stopped)
    callbacks.on_train_end({})
    if not stopped:
        calibrate_run(run_dir, progress)
    return RunResult(run_dir, run.epoch, run.global_step, run.history, stopped)


def calibrate_run(run_dir: Path, progress: bool = True) -> dict[str, float]:
    """Record in the run the `--contrast auto` factors of its best weights, chosen on its validation pieces
    as its export would (evaluate.calibrate_contrast), so that `perform --model RUN` plays what `evaluate
    --model RUN` scores; kept with the weights' signature, so that newer weights are never shaped by them."""
    from stylenet.velocity.evaluate import calibrate_contrast, run_validation
    from stylenet.velocity.performer import RUN_CONTRAST, performer_from_run

    performer = performer_from_run(run_dir)
    if any("contrast" in st for st in performer.stats.values()):
        return {g: st["contrast"] for g, st in performer.stats.items() if "contrast" in st}  # already, for these weights
    factors = calibrate_contrast(performer, run_validation(performer, progress), progress)
    if factors:
        atomic_write_text(run_dir / RUN_CONTRAST, json.dumps(
            {"weights": performer.info["weights_signature"], "transpositions": performer.reading_transpositions(),
             "factors": factors}, indent=1) + "\n")
    return factors


def _optimizer(keras, t, data: TrainingData):
    """Adam with the paper's clipping; optionally a cosine learning-rate decay over the whole run and an
    exponential moving average of the weights (`train.ema`), which `averaged_weights` swaps in."""
    learning_rate = t.learning_rate
    if t.lr_schedule == "cosine":
        batches_per_epoch = len(epoch_plan(data, t.batch_size, t.window, t.seed, 0)[:t.max_batches_per_epoch])
        learning_rate = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=max(1, t.epochs * batches_per_epoch), alpha=t.lr_floor)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=t.clip_norm,
                                      use_ema=t.ema is not None, ema_momentum=t.ema or 0.99)
    if t.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@contextlib.contextmanager
def averaged_weights(model, optimizer):
    """Inside the block the model holds the optimizer's moving average of its weights (if it keeps one):
    averaged weights generalise better than the last step's, so they are validated and saved as best."""
    from keras import ops

    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not getattr(inner, "use_ema", False):
        yield
        return
    variables = inner._trainable_variables
    saved = [ops.convert_to_numpy(v.value) for v in variables]
    for variable, average in zip(variables, inner._model_variables_moving_average):
        variable.assign(average)
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def _epoch_line(epoch: int, logs: dict, improved: bool) -> str:
    parts = [f"epoch {epoch}: loss {logs['loss']:.5f}"]
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.5f}")
        parts += [f"{k[8:]} MAE {v:.1f}" for k, v in logs.items() if k.startswith("val_mae_")]
    parts.append(f"{logs['timesteps_per_second']:.0f} steps/s")
    return "  ".join(parts) + ("  (best)" if improved else "")


def _check_resume_config(run_dir: Path, config: Config) -> None:
    """Only train.* bookkeeping (epochs, checkpoints, plots) may change when a run is resumed."""
    new = config.to_dict()
    fixed = [("data", k) for k in new["data"]] + [("model", k) for k in new["model"]]
    fixed += [("train", k) for k in ("batch_size", "window", "seed", "loss", "spread_weight", "transpose",
                                     "context", "ema", "lr_schedule", "lr_floor")]
    refuse_changed_fields(run_dir, config, fixed, CHECKPOINT)


def _callbacks(keras, model, optimizer, run_dir: Path):
    callbacks = [keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True)]
    # Keras writes TensorBoard events through tf.summary, whatever the backend: a JAX machine with the
    # tensorboard package but no TensorFlow (a typical GPU image) gets no events rather than a crash.
    if all(importlib.util.find_spec(name) for name in ("tensorboard", "tensorflow")):
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False))
    model.optimizer = optimizer
    return keras.callbacks.CallbackList(callbacks, model=model)
