"""Turn a training run into the model shipped inside the package, with its card.

    python scripts/export_pretrained.py runs/pretrained [--dataset build/dataset] [--out stylenet/pretrained]

Writes stylenet.npz (float16 weights + the training data's velocity statistics) and card.json (data,
config, epochs, date, and the evaluate numbers on the dataset's `test` split), and evaluation.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylenet.dataset import load_manifest  # noqa: E402
from stylenet.evaluate import evaluate, load_pieces, markdown_table  # noqa: E402
from stylenet.fileio import atomic_write_text  # noqa: E402
from stylenet.inference import Performer, performer_from_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--dataset", default="build/dataset")
    parser.add_argument("--out", default=str(ROOT / "stylenet" / "pretrained"))
    args = parser.parse_args()

    performer = performer_from_run(args.run_dir)
    out = Path(args.out)
    model_path = performer.save(out / "stylenet.npz")
    shipped = Performer.load(model_path)  # evaluate exactly what ships (float16 weights)
    pieces = load_pieces(args.dataset, "test", shipped.genres)
    evaluation = evaluate(shipped, pieces)
    manifest = load_manifest(args.dataset)
    train_pieces = {g: sum(1 for e in manifest if e["genre"] == g and e["split"] == "train") for g in shipped.genres}
    history_csv = Path(args.run_dir) / "history.csv"
    card = {
        "name": "StyleNet (Malik & Ek 2017), classical / jazz / pop",
        "date": datetime.date.today().isoformat(),
        "data": {"source": "../shared/data (piano-midi.de, Doug McKenzie jazz recordings, POP909), split 'train'",
                 "licences": {
                     "classical": "piano-midi.de (Bernd Krueger): the site's own terms, reported as CC BY-SA 3.0 DE; "
                                  "credit Bernd Krueger; study and research use",
                     "jazz": "Doug McKenzie's jazz piano recordings: no licence stated; research use only, "
                             "not redistributed",
                     "pop": "POP909 (Music X Lab): MIT"},
                 "train_pieces_before_validation_holdout": train_pieces,
                 "velocity_stats": shipped.stats},
        "training": {"epochs": shipped.info.get("epoch"), "weights": shipped.info.get("weights"),
                     "config": performer.info.get("config"),
                     "history_rows": sum(1 for _ in open(history_csv)) - 1 if history_csv.exists() else None},
        "evaluation": {"split": "test", "results": evaluation["results"]},
        "file": {"name": model_path.name, "bytes": model_path.stat().st_size, "weights_dtype": "float16"},
    }
    atomic_write_text(out / "card.json", json.dumps(card, indent=1) + "\n")
    table = markdown_table(evaluation["results"])
    atomic_write_text(out / "evaluation.md", table)
    print(table)
    print(f"wrote {model_path} ({model_path.stat().st_size / 1e6:.1f} MB), {out / 'card.json'}")


if __name__ == "__main__":
    main()
