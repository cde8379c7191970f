"""A played piece's notes as a listener groups them: in order of onset, in chords (onsets within 35 ms sound
as one), with the sustain pedal's presses and lifts -- and the per-note features the note networks read
(the beat tracker, the touch network)."""

from __future__ import annotations

import numpy as np

from stylenet.core.midifile import MidiPiece

CHORD_SECONDS = 0.035  # onsets closer than this to the first of a group sound as one (a spread chord)


NOTE_SCALARS = ("pitch", "velocity", "duration", "gap_before", "gap_after", "group_gap_before",
                "group_gap_after", "group_size", "lowest", "highest", "pedal")


N_NOTE_FEATURES = len(NOTE_SCALARS) + 12  # the scalars, then the note's pitch class (one-hot, C first)


def pedal_times(piece: MidiPiece) -> tuple[np.ndarray, np.ndarray]:
    """(down, up) times in seconds of the sustain pedal (CC 64) of the piano parts."""
    down, up = [], []
    pm = getattr(piece, "pm", None)
    for inst in getattr(pm, "instruments", ()) or ():
        if inst.is_drum or inst.program not in piece.programs:
            continue
        pressed = False
        for cc in sorted((c for c in inst.control_changes if c.number == 64), key=lambda c: c.time):
            now = cc.value >= 64
            if now != pressed:
                (down if now else up).append(cc.time)
                pressed = now
    return np.sort(np.array(down, np.float64)), np.sort(np.array(up, np.float64))


def has_pedal(piece: MidiPiece) -> bool:
    """Whether the piano parts have any sustain pedal (CC 64) event: a file without one cannot tell a
    pedalled passage from an unpedalled one."""
    pm = getattr(piece, "pm", None)
    return any(c.number == 64 for inst in getattr(pm, "instruments", ()) or ()
               if not inst.is_drum and inst.program in piece.programs for c in inst.control_changes)


def note_order(pitch, start) -> np.ndarray:
    """The order the note network reads notes in: by onset, then from the lowest key up."""
    return np.lexsort((np.asarray(pitch), np.asarray(start)))


def _log_seconds(seconds) -> np.ndarray:
    """log2 of a time span, clipped to 5 ms..8 s and scaled to about -1..0.5."""
    return (np.log2(np.clip(np.asarray(seconds, np.float64), 0.005, 8.0)) / 8.0).astype(np.float32)


def note_groups(start) -> np.ndarray:
    """Group index of each note (onsets sorted): a new group starts more than CHORD_SECONDS after the
    first onset of the current one."""
    start = np.asarray(start, np.float64)
    group = np.zeros(len(start), np.int64)
    first = start[0] if len(start) else 0.0
    g = 0
    for i in range(1, len(start)):
        if start[i] - first > CHORD_SECONDS:
            g += 1
            first = start[i]
        group[i] = g
    return group


def chords(pitch, start) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The chords of notes sorted by onset (`note_groups`): (each note's group, each group's first note's
    index, each group's size, top key and bottom key)."""
    pitch = np.asarray(pitch)
    group = note_groups(start)
    firsts = np.concatenate([[0], np.flatnonzero(np.diff(group)) + 1])
    size = np.bincount(group)
    top = np.full(len(size), pitch.min(), pitch.dtype)
    bottom = np.full(len(size), pitch.max(), pitch.dtype)
    np.maximum.at(top, group, pitch)
    np.minimum.at(bottom, group, pitch)
    return group, firsts, size, top, bottom


def last_before(times, at) -> np.ndarray:
    """The latest of `times` at or just before (1 ms after) each of `at`; -inf where there is none."""
    times = np.sort(np.asarray(times, np.float64))
    i = np.searchsorted(times, np.asarray(at) + 1e-3, side="right") - 1
    return np.where(i >= 0, times[np.maximum(i, 0)] if len(times) else -np.inf, -np.inf)


def note_features(pitch, start, end, velocity, pedal_down=(), pedal_up=()) -> np.ndarray:
    """[N, N_NOTE_FEATURES] float32, one row per note in the given order (sorted by `note_order`).

    pitch       (key - A0) / 87            velocity     velocity / 127
    duration    how long it is held        gap_before / gap_after   to the previous / next note's onset
    group_*     the same for the group of notes struck together (a chord), and log2 of its size
    lowest / highest   the note is the group's bass / top note     pedal   sustain pedal down when struck
    (times as log2 seconds, `_log_seconds`), then its pitch class one-hot.  What marks a beat: long gaps
    after it, bass notes, loud and full chords, a harmony or pedal change.
    """
    pitch = np.asarray(pitch, np.int64)
    start = np.asarray(start, np.float64)
    end = np.asarray(end, np.float64)
    n = len(pitch)
    out = np.zeros((n, N_NOTE_FEATURES), np.float32)
    if n == 0:
        return out
    out[:, 0] = (np.clip(pitch, 21, 108) - 21) / 87.0
    out[:, 1] = np.asarray(velocity, np.float64) / 127.0
    out[:, 2] = _log_seconds(end - start)
    gaps = np.diff(start)
    out[:, 3] = _log_seconds(np.concatenate([[8.0], gaps]))
    out[:, 4] = _log_seconds(np.concatenate([gaps, [8.0]]))
    group, firsts, size, high, low = chords(pitch, start)
    group_gaps = np.diff(start[firsts])  # between each group's first onsets
    out[:, 5] = _log_seconds(np.concatenate([[8.0], group_gaps]))[group]
    out[:, 6] = _log_seconds(np.concatenate([group_gaps, [8.0]]))[group]
    out[:, 7] = np.log2(size[group]) / 3.0
    out[:, 8] = pitch == low[group]
    out[:, 9] = pitch == high[group]
    out[:, 10] = last_before(pedal_down, start) > last_before(pedal_up, start)
    out[np.arange(n), len(NOTE_SCALARS) + pitch % 12] = 1.0
    return out
