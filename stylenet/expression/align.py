"""Which performed note plays which score note.

    align(score, score_beats, perf, perf_beats)    an ASAP pair: score and performance through their beats
    self_performed(piece, genre)                   a played file against its own nominal grid (raw/)
    align_asap(entry, asap_root)                   one ASAP row (data.read.asap_performances) -> (score, Performed, report)

ASAP annotates the same beats in a work's score and in each performance, so every score time maps to a
performed time by interpolating between the beats around it; a score note is then matched to the
performed note of the same key nearest to where its beat puts it.  Matching is one assignment per key
(scipy's linear_sum_assignment: no performed note plays two score notes, and of two repeated notes
neither is taken twice), within a tolerance of half a local beat.  A second pass corrects each score
note's expected time by the median offset of the matched notes around it (a pianist who plays a whole
passage early) and matches again, tighter.  Left unmatched: ornaments (a trill is more notes than its
score), grace notes written at another time, wrong and missed notes.  A maintained automatic aligner
(parangonar) would be needed without beat annotations; with them, this is the anchor-point matching such
aligners start from, and it is checked here by hand (docs/expression.md).

For raw/ files (piano-midi.de's hand-sequenced classical, the jazz and pop played to a click) there is no
separate score: the score is the file's own notes on its nominal grid -- onsets snapped to a grid of
sixteenths and triplets (thirty-seconds for the sequenced classical), the tempo the piece's median -- and
the performance is the file as it sounds: its tempo map (piano-midi.de keeps its rubato there), its
notes' own times, velocities and pedal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylenet.core.midifile import MidiPiece
from stylenet.expression.notes import Performed, ScoreNotes, extrapolated_interp, make_score_notes, score_notes

FIRST_TOLERANCE = 0.5  # of the local beat: the first pass's window around a note's expected time
SECOND_TOLERANCE = 0.3  # of the local beat, after the local correction
MIN_TOLERANCE = 0.08  # seconds: however fast the beat, a window this wide
CORRECTION_QUARTERS = 2.0  # half-width (score quarters) of the neighbourhood whose median offset corrects
SWUNG = ("jazz",)  # genres whose off-beat eighths are read as swung straight eighths (`unswing`)
SWING_ZONE = (0.55, 0.75)  # where in its beat a swung off-beat eighth falls (2:1 swing is 0.667)
GRIDS = {"classical": (8, 6), "concert": (8, 6), "jazz": (4, 3), "pop": (4, 3)}  # snap points per quarter


@dataclass
class AlignReport:
    score_notes: int
    performed_notes: int
    matched: int
    median_offset: float  # seconds, |performed - expected| of the matched notes

    @property
    def score_share(self) -> float:
        return self.matched / max(self.score_notes, 1)

    @property
    def performed_share(self) -> float:
        return self.matched / max(self.performed_notes, 1)


def _match_by_key(pitch_a, time_a, pitch_b, time_b, tolerance) -> np.ndarray:
    """For each note of a (expected times), the index of its note of b (same key, |time| < its tolerance,
    one-to-one per key, least total distance), or -1."""
    from scipy.optimize import linear_sum_assignment

    match = np.full(len(pitch_a), -1, np.int64)
    for key in np.intersect1d(pitch_a, pitch_b):
        ia, ib = np.flatnonzero(pitch_a == key), np.flatnonzero(pitch_b == key)
        cost = np.abs(time_a[ia][:, None] - time_b[ib][None, :])
        allowed = cost < tolerance[ia][:, None]
        if not allowed.any():
            continue
        rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
        ok = allowed[rows, cols]
        match[ia[rows[ok]]] = ib[cols[ok]]
    return match


def align(score: ScoreNotes, score_beats_q: np.ndarray, perf_pitch, perf_start, perf_beats_s) -> tuple[np.ndarray, np.ndarray]:
    """(match [N] index into the performance's notes or -1, expected [N] performed seconds) for each score
    note, given the same beats as score quarters and as performed seconds."""
    beats_q, beats_s = np.asarray(score_beats_q, np.float64), np.asarray(perf_beats_s, np.float64)
    expected = extrapolated_interp(score.onset, beats_q, beats_s)
    beat_seconds = np.diff(beats_s)
    i = np.clip(np.searchsorted(beats_q, score.onset, side="right") - 1, 0, max(len(beat_seconds) - 1, 0))
    local_beat = beat_seconds[i] if len(beat_seconds) else np.full(score.n_notes, 0.5)
    perf_pitch, perf_start = np.asarray(perf_pitch), np.asarray(perf_start, np.float64)
    match = _match_by_key(score.pitch, expected, perf_pitch, perf_start,
                          np.maximum(FIRST_TOLERANCE * local_beat, MIN_TOLERANCE))
    found = match >= 0
    if found.sum() >= 8:
        offset = perf_start[match[found]] - expected[found]
        q = score.onset[found]
        lo = np.searchsorted(q, score.onset - CORRECTION_QUARTERS, side="left")
        hi = np.searchsorted(q, score.onset + CORRECTION_QUARTERS, side="right")
        correction = np.array([np.median(offset[a:b]) if b > a else 0.0 for a, b in zip(lo, hi)])
        expected = expected + correction
        match = _match_by_key(score.pitch, expected, perf_pitch, perf_start,
                              np.maximum(SECOND_TOLERANCE * local_beat, MIN_TOLERANCE))
    return match, expected


def pedal_or_none(piece: MidiPiece):
    """(down, up) seconds of the piano parts' sustain pedal, or (None, None) where the file has no pedal
    events at all (it cannot tell pedalled from unpedalled)."""
    from stylenet.core.notes import has_pedal, pedal_times

    return pedal_times(piece) if has_pedal(piece) else (None, None)


def performed_from_match(score: ScoreNotes, piece: MidiPiece, match: np.ndarray, beat_quarters, beat_seconds
                         ) -> Performed:
    found = match >= 0
    take = np.where(found, match, 0)

    def pick(values):
        return np.where(found, np.asarray(values, np.float64)[take], np.nan) if len(values) else np.full(len(match), np.nan)

    down, up = pedal_or_none(piece)
    return Performed(pick(piece.start), pick(piece.end), pick(piece.velocity), np.asarray(beat_quarters, np.float64),
                     np.asarray(beat_seconds, np.float64), down, up)


def align_asap(entry: dict, asap_root) -> tuple[ScoreNotes, Performed, AlignReport]:
    """One ASAP performance (a `read.asap_performances` row) against its work's midi_score.mid."""
    from pathlib import Path

    from stylenet.core.beats import read_annotations
    from stylenet.core.midifile import load_midi

    folder = Path(asap_root) / entry["folder"]
    score_piece = load_midi(folder / "midi_score.mid")
    score = score_notes(score_piece)
    score_beats = read_annotations(folder / "midi_score_annotations.txt")
    perf = load_midi(entry["midi"])
    perf_beats = read_annotations(entry["annotations"])
    n = min(score_beats.n_beats, perf_beats.n_beats)  # ASAP annotates the same beats; a stray one is cut
    grid = score_piece.grid
    beat_q = grid.seconds_to_ticks(score_beats.times[:n]) / float(grid.ticks_per_quarter)
    keep = np.concatenate([[True], np.diff(beat_q) > 1e-6])  # strictly increasing for the interpolation
    beat_q, beat_s = beat_q[keep], perf_beats.times[:n][keep]
    match, expected = align(score, beat_q, perf.pitch, perf.start, beat_s)
    performed = performed_from_match(score, perf, match, beat_q, beat_s)
    found = match >= 0
    report = AlignReport(score.n_notes, perf.n_notes, int(found.sum()),
                         float(np.median(np.abs(perf.start[match[found]] - expected[found]))) if found.any() else float("nan"))
    return score, performed, report


def unswing(onset: np.ndarray, snapped: np.ndarray) -> np.ndarray:
    """A lead sheet writes swung eighths straight: a note in the SWING_ZONE of its beat (quarter notes)
    is an off-beat eighth, snapped to the half beat, unless its beat also has a note a third of the way
    in (then it is a triplet).  The swing is then what the player adds: the onset target."""
    beat = np.floor(onset + 1e-9)
    phase = onset - beat
    triplet_beats = np.unique(beat[np.abs(phase - 1 / 3) < 0.06])
    swung = (phase >= SWING_ZONE[0]) & (phase < SWING_ZONE[1]) & ~np.isin(beat, triplet_beats)
    return np.where(swung, beat + 0.5, snapped)


def self_performed(piece: MidiPiece, genre: str) -> tuple[ScoreNotes, Performed]:
    """A played or hand-sequenced file as (its score: the notes snapped to the nominal grid at the piece's
    median tempo, the performance: the file as it sounds).  Beats: the score's (the time signatures'),
    performed at the file's tempo map."""
    played = score_notes(piece)  # quarters through the file's tempo map = the played positions
    per_quarter = GRIDS.get(genre, (4, 3))
    candidates = np.stack([np.round(played.onset * k) / k for k in per_quarter])
    snapped = candidates[np.argmin(np.abs(candidates - played.onset), axis=0), np.arange(played.n_notes)]
    if genre in SWUNG:
        snapped = unswing(played.onset, snapped)
    candidates = np.stack([np.round(played.offset * k) / k for k in per_quarter])
    snapped_off = candidates[np.argmin(np.abs(candidates - played.offset), axis=0), np.arange(played.n_notes)]
    snapped_off = np.maximum(snapped_off, snapped + 1.0 / max(per_quarter))
    spq = float(np.median(played.seconds_per_quarter(played.onset))) if played.n_notes else 0.5
    flat = np.full(played.n_notes, 64)  # the file's velocities are the performance; its score has no dynamics
    score = make_score_notes(played.pitch, snapped, snapped_off, flat, ((0.0, spq),), played.meters)
    grid = piece.file_grid or piece.grid
    beat_q, _ = score.beats()
    beat_s = grid.ticks_to_seconds(beat_q * grid.ticks_per_quarter)
    source = played.order[score.order]  # score note -> index into the piece's notes
    down, up = pedal_or_none(piece)
    performed = Performed(piece.start[source], piece.end[source], piece.velocity[source].astype(np.float64),
                          beat_q, beat_s, down, up)
    return score, performed
