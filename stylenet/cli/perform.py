"""`stylenet perform`: a score in, a performance out (the play wing's one verb)."""

from __future__ import annotations

import argparse
import sys

from stylenet.cli import STARTED
from stylenet.cli import options as opt


def register(verbs) -> dict:
    perform = verbs.add_parser(
        "perform", help="play flat piano MIDI as a genre's pianists would: velocity, timing, articulation, pedal",
        description="Predict how a pianist of GENRE would play each piano note -- velocity, timing, length, "
                    "pedal -- and write the MIDI back with the piano part performed (other tracks untouched).",
        epilog=f"examples:\n  {opt.EXAMPLES['perform']}\n  stylenet perform exports/ --genre classical -o performed/ "
               "--level mf --strength 0.8", formatter_class=argparse.RawDescriptionHelpFormatter)
    opt.files_in_files_out(perform, "<name>.<genre>.mid")
    perform.add_argument("--genre", required=True, help="whose touch: a genre the model knows (e.g. jazz)")
    perform.add_argument("--model", metavar="RUN_OR_FILE",
                         help="a training run directory or a saved model (default: the shipped model)")
    perform.add_argument("--strength", type=opt.unit_interval, default=1.0, metavar="S",
                         help="0..1: blend with the input's own velocities (default: %(default)s = all model)")
    perform.add_argument("--level", type=opt.level, default="auto", metavar="L",
                         help="overall level: ppp pp p mp mf f ff fff, a MIDI velocity, 'input' (the file's own), "
                              "'genre' (the genre's typical level), 'model' (the level the model predicts), or "
                              "'auto' (the default): 'input' for a piano mixed with other instruments, so the "
                              "mix keeps its balance, 'model' for a piano alone")
    perform.add_argument("--contrast", type=opt.contrast, default="auto", metavar="C",
                         help="spread of velocities: 'auto' (default) = the genre's factor stored with the model "
                              "(0.9 of the human spread on its validation pieces; a training run records it as "
                              "its training ends; older model files: each piece stretched to the "
                              "genre's typical spread), and for a score that gets timing too, widened after the "
                              "expression network's blend to the pianists' spread (docs/expression.md); a factor, "
                              "or 1 = raw model output (with --touch, a factor multiplies the touch's own "
                              "calibrated one)")
    perform.add_argument("--beats", metavar="FILE|beside",
                         help="a recorded performance: read it on these beats (an annotation file, one line "
                              "per beat: 'time time b|db[,N/D]'), or 'beside' for each input's own "
                              "<name>_annotations.txt; the output keeps the input's timing")
    perform.add_argument("--grid", choices=("nominal", "beats", "auto"), default="auto",
                         help="the beat grid notes are read on: 'nominal' = the file's tempo map; 'beats' = the "
                              "--beats annotation, else beats tracked from the notes; 'auto' (default) = "
                              "--beats when given, else the file's tempo map, with a note when the file looks "
                              "like a recording")
    perform.add_argument("--touch", choices=("auto", "on", "off"), default="auto",
                         help="read a recording's own timing for loudness too (a chord's leading note, legato, "
                              "pedal, rubato: recorded/touch.py): 'auto' (default) = for a file that looks like a "
                              "recording, in a genre the touch network is calibrated for with this model (the "
                              "shipped one: concert, classical); 'on' = always; 'off' = the score alone")
    perform.add_argument("--touch-model", metavar="FILE", type=opt.path_text, help="a touch network from `stylenet train-touch` "
                         "(default: the shipped one)")
    perform.add_argument("--timing", type=opt.amount, default=1.0, metavar="A",
                         help="0..1 or 'off': how much of the expression network's timing to write -- the rubato "
                              "and each note's place against its beat (default: %(default)s; a file that looks "
                              "like a recording keeps its own timing, articulation and pedal)")
    perform.add_argument("--articulation", type=opt.amount, default=1.0, metavar="A",
                         help="0..1 or 'off': how much of its note lengths (legato, staccato) to write "
                              "(default: %(default)s)")
    perform.add_argument("--pedal", choices=("auto", "keep", "add", "off"), default="auto",
                         help="sustain pedal: 'auto' (default) = keep a file's own, add one where it has none; "
                              "'keep'; 'add' (replace the file's own); 'off' (remove it)")
    perform.add_argument("--timing-as", choices=("notes", "tempo"), default="notes",
                         help="'notes' (default) = move the notes (a fixed-tempo session; a file with other "
                              "instruments keeps its beat: no rubato); 'tempo' = keep the notes on their ticks "
                              "and write the rubato as a tempo map, so a DAW's bar lines still line up")
    perform.add_argument("--variation", type=opt.amount, default=0.0, metavar="A",
                         help="0..1 or 'off' (the default): how far the performance strays from the expected "
                              "one, drawn as pianists stray from it; 1 = as far as they do")
    perform.add_argument("--seed", type=int, default=0, metavar="N",
                         help="another N, another performance of the same file (default: %(default)s)")
    perform.add_argument("--expression-model", metavar="FILE", type=opt.path_text,
                         help="an expression network from `stylenet train-expression` (default: the shipped one)")
    perform.add_argument("--programs", type=opt.programs, metavar="LIST",
                         help="General MIDI programs, counted from 0 as MIDI files store them, that are the piano "
                              "(default: 0-7, Acoustic Grand to Clavinet; e.g. 0-7,16 adds a drawbar organ)")
    perform.add_argument("--tracks", nargs="+", metavar="TRACK",
                         help="the piano's tracks, by index from 0 or by name (e.g. --tracks Keys, --tracks 2 3): "
                              "every non-drum note there is the piano, whatever its program")
    perform.add_argument("-j", "--jobs", type=opt.positive, default=1, metavar="N",
                         help="spread a folder over N processes, each loading the models once (default: "
                              "%(default)s; on two cores, 2 performed 30 one-minute files 1.22x as fast)")
    perform.add_argument("--quantize", action="store_true",
                         help="write the paper's quantised piano part instead of the original file")
    perform.add_argument("--plot", action="store_true", help="also write a before/after piano-roll PNG")
    perform.add_argument("--render", action="store_true",
                         help="also write the performance's audio beside it, and the input's as written, loudness-matched "
                              "(<output>.wav and <input>.as-written.wav; see `stylenet render`)")
    perform.add_argument("--render-format", choices=("wav", "opus"), default="wav",
                         help="with --render: wav or opus (default: %(default)s)")
    perform.add_argument("--soundfont", metavar="SF2", help="with --render: a SoundFont (default: the best "
                         "installed; see `stylenet render --help`)")
    perform.add_argument("--timings", action="store_true",
                         help="print where the time went (imports, model load, read+encode, forward, write)")

    return {"perform": _run_perform}


SHIPPED_LICENCE = ("the shipped models learned from ASAP (CC BY-NC-SA 4.0) and research-use collections: use "
                   "them, and what they perform, for research and non-commercial work only (docs/licence.md)")


def _run_perform(args) -> int:
    from stylenet.expression.realise import Expression
    from stylenet.play.batch import PerformOptions, run
    from stylenet.velocity.shaping import Shaping

    shaping = Shaping(args.level, args.contrast, args.strength)
    render = None
    if args.render:
        from stylenet.listen.render import audio_beside

        render = audio_beside(args.render_format, args.soundfont, args.force)
    expression = Expression(args.timing, args.articulation, args.pedal, args.timing_as, args.variation, args.seed)
    options = PerformOptions(tuple(args.inputs), args.genre, args.model, args.out, shaping, args.quantize, args.plot,
                             args.force, args.beats, args.grid, progress=not args.quiet, render=render,
                             touch=args.touch, touch_model=args.touch_model, expression=expression,
                             expression_model=args.expression_model,
                             tracks=tuple(args.tracks) if args.tracks else None, jobs=args.jobs,
                             **({"programs": args.programs} if args.programs else {}))
    report = run(options, STARTED)
    if report.model_note:
        print(f"note: {report.model_note}", file=sys.stderr)
    if report.single:
        result = report.performances[0]
        if result.note:
            print(f"note: {result.note}", file=sys.stderr)
        print(result.line())
        if result.plot:
            print(f"plot: {result.plot}")
        if result.audio:
            print(f"audio: {result.audio} (as written: {result.audio_before})")
    else:
        print(report.summary())
    if report.shipped and not args.quiet:
        print(f"licence: {SHIPPED_LICENCE}", file=sys.stderr)
    if args.timings:
        print(report.timings.line(), file=sys.stderr)
    return 1 if report.skipped or report.failed else 0
