"""`stylenet conform PERF.mid --beats ANNOTATIONS.txt`: put a recorded performance on its beats.

A recording from a digital piano runs at a nominal tempo its ticks do not follow.  `conform` writes the
same performance (every event at the same time, within a millisecond) with a tempo map of one tempo per
annotated beat and the annotated meters, so the beats land on beat ticks and a sequencer shows real bars.
"""

from __future__ import annotations

import sys
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
    found = midifile.find_inputs(options.inputs)
    earlier = [i for i in found if i.root is not None and i.path.stem.endswith(".conformed")]
    inputs = [i for i in found if i not in earlier]
    if not inputs:
        raise StyleNetError(f"no MIDI files to conform in {' '.join(options.inputs)}", exit_code=2)
    single = len(inputs) == 1 and inputs[0].root is None
    if not single and options.beats != BESIDE:
        raise StyleNetError(f"{len(inputs)} inputs share one annotation file; "
                            f"use --beats {BESIDE} to read each input's own <name>_annotations.txt", exit_code=2)
    outputs = fileio.plan_outputs(inputs, lambda p: f"{p.stem}.conformed.mid", options.out, (".mid", ".midi"),
                                  "conform")
    report = ConformReport([], [], single)
    for item in earlier:  # an earlier conform's output: said, not silently dropped
        report.skipped.append(f"{item.path}: an earlier conform's output (name it on its own to conform it again)")
        print(f"skipped: {report.skipped[-1]}", file=sys.stderr)

    def conformed(source: Path, output: Path) -> str:
        return conform_file(source, beats_for(source, options.beats), output, options.force)

    if single:  # a failure is the command's one line
        with one_file(inputs[0].path):
            report.lines.append(conformed(inputs[0].path, outputs[0]))
        return report
    for item, output in tqdm(list(zip(inputs, outputs)), desc="conform", unit="file", disable=not options.progress):
        with skip_failure(item.path, report.skipped, tqdm.write):
            report.lines.append(conformed(item.path, output))
            tqdm.write(report.lines[-1])
    return report
