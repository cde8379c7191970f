"""What is the beat grid worth?  Recorded ASAP performances performed three ways — on the file's nominal
grid, on the annotated beats, on tracked beats — and scored against the pianists' own velocities.

    python scripts/grid_worth.py --model MODEL [--model OTHER ...] [--split validation|test]
        [--dataset build/dataset-concert] [--asap ../shared/data/asap] [--grids nominal beats tracked]

Pieces: the ASAP performances of a dataset built with `build-dataset --asap` — `validation` = the ASAP works
every training run holds out (choose here), `test` = the ASAP test works (report once).  Each performance is
read from its original file, its velocities flattened to what the model sees, and performed with perform's
default settings by the model's `concert` net where it has one, else `classical` (`--genre` to choose).
As `perform` does by default, each recording's own timing is read for loudness too (touch.py) where the touch
network is calibrated for the net's genre; the table then also has the "score only" row (`--touch off`: the
score alone, as before the touch network).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stylenet.core import codec, midifile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.core import beats  # noqa: E402
from stylenet.play.step import touch_for  # noqa: E402
from stylenet.velocity.evaluate import _notes, evaluate, multi_reference  # noqa: E402
from stylenet.velocity.performer import load_performer  # noqa: E402
from stylenet.velocity.pieces import asap_entries  # noqa: E402

GRIDS = ("nominal", "beats", "tracked")


def read_piece(asap_dir: Path, entry: dict, grid: str, steps_per_quarter: int, touch_net=None):
    path = asap_dir / entry["path"].removeprefix("asap/")
    piece = midifile.load_midi(path, steps_per_quarter=steps_per_quarter)
    if grid == "beats":
        piece = beats.conform(piece, beats.read_annotations(beats.beats_beside(path)))
    elif grid == "tracked":
        from stylenet.recorded.tracker import track

        piece = beats.conform(piece, track(piece))
    score_matrix, velocity = codec.encode(codec.quantise(piece))
    deviation = None
    if touch_net is not None:
        from stylenet.recorded.touch import deviations_at

        deviation = deviations_at(piece, *codec.onset_cells(score_matrix), touch_net)
    return score_matrix, velocity, piece.meter_map(), deviation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="a run directory or model file (repeatable)")
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--dataset", default="build/dataset-concert")
    parser.add_argument("--asap", default="../shared/data/asap")
    parser.add_argument("--grids", nargs="+", choices=GRIDS, default=["nominal", "beats"])
    parser.add_argument("--genre", help="the net to perform with (default: concert if the model has it, else classical)")
    parser.add_argument("--touch", choices=("auto", "off"), default="auto",
                        help="read each recording's timing for loudness too, as perform does (default), or not")
    parser.add_argument("--touch-model", help="a touch network (default: the shipped one)")
    parser.add_argument("--out", default="build/grid_worth", help="folder for the table (Markdown) and numbers (JSON)")
    args = parser.parse_args()

    lines = ["| model | grid | r | r/piece | MAE | SD ratio | flat MAE |", "|---|---|---:|---:|---:|---:|---:|"]
    numbers, agreements = [], []
    for model in args.model:
        performer = load_performer(model)
        genre = args.genre or ("concert" if "concert" in performer.genres else "classical")
        touch_net, calibration, why = touch_for(performer, genre, args.touch, args.touch_model)
        if why:
            print(f"{model}: {why}", flush=True)
        _, validation, test = asap_entries(args.dataset, performer.info["config"])
        entries = test if args.split == "test" else validation
        for grid in args.grids:
            pieces = []
            for entry in entries:
                score, velocity, meters, deviation = read_piece(Path(args.asap), entry, grid,
                                                                performer.steps_per_quarter, touch_net)
                pieces.append(_notes(entry["path"], genre, score, velocity, meters, entry["piece"]))
                pieces[-1].touch = deviation
            evaluation = evaluate(performer, pieces, False, {genre: calibration} if calibration else None)
            results = evaluation["results"][genre]
            m, flat = results["model (calibrated)"], results["flat"]
            if touch_net is not None:
                alone = results["model (score only)"]
                lines.append(f"| {Path(model).name} ({genre}), score only | {grid} | {alone['r']:.3f} | "
                             f"{alone['r_piece_mean']:.3f} | {alone['mae']:.2f} | {alone['std_ratio']:.2f} | "
                             f"{flat['mae']:.2f} |")
                print(lines[-1], flush=True)
            works = len({e["piece"] for e in entries})
            agreement = multi_reference(pieces, evaluation).get(genre) if grid != "nominal" else None
            numbers.append({"model": str(model), "net": genre, "grid": grid, "split": args.split, "works": works,
                            "performances": len(entries), "model (calibrated)": m, "flat": flat,
                            "touch": touch_net is not None, "model (score only)": results.get("model (score only)"),
                            "agreement": agreement})
            if agreement:
                agreements.append(f"| {Path(model).name} ({genre}) | {grid} | {agreement['works']} | "
                                  f"{agreement['matched']:.0%} | {agreement['human_r']:.3f}, {agreement['human_mae']:.1f} | "
                                  f"{agreement['same_r']:.3f}, {agreement['same_mae']:.1f} | "
                                  f"{agreement['other_r']:.3f}, {agreement['other_mae']:.1f} |")
            lines.append(f"| {Path(model).name} ({genre}){', with touch' if touch_net else ''} | {grid} | {m['r']:.3f} | {m['r_piece_mean']:.3f} | "
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
