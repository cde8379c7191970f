"""A training run's files on disk: the checkpoint it resumes from, its best weights, and the lock that keeps
a second `stylenet train` off the same run directory.

A checkpoint is one `.npz` written atomically: `model/<i>` and `optimizer/<i>` (the variables, by index),
`state/<genre>/<layer>/{h,c}` (the LSTM states carried into the next window), `meta` (JSON: where the run
stands) and `checksum` (SHA-256 of the rest).  `best.weights.npz` has the same layout without optimizer
and states.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylenet.core.errors import StyleNetError
from stylenet.core.fileio import atomic_path

CHECKPOINT = "checkpoint.npz"
BEST = "best.weights.npz"
LOCK = "train.lock"
CHECKSUM = "checksum"


def save_checkpoint(path: Path, model, optimizer, meta: dict, states: dict | None = None) -> None:
    """Everything needed to resume, in one file written atomically, with a checksum of its arrays.

    The file it replaces is kept as `<name>.prev.npz`, so a damaged checkpoint still leaves one to resume from.
    """
    from keras import ops

    arrays = {f"model/{i}": ops.convert_to_numpy(v.value) for i, v in enumerate(model.variables)}
    if optimizer is not None:
        arrays.update({f"optimizer/{i}": ops.convert_to_numpy(v.value) for i, v in enumerate(optimizer.variables)})
    for genre, genre_states in (states or {}).items():
        for i, (h, c) in enumerate(genre_states):
            arrays[f"state/{genre}/{i}/h"] = ops.convert_to_numpy(h)
            arrays[f"state/{genre}/{i}/c"] = ops.convert_to_numpy(c)
    arrays["meta"] = np.array(json.dumps(meta))
    arrays[CHECKSUM] = np.array(_checksum(arrays))
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        if path.exists():  # a kill between the two renames leaves the previous file, which load falls back to
            os.replace(path, previous_checkpoint(path))


def previous_checkpoint(path: Path) -> Path:
    """checkpoint.npz -> checkpoint.prev.npz"""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".npz") + ".prev.npz")


def _checksum(arrays: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(k for k in arrays if k != CHECKSUM):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class CheckpointDamaged(Exception):
    pass


def read_verified(path: Path) -> dict:
    """All arrays of a checkpoint, or CheckpointDamaged saying what is wrong with it."""
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise CheckpointDamaged("missing") from None
    except Exception as exc:  # zipfile, numpy and OS errors alike: a file we cannot read back
        raise CheckpointDamaged(f"unreadable: {type(exc).__name__}: {exc}") from None
    if "meta" not in arrays:
        raise CheckpointDamaged("no 'meta' entry")
    if CHECKSUM in arrays and str(arrays[CHECKSUM]) != _checksum(arrays):  # files before checksums have none
        raise CheckpointDamaged("checksum mismatch")
    return arrays


def load_checkpoint(path: Path, model, optimizer=None) -> tuple[dict, dict]:
    """Restore a checkpoint; if it is damaged (truncated, corrupted, checksum mismatch), its previous one."""
    path = Path(path)
    try:
        f = read_verified(path)
    except CheckpointDamaged as damage:
        previous = previous_checkpoint(path)
        try:
            f = read_verified(previous)
        except CheckpointDamaged as also:
            raise StyleNetError(f"{path}: damaged ({damage}), and {previous.name} too ({also}); "
                                "cannot resume: move them away to start over") from None
        print(f"{path}: damaged ({damage}); resuming from {previous.name}")
    meta = json.loads(str(f["meta"]))
    for i, v in enumerate(model.variables):
        v.assign(f[f"model/{i}"])
    if optimizer is not None and "optimizer/0" in f:
        for i, v in enumerate(optimizer.variables):
            v.assign(f[f"optimizer/{i}"])
    states = {}
    for genre in getattr(model, "genres", ()):  # StyleNet's carried LSTM states; other models have none
        if f"state/{genre}/0/h" in f:
            states[genre] = [(f[f"state/{genre}/{i}/h"], f[f"state/{genre}/{i}/c"])
                             for i in range(1 + model.genre_layers)]
    return meta, states


_LOCKS: dict[Path, object] = {}  # run directory -> its open, flocked lock file, for the life of this process


def lock_run_dir(run_dir: Path) -> None:
    """Take an exclusive flock on `<run_dir>/train.lock`, or refuse in one line if another process holds it.

    The OS drops the lock when the process ends, however it ends (a SIGKILL included), so a crashed run
    never leaves a stale lock.  A process keeps the locks it took (calling `train` again on the same
    directory in one process is a resume, not a conflict).
    """
    import fcntl

    key = run_dir.resolve()
    if key in _LOCKS:
        return
    try:
        file = open(run_dir / LOCK, "a+")
    except OSError as exc:
        raise StyleNetError(f"{run_dir}: cannot write its lock file ({exc.strerror or exc})") from None
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.seek(0)
        holder = file.read().strip() or "unknown"
        file.close()
        raise StyleNetError(f"{run_dir}: in use by another `stylenet train` (process {holder}); "
                            "wait for it to finish or choose another --run-dir") from None
    file.seek(0)
    file.truncate()
    file.write(str(os.getpid()))
    file.flush()
    _LOCKS[key] = file


def patience_spent(history: list[dict], patience: int | None) -> str:
    """Early stopping, from a run's history alone (so a resumed run decides as the uninterrupted one would):
    the reason to stop, or "" to go on."""
    scored = [h for h in history if "val_loss" in h]
    if not patience or not scored:
        return ""
    best = min(scored, key=lambda h: h["val_loss"])
    if history[-1]["epoch"] - best["epoch"] < patience:
        return ""
    return (f"stopping early: val_loss has not improved for {patience} epochs "
            f"(best {best['val_loss']:.5f} at epoch {best['epoch']}, kept in {BEST})")


@dataclass
class Progress:
    """Where a run stands, saved as its checkpoint's `meta` (as a dict of these fields, in this order)."""

    epoch: int = 0  # epochs done
    batch: int = 0  # batches done in the current epoch
    global_step: int = 0
    best_val_loss: float | None = None
    loss_sum: float = 0.0  # the current epoch's training loss so far, for its mean
    loss_count: int = 0
    history: list[dict] = field(default_factory=list)  # one row of logs per epoch done

    def meta(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict) -> "Progress":
        return cls(**{f.name: meta[f.name] for f in dataclasses.fields(cls)})
