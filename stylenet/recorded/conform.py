"""`stylenet conform PERF.mid --beats ANNOTATIONS.txt`: put a recorded performance on its beats.

A recording from a digital piano runs at a nominal tempo its ticks do not follow.  `conform` writes the
same performance (every event at the same time, within a millisecond) with a tempo map of one tempo per
annotated beat and the annotated meters, so the beats land on beat ticks and a sequencer shows real bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from stylenet.core import beats as beat_maps
from stylenet.core import fileio, midifile
from stylenet.core.beats import BESIDE, beats_for
from stylenet.core.errors import StyleNetError, one_file, skip_failure
from stylenet.core.fileio import atomic_write_bytes, refuse_overwrite


@dataclass(frozen=True)
class ConformOptions:
    inputs: tuple[str, ...]
    beats: str  # an annotation file (one input) or BESIDE
    out: str | None = None
    force: bool = False
    progress: bool = True


def output_path(source: Path, out: str | None, single: bool) -> Path:
    return fileio.output_path(source, f"{source.stem}.conformed.mid", out, single)


def conform_file(source: Path, annotation: Path, output: Path, force: bool = False) -> str:
    """Write `source` re-timed onto the beats of `annotation`; return a one-line summary."""
    refuse_overwrite(source, output, force)
    piece = midifile.load_midi(source)
    beats = beat_maps.read_annotations(annotation)
    atomic_write_bytes(output, beat_maps.conformed_midi(piece, beats))
    meters = ", ".join(f"{n}/{d}" for _, n, d in beats.meters) or "4/4"
    return (f"{source} -> {output}  ({beats.n_beats} beats, {int(beats.downbeat.sum())} bars, {meters}; "
            f"{piece.n_notes} piano notes)")


@dataclass
class ConformReport:
    lines: list[str]  # what each file conformed became (conform_file's summary)
    skipped: list[str]  # "FILE: reason" of each file a batch skipped (a single input that fails raises)
    single: bool  # one file was named, not a folder


def run(options: ConformOptions) -> ConformReport:
    inputs = midifile.find_midi(options.inputs, skip=lambda f: f.stem.endswith(".conformed"))
    if not inputs:
        raise StyleNetError(f"no MIDI files in {' '.join(options.inputs)}", exit_code=2)
    single = len(inputs) == 1 and not Path(options.inputs[0]).is_dir()
    if not single and options.beats != BESIDE:
        raise StyleNetError(f"{len(inputs)} inputs share one annotation file; "
                            f"use --beats {BESIDE} to read each input's own <name>_annotations.txt", exit_code=2)
    report = ConformReport([], [], single)

    def conformed(source: Path) -> str:
        return conform_file(source, beats_for(source, options.beats), output_path(source, options.out, single),
                            options.force)

    if single:  # a failure is the command's one line
        with one_file(inputs[0]):
            report.lines.append(conformed(inputs[0]))
        return report
    for source in tqdm(inputs, desc="conform", unit="file", disable=not options.progress):
        with skip_failure(source, report.skipped, tqdm.write):
            report.lines.append(conformed(source))
            tqdm.write(report.lines[-1])
    return report
