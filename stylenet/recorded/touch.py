"""Touch: the loudness a recorded pianist's timing gives away.

    touch_features(pitch, start, end, pedal_down, pedal_up) -> [N, len(FEATURES)]   notes in note order
    TouchNet.load(path)(features)                            -> [N] velocity above the piece's mean
    score_deviations(piece, score, net)                      -> one deviation per note of the quantised score
    calibration_for(net, genre, performer)                   -> how `perform` adds it to that model's prediction

A score has no timing of its own, but a *recording* does, and a pianist's timing and loudness are one
gesture.  A louder key is struck faster, so its hammer reaches the string sooner: the note a pianist brings
out of a chord sounds 10-30 ms before the others (the "melody lead", Goebl, JASA 2001, shows it is mostly
this velocity artefact).  Climaxes broaden the tempo; quiet passages are played more legato, and with the
pedal; the top voice is carried over the accompaniment; a thick chord in the bass is rarely soft.  All of
that survives when a recording's velocities are flattened, and StyleNet, which reads a quantised score,
throws it away.

TouchNet reads it back.  For every note (in `notes.note_order`) it reads FEATURES -- the key, how far
it sounds before its chord's first and mean onset, its place in the chord, how long it is held against the
gap to the next chord, the gaps around it, how dense and how fast the music around it is, where it sits
against the keys sounding in the second around it, the pedal, where in the piece it is -- through a dense
layer and two bidirectional LSTMs, and predicts how much louder or softer than the piece's mean the
pianist played it.  It was trained on ASAP's recorded concert performances (`stylenet train-touch`), on
the works the velocity model trains on, and chosen on the works it holds out.

`perform` adds `weight` times this deviation (centred on the piece's notes) to StyleNet's prediction for a
file that looks recorded (`grid.looks_recorded`; `--touch auto`, the default), then shapes the sum with
the touch file's own contrast factor.  Both were chosen on the validation works for one StyleNet model,
whose fingerprint the calibration keeps: with another model the touch is left out (`auto`) or refused
(`on`) until `stylenet train-touch --calibrate-only --out TOUCH.npz` has calibrated it.  A sequenced file has no such
timing (every chord struck at once, every note on its tick): the network would read a pianist who does not
exist, so `auto` leaves it out.
"""

from __future__ import annotations

import json

import numpy as np

from stylenet.core import notes
from stylenet.core.codec import Score
from stylenet.core.errors import FileError
from stylenet.core.fileio import PRETRAINED
from stylenet.core.midifile import LOWEST_KEY, MidiPiece
from stylenet.nn import note_network

SHIPPED_TOUCH = PRETRAINED / "touch.npz"
SCALE = 20.0  # velocity units of one output unit (a piece's velocities spread about 15-20 around its mean)


FEATURES = ("key", "lead", "lag", "top", "bottom", "rank", "chord_size", "duration", "gap_before", "gap_after",
            "articulation", "density", "tempo", "above_mean", "below_top", "above_bottom", "pedal", "position")


LEAD_SECONDS = 0.06  # the latest a chord note is read as led by another (melody lead is 10-30 ms)


def _log2_seconds(seconds) -> np.ndarray:
    return np.log2(np.clip(np.asarray(seconds, np.float64), 0.01, 8.0))


def _window(times: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """For each time, the slice [lo, hi) of the sorted `times` within `half` seconds of it."""
    return np.searchsorted(times, times - half, side="left"), np.searchsorted(times, times + half, side="right")


def _window_reduce(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, reduce) -> np.ndarray:
    return np.array([reduce(values[a:b]) for a, b in zip(lo, hi)], np.float64)


def touch_features(pitch, start, end, pedal_down=(), pedal_up=()) -> np.ndarray:
    """[N, len(FEATURES)] float32 for notes sorted by `notes.note_order` (seconds; no velocity: that is
    what is predicted).  Chords are `notes.note_groups` (onsets within 35 ms sound as one)."""
    pitch = np.asarray(pitch, np.float64)
    start = np.asarray(start, np.float64)
    end = np.asarray(end, np.float64)
    n = len(pitch)
    if n == 0:
        return np.zeros((0, len(FEATURES)), np.float32)
    group, firsts, size, top, bottom = notes.chords(pitch, start)
    chord_start = start[firsts]
    lead = start - chord_start[group]
    lag = start - (np.bincount(group, start) / size)[group]
    by_height = np.lexsort((-pitch, group))  # within each chord, from the top key down
    rank = np.empty(n)
    rank[by_height] = np.arange(n) - np.repeat(firsts, size)
    rank /= np.maximum(size[group] - 1, 1)
    gaps = np.diff(chord_start)
    before = np.concatenate([[4.0], gaps])[group]
    after = np.concatenate([gaps, [4.0]])[group]
    duration = end - start
    lo, hi = _window(chord_start, 1.0)
    density = np.log2(1 + (hi - lo))[group]  # chords struck within a second either side
    lo, hi = _window(chord_start, 3.0)
    usual_gap = _window_reduce(np.concatenate([gaps, [gaps[-1] if len(gaps) else 1.0]]), lo, hi, np.median)[group]
    lo, hi = _window(start, 1.0)
    sums = np.concatenate([[0.0], np.cumsum(pitch)])
    local_mean = (sums[hi] - sums[lo]) / (hi - lo)
    lo, hi = _window(start, 0.5)
    local_top = _window_reduce(pitch, lo, hi, np.max)
    local_bottom = _window_reduce(pitch, lo, hi, np.min)
    down, up = notes.last_before(pedal_down, start), notes.last_before(pedal_up, start)
    features = np.stack([
        (pitch - 21) / 87, np.clip(lead, 0, LEAD_SECONDS) / LEAD_SECONDS, np.clip(lag, -0.04, 0.04) / 0.04,
        pitch == top[group], pitch == bottom[group], rank, np.log2(size[group]) / 3,
        _log2_seconds(duration) / 4, _log2_seconds(before) / 4, _log2_seconds(after) / 4,
        np.clip(_log2_seconds(duration) - _log2_seconds(after), -4, 4) / 4, density / 4,
        np.clip(_log2_seconds(after) - _log2_seconds(usual_gap), -3, 3) / 3,
        (pitch - local_mean) / 24, (pitch - local_top) / 24, (pitch - local_bottom) / 24,
        down > up, start / max(start[-1], 1.0)], axis=1)
    return features.astype(np.float32)


class TouchNet(note_network.NoteNetwork):
    """The touch network (`note_network.NoteNetwork` with one linear output): FEATURES of notes in note order ->
    each note's velocity above the piece's mean (MIDI units).  `calibration` (from the file's `info`): per
    genre, the `weight` of the deviation added to StyleNet's prediction, the `contrast` factor that then
    shapes the sum, and the `fingerprint` of the StyleNet model they were chosen for."""

    KIND = "touch"
    NAME = "touch network"
    ERROR = FileError

    def __init__(self, arrays: dict):
        super().__init__(arrays)
        try:
            info = json.loads(self.info)
        except json.JSONDecodeError:
            raise ValueError("its info header is not JSON") from None
        calibration = info.get("calibration", {}) if isinstance(info, dict) else None
        if not isinstance(calibration, dict) or not all(
                isinstance(c, dict) and all(isinstance(c.get(k), (int, float)) for k in ("weight", "contrast"))
                for c in calibration.values()):
            raise ValueError("its calibration lacks a numeric weight and contrast per genre")
        self.calibration = calibration
        if "output" not in self.dense or self.dense["input"][0].shape[0] != len(FEATURES):
            raise ValueError(f"not a network over the {len(FEATURES)} touch features with an output layer")

    def __call__(self, features: np.ndarray) -> np.ndarray:
        kernel, bias = self.dense["output"]
        return (self.trunk(features) @ kernel + bias)[:, 0] * SCALE


def calibration_for(net: TouchNet, genre: str, performer) -> tuple[dict | None, str]:
    """(the calibration `perform` applies for `genre` with `performer`, "") or (None, why there is none)."""
    calibration = net.calibration.get(genre)
    if calibration is None:
        return None, f"the touch network is calibrated for {', '.join(net.calibration) or 'no genre'}, not {genre!r}"
    if calibration.get("fingerprint") != performer.fingerprint():
        return None, ("the touch network was calibrated for another StyleNet model (calibrate it for this one: "
                      "`stylenet train-touch --calibrate-only --asap ASAP_DIR --model MODEL --out TOUCH.npz`, "
                      "then --touch-model TOUCH.npz)")
    return calibration, ""


def note_deviations(piece: MidiPiece, net: TouchNet) -> np.ndarray:
    """Each piano note's predicted velocity above the piece's mean, in the piece's own note order; centred
    on 0, so that the touch shapes the piece and StyleNet alone sets its level."""
    order = notes.note_order(piece.pitch, piece.start)
    features = touch_features(piece.pitch[order], piece.start[order], piece.end[order], *notes.pedal_times(piece))
    deviation = np.empty(piece.n_notes)
    deviation[order] = net(features)
    return deviation - deviation.mean() if len(deviation) else deviation


def deviations_at(piece: MidiPiece, step, key, net: TouchNet) -> np.ndarray:
    """The deviation at each (step, key) cell of the piece quantised on its grid (`codec.quantise`, or
    `codec.onset_cells` of its score matrix): the mean of those of the piece's notes struck there (a key
    struck twice within a step is one note of the score); 0 where none is."""
    step, key = np.asarray(step, np.int64), np.asarray(key, np.int64)
    if piece.n_notes == 0:
        return np.zeros(len(step))
    deviation = note_deviations(piece, net)
    cell = piece.grid.seconds_to_steps(piece.start).astype(np.int64) * 88 + (piece.pitch - LOWEST_KEY)
    cells, index = np.unique(cell, return_inverse=True)
    mean = np.bincount(index, deviation) / np.bincount(index)
    wanted = step * 88 + key
    at = np.clip(np.searchsorted(cells, wanted), 0, len(cells) - 1)
    return np.where(cells[at] == wanted, mean[at], 0.0)


def score_deviations(piece: MidiPiece, score: Score, net: TouchNet) -> np.ndarray:
    """One deviation per note of `score` (= `codec.quantise(piece)`), in its order."""
    return deviations_at(piece, score.onset, score.pitch - LOWEST_KEY, net)


_SHIPPED = None


def shipped_touch() -> TouchNet | None:
    """The shipped touch network (loaded once), None where the package has none."""
    global _SHIPPED
    if not SHIPPED_TOUCH.exists():
        return None
    if _SHIPPED is None:
        _SHIPPED = TouchNet.load(SHIPPED_TOUCH)
    return _SHIPPED
