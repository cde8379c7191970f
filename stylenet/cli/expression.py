"""The expression wing's verbs: `build-expression`, `train-expression`, `evaluate-expression`.

`register(verbs)` adds their parsers to `stylenet`'s and returns {verb: handler}; nothing heavy is imported
until a verb runs (TensorFlow only by `train-expression`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylenet.cli.options import path_text


def _semitones(text: str) -> int:
    if not text.isdigit() or int(text) > 12:
        raise argparse.ArgumentTypeError(f"must be a whole number of semitones from 0 to 12, got {text!r}")
    return int(text)


def register(verbs) -> dict:
    build = verbs.add_parser(
        "build-expression", help="align scores and performances: what the expression network learns from",
        description="Align every ASAP performance to its work's score through their beat annotations, read "
                    "every raw/ file against its own nominal grid, and split them as the StyleNet model's run "
                    "did (train / validation / test); writes OUT/{train,validation,test}.pkl and report.json.",
        epilog="example:\n  stylenet build-expression --dataset build/dataset-concert --raw ../shared/data/raw "
               "--asap ../shared/data/asap -o build/expression",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--dataset", required=True, type=path_text, metavar="DIR",
                       help="a dataset built with `build-dataset RAW --asap ASAP` (its manifest and splits)")
    build.add_argument("--raw", type=path_text, required=True, metavar="DIR", help="the RAW_DIR the dataset was built from")
    build.add_argument("--asap", type=path_text, required=True, metavar="DIR", help="the ASAP folder it was built with")
    build.add_argument("--model", type=path_text, metavar="MODEL",
                       help="the StyleNet model whose run's validation pieces are held out (default: the shipped one)")
    build.add_argument("-o", "--out", type=path_text, default="build/expression", help="(default: %(default)s)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    train = verbs.add_parser(
        "train-expression", help="train the expression network (rerun to resume)",
        description="Train the expression network on `build-expression`'s pairs; chosen on its validation "
                    "pieces, checkpointed every epoch (rerun the same command to resume).",
        epilog="example:\n  stylenet train-expression --data build/expression --out build/expression/net.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--data", type=path_text, default="build/expression", metavar="DIR")
    train.add_argument("--out", type=path_text, default="build/expression/net.npz", metavar="NPZ")
    train.add_argument("--work-dir", type=path_text, default="build/expression/run", metavar="DIR")
    train.add_argument("--genres", nargs="+", help="(default: every genre of the data)")
    train.add_argument("--stylenet", type=path_text, metavar="MODEL",
                       help="the StyleNet model whose velocities the network's are blended with (default: the shipped one)")
    train.add_argument("--calibrate-only", action="store_true",
                       help="only choose, per genre on validation, how much of the written velocity is the network's")
    train.add_argument("--ensemble", nargs="+", type=path_text, metavar="NPZ",
                       help="no training: join these trained networks (same genres and features) into one at --out "
                            "that writes their mean, and calibrate it")
    for name, kind, default in (("epochs", int, 150), ("crops", int, 256), ("crop", int, 512), ("batch", int, 16),
                                ("units", int, 128), ("layers", int, 2), ("lr", float, 2e-3), ("dropout", float, 0.1),
                                ("threads", int, 2), ("seed", int, 0), ("validate-every", int, 10)):
        train.add_argument(f"--{name}", type=kind, default=default, help="(default: %(default)s)")
    train.add_argument("--transpose", type=_semitones, default=0, metavar="N",
                       help="move each training crop up or down by up to N semitones (default: %(default)s)")
    train.add_argument("--balance", choices=("performance", "work"), default="performance",
                       help="draw training crops per performance, or per work so that a work played many times "
                            "counts once (default: %(default)s)")
    train.add_argument("--consensus", action="store_true",
                       help="learn the velocity and tempo of a work played more than once as the mean of its "
                            "pianists (the typical pianist), onsets, lengths and pedal as each pianist's own")

    evaluate = verbs.add_parser(
        "evaluate-expression", help="score performances of scores against every pianist who played them",
        description="Per piece and target (velocity, tempo curve, onsets, durations, pedal): the expression "
                    "network, the score as written, a DAW humanizer, StyleNet's velocities, one pianist "
                    "against another and against the others' consensus, on the same notes.",
        epilog="example:\n  stylenet evaluate-expression --data build/expression --split validation",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("--data", type=path_text, default="build/expression", metavar="DIR")
    evaluate.add_argument("--split", choices=("validation", "test"), default="validation")
    evaluate.add_argument("--model", type=path_text, metavar="NPZ", help="(default: the shipped expression network)")
    evaluate.add_argument("--stylenet", type=path_text, metavar="MODEL",
                          help="StyleNet model for its velocity row (default: the shipped one; 'none' leaves it out)")
    evaluate.add_argument("--genres", nargs="+", help="(default: every genre of the data)")
    evaluate.add_argument("--plots", type=path_text, metavar="DIR", help="a PNG per work: tempo curves and velocities")
    evaluate.add_argument("--variation", type=float, default=0.0, metavar="A",
                          help="the 'written' row's variation, as perform --variation (default: %(default)s)")
    evaluate.add_argument("--realism", action="store_true",
                          help="also train a detector to tell what perform writes from the pianists (needs scikit-learn)")
    evaluate.add_argument("--json", type=path_text, metavar="FILE", help="also write the table as JSON")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return {"build-expression": _run_build, "train-expression": _run_train, "evaluate-expression": _run_evaluate}


def _run_build(args) -> int:
    from stylenet.core.errors import StyleNetError
    from stylenet.expression.data import build
    from stylenet.velocity.performer import load_performer

    for name in ("raw", "asap"):
        if not Path(getattr(args, name)).is_dir():
            raise StyleNetError(f"--{name} {getattr(args, name)}: no such folder", exit_code=2)
    if not Path(args.dataset, "manifest.jsonl").is_file():
        raise StyleNetError(f"{args.dataset}: no manifest.jsonl (build it with `stylenet build-dataset RAW --asap ASAP`)",
                            exit_code=2)
    performer = load_performer(args.model)
    report = build(args.dataset, args.raw, args.asap, args.out, performer.info["config"], progress=not args.quiet)
    for split, sources in report["splits"].items():
        for source, s in sources.items():
            extra = f", median offset {s['median_offset_ms']} ms" if "median_offset_ms" in s else ""
            print(f"{split:<10} {source:<9} {s['performances']:4d} performances, {s['score_notes']:8,d} score notes, "
                  f"{100 * s['score_share']:.1f} % aligned ({100 * s['performed_share']:.1f} % of the played notes){extra}")
    print(f"{len(report['skipped'])} skipped; report: {args.out}/report.json")
    return 0


def _run_train(args) -> int:
    from stylenet.expression.train import main

    return main(args)


def _run_evaluate(args) -> int:
    from stylenet.expression.evaluate import main

    return main(args)
