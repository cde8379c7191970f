"""How far could a sampled performance get?  The shipped network's expected performance (what `perform`
writes, before the widening) plus a *real* pianist's departures from the consensus of the other pianists,
scored against a third pianist of the same work: per-piece r and the realism detector.  A generative model
around this network can do no better than drawing departures as real as these (docs/expression.md,
"Realism").  Beside it on the same notes: the written performance, another pianist, the consensus.

    python scripts/sampler_bound.py [--data build/expression] [--split validation] [--model NPZ]

Works of the genre with three or more performances only (each pianist needs a donor and a consensus).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from stylenet.expression.data import load_rows
from stylenet.expression.evaluate import stylenet_velocities
from stylenet.expression.metrics import as_prediction, beat_curve, compare, mean_table
from stylenet.expression.network import ExpressionNet, widen, written_velocity
from stylenet.expression.notes import targets
from stylenet.expression.realism import TIMING_COLUMNS, VELOCITY_COLUMNS, detect, segment_features
from stylenet.velocity.performer import load_performer

REGRESSED = 4  # velocity, tempo, onset, duration


def candidates(net, performer, genre, score, humans, i):
    """{row: [predictions]} scored against pianist i of `humans`."""
    expected = net(score, genre)
    expected[:, 0] = written_velocity(stylenet_velocities(performer, score, genre)[:, 0], expected[:, 0],
                                      net.velocity_weight(genre, performer), net.loosening(genre, performer),
                                      score.pitch, score.onset)
    beats, _ = score.beats()  # the tempo as the beats carry it, one value a beat (as `perform` writes it)
    expected[:, 1] = beat_curve(score, expected[:, 1], beats)[
        np.clip(np.searchsorted(beats, score.onset, side="right") - 1, 0, len(beats) - 2)]
    others = [j for j in range(len(humans)) if j != i]
    rows = {"written (shipped)": [widen(expected.copy(), net.spread(genre, performer), score.chords()[1],
                                        net.chord_spread(genre))],
            "expected + a pianist's departures": [], "another pianist": [],
            "consensus of the others": [np.nanmean(np.stack([humans[j] for j in others]), axis=0)]}
    for j in others:
        consensus = np.nanmean(np.stack([humans[k] for k in others if k != j]), axis=0)
        sampled = expected.copy()
        sampled[:, :REGRESSED] += np.nan_to_num(humans[j][:, :REGRESSED] - consensus[:, :REGRESSED])
        sampled[:, 0] = np.clip(sampled[:, 0], 1, 127)
        rows["expected + a pianist's departures"].append(sampled)
        rows["another pianist"].append(humans[j])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="build/expression")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--model", help="(default: the shipped expression network)")
    parser.add_argument("--genre", default="concert")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # a note no other pianist played: NaN, left out
    net, performer = ExpressionNet.load(args.model), load_performer(None)
    works: dict[str, list] = {}
    for row in load_rows(args.data, args.split):
        if row.genre == args.genre:
            works.setdefault(row.work, []).append(row)
    scores, segments = {}, {}
    for work, members in works.items():
        if len(members) < 3:
            continue
        score = members[0].score
        humans = [as_prediction(score, m.performed) for m in members]
        for i, m in enumerate(members):
            values, mask = targets(score, m.performed)
            for name, predictions in candidates(net, performer, args.genre, score, humans, i).items():
                scores.setdefault(name, []).append(mean_table([compare(score, m.performed, p) for p in predictions]))
                pick = predictions[i % len(predictions)]  # one per pianist for the detector, each donor in turn
                both = np.all(mask[:, :REGRESSED] > 0, axis=1) & np.all(np.isfinite(pick[:, :REGRESSED]), axis=1)
                human = segment_features(score, values, both)
                if len(human):
                    segments.setdefault(name, []).append((work, segment_features(score, pick, both), human))
    print(f"{args.genre}, {args.split}: {len({w for w, m in works.items() if len(m) >= 3})} works with 3+ performances")
    print("| row | performances | velocity r | tempo r | onset r | duration r | detector: velocity / timing / both |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in scores.items():
        t = mean_table(rows)
        found = segments[name]
        print(f"| {name} | {len(rows)} | {t['velocity_r']:.3f} | {t['tempo_r']:.3f} | {t['onset_r']:.3f} | "
              f"{t['duration_r']:.3f} | {100 * detect(found, VELOCITY_COLUMNS):.0f} / {100 * detect(found, TIMING_COLUMNS):.0f}"
              f" / {100 * detect(found):.0f} % |")


if __name__ == "__main__":
    main()
