"""`stylenet evaluate-expression`: performances of scores against every pianist who played them.

For each held-out performance (`build-expression`'s validation or test split) the score is performed by
each candidate and compared with the pianist, note for note (`metrics.compare`):

    model            the expression network (`--model`)
    stylenet         StyleNet's velocities as `perform` shapes them by default (velocity only)
    score as is      the score's own velocities, its tempo, its notes on their ticks, no pedal
    humanizer        a DAW's "humanize": every note moved by up to +-10 ticks (480 a quarter), its length by
                     up to +-10 ticks, its velocity by up to +-10, uniformly at random (seeded)
    human            (works with several performances) each other pianist of the same work, averaged
    consensus        the mean of the other pianists: per note, and per beat for the tempo curve

The rows are means over performances, per genre.  Choose on `validation`; read `test` once.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from stylenet.expression.metrics import MEASURES, as_prediction, compare, curve_at, mean_table, tempo_by_beat
from stylenet.expression.network import VARIED, variation, widen, written_velocity
from stylenet.expression.notes import TARGETS, ScoreNotes, targets
from stylenet.expression.realism import TIMING_COLUMNS, VELOCITY_COLUMNS, detect, segment_features

HUMANIZE_TICKS = 10 / 480  # quarter notes
HUMANIZE_VELOCITY = 10


def score_as_is(score: ScoreNotes) -> np.ndarray:
    out = np.zeros((score.n_notes, len(TARGETS)))
    out[:, 0] = score.velocity
    return out


def humanizer(score: ScoreNotes, rng) -> np.ndarray:
    out = score_as_is(score)
    out[:, 0] = np.clip(score.velocity + rng.uniform(-HUMANIZE_VELOCITY, HUMANIZE_VELOCITY, score.n_notes), 1, 127)
    spq = score.seconds_per_quarter(score.onset)
    shift = rng.uniform(-HUMANIZE_TICKS, HUMANIZE_TICKS, score.n_notes)
    out[:, 2] = shift * spq
    written = np.maximum(score.offset - score.onset, 1e-3)
    held = np.maximum(written - shift + rng.uniform(-HUMANIZE_TICKS, HUMANIZE_TICKS, score.n_notes), HUMANIZE_TICKS)
    out[:, 3] = np.log2(held / written)
    return out


def stylenet_velocities(performer, score: ScoreNotes, genre: str) -> np.ndarray:
    """StyleNet's velocity for each note of `score`, shaped as `perform` does by default."""
    from stylenet.core import codec, midifile
    from stylenet.velocity.shaping import Shaping, shape

    steps = performer.steps_per_quarter
    onset = np.rint(score.onset * steps).astype(np.int64)
    offset = np.maximum(np.rint(score.offset * steps).astype(np.int64), onset + 1)
    notes = codec.make_score(score.pitch, onset, offset, score.velocity, steps)
    matrix, _ = codec.encode(notes)
    meters = np.array([(int(round(q * steps)), int(n), int(d)) for q, n, d in score.meters], np.int64).reshape(-1, 3)
    predicted = performer.velocities(matrix, genre, meters)
    raw = codec.raw_velocities_at(predicted, np.minimum(onset, len(predicted) - 1), score.pitch - midifile.LOWEST_KEY)
    out = np.zeros((score.n_notes, len(TARGETS)))
    out[:, 0] = shape(raw, score.velocity.astype(np.float64), Shaping(), performer.stats.get(genre))
    out[:, 1:] = np.nan
    return out


def evaluate(rows, net, performer=None, genres=None, seed: int = 0, progress: bool = True, plots: Path | None = None,
             realism: bool = False, variation_amount: float = 0.0):
    """{genre: {row name: {measure: mean, "performances": n}}}; with `realism`, also {genre: {"realism":
    {row name: {"velocity", "timing", "all": detector accuracy}}}} (realism.py)."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    genres = genres or sorted({r.genre for r in rows})
    rows = [r for r in rows if r.genre in genres]
    works: dict[tuple, list] = {}
    for r in rows:
        works.setdefault((r.genre, r.work if r.path.startswith("asap/") else r.path), []).append(r)
    results: dict[str, dict[str, list]] = {}
    segments: dict[str, dict[str, list]] = {}
    for (genre, work), members in tqdm(works.items(), desc="evaluate-expression", unit="work", disable=not progress):
        score = members[0].score
        candidates = {"score as is": score_as_is(score), "humanizer": humanizer(score, rng)}
        if net is not None and genre in net.genres:
            candidates["model"] = net(score, genre)
        if performer is not None and genre in performer.genres:
            candidates["stylenet"] = stylenet_velocities(performer, score, genre)
            if "model" in candidates:  # what `perform` writes: the calibrated blend of the two velocities ...
                written = candidates["model"].copy()
                written[:, 0] = written_velocity(candidates["stylenet"][:, 0], written[:, 0],
                                                 net.velocity_weight(genre, performer),
                                                 net.loosening(genre, performer), score.pitch, score.onset)
                # ... as wide as the pianists', the variation around it, then the tempo as the beats carry it
                written = widen(written, net.spread(genre, performer), score.chords()[1], net.chord_spread(genre))
                written[:, :VARIED] += variation(score, net.residuals(genre), rng, variation_amount)
                written[:, 0] = np.clip(written[:, 0], 1, 127)
                written[:, 1] = tempo_by_beat(score, written[:, 1])
                candidates["written"] = written
        humans = [as_prediction(score, m.performed) for m in members]
        table = results.setdefault(genre, {})
        for k, m in enumerate(members):
            for name, predicted in candidates.items():
                table.setdefault(name, []).append(compare(score, m.performed, predicted))
            if realism:
                human_values, mask = targets(score, m.performed)
                usable = np.all(mask[:, :4] > 0, axis=1)
                human_rows = segment_features(score, human_values, usable)
                for name in ("written" if "written" in candidates else "model", "humanizer"):
                    if name in candidates and len(human_rows):
                        segments.setdefault(genre, {}).setdefault(name, []).append(
                            (work, segment_features(score, np.nan_to_num(candidates[name]), usable), human_rows))
            others = [j for j in range(len(members)) if j != k]
            if not others:
                continue
            bq = m.performed.beat_quarters
            curves = [curve_at(score, members[j].performed, bq) for j in others]
            singles = [compare(score, m.performed, humans[j], curves[i]) for i, j in enumerate(others)]
            table.setdefault("human", []).append(mean_table(singles))
            with warnings.catch_warnings():  # a note no other pianist played: NaN, said nothing about
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(np.stack([humans[j] for j in others]), axis=0)
            table.setdefault("consensus", []).append(compare(score, m.performed, mean, np.mean(curves, axis=0)))
        if plots is not None and "model" in candidates:
            plot_work(plots, genre, work, score, members, candidates["model"])
    summary = {g: {name: mean_table(v) | {"performances": len(v)} for name, v in t.items()} for g, t in results.items()}
    for genre, by_name in segments.items():
        summary[genre]["realism"] = {name: {"velocity": detect(pairs, VELOCITY_COLUMNS),
                                            "timing": detect(pairs, TIMING_COLUMNS), "all": detect(pairs),
                                            "segments": int(sum(len(h) for _, _, h in pairs))}
                                     for name, pairs in by_name.items()}
    return summary


def plot_work(folder: Path, genre: str, work: str, score: ScoreNotes, members, predicted) -> Path:
    """A PNG: the tempo curves of the model and of each pianist, per beat, and the velocities per note."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stylenet.core.fileio import atomic_path
    from stylenet.expression.metrics import beat_curve
    from stylenet.expression.notes import beat_tempo

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{genre}-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in work)[-80:] + ".png")
    bq = members[0].performed.beat_quarters
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=False)
    for m in members:
        top.plot(bq[:-1], beat_tempo(score, m.performed.beat_quarters, m.performed.beat_seconds)[:len(bq) - 1],
                 color="0.6", lw=0.7)
    top.plot(bq[:-1], beat_curve(score, predicted[:, 1], bq), color="C3", lw=1.5, label="model")
    top.set_ylabel("log2 beat length vs score")
    top.set_title(f"{genre}: {work} ({len(members)} performances in grey)")
    top.legend(loc="upper right")
    for m in members:
        bottom.plot(score.onset, m.performed.velocity, ".", color="0.6", ms=1.5)
    bottom.plot(score.onset, predicted[:, 0], ".", color="C3", ms=2, label="model")
    bottom.set_xlabel("score position (quarter notes)")
    bottom.set_ylabel("velocity")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


ORDER = ("written", "model", "stylenet", "score as is", "humanizer", "human", "consensus")


def markdown(summary: dict) -> str:
    lines = []
    for genre, table in summary.items():
        lines.append(f"\n{genre}\n")
        table = {k: v for k, v in table.items()}
        lines.append("| row | performances | " + " | ".join(MEASURES) + " |")
        lines.append("|---|---|" + "---|" * len(MEASURES))
        for name in ORDER:
            if name in table:
                row = table[name]
                lines.append(f"| {name} | {row['performances']} | " +
                             " | ".join("—" if not np.isfinite(row[m]) else f"{row[m]:.3f}" for m in MEASURES) + " |")
        for name, accuracy in table.get("realism", {}).items():
            lines.append(f"\nrealism detector on {name} ({accuracy['segments']} segments a side): velocity "
                         f"{100 * accuracy['velocity']:.0f} %, timing {100 * accuracy['timing']:.0f} %, "
                         f"both {100 * accuracy['all']:.0f} % (50 % = cannot tell)")
    return "\n".join(lines)


def main(args) -> int:
    from stylenet.expression.data import load_rows
    from stylenet.expression.network import ExpressionNet
    from stylenet.velocity.performer import load_performer

    if args.realism:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            from stylenet.core.errors import StyleNetError

            raise StyleNetError("--realism needs scikit-learn: pip install 'stylenet[research]'", exit_code=2) from None
    rows = load_rows(args.data, args.split)
    net = ExpressionNet.load(args.model)
    performer = None if args.stylenet == "none" else load_performer(args.stylenet)
    summary = evaluate(rows, net, performer, args.genres, progress=not args.quiet,
                       plots=Path(args.plots) if args.plots else None, realism=args.realism,
                       variation_amount=args.variation)
    print(f"{args.split} split of {args.data}, expression network {args.model or 'shipped'}")
    print(markdown(summary))
    if args.json:
        from stylenet.core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(summary, indent=1))
    return 0
