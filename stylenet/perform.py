"""`stylenet perform IN --genre G`: give a flat score the dynamics of a genre's pianists.

For each input file: read its piano notes, quantise them onto the beat grid, let the genre's GenreNet
predict a velocity for every note, shape the predictions (level, contrast, strength: shaping.py), and write
the input back with only its piano velocities changed.
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
from .errors import StyleNetError, one_file, skip_failure
from .fileio import atomic_write_bytes
from .shaping import DEFAULT_LEVEL, Shaping, shape


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
    predicted = codec.raw_velocities_at(predicted_matrix, score.onset, key)
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


def run(args, started: float) -> int:
    """`started`: when the process began running StyleNet (perf_counter), so --timings counts the imports."""
    timings = Timings({"imports": time.perf_counter() - started})
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
