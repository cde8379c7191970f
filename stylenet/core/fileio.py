"""How StyleNet writes: never half a file (write to a temp file beside the target, then rename)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from stylenet.core.errors import StyleNetError
from stylenet.core.midifile import MIDI_SUFFIXES

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"  # the shipped models, inside the package


# what `-o` names when it names a file rather than a folder: the outputs StyleNet writes, and their cousins
FILE_SUFFIXES = MIDI_SUFFIXES | {".wav", ".opus", ".ogg", ".mp3", ".flac", ".aiff", ".png", ".json"}


def plan_outputs(inputs, name_for, out: str | None, suffixes=(".mid", ".midi"), verb: str = "") -> list[Path]:
    """Where each of `inputs` (`midifile.Input`s) is written, decided for all of them before any is: beside
    its input (no `out`); `out` itself (one input named on its own, `out` ending in one of `suffixes`); or
    under the folder `out`, at the input's place below the folder it was found in (sub-folders mirrored, so
    `a/song.mid` and `b/song.mid` stay apart; with several folders given, each under its own name).
    `name_for(path)` names an output.  A usage error, before
    anything is written: `out` naming one file for several inputs, or a file of another kind, and two inputs
    that would write one output (`--force` never lets one overwrite the other)."""
    single = len(inputs) == 1 and inputs[0].root is None
    as_file = out is not None and Path(out).suffix.lower() in FILE_SUFFIXES and not Path(out).is_dir()
    if as_file and Path(out).suffix.lower() not in suffixes:
        raise StyleNetError(f"-o {out}: {verb or 'this verb'} writes {' or '.join(suffixes)} files; name one of those "
                            f"or a folder", exit_code=2)
    if as_file and not single:
        raise StyleNetError(f"-o {out} names one file, but {len(inputs)} inputs were given: name a folder",
                            exit_code=2)
    outputs = []
    several_folders = len({item.root for item in inputs if item.root is not None}) > 1
    for item in inputs:
        name = name_for(item.path)
        if out is None:
            outputs.append(item.path.with_name(name))
        elif as_file:
            outputs.append(Path(out))
        else:
            below = item.path.parent.relative_to(item.root) if item.root is not None else Path()
            if several_folders and item.root is not None:  # a/ and b/ given: out/a/..., out/b/...
                below = Path(item.root.resolve().name) / below
            outputs.append(Path(out) / below / name)
    written: dict[Path, Path] = {}
    for item, output in zip(inputs, outputs):
        key = output.resolve()
        if key in written:
            raise StyleNetError(f"{written[key]} and {item.path} would both be written to {output}: nothing was "
                                f"written; give them separate -o folders or rename one", exit_code=2)
        written[key] = item.path
    return outputs


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
