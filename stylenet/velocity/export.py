"""The shipped model's recipe: turn a training run into `stylenet/pretrained/` (`make pretrained`).

Writes stylenet.npz (float16 weights, the training data's velocity statistics, and each genre's `--contrast
auto` factor, calibrated on the run's validation pieces), card.json (data and
licences, config, epochs, date, and `evaluate`'s numbers on the dataset's `test` split, measured on exactly
what ships) and evaluation.md (those numbers as a table).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from stylenet.core.fileio import atomic_write_text
from stylenet.data.read import load_manifest
from stylenet.velocity.evaluate import calibrate_contrast, evaluate, load_pieces, markdown_table, run_validation
from stylenet.velocity.performer import SHIPPED, Performer, performer_from_run
from stylenet.velocity.shaping import AUTO_SPREAD

SOURCES = {
    "classical": "RAW_DIR/classical: piano-midi.de (Bernd Krueger), sequenced by hand",
    "jazz": "RAW_DIR/jazz: Doug McKenzie's jazz piano recordings",
    "pop": "RAW_DIR/pop: POP909",
    "concert": "ASAP: recorded concert performances, re-timed onto their annotated beats",
}


LICENCES = {
    "classical": "piano-midi.de (Bernd Krueger): the site's own terms, reported as CC BY-SA 3.0 DE; "
                 "credit Bernd Krueger; study and research use",
    "jazz": "Doug McKenzie's jazz piano recordings: no licence stated; research use only, not redistributed",
    "pop": "POP909 (Music X Lab): MIT",
    "concert": "ASAP (Foscarin et al., ISMIR 2020; performances from the MAESTRO / Yamaha e-Competition "
               "recordings): CC BY-NC-SA 4.0; the weights derived from it are non-commercial, share alike",
}


def model_name(genres) -> str:
    return f"StyleNet (Malik & Ek 2017), {' / '.join(genres)}"


@dataclass
class Export:
    model: Path
    card: Path
    table: Path
    markdown: str  # evaluate's table on the test split


def export_pretrained(run_dir, dataset="build/dataset", out=SHIPPED.parent, progress: bool = True) -> Export:
    """`run_dir`: a training run, or a list of runs to ship as one ensemble (their predictions averaged)."""
    run_dirs = [run_dir] if isinstance(run_dir, (str, Path)) else list(run_dir)
    runs = [performer_from_run(r) for r in run_dirs]
    performer = runs[0] if len(runs) == 1 else Performer.ensemble(runs)
    for st in performer.stats.values():  # the factors the run recorded: calibrated afresh below, as shipped
        st.pop("contrast", None)
    out = Path(out)
    model_path = performer.save(out / "stylenet.npz")
    shipped = Performer.load(model_path)  # calibrate and evaluate exactly what ships (float16 weights)
    # a genre with no validation pieces (a run that held out none) keeps the per-piece `auto` of older files
    validation = run_validation(performer, progress)
    contrast = calibrate_contrast(shipped, validation, progress)
    shipped.stats = {g: {**shipped.stats.get(g, {}), "contrast": contrast[g]} if g in contrast
                     else shipped.stats.get(g, {}) for g in shipped.genres}
    shipped = Performer.load(shipped.save(model_path))
    pieces = load_pieces(dataset, "test", shipped.genres, progress)
    evaluation = evaluate(shipped, pieces, progress)
    manifest = load_manifest(dataset)
    train_pieces = {g: sum(1 for e in manifest if e["genre"] == g and e["split"] == "train") for g in shipped.genres}

    def history_rows(run: Path):
        return sum(1 for _ in open(run / "history.csv")) - 1 if (run / "history.csv").exists() else None

    card = {
        "name": model_name(shipped.genres),
        "date": datetime.date.today().isoformat(),
        "data": {"split": "train",
                 "sources": {g: SOURCES.get(g, "unknown") for g in shipped.genres},
                 "licences": {g: LICENCES.get(g, "unknown") for g in shipped.genres},
                 "train_pieces_before_validation_holdout": train_pieces,
                 "velocity_stats": shipped.stats,
                 "contrast": {"factors": contrast, "target_spread": AUTO_SPREAD, "chosen_on": "validation",
                              "validation_pieces": {g: sum(1 for p in validation if p.genre == g)
                                                    for g in shipped.genres}}},
        "training": [{"run": str(r), "epochs": p.info.get("epoch"), "weights": p.info.get("weights"),
                      "config": p.info.get("config"), "history_rows": history_rows(Path(r))}
                     for r, p in zip(run_dirs, runs)],
        "reading": {"transpositions": shipped.reading_transpositions(),
                    "what": "each score is read at these transpositions (semitones) and the predictions averaged"},
        "evaluation": {"split": "test", "results": evaluation["results"]},
        "file": {"name": model_path.name, "bytes": model_path.stat().st_size, "weights_dtype": "float16"},
    }
    atomic_write_text(out / "card.json", json.dumps(card, indent=1) + "\n")
    table = markdown_table(evaluation["results"])
    atomic_write_text(out / "evaluation.md", table)
    return Export(model_path, out / "card.json", out / "evaluation.md", table)
