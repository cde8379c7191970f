"""Excerpts of piano pieces for listening tests: where to cut, and the cut.

A clip is the window [start, end) of a piece, both ends at note onsets, so no attack is ever cut:

* `start` is an onset: the first note of a chord (onsets closer than `CHORD_GAP` are one attack), and where
  possible a "clean" one, where no earlier note is still held (`LEGATO` of overlap is allowed);
* `end` is the first such onset at least `seconds` after `start` (the next attack after the excerpt), or the
  end of the piece;
* the clip holds exactly the notes struck inside the window, each from its attack; a note still held at
  `end` is released there.  No note struck before `start` is heard.  The sustain, sostenuto and soft pedals
  start in the state they had at `start` and are lifted at `end`.

Times in the clip count from `start`; the clip's MIDI is one piano part (General MIDI program 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHORD_GAP = 0.05  # seconds: onsets closer than this are one attack (a chord as a human plays it)
LEGATO = 0.1  # seconds an earlier note may still sound at a clean boundary
PEDALS = (64, 66, 67)  # sustain, sostenuto, soft: lifted at the clip's end


@dataclass(frozen=True)
class Window:
    start: float  # seconds, a note onset
    end: float  # seconds: the first onset after the excerpt (left out), or the end of the piece

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Notes:
    """Piano notes (seconds) and the piano's control changes [(time, number, value)]."""

    pitch: np.ndarray
    start: np.ndarray
    end: np.ndarray
    velocity: np.ndarray
    controls: list = None

    def __post_init__(self):
        self.pitch = np.asarray(self.pitch, np.int64)
        self.start = np.asarray(self.start, np.float64)
        self.end = np.asarray(self.end, np.float64)
        self.velocity = np.asarray(self.velocity, np.int64)
        self.controls = list(self.controls or [])

    def __len__(self) -> int:
        return len(self.pitch)

    def with_velocity(self, velocity) -> "Notes":
        velocity = np.clip(np.rint(np.asarray(velocity, np.float64)), 1, 127).astype(np.int64)
        if velocity.shape != self.pitch.shape:
            velocity = np.broadcast_to(velocity, self.pitch.shape).copy()
        return Notes(self.pitch, self.start, self.end, velocity, self.controls)


def piece_notes(piece) -> Notes:
    """A `midifile.MidiPiece`'s piano notes and the control changes of its piano instruments."""
    controls = sorted((float(c.time), int(c.number), int(c.value)) for inst in piece.pm.instruments
                      if not inst.is_drum and inst.program in piece.programs for c in inst.control_changes)
    return Notes(piece.pitch, piece.start, piece.end, piece.velocity, controls)


def attack_boundaries(start: np.ndarray) -> np.ndarray:
    """The first onset of every attack (onsets within CHORD_GAP of the one before belong to it), sorted."""
    onsets = np.sort(np.asarray(start, np.float64))
    if not len(onsets):
        return onsets
    first = np.concatenate([[True], np.diff(onsets) > CHORD_GAP])
    return onsets[first]


def clean(boundaries: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For each boundary: is no note struck before it still held more than LEGATO past it?"""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    out = np.empty(len(boundaries), bool)
    for i, t in enumerate(boundaries):
        out[i] = not np.any((start < t - 1e-9) & (end > t + LEGATO))
    return out


def choose_window(notes: Notes, seconds: float, rng: np.random.Generator) -> Window:
    """A window of about `seconds` (see the module's docstring), its start drawn by `rng` among the clean
    boundaries that leave room for it (any boundary if none is clean; the whole piece if it is shorter)."""
    if not len(notes):
        raise ValueError("no notes to cut an excerpt from")
    bounds = attack_boundaries(notes.start)
    is_clean = clean(bounds, notes.start, notes.end)
    piece_end = float(notes.end.max())
    room = bounds + seconds <= piece_end + 1e-9
    candidates = np.flatnonzero(room & is_clean)
    if not len(candidates):
        candidates = np.flatnonzero(room)
    if not len(candidates):
        return Window(float(bounds[0]), piece_end)
    start = float(bounds[candidates[rng.integers(len(candidates))]])
    return Window(start, end_boundary(bounds, is_clean, start, seconds, piece_end))


def end_boundary(bounds, is_clean, start: float, seconds: float, piece_end: float) -> float:
    """The first clean boundary in [start + seconds, start + 1.5 * seconds], else the first boundary after
    start + seconds, else the end of the piece."""
    after = np.flatnonzero(bounds >= start + seconds - 1e-9)
    if not len(after):
        return piece_end
    near_clean = [i for i in after if is_clean[i] and bounds[i] <= start + 1.5 * seconds]
    return float(bounds[near_clean[0] if near_clean else after[0]])


def cut(notes: Notes, window: Window) -> Notes:
    """The notes struck in [window.start, window.end), from their attack; held notes released at the end.
    Times shifted so the window starts at 0."""
    keep = (notes.start >= window.start - 1e-9) & (notes.start < window.end - 1e-9)
    start = notes.start[keep] - window.start
    end = np.minimum(notes.end[keep], window.end) - window.start
    end = np.maximum(end, start + 1e-3)
    length = window.end - window.start
    controls, state = [], {}
    for time, number, value in notes.controls:
        if time <= window.start + 1e-9:
            state[number] = value  # the state each controller is in when the clip starts
        elif time < window.end:
            controls.append((time - window.start, number, value))
    controls = [(0.0, number, value) for number, value in sorted(state.items())] + controls
    controls += [(length, number, 0) for number in PEDALS if any(c[1] == number for c in controls)]
    order = np.lexsort((notes.pitch[keep], start))
    return Notes(notes.pitch[keep][order], start[order], end[order], notes.velocity[keep][order], controls)


def clip_midi(clip: Notes) -> bytes:
    """One piano part (program 1, channel 1) as SMF bytes."""
    import pretty_midi

    from stylenet.core.smf import midi_bytes

    pm = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = [pretty_midi.Note(int(v), int(p), float(s), float(e))
                   for p, s, e, v in zip(clip.pitch, clip.start, clip.end, clip.velocity)]
    piano.control_changes = [pretty_midi.ControlChange(int(n), int(v), float(t)) for t, n, v in clip.controls]
    pm.instruments.append(piano)
    return midi_bytes(pm)
