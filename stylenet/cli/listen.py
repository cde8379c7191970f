"""The listening wing's verbs: `render` (audio) and `survey` (listening tests: build, serve, score)."""

from __future__ import annotations

import argparse

from stylenet.cli import options as opt


def register(verbs) -> dict:
    render = verbs.add_parser(
        "render", help="audio of MIDI files with a piano sound (WAV or Opus)",
        description="Render MIDI files (a performance, a human original, a flat score) to audio with a "
                    "General MIDI SoundFont, velocity-sensitive. Needs no system library.",
        epilog=f"examples:\n  {opt.EXAMPLES['render']}\n  stylenet render performed/ -o audio/ --format opus "
               "--soundfont SalamanderGrand.sf2", formatter_class=argparse.RawDescriptionHelpFormatter)
    opt.files_in_files_out(render, "<name>.wav or <name>.opus")
    render.add_argument("--soundfont", metavar="SF2", help="a SoundFont 2 file (default: a system General MIDI "
                        "font when installed, e.g. Debian's fluid-soundfont-gm, else pretty_midi's small TimGM6mb.sf2)")
    render.add_argument("--format", dest="fmt", choices=("wav", "opus"), default="wav",
                        help="wav (48 kHz 16-bit stereo) or opus (Ogg Opus, a sixth of the size) "
                             "(default: %(default)s)")
    render.add_argument("--tail", type=opt.seconds, default=1.0, metavar="S",
                        help="seconds of release after the last MIDI event (default: %(default)s)")
    render.add_argument("--gain", type=opt.gain, default="auto", metavar="DB",
                        help="'auto' (default): WAV brought to -16 LUFS, peaks under -1 dBFS; or a gain in dB "
                             "(0: as synthesised). Opus is written as synthesised")

    survey = verbs.add_parser(
        "survey", help="listening tests: build one (A/B or rating), collect answers, score them",
        description="Listening tests as in the StyleNet paper (A/B: which of two clips did a human play?) "
                    "and the second report (rate clips 1 = surely a human ... 5 = surely a computer).",
        epilog="examples:\n  stylenet survey build build/dataset -o survey/ab --pairs 20 --baselines random flat\n"
               "  stylenet survey build build/dataset -o survey/rating --design rating "
               "--sources human stylenet random mine=generated/\n"
               "  stylenet survey serve survey/ab\n"
               "  stylenet survey score survey/ab.key.json survey/ab.answers.sqlite",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = survey.add_subparsers(dest="survey_verb", metavar="STEP", required=True)

    build = steps.add_parser(
        "build", help="write a self-contained survey folder (index.html + audio) and its answer key",
        description="Cut ~10 s excerpts at note boundaries, render them, and write a folder that works offline "
                    "in a browser (nothing in it tells the answer) and, beside it, the answer key.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("dataset", metavar="DATASET", nargs="?",
                       help="a built dataset (its human piano parts and split); needed for the sources human, "
                            "stylenet, flat and random")
    build.add_argument("-o", "--out", required=True, metavar="DIR", help="the survey folder to create")
    build.add_argument("--design", choices=("ab", "rating"), default="ab",
                       help="ab: human vs StyleNet pairs (the paper); rating: clips rated 1-5 (default: %(default)s)")
    build.add_argument("--pairs", "--items", dest="items", type=opt.positive, default=10, metavar="N",
                       help="ab: pairs per compared source; rating: clips per source (default: %(default)s)")
    build.add_argument("--baselines", nargs="*", default=[], choices=("random", "flat"), metavar="B",
                       help="ab: also pair the human with these (random velocities, flat velocities)")
    build.add_argument("--pair", nargs=2, metavar="NAME=DIR",
                       help="ab on your own files: pair each file of the first folder with the file of the same "
                            "name in the second (or <name>.<anything>.mid, as perform writes); the first plays the "
                            "part of the human, e.g. --pair performed=out/ score=scores/ (no DATASET needed)")
    build.add_argument("--sources", nargs="+", default=["human", "stylenet"], metavar="SOURCE",
                       help="rating: human, stylenet, flat, random, or NAME=DIR (any folder of MIDI files) "
                            "(default: human stylenet)")
    build.add_argument("--split", default="test", help="dataset split the pieces come from (default: %(default)s)")
    build.add_argument("--genres", nargs="+", metavar="G", help="only pieces of these genres (default: all)")
    build.add_argument("--seconds", type=opt.seconds, default=10.0, metavar="S",
                       help="length of an excerpt (default: %(default)s; cut at note onsets, so about this)")
    build.add_argument("--seed", type=int, default=0, help="seed of the choice of pieces, excerpts and order")
    build.add_argument("--model", metavar="RUN_OR_FILE", help="StyleNet model (default: the shipped model)")
    build.add_argument("--soundfont", metavar="SF2", help="default: pretty_midi's General MIDI TimGM6mb.sf2")
    build.add_argument("--format", dest="fmt", choices=("wav", "opus"), default="wav",
                       help="audio format (default: %(default)s, plays in every browser; opus is a sixth of the size)")
    build.add_argument("--key", metavar="FILE", help="answer key (default: DIR.key.json beside the folder)")
    build.add_argument("--title", default="Listening test", help="the page's title (default: %(default)s)")
    build.add_argument("--force", action="store_true", help="replace an existing survey folder and key")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    serve = steps.add_parser(
        "serve", help="serve a survey folder and store each submission in SQLite",
        description="A local web server for a survey folder: respondents open the page and send their answers, "
                    "each stored as a new row (never overwritten) in an SQLite database.")
    serve.add_argument("folder", metavar="DIR", help="a folder written by `survey build`")
    serve.add_argument("--db", metavar="FILE", help="SQLite database (default: DIR.answers.sqlite beside the folder)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 for a network)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")

    score = steps.add_parser(
        "score", help="score answers against the key: binomial tests (ab) or rating tables (rating)",
        description="A/B: share of correct identifications per source, pair and respondent with an exact "
                    "two-sided binomial test against 50%%. Rating: per source mean, variance, share rated 1-2, "
                    "and a bar chart. Writes Markdown and JSON (and a PNG).")
    score.add_argument("key", metavar="KEY", help="the answer key (DIR.key.json)")
    score.add_argument("answers", nargs="+", metavar="ANSWERS",
                       help="answer JSON files downloaded from the page, folders of them, or SQLite databases "
                            "written by `survey serve`")
    score.add_argument("-o", "--out", metavar="DIR", help="report folder (default: beside the key, DIR.score/)")
    return {"render": _run_render, "survey": _run_survey}


def _run_render(args) -> int:
    from stylenet.listen.render import RenderOptions, run

    report = run(RenderOptions(tuple(args.inputs), args.out, args.soundfont, args.fmt, args.tail, args.force,
                               not args.quiet, args.gain))
    if report.single:
        print(report.lines[0])
    else:
        print(f"{len(report.lines)} rendered, {len(report.skipped)} skipped")
    return 1 if report.skipped else 0


def _run_survey(args) -> int:
    if args.survey_verb == "build":
        from stylenet.listen.survey.build import BuildOptions, build

        report = build(BuildOptions(
            args.dataset, args.out, args.design, args.items, tuple(args.baselines), tuple(args.sources),
            args.split, tuple(args.genres) if args.genres else None, args.seconds, args.seed, args.model,
            args.soundfont, args.fmt, args.key, args.title, args.force, not args.quiet, tuple(args.pair or ())))
        print(report.summary())
        return 1 if report.short else 0
    if args.survey_verb == "serve":
        from stylenet.listen.survey.serve import make_server

        server = make_server(args.folder, args.db, args.host, args.port, log=lambda line: print(line, flush=True))
        host = "localhost" if args.host in ("127.0.0.1", "::1", "localhost") else args.host
        print(f"serving {args.folder} at http://{host}:{server.server_address[1]}/  ({len(server.survey['items'])} "
              f"items; answers go to {server.db}); Ctrl-C stops", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
        finally:
            server.server_close()
        return 0
    from stylenet.listen.survey.score import score_files

    report = score_files(args.key, args.answers, args.out)
    print(report.markdown)
    if report.duplicates:
        print(f"{report.duplicates} duplicate submissions (same respondent, same answers) counted once")
    print(f"{report.submissions} submissions scored, {len(report.skipped)} files skipped; "
          f"report: {report.out}/score.md")
    return 1 if report.skipped else 0
