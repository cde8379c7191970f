"""The ablation table of README "Beyond the paper": each lever trained on the same budget, scored on the
validation split (the pieces each run holds out of `train`; the `test` split is never read here).

    python scripts/ablate.py                      # every row not done yet, then the table
    python scripts/ablate.py --rows shipped onset # some rows
    python scripts/ablate.py --table              # the table of the rows done so far
    python scripts/ablate.py --rescore            # score the trained rows again (after a change to perform)
    python scripts/ablate.py --runs DIR --epochs 3 --jobs 2
    python scripts/ablate.py --rows all +asap-concert +asap-classical --asap-dataset build/dataset-concert

Rows `+asap-concert` and `+asap-classical` add ASAP's recorded performances (issue 14) to the `all` row,
as their own genre or as more classical; they need `stylenet build-dataset ... --asap ../shared/data/asap`
built into build/dataset-concert (and `--asap-genre classical` into build/dataset-asapclassical).  With
`--asap-dataset`, every row is also scored on the ASAP works held out for validation (with its `concert`
net where it has one, else its `classical` net).

A row is `stylenet train --config CONFIG --set ...` for `--epochs` epochs (same for every row, no early
stopping), then `stylenet evaluate`'s metrics on the validation split for perform's default output
("model (calibrated)") and the raw output.  Rows resume: rerun the same command after an interruption.
Each row's exact training command is printed and stored in its run directory (`row.json`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPER, SHIPPED = "configs/stylenet.yaml", "configs/shipped_v1.yaml"  # the paper; the first shipped recipe
LEVERS = {  # lever -> the overrides that switch it on (off in the paper's and the shipped config)
    "onset": ["train.loss=onset_mse"],
    "metre": ["model.inputs=[metre]"],
    "transpose": ["train.transpose=6"],
    "context": ["train.context=50"],
    "spread": ["train.spread_weight=2.0"],
    "ema": ["train.ema=0.999"],
    "cosine": ["train.lr_schedule=cosine"],
}
ROWS = {"paper": (PAPER, []), "shipped": (SHIPPED, [])}
ROWS.update({f"+{lever}": (SHIPPED, sets) for lever, sets in LEVERS.items()})
ROWS["all"] = (SHIPPED, [s for sets in LEVERS.values() for s in sets])
ROWS.update({f"all-{lever}": (SHIPPED, [s for other, sets in LEVERS.items() if other != lever for s in sets])
             for lever in LEVERS})
ROWS["+voice"] = (SHIPPED, ["model.inputs=[voice]"])  # found later: the top and bottom sounding key
ROWS["all+voice"] = (SHIPPED, [x.replace("[metre]", "[metre,voice]") for x in ROWS["all"][1]])
ROWS["+asap-concert"] = (SHIPPED, ROWS["all"][1] + ["data.dataset=build/dataset-concert",
                                                   "data.genres=[classical,jazz,pop,concert]"])
ROWS["+asap-concert-metre"] = (SHIPPED, [s for s in ROWS["+asap-concert"][1] if s != "model.inputs=[metre]"])
ROWS["+asap-classical"] = (SHIPPED, ROWS["all"][1] + ["data.dataset=build/dataset-asapclassical"])
DEFAULT_ROWS = ["shipped", "all", "+onset", "+metre", "+spread", "+context", "+transpose", "+ema", "+cosine", "paper"]


def train_command(row: str, runs: Path, epochs: int) -> list[str]:
    config, sets = ROWS[row]
    budget = [f"train.epochs={epochs}", "train.patience=null", f"train.plot_every={epochs}"]
    return [sys.executable, "-m", "stylenet", "train", "--config", config, "--run-dir", str(runs / row), "-q"] + \
        [arg for s in sets + budget for arg in ("--set", s)]


def run_row(row: str, runs: Path, epochs: int, dataset: str, asap_dataset: str | None = None) -> dict:
    run_dir = runs / row
    scored = run_dir / "validation.json"
    done = json.loads(scored.read_text()) if scored.exists() else {}
    # rows scored before models read the score in several keys have no "readings": scored again
    if done.get("epochs") == epochs and "readings" in done:
        if asap_dataset and "asap" not in done:
            return score_row(row, run_dir, epochs, dataset, asap_dataset)
        return done
    command = train_command(row, runs, epochs)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "row.json").write_text(json.dumps({"row": row, "command": command[2:]}, indent=1))
    print(f"[{row}] python " + " ".join(command[1:]), flush=True)
    with open(run_dir / "train.log", "a") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"[{row}] training failed (exit {done.returncode}); see {run_dir / 'train.log'}")
    return score_row(row, run_dir, epochs, dataset, asap_dataset)


def asap_validation_pieces(asap_dataset: str, run_config: dict, genre: str) -> list:
    """The ASAP works every row holds out (train.split_validation holds each source out on its own, so
    these are the same works whether ASAP was a genre, part of classical, or absent), labelled `genre`."""
    from stylenet.data.read import load_manifest, load_piece_and_meters
    from stylenet.data.splits import split_genre
    from stylenet.velocity.config import config_from_dict
    from stylenet.velocity.evaluate import _notes

    config = config_from_dict(run_config)
    asap = [e for e in load_manifest(asap_dataset) if e["split"] == "train" and e["path"].startswith("asap/")]
    held = split_genre(asap, config.data, config.train.seed)[1]
    pieces = []
    for e in held:
        score, velocity, meters = load_piece_and_meters(asap_dataset, e)
        pieces.append(_notes(e["path"], genre, score, velocity, meters))
    return pieces


def score_row(row: str, run_dir: Path, epochs: int, dataset: str, asap_dataset: str | None = None) -> dict:
    from stylenet.core.fileio import atomic_write_text
    from stylenet.velocity.evaluate import evaluate, load_pieces
    from stylenet.velocity.performer import performer_from_run

    performer = performer_from_run(run_dir)
    pieces = load_pieces(dataset, "validation", performer.genres, False, performer.info["config"],
                         performer.steps_per_quarter)
    pieces = [p for p in pieces if not p.name.startswith("asap/")]  # RAW_DIR pieces: the table every row shares
    results = evaluate(performer, pieces, False)["results"]
    out = {"row": row, "epochs": epochs, "best_epoch": performer.info.get("epoch"),
           "readings": performer.reading_transpositions(), "results": results}
    if asap_dataset:
        genre = "concert" if "concert" in performer.genres else "classical"
        held = asap_validation_pieces(asap_dataset, performer.info["config"], genre)
        out["asap"] = {"genre": genre, "works": len({p.name.rsplit("/", 1)[0] for p in held}),
                       "results": evaluate(performer, held, False)["results"][genre]}
    atomic_write_text(run_dir / "validation.json", json.dumps(out, indent=1, allow_nan=True) + "\n")
    print(f"[{row}] scored: {run_dir / 'validation.json'}", flush=True)
    return out


def table(runs: Path, rows: list[str]) -> str:
    """Markdown: per genre r, r/piece, MAE, shape MAE and SD ratio of perform's default output (raw r and
    MAE beside it), one line per row done."""
    done = {}
    for row in rows:
        path = runs / row / "validation.json"
        if path.exists():
            done[row] = json.loads(path.read_text())
    if not done:
        return "(no rows done yet)"
    genres = list(next(iter(done.values()))["results"])
    head = "| row | best epoch | " + " | ".join(
        f"{g} r | {g} r/piece | {g} MAE | {g} shape MAE | {g} SD ratio | {g} raw r / MAE" for g in genres) + " |"
    lines = [head, "|---|---:|" + "---:|" * (6 * len(genres))]
    flat = {g: next(iter(done.values()))["results"][g]["flat"]["mae"] for g in genres}
    for row, scored in done.items():
        cells = []
        for g in genres:
            m, raw = scored["results"][g]["model (calibrated)"], scored["results"][g]["model (raw)"]
            cells += [f"{m['r']:.3f}", f"{m['r_piece_mean']:.3f}", f"{m['mae']:.2f}", f"{m['shape_mae']:.2f}",
                      f"{m['std_ratio']:.2f}", f"{raw['r']:.3f} / {raw['mae']:.2f}"]
        lines.append(f"| {row} | {scored['best_epoch']} | " + " | ".join(cells) + " |")
    lines.append("| flat (genre mean) | – | " + " | ".join(
        f"– | – | {flat[g]:.2f} | – | 0 | –" for g in genres) + " |")
    asap = {row: scored["asap"] for row, scored in done.items() if "asap" in scored}
    if asap:
        lines += ["", "ASAP works held out for validation (recorded concert performances, on their annotated beats):",
                  "", "| row | net | r | r/piece | MAE | SD ratio | raw r / MAE | flat MAE |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for row, a in asap.items():
            m, raw, flat_a = (a["results"][k] for k in ("model (calibrated)", "model (raw)", "flat"))
            lines.append(f"| {row} | {a['genre']} | {m['r']:.3f} | {m['r_piece_mean']:.3f} | {m['mae']:.2f} | "
                         f"{m['std_ratio']:.2f} | {raw['r']:.3f} / {raw['mae']:.2f} | {flat_a['mae']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=DEFAULT_ROWS, metavar="ROW",
                        help=f"rows to run (default: {' '.join(DEFAULT_ROWS)}; all known: {' '.join(ROWS)})")
    parser.add_argument("--runs", default="runs/ablation", help="where the rows' runs live (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="training budget of every row (default: %(default)s)")
    parser.add_argument("--dataset", default="build/dataset")
    parser.add_argument("--asap-dataset", metavar="DIR", help="also score every row on the ASAP works held out "
                        "for validation, from this dataset (built with --asap; e.g. build/dataset-concert)")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at once (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="only print the table of the rows done")
    parser.add_argument("--rescore", action="store_true", help="score the rows trained so far again, train none")
    args = parser.parse_args()
    runs = Path(args.runs).resolve()
    if args.rescore:
        for row in args.rows:
            if (runs / row / "validation.json").exists():
                score_row(row, runs / row, json.loads((runs / row / "validation.json").read_text())["epochs"],
                          args.dataset, args.asap_dataset)
    elif not args.table:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda row: run_row(row, runs, args.epochs, args.dataset, args.asap_dataset), args.rows))
    print(table(runs, args.rows))


if __name__ == "__main__":
    main()
