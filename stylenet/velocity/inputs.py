"""What StyleNet reads at each step: the score matrix's 176 columns, and the optional channels a config can
add after them -- where the step sits in its beat and bar (`metre`) and, computed inside the network, each
key's place in its chord (`voice`); and the score read transposed (`shift_input`) for the readings."""

from __future__ import annotations

import numpy as np

from stylenet.core.codec import SCORE_COLUMNS, shift_keys
from stylenet.core.midifile import DEFAULT_STEPS_PER_QUARTER, N_KEYS, meter_steps


def shift_input(data: np.ndarray, semitones: int) -> np.ndarray:
    """A network input [T, columns] (`encode_input`) with its score columns moved by `semitones` keys
    (`shift_keys`); the optional channels after them (metre) belong to no key and stay."""
    return np.concatenate([shift_keys(data[:, :SCORE_COLUMNS], semitones), data[:, SCORE_COLUMNS:]], axis=1)


METRE_CHANNELS = ("downbeat", "beat", "subbeat", "bar_sin", "bar_cos")


def metre_features(meters: np.ndarray, n_steps: int, steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER) -> np.ndarray:
    """[T, 5] float32 channels saying where each grid step sits in the metre (the metrical grid of
    Lerdahl & Jackendoff, cut to the levels a 1/16 grid resolves).

    `meters` is the meter map [(step, numerator, denominator)] sorted by step (see `MidiPiece.meter_map`);
    each meter starts a bar at its step and lasts until the next.  Before the first one, and without any,
    MIDI's default 4/4 holds from step 0.  Channels:

      downbeat   1 on the first step of a bar
      beat       1 on a beat (the downbeat included)
      subbeat    1 on a half beat (a third of a beat in compound meters), beats included
      bar_sin    sin and cos of the position in the bar as an angle, so the network can tell the second
      bar_cos    beat of a 4/4 bar from the fourth, which the flags alone cannot

    Accents follow this grid (strong beats are played louder), but the 176 score columns do not carry it.
    Positions falling between grid steps (a 3/16 bar on an eighth grid) count as on a beat only where a
    step lands within 1e-6 of it.
    """
    meters = np.asarray(meters, dtype=np.int64).reshape(-1, 3)
    if len(meters) == 0 or meters[0, 0] > 0:
        meters = np.concatenate([[[0, 4, 4]], meters])
    out = np.zeros((int(n_steps), len(METRE_CHANNELS)), np.float32)
    starts = np.concatenate([meters[:, 0], [max(int(n_steps), int(meters[-1, 0]) + 1)]])
    for (start, numerator, denominator), end in zip(meters, starts[1:]):
        lo, hi = max(int(start), 0), min(int(end), int(n_steps))
        if hi <= lo:
            continue
        bar, beat, sub = meter_steps(int(numerator), int(denominator), steps_per_quarter)
        position = np.arange(lo - start, hi - start, dtype=np.float64) % bar

        def on(length):
            phase = position % length
            return (np.minimum(phase, length - phase) < 1e-6).astype(np.float32)

        angle = 2 * np.pi * position / bar
        out[lo:hi] = np.stack([on(bar), on(beat), on(sub), np.sin(angle), np.cos(angle)], axis=1)
    return out


OPTIONAL_INPUTS = {"metre": METRE_CHANNELS}  # input name -> its channels, after the 176 score columns


def voice_channels(score_matrix: np.ndarray) -> np.ndarray:
    """[T, 176] float32: the highest sounding key of each step (88 columns), then the lowest (88).

    Pianists voice a chord: the top line (usually the melody) is played louder than the inner notes, the
    bass a little louder too (Goebl 2001: melody lead).  An LSTM reading 176 binary columns has to learn
    "no higher key is down" on its own; these flags say it directly.  A step with one sounding key marks it
    as both.  Computed by the network from the (possibly transposed) score columns, so the flags always
    follow the keys they describe.
    """
    held = np.asarray(score_matrix)[:, 1:SCORE_COLUMNS:2] > 0
    at_or_above = np.cumsum(held[:, ::-1], axis=1)[:, ::-1]
    at_or_below = np.cumsum(held, axis=1)
    return np.concatenate([held & (at_or_above == 1), held & (at_or_below == 1)], axis=1).astype(np.float32)


DERIVED_INPUTS = {"voice": 2 * N_KEYS}  # input name -> its width, computed by the network from the score columns
KNOWN_INPUTS = (*OPTIONAL_INPUTS, *DERIVED_INPUTS)


def input_columns(inputs=()) -> int:
    """Width of the data a model reads (`encode_input`): the 176 score columns, then each optional input's
    channels.  Derived inputs (`voice`) are not in the data: see `network_columns`."""
    return SCORE_COLUMNS + sum(len(OPTIONAL_INPUTS[name]) for name in inputs if name in OPTIONAL_INPUTS)


def network_columns(inputs=()) -> int:
    """Width of what the first LSTM reads: the data, then the derived inputs the network computes from it."""
    return input_columns(inputs) + sum(DERIVED_INPUTS[name] for name in inputs if name in DERIVED_INPUTS)


def with_derived(x: np.ndarray, inputs=()) -> np.ndarray:
    """The data [T, input_columns] with the derived inputs appended: what the first LSTM reads (NumPy)."""
    if "voice" not in inputs:
        return x
    return np.concatenate([x, voice_channels(x[:, :SCORE_COLUMNS])], axis=1)


def input_channels(meters, n_steps: int, inputs=(), steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER
                   ) -> np.ndarray | None:
    """The optional input channels [T, F] float32 of a model's layout `inputs` (None when it has none)."""
    parts = []
    for name in inputs:
        if name in DERIVED_INPUTS:
            continue  # the network computes it
        if name not in OPTIONAL_INPUTS:
            raise ValueError(f"unknown model input {name!r}")
        parts.append(metre_features(np.zeros((0, 3)) if meters is None else meters, n_steps, steps_per_quarter))
    return np.concatenate(parts, axis=1) if parts else None


def encode_input(score_matrix: np.ndarray, meters=None, inputs=(), steps_per_quarter: int = DEFAULT_STEPS_PER_QUARTER
                 ) -> np.ndarray:
    """The network's input [T, input_columns(inputs)] float32: the score matrix, then optional channels.

    `inputs` is the model's recorded layout (e.g. ["metre"]); training, evaluation and `perform` all
    build their input from `input_channels`, so a model always reads what it was trained on.
    """
    score = np.asarray(score_matrix, np.float32)
    extra = input_channels(meters, len(score), inputs, steps_per_quarter)
    return score if extra is None else np.concatenate([score, extra], axis=1)
