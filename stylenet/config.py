"""One configuration object, read from YAML into typed dataclasses, checked field by field.

    data:   which built dataset, which genres, how validation pieces are held out
    model:  the network's size (the paper: 176 units, 3 bidirectional layers per genre, keep-prob 0.8)
    train:  optimisation and bookkeeping (the paper: batch 4, Adam 1e-3, clip 10, windows of 200 steps)

`stylenet compose train` reads a `ComposeConfig` the same way (sections data, autoencoder, token_lstm, train
and the `composer` it trains).

Every mistake is reported as one line naming the field and what to do, e.g.
`configs/x.yaml: train.epocs: unknown key (did you mean 'epochs'?)`.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from stylenet.codec import KNOWN_INPUTS
from stylenet.errors import StyleNetError

LOSSES = ("mse", "masked_mse", "onset_mse")
LR_SCHEDULES = ("constant", "cosine")
DISTRIBUTE = ("none", "mirrored", "multi_worker")


class ConfigError(StyleNetError):
    def __init__(self, message: str):
        super().__init__(message, exit_code=2)


@dataclass
class DataConfig:
    dataset: str = "build/dataset"  # a folder written by `stylenet build-dataset`
    genres: list[str] = field(default_factory=lambda: ["classical", "jazz", "pop"])
    validation_fraction: float = 0.05  # of each genre's train pieces, held out by piece
    # which pieces are held out: None = train.seed's choice; set it to give runs of different seeds the same
    # validation pieces (an ensemble is chosen and calibrated on pieces none of its runs trained on)
    validation_seed: int | None = None
    max_pieces_per_genre: int | None = None  # for quick experiments; None = all


@dataclass
class ModelConfig:
    units: int = 176
    genre_layers: int = 3  # stacked bidirectional LSTMs per GenreNet
    keep_prob: float = 0.8  # dropout keep-probability (dropout rate = 1 - keep_prob)
    inputs: list[str] = field(default_factory=list)  # extra inputs: metre (beat and bar position), voice (top/bottom key)


@dataclass
class TrainConfig:
    epochs: int = 160
    batch_size: int = 4
    window: int = 200  # truncated-BPTT window, in grid steps
    learning_rate: float = 1e-3
    clip_norm: float = 10.0  # clip gradients by global norm
    loss: str = "mse"  # mse (paper: whole matrix) | masked_mse (sounding cells) | onset_mse (struck cells)
    spread_weight: float = 0.0  # weight of the per-window spread term (predicted vs human velocity SD at onsets)
    transpose: int = 0  # augmentation: shift each window by up to +-N semitones (keys kept inside A0..C8)
    context: int = 0  # steps of unscored context read on each side of a window (0 = carry state, as the paper)
    ema: float | None = None  # exponential moving average of the weights (e.g. 0.999); validated and saved
    lr_schedule: str = "constant"  # constant (paper) | cosine (decays to lr_floor x learning_rate over the run)
    lr_floor: float = 0.05
    seed: int = 0
    checkpoint_minutes: float = 10.0  # also checkpoint inside an epoch this often
    plot_every: int = 10  # epochs between loss-curve / snapshot PNGs (and at the end)
    mixed_precision: bool = False
    distribute: str = "none"  # none | mirrored | multi_worker (tf.distribute; TensorFlow backend)
    max_batches_per_epoch: int | None = None  # cap for quick experiments; None = whole epoch
    patience: int | None = None  # stop once this many epochs pass without a better val_loss; None = never


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value, tp, where: str):
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # PyYAML follows YAML 1.1, which reads 1e-3 (no dot) as text
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build(cls, raw, where: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"{where}.{key}: unknown key{hint}".lstrip("."))
    kwargs = {}
    for name in names:
        if name not in raw:
            continue
        tp = hints[name]
        path = f"{where}.{name}".lstrip(".")
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], path)
        else:
            kwargs[name] = _coerce(raw[name], tp, path)
    return cls(**kwargs)


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_run_keeping(t, validation_fraction: float) -> None:
    """The train.* fields both `stylenet train` and `stylenet compose train` keep their runs by."""
    _need(t.checkpoint_minutes > 0, "train.checkpoint_minutes: must be > 0")
    _need(t.plot_every >= 1, "train.plot_every: must be >= 1")
    _need(t.max_batches_per_epoch is None or t.max_batches_per_epoch >= 1,
          "train.max_batches_per_epoch: must be >= 1 or null")
    _need(t.patience is None or t.patience >= 1, "train.patience: must be >= 1 or null")
    _need(t.patience is None or validation_fraction > 0,
          "train.patience: needs a validation set (data.validation_fraction > 0)")


def _check(config: Config) -> None:
    d, m, t = config.data, config.model, config.train

    _need(len(d.genres) >= 1, "data.genres: name at least one genre")
    _need(len(set(d.genres)) == len(d.genres), f"data.genres: a genre is listed twice ({d.genres})")
    _need(0.0 <= d.validation_fraction < 1.0, "data.validation_fraction: must be in [0, 1), e.g. 0.05")
    _need(d.max_pieces_per_genre is None or d.max_pieces_per_genre >= 1,
          "data.max_pieces_per_genre: must be >= 1 or null")
    _need(m.units >= 1, "model.units: must be >= 1 (the paper uses 176)")
    _need(m.genre_layers >= 1, "model.genre_layers: must be >= 1 (the paper uses 3)")
    _need(0.0 < m.keep_prob <= 1.0, "model.keep_prob: must be in (0, 1] (the paper uses 0.8)")
    _need(t.epochs >= 1, "train.epochs: must be >= 1")
    _need(t.batch_size >= 1, "train.batch_size: must be >= 1 (the paper uses 4)")
    _need(t.window >= 2, "train.window: must be >= 2 steps (the paper uses 200)")
    _need(t.learning_rate > 0, "train.learning_rate: must be > 0 (the paper uses 1e-3)")
    _need(t.clip_norm > 0, "train.clip_norm: must be > 0 (the paper uses 10)")
    _need(t.loss in LOSSES, f"train.loss: must be one of {', '.join(LOSSES)}, got {t.loss!r}")
    for name in m.inputs:
        _need(name in KNOWN_INPUTS, f"model.inputs: unknown input {name!r} (known: {', '.join(KNOWN_INPUTS)})")
    _need(len(set(m.inputs)) == len(m.inputs), f"model.inputs: an input is listed twice ({m.inputs})")
    _need(t.spread_weight >= 0, "train.spread_weight: must be >= 0 (0 = off)")
    _need(0 <= t.transpose <= 12, "train.transpose: must be 0..12 semitones (0 = off)")
    _need(t.context >= 0, "train.context: must be >= 0 steps (0 = off)")
    _need(t.ema is None or 0.0 < t.ema < 1.0, "train.ema: must be in (0, 1), e.g. 0.999, or null (off)")
    _need(t.lr_schedule in LR_SCHEDULES,
          f"train.lr_schedule: must be one of {', '.join(LR_SCHEDULES)}, got {t.lr_schedule!r}")
    _need(0.0 <= t.lr_floor <= 1.0, "train.lr_floor: must be in [0, 1]")
    _need(t.distribute in DISTRIBUTE, f"train.distribute: must be one of {', '.join(DISTRIBUTE)}, got {t.distribute!r}")
    _check_run_keeping(t, d.validation_fraction)


def parse_override(text: str) -> tuple[list[str], object]:
    """'train.epochs=3' -> (['train', 'epochs'], 3); the value is read as YAML."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected SECTION.KEY=VALUE, e.g. train.epochs=3")
    return key.strip().split("."), yaml.safe_load(value)


def _from_dict(cls, check, raw: dict, overrides, source: str):
    """A config of dataclass `cls` from YAML's dict with `--set` overrides applied, checked by `check`."""
    raw = dict(raw or {})
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else None
            if node is None:
                raise ConfigError(f"--set {text}: {part} is not a section")
        node[path[-1]] = value
    try:
        config = _build(cls, raw, "")
        check(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def _read_yaml(path, sections: str) -> dict:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected sections {sections} at the top level")
    return raw or {}


def config_from_dict(raw: dict, overrides: list[str] = (), source: str = "config") -> Config:
    return _from_dict(Config, _check, raw, overrides, source)


def load_config(path, overrides: list[str] = ()) -> Config:
    return config_from_dict(_read_yaml(path, "data/model/train"), overrides, str(path))


def dump_config(config) -> str:
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)


# ================================================================================================ compose

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

    _need(config.composer in COMPOSERS, f"composer: must be one of {', '.join(COMPOSERS)}, got {config.composer!r}")
    _need(d.tempo_range is None or (len(d.tempo_range) == 2 and 0 < d.tempo_range[0] <= d.tempo_range[1]),
          "data.tempo_range: must be [low, high] quarter notes a minute with 0 < low <= high (the report: "
          "[110, 130]), or null")
    _need(0.0 <= d.validation_fraction < 1.0, "data.validation_fraction: must be in [0, 1), e.g. 0.05")
    _need(d.max_pieces is None or d.max_pieces >= 1, "data.max_pieces: must be >= 1 or null")
    _need(a.bars >= 1, "autoencoder.bars: must be >= 1 (the report uses 16)")
    for name in ("bar_units", "piece_units"):
        units = getattr(a, name)
        _need(len(units) >= 1 and min(units) >= 1, f"autoencoder.{name}: must list at least one layer size >= 1")
    _need(a.hop_bars >= 1, "autoencoder.hop_bars: must be >= 1")
    _need(a.positive_weight > 0, "autoencoder.positive_weight: must be > 0 (1 = the report's plain cross-entropy)")
    _need(k.context >= 1, "token_lstm.context: must be >= 1 (the report uses 64)")
    _need(k.lstm_layers >= 1 and k.lstm_units >= 1, "token_lstm.lstm_layers and lstm_units: must be >= 1")
    _need(k.dense_layers >= 0 and k.dense_units >= 1, "token_lstm.dense_layers: must be >= 0, dense_units >= 1")
    _need(0.0 <= k.dropout < 1.0, "token_lstm.dropout: must be in [0, 1)")
    _need(k.token_input in TOKEN_INPUTS,
          f"token_lstm.token_input: must be one of {', '.join(TOKEN_INPUTS)}, got {k.token_input!r}")
    _need(k.embedding_size >= 1, "token_lstm.embedding_size: must be >= 1")
    _need(k.min_chord_count >= 1, "token_lstm.min_chord_count: must be >= 1")
    _need(k.token_steps >= 1, "token_lstm.token_steps: must be >= 1 grid step")
    _need(t.epochs >= 1, "train.epochs: must be >= 1")
    _need(t.batch_size >= 1, "train.batch_size: must be >= 1 (the report uses 64)")
    _need(t.learning_rate > 0, "train.learning_rate: must be > 0")
    _check_run_keeping(t, d.validation_fraction)


def compose_config_from_dict(raw: dict, overrides: list[str] = (), source: str = "config") -> ComposeConfig:
    return _from_dict(ComposeConfig, _check_compose, raw, overrides, source)


def load_compose_config(path, overrides: list[str] = ()) -> ComposeConfig:
    return compose_config_from_dict(_read_yaml(path, "composer/data/autoencoder/token_lstm/train"), overrides,
                                    str(path))


def refuse_changed_fields(run_dir, config, fixed) -> None:
    """A run directory belongs to one experiment: raise a ConfigError naming the first field in `fixed` (paths
    such as ("train", "seed")) whose value differs from the run's saved config.yaml.  A field missing from an
    older run's file had its default value then.  Nothing to compare before the run's first checkpoint."""
    import yaml

    from stylenet.checkpoint import CHECKPOINT

    run_dir = Path(run_dir)
    saved = run_dir / "config.yaml"
    if not (saved.exists() and (run_dir / CHECKPOINT).exists()):
        return
    old, new, defaults = yaml.safe_load(saved.read_text()) or {}, config.to_dict(), type(config)().to_dict()
    for path in fixed:
        was, now = _at(old, path), _at(new, path)
        if was is _MISSING:
            was = _at(defaults, path)
        if was != now:
            raise ConfigError(f"{'.'.join(path)}: {run_dir} was trained with {was!r}, not {now!r}; "
                              "use a new run directory or the old value")


_MISSING = object()


def _at(tree: dict, path):
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree
