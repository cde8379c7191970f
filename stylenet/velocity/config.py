"""The typed configuration of a StyleNet training run (configs/*.yaml): data, model and train sections,
checked field by field, with `--set section.key=value` overrides (core/config.py reads and checks it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from stylenet.core.config import check_run_keeping, from_dict, read_yaml, require
from stylenet.velocity.inputs import KNOWN_INPUTS

LOSSES = ("mse", "masked_mse", "onset_mse")
LR_SCHEDULES = ("constant", "cosine")
DISTRIBUTE = ("none", "mirrored", "multi_worker")


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


def _check(config: Config) -> None:
    d, m, t = config.data, config.model, config.train

    require(len(d.genres) >= 1, "data.genres: name at least one genre")
    require(len(set(d.genres)) == len(d.genres), f"data.genres: a genre is listed twice ({d.genres})")
    require(0.0 <= d.validation_fraction < 1.0, "data.validation_fraction: must be in [0, 1), e.g. 0.05")
    require(d.max_pieces_per_genre is None or d.max_pieces_per_genre >= 1,
          "data.max_pieces_per_genre: must be >= 1 or null")
    require(m.units >= 1, "model.units: must be >= 1 (the paper uses 176)")
    require(m.genre_layers >= 1, "model.genre_layers: must be >= 1 (the paper uses 3)")
    require(0.0 < m.keep_prob <= 1.0, "model.keep_prob: must be in (0, 1] (the paper uses 0.8)")
    require(t.epochs >= 1, "train.epochs: must be >= 1")
    require(t.batch_size >= 1, "train.batch_size: must be >= 1 (the paper uses 4)")
    require(t.window >= 2, "train.window: must be >= 2 steps (the paper uses 200)")
    require(t.learning_rate > 0, "train.learning_rate: must be > 0 (the paper uses 1e-3)")
    require(t.clip_norm > 0, "train.clip_norm: must be > 0 (the paper uses 10)")
    require(t.loss in LOSSES, f"train.loss: must be one of {', '.join(LOSSES)}, got {t.loss!r}")
    for name in m.inputs:
        require(name in KNOWN_INPUTS, f"model.inputs: unknown input {name!r} (known: {', '.join(KNOWN_INPUTS)})")
    require(len(set(m.inputs)) == len(m.inputs), f"model.inputs: an input is listed twice ({m.inputs})")
    require(t.spread_weight >= 0, "train.spread_weight: must be >= 0 (0 = off)")
    require(0 <= t.transpose <= 12, "train.transpose: must be 0..12 semitones (0 = off)")
    require(t.context >= 0, "train.context: must be >= 0 steps (0 = off)")
    require(t.ema is None or 0.0 < t.ema < 1.0, "train.ema: must be in (0, 1), e.g. 0.999, or null (off)")
    require(t.lr_schedule in LR_SCHEDULES,
          f"train.lr_schedule: must be one of {', '.join(LR_SCHEDULES)}, got {t.lr_schedule!r}")
    require(0.0 <= t.lr_floor <= 1.0, "train.lr_floor: must be in [0, 1]")
    require(t.distribute in DISTRIBUTE, f"train.distribute: must be one of {', '.join(DISTRIBUTE)}, got {t.distribute!r}")
    check_run_keeping(t, d.validation_fraction)


def config_from_dict(raw: dict, overrides: list[str] = (), source: str = "config") -> Config:
    return from_dict(Config, _check, raw, overrides, source)


def load_config(path, overrides: list[str] = ()) -> Config:
    return config_from_dict(read_yaml(path, "data/model/train"), overrides, str(path))
