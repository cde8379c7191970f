"""`stylenet evaluate DATASET_OR_FOLDER`: how close to human dynamics, against baselines, per genre.

Everything is measured over *notes* (the onset cells of the score), in MIDI velocity units, never over
empty matrix cells.  For each genre, on the same pieces:

  model (raw)          the genre's GenreNet, contrast 1, reading the score at the model's transpositions
                       (`Performer.reading_transpositions`) and averaging, as `perform` does
  model (raw, written key only)   the same read once, in the written key (only for a model that reads
                       several transpositions): what the averaging is worth
  model (calibrated)   the same with `perform`'s default contrast (`--contrast auto`; a training run gets
                       factors calibrated on the run's validation pieces as its export does, on the run's
                       float32 weights where the export uses its float16 file; RUN/contrast.json, when training wrote it)
  model as <other>     the other GenreNets on this genre's pieces: does the genre matter?
  flat                 every note at the training mean velocity of the genre
  random               uniform velocities over the genre's training range (1st..99th percentile),
                       the paper's "randomised velocities"
  humanizer            flat +/- uniform jitter of 10, what a DAW's humanize does

Metrics: MAE, RMSE, Pearson r over all notes and its mean per piece, the share of notes within 6.4 and
12.7 (5 % and 10 % of the range), predicted/true standard deviation (below 1 = squeezed dynamics), the
Wasserstein distance between the velocity distributions, and the shape error: MAE after removing each
piece's mean from prediction and truth, so overall level and shape are reported apart.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stylenet.core.codec import onset_cells, raw_velocities_at, velocities_at
from stylenet.core.errors import StyleNetError, skip_failure
from stylenet.core.fileio import atomic_write_text
from stylenet.core.midifile import DEFAULT_STEPS_PER_QUARTER

HUMANIZE_JITTER = 10.0
SEED = 0


@dataclass
class EvalPiece:
    name: str
    genre: str
    score: np.ndarray  # [T, 176]
    truth: np.ndarray  # per note, MIDI units
    step: np.ndarray
    key: np.ndarray
    meters: np.ndarray | None = None  # the meter map, for models that read metre
    work: str = ""  # the piece played (the manifest's `piece`): performances of one work share it
    touch: np.ndarray | None = None  # a recording's touch deviations per note (touch.deviations_at), if read


def _notes(name, genre, score, velocity, meters=None, work: str = "") -> EvalPiece:
    step, key = onset_cells(score)
    return EvalPiece(name, genre, score, velocities_at(velocity, step, key).astype(np.float64), step, key, meters,
                     work or name)


def _entries(source: Path, split: str | None, genres: list[str], run_config: dict | None) -> list[dict]:
    """Manifest entries of a split.  `validation` needs the model's training config (`run_config`, as
    recorded in a run or an exported model) and picks the pieces that run held out of its `train` split,
    exactly as training did: the split to tune on."""
    from stylenet.data.read import load_manifest

    manifest = load_manifest(source)
    if split != "validation":
        return [e for e in manifest if (split is None or e["split"] == split) and e["genre"] in genres]
    if not run_config:
        raise StyleNetError("--split validation: needs a model that records its training config "
                            "(a run directory or a model exported from one)", exit_code=2)
    from stylenet.data.splits import split_genre
    from stylenet.velocity.config import config_from_dict

    config = config_from_dict(run_config)
    return [e for genre in genres for e in split_genre(
        [e for e in manifest if e["split"] == "train" and e["genre"] == genre], config.data, config.train.seed)[1]]


def load_pieces(source, split: str | None, genres: list[str], progress: bool = True,
                run_config: dict | None = None, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER
                ) -> list[EvalPiece]:
    """Pieces from a built dataset (filtered by split) or a folder of MIDI files (RAW/<genre>/...).
    `run_config`: the model's training config, for split `validation`."""
    from tqdm import tqdm

    from stylenet.core import codec, midifile
    from stylenet.data.build import find_sources
    from stylenet.data.read import load_piece_and_meters

    source = Path(source)
    pieces, skipped = [], []
    if (source / "manifest.jsonl").exists():
        entries = _entries(source, split, genres, run_config)
        if not entries:
            raise StyleNetError(f"{source}: no pieces of split {split!r} in genres {', '.join(genres)}", exit_code=2)
        for e in tqdm(entries, desc="loading", unit="piece", disable=not progress):
            with skip_failure(source / e["array"], skipped):
                score, velocity, meters = load_piece_and_meters(source, e)  # no meters: an older dataset
                pieces.append(_notes(e["path"], e["genre"], score, velocity, meters, e.get("piece", "")))
        return _loaded(pieces, skipped, source, genres)
    if not source.is_dir():
        raise StyleNetError(f"{source}: not a built dataset or a folder of MIDI files", exit_code=2)
    for src in tqdm(find_sources(source), desc="loading", unit="file", disable=not progress):
        if src.genre not in genres:
            continue
        with skip_failure(src.path, skipped):
            piece = midifile.load_midi(src.path, steps_per_quarter=steps_per_quarter)
            if piece.n_notes:
                score_matrix, velocity = codec.encode(codec.quantise(piece))
                pieces.append(_notes(src.rel, src.genre, score_matrix, velocity, piece.meter_map()))
    return _loaded(pieces, skipped, source, genres)


def _loaded(pieces: list[EvalPiece], skipped: list, source: Path, genres: list[str]) -> list[EvalPiece]:
    if skipped:
        print(f"{len(skipped)} file(s) skipped, {len(pieces)} piece(s) loaded", file=sys.stderr)
    if not pieces:
        raise StyleNetError(f"{source}: no readable pieces in genres {', '.join(genres)}", exit_code=2)
    return pieces


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """1-D earth mover's distance between two samples, in velocity units (scipy's, from the sorted samples;
    quantiles on a grid as fine as the samples cost time quadratic in the notes: minutes on a test split)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(a, b))


def note_metrics(predicted: list[np.ndarray], truth: list[np.ndarray]) -> dict:
    """Per-piece arrays of predicted and true velocities (MIDI units) -> the metric set."""
    p, t = np.concatenate(predicted), np.concatenate(truth)
    err = p - t
    per_piece_r = [_pearson(a, b) for a, b in zip(predicted, truth)]
    per_piece_r = [r for r in per_piece_r if np.isfinite(r)]
    shape = np.concatenate([(a - a.mean()) - (b - b.mean()) for a, b in zip(predicted, truth)])
    return {
        "notes": int(len(t)), "pieces": len(truth),
        "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
        "r": _pearson(p, t), "r_piece_mean": float(np.mean(per_piece_r)) if per_piece_r else float("nan"),
        "within_6.4": float(np.mean(np.abs(err) <= 6.4)), "within_12.7": float(np.mean(np.abs(err) <= 12.7)),
        "std_ratio": float(p.std() / t.std()) if t.std() > 0 else float("nan"),
        "wasserstein": wasserstein(p, t), "shape_mae": float(np.mean(np.abs(shape))),
    }


def evaluate(performer, pieces: list[EvalPiece], progress: bool = True, touch_calibration: dict | None = None) -> dict:
    """Every prediction and baseline scored per genre (`note_metrics`).  A piece with `touch` deviations, in a
    genre `touch_calibration` (a touch network's) covers, is performed as `perform` does a recording: the
    calibrated rows read its timing too, and "model (score only)" is the same without it."""
    from tqdm import tqdm

    from stylenet.velocity.shaping import DEFAULT_LEVEL, Shaping, shaped_velocities

    other_level = "genre" if DEFAULT_LEVEL == "model" else "model"  # scored beside the default, for comparison
    calibrations = (("model (calibrated)", DEFAULT_LEVEL), (f"model (calibrated, level {other_level})", other_level))

    rng = np.random.default_rng(SEED)
    # a model that reads each score at several transpositions is also scored in the written key alone
    written_key = replace(performer, transpositions=[0]) if performer.reading_transpositions() != [0] else None
    genres = [g for g in performer.genres if any(p.genre == g for p in pieces)]
    predictions: dict[str, dict[str, list]] = {g: {} for g in genres}
    truth: dict[str, list] = {g: [] for g in genres}
    total = sum(1 for p in pieces if p.genre in genres)
    seconds: dict[str, float] = {g: 0.0 for g in genres}  # each genre's time, logged when it is done (-q too)
    left = {g: sum(1 for p in pieces if p.genre == g) for g in genres}
    with tqdm(total=total * len(performer.genres), desc="evaluating", unit="pass", disable=not progress) as bar:
        for piece in pieces:
            if piece.genre not in genres:
                continue
            g = piece.genre
            started = time.perf_counter()
            truth[g].append(piece.truth)
            readings = performer.readings(piece.score, performer.genres, piece.meters)  # one interpretation
            for net in performer.genres:
                velocity, in_written_key = readings[net]
                raw = raw_velocities_at(velocity, piece.step, piece.key)
                if net == g:
                    predictions[g].setdefault("model (raw)", []).append(np.clip(raw, 1, 127))
                    if written_key is not None:
                        once = in_written_key if in_written_key is not None else \
                            written_key.velocities(piece.score, net, piece.meters)
                        predictions[g].setdefault("model (raw, written key only)", []).append(
                            np.clip(raw_velocities_at(once, piece.step, piece.key), 1, 127))
                    stats, touch = performer.stats.get(g), None
                    if g in (touch_calibration or {}):  # every piece, so the row lines up with the truth
                        alone = shaped_velocities(raw, piece.truth, Shaping(), stats)
                        predictions[g].setdefault("model (score only)", []).append(np.clip(alone, 1, 127))
                        if piece.touch is not None:
                            touch = (piece.touch, touch_calibration[g])
                    for name, level in calibrations:  # as `perform` plays it (play/step.py)
                        calibrated = shaped_velocities(raw, piece.truth, Shaping(level=level), stats, touch)
                        predictions[g].setdefault(name, []).append(np.clip(calibrated, 1, 127))
                else:
                    predictions[g].setdefault(f"model as {net}", []).append(np.clip(raw, 1, 127))
                bar.update()
            stats = performer.stats.get(g, {})
            flat = stats.get("mean", 64.0)
            low, high = stats.get("low", 1.0), stats.get("high", 127.0)
            n = len(piece.truth)
            predictions[g].setdefault("flat", []).append(np.full(n, np.rint(flat)))
            predictions[g].setdefault("random", []).append(np.rint(rng.uniform(low, high, n)))
            predictions[g].setdefault("humanizer", []).append(
                np.clip(np.rint(flat + rng.uniform(-HUMANIZE_JITTER, HUMANIZE_JITTER, n)), 1, 127))
            seconds[g] += time.perf_counter() - started
            left[g] -= 1
            if left[g] == 0:
                count = len(truth[g])
                bar.write(f"evaluated {g}: {count} pieces in {seconds[g]:.1f} s ({seconds[g] / count:.2f} s a piece)",
                          file=sys.stderr)
    def order(name):  # the model first, then the other genres' nets, then the baselines
        return (0 if name.startswith("model (") else 1 if name.startswith("model as") else 2, name)

    results = {g: {name: note_metrics(predictions[g][name], truth[g]) for name in sorted(predictions[g], key=order)}
               for g in genres}
    return {"results": results, "predictions": predictions, "truth": truth,
            "names": {g: [p.name for p in pieces if p.genre == g] for g in genres}}


def calibrate_contrast(performer, pieces: list[EvalPiece], progress: bool = True) -> dict[str, float]:
    """`perform --contrast auto`'s factor for each genre of `pieces` (`shaping.contrast_factor`), from the
    genre's own net on them.  Run on the validation split: the factor is chosen there, never on test."""
    from tqdm import tqdm

    from stylenet.velocity.shaping import contrast_factor

    raw: dict[str, list] = {}
    truth: dict[str, list] = {}
    for piece in tqdm(pieces, desc="calibrating contrast", unit="piece", disable=not progress):
        if piece.genre in performer.genres:
            velocity = performer.velocities(piece.score, piece.genre, piece.meters)
            raw.setdefault(piece.genre, []).append(raw_velocities_at(velocity, piece.step, piece.key))
            truth.setdefault(piece.genre, []).append(piece.truth)
    return {g: contrast_factor(raw[g], truth[g]) for g in raw}


def multi_reference(pieces: list[EvalPiece], evaluation: dict, prediction: str = "model (calibrated)") -> dict:
    """For works with several performances: how much pianists agree with each other, beside how much the
    model agrees with them (the ceiling the model is measured against).

    Two performances of a work are compared on the notes both play: the same key struck on the same grid
    step (pieces read on their annotated beats share a grid).  For each ordered pair (A, B): human vs human
    is A's velocities against B's; "model vs same" is the model's prediction for A against A, "model vs
    other" against B, on those notes.  Per genre: the mean over works of each work's mean over pairs of
    per-pair r and MAE, and the share of notes matched.
    """
    out = {}
    for genre, names in evaluation["names"].items():
        by_name = {p.name: p for p in pieces if p.genre == genre}
        predicted = dict(zip(names, evaluation["predictions"][genre][prediction]))
        works: dict[str, list[str]] = {}
        for name in names:
            works.setdefault(by_name[name].work, []).append(name)
        rows = []
        for work, takes in works.items():
            pairs = []
            for a in takes:
                for b in takes:
                    if a == b:
                        continue
                    pa, pb = by_name[a], by_name[b]
                    cells_b = {(s, k): i for i, (s, k) in enumerate(zip(pb.step.tolist(), pb.key.tolist()))}
                    ia = [i for i, cell in enumerate(zip(pa.step.tolist(), pa.key.tolist())) if cell in cells_b]
                    if len(ia) < 10:
                        continue
                    ib = [cells_b[(int(pa.step[i]), int(pa.key[i]))] for i in ia]
                    human_a, human_b, model_a = pa.truth[ia], pb.truth[ib], predicted[a][ia]
                    pairs.append({"matched": len(ia) / len(pa.truth),
                                  "human_r": _pearson(human_a, human_b), "human_mae": float(np.abs(human_a - human_b).mean()),
                                  "same_r": _pearson(model_a, human_a), "same_mae": float(np.abs(model_a - human_a).mean()),
                                  "other_r": _pearson(model_a, human_b), "other_mae": float(np.abs(model_a - human_b).mean())})
            if pairs:
                rows.append({"work": work, "performances": len(takes), "pairs": len(pairs),
                             **{k: float(np.nanmean([p[k] for p in pairs])) for k in pairs[0]}})
        if rows:
            out[genre] = {"works": len(rows), "performances": sum(r["performances"] for r in rows),
                          **{k: float(np.nanmean([r[k] for r in rows])) for k in
                             ("matched", "human_r", "human_mae", "same_r", "same_mae", "other_r", "other_mae")},
                          "per_work": rows}
    return out


def multi_reference_table(agreement: dict) -> str:
    lines = ["| genre | works | performances | notes matched | human vs human r/piece, MAE | "
             "model vs same performance | model vs the other performances |", "|---|---:|---:|---:|---:|---:|---:|"]
    for genre, a in agreement.items():
        lines.append(f"| {genre} | {a['works']} | {a['performances']} | {a['matched']:.0%} | "
                     f"{a['human_r']:.3f}, {a['human_mae']:.1f} | {a['same_r']:.3f}, {a['same_mae']:.1f} | "
                     f"{a['other_r']:.3f}, {a['other_mae']:.1f} |")
    return "\n".join(lines) + "\n"


COLUMNS = [("mae", "MAE", "{:.1f}"), ("rmse", "RMSE", "{:.1f}"), ("r", "r", "{:.3f}"),
           ("r_piece_mean", "r/piece", "{:.3f}"), ("within_6.4", "±6.4", "{:.0%}"), ("within_12.7", "±12.7", "{:.0%}"),
           ("std_ratio", "σ ratio", "{:.2f}"), ("wasserstein", "W1", "{:.1f}"), ("shape_mae", "shape MAE", "{:.1f}")]


def markdown_table(results: dict) -> str:
    lines = []
    for genre, rows in results.items():
        any_row = next(iter(rows.values()))
        lines.append(f"\n**{genre}** ({any_row['pieces']} pieces, {any_row['notes']:,} notes)\n")
        lines.append("| prediction | " + " | ".join(c[1] for c in COLUMNS) + " |")
        lines.append("|---|" + "---:|" * len(COLUMNS))
        for name, m in rows.items():
            cells = [fmt.format(m[key]) if np.isfinite(m[key]) else "–" for key, _, fmt in COLUMNS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines).strip() + "\n"


def write_report(out_dir, evaluation: dict, meta: dict) -> dict[str, Path]:
    from stylenet.velocity.plots import eval_scatter, eval_timelines

    out_dir = Path(out_dir)
    results = evaluation["results"]
    paths = {"json": out_dir / "evaluation.json", "markdown": out_dir / "evaluation.md"}
    agreement = evaluation.get("agreement") or {}
    atomic_write_text(paths["json"], json.dumps({"meta": meta, "results": results, "agreement": agreement},
                                                indent=1, allow_nan=True) + "\n")
    markdown = markdown_table(results)
    if agreement:
        markdown += "\nWorks with several performances (notes matched by key and grid step):\n\n" + \
            multi_reference_table(agreement)
    atomic_write_text(paths["markdown"], markdown)
    for genre in results:
        truth = np.concatenate(evaluation["truth"][genre])
        predicted = np.concatenate(evaluation["predictions"][genre]["model (calibrated)"])
        raw = np.concatenate(evaluation["predictions"][genre]["model (raw)"])
        paths[f"scatter_{genre}"] = eval_scatter(truth, {"raw": raw, "calibrated": predicted},
                                                 out_dir / f"scatter_{genre}.png", genre)
        paths[f"timeline_{genre}"] = eval_timelines(
            evaluation["names"][genre][:3], evaluation["truth"][genre][:3],
            evaluation["predictions"][genre]["model (calibrated)"][:3],
            evaluation["predictions"][genre]["flat"][:3], out_dir / f"timeline_{genre}.png", genre)
    return paths


@dataclass(frozen=True)
class EvaluateOptions:
    """What `stylenet evaluate` is asked to do (cli/velocity.py reads it off the command line)."""

    source: str  # a built dataset, or a folder of MIDI files in genre sub-folders
    model: str | tuple[str, ...] | None = None  # a training run directory or a model file, or several (their
    # ensemble, `Performer.ensemble`); None: the shipped model
    split: str = "test"  # a dataset split, "validation" (what the model's run held out) or "all"
    genres: tuple[str, ...] = ()  # () = every genre of the model
    out: str | None = None  # the report's folder; None: build/evaluation
    progress: bool = True


@dataclass
class EvaluateReport:
    results: dict  # genre -> prediction -> metric -> value
    agreement: dict  # genre -> pianists' and the model's agreement on works with several performances
    paths: dict[str, Path]  # what write_report wrote
    out: Path


def run_validation(performer, progress: bool = True) -> list[EvalPiece]:
    """The pieces a model's training run held out for validation, from the run's own dataset (none when it
    held none out or the dataset is gone)."""
    config = performer.info.get("config") or {}
    dataset = Path(config.get("data", {}).get("dataset", ""))
    if config.get("data", {}).get("validation_fraction", 0) <= 0 or not (dataset / "manifest.jsonl").exists() \
            or not _entries(dataset, "validation", performer.genres, config):
        return []
    return load_pieces(dataset, "validation", performer.genres, progress, config, performer.steps_per_quarter)


def _calibrate(performer, progress: bool) -> None:
    """Give a training run (or an ensemble of runs) the `--contrast auto` factors its export would ship,
    calibrated on its validation pieces, in memory: a run records its own as its training ends
    (train.calibrate_run); measuring never writes into what it measures."""
    if any("contrast" in st for st in performer.stats.values()):
        return  # the run's own, for these weights
    for genre, factor in calibrate_contrast(performer, run_validation(performer, progress), progress).items():
        performer.stats.setdefault(genre, {})["contrast"] = factor


def run(options: EvaluateOptions) -> EvaluateReport:
    import datetime

    from stylenet.velocity.performer import load_performer

    performer = load_performer(options.model)
    genres = [performer.genre_named(g) for g in options.genres] or performer.genres
    models = [options.model] if isinstance(options.model, str) else list(options.model or ())
    if len(models) > 1 or (models and Path(models[0]).is_dir()):
        _calibrate(performer, options.progress)
    pieces = load_pieces(options.source, None if options.split == "all" else options.split, genres, options.progress,
                         performer.info.get("config"), performer.steps_per_quarter)
    evaluation = evaluate(performer, pieces, options.progress)
    evaluation["agreement"] = multi_reference(pieces, evaluation)
    meta = {"source": str(options.source), "split": options.split, "model": " + ".join(models) or "shipped",
            "model_info": {k: v for k, v in performer.info.items() if k != "config"},
            "contrast": {g: st["contrast"] for g, st in performer.stats.items() if "contrast" in st},
            "date": datetime.date.today().isoformat()}
    out = Path(options.out or Path("build") / "evaluation")
    return EvaluateReport(evaluation["results"], evaluation["agreement"], write_report(out, evaluation, meta), out)
