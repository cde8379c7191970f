"""How `perform` turns a piece's raw predicted velocities into what it writes (and `evaluate` scores).

Shaping, in this order, over the notes of one piece (MIDI units):
  contrast  MSE-trained models squeeze the dynamic range.  `auto` (default) multiplies every piece's
            deviations from its mean by the genre's contrast factor, stored with the model: the one stretch
            that brings the spread (standard deviation) of the model's velocities over its validation pieces
            to AUTO_SPREAD of the human one (`contrast_factor`, run by the export).  One factor per genre,
            not one per piece, so a quiet nocturne stays calmer than a march, as the model predicts.  Why
            0.9 and not 1: with a correlation r to the human velocities and a spread s times theirs, the
            squared error is sigma^2 (1 + s^2 - 2 s r), least at s = r (~0.5), so every step towards the
            human spread costs accuracy; 0.9 stays inside the 0.8-1.2 that still sounds human (issue 9's
            goal) with room for a test set to differ from validation.  The 0.9 holds at `level model`;
            a fixed level removes the model's piece-to-piece differences in loudness, and some spread.
            A model without a factor (a file made before factors existed, or a run still training)
            stretches each piece to the genre's typical spread within a human-played piece, as older
            files did (capped at 4x).  A number multiplies the spread; 1 = the raw model output.
            For a score that gets timing too, `auto` goes one step further in the play step: after the
            expression network's velocity is blended in, the departures are widened to the pianists'
            own spread on validation pieces (expression/network.py `widen`; a number is kept as asked).
  level     where the piece sits overall: a dynamic marking (ppp pp p mp mf f ff fff), a MIDI mean velocity,
            `input` (the input file's own mean), `genre` (the genre's typical level: the mean velocity of
            its human-played training pieces), `model` (the level the model predicts for this score), or
            `auto` (`perform`'s default): `input` for a piano mixed with other instruments -- its level
            against them is the mix's balance, which only the file knows -- and `model` for a piano alone
            (`level_for`; docs/usage.md "Level" has the measurements behind the rule).
  strength  0..1, blend with the input's own velocities per note (1 = all model, 0 = the input unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

DYNAMICS = {"ppp": 16, "pp": 33, "p": 49, "mp": 64, "mf": 80, "f": 96, "ff": 112, "fff": 127}
MAX_CONTRAST = 4.0
AUTO_SPREAD = 0.9  # `auto`'s spread, a fraction of the human one (see the module docstring)
LEVELS = ("input", "genre", "model", "auto")
DEFAULT_LEVEL = "model"  # a piano alone (what `evaluate` scores); `perform` asks for `auto`


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


def level_for(shaping: Shaping, piece) -> Shaping:
    """`auto` resolved for one file (`midifile.MidiPiece`): `input` when its piano plays beside other
    instruments, `model` when it plays alone; any other level as given."""
    if shaping.level != "auto":
        return shaping
    return replace(shaping, level="input" if piece.other_instruments else "model")


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

    `stats` are the genre's statistics stored with the model (contrast: `auto`'s factor; piece_std: the
    typical human spread within a piece, for files without a factor; mean: the typical human level).
    """
    predicted = np.asarray(predicted, np.float64)
    stats = stats or {}
    if len(predicted) == 0:
        return predicted
    mean = predicted.mean()
    if shaping.contrast == "auto" and "contrast" in stats:
        factor = float(stats["contrast"])
    elif shaping.contrast == "auto":
        spread, human_spread = predicted.std(), stats.get("piece_std")
        factor = min(human_spread / spread, MAX_CONTRAST) if human_spread and spread > 1e-6 else 1.0
    else:
        factor = float(shaping.contrast)
    shaped = mean + (predicted - mean) * factor
    if shaping.level in (None, "model", "auto"):  # `auto` is resolved per file (`level_for`); alone, it is model
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


def contrast_factor(predicted: list[np.ndarray], truth: list[np.ndarray], target: float = AUTO_SPREAD,
                    low: float = 1 / MAX_CONTRAST, high: float = MAX_CONTRAST) -> float:
    """`auto`'s factor for one genre: the stretch c (`low`..`high`) of each piece's predicted velocities around the
    piece's mean after which the spread of all the notes together is `target` times the human spread.

    `predicted`, `truth`: per piece, the raw predicted and the human velocities of its notes (MIDI units).
    Without clipping the spread grows with c (the pieces' means stay put), so bisection finds it; the
    clipping to 1..127 that `perform` applies is included, and only bends that where many notes clip.
    """
    if not predicted:
        return 1.0
    truth_spread = np.concatenate(truth).std()
    if truth_spread == 0:
        return 1.0
    centred = [(np.mean(p), np.asarray(p, np.float64) - np.mean(p)) for p in predicted]

    def spread(c: float) -> float:
        return np.concatenate([np.clip(m + d * c, 1, 127) for m, d in centred]).std() / truth_spread

    if spread(high) <= target:
        return high
    if spread(low) >= target:
        return low
    for _ in range(30):  # to ~1e-8 of the range
        middle = (low + high) / 2
        low, high = (middle, high) if spread(middle) < target else (low, middle)
    return round((low + high) / 2, 4)


def blend(predicted: np.ndarray, deviation: np.ndarray, calibration: dict, stats: dict | None):
    """(StyleNet's raw velocities + weight * touch deviations, the genre's statistics with the contrast
    factor that shapes that sum): what `shape` is then given, in `perform` and `evaluate` alike."""
    stats = dict(stats or {}, contrast=float(calibration["contrast"]))
    return np.asarray(predicted, np.float64) + float(calibration["weight"]) * np.asarray(deviation), stats


def shaped_velocities(raw: np.ndarray, own: np.ndarray, shaping: Shaping, stats: dict | None,
                      touch: tuple | None = None) -> np.ndarray:
    """Predict, add touch, shape -- the velocity half of the play step (play/step.py), as `evaluate`
    scores it too: the model's `raw` velocities for the notes of one piece, with a recording's touch
    deviations added (`touch` = (deviations, calibration): recorded/touch.py), shaped to a level and a
    spread (`own`: the file's own velocities, for `--level input`)."""
    if touch is not None:
        raw, stats = blend(raw, touch[0], touch[1], stats)
        if shaping.contrast != "auto":  # a number stretches the sum as the touch's calibration leaves it
            shaping = replace(shaping, contrast=float(shaping.contrast) * stats["contrast"])
    return shape(raw, own, shaping, stats)
