"""Writes that fail cleanly (seen through `perform`): a read-only folder or a full disk is one line, leaves no
partial file, keeps the previous output and never touches the input."""

import errno
import os
import pathlib
import tempfile
from pathlib import Path

from stylenet.cli.main import main
from tests.helpers import expressive_song, write_song


def _read_only(folder: Path, monkeypatch) -> None:
    """Make `folder` refuse writes: by its mode, or (as root, whom modes do not stop) at mkstemp."""
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kw):
            if Path(dir) == folder:
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(*args, dir=dir, **kw)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)


def _disk_full_half_way(monkeypatch) -> list:
    """Every Path.write_bytes writes half its data, then fails as a full disk does."""
    torn = []
    real = pathlib.Path.write_bytes

    def half(self, data):
        real(self, data[:len(data) // 2])
        torn.append(self)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", half)
    return torn


def test_a_read_only_output_folder_is_one_line_and_writes_nothing(tmp_path, model_file, monkeypatch, capsys):
    src = write_song(tmp_path / "song.mid", expressive_song(20))
    original = src.read_bytes()
    out = tmp_path / "ro"
    _read_only(out, monkeypatch)
    try:
        assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "-o", str(out / "x.mid")]) == 1
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert err == f"stylenet perform: error: {out / 'x.mid'}: cannot write (Permission denied); nothing was written\n"
    assert src.read_bytes() == original


def test_a_write_failing_half_way_leaves_no_partial_file_and_keeps_the_old_output(tmp_path, model_file, monkeypatch,
                                                                                   capsys):
    src = write_song(tmp_path / "song.mid", expressive_song(20))
    original = src.read_bytes()
    old = tmp_path / "song.jazz.mid"
    old.write_bytes(b"the previous output")
    torn = _disk_full_half_way(monkeypatch)
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file), "--force"]) == 1
    err = capsys.readouterr().err
    assert err == f"stylenet perform: error: {old}: cannot write (No space left on device); nothing was written\n"
    assert torn and not any(p.exists() for p in torn)  # the half-written temp file is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.jazz.mid", "song.mid"]
    assert old.read_bytes() == b"the previous output" and src.read_bytes() == original


def test_a_batch_goes_on_past_a_failed_write(tmp_path, model_file, monkeypatch, capsys):
    folder = tmp_path / "in"
    for i in range(3):
        write_song(folder / f"{i}.mid", expressive_song(20, seed=i))
    out = tmp_path / "out"
    out.mkdir()
    (out / "1.pop.mid").mkdir()  # an output path that cannot be replaced by a file
    assert main(["perform", str(folder), "--genre", "pop", "--model", str(model_file), "-o", str(out), "--force",
                 "-q"]) == 1
    captured = capsys.readouterr()
    assert "2 performed, 1 skipped" in captured.out
    assert captured.err.startswith(f"skipped: {out / '1.pop.mid'}: cannot write (") and captured.err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["0.pop.mid", "2.pop.mid"]
