"""How StyleNet fails and writes: one-line errors, per-file isolation, and writes that never leave half a
file behind (write to a temp file beside the target, then rename)."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path

DEBUG_VARIABLE = "STYLENET_DEBUG"


class StyleNetError(Exception):
    """An error a person can fix; the CLI prints it as one line and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


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
def skip_failure(path, skipped: list, write=None):
    """In a batch: a failure on one file is one line on stderr ("skipped: FILE: reason"), appended to
    `skipped`, and the batch goes on."""
    try:
        with one_file(path):
            yield
    except StyleNetError as exc:
        skipped.append(str(exc))
        (write or print)(f"skipped: {exc}", file=sys.stderr)


@contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside `path`; on success it is renamed onto `path` in one step.

    The rename is atomic on POSIX, so a reader (or a crash) sees the old file or the new one, never a
    torn one.  On failure the temp file is removed and `path` is untouched.
    A failed write (read-only folder, disk full) is a StyleNetError naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes private files; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise


def _write_error(path: Path, exc: OSError) -> StyleNetError:
    return StyleNetError(f"{path}: cannot write ({exc.strerror or exc}); nothing was written")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
