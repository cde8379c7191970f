"""The recorded wing's verbs: `conform` (a recording onto its beats), `train-tracker`, `train-touch`."""

from __future__ import annotations

import argparse

from stylenet.cli import options as opt


def register(verbs) -> dict:
    conform = verbs.add_parser(
        "conform", help="re-time a recorded performance onto its annotated beats",
        description="Write a recorded performance (no tempo map) with one tempo per annotated beat and the "
                    "annotated meters: every event keeps its time (within 1 ms), every beat lands on a beat "
                    "tick, bars start on the annotated downbeats.",
        epilog=f"example:\n  {opt.EXAMPLES['conform']}\n  stylenet conform asap/Chopin/ --beats beside -o conformed/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    opt.files_in_files_out(conform, "<name>.conformed.mid")
    conform.add_argument("--beats", required=True, metavar="FILE|beside",
                         help="the beat annotation (one input), or 'beside': each input's <name>_annotations.txt")

    tracker = verbs.add_parser(
        "train-tracker", help="train the beat tracker's note network on ASAP (rerun to resume)",
        description="Train the beat tracker's note network (stylenet/recorded/tracker.py) on ASAP's train works, "
                    "choose on its validation works, and tune the decoder; checkpointed every epoch.",
        epilog="example:\n  stylenet train-tracker --asap ../shared/data/asap --epochs 60 --out build/tracker/tracker.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    from stylenet.recorded import train_touch, train_tracker  # argparse and NumPy only at import

    train_tracker.arguments(tracker)
    touch = verbs.add_parser(
        "train-touch", help="train the touch network on ASAP's recordings and calibrate it (rerun to resume)",
        description="Train the touch network (stylenet/recorded/touch.py): what a recording's timing says about "
                    "its loudness; then calibrate its weight per genre against a StyleNet model.",
        epilog="example:\n  stylenet train-touch --dataset build/dataset-concert --asap ../shared/data/asap "
               "--genres concert classical",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train_touch.arguments(touch)
    return {"conform": _run_conform, "train-tracker": lambda args: train_tracker.run(args, tracker),
            "train-touch": lambda args: train_touch.run(args, touch)}


def _run_conform(args) -> int:
    from stylenet.recorded.conform import ConformOptions, run

    report = run(ConformOptions(tuple(args.inputs), args.beats, args.out, args.force, not args.quiet))
    if report.single:
        print(report.lines[0])
    else:
        print(f"{len(report.lines)} conformed, {len(report.skipped)} skipped")
    return 1 if report.skipped else 0
