"""PNG figures without a display: matplotlib's Agg backend, imported only when a plot is drawn, and
written atomically."""

from __future__ import annotations

from pathlib import Path

from stylenet.core.fileio import atomic_path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    plt = pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
