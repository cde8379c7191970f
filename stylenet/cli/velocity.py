"""The velocity wing's verbs: `build-dataset`, `train`, `evaluate` (the paper's StyleNet)."""

from __future__ import annotations

import argparse

from stylenet.cli import options as opt


def register(verbs) -> dict:
    build = verbs.add_parser(
        "build-dataset", help="encode a folder of piano MIDI (RAW_DIR/<genre>/...) into training matrices",
        description="Encode every MIDI file under RAW_DIR/<genre>/ into score and velocity matrices, "
                    "with a manifest and a report of every rejected file.",
        epilog=f"example:\n  {opt.EXAMPLES['build-dataset']}", formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("raw_dir", metavar="RAW_DIR", nargs="?", type=opt.path_text,
                       help="folder with one sub-folder per genre (may be left out with --asap)")
    build.add_argument("-o", "--out", default="build/dataset", help="output folder (default: %(default)s)")
    build.add_argument("--splits", metavar="CSV", help="CSV with columns path, genre, piece, split; "
                       "without it every piece is 'train'")
    build.add_argument("--steps-per-quarter", type=opt.positive,
                       help="grid steps per quarter note (default: 1/16 notes, as the paper)")
    build.add_argument("--programs", type=opt.programs,
                       help="General MIDI programs (0-based) that count as piano (default: 0-7, the pianos)")
    build.add_argument("--min-velocities", type=int, default=20, metavar="N",
                       help="reject files with fewer than N distinct velocities (default: %(default)s, the paper)")
    build.add_argument("--time-signature", type=opt.meter, metavar="N/D",
                       help="keep only pieces entirely in this meter (4/4 reproduces the paper; default: all)")
    build.add_argument("--beats", action="store_true",
                       help="recorded performances: read each file on the beats annotated beside it "
                            "(<name>_annotations.txt, ASAP's format); a file without one is rejected")
    build.add_argument("--asap", metavar="DIR", help="also add the performances of an ASAP folder (its "
                       "metadata.csv), each on its annotated beats, split by work (about 10%% test)")
    build.add_argument("--asap-genre", default="concert", metavar="NAME",
                       help="the genre ASAP's performances join (default: %(default)s; 'classical' adds them to it)")
    build.add_argument("--asap-seed", type=int, default=0, metavar="N", help="seed of ASAP's split by work")
    build.add_argument("-j", "--jobs", type=opt.positive, help="worker processes (default: all cores)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    train = verbs.add_parser(
        "train", help="train StyleNet on a built dataset (resumes an existing run directory)",
        description="Train StyleNet from a YAML config. Rerunning the same command resumes the run from its "
                    "last checkpoint.",
        epilog=f"example:\n  {opt.EXAMPLES['train']}", formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--config", required=True, metavar="YAML", help="e.g. configs/stylenet.yaml")
    train.add_argument("--run-dir", metavar="DIR", help="where checkpoints, logs and plots go "
                       "(default: runs/<config name>)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value, e.g. --set train.epochs=3 (repeatable)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    evaluate = verbs.add_parser(
        "evaluate", help="measure a model against human velocities and baselines, per genre",
        description="Per genre, over notes: MAE, RMSE, Pearson r, share within ±6.4/±12.7, spread ratio, "
                    "Wasserstein distance and shape error, for the model and for flat, random, humanizer and "
                    "other-genre baselines. Writes JSON, Markdown and PNGs.",
        epilog=f"example:\n  {opt.EXAMPLES['evaluate']}", formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("source", metavar="DATASET_OR_FOLDER", type=opt.path_text,
                          help="a built dataset, or a folder of MIDI files in genre sub-folders")
    evaluate.add_argument("--model", metavar="RUN_OR_FILE", action="append",
                          help="default: the shipped model; given more than once, the models' ensemble (their "
                               "predictions averaged; what `stylenet export RUN RUN ...` ships)")
    evaluate.add_argument("--split", default="test", help="dataset split: test, train, 'validation' (the pieces the "
                          "model's training run held out: tune on these) or 'all' (default: %(default)s)")
    evaluate.add_argument("--genres", nargs="+", metavar="G", help="default: every genre of the model")
    evaluate.add_argument("-o", "--out", metavar="DIR", help="report folder (default: build/evaluation)")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    export = verbs.add_parser(
        "export", help="turn training runs into a shipped model file and its card (calibrated on validation)",
        description="Write a model file (float16 weights, the training data's velocity statistics, each genre's "
                    "--contrast auto factor chosen on the runs' validation pieces) and its card, scored on the "
                    "dataset's test split. Several runs (same genres, inputs and validation pieces) ship as one "
                    "ensemble: their predictions averaged.",
        epilog="example:\n  stylenet export runs/pretrained --dataset build/dataset-concert --out stylenet/pretrained",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("run_dirs", nargs="+", metavar="RUN", type=opt.path_text)
    export.add_argument("--dataset", default="build/dataset", type=opt.path_text, help="(default: %(default)s)")
    export.add_argument("--out", default="build/export", type=opt.path_text, metavar="DIR",
                        help="(default: %(default)s; stylenet/pretrained ships it with the package)")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return {"export": _run_export, "build-dataset": _run_build_dataset, "train": _run_train, "evaluate": _run_evaluate}


def _run_build_dataset(args) -> int:
    from stylenet.core.errors import StyleNetError
    from stylenet.data.build import BuildOptions, build_dataset

    if args.raw_dir is None and not args.asap:
        raise StyleNetError("name a RAW_DIR, or an ASAP folder with --asap DIR", exit_code=2)
    given = {"steps_per_quarter": args.steps_per_quarter, "programs": args.programs,
             "min_distinct_velocities": args.min_velocities, "time_signature": args.time_signature,
             "beats": args.beats, "asap": args.asap, "asap_genre": args.asap_genre, "asap_seed": args.asap_seed}
    options = BuildOptions(**{k: v for k, v in given.items() if v is not None})  # the rest: the dataset's defaults
    report = build_dataset(args.raw_dir, args.out, args.splits, options, jobs=args.jobs,
                           progress=not args.quiet)
    print(report.summary_table())
    if report.same_work:
        print(f"\n{len(report.same_work)} ASAP works are also RAW_DIR pieces; each takes its piece's side of the "
              f"split (listed in {report.out_dir}/build.json, 'same_work')")
    print(f"\n{len(report.kept)} pieces kept, {len(report.rejected)} rejected "
          f"({report.reused} unchanged since the last build) in {report.seconds:.1f} s")
    print(f"dataset: {report.out_dir}/manifest.jsonl   rejected files and reasons: {report.out_dir}/rejected.csv")
    return 0


def _run_train(args) -> int:
    from stylenet.velocity.config import load_config
    from stylenet.velocity.train import train

    config, run_dir = opt.train_run(args, "stylenet train", load_config, train)
    print(f"  loss curves:       {run_dir}/plots/loss.png   (TensorBoard: tensorboard --logdir {run_dir}/tensorboard)")
    print(f"  evaluate:          stylenet evaluate {config.data.dataset} --model {run_dir} --split test")
    print(f"  perform:           stylenet perform song.mid --genre {config.data.genres[0]} --model {run_dir}")
    return 0


def _run_evaluate(args) -> int:
    from stylenet.velocity.evaluate import EvaluateOptions, markdown_table, multi_reference_table, run

    options = EvaluateOptions(args.source, tuple(args.model or ()), args.split, tuple(args.genres or ()), args.out,
                              progress=not args.quiet)
    report = run(options)
    print(markdown_table(report.results))
    if report.agreement:
        print("Works with several performances (notes matched by key and grid step):\n")
        print(multi_reference_table(report.agreement))
    out = report.out
    print(f"report: {report.paths['markdown']}  numbers: {report.paths['json']}  plots: {out}/scatter_*.png, "
          f"{out}/timeline_*.png")
    return 0


def _run_export(args) -> int:
    from stylenet.velocity.export import export_pretrained

    export = export_pretrained(args.run_dirs, args.dataset, args.out, progress=not args.quiet)
    print(export.markdown)
    print(f"wrote {export.model} ({export.model.stat().st_size / 1e6:.1f} MB), {export.card}")
    return 0
