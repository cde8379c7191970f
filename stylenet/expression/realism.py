"""Can a machine tell a performance from a pianist's?  A detector trained on what a listener could hear.

    segment_features(score, values)            [S, len(FEATURES)] for the 48-note segments of a performance
    detect(pairs)                              cross-validated accuracy of telling machine from human

A model that regresses to the mean has tells that correlation hides: it follows pitch too closely, lifts
the top of every chord by the same amount, spreads too little, never repeats a gesture, times every chord
the same way.  Each performance of a held-out piece is cut into segments of SEGMENT notes (in score order),
described by FEATURES (all things a listener hears: loudness spread and jumps, chord balance and melody
lead, how closely loudness follows pitch, how it repeats, the level; chord spread, onset and length
variation and the beat-to-beat tempo change), and a gradient-boosted classifier (scikit-learn's
HistGradientBoostingClassifier) is trained to tell the machine's segments from the pianist's on the same
notes, cross-validated by piece (no piece is in both the training and the scored fold).  50 % = it cannot
tell; the goal is at most 60 %.  Keyboard fingerprints that no listener hears (the share of distinct
velocity values, say) are left out on purpose.
"""

from __future__ import annotations

import numpy as np

from stylenet.expression.notes import ScoreNotes

SEGMENT = 48
FEATURES = ("spread", "jumps", "chord_balance", "melody_lead", "pitch_r", "repetition", "level",
            "onset_spread", "chord_spread", "length_spread", "tempo_change")
FOLDS = 5


def _r(a, b) -> float:
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


RESOLUTION = np.array([1.0, 1e-3, 1e-3, 1e-2])  # velocity, tempo (log2), onset (s), duration (log2)


def as_written(values: np.ndarray) -> np.ndarray:
    """`values` at the resolution a MIDI file carries them: whole velocities 1..127, onsets to the
    millisecond (a tick at 480 per quarter and 120 bpm is 1 ms), tempo and length ratios to about as much.
    A pianist's values come from a file and a network's from floats: read as they are, a detector tells
    them apart by digits far below anything heard (a tempo change of 1e-16 against exactly 0)."""
    out = np.array(values, dtype=np.float64, copy=True)
    out[:, 0] = np.clip(np.rint(out[:, 0]), 1, 127)
    for k in range(1, len(RESOLUTION)):
        out[:, k] = np.rint(out[:, k] / RESOLUTION[k]) * RESOLUTION[k]
    return out


def segment_features(score: ScoreNotes, values: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """[S, len(FEATURES)]: one row per run of SEGMENT usable notes (score order).  `values` [N, 4+] are
    velocity, tempo, onset and duration per note (targets' units), `usable` where all are known; both sides
    are read `as_written`."""
    values = as_written(values)
    idx = np.flatnonzero(usable)
    rows = []
    for k in range(len(idx) // SEGMENT):
        i = idx[k * SEGMENT:(k + 1) * SEGMENT]
        v, pitch, onset = values[i, 0], score.pitch[i].astype(float), score.onset[i]
        chord = np.unique(onset, return_inverse=True)[1]
        sizes = np.bincount(chord)
        mean = np.bincount(chord, v) / sizes
        top = np.full(len(sizes), -1.0)
        np.maximum.at(top, chord, pitch)
        is_top = (pitch == top[chord]) & (sizes[chord] > 1)
        balance = float(np.mean(v[is_top] - mean[chord][is_top])) if is_top.any() else 0.0
        lead = values[i, 2]
        chord_spread = np.bincount(chord, (lead - (np.bincount(chord, lead) / sizes)[chord]) ** 2) / sizes
        rows.append([np.std(v), np.mean(np.abs(np.diff(v))), balance,
                     float(np.mean(lead[is_top] - (np.bincount(chord, lead) / sizes)[chord][is_top])) if is_top.any() else 0.0,
                     _r(v, pitch), _r(v[:-1], v[1:]), np.mean(v), np.std(lead),
                     float(np.sqrt(np.mean(chord_spread[sizes > 1]))) if (sizes > 1).any() else 0.0,
                     np.std(values[i, 3]), np.mean(np.abs(np.diff(values[i, 1])))])
    return np.asarray(rows, np.float64).reshape(-1, len(FEATURES))


def detect(segments: list[tuple[str, np.ndarray, np.ndarray]], columns=None, seed: int = 0) -> float:
    """Accuracy (0..1) of a detector telling machine segments from human ones, cross-validated by piece.
    `segments`: (piece, machine features [S, F], human features [S, F]) per performance; `columns`: the
    features it may read (default all)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GroupKFold

    columns = list(range(len(FEATURES))) if columns is None else list(columns)
    x, y, groups = [], [], []
    for piece, machine, human in segments:
        for label, rows in ((1, machine), (0, human)):
            x.append(rows[:, columns])
            y += [label] * len(rows)
            groups += [piece] * len(rows)
    x, y, groups = np.concatenate(x), np.asarray(y), np.asarray(groups)
    n_groups = len(set(groups.tolist()))
    if n_groups < 2 or len(set(y.tolist())) < 2:
        return float("nan")
    right = 0
    for train, test in GroupKFold(min(FOLDS, n_groups)).split(x, y, groups):
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
        model.fit(x[train], y[train])
        right += int((model.predict(x[test]) == y[test]).sum())
    return right / len(y)


TIMING_FEATURES = ("melody_lead", "onset_spread", "chord_spread", "length_spread", "tempo_change")
VELOCITY_COLUMNS = tuple(k for k, name in enumerate(FEATURES) if name not in TIMING_FEATURES)  # loudness alone
TIMING_COLUMNS = tuple(k for k, name in enumerate(FEATURES) if name in TIMING_FEATURES)  # time and length alone
