"""The typed configuration of a composer's training run (configs/compose_*.yaml): data, autoencoder or
token LSTM, and train sections, checked field by field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from stylenet.core.config import check_run_keeping, from_dict, read_yaml, require

COMPOSERS = ("autoencoder", "token_lstm")
TOKEN_INPUTS = ("scalar", "embedding")


@dataclass
class ComposeDataConfig:
    """Which pieces a composer learns from, and the second report's filters (its values are the defaults)."""

    source: str = "build/dataset"  # a built dataset (its pieces' piano parts) or a folder of MIDI files
    split: str = "train"  # of a built dataset; a folder's files are all used
    genres: list[str] = field(default_factory=list)  # of a built dataset; [] = every genre
    tempo_range: list[float] | None = field(default_factory=lambda: [110.0, 130.0])  # qpm; null = every tempo
    trim_leading_silence: bool = True  # drop the empty bars before the first note
    transpose: bool = True  # every piece to C major or A minor (key found by Krumhansl-Schmuckler)
    validation_fraction: float = 0.05  # of the pieces kept, held out by piece
    max_pieces: int | None = None  # for quick experiments; None = all


@dataclass
class AutoencoderConfig:
    """The report's autoencoder: bars of 24 steps x 96 pitches, each bar through `bar_units` (shared across
    bars), the bars together through `piece_units`; the last of `piece_units` is the latent vector."""

    bars: int = 16
    bar_units: list[int] = field(default_factory=lambda: [2000, 200])
    piece_units: list[int] = field(default_factory=lambda: [1600, 120])
    hop_bars: int = 4  # a training example starts every this many bars of a piece
    # Beyond the report: a sounding cell's share of the loss, times this.  About 3 % of cells sound, so plain
    # cross-entropy (1.0, the report's) is lowest near "nothing sounds anywhere"; ~10 evens the two kinds out.
    positive_weight: float = 1.0


@dataclass
class TokenLSTMConfig:
    """The report's token LSTM: the previous `context` tokens (notes and chords) predict the next one.
    Small network: 2 LSTM layers of 256, one Dense of 256, dropout 0.3; deep: 10 x 128, two Dense of 128,
    dropout 0.01.  A Dropout layer follows every LSTM and every hidden Dense layer."""

    context: int = 64
    lstm_layers: int = 2
    lstm_units: int = 256
    dense_layers: int = 1
    dense_units: int = 256
    dropout: float = 0.3
    token_input: str = "scalar"  # scalar: token number / vocabulary size (the report); embedding: learned vectors
    embedding_size: int = 32  # with token_input: embedding
    min_chord_count: int = 2  # chords heard fewer times in training are read as their outer voices or top note
    token_steps: int = 3  # when written: grid steps (24 a bar) from one token to the next (3 = an eighth note)


@dataclass
class ComposeTrainConfig:
    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    checkpoint_minutes: float = 10.0  # also checkpoint inside an epoch this often
    plot_every: int = 1  # epochs between loss-curve PNGs (and at the end)
    max_batches_per_epoch: int | None = None  # cap for quick experiments; None = whole epoch
    patience: int | None = None  # stop once this many epochs pass without a better val_loss; None = never


@dataclass
class ComposeConfig:
    composer: str = "token_lstm"  # autoencoder | token_lstm
    data: ComposeDataConfig = field(default_factory=ComposeDataConfig)
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    token_lstm: TokenLSTMConfig = field(default_factory=TokenLSTMConfig)
    train: ComposeTrainConfig = field(default_factory=ComposeTrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_compose(config: ComposeConfig) -> None:
    d, a, k, t = config.data, config.autoencoder, config.token_lstm, config.train

    require(config.composer in COMPOSERS, f"composer: must be one of {', '.join(COMPOSERS)}, got {config.composer!r}")
    require(d.tempo_range is None or (len(d.tempo_range) == 2 and 0 < d.tempo_range[0] <= d.tempo_range[1]),
          "data.tempo_range: must be [low, high] quarter notes a minute with 0 < low <= high (the report: "
          "[110, 130]), or null")
    require(0.0 <= d.validation_fraction < 1.0, "data.validation_fraction: must be in [0, 1), e.g. 0.05")
    require(d.max_pieces is None or d.max_pieces >= 1, "data.max_pieces: must be >= 1 or null")
    require(a.bars >= 1, "autoencoder.bars: must be >= 1 (the report uses 16)")
    for name in ("bar_units", "piece_units"):
        units = getattr(a, name)
        require(len(units) >= 1 and min(units) >= 1, f"autoencoder.{name}: must list at least one layer size >= 1")
    require(a.hop_bars >= 1, "autoencoder.hop_bars: must be >= 1")
    require(a.positive_weight > 0, "autoencoder.positive_weight: must be > 0 (1 = the report's plain cross-entropy)")
    require(k.context >= 1, "token_lstm.context: must be >= 1 (the report uses 64)")
    require(k.lstm_layers >= 1 and k.lstm_units >= 1, "token_lstm.lstm_layers and lstm_units: must be >= 1")
    require(k.dense_layers >= 0 and k.dense_units >= 1, "token_lstm.dense_layers: must be >= 0, dense_units >= 1")
    require(0.0 <= k.dropout < 1.0, "token_lstm.dropout: must be in [0, 1)")
    require(k.token_input in TOKEN_INPUTS,
          f"token_lstm.token_input: must be one of {', '.join(TOKEN_INPUTS)}, got {k.token_input!r}")
    require(k.embedding_size >= 1, "token_lstm.embedding_size: must be >= 1")
    require(k.min_chord_count >= 1, "token_lstm.min_chord_count: must be >= 1")
    require(k.token_steps >= 1, "token_lstm.token_steps: must be >= 1 grid step")
    require(t.epochs >= 1, "train.epochs: must be >= 1")
    require(t.batch_size >= 1, "train.batch_size: must be >= 1 (the report uses 64)")
    require(t.learning_rate > 0, "train.learning_rate: must be > 0")
    check_run_keeping(t, d.validation_fraction)


def compose_config_from_dict(raw: dict, overrides: list[str] = (), source: str = "config") -> ComposeConfig:
    return from_dict(ComposeConfig, _check_compose, raw, overrides, source)


def load_compose_config(path, overrides: list[str] = ()) -> ComposeConfig:
    return compose_config_from_dict(read_yaml(path, "composer/data/autoencoder/token_lstm/train"), overrides,
                                    str(path))
