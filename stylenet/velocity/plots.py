"""PNG figures: training curves, velocity snapshots per genre, piano-rolls.  matplotlib, no display needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stylenet.core.midifile import LOWEST_KEY, N_KEYS
from stylenet.core.plots import pyplot, save_figure

SNAPSHOT_STEPS = 256  # 16 bars of 4/4 at 1/16 resolution


def loss_curves(history: list[dict], path: Path) -> Path:
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_mae) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(epochs, [h["loss"] for h in history], label="train", color="black")
    for key in sorted(k for k in history[-1] if k.startswith("val_loss_")):
        ax_loss.plot(epochs, [h.get(key, np.nan) for h in history], label=f"validation {key[9:]}")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss", yscale="log")
    ax_loss.legend()
    for key in sorted(k for k in history[-1] if k.startswith("val_mae_")):
        ax_mae.plot(epochs, [h.get(key, np.nan) for h in history], label=key[8:])
    ax_mae.set(xlabel="epoch", ylabel="MIDI velocity units", title="Validation error at note onsets (MAE)")
    if any(k.startswith("val_mae_") for k in history[-1]):
        ax_mae.legend()
    return save_figure(fig, path)


def velocity_roll(ax, score: np.ndarray, velocity: np.ndarray, title: str):
    """Sounding cells coloured by velocity (MIDI units); silence left white."""
    sounding = score[:, 1::2] > 0
    shown = np.where(sounding, np.clip(velocity, 0, 1) * 127, np.nan).T
    keys = np.flatnonzero(sounding.any(axis=0))
    lo, hi = (keys.min(), keys.max() + 1) if len(keys) else (0, N_KEYS)
    image = ax.imshow(shown[lo:hi], origin="lower", aspect="auto", cmap="magma_r", vmin=0, vmax=127,
                      interpolation="nearest", extent=(0, len(score), LOWEST_KEY + lo - 0.5, LOWEST_KEY + hi - 0.5))
    ax.set(title=title, ylabel="MIDI pitch")
    return image


def genre_snapshot(score: np.ndarray, truth: np.ndarray | None, predictions: dict[str, np.ndarray],
                   path: Path, title: str) -> Path:
    """The same score as each genre would play it (the paper's epoch snapshots), truth on top."""
    plt = pyplot()
    rows = ([("human", truth)] if truth is not None else []) + list(predictions.items())
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 2.2 * len(rows)), sharex=True, squeeze=False)
    image = None
    for ax, (name, velocity) in zip(axes[:, 0], rows):
        image = velocity_roll(ax, score, velocity, name)
    axes[-1, 0].set_xlabel("grid step (1/16 note)")
    fig.suptitle(title)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="velocity")
    return save_figure(fig, path)


def plot_run(run_dir: Path, history: list[dict], stepper, data, epoch: int) -> None:
    plots = Path(run_dir) / "plots"
    loss_curves(history, plots / "loss.png")
    genre, piece = next(((g, p[0]) for g, p in data.validation.items() if p),
                        next((g, p[0]) for g, p in data.train.items() if p))
    score = piece.score[:SNAPSHOT_STEPS]
    inputs = piece.inputs(0, SNAPSHOT_STEPS)[None]
    predictions = {g: np.asarray(stepper.predict(g, inputs))[0] for g in data.train}
    genre_snapshot(score, piece.velocity[:SNAPSHOT_STEPS].astype(np.float32), predictions,
                   plots / f"snapshot_epoch_{epoch:04d}.png", f"{piece.name} ({genre}) after epoch {epoch}")


def before_after(score: np.ndarray, before: np.ndarray, after: np.ndarray, path: Path, title: str) -> Path:
    """Piano-roll coloured by velocity: the input, and the performance written."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True)
    velocity_roll(axes[0], score, before, "input")
    image = velocity_roll(axes[1], score, after, "performed")
    axes[1].set_xlabel("grid step (1/16 note)")
    fig.suptitle(title)
    fig.colorbar(image, ax=axes.tolist(), label="velocity")
    return save_figure(fig, path)


def eval_scatter(truth: np.ndarray, predictions: dict[str, np.ndarray], path: Path, genre: str) -> Path:
    """True vs predicted velocity per note (a 2-D histogram: test sets have 10^5 notes)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(predictions), figsize=(5 * len(predictions), 4.6), squeeze=False)
    bins = np.arange(0, 129, 4)
    for ax, (name, predicted) in zip(axes[0], predictions.items()):
        ax.hist2d(truth, predicted, bins=[bins, bins], cmap="Blues", cmin=1)
        ax.plot([0, 127], [0, 127], color="grey", lw=1, ls="--")
        r = np.corrcoef(truth, predicted)[0, 1] if truth.std() and predicted.std() else float("nan")
        ax.set(xlabel="human velocity", ylabel="predicted velocity", xlim=(0, 127), ylim=(0, 127),
               title=f"{genre}, model {name}: r = {r:.2f}, MAE = {np.mean(np.abs(truth - predicted)):.1f}")
    return save_figure(fig, path)


def eval_timelines(names, truths, predictions, flats, path: Path, genre: str) -> Path:
    """Velocity note by note through a few pieces: human, model, flat baseline."""
    plt = pyplot()
    fig, axes = plt.subplots(len(names), 1, figsize=(12, 2.8 * len(names)), squeeze=False)
    for ax, name, truth, predicted, flat in zip(axes[:, 0], names, truths, predictions, flats):
        n = min(len(truth), 400)
        ax.plot(truth[:n], lw=0.8, color="black", label="human")
        ax.plot(predicted[:n], lw=0.8, color="tab:orange", label="model (calibrated)")
        ax.plot(flat[:n], lw=0.8, color="tab:blue", ls="--", label="flat")
        ax.set(title=f"{genre}: {name} (first {n} notes)", ylabel="velocity", ylim=(0, 127))
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("note (in time order of the score matrix)")
    return save_figure(fig, path)
