"""PNG figures: training curves, velocity snapshots per genre, piano-rolls.  matplotlib, no display needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fileio import atomic_path

SNAPSHOT_STEPS = 256  # 16 bars of 4/4 at 1/16 resolution


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def loss_curves(history: list[dict], path: Path) -> Path:
    plt = _pyplot()
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
    return _save(fig, path)


def velocity_roll(ax, score: np.ndarray, velocity: np.ndarray, title: str):
    """Sounding cells coloured by velocity (MIDI units); silence left white."""
    sounding = score[:, 1::2] > 0
    shown = np.where(sounding, np.clip(velocity, 0, 1) * 127, np.nan).T
    keys = np.flatnonzero(sounding.any(axis=0))
    lo, hi = (keys.min(), keys.max() + 1) if len(keys) else (0, 88)
    image = ax.imshow(shown[lo:hi], origin="lower", aspect="auto", cmap="magma_r", vmin=0, vmax=127,
                      interpolation="nearest", extent=(0, len(score), 21 + lo - 0.5, 21 + hi - 0.5))
    ax.set(title=title, ylabel="MIDI pitch")
    return image


def genre_snapshot(score: np.ndarray, truth: np.ndarray | None, predictions: dict[str, np.ndarray],
                   path: Path, title: str) -> Path:
    """The same score as each genre would play it (the paper's epoch snapshots), truth on top."""
    plt = _pyplot()
    rows = ([("human", truth)] if truth is not None else []) + list(predictions.items())
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 2.2 * len(rows)), sharex=True, squeeze=False)
    image = None
    for ax, (name, velocity) in zip(axes[:, 0], rows):
        image = velocity_roll(ax, score, velocity, name)
    axes[-1, 0].set_xlabel("grid step (1/16 note)")
    fig.suptitle(title)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="velocity")
    return _save(fig, path)


def plot_run(run_dir: Path, history: list[dict], stepper, data, epoch: int) -> None:
    plots = Path(run_dir) / "plots"
    loss_curves(history, plots / "loss.png")
    genre, piece = next(((g, p[0]) for g, p in data.validation.items() if p),
                        next((g, p[0]) for g, p in data.train.items() if p))
    score = piece.score[:SNAPSHOT_STEPS]
    predictions = {g: np.asarray(stepper.predict(g, score[None].astype(np.float32)))[0] for g in data.train}
    genre_snapshot(score, piece.velocity[:SNAPSHOT_STEPS].astype(np.float32), predictions,
                   plots / f"snapshot_epoch_{epoch:04d}.png", f"{piece.name} ({genre}) after epoch {epoch}")
