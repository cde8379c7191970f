"""The YAML config: the paper's values, one-line errors naming the field, typed overrides."""

import pytest

from stylenet.config import ConfigError, config_from_dict, load_config
from tests.helpers import ROOT


def test_paper_config_loads_with_the_paper_values():
    config = load_config(ROOT / "configs" / "stylenet.yaml")
    t, m = config.train, config.model
    assert (t.batch_size, t.window, t.learning_rate, t.clip_norm, t.epochs, t.loss) == (4, 200, 1e-3, 10.0, 160, "mse")
    assert (m.units, m.genre_layers, m.keep_prob) == (176, 3, 0.8)
    assert config.data.validation_fraction == 0.05
    load_config(ROOT / "configs" / "tiny.yaml")


@pytest.mark.parametrize("raw, overrides, message", [
    ({"train": {"epocs": 3}}, [], "train.epocs: unknown key (did you mean 'epochs'?)"),
    ({"trian": {}}, [], "trian: unknown key (did you mean 'train'?)"),
    ({"train": {"epochs": "ten"}}, [], "train.epochs: expected int, got 'ten'"),
    ({"train": {"epochs": True}}, [], "train.epochs: expected int, got True"),
    ({"model": {"keep_prob": 1.5}}, [], "model.keep_prob: must be in (0, 1]"),
    ({"train": {"loss": "mae"}}, [], "train.loss: must be one of mse, masked_mse"),
    ({"data": {"genres": "jazz"}}, [], "data.genres: expected a list"),
    ({"train": 3}, [], "train: expected a mapping"),
    ({}, ["train.epochs"], "expected SECTION.KEY=VALUE"),
    ({}, ["train.window=1"], "train.window: must be >= 2"),
    ({}, ["model.inputs=[chords]"], "model.inputs: unknown input 'chords' (known: metre, voice)"),
    ({}, ["train.transpose=13"], "train.transpose: must be 0..12"),
    ({}, ["train.ema=1.0"], "train.ema: must be in (0, 1)"),
    ({}, ["train.lr_schedule=step"], "train.lr_schedule: must be one of constant, cosine"),
    ({}, ["train.spread_weight=-1"], "train.spread_weight: must be >= 0"),
    ({}, ["train.context=-5"], "train.context: must be >= 0"),
    ({"data": {"validation_fraction": 0.0}}, ["train.patience=3"], "train.patience: needs a validation set"),
])
def test_config_errors_name_the_field(raw, overrides, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, overrides, "x.yaml")
    text = str(err.value)
    assert message in text and text.startswith(("x.yaml: ", "--set ")) and "\n" not in text


def test_overrides_are_typed_and_applied():
    config = config_from_dict({}, ["train.epochs=3", "train.learning_rate=2e-3", "data.genres=[jazz, pop]",
                                   "train.max_batches_per_epoch=null"])
    assert config.train.epochs == 3 and config.train.learning_rate == 0.002
    assert config.data.genres == ["jazz", "pop"] and config.train.max_batches_per_epoch is None


def test_bad_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: [3\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(path)
