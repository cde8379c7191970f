"""Reading a built dataset back: its manifest, each piece's matrices and meter map, the grid it was built
on, the velocity statistics of its genres; and ASAP's list of performances."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from stylenet.core.codec import onset_cells, velocities_at
from stylenet.core.errors import StyleNetError
from stylenet.data.splits import asap_work


def load_manifest(dataset_dir) -> list[dict]:
    """The kept pieces of a built dataset."""
    path = Path(dataset_dir) / "manifest.jsonl"
    if not path.exists():
        raise StyleNetError(f"{dataset_dir}: not a built dataset (no manifest.jsonl); "
                            "run `stylenet build-dataset RAW_DIR -o DIR` first", exit_code=2)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_piece(dataset_dir, entry: dict):
    """(score matrix uint8 [T, 176], velocity matrix float32 [T, 88]) of one manifest entry."""
    score, velocity, _ = load_piece_and_meters(dataset_dir, entry)
    return score, velocity


def load_piece_and_meters(dataset_dir, entry: dict):
    """(score, velocity, meter map [(step, numerator, denominator)] or None for a dataset built before
    pieces carried it) of one manifest entry, read in one pass."""
    import numpy as np

    path = Path(dataset_dir) / entry["array"]
    try:
        with np.load(path) as arrays:
            meters = arrays["meters"] if "meters" in arrays.files else None
            return arrays["score"], arrays["velocity"].astype(np.float32), meters
    except Exception as exc:  # missing, truncated or foreign: the dataset, not StyleNet, is broken
        raise StyleNetError(f"{path}: damaged dataset piece ({type(exc).__name__}: {exc}); "
                            "rebuild it with `stylenet build-dataset`") from None


def dataset_steps_per_quarter(dataset_dir) -> int:
    """The grid resolution a dataset was built at (a model must perform on the grid it learned)."""
    path = Path(dataset_dir) / "build.json"
    try:
        return int(json.loads(path.read_text())["options"]["steps_per_quarter"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StyleNetError(f"{path}: cannot read the dataset's grid ({exc.__class__.__name__}); "
                            f"build the dataset again with `stylenet build-dataset`") from None


def velocity_stats(dataset_dir, genres, split: str = "train") -> dict[str, dict]:
    """How humans of each genre play, in MIDI velocity units, over the notes of a dataset's pieces.

    mean: over all notes; piece_std: the median, over pieces, of the spread within a piece (what
    `perform --contrast auto` aims for with a model file that has no contrast factor); piece_mean_std: how
    much pieces differ in overall level.
    """
    import numpy as np

    entries = [e for e in load_manifest(dataset_dir) if e["split"] == split]
    stats = {}
    for genre in genres:
        means, stds, notes = [], [], []
        for entry in (e for e in entries if e["genre"] == genre):
            score, velocity = load_piece(dataset_dir, entry)
            # float32, as these statistics were first computed: the stats stored with a model stay the same
            v = velocities_at(velocity, *onset_cells(score)).astype(np.float32)
            if len(v) > 1:
                means.append(v.mean())
                stds.append(v.std())
                notes.append(v)
        if notes:
            everything = np.concatenate(notes)
            stats[genre] = {"mean": float(everything.mean()), "std": float(everything.std()),
                            "piece_std": float(np.median(stds)), "piece_mean_std": float(np.std(means)),
                            "low": float(np.percentile(everything, 1)), "high": float(np.percentile(everything, 99)),
                            "pieces": len(notes), "notes": int(len(everything))}
    return stats



def asap_performances(root) -> list[dict]:
    """One dict per performance in an ASAP folder's metadata.csv, with absolute `midi` and `annotations`
    paths, its `work` (title), `folder` and `composer`."""
    root = Path(root)
    out = []
    with open(root / "metadata.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out.append({"composer": row["composer"], "work": asap_work(row["folder"]), "folder": row["folder"],
                        "midi": str(root / row["midi_performance"]),
                        "annotations": str(root / row["performance_annotations"])})
    return out
