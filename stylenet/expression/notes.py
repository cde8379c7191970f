"""Scores and performances as note lists, what the network reads of a score, and what a performance teaches.

    ScoreNotes                                  a score's notes in quarter notes, with its tempo and metre
    score_notes(piece)                          the ScoreNotes of a read MIDI file (its piano part)
    score_features(score, genre, genres)        [N, n_features(genres)] float32: what the network reads
    Performed                                   one performance of a score: per score note its played onset,
                                                offset and velocity (NaN where unplayed), and the beats
    targets(score, performed)                   [N, len(TARGETS)] targets and [N, len(TARGETS)] masks

A score says *what* to play: keys, when in the bar, how long, and (when it is not flat) how loud the
notation says.  Everything here is in quarter notes, so a score means the same at any notated tempo; the
score's own tempo map is kept beside it (seconds per quarter), because a pianist's rubato is a deviation
from the written tempo, not a replacement of it.

The targets are what a pianist adds (TARGETS, in their natural units):

    velocity   the key's MIDI velocity
    tempo      log2 of how much longer the beat around the note lasts than the score says, less the
               piece's median (rubato; the piece's overall tempo is the player's choice, kept as written)
    onset      seconds the note sounds after where its beat's tempo puts it (chord spread, melody lead,
               swing, a late bass)
    duration   log2 of how long the key is held against its written length at the local tempo
               (articulation: legato > 0, staccato < 0)
    pedal      1 if the sustain pedal is down just after the note is struck
    lift       1 if the pedal is lifted between the previous chord and this one (a pedal change)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylenet.core.midifile import COMPOUND_NUMERATORS, LOWEST_KEY, MidiPiece

TARGETS = ("velocity", "tempo", "onset", "duration", "pedal", "lift")
SCALES = np.array([20.0, 0.25, 0.04, 1.0, 1.0, 1.0])  # one network output unit, in each target's units
REGRESSED = 4  # the first four targets are regressed (squared error); pedal and lift are probabilities
ONSET_LIMIT = 0.3  # seconds: a matched note further than this from its beat's time is read as a slip
DURATION_LIMIT = (-4.0, 2.0)  # log2 of the held/written ratio: 1/16 .. 4 times as long
TEMPO_LIMIT = 1.5  # log2: a beat 2.8 times faster or slower than the score's is a fermata or a mismatch
PEDAL_AFTER = 0.1  # seconds after the onset at which `pedal` is read (a pedal is changed just after a chord)
FLAT_SPREAD = 1.0  # a score whose velocities spread less than this has no notated dynamics
LOCAL_QUARTERS = 2.0  # half-width of the neighbourhood the local features read
SECTION_QUARTERS = 8.0  # half-width of the neighbourhood the section features read (about two bars each way)
LEGACY_FEATURES = ("key", "score_velocity", "flat", "velocity_vs_local", "duration", "ioi_before", "ioi_after",
                   "chord_size", "top", "bottom", "rank", "beat_sin", "beat_cos", "bar_sin", "bar_cos", "downbeat",
                   "on_beat", "tempo", "tempo_vs_piece", "position", "density", "key_vs_local", "key_vs_local_top")
# what a network trained before the section features reads (its header names no features)
FEATURES = LEGACY_FEATURES + ("velocity_z", "velocity_section", "rest_before", "rest_after", "density_section",
                              "duration_vs_local", "boundary", "to_end")


def n_features(genres, names=FEATURES) -> int:
    return len(names) + len(genres)


@dataclass
class ScoreNotes:
    """A score's notes sorted by (onset, key).

    pitch, velocity     int64 [N]
    onset, offset       float64 [N] in quarter notes from the start
    tempo               [(quarter, seconds per quarter)] float64 [K, 2]: the score's tempo map
    meters              [(quarter, numerator, denominator)] float64 [M, 3]: its time signatures
    order               int64 [N]: index of each note in the source's own note list
    """

    pitch: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    tempo: np.ndarray
    meters: np.ndarray
    order: np.ndarray

    @property
    def n_notes(self) -> int:
        return int(len(self.pitch))

    def seconds(self, quarters) -> np.ndarray:
        """Seconds under the score's own tempo map of positions in quarter notes."""
        q = np.asarray(quarters, np.float64)
        starts, spq = self.tempo[:, 0], self.tempo[:, 1]
        at = np.concatenate([[0.0], np.cumsum(np.diff(starts) * spq[:-1])])
        i = np.clip(np.searchsorted(starts, q, side="right") - 1, 0, None)
        return at[i] + (q - starts[i]) * spq[i]

    def seconds_per_quarter(self, quarters) -> np.ndarray:
        i = np.clip(np.searchsorted(self.tempo[:, 0], np.asarray(quarters, np.float64), side="right") - 1, 0, None)
        return self.tempo[i, 1]

    def chords(self) -> tuple[np.ndarray, np.ndarray]:
        """(the onsets of the score's chords -- its notes struck together -- in time, [N] each note's chord)."""
        starts, index = np.unique(self.onset, return_inverse=True)
        return starts, index.reshape(-1)

    def beats(self) -> tuple[np.ndarray, np.ndarray]:
        """(quarter of every beat from 0 to past the last offset, whether it starts a bar): the felt beat
        of each time signature (a dotted quarter in 6/8), bars restarting at every signature."""
        meters = self.meters if len(self.meters) and self.meters[0, 0] <= 0 else \
            np.concatenate([[[0.0, 4, 4]], self.meters.reshape(-1, 3)])
        longest = max(_bar_and_beat(int(n), int(d))[1] for _, n, d in meters)
        last = float(max(self.offset.max(), self.onset.max())) if self.n_notes else 0.0
        end = last + longest + 1.0  # at least two beats, the last past every note
        meters = meters[meters[:, 0] < end]  # a time signature after the music adds no beats
        quarters, downbeats = [], []
        for k, (start, numerator, denominator) in enumerate(meters):
            stop = meters[k + 1, 0] if k + 1 < len(meters) else end
            bar, beat = _bar_and_beat(int(numerator), int(denominator))
            q = np.arange(start, stop - 1e-9, beat)
            quarters.append(q)
            downbeats.append(np.abs(((q - start + 1e-9) % bar) - 1e-9) < 1e-6)
        return np.concatenate(quarters), np.concatenate(downbeats)


def _bar_and_beat(numerator: int, denominator: int) -> tuple[float, float]:
    unit = 4.0 / denominator
    compound = numerator in COMPOUND_NUMERATORS and denominator >= 8
    return numerator * unit, (3 * unit if compound else unit)


def score_notes(piece: MidiPiece, order: np.ndarray | None = None) -> ScoreNotes:
    """The piano notes of a read file as a score: quarter notes from the file's ticks (its own tempo map is
    its notated tempo), sorted by (onset, key)."""
    grid = piece.file_grid or piece.grid
    tpq = float(grid.ticks_per_quarter)
    onset = grid.seconds_to_ticks(piece.start) / tpq
    offset = np.maximum(grid.seconds_to_ticks(piece.end) / tpq, onset)
    tempo = np.stack([grid.change_quarters, 60.0 / grid.qpm], axis=1)
    meters = np.array([(grid.seconds_to_ticks(ts.time) / tpq, ts.numerator, ts.denominator)
                       for ts in piece.pm.time_signature_changes
                       if ts.numerator >= 1 and ts.denominator >= 1 and ts.denominator & (ts.denominator - 1) == 0],
                      np.float64).reshape(-1, 3)
    return make_score_notes(piece.pitch, onset, offset, piece.velocity, tempo, meters)


def make_score_notes(pitch, onset, offset, velocity, tempo=((0.0, 0.5),), meters=()) -> ScoreNotes:
    pitch = np.asarray(pitch, np.int64)
    onset = np.asarray(onset, np.float64)
    order = np.lexsort((pitch, onset))
    tempo = np.asarray(tempo, np.float64).reshape(-1, 2)
    tempo = tempo[np.concatenate([np.diff(tempo[:, 0]) > 0, [True]])]  # of two changes at one moment, the last
    meters = np.asarray(meters, np.float64).reshape(-1, 3)
    if len(meters):
        meters = meters[np.argsort(meters[:, 0], kind="stable")]
        meters = meters[np.concatenate([np.diff(meters[:, 0]) > 1e-9, [True]])]
    return ScoreNotes(pitch[order], onset[order], np.asarray(offset, np.float64)[order],
                      np.asarray(velocity, np.int64)[order], tempo, meters, order)


def _local(onset: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    return np.searchsorted(onset, onset - half, side="left"), np.searchsorted(onset, onset + half, side="right")


def _running(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, reduce) -> np.ndarray:
    if reduce == "mean":
        c = np.concatenate([[0.0], np.cumsum(values)])
        return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)
    return np.array([values[a:b].max() for a, b in zip(lo, hi)], np.float64)


def _log2(x) -> np.ndarray:
    return np.log2(np.clip(np.asarray(x, np.float64), 1 / 64, 64.0))


def score_features(score: ScoreNotes, genre: str, genres, names=FEATURES) -> np.ndarray:
    """[N, n_features(genres, names)] float32, one row per note of `score` (the features `names`, a subset of
    FEATURES in any order, then the genre one-hot).  Nothing of a performance: onsets, lengths and tempo are
    the score's."""
    n = score.n_notes
    unknown = sorted(set(names) - set(FEATURES))
    if unknown:
        raise ValueError(f"no score feature named {', '.join(unknown)}")
    if n == 0:
        return np.zeros((0, n_features(genres, names)), np.float32)
    out = np.zeros((n, len(FEATURES) + len(genres)), np.float32)
    pitch, onset = score.pitch.astype(np.float64), score.onset
    velocity = score.velocity.astype(np.float64)
    flat = float(np.std(velocity) < FLAT_SPREAD)
    lo, hi = _local(onset, LOCAL_QUARTERS)
    out[:, 0] = (np.clip(pitch, 21, 108) - LOWEST_KEY) / 87.0
    if not flat:
        out[:, 1] = (velocity - 64.0) / 32.0
        out[:, 3] = (velocity - _running(velocity, lo, hi, "mean")) / 32.0
    out[:, 2] = flat
    out[:, 4] = _log2(score.offset - onset) / 4.0
    starts, at = score.chords()
    gaps = np.diff(starts)
    out[:, 5] = _log2(np.concatenate([[8.0], gaps]))[at] / 4.0
    out[:, 6] = _log2(np.concatenate([gaps, [8.0]]))[at] / 4.0
    size = np.bincount(at)
    out[:, 7] = np.log2(size[at]) / 3.0
    top = np.full(len(starts), -1.0)
    bottom = np.full(len(starts), 999.0)
    np.maximum.at(top, at, pitch)
    np.minimum.at(bottom, at, pitch)
    out[:, 8] = pitch == top[at]
    out[:, 9] = pitch == bottom[at]
    by_height = np.lexsort((-pitch, at))
    rank = np.empty(n)
    rank[by_height] = np.arange(n) - np.repeat(np.concatenate([[0], np.cumsum(size)[:-1]]), size)
    out[:, 10] = np.minimum(rank, 8) / 8.0
    beat_phase, bar_phase, downbeat, on_beat = metric_position(score, onset)
    out[:, 11], out[:, 12] = np.sin(2 * np.pi * beat_phase), np.cos(2 * np.pi * beat_phase)
    out[:, 13], out[:, 14] = np.sin(2 * np.pi * bar_phase), np.cos(2 * np.pi * bar_phase)
    out[:, 15], out[:, 16] = downbeat, on_beat
    spq = score.seconds_per_quarter(onset)
    out[:, 17] = (np.log2(np.clip(spq, 0.05, 4.0)) + 1.0) / 2.0
    out[:, 18] = np.log2(spq / np.median(spq))
    out[:, 19] = onset / max(float(onset[-1]), 1e-9)
    out[:, 20] = np.log2((hi - lo) / (2 * LOCAL_QUARTERS) + 1.0) / 4.0
    out[:, 21] = (pitch - _running(pitch, lo, hi, "mean")) / 24.0
    out[:, 22] = (pitch - _running(pitch, lo, hi, "max")) / 24.0
    _section_features(score, out, flat, velocity, starts, at, (lo, hi))
    genres = list(genres)
    if genre in genres:
        out[:, len(FEATURES) + genres.index(genre)] = 1.0
    columns = [FEATURES.index(name) for name in names] + list(range(len(FEATURES), out.shape[1]))
    return out[:, columns]


def _section_features(score: ScoreNotes, out: np.ndarray, flat: float, velocity: np.ndarray, starts: np.ndarray,
                      at: np.ndarray, local: tuple[np.ndarray, np.ndarray]) -> None:
    """FEATURES[23:]: what a phrase and a section look like around a note -- where the music breathes (the
    rests around its chord), how loud the notation is here against the whole piece, how busy the next bars
    are, how long the note is against its neighbours, how near a change of metre or written tempo (a new
    section) or the end (a final ritardando) it is.  A pianist shapes tempo and loudness by these."""
    onset, offset = score.onset, score.offset
    k = len(LEGACY_FEATURES)
    section = _local(onset, SECTION_QUARTERS)
    if not flat:
        z = np.clip((velocity - velocity.mean()) / velocity.std(), -3, 3)
        out[:, k] = z / 2.0
        out[:, k + 1] = _running(z, *section, "mean") / 2.0
    # silence before a chord: from the last release of every earlier note to it; after: to the next chord
    ends = np.full(len(starts), -np.inf)
    np.maximum.at(ends, at, offset)
    sounding = np.maximum.accumulate(ends)  # the latest release of the chords up to each one
    before = np.clip(starts - np.concatenate([[starts[0]], sounding[:-1]]), 0, None)
    after = np.clip(np.concatenate([starts[1:], [sounding[-1]]]) - sounding, 0, None)
    out[:, k + 2] = np.log2(1.0 + before[at]) / 2.0
    out[:, k + 3] = np.log2(1.0 + after[at]) / 2.0
    lo, hi = section
    out[:, k + 4] = np.log2((hi - lo) / (2 * SECTION_QUARTERS) + 1.0) / 4.0
    length = _log2(offset - onset)
    out[:, k + 5] = (length - _running(length, *local, "mean")) / 4.0
    changes = np.sort(np.concatenate([score.meters[:, 0], score.tempo[:, 0]]))
    changes = changes[changes > 1e-6]
    if len(changes):
        i = np.searchsorted(changes, onset)
        distance = np.minimum(np.abs(onset - changes[np.clip(i - 1, 0, None)]),
                              np.abs(changes[np.clip(i, None, len(changes) - 1)] - onset))
        out[:, k + 6] = np.exp(-distance / 4.0)
    out[:, k + 7] = np.exp(-(float(offset.max()) - onset) / 8.0)


def metric_position(score: ScoreNotes, quarters) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(phase in the beat 0..1, phase in the bar 0..1, on a downbeat, on a beat) of positions in quarters."""
    q = np.asarray(quarters, np.float64)
    beats, downbeat = score.beats()
    i = np.clip(np.searchsorted(beats, q + 1e-6, side="right") - 1, 0, len(beats) - 1)
    beat_len = np.diff(np.concatenate([beats, [beats[-1] + (beats[-1] - beats[-2] if len(beats) > 1 else 1.0)]]))
    beat_phase = np.clip((q - beats[i]) / beat_len[i], 0, 1 - 1e-9)
    bar_start = np.maximum.accumulate(np.where(downbeat, np.arange(len(beats)), 0))
    next_bar = np.concatenate([np.flatnonzero(downbeat), [len(beats)]])
    following = next_bar[np.searchsorted(next_bar, np.arange(len(beats)), side="right")]
    bar_beats = np.maximum(following - bar_start, 1)
    bar_phase = np.clip(((i - bar_start[i]) + beat_phase) / bar_beats[i], 0, 1 - 1e-9)
    on_beat = np.abs(q - beats[i]) < 1e-3
    return beat_phase, bar_phase, on_beat & downbeat[i], on_beat


@dataclass
class Performed:
    """One performance of a ScoreNotes: for each score note (in the score's order) the played onset and
    offset in seconds and velocity (NaN where the note was not found), the beats as (score quarter,
    performed second) pairs, and the sustain pedal (None: the source cannot tell, no pedal events)."""

    onset: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    beat_quarters: np.ndarray
    beat_seconds: np.ndarray
    pedal_down: np.ndarray | None = None
    pedal_up: np.ndarray | None = None

    def time_of(self, quarters) -> np.ndarray:
        """Performed seconds of score positions, through the beats (linear between them, the edge beats'
        tempo beyond them)."""
        return extrapolated_interp(quarters, self.beat_quarters, self.beat_seconds)


def extrapolated_interp(x, xp, fp) -> np.ndarray:
    """np.interp, continued beyond the ends with the slope of the first and last intervals."""
    x = np.asarray(x, np.float64)
    y = np.interp(x, xp, fp)
    if len(xp) > 1:
        lo, hi = x < xp[0], x > xp[-1]
        y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
        y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y


def beat_tempo(score: ScoreNotes, beat_quarters, beat_seconds) -> np.ndarray:
    """[B-1] log2 of each performed inter-beat interval against the score's, less the piece's median."""
    beat_quarters = np.asarray(beat_quarters, np.float64)
    played = np.diff(np.asarray(beat_seconds, np.float64))
    written = np.diff(score.seconds(beat_quarters))
    ratio = np.log2(np.clip(played, 1e-3, None) / np.clip(written, 1e-3, None))
    return ratio - np.median(ratio) if len(ratio) else ratio


def targets(score: ScoreNotes, performed: Performed) -> tuple[np.ndarray, np.ndarray]:
    """(values [N, len(TARGETS)] float32 in the targets' units, masks [N, len(TARGETS)] float32): see the
    module docstring.  A note not found in the performance teaches nothing; nor do its pedal targets where
    the source has no pedal events, nor its tempo where the beats are too few."""
    n = score.n_notes
    values = np.zeros((n, len(TARGETS)), np.float32)
    masks = np.zeros((n, len(TARGETS)), np.float32)
    found = np.isfinite(performed.onset) & np.isfinite(performed.velocity)
    if n == 0 or not found.any():
        return values, masks
    values[:, 0] = np.where(found, performed.velocity, 0)
    masks[:, 0] = found
    bq = performed.beat_quarters
    if len(bq) >= 3:
        tempo = beat_tempo(score, bq, performed.beat_seconds)
        i = np.clip(np.searchsorted(bq, score.onset, side="right") - 1, 0, len(tempo) - 1)
        ok = found & (np.abs(tempo[i]) < TEMPO_LIMIT)
        values[:, 1] = np.where(ok, tempo[i], 0)
        masks[:, 1] = ok
        expected = performed.time_of(score.onset)
        deviation = performed.onset - expected
        ok = found & (np.abs(deviation) < ONSET_LIMIT)
        values[:, 2] = np.where(ok, deviation, 0)
        masks[:, 2] = ok
        written = performed.time_of(score.offset) - expected
        held = performed.offset - performed.onset
        ratio = _log2(np.where(found, held, 1.0) / np.clip(np.where(found, written, 1.0), 1e-3, None))
        ok = found & np.isfinite(performed.offset) & (written > 1e-3)
        values[:, 3] = np.where(ok, np.clip(ratio, *DURATION_LIMIT), 0)
        masks[:, 3] = ok
    if performed.pedal_down is not None:
        down, up = np.sort(performed.pedal_down), np.sort(performed.pedal_up)
        at = np.where(found, performed.onset, 0) + PEDAL_AFTER
        values[:, 4] = _pedal_at(down, up, at)
        masks[:, 4] = found
        starts, chord = score.chords()
        chord_onset = np.full(len(starts), np.nan)
        np.fmin.at(chord_onset, chord, np.where(found, performed.onset, np.nan))
        previous = np.concatenate([[np.nan], chord_onset[:-1]])[chord]
        ok = found & np.isfinite(previous)
        lo = np.searchsorted(up, np.where(ok, previous, 0) + PEDAL_AFTER, side="right")
        hi = np.searchsorted(up, at, side="right")
        values[:, 5] = np.where(ok, hi > lo, 0)
        masks[:, 5] = ok & (values[:, 4] > 0)  # a change only means something where the pedal ends up down
    return values, masks


def _pedal_at(down: np.ndarray, up: np.ndarray, at: np.ndarray) -> np.ndarray:
    """1.0 where the pedal is down at each time (the latest press after the latest release).  Not
    `core.notes.last_before`: its 1 ms of tolerance moves 0.2 % of the validation pedal targets."""
    last_down = np.where(np.searchsorted(down, at, side="right") > 0,
                         down[np.maximum(np.searchsorted(down, at, side="right") - 1, 0)] if len(down) else -np.inf,
                         -np.inf)
    last_up = np.where(np.searchsorted(up, at, side="right") > 0,
                       up[np.maximum(np.searchsorted(up, at, side="right") - 1, 0)] if len(up) else -np.inf, -np.inf)
    return (last_down > last_up).astype(np.float32)
