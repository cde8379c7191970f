"""`stylenet train --config configs/X.yaml`: fit StyleNet to a built dataset, resumably.

How an epoch is cut (truncated BPTT, as the paper):
  * Each genre's training pieces are shuffled (a fresh, seeded order every epoch) and dealt onto
    `batch_size` lanes, always to the lane with the least music so far.  A lane plays its pieces back to
    back; each piece is cut into consecutive `window`-step windows, the last one padded with silence that
    the loss ignores.
  * One mini-batch = the next window of every lane of one genre.  Mini-batches alternate between genres
    (classical, jazz, pop, classical, ...); a genre that runs out drops from the rotation.
  * The forward LSTM states carry from one window of a piece into the next (see model.py); at the first
    window of a piece the lane's state is reset to zero.

The plan of an epoch is a pure function of (seed, epoch), so a resumed run replays exactly the batches an
uninterrupted one would have.  Run directory:

    config.yaml          the resolved config          checkpoint.npz     the latest state (atomic)
    best.weights.npz     best validation weights      history.csv        one row per epoch
    tensorboard/         TensorBoard event files      plots/             loss curves and velocity snapshots
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config, ConfigError, dump_config
from .errors import StyleNetError
from .fileio import atomic_path, atomic_write_text

CHECKPOINT = "checkpoint.npz"
BEST = "best.weights.npz"
LOCK = "train.lock"
CHECKSUM = "checksum"


# ----------------------------------------------------------------------------------------------- data

@dataclass
class Piece:
    name: str
    score: np.ndarray  # [T, 176] uint8
    velocity: np.ndarray  # [T, 88] float16
    extra: np.ndarray | None = None  # [T, F] float32: the model's optional input channels (e.g. metre)

    def inputs(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The network's input rows [start, stop): score columns, then the optional channels."""
        score = self.score[start:stop].astype(np.float32)
        if self.extra is None:
            return score
        return np.concatenate([score, self.extra[start:stop]], axis=1)


@dataclass
class TrainingData:
    train: dict[str, list[Piece]] = field(default_factory=dict)
    validation: dict[str, list[Piece]] = field(default_factory=dict)

    def describe(self) -> str:
        lines = []
        for genre in self.train:
            steps = sum(len(p.score) for p in self.train[genre])
            lines.append(f"  {genre:<10} {len(self.train[genre]):5d} train pieces ({steps:,} steps), "
                         f"{len(self.validation[genre]):3d} validation pieces")
        return "\n".join(lines)


def split_validation(entries: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out `fraction` of the pieces (all versions of a piece together), at least one if possible."""
    pieces = sorted({e.get("piece") or e["path"] for e in entries})
    n_val = 0 if fraction <= 0 or len(pieces) < 2 else max(1, round(fraction * len(pieces)))
    held = set(np.random.default_rng(seed).permutation(pieces)[:n_val].tolist())
    train = [e for e in entries if (e.get("piece") or e["path"]) not in held]
    val = [e for e in entries if (e.get("piece") or e["path"]) in held]
    return train, val


def split_genre(train_entries: list[dict], data_config, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation) entries of one genre's `train`-split pieces, as a run with this data config and
    seed chooses them (`evaluate --split validation` rebuilds the held-out half with it)."""
    if data_config.max_pieces_per_genre:
        train_entries = train_entries[:data_config.max_pieces_per_genre]
    return split_validation(train_entries, data_config.validation_fraction, seed)


def load_training_data(config: Config, progress: bool = True) -> TrainingData:
    from tqdm import tqdm

    from .codec import DEFAULT_STEPS_PER_QUARTER, input_channels
    from .dataset import load_manifest, load_piece_and_meters

    dataset = Path(config.data.dataset)
    try:
        manifest = load_manifest(dataset)
    except StyleNetError as exc:
        raise ConfigError(f"data.dataset: {exc}") from None
    train_entries = [e for e in manifest if e["split"] == "train"]
    available = sorted({e["genre"] for e in train_entries})
    data = TrainingData()
    chosen = {}
    for genre in config.data.genres:
        entries = [e for e in train_entries if e["genre"] == genre]
        if not entries:
            raise ConfigError(f"data.genres: no 'train' pieces of genre {genre!r} in {dataset} "
                              f"(it has: {', '.join(available) or 'none'})")
        chosen[genre] = split_genre(entries, config.data, config.train.seed)
    total = sum(len(t) + len(v) for t, v in chosen.values())
    with tqdm(total=total, desc="loading pieces", unit="piece", disable=not progress) as bar:
        for genre, (train, val) in chosen.items():
            for part, entries in ((data.train, train), (data.validation, val)):
                part[genre] = []
                for e in entries:
                    score, velocity, meters = load_piece_and_meters(dataset, e)
                    if config.model.inputs and meters is None:
                        raise ConfigError(f"model.inputs: {dataset} was built before pieces carried their meter "
                                          "map; rebuild it with `stylenet build-dataset`")
                    extra = input_channels(meters, len(score), config.model.inputs,
                                           e.get("steps_per_quarter", DEFAULT_STEPS_PER_QUARTER))
                    part[genre].append(Piece(e["path"], score, velocity.astype(np.float16), extra))
                    bar.update()
    longest = max(len(p.score) for pieces in data.train.values() for p in pieces)
    if config.train.window > longest:
        raise ConfigError(f"train.window: {config.train.window} steps is longer than every training piece "
                          f"(longest: {longest} steps); lower train.window")
    return data


# ----------------------------------------------------------------------------------------------- plan

Slot = tuple[int, int] | None  # (piece index, window index) or an idle lane


def epoch_plan(data: TrainingData, batch_size: int, window: int, seed: int, epoch: int) -> list[tuple[str, list[Slot]]]:
    """The mini-batches of one epoch, in order: [(genre, [slot per lane])]."""
    rng = np.random.default_rng([seed, epoch])
    per_genre = {}
    for genre, pieces in data.train.items():
        lanes: list[list[Slot]] = [[] for _ in range(batch_size)]
        for index in rng.permutation(len(pieces)):
            lane = min(range(batch_size), key=lambda i: len(lanes[i]))
            lanes[lane].extend((int(index), k) for k in range(math.ceil(len(pieces[index].score) / window)))
        n = max(len(lane) for lane in lanes)
        per_genre[genre] = [[lane[j] if j < len(lane) else None for lane in lanes] for j in range(n)]
    plan, position = [], {g: 0 for g in per_genre}
    while any(position[g] < len(per_genre[g]) for g in per_genre):
        for genre in per_genre:
            if position[genre] < len(per_genre[genre]):
                plan.append((genre, per_genre[genre][position[genre]]))
                position[genre] += 1
    return plan


def make_batch(pieces: list[Piece], slots: list[Slot], window: int, context: int = 0, transpose: int = 0,
               rng: np.random.Generator | None = None):
    """-> inputs [B, C+W+C, columns], velocity [B, C+W+C, 88], weight [B, C+W+C] (1 = scored music),
    keep [B] (0 = start from a zero state).

    `context` (C) steps of the piece before and after the window are read but not scored, and every window
    starts from a zero state: each LSTM direction then warms up on real music, as it does when `perform`
    reads a whole piece, instead of the backward halves starting cold at every window's end.  Without
    context (the paper) the forward state is carried from the previous window instead.

    `transpose` N shifts each lane's slice by a random number of semitones in -N..N, chosen so every
    sounding key stays on the keyboard: the same touch on another key teaches the net that dynamics
    follow the music's shape, not absolute pitch alone.
    """
    from .codec import N_KEYS, SCORE_COLUMNS

    b, length = len(slots), window + 2 * context
    columns = pieces[0].inputs(0, 1).shape[1] if pieces else SCORE_COLUMNS
    inputs = np.zeros((b, length, columns), np.float32)
    velocity = np.zeros((b, length, N_KEYS), np.float32)
    weight = np.zeros((b, length), np.float32)
    keep = np.zeros((b,), np.float32)
    for lane, slot in enumerate(slots):
        if slot is None:
            continue
        index, k = slot
        piece = pieces[index]
        start, stop = k * window - context, (k + 1) * window + context
        lo, hi = max(start, 0), min(stop, len(piece.score))
        at = lo - start  # where the piece's first read step lands in the lane
        x = piece.inputs(lo, hi)
        v = piece.velocity[lo:hi].astype(np.float32)
        if transpose and rng is not None:
            x, v = _transposed(x, v, transpose, rng)
        inputs[lane, at:at + len(x)] = x
        velocity[lane, at:at + len(x)] = v
        scored_lo, scored_hi = max(k * window, lo) - start, min((k + 1) * window, hi) - start
        weight[lane, scored_lo:scored_hi] = 1.0
        keep[lane] = 0.0 if (k == 0 or context) else 1.0
    return inputs, velocity, weight, keep


def _transposed(inputs: np.ndarray, velocity: np.ndarray, most: int, rng: np.random.Generator):
    """Shift a slice's keys by a random whole number of semitones in -most..most that keeps every
    sounding key inside A0..C8; the optional channels after the score columns are not keyed."""
    from .codec import N_KEYS, SCORE_COLUMNS

    sounding = np.flatnonzero(inputs[:, 1:SCORE_COLUMNS:2].any(axis=0))
    if len(sounding) == 0:
        return inputs, velocity
    shift = int(rng.integers(max(-most, -sounding[0]), min(most, N_KEYS - 1 - sounding[-1]) + 1))
    if shift == 0:
        return inputs, velocity
    score = np.zeros_like(inputs[:, :SCORE_COLUMNS])
    moved = np.zeros_like(velocity)
    src = slice(max(0, -shift), N_KEYS - max(0, shift))
    dst = slice(max(0, shift), N_KEYS - max(0, -shift))
    keyed = inputs[:, :SCORE_COLUMNS].reshape(len(inputs), N_KEYS, 2)
    score.reshape(len(inputs), N_KEYS, 2)[:, dst] = keyed[:, src]
    moved[:, dst] = velocity[:, src]
    return np.concatenate([score, inputs[:, SCORE_COLUMNS:]], axis=1), moved


# ----------------------------------------------------------------------------------------------- loss

def velocity_loss(kind: str, score, target, weight, predicted, spread_weight: float = 0.0):
    """The training loss over one batch (velocities / 127; `weight` 0 marks padding and unscored context).

    `mse`         the paper's mean squared error over every cell of the velocity matrix.
    `masked_mse`  the same over the cells where a note sounds (a long note counts once per step held).
    `onset_mse`   the same over the cells where a key is struck: each note counts once, at the step
                  where its velocity is read, whatever its length.
    `spread_weight` adds the squared difference between the predicted and the human standard deviation
    of the struck notes' velocities, per lane (one window of one piece).  Squared error alone rewards
    predictions squeezed towards the middle (the optimum of an uncertain regression has less spread
    than the truth); this term asks for the human contrast at training time, at a small price in error.
    """
    from keras import ops

    from .codec import SCORE_COLUMNS

    predicted = ops.cast(predicted, "float32")
    squared = ops.square(predicted - target)
    rows = ops.expand_dims(weight, -1)
    struck = score[:, :, 0:SCORE_COLUMNS:2] * rows
    if kind == "mse":
        mask = rows * ops.ones_like(squared)
    elif kind == "masked_mse":
        mask = score[:, :, 1:SCORE_COLUMNS:2] * rows
    else:
        mask = struck
    loss = ops.sum(squared * mask) / ops.maximum(ops.sum(mask), 1.0)
    if spread_weight:
        loss = loss + spread_weight * _spread_error(predicted, target, struck)
    return loss


def _spread_error(predicted, target, struck):
    """Mean over lanes with two or more struck notes of (SD predicted - SD human)^2 at those notes."""
    from keras import ops

    count = ops.sum(struck, axis=(1, 2))
    n = ops.maximum(count, 1.0)

    def sd(x):
        mean = ops.sum(x * struck, axis=(1, 2)) / n
        centred = (x - mean[:, None, None]) * struck
        return ops.sqrt(ops.sum(ops.square(centred), axis=(1, 2)) / n + 1e-8)

    valid = ops.cast(count >= 2, "float32")
    return ops.sum(valid * ops.square(sd(predicted) - sd(target))) / ops.maximum(ops.sum(valid), 1.0)


# ----------------------------------------------------------------------------------------------- steps

def reset_lanes(states, keep):
    """Zero the carried state of every lane that starts a new piece (keep = 0)."""
    from keras import ops

    return [(h * ops.cast(keep, h.dtype)[:, None], c * ops.cast(keep, c.dtype)[:, None]) for h, c in states]


class Stepper:
    """The compiled training step and inference call for the active Keras backend.

    TensorFlow: tf.function around a GradientTape.  JAX: jax.jit around `stateless_call`.  Both apply
    gradients with the same Keras optimizer, restricted to the shared layer and the batch's GenreNet.
    """

    def __init__(self, model, optimizer, loss: str, strategy=None, spread_weight: float = 0.0):
        from .backend import backend_name

        self.model, self.optimizer, self.loss, self.spread_weight = model, optimizer, loss, spread_weight
        self.backend = backend_name()
        self.strategy = strategy
        self._train, self._predict = {}, {}

    def train(self, genre, score, target, weight, keep, states):
        if genre not in self._train:
            self._train[genre] = (self._tf_train if self.backend == "tensorflow" else self._jax_train)(genre)
        return self._train[genre](score, target, weight, keep, states)

    def predict(self, genre, score):
        if genre not in self._predict:
            self._predict[genre] = self._make_predict(genre)
        return self._predict[genre](score)

    # -- TensorFlow
    def _tf_train(self, genre):
        import tensorflow as tf

        model, optimizer, loss_kind, strategy = self.model, self.optimizer, self.loss, self.strategy
        spread_weight = self.spread_weight
        variables = model.genre_variables(genre)
        replicas = strategy.num_replicas_in_sync if strategy else 1

        def replica_step(score, target, weight, keep, states):
            states = reset_lanes(states, keep)
            with tf.GradientTape() as tape:
                predicted, new_states = model(score, genre=genre, states=states, training=True)
                loss = velocity_loss(loss_kind, score, target, weight, predicted, spread_weight)
                # Replicas' gradients are summed by the optimizer: scale each so the sum is the mean.
                scaled = optimizer.scale_loss(loss / replicas)
            grads = tape.gradient(scaled, variables)
            optimizer.apply(grads, variables)
            return loss, new_states

        if strategy is None:
            return tf.function(replica_step, reduce_retracing=True)

        @tf.function(reduce_retracing=True)
        def distributed_step(score, target, weight, keep, states):
            loss, new_states = strategy.run(replica_step, args=(score, target, weight, keep, states))
            return strategy.reduce("MEAN", loss, axis=None), new_states

        def run(score, target, weight, keep, states):
            """Deal the batch's lanes (and their carried states) out to the replicas, and gather back."""
            def split(array):
                parts = np.array_split(np.asarray(array), replicas)
                return strategy.experimental_distribute_values_from_function(
                    lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group]))

            states = [(split(h), split(c)) for h, c in states]
            loss, new_states = distributed_step(split(score), split(target), split(weight), split(keep), states)

            def gather(value):  # every replica's lanes, on every worker (the next window needs them all)
                return strategy.gather(value, axis=0)

            return loss, [(gather(h), gather(c)) for h, c in new_states]

        return run

    # -- JAX
    def _jax_train(self, genre):
        import jax
        import keras

        model, optimizer, loss_kind, spread_weight = self.model, self.optimizer, self.loss, self.spread_weight
        trainable = model.trainable_variables
        position = {id(v): i for i, v in enumerate(trainable)}
        update = [position[id(v)] for v in model.genre_variables(genre)]
        update_vars = [trainable[i] for i in update]

        def loss_fn(trainable_values, non_trainable_values, score, target, weight, states):
            (predicted, new_states), non_trainable_values = model.stateless_call(
                trainable_values, non_trainable_values, score, genre=genre, states=states, training=True)
            loss = velocity_loss(loss_kind, score, target, weight, predicted, spread_weight)
            return optimizer.scale_loss(loss), (loss, new_states, non_trainable_values)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def step(trainable_values, non_trainable_values, optimizer_values, score, target, weight, keep, states):
            states = reset_lanes(states, keep)
            (_, (loss, new_states, non_trainable_values)), grads = grad_fn(
                trainable_values, non_trainable_values, score, target, weight, states)
            mapping = [(v, trainable_values[i]) for v, i in zip(update_vars, update)]
            mapping += list(zip(optimizer.variables, optimizer_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                optimizer.apply([grads[i] for i in update], update_vars)
            trainable_values = list(trainable_values)
            for v, i in zip(update_vars, update):
                trainable_values[i] = scope.get_current_value(v)
            optimizer_values = [scope.get_current_value(v) for v in optimizer.variables]
            return loss, new_states, trainable_values, non_trainable_values, optimizer_values

        def run(score, target, weight, keep, states):
            loss, new_states, tv, ntv, ov = step(
                [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                [v.value for v in optimizer.variables], score, target, weight, keep, states)
            for var, value in zip(model.trainable_variables, tv):
                var.assign(value)
            for var, value in zip(model.non_trainable_variables, ntv):
                var.assign(value)
            for var, value in zip(optimizer.variables, ov):
                var.assign(value)
            return loss, new_states

        return run

    def _make_predict(self, genre):
        model = self.model
        if self.backend == "tensorflow":
            import tensorflow as tf

            return tf.function(lambda score: model.perform(score, genre), reduce_retracing=True)
        if self.backend == "jax":
            import jax

            @jax.jit
            def predict(trainable_values, non_trainable_values, score):
                (velocity, _), _ = model.stateless_call(trainable_values, non_trainable_values, score,
                                                        genre=genre, training=False)
                return velocity

            return lambda score: predict([v.value for v in model.trainable_variables],
                                         [v.value for v in model.non_trainable_variables], score)
        return lambda score: model.perform(score, genre)


# ----------------------------------------------------------------------------------------------- checkpoints

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


def _read_verified(path: Path) -> dict:
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


class CheckpointDamaged(Exception):
    pass


def load_checkpoint(path: Path, model, optimizer=None) -> tuple[dict, dict]:
    """Restore a checkpoint; if it is damaged (truncated, corrupted, checksum mismatch), its previous one."""
    path = Path(path)
    try:
        f = _read_verified(path)
    except CheckpointDamaged as damage:
        previous = previous_checkpoint(path)
        try:
            f = _read_verified(previous)
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
    for genre in model.genres:
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


# ----------------------------------------------------------------------------------------------- the run

@dataclass
class RunResult:
    run_dir: Path
    epochs_done: int
    global_step: int
    history: list[dict]
    stopped: str = ""  # why the run ended early, if it did


def _validate(stepper, data: TrainingData, loss_kind: str, spread_weight: float = 0.0) -> dict:
    """Whole validation pieces, read as `perform` reads them: the loss, and at note onsets the mean absolute
    error (MIDI units) and Pearson r of the raw predictions."""
    from .codec import velocities_at

    logs = {}
    for genre, pieces in data.validation.items():
        if not pieces:
            continue
        losses, errors, predictions, truths = [], [], [], []
        for piece in pieces:
            score = piece.inputs()[None]
            target = piece.velocity[None].astype(np.float32)
            predicted = np.asarray(stepper.predict(genre, score), dtype=np.float32)
            losses.append(float(velocity_loss(loss_kind, score, target, np.ones(score.shape[:2], np.float32),
                                              predicted, spread_weight)))
            step, key = np.nonzero(piece.score[:, 0::2])
            truth = np.rint(piece.velocity[step, key].astype(np.float32) * 127)
            predictions.append(velocities_at(predicted[0], step, key))
            truths.append(truth)
        predicted, truth = np.concatenate(predictions).astype(np.float64), np.concatenate(truths)
        logs[f"val_loss_{genre}"] = float(np.mean(losses))
        logs[f"val_mae_{genre}"] = float(np.mean(np.abs(predicted - truth)))
        logs[f"val_r_{genre}"] = float(np.corrcoef(predicted, truth)[0, 1]) if predicted.std() > 0 else 0.0
    if logs:
        logs["val_loss"] = float(np.mean([v for k, v in logs.items() if k.startswith("val_loss_")]))
        logs["val_mae"] = float(np.mean([v for k, v in logs.items() if k.startswith("val_mae_")]))
    return logs


def train(config: Config, run_dir, progress: bool = True, stop_after_batches: int | None = None) -> RunResult:
    """Train (or resume) a run.  `stop_after_batches` ends the call early, as a kill would (for tests)."""
    from tqdm import tqdm

    from .backend import backend_name, import_keras

    run_dir = Path(run_dir)
    if run_dir.is_dir():  # refuse a run directory in use before the slow imports
        lock_run_dir(run_dir)
    keras = import_keras()
    _check_resume_config(run_dir, config)
    data = load_training_data(config, progress)  # before writing anything: a bad config leaves no trace
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_run_dir(run_dir)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    t = config.train
    keras.utils.set_random_seed(t.seed)
    strategy = _strategy(t.distribute)
    with strategy.scope() if strategy else contextlib.nullcontext():
        from .model import build_model

        policy = keras.config.dtype_policy()
        if t.mixed_precision:  # float16 compute, float32 weights; the policy applies as layers are made
            keras.config.set_dtype_policy("mixed_float16")
        try:
            model = build_model(config.data.genres, config.model.units, config.model.genre_layers,
                                config.model.keep_prob, config.model.inputs)
        finally:
            keras.config.set_dtype_policy(policy)
        optimizer = _optimizer(keras, t, data)
        optimizer.build(model.trainable_variables)
    stepper = Stepper(model, optimizer, t.loss, strategy, t.spread_weight)

    meta = {"epoch": 0, "batch": 0, "global_step": 0, "best_val_loss": None, "loss_sum": 0.0, "loss_count": 0,
            "history": []}
    states: dict = {}
    checkpoint = run_dir / CHECKPOINT
    if checkpoint.exists() or previous_checkpoint(checkpoint).exists():
        meta, states = load_checkpoint(checkpoint, model, optimizer)
        print(f"resuming {run_dir} at epoch {meta['epoch'] + 1}, batch {meta['batch']} "
              f"(step {meta['global_step']})")
    print(f"StyleNet: {model.count_params():,} parameters, genres {', '.join(model.genres)}, "
          f"backend {backend_name()}, {_device_line()}")
    print(data.describe())

    callbacks = _callbacks(keras, model, optimizer, run_dir)
    callbacks.on_train_begin()
    history = meta["history"]
    last_save = time.monotonic()
    batches_run = 0
    stopped = ""
    while meta["epoch"] < t.epochs and not stopped:
        if (done := _patience_spent(history, t.patience)):
            print(done)
            break
        epoch = meta["epoch"]
        plan = epoch_plan(data, t.batch_size, t.window, t.seed, epoch)[:t.max_batches_per_epoch]
        started = time.monotonic()
        bar = tqdm(total=len(plan), initial=meta["batch"], desc=f"epoch {epoch + 1}/{t.epochs}", unit="batch",
                   disable=not progress, dynamic_ncols=True)
        while meta["batch"] < len(plan):
            genre, slots = plan[meta["batch"]]
            rng = np.random.default_rng([t.seed, epoch, meta["batch"]]) if t.transpose else None
            score, target, weight, keep = make_batch(data.train[genre], slots, t.window, t.context, t.transpose, rng)
            carried = states.get(genre) or model.zero_states(t.batch_size)
            loss, new_states = stepper.train(genre, score, target, weight, keep, carried)
            loss = float(loss)
            if not math.isfinite(loss):
                stopped = (f"loss became {loss} at epoch {epoch + 1}, batch {meta['batch'] + 1} ({genre}); "
                           f"stopped, the last good checkpoint is {checkpoint}")
                break
            states[genre] = new_states
            meta["batch"] += 1
            meta["global_step"] += 1
            meta["loss_sum"] += loss
            meta["loss_count"] += 1
            bar.update()
            bar.set_postfix(loss=f"{meta['loss_sum'] / meta['loss_count']:.5f}", genre=genre, refresh=False)
            batches_run += 1
            if time.monotonic() - last_save > 60 * t.checkpoint_minutes:
                save_checkpoint(checkpoint, model, optimizer, meta, states)
                last_save = time.monotonic()
            if stop_after_batches is not None and batches_run >= stop_after_batches:
                bar.close()
                return RunResult(run_dir, meta["epoch"], meta["global_step"], history, "stopped for test")
        bar.close()
        if stopped:
            break
        seconds = time.monotonic() - started
        logs = {"loss": meta["loss_sum"] / max(meta["loss_count"], 1), "epoch_seconds": seconds,
                "timesteps_per_second": len(plan) * t.batch_size * t.window / max(seconds, 1e-9)}
        with averaged_weights(model, optimizer):  # validate and keep what would ship
            logs.update(_validate(stepper, data, t.loss, t.spread_weight))
            improved = "val_loss" in logs and (meta["best_val_loss"] is None
                                               or logs["val_loss"] < meta["best_val_loss"])
            if improved:
                meta["best_val_loss"] = logs["val_loss"]
                save_checkpoint(run_dir / BEST, model, None, {"epoch": epoch + 1, **logs})
        callbacks.on_epoch_end(epoch, logs)
        history.append({"epoch": epoch + 1, **logs})
        meta.update(epoch=epoch + 1, batch=0, loss_sum=0.0, loss_count=0, history=history)
        states = {}  # every lane starts a new piece next epoch
        save_checkpoint(checkpoint, model, optimizer, meta, states)
        last_save = time.monotonic()
        print(_epoch_line(epoch + 1, logs, improved))
        if (epoch + 1) % t.plot_every == 0 or epoch + 1 == t.epochs:
            from .plots import plot_run

            plot_run(run_dir, history, stepper, data, epoch + 1)
    callbacks.on_train_end({})
    return RunResult(run_dir, meta["epoch"], meta["global_step"], history, stopped)


def _optimizer(keras, t, data: TrainingData):
    """Adam with the paper's clipping; optionally a cosine learning-rate decay over the whole run and an
    exponential moving average of the weights (`train.ema`), which `averaged_weights` swaps in."""
    learning_rate = t.learning_rate
    if t.lr_schedule == "cosine":
        batches_per_epoch = len(epoch_plan(data, t.batch_size, t.window, t.seed, 0)[:t.max_batches_per_epoch])
        learning_rate = keras.optimizers.schedules.CosineDecay(
            t.learning_rate, decay_steps=max(1, t.epochs * batches_per_epoch), alpha=t.lr_floor)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=t.clip_norm,
                                      use_ema=t.ema is not None, ema_momentum=t.ema or 0.99)
    if t.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@contextlib.contextmanager
def averaged_weights(model, optimizer):
    """Inside the block the model holds the optimizer's moving average of its weights (if it keeps one):
    averaged weights generalise better than the last step's, so they are validated and saved as best."""
    from keras import ops

    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not getattr(inner, "use_ema", False):
        yield
        return
    variables = inner._trainable_variables
    saved = [ops.convert_to_numpy(v.value) for v in variables]
    for variable, average in zip(variables, inner._model_variables_moving_average):
        variable.assign(average)
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def _patience_spent(history: list[dict], patience: int | None) -> str:
    """Early stopping, from the history alone (so a resumed run decides as the uninterrupted one would)."""
    scored = [h for h in history if "val_loss" in h]
    if not patience or not scored:
        return ""
    best = min(scored, key=lambda h: h["val_loss"])
    if history[-1]["epoch"] - best["epoch"] < patience:
        return ""
    return (f"stopping early: val_loss has not improved for {patience} epochs "
            f"(best {best['val_loss']:.5f} at epoch {best['epoch']}, kept in {BEST})")


def _epoch_line(epoch: int, logs: dict, improved: bool) -> str:
    parts = [f"epoch {epoch}: loss {logs['loss']:.5f}"]
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.5f}")
        parts += [f"{k[8:]} MAE {v:.1f}" for k, v in logs.items() if k.startswith("val_mae_")]
    parts.append(f"{logs['timesteps_per_second']:.0f} steps/s")
    return "  ".join(parts) + ("  (best)" if improved else "")


def _check_resume_config(run_dir: Path, config: Config) -> None:
    """A run directory belongs to one experiment: only train.* bookkeeping may change on resume."""
    import yaml

    saved = run_dir / "config.yaml"
    if not (saved.exists() and (run_dir / CHECKPOINT).exists()):
        return
    old = yaml.safe_load(saved.read_text()) or {}
    new = config.to_dict()
    defaults = Config().to_dict()  # a key missing from an older run's config had its default value

    def was(section, key):
        return old.get(section, {}).get(key, defaults[section][key])

    fixed = [("data", k) for k in new["data"]] + [("model", k) for k in new["model"]]
    fixed += [("train", k) for k in ("batch_size", "window", "seed", "loss", "spread_weight", "transpose",
                                     "context", "ema", "lr_schedule", "lr_floor")]
    for section, key in fixed:
        if was(section, key) != new[section][key]:
            raise ConfigError(f"{section}.{key}: {run_dir} was trained with {was(section, key)!r}, "
                              f"not {new[section][key]!r}; use a new run directory or the old value")


def _callbacks(keras, model, optimizer, run_dir: Path):
    callbacks = [keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True)]
    try:
        import tensorboard  # noqa: F401

        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False))
    except ImportError:
        pass
    model.optimizer = optimizer
    return keras.callbacks.CallbackList(callbacks, model=model)


def _strategy(kind: str):
    if kind == "none":
        return None
    from .backend import backend_name

    if backend_name() != "tensorflow":
        raise ConfigError(f"train.distribute: {kind} needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    import tensorflow as tf

    if kind == "mirrored":  # every local GPU (or, in tests, logical CPU devices)
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MultiWorkerMirroredStrategy()  # hosts and roles from TF_CONFIG


def _device_line() -> str:
    from .backend import backend_name

    if backend_name() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return f"{len(gpus)} GPU(s)" if gpus else "CPU"
    if backend_name() == "jax":
        import jax

        return ", ".join(sorted({d.platform for d in jax.devices()}))
    return "CPU"
