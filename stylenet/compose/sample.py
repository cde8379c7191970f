"""`stylenet compose sample --model RUN -n 4 --bars 16 --seed 0 -o generated/`: new pieces from a trained
composer, as flat-velocity piano MIDI at a set tempo (for `stylenet perform` to give them dynamics).

* **Autoencoder.** Each passage is the decoder's reading of a latent vector drawn from the spread of the
  training passages' latent codes (their mean and principal components, `compose.train.latent_spread`): new
  codes that lie where real music's codes lie.  Codes are clipped at zero, as the encoder's ReLU never gives
  a negative one.  A cell whose probability passes `--threshold` (0.5, the report's) sounds.  A piece longer
  than the network's passage is several passages in a row.
* **Token LSTM.** The network reads 64 tokens and gives a probability for each token to come next; the
  next token is drawn from those probabilities sharpened or flattened by the temperature (p ** (1 / T),
  renormalised), appended, and the window moves on.  Temperature 0 takes the likeliest token every time:
  greedy decoding, which falls into repeating a couple of notes forever (the report's main failure).  The
  first 64 tokens are random, as the report's were, or a real piece's opening (`--opening FILE`, read
  through the run's key and silence filters); they are context, not part of the piece written.

Every piece draws from its own random stream, seeded by (seed, piece number), so the same command writes
the same files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylenet.compose.data import (
    FLAT_VELOCITY,
    STEPS_PER_BAR,
    Filters,
    Vocabulary,
    chord_notes,
    chords,
    read_tune,
    roll_notes,
    tune_midi,
)
from stylenet.compose.train import LATENTS, SHIPPED_COMPOSER, VOCABULARY, load_run_config
from stylenet.core.errors import StyleNetError
from stylenet.core.fileio import atomic_write_bytes
from stylenet.nn.checkpoint import BEST, CHECKPOINT, previous_checkpoint


@dataclass(frozen=True)
class SampleOptions:
    """What `stylenet compose sample` is asked to do (cli/compose.py reads it off the command line)."""

    model: str | None  # a `stylenet compose train` run directory; None = the shipped composer
    out: str  # the folder the pieces go into
    count: int = 4
    bars: int = 16
    seed: int = 0
    threshold: float = 0.5  # autoencoder: a cell sounds above this probability
    components: int | None = None  # autoencoder: principal components of the latent spread used (None: all)
    temperature: float = 1.0  # token LSTM: 0 = greedy
    opening: str | None = None  # token LSTM: a MIDI file whose first tokens start the piece
    qpm: float = 120.0
    velocity: int = FLAT_VELOCITY
    force: bool = False


@dataclass
class SampleReport:
    composer: str
    written: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # pieces not written, and why


@dataclass
class Composer:
    """A trained composer read back from its run directory."""

    run_dir: Path
    config: object  # ComposeConfig
    model: object  # the Keras network trained
    decoder: object | None = None  # autoencoder
    vocabulary: Vocabulary | None = None  # token LSTM
    latents: dict | None = None  # autoencoder: mean, components, scales


def load_composer(run_dir) -> Composer:
    """A run's config, network and best weights (its latest checkpoint when it kept no best)."""
    from stylenet.nn.checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    weights = next((p for p in (run_dir / BEST, run_dir / CHECKPOINT, previous_checkpoint(run_dir / CHECKPOINT))
                    if p.exists()), None)
    if weights is None:
        raise StyleNetError(f"{run_dir}: no trained weights yet (no {BEST} or {CHECKPOINT}); "
                            "run `stylenet compose train` first", exit_code=2)
    vocabulary = latents = None
    if config.composer == "token_lstm":
        try:
            vocabulary = Vocabulary.from_json((run_dir / VOCABULARY).read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise StyleNetError(f"{run_dir / VOCABULARY}: cannot read the run's vocabulary ({exc})", exit_code=2) from None
    else:
        try:
            with np.load(run_dir / LATENTS) as f:
                latents = {k: f[k] for k in ("mean", "components", "scales")}
        except (OSError, ValueError, KeyError) as exc:
            raise StyleNetError(f"{run_dir / LATENTS}: cannot read the latent codes' spread ({exc}); it is written "
                                "with the best weights after an epoch", exit_code=2) from None
    from stylenet.compose.models import build_composer
    from stylenet.nn.backend import import_keras

    import_keras()
    model, decoder = build_composer(config, len(vocabulary) if vocabulary is not None else None)
    load_checkpoint(weights, model)
    return Composer(run_dir, config, model, decoder, vocabulary, latents)


def draw_latents(latents: dict, n: int, rng: np.random.Generator, components: int | None = None) -> np.ndarray:
    """[n, latent] codes drawn from the Gaussian the training codes' principal components describe, clipped
    at zero (the encoder's ReLU)."""
    k = len(latents["scales"]) if components is None else min(components, len(latents["scales"]))
    weights = rng.standard_normal((n, k)) * latents["scales"][:k]
    return np.maximum(latents["mean"] + weights @ latents["components"][:k], 0.0)


def autoencoder_rolls(composer: Composer, count: int, bars: int, seed: int, components: int | None = None
                      ) -> list[np.ndarray]:
    """[bars x 24, 96] probabilities of each cell sounding, one array per piece."""
    passage_bars = composer.config.autoencoder.bars
    passages = math.ceil(bars / passage_bars)
    rolls = []
    for i in range(count):
        codes = draw_latents(composer.latents, passages, np.random.default_rng([seed, i]), components)
        decoded = np.asarray(composer.decoder.predict_on_batch(codes.astype(np.float32)), np.float64)
        rolls.append(decoded.reshape(-1, decoded.shape[-1])[:bars * STEPS_PER_BAR])
    return rolls


def choose(probabilities: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One token from the network's probabilities at a temperature (0: the likeliest, greedy)."""
    if temperature == 0:
        return int(np.argmax(probabilities))
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-12, None)) / temperature
    weights = np.exp(logits - logits.max())
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def token_pieces(composer: Composer, count: int, length: int, seed: int, temperature: float,
                 opening: np.ndarray | None = None) -> list[np.ndarray]:
    """`count` sequences of `length` token numbers; each starts from `opening` or from random tokens."""
    context = composer.config.token_lstm.context
    rngs = [np.random.default_rng([seed, i]) for i in range(count)]
    vocabulary_size = len(composer.vocabulary)
    windows = np.stack([opening if opening is not None else rng.integers(0, vocabulary_size, context)
                        for rng in rngs]).astype(np.int32)
    pieces = np.zeros((count, length), np.int32)
    for step in range(length):
        probabilities = np.asarray(composer.model.predict_on_batch(windows))
        pieces[:, step] = [choose(p, temperature, rng) for p, rng in zip(probabilities, rngs)]
        windows = np.concatenate([windows[:, 1:], pieces[:, step:step + 1]], axis=1)
    return list(pieces)


def read_opening(path, composer: Composer) -> np.ndarray:
    """The first `context` tokens of a MIDI file, read through the run's key and silence filters."""
    data = composer.config.data
    tune = read_tune(path, Filters(None, data.trim_leading_silence, data.transpose))
    sequence = chords(tune)
    context = composer.config.token_lstm.context
    if len(sequence) < context:
        raise StyleNetError(f"{path}: an opening needs {context} chord tokens (the model's context); it has "
                            f"{len(sequence)}", exit_code=2)
    return composer.vocabulary.encode(sequence[:context])


def sample(options: SampleOptions) -> SampleReport:
    if options.count < 1 or options.bars < 1:
        raise StyleNetError("-n and --bars must be at least 1", exit_code=2)
    out = Path(options.out)
    composer = load_composer(options.model or SHIPPED_COMPOSER)
    kind = composer.config.composer
    if options.opening and kind != "token_lstm":
        raise StyleNetError("--opening starts a token LSTM's piece; this run is an autoencoder", exit_code=2)
    names = [out / f"{kind}-seed{options.seed}-{i + 1:02d}.mid" for i in range(options.count)]
    existing = [p for p in names if p.exists()]
    if existing and not options.force:
        raise StyleNetError(f"{existing[0]}: already exists; pass --force to overwrite it", exit_code=2)
    report = SampleReport(kind)
    if kind == "autoencoder":
        pieces = []
        for i, roll in enumerate(autoencoder_rolls(composer, options.count, options.bars, options.seed,
                                                   options.components)):
            sounding = roll > options.threshold
            if not sounding.any():
                report.notes.append(f"piece {i + 1}: silent at --threshold {options.threshold:g} (its likeliest cell "
                                    f"is {roll.max():.2f}); not written")
                pieces.append(None)
                continue
            pieces.append(roll_notes(sounding))
    else:
        steps = composer.config.token_lstm.token_steps
        opening = read_opening(options.opening, composer) if options.opening else None
        length = max(1, options.bars * STEPS_PER_BAR // steps)
        pieces = [chord_notes(composer.vocabulary.decode(ids), steps)
                  for ids in token_pieces(composer, options.count, length, options.seed, options.temperature, opening)]
    for path, notes in zip(names, pieces):
        if notes is None:
            continue
        pitch, onset, offset = notes
        atomic_write_bytes(path, tune_midi(pitch, onset, offset, options.qpm, options.velocity))
        report.written.append(path)
        report.lines.append(f"{path}  ({len(pitch)} notes, {options.bars} bars at {options.qpm:g} qpm, "
                            f"velocity {options.velocity})")
    return report
