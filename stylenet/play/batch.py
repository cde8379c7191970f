"""`stylenet perform IN --genre G`: files in, performed files out, never over an input or another output.

Each file is read, played (step.py: the play step, in memory) and written atomically beside its input or
into the output folder; a batch skips a file it cannot read, with one line why, and goes on.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from stylenet.core import codec, fileio, midifile, smf
from stylenet.core.beats import BESIDE, beats_for
from stylenet.core.errors import StyleNetError, one_file
from stylenet.core.fileio import atomic_write_bytes, refuse_overwrite
from stylenet.play.step import Player, Timings, play, summary
from stylenet.velocity.shaping import Shaping

if TYPE_CHECKING:
    from stylenet.expression.realise import Expression

@dataclass(frozen=True)
class PerformOptions:
    """What `stylenet perform` is asked to do (cli/perform.py reads it off the command line)."""

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
    render: "Callable | None" = None  # (performed, input) -> their audio beside the performance (listen/render.py)
    touch: str = "auto"  # auto | on | off: whether a recording's timing is read for loudness too (touch.py)
    touch_model: str | None = None  # a touch network file; None: the shipped one
    expression: "Expression | None" = None  # timing, articulation, pedal (expression/realise.py); None: velocity only
    expression_model: str | None = None  # an expression network file; None: the shipped one
    programs: tuple = midifile.PIANO_PROGRAMS  # General MIDI programs (from 0) that count as the piano
    tracks: tuple | None = None  # or the piano's tracks, by index from 0 or by name
    jobs: int = 1  # processes a batch is spread over (each loads the models once)


@dataclass
class Performance:
    source: Path
    output: Path
    genre: str
    before: np.ndarray  # the input's piano velocities, one per (quantised) note
    after: np.ndarray  # what was written
    plot: Path | None = None
    audio: Path | None = None  # `render`: the performance's audio
    audio_before: Path | None = None  # ... and the input's, as written
    grid: str = "the file's tempo map"  # the grid the notes were read on, in words
    note: str | None = None  # something the user should know about that choice (one line)
    touch: bool = False  # whether the recording's own timing was read for loudness too
    expressed: str = ""  # what of timing, articulation and pedal was written, in words ("" = none)
    level: str | float = "model"  # the level the velocities were shaped to

    @classmethod
    def of(cls, source: Path, output: Path, genre: str, played) -> "Performance":
        return cls(source, output, genre, played.before, played.after, grid=played.grid, note=played.note,
                   touch=played.touch, expressed=played.expressed, level=played.level)

    def line(self) -> str:
        return (f"{self.source} -> {self.output}  "
                f"({summary(self.before, self.after, self.grid, self.level, self.touch, self.expressed)})")


def perform_file(path, output, player: Player, force: bool = False, plot: bool = False,
                 beats_file: Path | None = None, timings: Timings | None = None) -> Performance:
    """Read `path`, play it (`play.play`), write the performance to `output` (never over an existing file
    unless `force`), and with `plot` a before/after piano roll beside it."""
    timings = timings or Timings()
    path, output = Path(path), Path(output)
    refuse_overwrite(path, output, force)
    with timings.phase("read+encode"):
        piece = midifile.load_midi(path, player.programs, player.performer.steps_per_quarter, tracks=player.tracks)
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
    skipped: list[str]  # "FILE: reason" of each file a batch could not use (a single input that fails raises)
    single: bool  # one file was named, not a folder
    timings: Timings
    model_note: str = ""  # something about the model the user should know (printed once)
    failed: list[str] = field(default_factory=list)  # StyleNet's own errors on a file ("internal error ...")
    earlier: list[str] = field(default_factory=list)  # files of a folder an earlier `perform` wrote: left alone
    shipped: bool = False  # the shipped models played (their licence is shown once)

    def summary(self) -> str:
        return (f"{len(self.performances)} performed, {len(self.skipped) + len(self.earlier)} skipped, "
                f"{len(self.failed)} failed")


def find_inputs(paths) -> tuple[list, list[str]]:
    """(the inputs to perform, "FILE: why" for the files left alone): files as given, and every MIDI file
    below each folder but those an earlier `perform` wrote (they carry its mark: `smf.looks_performed`;
    named on their own, they are performed again)."""
    inputs, earlier = [], []
    for item in midifile.find_inputs(paths):
        if item.root is not None and smf.looks_performed(item.path):
            earlier.append(f"{item.path}: written by an earlier `stylenet perform` (name it on its own to perform "
                           f"it again)")
        else:
            inputs.append(item)
    return inputs, earlier


def run(options: PerformOptions, started: float) -> PerformReport:
    """`started`: when the process began running StyleNet (perf_counter), so the timings count the imports."""
    timings = Timings({"imports": time.perf_counter() - started})
    inputs, earlier = find_inputs(options.inputs)
    if not inputs:
        left = f" ({len(earlier)} written by an earlier perform)" if earlier else ""
        raise StyleNetError(f"no MIDI files to perform in {' '.join(options.inputs)}{left}", exit_code=2)
    single = len(inputs) == 1 and inputs[0].root is None
    if options.beats and options.grid == "nominal":
        raise StyleNetError("--beats reads a file on its annotated beats; --grid nominal reads it on its own "
                            "tempo map: choose one", exit_code=2)
    if options.beats and not single and options.beats != BESIDE:
        raise StyleNetError(f"{len(inputs)} inputs share one annotation file; "
                            f"use --beats {BESIDE} to read each input's own <name>_annotations.txt", exit_code=2)
    # usage errors before the models load (the genre's exact name is the model's: its case may change)
    fileio.plan_outputs(inputs, lambda p: f"{p.stem}.{options.genre.lower()}.mid", options.out, (".mid", ".midi"),
                        "perform")
    with timings.phase("imports"):
        from stylenet.velocity.performer import load_performer
    with timings.phase("model load"):
        performer = load_performer(options.model)
        player, note = Player.load(performer, options.genre, options.shaping, options.grid, options.touch,
                                   options.touch_model, options.expression, options.expression_model,
                                   options.quantize, options.programs, options.tracks)
    outputs = fileio.plan_outputs(inputs, lambda p: f"{p.stem}.{player.genre}.mid", options.out, (".mid", ".midi"),
                                  "perform")
    report = PerformReport([], [], single, timings, note, earlier=earlier,
                           shipped=options.model is None or (player.expression_net is not None
                                                             and options.expression_model is None))
    for line in earlier:
        print(f"skipped: {line}", file=sys.stderr)

    def perform(source: Path, output: Path) -> Performance:
        return _perform_one(options, player, source, output, timings)

    if single:  # a failure is the command's one line
        with one_file(inputs[0].path):
            report.performances.append(perform(inputs[0].path, outputs[0]))
        return report
    from tqdm import tqdm  # here: its import (50 ms, most of it importlib.metadata) is a batch's, not one file's

    jobs = [(item.path, output) for item, output in zip(inputs, outputs)]
    workers = min(options.jobs, len(jobs))
    results = (_pooled(options, jobs, workers) if workers > 1 else
               (_outcome(lambda: perform(source, output), source) for source, output in jobs))
    for kind, value in tqdm(results, total=len(jobs), desc=f"perform ({player.genre})", unit="file",
                            disable=not options.progress):
        if kind == "performed":
            report.performances.append(value)
            if value.note:
                tqdm.write(f"note: {value.note}", file=sys.stderr)
            tqdm.write(value.line())
            if value.audio:
                tqdm.write(f"audio: {value.audio} (as written: {value.audio_before})")
        else:
            (report.failed if kind == "failed" else report.skipped).append(value)
            tqdm.write(f"{kind}: {value}", file=sys.stderr)
    return report


def _outcome(perform, source: Path) -> tuple[str, object]:
    """("performed", Performance), ("skipped", "FILE: reason") for a file that cannot be used, or ("failed",
    "FILE: internal error ...") for StyleNet's own: what a batch counts, in or out of a worker process."""
    from stylenet.core.errors import InternalError

    try:
        with one_file(source):
            return "performed", perform()
    except InternalError as exc:
        return "failed", str(exc)
    except StyleNetError as exc:
        return "skipped", str(exc)


_WORKER: dict = {}  # in a worker process: the options and the player it loaded once


def _start_worker(options: PerformOptions) -> None:
    from stylenet.velocity.performer import load_performer

    player, _ = Player.load(load_performer(options.model), options.genre, options.shaping, options.grid,
                            options.touch, options.touch_model, options.expression, options.expression_model,
                            options.quantize, options.programs, options.tracks)
    _WORKER.update(options=options, player=player)


def _perform_one(options: PerformOptions, player: Player, source: Path, output: Path,
                 timings: Timings | None = None) -> Performance:
    """One file of a batch: its beats if asked, played and written, and with --render its audio before
    and after."""
    timings = timings or Timings()
    beats = beats_for(source, options.beats) if options.beats else None
    result = perform_file(source, output, player, options.force, options.plot, beats, timings)
    if options.render is not None:
        with timings.phase("render"):
            result.audio, result.audio_before = options.render(result.output, source)
    return result


def _work(job: tuple[Path, Path]) -> tuple[str, object]:
    source, output = job
    return _outcome(lambda: _perform_one(_WORKER["options"], _WORKER["player"], source, output), source)


def _pooled(options: PerformOptions, jobs: list, workers: int):
    """The files' outcomes, in order, from `workers` processes, each loading the models once ("spawn":
    a fresh interpreter, so no lock of this one's threads is inherited half-held)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(replace(options, progress=False),)) as pool:
        yield from pool.imap(_work, jobs)
