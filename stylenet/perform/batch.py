"""`stylenet perform IN --genre G`: give a flat score the dynamics of a genre's pianists.

For each input file: read its piano notes, quantise them onto the beat grid, let the genre's GenreNet
predict a velocity for every note, shape the predictions (level, contrast, strength: shaping.py), and write
the input back with only its piano velocities changed.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
import numpy as np
from tqdm import tqdm
from stylenet.core import codec
from stylenet.core import midifile
from stylenet.core.beats import BESIDE, BeatsError, beats_for, conform, read_annotations
from stylenet.core.errors import StyleNetError, one_file, skip_failure
from stylenet.core import fileio
from stylenet.core.fileio import atomic_write_bytes, refuse_overwrite
from stylenet.velocity.shaping import Shaping, shape


if TYPE_CHECKING:
    from stylenet.expression.realise import Expression


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
    render: str | None = None  # also write each performance's audio in this format ("wav" or "opus")
    soundfont: str | None = None  # for render: a SoundFont; None: pretty_midi's General MIDI TimGM6mb.sf2
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

    def line(self) -> str:
        on = "" if self.grid == "the file's tempo map" else f"; on {self.grid}"
        on += "; touch from its timing" if self.touch else ""
        on += f"; {self.expressed}" if self.expressed else ""
        return (f"{self.source} -> {self.output}  ({len(self.before)} notes; velocity "
                f"{self.before.mean():.0f}±{self.before.std():.0f} -> {self.after.mean():.0f}±{self.after.std():.0f}{on})")


GRIDS = ("nominal", "beats", "auto")


MAX_TRACKED_SECONDS = 3600


def read_on_grid(piece, grid: str = "auto", beats_file: Path | None = None):
    """(piece, grid in words, note or None): the piece on the beat grid asked for.

    nominal  the file's own tempo map
    beats    the annotated beats (`beats_file`), else beats tracked from the notes (tracker.py)
    auto     the annotated beats when given, else the file's tempo map; a recording (onsets neither on the
             file's ticks nor gathered on its quarter notes: grid.grid_share, grid.beat_coherence)
             gets a one-line note pointing to --beats and --grid beats.  Not tracked by default: on the
             ASAP validation works, tracked beats scored no better than the recording's own ticks
             (README "Which grid `perform` reads a file on").
    """
    if beats_file is not None and grid != "nominal":
        return conform(piece, read_annotations(beats_file)), "annotated beats", None
    if grid == "nominal" or piece.n_notes == 0:
        return piece, "the file's tempo map", None
    from stylenet.recorded.grid import looks_recorded
    from stylenet.recorded.tracker import track

    if grid == "auto":
        recording = looks_recorded(piece)
        note = (f"{piece.path}: looks like a recording (its notes follow neither its ticks nor its beat): read on "
                f"its own tempo map; --beats FILE reads it on annotated beats, --grid beats on tracked ones"
                ) if recording else None
        return piece, "the file's tempo map", note
    if piece.seconds > MAX_TRACKED_SECONDS:  # tracking time grows with the length (50 frames a second)
        raise midifile.MidiReadError(piece.path, f"cannot track beats: the piano part lasts {piece.seconds / 3600:.1f} "
                                              f"hours, tracking reads at most {MAX_TRACKED_SECONDS // 3600} (give --beats)")
    try:
        tracked = track(piece)
    except BeatsError as exc:
        raise midifile.MidiReadError(piece.path, f"cannot track beats: {exc.reason}") from None
    return conform(piece, tracked), "tracked beats", None


def _looks_recorded(piece) -> bool:
    from stylenet.recorded.grid import looks_recorded

    return piece.n_notes > 0 and looks_recorded(piece)


def touch_for(performer, genre: str, mode: str = "auto", path=None):
    """(touch network, its calibration for `genre` with `performer`, note) that `perform` uses: (None, None,
    note) where it reads the score alone -- `off`; no touch network shipped; `auto` in a genre the network
    is not calibrated for (no note: that is the usual case) or for another model (a note says so).  `on`
    where there is none is a usage error.  `path`: a touch network file (default: the shipped one)."""
    if mode == "off":
        return None, None, None
    from stylenet.recorded.touch import TouchNet, calibration_for, shipped_touch

    net = TouchNet.load(path) if path else shipped_touch()
    why = "no touch network is installed (stylenet/pretrained/touch.npz)" if net is None else ""
    calibration = None
    if net is not None:
        calibration, why = calibration_for(net, genre, performer)
    if calibration is None:
        if mode == "on":
            raise StyleNetError(f"--touch on: {why}", exit_code=2)
        note = f"recordings are read from the score alone: {why}" if net and genre in net.calibration else None
        return None, None, note
    return net, calibration, None


def perform_file(path, performer, genre: str, output, shaping: Shaping = Shaping(), quantize: bool = False,
                 plot: bool = False, force: bool = False, timings: Timings | None = None,
                 beats_file: Path | None = None, grid: str = "auto", touch: str = "auto",
                 touch_with: tuple | None = None, expression=None, expression_net=None) -> Performance:
    """Perform one file, read on the beat grid `grid` chooses (`read_on_grid`; `beats_file`: a recorded
    performance's annotated beats).  The output keeps the input's own timing whatever the grid.  `touch`
    (auto | on | off): whether a recording's own timing is read for loudness too (touch.py; `auto`: files
    that look recorded), with `touch_with` = (network, calibration) from `touch_for` (default: the shipped
    network, if it is calibrated for this model and genre).  `expression` (realise.Expression) with
    `expression_net` (network.ExpressionNet) also writes timing, articulation and pedal into a file that
    looks quantised (a recording keeps its own)."""
    timings = timings or Timings()
    path, output = Path(path), Path(output)
    refuse_overwrite(path, output, force)
    with timings.phase("read+encode"):
        piece = midifile.load_midi(path, steps_per_quarter=performer.steps_per_quarter)
        piece, on_grid, note = read_on_grid(piece, grid, beats_file)
        if piece.n_notes == 0:
            raise StyleNetError(f"{path}: no piano notes (General MIDI programs 1-8, keys A0-C8) to perform")
        score = codec.quantise(piece)
        score_matrix, own_matrix = codec.encode(score)
    with timings.phase("forward"):
        predicted_matrix = performer.velocities(score_matrix, genre, piece.meter_map())
    key = score.pitch - midifile.LOWEST_KEY
    predicted = codec.raw_velocities_at(predicted_matrix, score.onset, key)
    stats = performer.stats.get(genre)
    touch_net, calibration, _ = touch_with or touch_for(performer, genre, touch)
    expressing = expression is not None and expression_net is not None and not quantize
    looks_played = ((touch_net is not None and touch == "auto") or expressing) and _looks_recorded(piece)  # once
    touched = touch_net is not None and (touch == "on" or (touch == "auto" and looks_played))
    if touched:
        from stylenet.recorded.touch import blend, score_deviations

        with timings.phase("touch"):
            predicted, stats = blend(predicted, score_deviations(piece, score, touch_net), calibration, stats)
        if shaping.contrast != "auto":  # a number stretches the sum as the touch's calibration leaves it
            shaping = replace(shaping, contrast=float(shaping.contrast) * stats["contrast"])
    shaped = shape(predicted, score.velocity, shaping, stats)
    expressed, notes, expressive = "", None, None
    if expressing:
        if beats_file is not None or touched or looks_played:
            expressed = "its own timing, lengths and pedal kept (it looks played)"
        elif genre in expression_net.genres:
            from stylenet.expression.network import variation
            from stylenet.expression.notes import score_notes

            with timings.phase("expression"):
                notes = score_notes(piece)
                expressive = expression_net(notes, genre)
                varied = variation(notes, expression_net.residuals(genre), np.random.default_rng(expression.seed),
                                   expression.variation)
                expressive[:, 1:4] += varied[:, 1:4]
            weight = expression_net.velocity_weight(genre, performer)
            steps = piece.grid.seconds_to_steps(piece.start)[notes.order]

            def at_score(values):  # per note of `notes` -> per note of the quantised `score`
                cells = np.zeros(predicted_matrix.shape)
                cells[steps, notes.pitch - midifile.LOWEST_KEY] = values
                return cells[score.onset, key]

            if weight > 0:  # the share of the network's velocity chosen on validation (train.calibrate)
                shaped = (1 - weight) * shaped + weight * at_score(expressive[:, 0])
            if expression.variation > 0:
                shaped = np.clip(shaped + at_score(varied[:, 0]), 1, 127)
    matrix = np.array(predicted_matrix, dtype=np.float64)
    matrix[score.onset, key] = shaped / 127.0
    after = np.clip(np.rint(shaping.strength * shaped + (1 - shaping.strength) * score.velocity), 1, 127)
    performed = codec.Score(score.pitch, score.onset, score.offset, after.astype(np.int64), score.steps_per_quarter)
    data = None
    if expressive is not None:
        from stylenet.expression import realise

        with timings.phase("expression"):
            plan = realise.plan(piece, notes, expressive, expression)
            data = realise.write(piece, plan, notes, codec.new_velocities(piece, matrix, shaping.strength))
        expressed = realise.describe(plan, expression)
    with timings.phase("write"):
        if quantize:
            data = midifile.midi_bytes(codec.score_to_midi(performed, piece.grid))
        elif data is None:
            data = codec.apply_velocities(piece, matrix, shaping.strength)
        atomic_write_bytes(output, data)
    result = Performance(path, output, genre, score.velocity.astype(np.float64), after, grid=on_grid, note=note,
                         touch=touched, expressed=expressed)
    if plot:
        with timings.phase("plot"):
            from stylenet.velocity.plots import before_after

            _, after_matrix = codec.encode(performed)
            result.plot = before_after(score_matrix, own_matrix, after_matrix, output.with_suffix(".png"),
                                       f"{path.name}: as written, and as {genre} ({output.name})")
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
        touch_with = None
        if options.genre in performer.genres:  # an unknown genre is _perform_all's one line
            touch_with = touch_for(performer, options.genre, options.touch, options.touch_model)
    return _perform_all(options, performer, timings, touch_with)


def _perform_all(options: PerformOptions, performer, timings: Timings, touch_with=None) -> PerformReport:
    genre = options.genre
    if genre not in performer.genres:
        raise StyleNetError(f"unknown genre {genre!r}; this model knows: {', '.join(performer.genres)}", exit_code=2)
    inputs = find_inputs(options.inputs, performer.genres)
    if not inputs:
        raise StyleNetError(f"no MIDI files in {' '.join(options.inputs)}", exit_code=2)
    single = len(inputs) == 1 and not Path(options.inputs[0]).is_dir()
    if options.beats and options.grid == "nominal":
        raise StyleNetError("--beats reads a file on its annotated beats; --grid nominal reads it on its own "
                            "tempo map: choose one", exit_code=2)
    if options.beats and not single and options.beats != BESIDE:
        raise StyleNetError(f"{len(inputs)} inputs share one annotation file; "
                            f"use --beats {BESIDE} to read each input's own <name>_annotations.txt", exit_code=2)
    expression_net, expression_note = expression_for(options, genre)
    notes = [uncalibrated_note(performer, genre, options.shaping), touch_with[2] if touch_with else None, expression_note]
    report = PerformReport([], [], single, timings, "; ".join(n for n in notes if n))

    render = _renderer(options, timings)

    def perform(source: Path) -> Performance:
        beats = beats_for(source, options.beats) if options.beats else None
        result = perform_file(source, performer, genre, output_path(source, genre, options.out, single),
                              options.shaping, options.quantize, options.plot, options.force, timings, beats,
                              options.grid, options.touch, touch_with, options.expression, expression_net)
        if render is not None:
            result.audio = render(result.output)
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


def expression_for(options: PerformOptions, genre: str):
    """(the expression network `perform` writes timing, articulation and pedal with, or None; a note)."""
    expression = options.expression
    if expression is None or (expression.timing == 0 and expression.articulation == 0 and expression.pedal == "keep"):
        return None, None
    from stylenet.expression.network import SHIPPED_EXPRESSION, ExpressionNet

    if options.expression_model is None and not SHIPPED_EXPRESSION.is_file():
        return None, "no expression network shipped with this install: velocities only"
    net = ExpressionNet.load(options.expression_model)
    if genre not in net.genres:
        return None, f"the expression network has no genre {genre!r} ({', '.join(net.genres)}): velocities only"
    return net, None


def uncalibrated_note(performer, genre: str, shaping) -> str:
    """A training run's `--contrast auto` needs factors that `evaluate` calibrates and caches in the run;
    until then auto falls back to stretching each piece, which the user should hear about."""
    run = performer.info.get("run")
    if not run or shaping.contrast != "auto" or "contrast" in performer.stats.get(genre, {}):
        return ""
    return (f"{run} has no calibrated contrast for these weights: --contrast auto stretches each piece to the "
            f"genre's typical spread (calibrate with `stylenet evaluate DATASET --model {run} --split validation`)")


def _renderer(options: PerformOptions, timings: Timings):
    """`perform --render`: a function that writes a performed file's audio beside it, or None."""
    if not options.render:
        return None
    from stylenet.listen.render import read_soundfont, render_file

    soundfont = read_soundfont(options.soundfont)

    def render(output: Path) -> Path:
        with timings.phase("render"):
            return render_file(output, output.with_suffix(f".{options.render}"), soundfont, options.render,
                               force=options.force)

    return render
