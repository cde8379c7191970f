"""`stylenet compose train --config configs/compose_X.yaml`: fit one of the second report's composers, resumably.

The loop: read the pieces through the filters (compose/data.py), cut them into examples (the autoencoder's
passages of bars, the token LSTM's windows of tokens), take one Adam step per mini-batch, checkpoint every
epoch and every `train.checkpoint_minutes` (checkpoint.py), validate every epoch on held-out pieces.
An epoch's batch order is a pure function of the seed and the epoch, so a resumed run replays the batches
the killed one would have taken (dropout masks are drawn afresh).  Run directory:

    config.yaml        the resolved config            checkpoint.npz     the latest state (atomic)
    data.json          what each filter kept/dropped  best.weights.npz   best validation weights
    vocabulary.json    the token LSTM's tokens        latents.npz        the autoencoder's latent codes' spread
    history.csv        one row per epoch              plots/loss.png     loss curves
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylenet.compose.config import ComposeConfig
from stylenet.compose.data import Corpus, Tune, Vocabulary, bar_chunks, chords, load_corpus
from stylenet.core.config import ConfigError, dump_config, refuse_changed_fields
from stylenet.core.errors import StyleNetError
from stylenet.core.fileio import PRETRAINED, atomic_path, atomic_write_text
from stylenet.nn.checkpoint import BEST, CHECKPOINT, lock_run_dir, save_checkpoint
from stylenet.nn.epochs import batch_epochs, resume

SHIPPED_COMPOSER = PRETRAINED / "composer"  # a small token LSTM
VOCABULARY = "vocabulary.json"
LATENTS = "latents.npz"
DATA = "data.json"
EVAL_BATCH = 256
TOKEN_VALIDATION_STRIDE = 8  # validation windows start every 8 tokens: a fair sample at an eighth of the cost


@dataclass
class ComposeRunResult:
    run_dir: Path
    epochs_done: int
    global_step: int
    history: list[dict]
    counts_lines: list[str]
    stopped: str = ""


def load_run_config(run_dir) -> ComposeConfig:
    """The config a `stylenet compose train` run directory was trained with, or one line saying it is none."""
    from stylenet.compose.config import load_compose_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise StyleNetError(f"{run_dir}: not a `stylenet compose train` run directory (no config.yaml)", exit_code=2)
    try:
        return load_compose_config(run_dir / "config.yaml")
    except ConfigError as exc:
        raise StyleNetError(f"{run_dir}: not a compose run ({exc})", exit_code=2) from None


class Passages:
    """The autoencoder's examples: passages of `bars` bars, [n, bars, 24, 96] uint8; input and target alike."""

    def __init__(self, tunes: list[Tune], bars: int, hop_bars: int):
        chunks = [bar_chunks(t, bars, hop_bars) for t in tunes]
        self.rolls = np.concatenate(chunks) if chunks else np.zeros((0, bars, 24, 96), np.uint8)

    def __len__(self) -> int:
        return len(self.rolls)

    def batch(self, index) -> tuple[np.ndarray, np.ndarray]:
        x = self.rolls[index].astype(np.float32)
        return x, x


class TokenWindows:
    """The token LSTM's examples: `context` tokens of one piece and the token that follows them."""

    def __init__(self, tunes: list[Tune], vocabulary: Vocabulary, context: int, stride: int = 1):
        sequences = [vocabulary.encode(chords(t)) for t in tunes]
        self.tokens = np.concatenate(sequences) if sequences else np.zeros(0, np.int32)
        starts, offset = [], 0
        for sequence in sequences:
            starts.append(offset + np.arange(0, len(sequence) - context, stride))
            offset += len(sequence)
        self.starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        self.context = context

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index) -> tuple[np.ndarray, np.ndarray]:
        start = self.starts[index]
        return self.tokens[start[:, None] + np.arange(self.context)], self.tokens[start + self.context]


def epoch_batches(n_examples: int, batch_size: int, seed: int, epoch: int, cap: int | None) -> list[np.ndarray]:
    """The epoch's mini-batches of example indices: a seeded shuffle, so a resumed run replays them."""
    order = np.random.default_rng([seed, epoch]).permutation(n_examples)
    return [order[i:i + batch_size] for i in range(0, n_examples, batch_size)][:cap]


def cell_loss(positive_weight: float):
    """The autoencoder's loss: binary cross-entropy per cell, a sounding cell's term times `positive_weight`
    (1 = the report's plain cross-entropy)."""
    from keras import ops

    def loss(y, p):
        p = ops.clip(p, 1e-7, 1 - 1e-7)
        return -ops.mean(positive_weight * y * ops.log(p) + (1 - y) * ops.log(1 - p), axis=(1, 2, 3))
    return loss


def validate(model, examples, composer: str, positive_weight: float = 1.0) -> dict:
    """Validation loss (as trained: cross-entropy), and what it means: the share of next tokens predicted
    (token LSTM) or the F1 of sounding cells reproduced above 0.5 (autoencoder)."""
    if not len(examples):
        return {}
    from keras import ops

    cells = cell_loss(positive_weight)
    losses, hits, true_pos, false_pos, false_neg = [], 0, 0, 0, 0
    for i in range(0, len(examples), EVAL_BATCH):
        x, y = examples.batch(np.arange(i, min(i + EVAL_BATCH, len(examples))))
        p = np.asarray(model.predict_on_batch(x), np.float64)
        if composer == "token_lstm":
            losses.append(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0)))
            hits += int((p.argmax(axis=1) == y).sum())
        else:
            losses.append(ops.convert_to_numpy(cells(y, p.astype(np.float32))))  # the loss as trained
            on, truth = p > 0.5, y > 0.5
            true_pos += int((on & truth).sum())
            false_pos += int((on & ~truth).sum())
            false_neg += int((~on & truth).sum())
    logs = {"val_loss": float(np.concatenate(losses).mean())}
    if composer == "token_lstm":
        logs["val_accuracy"] = hits / len(examples)
    else:
        logs["val_f1"] = 2 * true_pos / max(1, 2 * true_pos + false_pos + false_neg)
    return logs


def latent_spread(encoder, passages: Passages) -> dict[str, np.ndarray]:
    """The training passages' latent codes, summarised for sampling: their mean and principal components.

    A latent vector drawn from nowhere (each of 120 numbers at random) decodes to noise or silence: the
    decoder has only learned the region where real passages' codes lie, and those codes are strongly
    correlated (many dimensions move together).  The principal components are the directions of that
    cloud and their scales its extent along each, so mean + sum(N(0, 1) x scale x direction) draws new codes
    with the same spread and correlations as the real ones (a Gaussian fitted to the codes)."""
    codes = np.concatenate([np.asarray(encoder.predict_on_batch(passages.batch(np.arange(i, min(i + EVAL_BATCH,
                                                                                                   len(passages))))[0]))
                            for i in range(0, len(passages), EVAL_BATCH)]).astype(np.float64)
    mean = codes.mean(axis=0)
    _, singular, directions = np.linalg.svd(codes - mean, full_matrices=False)
    scales = singular / math.sqrt(max(len(codes) - 1, 1))
    return {"mean": mean, "components": directions, "scales": scales, "passages": np.int64(len(codes))}


def save_latents(path: Path, spread: dict) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **spread)


def train(config: ComposeConfig, run_dir, progress: bool = True, stop_after_batches: int | None = None
          ) -> ComposeRunResult:
    """Train (or resume) a composer.  `stop_after_batches` ends the call early, as a kill would (for tests)."""

    from stylenet.nn.backend import import_keras

    run_dir = Path(run_dir)
    if run_dir.is_dir():
        lock_run_dir(run_dir)
    _check_resume_config(run_dir, config)
    t, composer = config.train, config.composer
    if composer == "autoencoder":
        corpus = load_corpus(config.data, t.seed, progress, min_bars=config.autoencoder.bars)
    else:
        corpus = load_corpus(config.data, t.seed, progress, min_chords=config.token_lstm.context + 1)
    vocabulary, train_examples, val_examples = _examples(config, corpus, run_dir)
    if not len(train_examples):
        raise ConfigError("data: the training pieces give no example (every piece was held out for validation?); "
                          "lower data.validation_fraction")
    keras = import_keras()
    from stylenet.compose.models import build_composer

    run_dir.mkdir(parents=True, exist_ok=True)
    lock_run_dir(run_dir)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    atomic_write_text(run_dir / DATA, json.dumps({**corpus.counts.to_dict(), "train_pieces": len(corpus.train),
                                                  "validation_pieces": len(corpus.validation),
                                                  "train_examples": len(train_examples),
                                                  "validation_examples": len(val_examples)}, indent=1) + "\n")
    if vocabulary is not None:  # the one the network's output layer is sized for (a resumed run's, re-read)
        atomic_write_text(run_dir / VOCABULARY, vocabulary.to_json())
    keras.utils.set_random_seed(t.seed)
    model, _ = build_composer(config, len(vocabulary) if vocabulary is not None else None)
    positive_weight = config.autoencoder.positive_weight
    loss = cell_loss(positive_weight) if composer == "autoencoder" else "sparse_categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(t.learning_rate), loss=loss)
    model.optimizer.build(model.trainable_variables)

    run, _ = resume(run_dir, model, model.optimizer)
    for line in corpus.counts.lines():
        print(line)
    unit = "passages" if composer == "autoencoder" else "token windows"
    print(f"{composer}: {model.count_params():,} parameters; {len(corpus.train)} training pieces "
          f"({len(train_examples):,} {unit}), {len(corpus.validation)} validation pieces "
          f"({len(val_examples):,} {unit})" + (f"; vocabulary of {len(vocabulary):,} tokens" if vocabulary else ""))

    def plan(epoch):
        return epoch_batches(len(train_examples), t.batch_size, t.seed, epoch, t.max_batches_per_epoch)

    def step(batch):
        x, y = train_examples.batch(batch)
        return float(np.asarray(model.train_on_batch(x, y)).reshape(-1)[0]), ""

    def end(epoch, logs, n_batches):
        logs.update(validate(model, val_examples, composer, positive_weight))
        improved = "val_loss" in logs and (run.best_val_loss is None or logs["val_loss"] < run.best_val_loss)
        if improved or ("val_loss" not in logs):  # without validation the latest weights are the ones to keep
            run.best_val_loss = logs.get("val_loss")
            save_checkpoint(run_dir / BEST, model, None, {"epoch": epoch + 1, **logs})
            if composer == "autoencoder":
                save_latents(run_dir / LATENTS, latent_spread(model.get_layer("encoder"), train_examples))
        return improved

    def after(epoch, logs, improved, history):
        _write_history(run_dir / "history.csv", history)
        print(_epoch_line(epoch, logs, improved))
        if epoch % t.plot_every == 0 or epoch == t.epochs:
            from stylenet.compose.plots import compose_loss_curves

            compose_loss_curves(history, run_dir / "plots" / "loss.png", composer.replace("_", " "))

    stopped = batch_epochs(run_dir, model, model.optimizer, run, t.epochs, t.patience, t.checkpoint_minutes, plan,
                           step, end, after, None, progress, stop_after_batches, spikes=False)
    return ComposeRunResult(run_dir, run.epoch, run.global_step, run.history, corpus.counts.lines(), stopped)


def _examples(config: ComposeConfig, corpus: Corpus, run_dir: Path):
    """(vocabulary or None, training examples, validation examples).  A resumed token LSTM keeps the
    vocabulary it was built with (the output layer's width depends on it)."""
    if config.composer == "autoencoder":
        a = config.autoencoder
        return None, Passages(corpus.train, a.bars, a.hop_bars), Passages(corpus.validation, a.bars, a.bars)
    k = config.token_lstm
    saved = run_dir / VOCABULARY
    if saved.exists() and (run_dir / CHECKPOINT).exists():
        vocabulary = Vocabulary.from_json(saved.read_text())
    else:
        vocabulary = Vocabulary.build([chords(t) for t in corpus.train], k.min_chord_count)
    return (vocabulary, TokenWindows(corpus.train, vocabulary, k.context),
            TokenWindows(corpus.validation, vocabulary, k.context, TOKEN_VALIDATION_STRIDE))


def _write_history(path: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buffer.getvalue())


def _epoch_line(epoch: int, logs: dict, improved: bool) -> str:
    parts = [f"epoch {epoch}: loss {logs['loss']:.4f}"]
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    if "val_accuracy" in logs:
        parts.append(f"next token right {100 * logs['val_accuracy']:.1f}%")
    if "val_f1" in logs:
        parts.append(f"cells F1 {logs['val_f1']:.3f}")
    parts.append(f"{logs['epoch_seconds']:.0f} s")
    return "  ".join(parts) + ("  (best)" if improved else "")


def _check_resume_config(run_dir: Path, config: ComposeConfig) -> None:
    """Only train.* bookkeeping (epochs, checkpoints, plots, patience) may change when a run is resumed."""
    new = config.to_dict()
    fixed = [("composer",), *(("data", k) for k in new["data"]),
             *((config.composer, k) for k in new[config.composer]),
             ("train", "batch_size"), ("train", "learning_rate"), ("train", "seed")]
    refuse_changed_fields(run_dir, config, fixed, CHECKPOINT)
