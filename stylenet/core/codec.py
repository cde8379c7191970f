"""The paper's encoding: a piano part as a score matrix and a velocity matrix on a grid of steps.

A MIDI file from a pianist is a *performance*: notes with exact times and a velocity (how hard the key
was struck, 1..127).  StyleNet learns the mapping from the *score* (which keys go down when, and for how
long) to the velocities.  This module turns a file's piano notes (midifile.py) into both halves and back:

    quantise(piece)            -> Score       piano notes snapped to a 1/16-note grid (paper: 4 steps per quarter)
    encode(score)              -> (score_matrix [T, 176] uint8, velocity_matrix [T, 88] float32)
    decode(score_m, velocity_m)-> Score       the inverse of encode (the paper's quantised output)
    score_to_midi(score, grid) -> PrettyMIDI  a playable quantised piano part
    apply_velocities(piece, velocity_matrix)  the original file, untouched but for piano note velocities

Matrix layout (Malik & Ek 2017).  Row t is one grid step.  Key k (MIDI pitch 21 + k, A0..C8) owns two
score columns, 2k and 2k+1:  onset = [1, 1] (the key is struck at this step), held = [0, 1] (still down,
struck earlier), off = [0, 0].  The velocity matrix has one column per key holding velocity / 127.

Velocity target over the whole duration.  As in the original StyleNet code, a note's velocity is written on
every step the note sounds, not on its onset step only.  Why: the network then gets a dense target on every
sounding cell (MSE over a matrix that is ~95 % silence otherwise learns to predict near zero everywhere), and
`masked_mse` ("cells where a note sounds") has a natural meaning.  Reading is unaffected: a note's predicted
velocity is always read at its own onset step.

The grid is the file's own beat grid (ticks per quarter note), not seconds, so a ritardando written as
tempo changes does not stretch or squash the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylenet.core.midifile import (
    DEFAULT_STEPS_PER_QUARTER,
    HIGHEST_KEY,
    LOWEST_KEY,
    N_KEYS,
    BeatGrid,
    MidiPiece,
    check_length,
)
from stylenet.core.smf import smf_bytes

SCORE_COLUMNS = 2 * N_KEYS  # the score matrix: per key, 'struck here' then 'sounding'


@dataclass(frozen=True)
class Score:
    """Piano notes on the step grid: what a player reads, plus the velocity they (or a model) gave.

    Arrays are parallel, one entry per note, sorted by (pitch, onset).  `offset` is exclusive: a note with
    onset 4 and offset 6 sounds on steps 4 and 5.  `velocity` is the MIDI velocity, 1..127.
    """

    pitch: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray
    steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER

    @property
    def n_notes(self) -> int:
        return int(len(self.pitch))

    @property
    def n_steps(self) -> int:
        """Length of the piece in grid steps: up to the last note's release."""
        return int(self.offset.max()) if len(self.offset) else 0

    def __eq__(self, other) -> bool:
        return (isinstance(other, Score) and self.steps_per_quarter == other.steps_per_quarter
                and all(np.array_equal(getattr(self, f), getattr(other, f))
                        for f in ("pitch", "onset", "offset", "velocity")))


def make_score(pitch, onset, offset, velocity, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER) -> Score:
    """Build a playable `Score` from raw note arrays, resolving what one key cannot do.

    A key can only be down once at a time, so notes of one pitch are made monophonic, deterministically:

    * a note lasts at least one step (a grace note snapped to zero length still sounds);
    * notes of one pitch struck on the same step become one note, with the loudest velocity and the
      latest release (the listener hears one strike, as loud as the loudest);
    * a note still held when the same key is struck again is released at that strike (a pianist must
      lift the key to strike it again).
    """
    pitch = np.asarray(pitch, dtype=np.int64)
    onset = np.asarray(onset, dtype=np.int64)
    offset = np.maximum(np.asarray(offset, dtype=np.int64), onset + 1)
    velocity = np.asarray(velocity, dtype=np.int64)
    if len(pitch):
        order = np.lexsort((-velocity, onset, pitch))
        pitch, onset, offset, velocity = pitch[order], onset[order], offset[order], velocity[order]
        first = np.ones(len(pitch), dtype=bool)
        first[1:] = (pitch[1:] != pitch[:-1]) | (onset[1:] != onset[:-1])
        starts = np.flatnonzero(first)
        offset = np.maximum.reduceat(offset, starts)
        pitch, onset, velocity = pitch[starts], onset[starts], velocity[starts]
        same_key_next = pitch[1:] == pitch[:-1]
        offset[:-1] = np.where(same_key_next, np.minimum(offset[:-1], onset[1:]), offset[:-1])
    return Score(pitch, onset, offset, velocity, steps_per_quarter)


def encode(score: Score, n_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Score -> (score matrix [T, 176] uint8, velocity matrix [T, 88] float32 in 0..1).

    Vectorised: every note is two entries in a difference array, one cumulative sum fills the durations.
    """
    t = score.n_steps if n_steps is None else int(n_steps)
    if t < score.n_steps:
        raise ValueError(f"n_steps={t} is shorter than the score ({score.n_steps} steps)")
    key = score.pitch - LOWEST_KEY
    if len(key) and (key.min() < 0 or key.max() >= N_KEYS):
        raise ValueError("score has notes outside the piano's 88 keys")
    held = np.zeros((t + 1, N_KEYS), dtype=np.int32)
    loud = np.zeros((t + 1, N_KEYS), dtype=np.int32)
    np.add.at(held, (score.onset, key), 1)
    np.add.at(held, (score.offset, key), -1)
    np.add.at(loud, (score.onset, key), score.velocity)
    np.add.at(loud, (score.offset, key), -score.velocity)
    held = np.cumsum(held, axis=0)[:t] > 0
    score_matrix = np.zeros((t, SCORE_COLUMNS), dtype=np.uint8)
    score_matrix[:, 1::2] = held
    score_matrix[score.onset, 2 * key] = 1
    velocity_matrix = np.cumsum(loud, axis=0)[:t].astype(np.float32) / 127.0
    return score_matrix, velocity_matrix


def decode(score_matrix: np.ndarray, velocity_matrix: np.ndarray | None = None,
           steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER) -> Score:
    """(score matrix, velocity matrix) -> Score; the inverse of `encode`.

    A note starts on an onset cell, or on a held cell after silence (tolerating a matrix with a missing
    onset), and lasts while the key stays held and is not struck again.  Its velocity is read at its
    onset step: round(v * 127), clipped to 1..127.  Without a velocity matrix every note gets 64.
    """
    score_matrix = np.asarray(score_matrix)
    if score_matrix.ndim != 2 or score_matrix.shape[1] != SCORE_COLUMNS:
        raise ValueError(f"score matrix must be [T, {SCORE_COLUMNS}], got {list(score_matrix.shape)}")
    t = score_matrix.shape[0]
    struck = score_matrix[:, 0::2].T > 0  # [88, T]
    held = (score_matrix[:, 1::2].T > 0) | struck
    # Pad each key's row with one silent step so runs never join across keys when flattened.
    struck = np.pad(struck, ((0, 0), (0, 1))).ravel()
    held = np.pad(held, ((0, 0), (0, 1))).ravel()
    prev_held = np.concatenate([[False], held[:-1]])
    start = held & (struck | ~prev_held)
    next_start = np.concatenate([start[1:], [False]])
    next_held = np.concatenate([held[1:], [False]])
    end = held & (~next_held | next_start)  # last sounding step of each note
    starts, ends = np.flatnonzero(start), np.flatnonzero(end)
    key, onset = np.divmod(starts, t + 1)
    offset = ends % (t + 1) + 1
    if velocity_matrix is None:
        velocity = np.full(len(key), 64, dtype=np.int64)
    else:
        velocity = velocities_at(velocity_matrix, onset, key)
    return Score(key + LOWEST_KEY, onset, offset, velocity, steps_per_quarter)


def shift_keys(matrix: np.ndarray, semitones: int) -> np.ndarray:
    """A key-major matrix [T, 88 * c] (a score matrix, c = 2; a velocity matrix, c = 1) moved up by
    `semitones` keys (down when negative): keys pushed off the keyboard are dropped, keys coming in empty."""
    matrix = np.asarray(matrix)
    if semitones == 0:
        return matrix.copy()
    if abs(semitones) >= N_KEYS:
        return np.zeros_like(matrix)
    per_key = matrix.shape[1] // N_KEYS
    keyed = matrix.reshape(len(matrix), N_KEYS, per_key)
    moved = np.zeros_like(keyed)
    src = slice(max(0, -semitones), N_KEYS - max(0, semitones))
    dst = slice(max(0, semitones), N_KEYS - max(0, -semitones))
    moved[:, dst] = keyed[:, src]
    return moved.reshape(matrix.shape)


def onset_cells(score_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(step, key) of every struck cell of a score matrix, ordered by step, then key: where each note's
    velocity is read."""
    return np.nonzero(np.asarray(score_matrix)[:, 0::2])


def raw_velocities_at(velocity_matrix: np.ndarray, step, key) -> np.ndarray:
    """Velocities in MIDI units (value * 127, float64, neither rounded nor clipped) at (step, key) cells:
    a model's prediction before it is shaped or written."""
    return np.asarray(velocity_matrix)[step, key].astype(np.float64) * 127.0


def velocities_at(velocity_matrix: np.ndarray, step, key) -> np.ndarray:
    """MIDI velocities (1..127) read from a velocity matrix at (step, key) cells."""
    return np.clip(np.rint(raw_velocities_at(velocity_matrix, step, key)), 1, 127).astype(np.int64)


def quantise(piece: MidiPiece) -> Score:
    """Snap the piece's piano notes to its beat grid (nearest step; see `make_score` for overlaps)."""
    grid = piece.grid
    score = make_score(piece.pitch, grid.seconds_to_steps(piece.start), grid.seconds_to_steps(piece.end),
                       piece.velocity, grid.steps_per_quarter)
    check_length(piece.path, score)  # before anyone allocates a [steps, 176] matrix
    return score


def score_to_midi(score: Score, grid: BeatGrid | None = None, program: int = 0):
    """A one-instrument piano `PrettyMIDI` of a score, timed by `grid` (default: constant 120 qpm)."""
    import pretty_midi

    grid = grid or BeatGrid.constant(steps_per_quarter=score.steps_per_quarter)
    pm = pretty_midi.PrettyMIDI(resolution=grid.ticks_per_quarter, initial_tempo=float(grid.qpm[0]))
    piano = pretty_midi.Instrument(program=program, name="Piano")
    starts, ends = grid.steps_to_seconds(score.onset), grid.steps_to_seconds(score.offset)
    piano.notes = [pretty_midi.Note(int(v), int(p), float(s), float(e))
                   for p, s, e, v in zip(score.pitch, starts, ends, score.velocity)]
    piano.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(piano)
    return pm


def apply_velocities(piece: MidiPiece, velocity_matrix: np.ndarray, strength: float = 1.0) -> bytes:
    """The original file, as SMF bytes, with each piano note's velocity read from `velocity_matrix`.

    Each struck piano key takes the velocity at its own quantised onset step and key, blended with the
    note's own velocity: round(strength * new + (1 - strength) * own), in 1..127 (so strength 0 gives the
    file back, and a player's own accents survive a strength below 1).  Everything else is
    kept event for event: timing, note lengths, other tracks and channels, drums, pedal and other control
    changes, tempo, meter, text.  Works on the raw events rather than pretty_midi's rewrite, which would
    renumber channels and drop events.  The piece is not modified.
    """
    velocities = new_velocities(piece, velocity_matrix, strength)
    tracks = [[(msg.time, msg, new.get(i)) for i, msg in enumerate(track)]
              for track, new in zip(piece.midi.tracks, velocities)]
    return smf_bytes(piece.midi.type, piece.midi.ticks_per_beat, tracks)


def new_velocities(piece: MidiPiece, velocity_matrix: np.ndarray, strength: float = 1.0) -> list[dict]:
    """Per track of the file, {index of a piano note-on event: its new velocity} (see `apply_velocities`)."""
    velocity_matrix = np.asarray(velocity_matrix)
    out = []
    for index, track in enumerate(piece.midi.tracks):
        struck = [i for i, (msg, piano) in enumerate(zip(track, piece.piano_events(index, track)))
                  if piano and msg.type == "note_on" and msg.velocity > 0
                  and LOWEST_KEY <= msg.note <= HIGHEST_KEY]
        new_velocity = {}
        if struck and len(velocity_matrix):
            ticks = np.fromiter((track[i].time for i in struck), dtype=np.int64, count=len(struck))
            keys = np.fromiter((track[i].note for i in struck), dtype=np.int64, count=len(struck)) - LOWEST_KEY
            own = np.fromiter((track[i].velocity for i in struck), dtype=np.float64, count=len(struck))
            if piece.file_grid is not None:  # read on other beats than the file's: via the note's time
                ticks = piece.grid.seconds_to_ticks(piece.file_grid.ticks_to_seconds(ticks))
            steps = np.minimum(piece.grid.ticks_to_steps(ticks), len(velocity_matrix) - 1)
            predicted = raw_velocities_at(velocity_matrix, steps, keys)
            blended = np.clip(np.rint(strength * predicted + (1.0 - strength) * own), 1, 127).astype(np.int64)
            new_velocity = dict(zip(struck, blended.tolist()))
        out.append(new_velocity)
    return out
