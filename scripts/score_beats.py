"""Score the beat tracker on ASAP against its annotations: mir_eval beat and downbeat F-measure.

    python scripts/score_beats.py [--asap ../shared/data/asap] [--splits test,validation] [--out build/beats/asap]

Works are split by `stylenet.tracking.asap_split` (test) and `asap_validation` (the train works the tracker
was tuned on); `train` is the rest.  Each performance is read with `midifile.load_midi` and tracked with
`tracker.track` from its notes alone; F-measures use mir_eval's defaults (70 ms window, no trimming of
the first 5 s).  Writes OUT.md (per work and overall, per split) and OUT.json (every performance too).
Needs mir_eval: `pip install -e '.[beats]'`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from stylenet.core import midifile
from stylenet.data import read, splits
from stylenet.recorded import tracker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.core import beats  # noqa: E402
from stylenet.core.errors import StyleNetError  # noqa: E402


def split_of(work: str) -> str:
    if splits.asap_split(work) == "test":
        return "test"
    return "validation" if splits.asap_validation(work) else "train"


def score_performance(row: dict, mir_eval) -> dict:
    reference = beats.read_annotations(row["annotations"])
    piece = midifile.load_midi(row["midi"])
    started = time.perf_counter()
    found = tracker.track(piece)
    seconds = time.perf_counter() - started
    ref_meter = reference.meter_of_beats()[0]
    found_meter = found.meter_of_beats()[0]
    return {
        "performance": f"{row['folder']}/{Path(row['midi']).name}",
        "work": row["work"], "composer": row["composer"],
        "beat_f": float(mir_eval.beat.f_measure(reference.times, found.times)),
        "downbeat_f": float(mir_eval.beat.f_measure(reference.times[reference.downbeat], found.times[found.downbeat])),
        "beats": found.n_beats, "annotated_beats": reference.n_beats,
        "meter": f"{found_meter[0]}/{found_meter[1]}", "annotated_meter": f"{ref_meter[0]}/{ref_meter[1]}",
        "music_seconds": float(piece.seconds), "track_seconds": seconds,
    }


def summary(rows: list[dict]) -> dict:
    by_work = defaultdict(list)
    for row in rows:
        by_work[row["work"]].append(row)
    return {"performances": len(rows), "works": len(by_work),
            "beat_f": float(np.mean([r["beat_f"] for r in rows])),
            "downbeat_f": float(np.mean([r["downbeat_f"] for r in rows])),
            "beat_f_by_work": float(np.mean([np.mean([r["beat_f"] for r in w]) for w in by_work.values()])),
            "downbeat_f_by_work": float(np.mean([np.mean([r["downbeat_f"] for r in w]) for w in by_work.values()])),
            "tempo_level_right": float(np.mean([abs(np.log2(r["beats"] / r["annotated_beats"])) < 0.2 for r in rows])),
            "track_seconds_per_10_min": float(600 * sum(r["track_seconds"] for r in rows)
                                              / sum(r["music_seconds"] for r in rows))}


def markdown(results: dict) -> str:
    lines = ["| split | performances | works | beat F | downbeat F | beat F (mean of works) "
             "| downbeat F (mean of works) | right tempo level |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for split, s in results["splits"].items():
        lines.append(f"| {split} | {s['performances']} | {s['works']} | {s['beat_f']:.3f} | {s['downbeat_f']:.3f} "
                     f"| {s['beat_f_by_work']:.3f} | {s['downbeat_f_by_work']:.3f} | {s['tempo_level_right']:.0%} |")
    lines += ["", "| split | work | performances | beat F | downbeat F | meter found / annotated (first) |",
              "|---|---|---:|---:|---:|---|"]
    by_work = defaultdict(list)
    for row in results["performances"]:
        by_work[(row["split"], row["work"])].append(row)
    for (split, work), rows in sorted(by_work.items()):
        meters = ", ".join(sorted({f"{r['meter']} / {r['annotated_meter']}" for r in rows}))
        lines.append(f"| {split} | {work} | {len(rows)} | {np.mean([r['beat_f'] for r in rows]):.3f} "
                     f"| {np.mean([r['downbeat_f'] for r in rows]):.3f} | {meters} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asap", default=str(ROOT.parent / "shared" / "data" / "asap"))
    parser.add_argument("--splits", default="test,validation", help="comma-separated: train, validation, test")
    parser.add_argument("--out", default=str(ROOT / "build" / "beats" / "asap"), help="writes OUT.md and OUT.json")
    parser.add_argument("--limit", type=int, default=0, help="at most this many performances per work (0: all)")
    args = parser.parse_args(argv)
    try:
        import mir_eval
    except ImportError:
        print("score_beats needs mir_eval: pip install -e '.[beats]'", file=sys.stderr)
        return 2
    wanted = [s.strip() for s in args.splits.split(",") if s.strip()]
    unknown = set(wanted) - {"train", "validation", "test"}
    if unknown:
        parser.error(f"unknown split {sorted(unknown)[0]!r}")
    if not (Path(args.asap) / "metadata.csv").exists():
        print(f"{args.asap}: no ASAP metadata.csv here", file=sys.stderr)
        return 2
    rows, taken = [], defaultdict(int)
    for row in read.asap_performances(args.asap):
        split = split_of(row["work"])
        if split not in wanted or (args.limit and taken[row["work"]] >= args.limit):
            continue
        taken[row["work"]] += 1
        try:
            scored = score_performance(row, mir_eval)
        except StyleNetError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        scored["split"] = split
        rows.append(scored)
        print(f"{split:10s} {scored['performance']:70s} beat F {scored['beat_f']:.3f}  downbeat F "
              f"{scored['downbeat_f']:.3f}  {scored['track_seconds']:.2f} s", flush=True)
    results = {"splits": {s: summary([r for r in rows if r["split"] == s]) for s in wanted
                          if any(r["split"] == s for r in rows)},
               "performances": rows,
               "settings": {"window_seconds": 0.07, "trim_first_5_s": False, "split_seed": 0, "test_share": 0.1}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results).split("\n\n")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
