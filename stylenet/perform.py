"""`stylenet perform IN --genre G`: give a flat score the dynamics of a genre's pianists.

For each input file: read its piano notes, quantise them onto the beat grid, let the genre's GenreNet
predict a velocity for every note, shape the predictions (level, contrast, strength), and write the input
back with only its piano velocities changed.

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

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import codec
from .fileio import StyleNetError, atomic_write_bytes, one_file, skip_failure

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


@dataclass
class Timings:
    """Seconds spent per phase of `perform`, summed over files (`--timings`)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def line(self) -> str:
        return "timings: " + ", ".join(f"{name} {s:.3f} s" for name, s in self.seconds.items())


@dataclass
class Performance:
    source: Path
    output: Path
    genre: str
    before: np.ndarray  # the input's piano velocities, one per (quantised) note
    after: np.ndarray  # what was written
    plot: Path | None = None

    def line(self) -> str:
        return (f"{self.source} -> {self.output}  ({len(self.before)} notes; velocity "
                f"{self.before.mean():.0f}±{self.before.std():.0f} -> {self.after.mean():.0f}±{self.after.std():.0f})")


def perform_file(path, performer, genre: str, output, shaping: Shaping = Shaping(), quantize: bool = False,
                 plot: bool = False, force: bool = False, timings: Timings | None = None) -> Performance:
    timings = timings or Timings()
    path, output = Path(path), Path(output)
    if output.resolve() == path.resolve():
        raise StyleNetError(f"{path}: output would overwrite the input; choose another -o")
    if output.exists() and not force:
        raise StyleNetError(f"{output}: already exists; pass --force to overwrite it")
    with timings.phase("read+encode"):
        piece = codec.load_midi(path, steps_per_quarter=performer.steps_per_quarter)
        if piece.n_notes == 0:
            raise StyleNetError(f"{path}: no piano notes (General MIDI programs 1-8, keys A0-C8) to perform")
        score = codec.quantise(piece)
        score_matrix, own_matrix = codec.encode(score)
    with timings.phase("forward"):
        predicted_matrix = performer.velocities(score_matrix, genre, piece.meter_map())
    key = score.pitch - codec.LOWEST_KEY
    predicted = predicted_matrix[score.onset, key].astype(np.float64) * 127.0
    shaped = shape(predicted, score.velocity, shaping, performer.stats.get(genre))
    matrix = np.array(predicted_matrix, dtype=np.float64)
    matrix[score.onset, key] = shaped / 127.0
    after = np.clip(np.rint(shaping.strength * shaped + (1 - shaping.strength) * score.velocity), 1, 127)
    performed = codec.Score(score.pitch, score.onset, score.offset, after.astype(np.int64), score.steps_per_quarter)
    with timings.phase("write"):
        if quantize:
            data = codec.midi_bytes(codec.score_to_midi(performed, piece.grid))
        else:
            data = codec.apply_velocities(piece, matrix, shaping.strength)
        atomic_write_bytes(output, data)
    result = Performance(path, output, genre, score.velocity.astype(np.float64), after)
    if plot:
        with timings.phase("plot"):
            from .plots import before_after

            _, after_matrix = codec.encode(performed)
            result.plot = before_after(score_matrix, own_matrix, after_matrix, output.with_suffix(".png"),
                                       f"{path.name}: as written, and as {genre} ({output.name})")
    return result


def find_inputs(paths: list[str], genres: list[str]) -> list[Path]:
    """Files as given; folders searched recursively for MIDI files, skipping our own outputs (*.jazz.mid)."""
    from .dataset import MIDI_SUFFIXES

    found = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in MIDI_SUFFIXES and not any(
                        f.stem.endswith(f".{g}") for g in genres):
                    found.append(f)
        else:
            found.append(p)
    return found


def output_path(source: Path, genre: str, out: str | None, single: bool) -> Path:
    name = f"{source.stem}.{genre}.mid"
    if out is None:
        return source.with_name(name)
    out_path = Path(out)
    if single and out_path.suffix.lower() in (".mid", ".midi"):
        return out_path
    return out_path / name


def run(args) -> int:
    from .cli import STARTED

    timings = Timings({"imports": time.perf_counter() - STARTED})
    with timings.phase("imports"):
        from .inference import load_performer
    with timings.phase("model load"):
        performer = load_performer(args.model)
    status = _perform_all(args, performer, timings)
    if args.timings:
        print(timings.line(), file=sys.stderr)
    return status


def _perform_all(args, performer, timings: Timings) -> int:
    if args.genre not in performer.genres:
        raise StyleNetError(f"unknown genre {args.genre!r}; this model knows: {', '.join(performer.genres)}",
                            exit_code=2)
    inputs = find_inputs(args.inputs, performer.genres)
    if not inputs:
        raise StyleNetError(f"no MIDI files in {' '.join(args.inputs)}", exit_code=2)
    shaping = Shaping(args.level or DEFAULT_LEVEL, args.contrast, args.strength)
    single = len(inputs) == 1 and not Path(args.inputs[0]).is_dir()
    if single:
        with one_file(inputs[0]):
            result = perform_file(inputs[0], performer, args.genre, output_path(inputs[0], args.genre, args.out, True),
                                  shaping, args.quantize, args.plot, args.force, timings)
        print(result.line())
        if result.plot:
            print(f"plot: {result.plot}")
        return 0
    skipped = []
    for source in tqdm(inputs, desc=f"perform ({args.genre})", unit="file", disable=args.quiet):
        with skip_failure(source, skipped, tqdm.write):
            result = perform_file(source, performer, args.genre, output_path(source, args.genre, args.out, False),
                                  shaping, args.quantize, args.plot, args.force, timings)
            tqdm.write(result.line())
    print(f"{len(inputs) - len(skipped)} performed, {len(skipped)} skipped")
    return 1 if skipped else 0
