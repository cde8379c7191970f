"""The two resumable training loops every trainer of the package runs on.

`batch_epochs`: StyleNet (velocity/train.py) and the composers (compose/train.py) train on a fixed plan of
mini-batches per epoch, checkpointed every epoch and every few minutes inside one (a killed run resumes at
its next batch), validated on whole held-out pieces at each epoch's end, stopped early by patience, and
stopped at once, naming the batch, when the loss stops being a number.

`crop_epochs`: the note networks' loop: epochs of random crops, resumable, validated every few epochs.

The beat tracker, the touch network and the expression network (recorded/train_tracker.py,
recorded/train_touch.py, expression/train.py) learn the same way: each epoch draws a fresh set of crops of
whole performances, fits them once with a cosine learning-rate schedule, and every `validate_every` epochs
(and the last) exports a candidate and scores it on whole validation pieces; the best is kept.  Every
epoch is checkpointed -- weights, optimizer, best score, history and the random generator -- so that
rerunning the same command resumes exactly where it stopped, and a checkpoint of a run with other
settings is refused in one line rather than mixed in.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from stylenet.core.errors import StyleNetError
from stylenet.nn.checkpoint import (
    CHECKPOINT,
    Progress,
    load_checkpoint,
    patience_spent,
    previous_checkpoint,
    save_checkpoint,
)


def resume_run(state: Path, model, settings: dict, rng) -> tuple[float, list, int]:
    """A small training script's resume: (best score, history, first epoch to run) -- (-1.0, [], 1) where
    `state` has no checkpoint yet; else the checkpoint's, with the model's weights, its optimizer and the
    `rng` (a NumPy Generator) restored.  A checkpoint of a run with other `settings` is refused in one line
    (resuming it would mix two runs)."""
    state = Path(state)
    if not state.exists() and not previous_checkpoint(state).exists():
        return -1.0, [], 1
    model.optimizer.build(model.trainable_variables)
    meta, _ = load_checkpoint(state, model, model.optimizer)
    if meta["settings"] != settings:
        changed = ", ".join(f"{k} {meta['settings'].get(k)} -> {v}" for k, v in settings.items()
                            if meta["settings"].get(k) != v)
        raise StyleNetError(f"{state}: a run with other settings ({changed}); use another --work-dir", exit_code=2)
    rng.bit_generator.state = meta["rng"]
    print(f"resuming {state.parent} at epoch {meta['epoch'] + 1}", flush=True)
    return meta["best"], meta["history"], meta["epoch"] + 1


def end_epoch(state: Path, model, row: dict, history: list, best: float, rng, settings: dict) -> None:
    """A small training script's epoch done: its row added to `history` and printed (one JSON line), and
    the run checkpointed so that `resume_run` picks it up (weights, optimizer, best, history, rng)."""
    history.append(row)
    print(json.dumps(row), flush=True)
    save_checkpoint(state, model, model.optimizer, {"epoch": row["epoch"], "best": best, "history": history,
                                                    "rng": rng.bit_generator.state, "settings": settings})


def cosine_rate(rate: float, epoch: int, epochs: int) -> float:
    """The learning rate of `epoch` (counted from 1) on a cosine schedule from `rate` to 0 over `epochs`."""
    return float(rate * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / epochs)))


def crop_epochs(model, work: Path, settings: dict, rng, epochs: int, rate: float, batch: int, validate_every: int,
                draw: Callable, check: Callable, keep: Callable) -> tuple[list[dict], float]:
    """Train `model` (compiled) for `epochs`, resuming the checkpoint in `work` if there is one.

    draw(epoch)  -> (x, y, sample_weight or None): this epoch's crops, drawn with `rng`
    check(epoch) -> (score, row fields): a candidate exported and scored on validation (higher is better)
    keep(epoch, row): the best candidate so far -- write it where it ships (`row`: the epoch's history row)
    Returns (history, best score); `work`/history.json holds the history too."""
    state = Path(work) / CHECKPOINT
    best, history, first = resume_run(state, model, settings, rng)
    for epoch in range(first, epochs + 1):
        started = time.time()
        x, y, weight = draw(epoch)
        lr = cosine_rate(rate, epoch, epochs)
        model.optimizer.learning_rate.assign(lr)
        fit = model.fit(x, y, sample_weight=weight, batch_size=batch, epochs=1, verbose=0)
        row = {"epoch": epoch, "loss": float(fit.history["loss"][-1]), "lr": lr,
               "seconds": round(time.time() - started, 1)}
        if epoch % validate_every == 0 or epoch == epochs:
            score, fields = check(epoch)
            row.update(fields)
            if score > best:
                best = score
                keep(epoch, row)
                row["saved"] = True
        end_epoch(state, model, row, history, best, rng, settings)
    (Path(work) / "history.json").write_text(json.dumps(history, indent=1))
    return history, best


SPIKE = 10  # a batch whose loss is this many times the epoch's running mean is reported by name


def resume(run_dir: Path, model, optimizer) -> tuple[Progress, dict]:
    """(progress, carried states) of a run directory's checkpoint, its weights and optimizer loaded into
    `model` and `optimizer`; a fresh start where there is none."""
    checkpoint = Path(run_dir) / CHECKPOINT
    if not checkpoint.exists() and not previous_checkpoint(checkpoint).exists():
        return Progress(), {}
    meta, states = load_checkpoint(checkpoint, model, optimizer)
    run = Progress.from_meta(meta)
    print(f"resuming {run_dir} at epoch {run.epoch + 1}, batch {run.batch} (step {run.global_step})")
    return run, states


def batch_epochs(run_dir: Path, model, optimizer, run: Progress, epochs: int, patience: int | None,
                 checkpoint_minutes: float, plan: Callable, step: Callable, end: Callable, after: Callable,
                 states: dict | None = None, progress: bool = True, stop_after_batches: int | None = None,
                 spikes: bool = True) -> str:
    """Run `run` on to `epochs`; returns why it stopped early ("" when it did not).

    plan(epoch)              -> the epoch's batches (the same list for the same epoch: a resumed epoch goes on)
    step(batch)              -> (loss, what the batch was, in a word, or "")
    end(epoch, logs, n)      -> whether the epoch's weights are the best so far (validates, keeps them; may add
                                to `logs`, which holds the mean loss and the seconds of its `n` batches)
    after(epoch, logs, improved, history): the epoch is done and checkpointed (print, plot)
    `states`: what the batch lanes carry from one batch to the next (checkpointed; cleared every epoch).
    `spikes`: name a batch whose loss is SPIKE times the epoch's running mean.
    `stop_after_batches` ends the call early, as a kill would (for tests)."""
    from tqdm import tqdm

    checkpoint = Path(run_dir) / CHECKPOINT
    last_save = time.monotonic()
    batches_run = 0
    while run.epoch < epochs:
        if (done := patience_spent(run.history, patience)):
            print(done)
            return ""
        epoch = run.epoch
        batches = plan(epoch)
        started = time.monotonic()
        bar = tqdm(total=len(batches), initial=run.batch, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress, dynamic_ncols=True)
        while run.batch < len(batches):
            loss, label = step(batches[run.batch])
            loss = float(loss)
            named = f" ({label})" if label else ""
            if not math.isfinite(loss):
                bar.close()
                return (f"loss became {loss} at epoch {epoch + 1}, batch {run.batch + 1}{named}; stopped, the last "
                        f"good checkpoint is {checkpoint}")
            if spikes and run.loss_count >= 20 and loss > SPIKE * run.loss_sum / run.loss_count:
                # an epoch mean can hide one huge batch; name it so a regression can be traced to its window
                bar.write(f"epoch {epoch + 1}, batch {run.batch + 1}{named}: loss {loss:.4f}, "
                          f"{loss / (run.loss_sum / run.loss_count):.0f}x the epoch's mean so far")
            run.batch += 1
            run.global_step += 1
            run.loss_sum += loss
            run.loss_count += 1
            bar.update()
            bar.set_postfix(loss=f"{run.loss_sum / run.loss_count:.5f}", **({"batch": label} if label else {}),
                            refresh=False)
            batches_run += 1
            if time.monotonic() - last_save > 60 * checkpoint_minutes:
                save_checkpoint(checkpoint, model, optimizer, run.meta(), states)
                last_save = time.monotonic()
            if stop_after_batches is not None and batches_run >= stop_after_batches:
                bar.close()
                return "stopped for test"
        bar.close()
        logs = {"loss": run.loss_sum / max(run.loss_count, 1), "epoch_seconds": time.monotonic() - started}
        improved = end(epoch, logs, len(batches))
        run.history.append({"epoch": epoch + 1, **logs})
        run.epoch, run.batch, run.loss_sum, run.loss_count = epoch + 1, 0, 0.0, 0
        if states is not None:
            states.clear()  # every lane starts a new piece next epoch
        save_checkpoint(checkpoint, model, optimizer, run.meta(), states)
        last_save = time.monotonic()
        after(epoch + 1, logs, improved, run.history)
    return ""
