"""`stylenet perform IN --genre G`: files in, performed files out, never over an input or another output.

Each file is read, played (play.py: the play step, in memory) and written atomically beside its input or
into the output folder; a batch skips a file it cannot read, with one line why, and goes on.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from tqdm import tqdm

from stylenet.core import codec, fileio, midifile
from stylenet.core.beats import BESIDE, beats_for
from stylenet.core.errors import StyleNetError, one_file, skip_failure
from stylenet.core.fileio import atomic_write_bytes, refuse_overwrite
from stylenet.perform.play import Player, Timings, play
from stylenet.velocity.shaping import Shaping

if TYPE_CHECKING:
    from stylenet.expression.realise import Expression

@dataclass(frozen=True)
class PerformOptions:
    """What `stylenet perform` is asked to do (cli.py reads it off the command line)."""

    inputs: tuple[str, ...]  # MIDI files or folders of them
    genre: str
    model: str | None = None  # a training run directory or a model file; None: the shipped model
    out: str | None = None  # an output file (one input) or folder; None: beside each input
    shaping: Shaping = Shaping()
    quantize: bool = False  # write the quantised piano part instead of the original file
    plot: bool = False
    force: bool = False  # overwrite existing outputs
    beats: str | None = None  # a recorded performance's beats: an annotation file, or BESIDE (each input's own)
    grid: str = "auto"  # GRIDS: which beat grid the notes are read on
    progress: bool = True
    render: "Callable[[Path], Path] | None" = None  # writes a performed file's audio beside it (listen/render.py)
    touch: str = "auto"  # auto | on | off: whether a recording's timing is read for loudness too (touch.py)
    touch_model: str | None = None  # a touch network file; None: the shipped one
    expression: "Expression | None" = None  # timing, articulation, pedal (expression/realise.py); None: velocity only
    expression_model: str | None = None  # an expression network file; None: the shipped one


@dataclass
class Performance:
    source: Path
    output: Path
    genre: str
    before: np.ndarray  # the input's piano velocities, one per (quantised) note
    after: np.ndarray  # what was written
    plot: Path | None = None
    audio: Path | None = None  # `render`: the performance's audio
    grid: str = "the file's tempo map"  # the grid the notes were read on, in words
    note: str | None = None  # something the user should know about that choice (one line)
    touch: bool = False  # whether the recording's own timing was read for loudness too
    expressed: str = ""  # what of timing, articulation and pedal was written, in words ("" = none)

    @classmethod
    def of(cls, source: Path, output: Path, genre: str, played) -> "Performance":
        return cls(source, output, genre, played.before, played.after, grid=played.grid, note=played.note,
                   touch=played.touch, expressed=played.expressed)

    def line(self) -> str:
        on = "" if self.grid == "the file's tempo map" else f"; on {self.grid}"
        on += "; touch from its timing" if self.touch else ""
        on += f"; {self.expressed}" if self.expressed else ""
        return (f"{self.source} -> {self.output}  ({len(self.before)} notes; velocity "
                f"{self.before.mean():.0f}±{self.before.std():.0f} -> {self.after.mean():.0f}±{self.after.std():.0f}{on})")


def perform_file(path, output, player: Player, force: bool = False, plot: bool = False,
                 beats_file: Path | None = None, timings: Timings | None = None) -> Performance:
    """Read `path`, play it (`play.play`), write the performance to `output` (never over an existing file
    unless `force`), and with `plot` a before/after piano roll beside it."""
    timings = timings or Timings()
    path, output = Path(path), Path(output)
    refuse_overwrite(path, output, force)
    with timings.phase("read+encode"):
        piece = midifile.load_midi(path, steps_per_quarter=player.performer.steps_per_quarter)
    played = play(piece, player, beats_file, timings)
    with timings.phase("write"):
        atomic_write_bytes(output, played.midi)
    result = Performance.of(path, output, player.genre, played)
    if plot:
        with timings.phase("plot"):
            from stylenet.velocity.plots import before_after

            score_matrix, own_matrix = codec.encode(played.score)
            _, after_matrix = codec.encode(played.performed)
            result.plot = before_after(score_matrix, own_matrix, after_matrix, output.with_suffix(".png"),
                                       f"{path.name}: as written, and as {player.genre} ({output.name})")
    return result


@dataclass
class PerformReport:
    performances: list[Performance]
    skipped: list[str]  # "FILE: reason" of each file a batch skipped (a single input that fails raises)
    single: bool  # one file was named, not a folder
    timings: Timings
    model_note: str = ""  # something about the model the user should know (printed once)


def find_inputs(paths, genres: list[str]) -> list[Path]:
    """Files as given; folders searched recursively for MIDI files, skipping our own outputs (*.jazz.mid)."""
    return midifile.find_midi(paths, skip=lambda f: any(f.stem.endswith(f".{g}") for g in genres))


def output_path(source: Path, genre: str, out: str | None, single: bool) -> Path:
    return fileio.output_path(source, f"{source.stem}.{genre}.mid", out, single)


def run(options: PerformOptions, started: float) -> PerformReport:
    """`started`: when the process began running StyleNet (perf_counter), so the timings count the imports."""
    timings = Timings({"imports": time.perf_counter() - started})
    with timings.phase("imports"):
        from stylenet.velocity.performer import load_performer
    with timings.phase("model load"):
        performer = load_performer(options.model)
        player, note = Player.load(performer, options.genre, options.shaping, options.grid, options.touch,
                                   options.touch_model, options.expression, options.expression_model,
                                   options.quantize)
    return _perform_all(options, player, timings, note)


def _perform_all(options: PerformOptions, player: Player, timings: Timings, model_note: str = "") -> PerformReport:
    genre = player.genre
    inputs = find_inputs(options.inputs, player.performer.genres)
    if not inputs:
        raise StyleNetError(f"no MIDI files in {' '.join(options.inputs)}", exit_code=2)
    single = len(inputs) == 1 and not Path(options.inputs[0]).is_dir()
    if options.beats and options.grid == "nominal":
        raise StyleNetError("--beats reads a file on its annotated beats; --grid nominal reads it on its own "
                            "tempo map: choose one", exit_code=2)
    if options.beats and not single and options.beats != BESIDE:
        raise StyleNetError(f"{len(inputs)} inputs share one annotation file; "
                            f"use --beats {BESIDE} to read each input's own <name>_annotations.txt", exit_code=2)
    report = PerformReport([], [], single, timings, model_note)


    def perform(source: Path) -> Performance:
        beats = beats_for(source, options.beats) if options.beats else None
        result = perform_file(source, output_path(source, genre, options.out, single), player, options.force,
                              options.plot, beats, timings)
        if options.render is not None:
            with timings.phase("render"):
                result.audio = options.render(result.output)
        return result

    if single:  # a failure is the command's one line
        with one_file(inputs[0]):
            report.performances.append(perform(inputs[0]))
        return report
    for source in tqdm(inputs, desc=f"perform ({genre})", unit="file", disable=not options.progress):
        with skip_failure(source, report.skipped, tqdm.write):
            report.performances.append(perform(source))
            if report.performances[-1].note:
                tqdm.write(f"note: {report.performances[-1].note}", file=sys.stderr)
            tqdm.write(report.performances[-1].line())
            if report.performances[-1].audio:
                tqdm.write(f"audio: {report.performances[-1].audio}")
    return report
