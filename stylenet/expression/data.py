"""`stylenet build-expression`: the aligned score-performance pairs the expression network learns from.

Which pieces, and on which side: those of a dataset built with `build-dataset RAW --asap ASAP` (its
manifest), split as the shipped StyleNet model's training run split them (`pieces.split_genre`): the
velocity model and the expression network learn from the same pieces, are chosen on the same held-out
validation pieces, and are reported on the same test pieces.  ASAP's performances are aligned to their
work's score (align.align_asap); raw/ files are read against their own nominal grid (align.self_performed).

Written to OUT: `train.pkl`, `validation.pkl`, `test.pkl` (one row per performance: genre, work, the
ScoreNotes and its Performed) and `report.json` with the share of notes aligned per source.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.core.errors import FileError, StyleNetError
from stylenet.expression.align import align_asap, self_performed

SPLITS = ("train", "validation", "test")


@dataclass
class Row:
    genre: str
    work: str  # all performances of one work share it (ASAP: the folder; raw/: the file)
    path: str
    score: object  # notes.ScoreNotes
    performed: object  # notes.Performed


def split_entries(dataset, run_config: dict) -> dict[str, list[dict]]:
    """{split: manifest entries} as a run with `run_config` holds them out (validation per genre by piece)."""
    from stylenet.data.read import load_manifest
    from stylenet.data.splits import split_genre
    from stylenet.velocity.config import config_from_dict

    manifest = load_manifest(dataset)
    config = config_from_dict(run_config)
    out = {s: [] for s in SPLITS}
    for genre in sorted({e["genre"] for e in manifest}):
        entries = [e for e in manifest if e["genre"] == genre]
        train, validation = split_genre([e for e in entries if e["split"] == "train"], config.data, config.train.seed)
        out["train"] += train
        out["validation"] += validation
        out["test"] += [e for e in entries if e["split"] == "test"]
    return out


def read_row(entry: dict, raw_dir: Path, asap_dir: Path, performances: dict) -> tuple[Row, dict]:
    from stylenet.core.midifile import load_midi

    path = entry["path"]
    if path.startswith("asap/"):
        row = performances[path.removeprefix("asap/")]
        score, performed, report = align_asap(row, asap_dir)
        counts = {"score_notes": report.score_notes, "performed_notes": report.performed_notes,
                  "matched": report.matched, "median_offset": report.median_offset}
        return Row(entry["genre"], entry.get("piece") or path, path, score, performed), counts
    piece = load_midi(raw_dir / path)  # a manifest's paths are relative to the RAW_DIR it was built from
    score, performed = self_performed(piece, entry["genre"])
    return Row(entry["genre"], entry.get("piece") or path, path, score, performed), \
        {"score_notes": score.n_notes, "performed_notes": score.n_notes, "matched": score.n_notes}


def build(dataset, raw_dir, asap_dir, out_dir, run_config: dict, progress: bool = True) -> dict:
    from tqdm import tqdm

    from stylenet.data.read import asap_performances

    raw_dir, asap_dir, out_dir = Path(raw_dir), Path(asap_dir), Path(out_dir)
    chosen = split_entries(dataset, run_config)
    performances = {}
    if asap_dir.is_dir():
        for row in asap_performances(asap_dir):
            performances[str(Path(row["midi"]).relative_to(asap_dir))] = row
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"dataset": str(dataset), "splits": {}, "skipped": []}
    total = sum(len(v) for v in chosen.values())
    with tqdm(total=total, desc="build-expression", unit="performance", disable=not progress) as bar:
        for split, entries in chosen.items():
            rows, sums = [], {}
            for entry in entries:
                try:
                    row, counts = read_row(entry, raw_dir, asap_dir, performances)
                except (FileError, KeyError) as exc:
                    report["skipped"].append(f"{entry['path']}: {exc}")
                else:
                    rows.append(row)
                    source = "asap" if entry["path"].startswith("asap/") else entry["genre"]
                    s = sums.setdefault(source, {"performances": 0, "score_notes": 0, "performed_notes": 0,
                                                 "matched": 0, "offsets": []})
                    s["performances"] += 1
                    for k in ("score_notes", "performed_notes", "matched"):
                        s[k] += counts[k]
                    if "median_offset" in counts:
                        s["offsets"].append(counts["median_offset"])
                bar.update()
            for s in sums.values():
                s["score_share"] = round(s["matched"] / max(s["score_notes"], 1), 4)
                s["performed_share"] = round(s["matched"] / max(s["performed_notes"], 1), 4)
                offsets = s.pop("offsets")
                if offsets:
                    s["median_offset_ms"] = round(1000 * float(np.median(offsets)), 1)
            report["splits"][split] = sums
            tmp = out_dir / f".{split}.pkl.tmp"
            with open(tmp, "wb") as handle:
                pickle.dump(rows, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, out_dir / f"{split}.pkl")
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    return report


def load_rows(out_dir, split: str) -> list[Row]:
    path = Path(out_dir) / f"{split}.pkl"
    if not path.is_file():
        raise StyleNetError(f"{path}: no such file (build it with `stylenet build-expression`)", exit_code=2)
    try:
        with open(path, "rb") as handle:
            rows = pickle.load(handle)
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, ImportError, IndexError) as exc:
        raise StyleNetError(f"{path}: cannot read it, empty or damaged ({type(exc).__name__}); rebuild it with "
                            "`stylenet build-expression`", exit_code=2) from None
    if not isinstance(rows, list):
        raise StyleNetError(f"{path}: not a list of aligned performances; rebuild it with `stylenet build-expression`",
                            exit_code=2)
    return rows
