"""Checkpoints for real: SIGKILL mid-epoch, damaged checkpoints, a run directory in use, a full disk."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stylenet.core.config import dump_config
from stylenet.core.errors import StyleNetError
from stylenet.nn.checkpoint import CHECKPOINT, CheckpointDamaged, previous_checkpoint, read_verified
from stylenet.velocity.train import train
from tests.helpers import ROOT, tiny

EPOCHS = 2


def config(genre_dataset, **train_options):
    c = tiny(genre_dataset, epochs=EPOCHS, **train_options)
    c.data.genres = ["jazz", "pop"]
    return c


def weights(run: Path) -> dict:
    with np.load(run / CHECKPOINT) as f:
        return {k: f[k] for k in f.files if k.startswith("model/")}


def meta(path: Path) -> dict | None:
    try:
        with np.load(path) as f:
            return json.loads(str(f["meta"]))
    except Exception:  # not there yet, or replaced while we read it
        return None


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def reference(genre_dataset, tmp_path_factory):
    """The weights of an uninterrupted run."""
    run = tmp_path_factory.mktemp("whole") / "run"
    result = train(config(genre_dataset), run, progress=False)
    assert result.epochs_done == EPOCHS
    return weights(run)


def _stylenet_train(cfg: Path, run: Path, **kw):
    return subprocess.Popen([sys.executable, "-m", "stylenet", "train", "--config", str(cfg), "--run-dir", str(run), "-q"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, **kw)


def test_sigkill_mid_epoch_then_rerun_reaches_the_uninterrupted_weights(genre_dataset, reference, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(dump_config(config(genre_dataset, checkpoint_minutes=1e-6)))  # a checkpoint after every batch
    run = tmp_path / "run"
    first = _stylenet_train(cfg, run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while (m := meta(run / CHECKPOINT)) is None or m["batch"] < 2:  # batch 0 would be an epoch boundary
        assert first.poll() is None, first.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)  # frozen mid-epoch, holding the run directory
    try:
        second = _stylenet_train(cfg, run, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 1
        assert err == f"stylenet train: error: {run}: in use by another `stylenet train` (process {first.pid}); " \
                      "wait for it to finish or choose another --run-dir\n"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_at = meta(run / CHECKPOINT) or meta(previous_checkpoint(run / CHECKPOINT))
    assert first.returncode == -signal.SIGKILL and killed_at["epoch"] < EPOCHS and killed_at["global_step"] >= 2
    rerun = _stylenet_train(cfg, run, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # the lock died with it
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    assert f"resuming {run} at epoch {killed_at['epoch'] + 1}" in out
    assert meta(run / CHECKPOINT)["epoch"] == EPOCHS
    assert_same_weights(weights(run), reference)


@pytest.fixture(scope="module")
def stopped_run(genre_dataset, tmp_path_factory):
    """A run stopped after 5 batches, checkpointing every batch: checkpoint at step 5, previous at step 4."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    train(config(genre_dataset, checkpoint_minutes=1e-6), run, progress=False, stop_after_batches=5)
    return run


def copy_run(source: Path, run: Path, names=(CHECKPOINT, previous_checkpoint(Path(CHECKPOINT)).name, "config.yaml")):
    run.mkdir()
    for name in names:
        (run / name).write_bytes((source / name).read_bytes())
    return run


def _stale_checksum(path: Path) -> None:
    """Rewrite one weight in an otherwise valid archive: only the checksum can tell."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["model/0"] = arrays["model/0"] + 1e-3
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]), "unreadable"),
    "byte flipped": (_flip_a_byte, None),  # zip's CRC or our checksum, whichever reads it first
    "stale checksum": (_stale_checksum, "checksum mismatch"),
    "empty": (lambda p: p.write_bytes(b""), "unreadable"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_checkpoint_is_detected(stopped_run, tmp_path, kind):
    copy = tmp_path / CHECKPOINT
    copy.write_bytes((stopped_run / CHECKPOINT).read_bytes())
    assert json.loads(str(read_verified(copy)["meta"]))["global_step"] == 5
    damage, words = DAMAGE[kind]
    damage(copy)
    with pytest.raises(CheckpointDamaged, match=words):
        read_verified(copy)


def test_a_damaged_checkpoint_resumes_from_the_previous_one_to_the_same_weights(genre_dataset, reference, stopped_run,
                                                                                tmp_path, capsys):
    run = copy_run(stopped_run, tmp_path / "run")
    assert meta(run / CHECKPOINT)["global_step"] == 5 and meta(previous_checkpoint(run / CHECKPOINT))["global_step"] == 4
    _stale_checksum(run / CHECKPOINT)
    capsys.readouterr()
    result = train(config(genre_dataset), run, progress=False)
    out = capsys.readouterr().out
    assert f"{run / CHECKPOINT}: damaged (checksum mismatch); resuming from checkpoint.prev.npz" in out
    assert f"resuming {run} at epoch 1, batch 4 (step 4)" in out
    assert result.epochs_done == EPOCHS
    assert_same_weights(weights(run), reference)


def test_both_checkpoints_damaged_is_one_line(genre_dataset, stopped_run, tmp_path):
    run = copy_run(stopped_run, tmp_path / "run", names=["config.yaml"])
    for name in (CHECKPOINT, previous_checkpoint(Path(CHECKPOINT)).name):
        (run / name).write_bytes(b"not a checkpoint")
    with pytest.raises(StyleNetError) as err:
        train(config(genre_dataset), run, progress=False)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{run / CHECKPOINT}: damaged (unreadable")
    assert "and checkpoint.prev.npz too (unreadable" in message and "cannot resume" in message


def test_a_checkpoint_write_failing_half_way_keeps_the_last_good_one(genre_dataset, stopped_run, tmp_path, monkeypatch):
    run = copy_run(stopped_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    real = np.savez

    def disk_full(file, **arrays):
        real(file, **{k: v for k, v in list(arrays.items())[:3]})
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(StyleNetError, match=r"checkpoint.npz: cannot write \(No space left on device\); nothing was written"):
        train(config(genre_dataset, checkpoint_minutes=1e-6), run, progress=False)
    for name in (CHECKPOINT, previous_checkpoint(Path(CHECKPOINT)).name):
        assert (run / name).read_bytes() == before[name], name
    assert not [p for p in run.iterdir() if p.name.startswith(".checkpoint")]  # no temp file left behind
