"""How StyleNet writes: never half a file (write to a temp file beside the target, then rename)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from stylenet.core.errors import StyleNetError

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"  # the shipped models, inside the package


def output_path(source: Path, name: str, out: str | None, single: bool, suffixes=(".mid", ".midi")) -> Path:
    """Where a verb writes its output `name` for `source`: beside it (no `out`), `out` itself (one input,
    `out` ending in one of `suffixes`), or inside the folder `out`."""
    if out is None:
        return source.with_name(name)
    if single and Path(out).suffix.lower() in suffixes:
        return Path(out)
    return Path(out) / name


def refuse_overwrite(source: Path, output: Path, force: bool) -> None:
    """Inputs are never overwritten; an existing output only with --force."""
    if output.resolve() == Path(source).resolve():
        raise StyleNetError(f"{source}: output would overwrite the input; choose another -o")
    if output.exists() and not force:
        raise StyleNetError(f"{output}: already exists; pass --force to overwrite it")


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
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes private files; outputs get the usual mode
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


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
