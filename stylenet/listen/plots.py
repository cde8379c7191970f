"""The listening test's figure: how often each source's clips were rated 1 (surely a human) to 5."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stylenet.core.plots import pyplot, save_figure


def rating_bars(counts: dict[str, dict[int, int]], path: Path, title: str,
                labels=("1 surely a human", "2", "3", "4", "5 surely a computer")) -> Path:
    """A listening test's ratings: for each rating 1..5, one bar per source with how often it was given."""
    plt = pyplot()
    sources = list(counts)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 * len(sources) + 4), 4.2))
    width = 0.8 / max(len(sources), 1)
    x = np.arange(1, 6)
    for i, source in enumerate(sources):
        heights = [counts[source].get(r, 0) for r in range(1, 6)]
        ax.bar(x + (i - (len(sources) - 1) / 2) * width, heights, width, label=source)
    ax.set_xticks(x, labels)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="rating", ylabel="times given", title=title)
    ax.legend(title="source")
    return save_figure(fig, path)
