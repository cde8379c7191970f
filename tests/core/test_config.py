"""The YAML config: the paper's values, one-line errors naming the field, typed overrides."""

import pytest

from stylenet.core.config import ConfigError
from stylenet.velocity.config import config_from_dict, load_config
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


def test_the_compose_configs_load_with_the_report_s_values():
    from stylenet.compose.config import load_compose_config

    ae = load_compose_config(ROOT / "configs" / "compose_ae.yaml")
    assert (ae.composer, ae.autoencoder.bars, ae.autoencoder.bar_units, ae.autoencoder.piece_units) == \
        ("autoencoder", 16, [2000, 200], [1600, 120])
    assert ae.data.tempo_range == [110, 130] and ae.data.trim_leading_silence and ae.data.transpose
    small = load_compose_config(ROOT / "configs" / "compose_lstm.yaml")
    k = small.token_lstm
    assert (k.context, k.lstm_layers, k.lstm_units, k.dense_layers, k.dense_units, k.dropout) == (64, 2, 256, 1, 256, 0.3)
    assert small.train.batch_size == 64
    deep = load_compose_config(ROOT / "configs" / "compose_lstm_deep.yaml").token_lstm
    assert (deep.lstm_layers, deep.lstm_units, deep.dense_layers, deep.dense_units, deep.dropout) == (10, 128, 2, 128, 0.01)
    load_compose_config(ROOT / "configs" / "compose_demo.yaml")


@pytest.mark.parametrize("raw, overrides, message", [
    ({"composer": "gan"}, [], "composer: must be one of autoencoder, token_lstm, got 'gan'"),
    ({}, ["token_lstm.dropout=1.5"], "token_lstm.dropout: must be in [0, 1)"),
    ({"data": {"tempo_range": [130, 110]}}, [], "data.tempo_range: must be [low, high]"),
    ({"autoencoder": {"bars": 0}}, [], "autoencoder.bars: must be >= 1"),
    ({"token_lstm": {"token_input": "onehot"}}, [], "token_lstm.token_input: must be one of scalar, embedding"),
])
def test_compose_config_errors_name_the_field(raw, overrides, message):
    from stylenet.compose.config import compose_config_from_dict

    with pytest.raises(ConfigError) as err:
        compose_config_from_dict(raw, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)
