"""The compose wing's verb: `compose train|sample|report` (the second report's composers)."""

from __future__ import annotations

import argparse
import sys

from stylenet.cli import options as opt


def register(verbs) -> dict:
    compose = verbs.add_parser(
        "compose", help="compose new pieces (the second report's autoencoder and token LSTM) for `perform`",
        description="The second report's composers: an autoencoder of 16-bar piano rolls and an LSTM over "
                    "chord tokens. Train one on a built dataset, sample flat-velocity MIDI from it (then give it "
                    "dynamics with `stylenet perform`), and measure generated against human music.",
        epilog="examples:\n  stylenet compose train --config configs/compose_lstm.yaml\n"
               f"  {opt.EXAMPLES['compose']}\n"
               "  stylenet perform generated/ --genre jazz -o performed/\n"
               "  stylenet compose report lstm=generated/ --model runs/compose_lstm",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = compose.add_subparsers(dest="compose_verb", metavar="STEP", required=True)

    train = steps.add_parser(
        "train", help="train (or resume) a composer from a YAML config",
        description="Read the pieces through the report's filters (tempo 110-130 qpm, leading silence, one key), "
                    "train the composer the config names, and keep checkpoints, the best weights, history.csv "
                    "and plots/loss.png in the run directory. Rerunning the same command resumes the run.")
    train.add_argument("--config", required=True, metavar="YAML", help="e.g. configs/compose_lstm.yaml")
    train.add_argument("--run-dir", metavar="DIR", help="default: runs/<config name>")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value, e.g. --set train.epochs=3 (repeatable)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    sample = steps.add_parser(
        "sample", help="write new pieces as flat-velocity MIDI",
        description="Autoencoder: decode latent vectors drawn from the spread of the training passages' codes. "
                    "Token LSTM: continue 64 random tokens (or a real opening) one token at a time, sampled at "
                    "a temperature. Every note at one velocity and a set tempo, for `stylenet perform`.")
    sample.add_argument("--model", metavar="RUN", help="a `stylenet compose train` run directory (default: the "
                        "shipped composer, a small token LSTM)")
    sample.add_argument("-o", "--out", required=True, metavar="DIR", help="folder the pieces are written into")
    sample.add_argument("-n", dest="count", type=opt.positive, default=4, help="how many pieces (default: %(default)s)")
    sample.add_argument("--bars", type=opt.positive, default=16, help="bars of 4 quarter notes a piece (default: %(default)s)")
    sample.add_argument("--seed", type=int, default=0, help="the same seed writes the same pieces (default: %(default)s)")
    sample.add_argument("--threshold", type=opt.unit_interval, default=0.5,
                        help="autoencoder: a cell sounds above this probability (default: %(default)s, the report's)")
    sample.add_argument("--components", type=opt.positive, metavar="K",
                        help="autoencoder: draw along the first K principal components of the latent codes "
                             "(default: all)")
    sample.add_argument("--temperature", type=opt.temperature, default=1.0, metavar="T",
                        help="token LSTM: 0 = always the likeliest token (greedy), 1 = the network's "
                             "probabilities, higher = wilder (default: %(default)s)")
    sample.add_argument("--opening", metavar="MIDI", help="token LSTM: start from this piece's first tokens "
                        "instead of random ones")
    sample.add_argument("--qpm", type=opt.qpm, default=120.0, help="tempo written (default: %(default)s)")
    sample.add_argument("--velocity", type=opt.velocity, default=64, help="every note's velocity (default: %(default)s)")
    sample.add_argument("--force", action="store_true", help="overwrite existing outputs")

    report = steps.add_parser(
        "report", help="measure generated sets against human music (table + PNG)",
        description="Per set: notes per bar, polyphony, pitch-class entropy, scale consistency, empty-bar rate, "
                    "and the longest run of bars and of chord tokens shared with the run's training pieces. "
                    "A human set (the run's data source, --human-split, cut to --bars) is measured beside them.")
    report.add_argument("sets", nargs="+", metavar="SET", help="NAME=DIR or DIR: folders of generated MIDI")
    report.add_argument("--model", metavar="RUN",
                        help="a compose run: its data source and filters give the training pieces and the human set "
                             "(default: the shipped composer's)")
    report.add_argument("--human-split", default="test", help="split of the human set, or 'none' (default: %(default)s)")
    report.add_argument("--bars", type=opt.positive, default=16,
                        help="human pieces are cut to their first N bars (default: %(default)s)")
    report.add_argument("-o", "--out", metavar="DIR", help="report folder (default: build/compose-report)")
    report.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return {"compose": _run_compose}


def _run_compose(args) -> int:
    if args.compose_verb == "train":
        from stylenet.compose.config import load_compose_config
        from stylenet.compose.train import train

        _, run_dir = opt.train_run(args, "stylenet compose train", load_compose_config, train)
        print(f"  loss curves:       {run_dir}/plots/loss.png")
        print(f"  compose:           stylenet compose sample --model {run_dir} -n 4 --bars 16 -o generated/")
        return 0
    if args.compose_verb == "sample":
        from stylenet.compose.sample import SampleOptions, sample

        result = sample(SampleOptions(args.model, args.out, args.count, args.bars, args.seed, args.threshold,
                                      args.components, args.temperature, args.opening, args.qpm, args.velocity,
                                      args.force))
        for line in result.notes:
            print(f"note: {line}", file=sys.stderr)
        for line in result.lines:
            print(line)
        composer = result.composer.replace("_", " ")
        if not result.written:
            print(f"no piece written by the {composer}", file=sys.stderr)
            return 1
        print(f"{len(result.written)} pieces written by the {composer}; give them dynamics with: "
              f"stylenet perform {args.out} --genre jazz")
        return 0
    from stylenet.compose.report import ReportOptions, report

    result = report(ReportOptions(tuple(args.sets), args.model, None if args.human_split == "none" else args.human_split,
                                  args.bars, args.out, not args.quiet))
    print(result.markdown)
    print(f"report: {result.out}/report.md  numbers: {result.out}/report.json  plot: {result.out}/report.png")
    return 1 if result.skipped else 0
