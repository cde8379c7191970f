"""The two composers' networks have the report's shapes and exactly the parameters it implies."""

import pytest

from stylenet.compose.models import build_autoencoder, build_token_lstm
from stylenet.nn.backend import import_keras


def dense(n_in, n_out):
    return n_in * n_out + n_out  # weights and biases


def lstm(n_in, units):
    return 4 * units * (n_in + units + 1)  # four gates, each over the input, the previous output and a bias


@pytest.fixture(scope="module", autouse=True)
def keras():
    return import_keras()


def test_the_autoencoder_is_the_report_s_with_20_6_million_parameters():
    autoencoder, encoder, decoder = build_autoencoder()
    assert autoencoder.input_shape == (None, 16, 24, 96) and autoencoder.output_shape == (None, 16, 24, 96)
    assert encoder.output_shape == (None, 120) and decoder.input_shape == (None, 120)
    encoder_params = dense(24 * 96, 2000) + dense(2000, 200) + dense(16 * 200, 1600) + dense(1600, 120)
    decoder_params = dense(120, 1600) + dense(1600, 16 * 200) + dense(200, 2000) + dense(2000, 24 * 96)
    assert encoder.count_params() == encoder_params == 10_323_920
    assert decoder.count_params() == decoder_params == 10_329_104
    assert autoencoder.count_params() == 20_653_024
    activations = [layer.activation.__name__ for layer in encoder.layers + decoder.layers if hasattr(layer, "units")]
    assert activations == ["relu"] * 7 + ["sigmoid"]


def test_the_bar_layers_are_shared_across_bars():
    _, encoder, _ = build_autoencoder(bars=3, bar_units=(10, 4), piece_units=(6, 2))
    first = encoder.get_layer("bar_encoder_0")
    assert first.kernel.shape == (24 * 96, 10)  # one kernel, applied to every bar
    assert encoder.get_layer("piece_encoder_0").kernel.shape == (3 * 4, 6)


@pytest.mark.parametrize("vocabulary", [100, 8916])
def test_the_small_token_lstm_is_the_report_s(vocabulary):
    model = build_token_lstm(vocabulary)
    assert model.input_shape == (None, 64) and model.output_shape == (None, vocabulary)
    expected = lstm(1, 256) + lstm(256, 256) + dense(256, 256) + dense(256, vocabulary)
    assert model.count_params() == expected == 855_296 + 257 * vocabulary
    dropouts = [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"]
    assert dropouts == [0.3, 0.3, 0.3]
    assert model.layers[-1].activation.__name__ == "softmax"


def test_the_deep_token_lstm_is_the_report_s():
    vocabulary = 500
    model = build_token_lstm(vocabulary, lstm_layers=10, lstm_units=128, dense_layers=2, dense_units=128,
                             dropout=0.01)
    expected = lstm(1, 128) + 9 * lstm(128, 128) + 2 * dense(128, 128) + dense(128, vocabulary)
    assert model.count_params() == expected == 1_283_840 + 129 * vocabulary
    assert sum(layer.__class__.__name__ == "LSTM" for layer in model.layers) == 10
    assert {layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"} == {0.01}


def test_an_embedding_input_adds_a_vector_per_token():
    model = build_token_lstm(100, token_input="embedding", embedding_size=32)
    assert model.count_params() == 100 * 32 + lstm(32, 256) + lstm(256, 256) + dense(256, 256) + dense(256, 100)
