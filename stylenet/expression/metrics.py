"""How close a performance of a score is to a pianist's: per piece, per target.

    beat_curve(score, note_tempo, beat_quarters)   a tempo curve per beat from per-note tempo values
    tempo_by_beat(score, note_tempo)               per note, its beat's value of that curve (as perform writes it)
    compare(score, performed, predicted)           {measure: value} of one predicted performance against one
                                                   human performance of the same score

The measures (each per piece; a table averages them over pieces):

    velocity_r, velocity_mae   Pearson r and mean absolute error of the velocities of the notes both played
    tempo_r                    r of the tempo curve, per beat: log2 of each inter-beat interval against the
                               score's (the issue's "tempo curve r"; 0 for a prediction that never moves)
    onset_r                    r of each note's onset against where its beat puts it
    duration_r                 r of log2 held / written length
    pedal_agreement            share of notes on which both have the pedal down or both up
"""

from __future__ import annotations

import numpy as np

from stylenet.expression.notes import Performed, ScoreNotes, beat_tempo, targets

MEASURES = ("velocity_r", "velocity_mae", "tempo_r", "onset_r", "duration_r", "pedal_agreement")


def pearson(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return 0.0 if len(a) >= 3 else float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def beat_curve(score: ScoreNotes, note_tempo: np.ndarray, beat_quarters: np.ndarray) -> np.ndarray:
    """[B-1]: the mean of the notes' tempo values in each beat (onsets in [beat, next beat)); a beat
    without an onset takes the value interpolated between its neighbours."""
    beat_quarters = np.asarray(beat_quarters, np.float64)
    n = len(beat_quarters) - 1
    if n < 1:
        return np.zeros(0)
    i = np.searchsorted(beat_quarters, score.onset, side="right") - 1
    inside = (i >= 0) & (i < n)
    sums = np.bincount(i[inside], np.asarray(note_tempo, np.float64)[inside], minlength=n)
    counts = np.bincount(i[inside], minlength=n)
    have = counts > 0
    if not have.any():
        return np.zeros(n)
    return np.interp(np.arange(n), np.flatnonzero(have), sums[have] / counts[have])


def tempo_by_beat(score: ScoreNotes, note_tempo: np.ndarray) -> np.ndarray:
    """[N]: each note's tempo value replaced by its beat's (`beat_curve` over the score's beats), as `perform`
    writes tempo: one value a beat."""
    beats, _ = score.beats()
    beat = np.clip(np.searchsorted(beats, score.onset, side="right") - 1, 0, len(beats) - 2)
    return beat_curve(score, note_tempo, beats)[beat]


def curve_at(score: ScoreNotes, other: Performed, beat_quarters) -> np.ndarray:
    """A human performance's tempo curve (as `beat_tempo`) on other beats: through its own beats' timing."""
    beat_quarters = np.asarray(beat_quarters, np.float64)
    return beat_tempo(score, beat_quarters, other.time_of(beat_quarters))


def compare(score: ScoreNotes, performed: Performed, predicted: np.ndarray, curve: np.ndarray | None = None) -> dict:
    """One predicted performance ([N, len(TARGETS)] in the targets' units, as ExpressionNet writes it; NaN
    where it says nothing) against a human one of the same score.  `curve`: the prediction's tempo per
    beat of `performed` (default: `beat_curve` of its per-note tempo)."""
    truth, mask = targets(score, performed)
    mask = mask * np.isfinite(predicted)
    out = {}
    v = mask[:, 0] > 0
    out["velocity_r"] = pearson(predicted[v, 0], truth[v, 0])
    out["velocity_mae"] = float(np.mean(np.abs(predicted[v, 0] - truth[v, 0]))) if v.any() else float("nan")
    bq = performed.beat_quarters
    if len(bq) >= 3:
        human = beat_tempo(score, bq, performed.beat_seconds)
        model = beat_curve(score, predicted[:, 1], bq) if curve is None else curve
        ok = (np.abs(human) < 1.5) & np.isfinite(model)
        out["tempo_r"] = pearson(model[ok], human[ok])
    else:
        out["tempo_r"] = float("nan")
    for k, name in ((2, "onset_r"), (3, "duration_r")):
        m = mask[:, k] > 0
        out[name] = pearson(predicted[m, k], truth[m, k])
    m = mask[:, 4] > 0
    out["pedal_agreement"] = float(np.mean((predicted[m, 4] > 0.5) == (truth[m, 4] > 0.5))) if m.any() else float("nan")
    return out


def as_prediction(score: ScoreNotes, performed: Performed) -> np.ndarray:
    """A human performance in the layout ExpressionNet writes (its own targets, pedal as 0/1; tempo per
    note from its beats), so one pianist can be scored against another with `compare`."""
    values, mask = targets(score, performed)
    out = values.astype(np.float64)
    for k in range(out.shape[1]):
        missing = mask[:, k] == 0
        if missing.all():
            continue
        out[missing, k] = np.nan
    return out


def mean_table(rows: list[dict]) -> dict:
    """{measure: mean over rows, ignoring NaN}."""
    return {m: float(np.nanmean([r[m] for r in rows])) if any(np.isfinite(r.get(m, np.nan)) for r in rows)
            else float("nan") for m in MEASURES}
