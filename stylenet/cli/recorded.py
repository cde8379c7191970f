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
    _train_tracker_arguments(tracker)
    touch = verbs.add_parser(
        "train-touch", help="train the touch network on ASAP's recordings and calibrate it (rerun to resume)",
        description="Train the touch network (stylenet/recorded/touch.py): what a recording's timing says about "
                    "its loudness; then calibrate its weight per genre against a StyleNet model.",
        epilog="example:\n  stylenet train-touch --dataset build/dataset-concert --asap ../shared/data/asap "
               "--genres concert classical",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _train_touch_arguments(touch)
    return {"conform": _run_conform, "train-tracker": lambda args: _run_trainer("train_tracker", args, tracker),
            "train-touch": lambda args: _run_trainer("train_touch", args, touch)}


def _run_conform(args) -> int:
    from stylenet.recorded.conform import ConformOptions, run

    report = run(ConformOptions(tuple(args.inputs), args.beats, args.out, args.force, not args.quiet))
    if report.single:
        print(report.lines[0])
    else:
        print(f"{len(report.lines)} conformed, {len(report.skipped)} skipped")
    return 1 if report.skipped else 0


def _run_trainer(name: str, args, parser) -> int:
    import importlib

    return importlib.import_module(f"stylenet.recorded.{name}").run(args, parser)


def _train_tracker_arguments(parser) -> None:
    """The options of `stylenet train-tracker`."""
    parser.add_argument("--asap", required=True, metavar="DIR", help="the ASAP folder (its metadata.csv and annotations)")
    parser.add_argument("--cache", default="build/tracker/asap.pkl")
    parser.add_argument("--out", default="build/tracker/tracker.npz", help="(default: %(default)s; copy it to stylenet/pretrained/ to ship it)")
    parser.add_argument("--work-dir", default="build/tracker")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--crops", type=int, default=256, help="training crops per epoch")
    parser.add_argument("--crop", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--stretch", type=float, default=0.15, help="crops are stretched in time by exp(U(-S, S)) "
                        "(default: %(default)s)")
    parser.add_argument("--tempo-loss", type=float, default=0.2)
    parser.add_argument("--balance", type=float, default=0.0, help="draw crops less by notes and more evenly "
                        "across beat lengths: 0 in proportion to notes, 1 every half-octave band alike")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validate-every", type=int, default=5)
    parser.add_argument("--mask-padding", action="store_true", help="the LSTMs skip a short crop's padding, "
                        "as inference has none (slower: Keras's LSTM instead of the fused one)")
    parser.add_argument("--sequenced", metavar="DIR", help="also learn from the hand-sequenced files under DIR "
                        "(e.g. RAW_DIR/classical: piano-midi.de), beats from their tempo maps")
    parser.add_argument("--splits", metavar="CSV",
                        help="the raw data's splits: --sequenced leaves its test pieces out")
    parser.add_argument("--tune", metavar="WEIGHTS", help="only tune the decoder for these weights, on every "
                        "performance of the validation works")


def _train_touch_arguments(parser) -> None:
    """The options of `stylenet train-touch`."""
    parser.add_argument("--model",
                        help="the StyleNet model whose validation works are held out and which is calibrated against")
    parser.add_argument("--dataset", default="build/dataset-concert")
    parser.add_argument("--asap", required=True, metavar="DIR", help="the ASAP folder the dataset was built with")
    parser.add_argument("--out", default="build/touch/touch.npz", help="(default: %(default)s; copy it to stylenet/pretrained/ to ship it)")
    parser.add_argument("--work-dir", default="build/touch")
    parser.add_argument("--genres", nargs="+", default=["concert"], help="genres to calibrate the touch for")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--crops", type=int, default=256, help="training crops per epoch")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validate-every", type=int, default=10)
    parser.add_argument("--calibrate-only", action="store_true", help="calibrate --out against --model, no training")
