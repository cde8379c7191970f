"""How `perform` turns a piece's raw predicted velocities into what it writes (and `evaluate` scores).

Shaping, in this order, over the notes of one piece (MIDI units):
  contrast  MSE-trained models squeeze the dynamic range.  `auto` (default) stretches the predictions around
            their mean so their spread (standard deviation) matches the genre's typical spread within a
            human-played piece, measured on the training data and stored with the model (the stretch is
            capped at 4x); a model trained with a spread term (train.spread_weight) needs less of it.
            A number multiplies the spread; 1 = the raw model output.
  level     where the piece sits overall: a dynamic marking (ppp pp p mp mf f ff fff), a MIDI mean velocity,
            `input` (the input file's own mean), `genre` (the genre's typical level: the mean velocity of
            its human-played training pieces) or `model` (the level the model predicts for this score).
  strength  0..1, blend with the input's own velocities per note (1 = all model, 0 = the input unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DYNAMICS = {"ppp": 16, "pp": 33, "p": 49, "mp": 64, "mf": 80, "f": 96, "ff": 112, "fff": 127}
MAX_CONTRAST = 4.0
LEVELS = ("input", "genre", "model")
DEFAULT_LEVEL = "model"


@dataclass(frozen=True)
class Shaping:
    level: str | float = DEFAULT_LEVEL
    contrast: str | float = "auto"
    strength: float = 1.0


def parse_level(text: str):
    if text in DYNAMICS or text in LEVELS:
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 127:
        raise ValueError(f"level must be a dynamic ({' '.join(DYNAMICS)}), {', '.join(LEVELS)}, or a velocity "
                         f"1..127, got {text!r}")
    return value


def parse_contrast(text: str):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"contrast must be 'auto' or a number >= 0 (1 = raw model output), got {text!r}")
    return value


def shape(predicted: np.ndarray, own: np.ndarray, shaping: Shaping, stats: dict | None = None) -> np.ndarray:
    """Per-note predicted velocities (MIDI units) -> shaped velocities, before the strength blend.

    `stats` are the genre's human statistics stored with the model (piece_std: the typical spread within
    a piece; mean: the typical level).
    """
    predicted = np.asarray(predicted, np.float64)
    stats = stats or {}
    if len(predicted) == 0:
        return predicted
    mean = predicted.mean()
    if shaping.contrast == "auto":
        spread, human_spread = predicted.std(), stats.get("piece_std")
        factor = min(human_spread / spread, MAX_CONTRAST) if human_spread and spread > 1e-6 else 1.0
    else:
        factor = float(shaping.contrast)
    shaped = mean + (predicted - mean) * factor
    if shaping.level in (None, "model"):
        target = mean
    elif shaping.level == "genre":
        target = float(stats.get("mean", mean))
    elif shaping.level == "input":
        target = float(np.mean(own))
    elif shaping.level in DYNAMICS:
        target = DYNAMICS[shaping.level]
    else:
        target = float(shaping.level)
    return shaped - mean + target
