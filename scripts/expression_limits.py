"""What limits the expression network (docs/expression.md, "What limits the goals"): three measurements.

    python scripts/expression_limits.py sampler [--split validation] [--model NPZ] [--genre concert]
    python scripts/expression_limits.py bands   [...]
    python scripts/expression_limits.py memory  [...]

sampler  How far could a sampled performance get?  The network's expected performance (what `perform`
         writes, before the widening) plus a *real* pianist's departures from the consensus of the other
         pianists, scored against a third pianist of the same work: per-piece r and the realism detector.
         A generative model around this network can do no better than drawing departures as real as
         these.  Beside it on the same notes: the written performance, another pianist, the consensus.
         Works with three or more performances only (each pianist needs a donor and a consensus).
bands    Where velocity r is lost: the network's velocity and the consensus of the other pianists, each
         against a pianist, in bands of the note sequence (note to note, 4-16 notes, ... the whole piece).
         Works with two or more performances.
memory   How far the network reads: its output when run on windows of 512, 1,024 and 2,048 notes (each
         note from the middle of a window) against the whole piece at once, per genre.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from stylenet.core.errors import StyleNetError
from stylenet.expression.data import load_rows
from stylenet.expression.evaluate import stylenet_velocities
from stylenet.expression.metrics import as_prediction, compare, mean_table, pearson, tempo_by_beat
from stylenet.expression.network import ExpressionNet, to_units, widen, written_velocity
from stylenet.expression.notes import REGRESSED, TARGETS, _running, score_features, targets
from stylenet.expression.realism import TIMING_COLUMNS, VELOCITY_COLUMNS, detect, segment_features
from stylenet.velocity.performer import load_performer


def expected_performance(net, performer, genre, score) -> tuple[np.ndarray, np.ndarray]:
    """(expected, written): what `perform` writes before the widening, and after it."""
    expected = net(score, genre)
    expected[:, 0] = written_velocity(stylenet_velocities(performer, score, genre)[:, 0], expected[:, 0],
                                      net.velocity_weight(genre, performer), net.loosening(genre, performer),
                                      score.pitch, score.onset)
    expected[:, 1] = tempo_by_beat(score, expected[:, 1])  # one value a beat, as `perform` writes it
    written = widen(expected.copy(), net.spread(genre, performer), score.chords()[1], net.chord_spread(genre))
    return expected, written


def candidates(expected, written, humans, i) -> dict[str, list]:
    """{row: [predictions]} to score against pianist i of `humans`."""
    others = [j for j in range(len(humans)) if j != i]
    rows = {"written (shipped)": [written], "expected + a pianist's departures": [], "another pianist": [],
            "consensus of the others": [np.nanmean(np.stack([humans[j] for j in others]), axis=0)]}
    for j in others:
        consensus = np.nanmean(np.stack([humans[k] for k in others if k != j]), axis=0)
        sampled = expected.copy()
        sampled[:, :REGRESSED] += np.nan_to_num(humans[j][:, :REGRESSED] - consensus[:, :REGRESSED])
        sampled[:, 0] = np.clip(sampled[:, 0], 1, 127)
        rows["expected + a pianist's departures"].append(sampled)
        rows["another pianist"].append(humans[j])
    return rows


def sampler(args, works, net, performer) -> None:
    scores, segments = {}, {}
    for work, members in works.items():
        if len(members) < 3:
            continue
        score = members[0].score
        humans = [as_prediction(score, m.performed) for m in members]
        expected, written = expected_performance(net, performer, args.genre, score)
        for i, m in enumerate(members):
            values, mask = targets(score, m.performed)
            for name, predictions in candidates(expected, written, humans, i).items():
                scores.setdefault(name, []).append(mean_table([compare(score, m.performed, p) for p in predictions]))
                pick = predictions[i % len(predictions)]  # one per pianist for the detector, each donor in turn
                both = np.all(mask[:, :REGRESSED] > 0, axis=1) & np.all(np.isfinite(pick[:, :REGRESSED]), axis=1)
                human = segment_features(score, values, both)
                if len(human):
                    segments.setdefault(name, []).append((work, segment_features(score, pick, both), human))
    print(f"{args.genre}, {args.split}: {sum(len(m) >= 3 for m in works.values())} works with 3+ performances")
    print("| row | performances | velocity r | tempo r | onset r | duration r | detector: velocity / timing / both |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in scores.items():
        t = mean_table(rows)
        found = segments[name]
        print(f"| {name} | {len(rows)} | {t['velocity_r']:.3f} | {t['tempo_r']:.3f} | {t['onset_r']:.3f} | "
              f"{t['duration_r']:.3f} | {100 * detect(found, VELOCITY_COLUMNS):.0f} / "
              f"{100 * detect(found, TIMING_COLUMNS):.0f} / {100 * detect(found):.0f} % |")


BANDS = ((0, 4), (4, 16), (16, 64), (64, 256), (256, None))  # half-widths in notes: (finer, coarser) running means


def band(x: np.ndarray, finer: int, coarser: int | None) -> np.ndarray:
    """What varies in `x` between a running mean over +-finer and one over +-coarser notes (None: the whole)."""
    def mean(half):
        at = np.arange(len(x))
        return _running(x, np.maximum(at - half, 0), np.minimum(at + half + 1, len(x)), "mean")

    return mean(finer) - (np.full(len(x), x.mean()) if coarser is None else mean(coarser))


def bands(args, works, net) -> None:
    found = {"network": [], "consensus of the others": []}
    for work, members in works.items():
        if len(members) < 2:
            continue
        score = members[0].score
        ours = net(score, args.genre)[:, 0]
        played = []
        for m in members:
            values, mask = targets(score, m.performed)
            played.append(np.where(mask[:, 0] > 0, values[:, 0], np.nan))
        played = np.array(played)
        for i in range(len(members)):
            consensus = np.nanmean(np.delete(played, i, axis=0), axis=0)
            ok = np.isfinite(played[i]) & np.isfinite(consensus)
            pianist = played[i][ok]
            for name, predicted in (("network", ours[ok]), ("consensus of the others", consensus[ok])):
                found[name].append([(pearson(band(predicted, *b), band(pianist, *b)), np.std(band(pianist, *b)))
                                    for b in BANDS])
    print(f"{args.genre}, {args.split}: velocity r by band, mean over {len(found['network'])} performances")
    print("| | " + " | ".join(f"{lo}-{hi or 'piece'} notes" for lo, hi in BANDS) + " |")
    print("|---|" + "---|" * len(BANDS))
    for name, rows in found.items():
        mean = np.mean(rows, axis=0)
        print(f"| {name} | " + " | ".join(f"{r:.2f}" for r, _ in mean) + " |")
    print("| the pianist's SD (velocity) | " + " | ".join(f"{sd:.1f}" for _, sd in np.mean(found["network"], axis=0)) + " |")


def memory(args, rows, net) -> None:
    def windowed(features, width):
        if width is None or len(features) <= width:
            return net.raw(features)
        starts = list(range(0, len(features) - width, width // 2)) + [len(features) - width]
        out = np.zeros((len(features), len(TARGETS)))
        for s in starts:  # each note from the middle half of a window (the ends from the first and last)
            lo, hi = (0 if s == 0 else width // 4), (width if s == starts[-1] else width - width // 4)
            out[s + lo:s + hi] = net.raw(features[s:s + width])[lo:hi]
        return out

    print(f"{args.split}: the network's per-piece r (velocity / tempo / onset / duration), read on windows")
    features = {}
    for width in (None, 2048, 1024, 512):
        per: dict[str, list] = {}
        for row in rows:
            if row.genre not in net.genres:
                continue
            key = (row.genre, row.work, row.path if not row.path.startswith("asap/") else "")
            if key not in features:
                features[key] = score_features(row.score, row.genre, net.genres, net.features)
            per.setdefault(row.genre, []).append(compare(row.score, row.performed, to_units(windowed(features[key], width))))
        tables = {g: mean_table(v) for g, v in per.items()}
        print(f"{width or 'whole piece'}: " + "; ".join(
            f"{g} " + " / ".join(f"{t[m]:.3f}" for m in ("velocity_r", "tempo_r", "onset_r", "duration_r"))
            for g, t in tables.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("measure", choices=("sampler", "bands", "memory"))
    parser.add_argument("--data", default="build/expression")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--model", help="(default: the shipped expression network)")
    parser.add_argument("--genre", default="concert", help="(sampler, bands; default: %(default)s)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # a note no other pianist played: NaN, left out
    net = ExpressionNet.load(args.model)
    rows = load_rows(args.data, args.split)
    if args.measure == "memory":
        return memory(args, rows, net)
    works: dict[str, list] = {}
    for row in rows:
        if row.genre == args.genre:
            works.setdefault(row.work, []).append(row)
    if args.measure == "bands":
        return bands(args, works, net)
    return sampler(args, works, net, load_performer(None))


if __name__ == "__main__":
    try:
        main()
    except StyleNetError as exc:  # a missing or damaged split or network: one line, as the CLI says it
        sys.exit(f"expression_limits: {exc}")
