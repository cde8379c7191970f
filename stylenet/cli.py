"""The `stylenet` command line.  Imports nothing heavy: each verb imports its own module when it runs, so
`stylenet --help` answers at once and only the verbs that need TensorFlow pay for it."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

STARTED = time.perf_counter()  # the first of our code a `stylenet` process runs: `perform --timings` counts from here

EXAMPLES = {
    "build-dataset": "stylenet build-dataset ../shared/data/raw --splits ../shared/data/splits.csv -o build/dataset",
    "train": "stylenet train --config configs/stylenet.yaml --set train.epochs=20",
    "perform": "stylenet perform song.mid --genre jazz --plot",
    "evaluate": "stylenet evaluate build/dataset --split test",
    "conform": "stylenet conform performance.mid --beats performance_annotations.txt -o on_beats.mid",
    "render": "stylenet render song.jazz.mid",
    "survey": "stylenet survey build build/dataset -o survey/ab --pairs 20 --baselines random flat",
    "compose": "stylenet compose sample --model runs/compose_lstm -n 4 --bars 16 --seed 0 -o generated/",
}


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ logging reads this once, at import; set it before any verb imports TF.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def _programs(text: str) -> tuple[int, ...]:
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


def _meter(text: str) -> str:
    num, _, den = text.partition("/")
    if not (num.isdigit() and den.isdigit()):
        raise argparse.ArgumentTypeError(f"time signature must look like 4/4, got {text!r}")
    return f"{int(num)}/{int(den)}"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylenet",
        description="Learn how pianists of a genre play, and perform flat MIDI in that style "
                    "(Malik & Ek, 'Neural Translation of Musical Style', 2017).",
        epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    build = verbs.add_parser(
        "build-dataset", help="encode a folder of piano MIDI (RAW_DIR/<genre>/...) into training matrices",
        description="Encode every MIDI file under RAW_DIR/<genre>/ into score and velocity matrices, "
                    "with a manifest and a report of every rejected file.",
        epilog=f"example:\n  {EXAMPLES['build-dataset']}", formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("raw_dir", metavar="RAW_DIR", nargs="?", type=_path_text,
                       help="folder with one sub-folder per genre (may be left out with --asap)")
    build.add_argument("-o", "--out", default="build/dataset", help="output folder (default: %(default)s)")
    build.add_argument("--splits", metavar="CSV", help="CSV with columns path, genre, piece, split; "
                       "without it every piece is 'train'")
    build.add_argument("--steps-per-quarter", type=_positive,
                       help="grid steps per quarter note (default: 1/16 notes, as the paper)")
    build.add_argument("--programs", type=_programs,
                       help="General MIDI programs (0-based) that count as piano (default: 0-7, the pianos)")
    build.add_argument("--min-velocities", type=int, default=20, metavar="N",
                       help="reject files with fewer than N distinct velocities (default: %(default)s, the paper)")
    build.add_argument("--time-signature", type=_meter, metavar="N/D",
                       help="keep only pieces entirely in this meter (4/4 reproduces the paper; default: all)")
    build.add_argument("--beats", action="store_true",
                       help="recorded performances: read each file on the beats annotated beside it "
                            "(<name>_annotations.txt, ASAP's format); a file without one is rejected")
    build.add_argument("--asap", metavar="DIR", help="also add the performances of an ASAP folder (its "
                       "metadata.csv), each on its annotated beats, split by work (about 10%% test)")
    build.add_argument("--asap-genre", default="concert", metavar="NAME",
                       help="the genre ASAP's performances join (default: %(default)s; 'classical' adds them to it)")
    build.add_argument("--asap-seed", type=int, default=0, metavar="N", help="seed of ASAP's split by work")
    build.add_argument("-j", "--jobs", type=_positive, help="worker processes (default: all cores)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    train = verbs.add_parser(
        "train", help="train StyleNet on a built dataset (resumes an existing run directory)",
        description="Train StyleNet from a YAML config. Rerunning the same command resumes the run from its "
                    "last checkpoint.",
        epilog=f"example:\n  {EXAMPLES['train']}", formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--config", required=True, metavar="YAML", help="e.g. configs/stylenet.yaml")
    train.add_argument("--run-dir", metavar="DIR", help="where checkpoints, logs and plots go "
                       "(default: runs/<config name>)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value, e.g. --set train.epochs=3 (repeatable)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    perform = verbs.add_parser(
        "perform", help="give flat piano MIDI the dynamics of a genre",
        description="Predict how a pianist of GENRE would play each piano note -- velocity, timing, length, "
                    "pedal -- and write the MIDI back with the piano part performed (other tracks untouched).",
        epilog=f"examples:\n  {EXAMPLES['perform']}\n  stylenet perform exports/ --genre classical -o performed/ "
               "--level mf --strength 0.8", formatter_class=argparse.RawDescriptionHelpFormatter)
    _files_in_files_out(perform, "<name>.<genre>.mid")
    perform.add_argument("--genre", required=True, help="whose touch: a genre the model knows (e.g. jazz)")
    perform.add_argument("--model", metavar="RUN_OR_FILE",
                         help="a training run directory or a saved model (default: the shipped model)")
    perform.add_argument("--strength", type=_unit_interval, default=1.0, metavar="S",
                         help="0..1: blend with the input's own velocities (default: %(default)s = all model)")
    perform.add_argument("--level", type=_level, metavar="L", help="overall level: ppp pp p mp mf f ff fff, "
                         "a MIDI velocity, 'input' (the file's own), 'genre' (the genre's typical level) or "
                         "'model' (the level the model predicts; the default)")
    perform.add_argument("--contrast", type=_contrast, default="auto", metavar="C",
                         help="spread of velocities: 'auto' (default) = the genre's factor stored with the model "
                              "(0.9 of the human spread on its validation pieces; a training run has it once "
                              "`evaluate` has scored the run; older model files: each piece stretched to the "
                              "genre's typical spread), a factor, or 1 = raw model output (with --touch, a factor "
                              "multiplies the touch's own calibrated one)")
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
                              "pedal, rubato: stylenet/touch.py): 'auto' (default) = for a file that looks like a "
                              "recording, in a genre the touch network is calibrated for with this model (the "
                              "shipped one: concert, classical); 'on' = always; 'off' = the score alone")
    perform.add_argument("--touch-model", metavar="FILE", type=_path_text, help="a touch network from scripts/train_touch.py "
                         "(default: the shipped one)")
    perform.add_argument("--timing", type=_amount, default=1.0, metavar="A",
                         help="0..1 or 'off': how much of the expression network's timing to write -- the rubato "
                              "and each note's place against its beat (default: %(default)s; a file that looks "
                              "like a recording keeps its own timing, articulation and pedal)")
    perform.add_argument("--articulation", type=_amount, default=1.0, metavar="A",
                         help="0..1 or 'off': how much of its note lengths (legato, staccato) to write "
                              "(default: %(default)s)")
    perform.add_argument("--pedal", choices=("auto", "keep", "add", "off"), default="auto",
                         help="sustain pedal: 'auto' (default) = keep a file's own, add one where it has none; "
                              "'keep'; 'add' (replace the file's own); 'off' (remove it)")
    perform.add_argument("--timing-as", choices=("notes", "tempo"), default="notes",
                         help="'notes' (default) = move the notes (a fixed-tempo session; a file with other "
                              "instruments keeps its beat: no rubato); 'tempo' = keep the notes on their ticks "
                              "and write the rubato as a tempo map, so a DAW's bar lines still line up")
    perform.add_argument("--variation", type=_amount, default=0.0, metavar="A",
                         help="0..1 or 'off' (the default): how far the performance strays from the expected "
                              "one, drawn as pianists stray from it; 1 = as far as they do")
    perform.add_argument("--seed", type=int, default=0, metavar="N",
                         help="another N, another performance of the same file (default: %(default)s)")
    perform.add_argument("--expression-model", metavar="FILE", type=_path_text,
                         help="an expression network from `stylenet train-expression` (default: the shipped one)")
    perform.add_argument("--quantize", action="store_true",
                         help="write the paper's quantised piano part instead of the original file")
    perform.add_argument("--plot", action="store_true", help="also write a before/after piano-roll PNG")
    perform.add_argument("--render", action="store_true",
                         help="also write the performance's audio beside it (<output>.wav; see `stylenet render`)")
    perform.add_argument("--render-format", choices=("wav", "opus"), default="wav",
                         help="with --render: wav or opus (default: %(default)s)")
    perform.add_argument("--soundfont", metavar="SF2", help="with --render: a SoundFont (default: pretty_midi's "
                         "General MIDI TimGM6mb.sf2)")
    perform.add_argument("--timings", action="store_true",
                         help="print where the time went (imports, model load, read+encode, forward, write)")

    evaluate = verbs.add_parser(
        "evaluate", help="measure a model against human velocities and baselines, per genre",
        description="Per genre, over notes: MAE, RMSE, Pearson r, share within ±6.4/±12.7, spread ratio, "
                    "Wasserstein distance and shape error, for the model and for flat, random, humanizer and "
                    "other-genre baselines. Writes JSON, Markdown and PNGs.",
        epilog=f"example:\n  {EXAMPLES['evaluate']}", formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("source", metavar="DATASET_OR_FOLDER", type=_path_text,
                          help="a built dataset, or a folder of MIDI files in genre sub-folders")
    evaluate.add_argument("--model", metavar="RUN_OR_FILE", action="append",
                          help="default: the shipped model; given more than once, the models' ensemble (their "
                               "predictions averaged; what `scripts/export_pretrained.py RUN RUN ...` ships)")
    evaluate.add_argument("--split", default="test", help="dataset split: test, train, 'validation' (the pieces the "
                          "model's training run held out: tune on these) or 'all' (default: %(default)s)")
    evaluate.add_argument("--genres", nargs="+", metavar="G", help="default: every genre of the model")
    evaluate.add_argument("-o", "--out", metavar="DIR", help="report folder (default: build/evaluation)")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    conform = verbs.add_parser(
        "conform", help="re-time a recorded performance onto its annotated beats",
        description="Write a recorded performance (no tempo map) with one tempo per annotated beat and the "
                    "annotated meters: every event keeps its time (within 1 ms), every beat lands on a beat "
                    "tick, bars start on the annotated downbeats.",
        epilog=f"example:\n  {EXAMPLES['conform']}\n  stylenet conform asap/Chopin/ --beats beside -o conformed/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _files_in_files_out(conform, "<name>.conformed.mid")
    conform.add_argument("--beats", required=True, metavar="FILE|beside",
                         help="the beat annotation (one input), or 'beside': each input's <name>_annotations.txt")

    render = verbs.add_parser(
        "render", help="audio of MIDI files with a piano sound (WAV or Opus)",
        description="Render MIDI files (a performance, a human original, a flat score) to audio with a "
                    "General MIDI SoundFont, velocity-sensitive. Needs no system library.",
        epilog=f"examples:\n  {EXAMPLES['render']}\n  stylenet render performed/ -o audio/ --format opus "
               "--soundfont SalamanderGrand.sf2", formatter_class=argparse.RawDescriptionHelpFormatter)
    _files_in_files_out(render, "<name>.wav or <name>.opus")
    render.add_argument("--soundfont", metavar="SF2", help="a SoundFont 2 file (default: pretty_midi's "
                        "small General MIDI TimGM6mb.sf2)")
    render.add_argument("--format", dest="fmt", choices=("wav", "opus"), default="wav",
                        help="wav (48 kHz 16-bit stereo) or opus (Ogg Opus, a sixth of the size) "
                             "(default: %(default)s)")
    render.add_argument("--tail", type=_seconds, default=1.0, metavar="S",
                        help="seconds of release after the last MIDI event (default: %(default)s)")

    _survey_parser(verbs)
    _compose_parser(verbs)
    from stylenet.expression.cli import register

    VERBS.update(register(verbs, _path_text))
    return parser


def _path_text(text: str) -> str:
    """A path as typed; an empty one (an unset shell variable) is refused rather than read as the current
    folder, which would perform every MIDI file below it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?)")
    return text


def _files_in_files_out(parser, default_name: str) -> None:
    """The arguments of a verb that reads MIDI files and writes one output for each, never over an existing one."""
    parser.add_argument("inputs", nargs="+", metavar="IN", type=_path_text, help="MIDI files or folders of them")
    parser.add_argument("-o", "--out", metavar="OUT", type=_path_text,
                        help=f"output file (one input) or folder (default: {default_name} beside each input)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _survey_parser(verbs) -> None:
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
    build.add_argument("--pairs", "--items", dest="items", type=_positive, default=10, metavar="N",
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
    build.add_argument("--seconds", type=_seconds, default=10.0, metavar="S",
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


def _compose_parser(verbs) -> None:
    compose = verbs.add_parser(
        "compose", help="compose new pieces (the second report's autoencoder and token LSTM) for `perform`",
        description="The second report's composers: an autoencoder of 16-bar piano rolls and an LSTM over "
                    "chord tokens. Train one on a built dataset, sample flat-velocity MIDI from it (then give it "
                    "dynamics with `stylenet perform`), and measure generated against human music.",
        epilog="examples:\n  stylenet compose train --config configs/compose_lstm.yaml\n"
               f"  {EXAMPLES['compose']}\n"
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
    sample.add_argument("-n", dest="count", type=_positive, default=4, help="how many pieces (default: %(default)s)")
    sample.add_argument("--bars", type=_positive, default=16, help="bars of 4 quarter notes a piece (default: %(default)s)")
    sample.add_argument("--seed", type=int, default=0, help="the same seed writes the same pieces (default: %(default)s)")
    sample.add_argument("--threshold", type=_unit_interval, default=0.5,
                        help="autoencoder: a cell sounds above this probability (default: %(default)s, the report's)")
    sample.add_argument("--components", type=_positive, metavar="K",
                        help="autoencoder: draw along the first K principal components of the latent codes "
                             "(default: all)")
    sample.add_argument("--temperature", type=_temperature, default=1.0, metavar="T",
                        help="token LSTM: 0 = always the likeliest token (greedy), 1 = the network's "
                             "probabilities, higher = wilder (default: %(default)s)")
    sample.add_argument("--opening", metavar="MIDI", help="token LSTM: start from this piece's first tokens "
                        "instead of random ones")
    sample.add_argument("--qpm", type=_qpm, default=120.0, help="tempo written (default: %(default)s)")
    sample.add_argument("--velocity", type=_velocity, default=64, help="every note's velocity (default: %(default)s)")
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
    report.add_argument("--bars", type=_positive, default=16,
                        help="human pieces are cut to their first N bars (default: %(default)s)")
    report.add_argument("-o", "--out", metavar="DIR", help="report folder (default: build/compose-report)")
    report.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _number_in(low: float, high: float, what: str):
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


_temperature = _number_in(0.0, 10.0, "a number from 0 (greedy) to 10")
_qpm = _number_in(10.0, 400.0, "a tempo from 10 to 400 quarter notes a minute")
_seconds = _number_in(0.0, 3600.0, "a number of seconds from 0 to 3600")
_unit_interval = _number_in(0.0, 1.0, "a number from 0 to 1")


def _amount(text: str) -> float:
    """0..1, or 'off' (= 0)."""
    return 0.0 if text.strip().lower() == "off" else _number_in(0.0, 1.0, "a number from 0 to 1, or 'off'")(text)


def _velocity(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 127:
        raise argparse.ArgumentTypeError(f"must be a MIDI velocity from 1 to 127, got {text!r}")
    return int(text)


def _level(text: str):
    from stylenet.shaping import parse_level

    try:
        return parse_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _contrast(text: str):
    from stylenet.shaping import parse_contrast

    try:
        return parse_contrast(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version() -> str:
    from stylenet import __version__
    return __version__


def _run_build_dataset(args) -> int:
    from stylenet.dataset import BuildOptions, build_dataset
    from stylenet.errors import StyleNetError

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


def _train_run(args, command: str, load, train):
    """Train (or resume) the run `args` name, then say where it lives and how to resume it: (config, run dir)."""
    from pathlib import Path

    from stylenet.errors import StyleNetError

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


def _run_train(args) -> int:
    from stylenet.config import load_config
    from stylenet.train import train

    config, run_dir = _train_run(args, "stylenet train", load_config, train)
    print(f"  loss curves:       {run_dir}/plots/loss.png   (TensorBoard: tensorboard --logdir {run_dir}/tensorboard)")
    print(f"  evaluate:          stylenet evaluate {config.data.dataset} --model {run_dir} --split test")
    print(f"  perform:           stylenet perform song.mid --genre {config.data.genres[0]} --model {run_dir}")
    return 0


def _run_perform(args) -> int:
    from stylenet.perform import PerformOptions, run
    from stylenet.shaping import DEFAULT_LEVEL, Shaping

    from stylenet.expression.realise import Expression

    shaping = Shaping(args.level or DEFAULT_LEVEL, args.contrast, args.strength)
    expression = Expression(args.timing, args.articulation, args.pedal, args.timing_as, args.variation, args.seed)
    options = PerformOptions(tuple(args.inputs), args.genre, args.model, args.out, shaping, args.quantize, args.plot,
                             args.force, args.beats, args.grid, progress=not args.quiet,
                             render=args.render_format if args.render else None, soundfont=args.soundfont,
                             touch=args.touch, touch_model=args.touch_model, expression=expression,
                             expression_model=args.expression_model)
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
            print(f"audio: {result.audio}")
    else:
        print(f"{len(report.performances)} performed, {len(report.skipped)} skipped")
    if args.timings:
        print(report.timings.line(), file=sys.stderr)
    return 1 if report.skipped else 0


def _run_evaluate(args) -> int:
    from stylenet.evaluate import EvaluateOptions, markdown_table, multi_reference_table, run

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


def _run_conform(args) -> int:
    from stylenet.conform import ConformOptions, run

    report = run(ConformOptions(tuple(args.inputs), args.beats, args.out, args.force, not args.quiet))
    if report.single:
        print(report.lines[0])
    else:
        print(f"{len(report.lines)} conformed, {len(report.skipped)} skipped")
    return 1 if report.skipped else 0


def _run_render(args) -> int:
    from stylenet.render import RenderOptions, run

    report = run(RenderOptions(tuple(args.inputs), args.out, args.soundfont, args.fmt, args.tail, args.force,
                               not args.quiet))
    if report.single:
        print(report.lines[0])
    else:
        print(f"{len(report.lines)} rendered, {len(report.skipped)} skipped")
    return 1 if report.skipped else 0


def _run_survey(args) -> int:
    if args.survey_verb == "build":
        from stylenet.survey import BuildOptions, build

        report = build(BuildOptions(
            args.dataset, args.out, args.design, args.items, tuple(args.baselines), tuple(args.sources),
            args.split, tuple(args.genres) if args.genres else None, args.seconds, args.seed, args.model,
            args.soundfont, args.fmt, args.key, args.title, args.force, not args.quiet, tuple(args.pair or ())))
        print(report.summary())
        return 1 if report.short else 0
    if args.survey_verb == "serve":
        from stylenet.survey import make_server

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
    from stylenet.survey import score_files

    report = score_files(args.key, args.answers, args.out)
    print(report.markdown)
    if report.duplicates:
        print(f"{report.duplicates} duplicate submissions (same respondent, same answers) counted once")
    print(f"{report.submissions} submissions scored, {len(report.skipped)} files skipped; "
          f"report: {report.out}/score.md")
    return 1 if report.skipped else 0


def _run_compose(args) -> int:
    if args.compose_verb == "train":
        from stylenet.compose_train import train
        from stylenet.config import load_compose_config

        _, run_dir = _train_run(args, "stylenet compose train", load_compose_config, train)
        print(f"  loss curves:       {run_dir}/plots/loss.png")
        print(f"  compose:           stylenet compose sample --model {run_dir} -n 4 --bars 16 -o generated/")
        return 0
    if args.compose_verb == "sample":
        from stylenet.compose_sample import SampleOptions, sample

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
    from stylenet.compose_report import ReportOptions, report

    result = report(ReportOptions(tuple(args.sets), args.model, None if args.human_split == "none" else args.human_split,
                                  args.bars, args.out, not args.quiet))
    print(result.markdown)
    print(f"report: {result.out}/report.md  numbers: {result.out}/report.json  plot: {result.out}/report.png")
    return 1 if result.skipped else 0


VERBS = {"build-dataset": _run_build_dataset, "train": _run_train, "perform": _run_perform,
         "evaluate": _run_evaluate, "conform": _run_conform, "render": _run_render, "survey": _run_survey,
         "compose": _run_compose}


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    from stylenet.errors import StyleNetError, internal_error

    try:
        return VERBS[args.verb](args)
    except StyleNetError as exc:
        print(f"stylenet {args.verb}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"stylenet {args.verb}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"stylenet {args.verb}: error: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback only on request
        print(f"stylenet {args.verb}: error: {internal_error(None, exc)}", file=sys.stderr)
        return 1
