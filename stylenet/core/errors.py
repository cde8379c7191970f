"""How StyleNet fails: one-line errors a person can act on, and per-file isolation, so one bad file in a
batch is one line and the batch goes on."""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager

DEBUG_VARIABLE = "STYLENET_DEBUG"


class StyleNetError(Exception):
    """An error a person can fix; the CLI prints it as one line and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class FileError(StyleNetError, ValueError):
    """One file that cannot be used (`path`), with a one-line `reason` a person can act on."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class InternalError(StyleNetError):
    """A failure that is StyleNet's bug rather than a bad input (see `internal_error`)."""


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def internal_error(where, exc: BaseException) -> InternalError:
    """A failure that is StyleNet's bug, not the user's input: one line that says so.

    With STYLENET_DEBUG=1 the traceback goes to stderr first, for the bug report.
    """
    if debugging():
        traceback.print_exception(exc, file=sys.stderr)
    detail = " ".join(str(exc).split())[:200] or "no message"
    prefix = f"{where}: " if where else ""
    return InternalError(f"{prefix}internal error ({type(exc).__name__}: {detail}); this is a bug in StyleNet, "
                         f"please report it (run with {DEBUG_VARIABLE}=1 for the traceback)")


@contextmanager
def one_file(path):
    """Whatever goes wrong while handling one file becomes a StyleNetError naming that file, so a batch can
    skip it and a single input ends with one line.  KeyboardInterrupt and SystemExit pass through."""
    try:
        yield
    except StyleNetError:
        raise
    except MemoryError:
        raise StyleNetError(f"{path}: out of memory while processing this file") from None
    except Exception as exc:
        raise internal_error(path, exc) from exc


@contextmanager
def skip_failure(path, skipped: list, write=None, failed: list | None = None):
    """In a batch: a failure on one file is one line on stderr and the batch goes on.  A file that cannot be
    used ("skipped: FILE: reason") goes to `skipped`; with a `failed` list, StyleNet's own bug on it
    ("failed: FILE: internal error ...") goes there instead, so that the two are counted apart."""
    try:
        with one_file(path):
            yield
    except InternalError as exc:
        (failed if failed is not None else skipped).append(str(exc))
        (write or print)(f"{'failed' if failed is not None else 'skipped'}: {exc}", file=sys.stderr)
    except StyleNetError as exc:
        skipped.append(str(exc))
        (write or print)(f"skipped: {exc}", file=sys.stderr)
