"""Argument types and shared pieces of the verbs' parsers: a value a person typed, checked, or a one-line usage error."""

from __future__ import annotations

import argparse
import math

EXAMPLES = {
    "build-dataset": "stylenet build-dataset ../shared/data/raw --splits ../shared/data/splits.csv -o build/dataset",
    "train": "stylenet train --config configs/stylenet.yaml --set train.epochs=20",
    "perform": "stylenet perform song.mid --genre jazz --plot",
    "evaluate": "stylenet evaluate build/dataset --split test",
    "conform": "stylenet conform performance.mid --beats performance_annotations.txt -o on_beats.mid",
    "studio": "stylenet studio",
    "render": "stylenet render song.jazz.mid",
    "survey": "stylenet survey build build/dataset -o survey/ab --pairs 20 --baselines random flat",
    "compose": "stylenet compose sample --model runs/compose_lstm -n 4 --bars 16 --seed 0 -o generated/",
}


def programs(text: str) -> tuple[int, ...]:
    """'0-7' or '0,1,4-5' -> (0, 1, 4, 5)."""
    out = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"programs must look like 0-7 or 0,1,4-5, got {text!r}") from None
    if not out or min(out) < 0 or max(out) > 127:
        raise argparse.ArgumentTypeError(f"programs must lie in 0..127, got {text!r}")
    return tuple(sorted(set(out)))


def meter(text: str) -> str:
    num, _, den = text.partition("/")
    if not (num.isdigit() and den.isdigit()):
        raise argparse.ArgumentTypeError(f"time signature must look like 4/4, got {text!r}")
    return f"{int(num)}/{int(den)}"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def path_text(text: str) -> str:
    """A path as typed; an empty one (an unset shell variable) is refused rather than read as the current
    folder, which would perform every MIDI file below it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?)")
    return text


def files_in_files_out(parser, default_name: str) -> None:
    """The arguments of a verb that reads MIDI files and writes one output for each, never over an existing one."""
    parser.add_argument("inputs", nargs="+", metavar="IN", type=path_text, help="MIDI files or folders of them")
    parser.add_argument("-o", "--out", metavar="OUT", type=path_text,
                        help=f"output file (one input) or folder (default: {default_name} beside each input)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def number_in(low: float, high: float, what: str):
    """An argparse type: a number from `low` to `high`, else a usage error saying `what` it must be."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


def gain(text: str):
    """'auto', or a gain in decibels from -60 to 60."""
    if text.strip().lower() == "auto":
        return "auto"
    return number_in(-60.0, 60.0, "'auto' or a gain in dB from -60 to 60")(text)


def amount(text: str) -> float:
    """0..1, or 'off' (= 0)."""
    return 0.0 if text.strip().lower() == "off" else number_in(0.0, 1.0, "a number from 0 to 1, or 'off'")(text)


def velocity(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 127:
        raise argparse.ArgumentTypeError(f"must be a MIDI velocity from 1 to 127, got {text!r}")
    return int(text)


def level(text: str):
    from stylenet.velocity.shaping import parse_level

    try:
        return parse_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def contrast(text: str):
    from stylenet.velocity.shaping import parse_contrast

    try:
        return parse_contrast(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


temperature = number_in(0.0, 10.0, "a number from 0 (greedy) to 10")
qpm = number_in(10.0, 400.0, "a tempo from 10 to 400 quarter notes a minute")
seconds = number_in(0.0, 3600.0, "a number of seconds from 0 to 3600")
unit_interval = number_in(0.0, 1.0, "a number from 0 to 1")


def train_run(args, command: str, load, train):
    """Train (or resume) the run `args` name, then say where it lives and how to resume it: (config, run dir)."""
    from pathlib import Path

    from stylenet.core.errors import StyleNetError

    config = load(args.config, args.overrides)
    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    print(f"run directory: {run_dir}")
    result = train(config, run_dir, progress=not args.quiet)
    if result.stopped:
        raise StyleNetError(result.stopped)
    again = f"{command} --config {args.config}" + (f" --run-dir {args.run_dir}" if args.run_dir else "")
    again += "".join(f" --set {o}" for o in args.overrides)
    print(f"\ntrained {result.epochs_done} epochs ({result.global_step} steps); the run lives in {run_dir}/")
    print(f"  resume or extend:  {again} --set train.epochs=N")
    return config, run_dir
