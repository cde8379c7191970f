"""The `stylenet` command line.  Imports nothing heavy: each verb imports its own module when it runs, so
`stylenet --help` answers at once and only the verbs that need TensorFlow pay for it.

Each wing's verbs live beside this file (velocity.py, perform.py, studio.py, recorded.py, listen.py, compose.py,
expression.py): `register(verbs)` adds their parsers and returns {verb: handler}."""

from __future__ import annotations

import argparse
import os
import sys

from stylenet.cli import compose, expression, listen, perform, recorded, studio, velocity
from stylenet.cli.options import EXAMPLES

WINGS = (velocity, perform, studio, recorded, listen, compose, expression)  # the order `stylenet --help` lists them in
VERBS: dict = {}


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ logging reads this once, at import; set it before any verb imports TF.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def _version() -> str:
    from stylenet import __version__
    return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylenet",
        description="Learn how pianists of a genre play, and perform flat MIDI in that style "
                    "(Malik & Ek, 'Neural Translation of Musical Style', 2017).",
        epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for wing in WINGS:
        VERBS.update(wing.register(verbs))
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    from stylenet.core.errors import StyleNetError, internal_error

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
