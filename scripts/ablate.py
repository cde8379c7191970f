"""The ablation table of README "Beyond the paper": each lever trained on the same budget, scored on the
validation split (the pieces each run holds out of `train`; the `test` split is never read here).

    python scripts/ablate.py                      # every row not done yet, then the table
    python scripts/ablate.py --rows shipped onset # some rows
    python scripts/ablate.py --table              # the table of the rows done so far
    python scripts/ablate.py --rescore            # score the trained rows again (after a change to perform)
    python scripts/ablate.py --runs DIR --epochs 3 --jobs 2

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
DEFAULT_ROWS = ["shipped", "all", "+onset", "+metre", "+spread", "+context", "+transpose", "+ema", "+cosine", "paper"]


def train_command(row: str, runs: Path, epochs: int) -> list[str]:
    config, sets = ROWS[row]
    budget = [f"train.epochs={epochs}", "train.patience=null", f"train.plot_every={epochs}"]
    return [sys.executable, "-m", "stylenet", "train", "--config", config, "--run-dir", str(runs / row), "-q"] + \
        [arg for s in sets + budget for arg in ("--set", s)]


def run_row(row: str, runs: Path, epochs: int, dataset: str) -> dict:
    run_dir = runs / row
    scored = run_dir / "validation.json"
    if scored.exists() and json.loads(scored.read_text()).get("epochs") == epochs:
        return json.loads(scored.read_text())
    command = train_command(row, runs, epochs)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "row.json").write_text(json.dumps({"row": row, "command": command[2:]}, indent=1))
    print(f"[{row}] python " + " ".join(command[1:]), flush=True)
    with open(run_dir / "train.log", "a") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"[{row}] training failed (exit {done.returncode}); see {run_dir / 'train.log'}")
    return score_row(row, run_dir, epochs, dataset)


def score_row(row: str, run_dir: Path, epochs: int, dataset: str) -> dict:
    from stylenet.evaluate import evaluate, load_pieces
    from stylenet.fileio import atomic_write_text
    from stylenet.inference import performer_from_run

    performer = performer_from_run(run_dir)
    pieces = load_pieces(dataset, "validation", performer.genres, False, performer.info["config"],
                         performer.steps_per_quarter)
    results = evaluate(performer, pieces, False)["results"]
    out = {"row": row, "epochs": epochs, "best_epoch": performer.info.get("epoch"), "results": results}
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
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=DEFAULT_ROWS, metavar="ROW",
                        help=f"rows to run (default: {' '.join(DEFAULT_ROWS)}; all known: {' '.join(ROWS)})")
    parser.add_argument("--runs", default="runs/ablation", help="where the rows' runs live (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="training budget of every row (default: %(default)s)")
    parser.add_argument("--dataset", default="build/dataset")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at once (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="only print the table of the rows done")
    parser.add_argument("--rescore", action="store_true", help="score the rows trained so far again, train none")
    args = parser.parse_args()
    runs = Path(args.runs).resolve()
    if args.rescore:
        for row in args.rows:
            if (runs / row / "validation.json").exists():
                score_row(row, runs / row, json.loads((runs / row / "validation.json").read_text())["epochs"],
                          args.dataset)
    elif not args.table:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda row: run_row(row, runs, args.epochs, args.dataset), args.rows))
    print(table(runs, args.rows))


if __name__ == "__main__":
    main()
