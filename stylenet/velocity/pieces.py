"""A built dataset's pieces as training reads them: whole pieces in memory, split into training and
validation pieces per genre (held out by piece, seeded, so `evaluate --split validation` can rebuild the
same split)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylenet.core.config import ConfigError
from stylenet.core.errors import StyleNetError
from stylenet.core.midifile import DEFAULT_STEPS_PER_QUARTER
from stylenet.data.read import load_manifest, load_piece_and_meters
from stylenet.data.splits import split_genre
from stylenet.velocity.config import Config, config_from_dict
from stylenet.velocity.inputs import input_channels


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


def load_training_data(config: Config, progress: bool = True) -> TrainingData:
    from tqdm import tqdm

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


def asap_entries(dataset, run_config: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """(train, validation, test) entries of the ASAP performances in a built dataset, as a training run
    with `run_config` (its config.yaml, or a model's `info["config"]`) splits them: validation = the ASAP
    works it held out (choose there), test = the dataset's ASAP test works (report once), train = the rest,
    less any performance of a validation work under another folder name (`split_validation`)."""
    manifest = [e for e in load_manifest(dataset) if e["path"].startswith("asap/")]
    config = config_from_dict(run_config)
    train, validation = split_genre([e for e in manifest if e["split"] == "train"], config.data, config.train.seed)
    return train, validation, [e for e in manifest if e["split"] == "test"]
