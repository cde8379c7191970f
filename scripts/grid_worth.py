"""What is the beat grid worth?  Recorded ASAP performances performed three ways — on the file's nominal
grid, on the annotated beats, on tracked beats — and scored against the pianists' own velocities.

    python scripts/grid_worth.py --model MODEL [--model OTHER ...] [--split validation|test]
        [--dataset build/dataset-concert] [--asap ../shared/data/asap] [--grids nominal beats tracked]

Pieces: the ASAP performances of a dataset built with `build-dataset --asap` — `validation` = the ASAP works
every training run holds out (choose here), `test` = the ASAP test works (report once).  Each performance is
read from its original file, its velocities flattened to what the model sees, and performed with perform's
default settings by the model's `concert` net where it has one, else `classical` (`--genre` to choose).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet import beats, codec  # noqa: E402
from stylenet.evaluate import _notes, evaluate, multi_reference  # noqa: E402
from stylenet.inference import load_performer  # noqa: E402

GRIDS = ("nominal", "beats", "tracked")


def asap_entries(dataset: str, split: str, run_config: dict) -> list[dict]:
    from stylenet.config import config_from_dict
    from stylenet.dataset import load_manifest
    from stylenet.pieces import split_genre

    manifest = [e for e in load_manifest(dataset) if e["path"].startswith("asap/")]
    if split == "test":
        return [e for e in manifest if e["split"] == "test"]
    config = config_from_dict(run_config)
    return split_genre([e for e in manifest if e["split"] == "train"], config.data, config.train.seed)[1]


def read_piece(asap_dir: Path, entry: dict, grid: str, steps_per_quarter: int):
    path = asap_dir / entry["path"].removeprefix("asap/")
    piece = codec.load_midi(path, steps_per_quarter=steps_per_quarter)
    if grid == "beats":
        piece = beats.conform(piece, beats.read_annotations(beats.beats_beside(path)))
    elif grid == "tracked":
        from stylenet.tracking import track

        piece = beats.conform(piece, track(piece))
    score_matrix, velocity = codec.encode(codec.quantise(piece))
    return score_matrix, velocity, piece.meter_map()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="a run directory or model file (repeatable)")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--dataset", default="build/dataset-concert")
    parser.add_argument("--asap", default="../shared/data/asap")
    parser.add_argument("--grids", nargs="+", choices=GRIDS, default=["nominal", "beats"])
    parser.add_argument("--genre", help="the net to perform with (default: concert if the model has it, else classical)")
    parser.add_argument("--out", default="build/grid_worth", help="folder for the table (Markdown) and numbers (JSON)")
    args = parser.parse_args()

    lines = ["| model | grid | r | r/piece | MAE | SD ratio | flat MAE |", "|---|---|---:|---:|---:|---:|---:|"]
    numbers, agreements = [], []
    for model in args.model:
        performer = load_performer(model)
        genre = args.genre or ("concert" if "concert" in performer.genres else "classical")
        entries = asap_entries(args.dataset, args.split, performer.info["config"])
        for grid in args.grids:
            pieces = []
            for entry in entries:
                score, velocity, meters = read_piece(Path(args.asap), entry, grid, performer.steps_per_quarter)
                pieces.append(_notes(entry["path"], genre, score, velocity, meters, entry["piece"]))
            evaluation = evaluate(performer, pieces, False)
            results = evaluation["results"][genre]
            m, flat = results["model (calibrated)"], results["flat"]
            works = len({e["piece"] for e in entries})
            agreement = multi_reference(pieces, evaluation).get(genre) if grid != "nominal" else None
            numbers.append({"model": str(model), "net": genre, "grid": grid, "split": args.split, "works": works,
                            "performances": len(entries), "model (calibrated)": m, "flat": flat,
                            "agreement": agreement})
            if agreement:
                agreements.append(f"| {Path(model).name} ({genre}) | {grid} | {agreement['works']} | "
                                  f"{agreement['matched']:.0%} | {agreement['human_r']:.3f}, {agreement['human_mae']:.1f} | "
                                  f"{agreement['same_r']:.3f}, {agreement['same_mae']:.1f} | "
                                  f"{agreement['other_r']:.3f}, {agreement['other_mae']:.1f} |")
            lines.append(f"| {Path(model).name} ({genre}) | {grid} | {m['r']:.3f} | {m['r_piece_mean']:.3f} | "
                         f"{m['mae']:.2f} | {m['std_ratio']:.2f} | {flat['mae']:.2f} |")
            print(lines[-1], flush=True)
    header = f"ASAP {args.split} works ({numbers[0]['works']} works, {numbers[0]['performances']} performances)\n\n"
    if agreements:
        lines += ["", "Works with several performances, notes matched by key and step of the beat grid (per-piece r, MAE):", "",
                  "| model | grid | works | notes matched | human vs human | model vs same | model vs others |",
                  "|---|---|---:|---:|---:|---:|---:|"] + agreements
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"grid_worth_{args.split}.md").write_text(header + "\n".join(lines) + "\n")
    (out / f"grid_worth_{args.split}.json").write_text(json.dumps(numbers, indent=1, allow_nan=True) + "\n")
    print("\n" + header + "\n".join(lines))


if __name__ == "__main__":
    main()
