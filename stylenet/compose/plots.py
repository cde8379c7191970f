"""The composers' figures: loss curves of a run, and the report's metrics per set beside the human pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stylenet.core.plots import pyplot, save_figure


def compose_loss_curves(history: list[dict], path: Path, title: str) -> Path:
    """A composer's training: loss per epoch (training and validation), and its validation score."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    scores = [k for k in ("val_accuracy", "val_f1") if k in history[-1]]
    fig, axes = plt.subplots(1, 1 + len(scores), figsize=(5.5 * (1 + len(scores)), 4), squeeze=False)
    ax_loss = axes[0, 0]
    ax_loss.plot(epochs, [h["loss"] for h in history], label="train", color="black", marker=".")
    if "val_loss" in history[-1]:
        ax_loss.plot(epochs, [h.get("val_loss", np.nan) for h in history], label="validation", marker=".")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{title}: loss")
    ax_loss.legend()
    labels = {"val_accuracy": "next token predicted (share, validation)",
              "val_f1": "sounding cells reproduced (F1 at 0.5, validation)"}
    for ax, key in zip(axes[0, 1:], scores):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], marker=".", color="tab:green")
        ax.set(xlabel="epoch", title=labels[key])
        ax.set_ylim(bottom=0)
    return save_figure(fig, path)


def compose_report_figure(sets: dict[str, dict[str, list[float]]], metrics: dict[str, str], path: Path) -> Path:
    """Generated vs human music: one panel per metric, each set's pieces as dots around its mean (a bar)."""
    plt = pyplot()
    names = list(sets)
    columns = 4
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows), squeeze=False)
    rng = np.random.default_rng(0)  # the dots' sideways jitter only
    for ax, (key, label) in zip(axes.ravel(), metrics.items()):
        for i, name in enumerate(names):
            values = np.array([v for v in sets[name].get(key, []) if np.isfinite(v)])
            if len(values):
                ax.bar(i, values.mean(), color=f"C{i}", alpha=0.35)
                ax.scatter(i + rng.uniform(-0.25, 0.25, len(values)), values, s=10, color=f"C{i}")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylim(0, max(ax.get_ylim()[1], 1e-3))  # every metric is >= 0; an all-zero panel shows 0 at the bottom
        ax.set_title(label, fontsize=9)
    for ax in axes.ravel()[len(metrics):]:
        ax.axis("off")
    fig.suptitle("Generated and human music: per piece (dots) and mean (bars)")
    fig.tight_layout()
    return save_figure(fig, path)
