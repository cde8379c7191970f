"""Training a composer: a run directory with everything a researcher needs, resumable to the same weights,
the autoencoder's latent spread exact, and one-line errors for runs that are not what they claim."""

import csv
import json

import numpy as np
import pytest

from stylenet.compose.train import latent_spread, load_run_config, train
from stylenet.core.config import ConfigError
from stylenet.core.errors import StyleNetError
from tests.helpers import tiny_compose


def test_a_tiny_token_lstm_trains_in_seconds_and_keeps_its_run(lstm_run):
    for name in ("config.yaml", "data.json", "vocabulary.json", "history.csv", "best.weights.npz",
                 "checkpoint.npz", "plots/loss.png"):
        assert (lstm_run / name).is_file(), name
    data = json.loads((lstm_run / "data.json").read_text())
    assert (data["read"], data["tempo"], data["kept"]) == (10, 2, 8)  # the two 90 qpm pieces dropped
    assert data["train_pieces"] + data["validation_pieces"] == 8 and data["validation_pieces"] == 2
    rows = list(csv.DictReader((lstm_run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(0 <= float(r["val_accuracy"]) <= 1 and float(r["loss"]) > 0 for r in rows)
    assert load_run_config(lstm_run).composer == "token_lstm"


def test_the_autoencoder_keeps_the_spread_of_its_latent_codes(ae_run):
    with np.load(ae_run / "latents.npz") as f:
        assert f["mean"].shape == (6,) and f["components"].shape[1] == 6
        assert np.all(f["mean"] >= 0)  # ReLU codes
        assert np.all(np.diff(f["scales"]) <= 1e-9)  # largest component first
    rows = list(csv.DictReader((ae_run / "history.csv").open()))
    assert len(rows) == 3 and all(0 <= float(r["val_f1"]) <= 1 for r in rows)


class _Encoder:
    def __init__(self, codes):
        self.codes = codes

    def predict_on_batch(self, x):
        return self.codes[x[:, 0, 0, 0].astype(int)]


class _Passages:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def batch(self, index):
        x = np.zeros((len(index), 1, 1, 1), np.float32)
        x[:, 0, 0, 0] = index
        return x, x


def test_the_latent_spread_reproduces_the_codes_mean_and_covariance():
    codes = np.random.default_rng(0).normal(size=(300, 5)) @ np.random.default_rng(1).normal(size=(5, 5)) + 3.0
    spread = latent_spread(_Encoder(codes), _Passages(300))
    np.testing.assert_allclose(spread["mean"], codes.mean(axis=0))
    rebuilt = spread["components"].T @ np.diag(spread["scales"] ** 2) @ spread["components"]
    np.testing.assert_allclose(rebuilt, np.cov(codes, rowvar=False), atol=1e-9)
    assert int(spread["passages"]) == 300


def _weights(run):
    with np.load(run / "checkpoint.npz") as f:
        return [f[k] for k in sorted(f.files) if k.startswith("model/")]


def test_an_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(key_songs, tmp_path):
    # dropout 0: a resumed run replays the same batches, so only dropout masks could make it differ
    config = tiny_compose(key_songs, token_lstm={"dropout": 0.0}, train={"epochs": 2, "plot_every": 2})
    whole = train(config, tmp_path / "whole", progress=False)
    per_epoch = whole.global_step // 2
    killed = train(config, tmp_path / "killed", progress=False, stop_after_batches=per_epoch + 2)
    assert killed.stopped and killed.epochs_done == 1
    resumed = train(config, tmp_path / "killed", progress=False)
    assert resumed.epochs_done == 2 and resumed.global_step == whole.global_step
    for a, b in zip(_weights(tmp_path / "whole"), _weights(tmp_path / "killed")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resuming_with_another_network_is_a_one_line_error(key_songs, tmp_path):
    train(tiny_compose(key_songs, train={"epochs": 1}), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError) as err:
        train(tiny_compose(key_songs, token_lstm={"lstm_units": 24}, train={"epochs": 2}), tmp_path / "run",
              progress=False)
    assert str(err.value).startswith("token_lstm.lstm_units: ") and "\n" not in str(err.value)
    # train.epochs may change: that is how a run is extended
    assert train(tiny_compose(key_songs, train={"epochs": 2}), tmp_path / "run", progress=False).epochs_done == 2


def test_a_folder_that_is_not_a_compose_run_is_named(tmp_path):
    with pytest.raises(StyleNetError, match="not a `stylenet compose train` run directory"):
        load_run_config(tmp_path)
    (tmp_path / "config.yaml").write_text("data: {dataset: x}\nmodel: {units: 8}\n")
    with pytest.raises(StyleNetError, match=f"{tmp_path}: not a compose run"):
        load_run_config(tmp_path)


def test_the_cell_loss_is_cross_entropy_with_sounding_cells_weighted():
    from keras import ops

    from stylenet.compose.train import cell_loss

    y = np.zeros((1, 1, 2, 2), np.float32)
    y[0, 0, 0, 0] = 1.0
    p = np.array([[[[0.8, 0.1], [0.2, 0.5]]]], np.float32)
    plain = -(np.log(0.8) + np.log(0.9) + np.log(0.8) + np.log(0.5)) / 4
    weighted = -(10 * np.log(0.8) + np.log(0.9) + np.log(0.8) + np.log(0.5)) / 4
    assert float(ops.convert_to_numpy(cell_loss(1.0)(y, p))[0]) == pytest.approx(plain, rel=1e-5)
    assert float(ops.convert_to_numpy(cell_loss(10.0)(y, p))[0]) == pytest.approx(weighted, rel=1e-5)


def test_a_run_killed_before_its_first_checkpoint_keeps_the_vocabulary_it_trains_with(key_songs, tmp_path):
    from stylenet.compose.data import Vocabulary

    config = tiny_compose(key_songs, train={"epochs": 1})
    train(config, tmp_path / "run", progress=False, stop_after_batches=1)  # no checkpoint yet
    (tmp_path / "run" / "vocabulary.json").write_text(Vocabulary([(60,)]).to_json())  # a stale one
    train(config, tmp_path / "run", progress=False)
    vocabulary = Vocabulary.from_json((tmp_path / "run" / "vocabulary.json").read_text())
    with np.load(tmp_path / "run" / "checkpoint.npz") as f:
        n_variables = sum(k.startswith("model/") for k in f.files)
        output_bias = f[f"model/{n_variables - 1}"]  # the last layer: one unit per token
    assert len(vocabulary) == len(output_bias) > 1
