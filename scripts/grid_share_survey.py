"""How far `grid.grid_share` (and `beat_coherence`) tell sequenced files from recordings, on the shared data.

    python scripts/grid_share_survey.py [--data ../shared/data] [--raw-sample 100] [--out build/beats/grid_share]

Reads every ASAP performance (recorded: no tempo map) and every ASAP `midi_score.mid` (sequenced), and a
seeded sample of `raw/<genre>` files; writes OUT.json (every file's two figures) and OUT.md (percentiles per
group, and how many files of each group fall under GRID_SHARE_THRESHOLD and COHERENCE_THRESHOLD).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from stylenet.data import read
from stylenet.recorded import grid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.core import midifile  # noqa: E402


def share_of(path) -> tuple | None:
    """(grid_share, beat_coherence) of a file, None when it has no piano notes or cannot be read."""
    try:
        piece = midifile.load_midi(path)
        return (grid.grid_share(piece), grid.beat_coherence(piece)) if piece.n_notes else None
    except midifile.MidiReadError:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--raw-sample", type=int, default=100, help="files per raw genre (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "build" / "beats" / "grid_share"))
    args = parser.parse_args(argv)
    data = Path(args.data)
    groups: dict[str, list] = {}
    asap = data / "asap"
    if (asap / "metadata.csv").exists():
        rows = read.asap_performances(asap)
        groups["asap performances (recorded)"] = [(r["midi"], share_of(r["midi"])) for r in rows]
        scores = sorted({str(Path(r["midi"]).parent / "midi_score.mid") for r in rows})
        groups["asap scores (sequenced)"] = [(s, share_of(s)) for s in scores if Path(s).exists()]
    rng = random.Random(args.seed)
    for genre_dir in sorted((data / "raw").glob("*")) if (data / "raw").is_dir() else []:
        files = sorted(p for p in genre_dir.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
        if args.raw_sample and len(files) > args.raw_sample:
            files = sorted(rng.sample(files, args.raw_sample))
        groups[f"raw/{genre_dir.name}"] = [(str(f), share_of(f)) for f in files]
    lines = ["Measured with scripts/grid_share_survey.py."]
    for column, label, threshold in ((0, "grid_share", grid.GRID_SHARE_THRESHOLD),
                                     (1, "beat_coherence", grid.COHERENCE_THRESHOLD)):
        lines += ["", f"**{label}** (threshold {threshold})", "",
                  "| files | n | min | 5 % | median | 95 % | max | below threshold |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, values in groups.items():
            v = np.array([x[column] for _, x in values if x is not None])
            if not len(v):
                continue
            p = np.percentile(v, [0, 5, 50, 95, 100])
            cells = " | ".join(f"{x:.3f}" for x in p)
            lines.append(f"| {name} | {len(v)} | {cells} | {np.sum(v < threshold)} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({k: v for k, v in groups.items()}, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
