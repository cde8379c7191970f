"""Per-file isolation in every verb, size bounds, and writes that fail cleanly."""

import csv
import errno
import os
import pathlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from stylenet import codec, inference
from stylenet.cli import main
from stylenet.dataset import build_dataset, load_manifest
from tests.midi_fuzz import piano, smf, tempo, track
from tests.midifix import N, Song, expressive_song, write_song
from tests.modelfix import random_performer

ROOT = Path(__file__).resolve().parents[1]
TEMPO_ZERO = smf([track([(0, tempo(0))]), piano([(60 + i % 12, i * 240, i * 240 + 200, 40 + i) for i in range(30)])])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return random_performer().save(tmp_path_factory.mktemp("model") / "m.npz")


# ------------------------------------------------------------------------------------------ isolation

def test_build_dataset_rejects_a_file_that_meets_a_bug_and_retries_it_next_build(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    for i in range(3):
        write_song(raw / "jazz" / f"{i}.mid", expressive_song(30 + i, seed=i))
    (raw / "jazz" / "tempo0.mid").write_bytes(TEMPO_ZERO)
    real_encode = codec.encode

    def encode_fails_on_the_second_piece(score, *args):
        if score.n_notes == 31:
            raise ZeroDivisionError("float division by zero")
        return real_encode(score, *args)

    monkeypatch.setattr(codec, "encode", encode_fails_on_the_second_piece)
    report = build_dataset(raw, tmp_path / "ds", jobs=1, progress=False)
    with open(tmp_path / "ds" / "rejected.csv", newline="") as f:
        rejected = {row["path"]: row for row in csv.DictReader(f)}
    assert sorted(e["path"] for e in report.kept) == ["jazz/0.mid", "jazz/2.mid"]
    assert rejected["jazz/1.mid"]["category"] == "internal error"
    assert "ZeroDivisionError" in rejected["jazz/1.mid"]["reason"] and "please report" in rejected["jazz/1.mid"]["reason"]
    assert rejected["jazz/tempo0.mid"]["category"] == "unreadable"
    assert "tempo event of 0 microseconds" in rejected["jazz/tempo0.mid"]["reason"]
    monkeypatch.setattr(codec, "encode", real_encode)
    again = build_dataset(raw, tmp_path / "ds", jobs=1, progress=False)
    assert sorted(e["path"] for e in load_manifest(tmp_path / "ds")) == ["jazz/0.mid", "jazz/1.mid", "jazz/2.mid"]
    assert again.reused == 3  # the two kept pieces and the bad file's rejection; the bug's victim ran again


def test_evaluate_skips_and_counts_bad_files(tmp_path, model_file, capsys):
    folder = tmp_path / "raw"
    for genre in ("jazz", "pop"):
        for i in range(2):
            write_song(folder / genre / f"{i}.mid", expressive_song(25, seed=i))
    (folder / "jazz" / "tempo0.mid").write_bytes(TEMPO_ZERO)
    (folder / "pop" / "cut.mid").write_bytes(TEMPO_ZERO[:40])
    assert main(["evaluate", str(folder), "--model", str(model_file), "-o", str(tmp_path / "rep"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "2 file(s) skipped, 4 piece(s) loaded"
    assert any("tempo0.mid: tempo event of 0" in line for line in err) and any("cut.mid: unreadable" in line for line in err)
    assert (tmp_path / "rep" / "evaluation.json").exists()


def test_a_damaged_dataset_piece_is_skipped_by_evaluate_and_named_by_train(tmp_path, model_file, capsys):
    from stylenet.config import config_from_dict
    from stylenet.errors import StyleNetError
    from stylenet.train import train

    for genre in ("jazz", "pop"):
        for i in range(3):
            write_song(tmp_path / "raw" / genre / f"{i}.mid", expressive_song(30, seed=i))
    build_dataset(tmp_path / "raw", tmp_path / "ds", jobs=1, progress=False)
    damaged = tmp_path / "ds" / load_manifest(tmp_path / "ds")[1]["array"]
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert main(["evaluate", str(tmp_path / "ds"), "--model", str(model_file), "--split", "train",
                 "-o", str(tmp_path / "rep"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"skipped: {damaged}: damaged dataset piece (") and len(err) == 2
    assert err[1] == "1 file(s) skipped, 5 piece(s) loaded"
    config = config_from_dict({"data": {"dataset": str(tmp_path / "ds"), "genres": ["jazz", "pop"]},
                               "model": {"units": 8, "genre_layers": 1}, "train": {"epochs": 1, "window": 8}})
    with pytest.raises(StyleNetError, match=f"^{damaged}: damaged dataset piece .*rebuild it"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------ size bounds

def test_the_forward_pass_in_chunks_equals_one_pass(monkeypatch):
    performer = random_performer(("jazz",), units=8, genre_layers=2)
    score = (np.random.default_rng(0).random((50, 176)) < 0.1).astype(np.float32)
    whole = performer.velocities(score, "jazz")
    monkeypatch.setattr(inference, "PROJECTION_CHUNK", 7)  # 50 steps = 7 chunks, the last one short
    np.testing.assert_allclose(performer.velocities(score, "jazz"), whole, atol=1e-6)


def test_a_two_hour_piece_performs_with_the_shipped_model_in_under_1_gb(tmp_path):
    quarters = 2 * 60 * 120  # two hours at 120 quarter notes a minute: 57,600 grid steps
    src = write_song(tmp_path / "long.mid", Song([N(48 + i % 24, i * 480, i * 480 + 240, 30 + i % 90)
                                                  for i in range(quarters)]))
    code = ("from stylenet.cli import main; from tests.midi_fuzz import peak_rss_mb\n"
            f"rc = main(['perform', {str(src)!r}, '--genre', 'jazz', '-q'])\n"
            "print('RC', rc, 'RSS_MB', peak_rss_mb())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    _, rc, _, rss = next(x for x in result.stdout.splitlines() if x.startswith("RC")).split()
    assert rc == "0", result.stderr
    assert float(rss) < 1024
    assert codec.load_midi(tmp_path / "long.jazz.mid").n_notes == quarters


def test_a_piece_over_the_step_limit_is_refused_before_its_grid_exists(tmp_path, monkeypatch):
    piece = codec.load_midi(write_song(tmp_path / "s.mid", Song([N(60, 0, 480), N(62, 480 * 100, 480 * 101)])))
    monkeypatch.setattr(codec, "MAX_STEPS", 400)  # the piece is 404 steps
    monkeypatch.setattr(codec, "encode", lambda *a: pytest.fail("encode must not be reached"))
    with pytest.raises(codec.MidiReadError, match=r"too long: the piano part lasts 101 quarter notes \(404 grid"):
        codec.quantise(piece)


# ------------------------------------------------------------------------------------------ writes

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
