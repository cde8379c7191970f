"""The compiled LSTM (ONNX Runtime, `stylenet[fast]`): its model bytes are valid ONNX, and its outputs equal
the NumPy loop's -- forward and reverse, several sequences side by side, across chunk boundaries."""

import pickle

import numpy as np
import pytest

from stylenet.nn import lstm, onnx_lstm
from tests.helpers import random_performer

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[fast]')")


def weights(seed: int, n_in: int = 12, units: int = 9) -> lstm.LSTMWeights:
    rng = np.random.default_rng(seed)
    return lstm.LSTMWeights((rng.standard_normal((n_in, 4 * units)) * 0.4).astype(np.float32),
                            (rng.standard_normal((units, 4 * units)) * 0.4).astype(np.float32),
                            (rng.standard_normal(4 * units) * 0.4).astype(np.float32))


def numpy_run(w, x, reverse, monkeypatch):
    monkeypatch.setenv("STYLENET_LSTM", "numpy")
    try:
        return lstm.LSTMWeights(w.kernel, w.recurrent, w.bias).run(x, reverse)
    finally:
        monkeypatch.delenv("STYLENET_LSTM")


def test_the_model_bytes_are_valid_onnx_of_one_lstm_node():
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[test]')")
    w = weights(0)
    for reverse in (False, True):
        model = onnx.load_from_string(onnx_lstm.model_bytes(w.kernel, w.recurrent, w.bias, reverse))
        onnx.checker.check_model(model, full_check=True)
        (node,) = model.graph.node
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert node.op_type == "LSTM" and attributes == {"hidden_size": 9,
                                                         "direction": b"reverse" if reverse else b"forward"}
        arrays = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        assert arrays["W"].shape == (1, 36, 12) and arrays["R"].shape == (1, 36, 9) and arrays["B"].shape == (1, 72)
        # Keras's input gate block is ONNX's first; Keras's forget block (second) is ONNX's third
        np.testing.assert_array_equal(arrays["W"][0, :9], w.kernel[:, :9].T)
        np.testing.assert_array_equal(arrays["W"][0, 18:27], w.kernel[:, 9:18].T)
        assert not arrays["B"][0, 36:].any()


@pytest.mark.parametrize("reverse", [False, True])
def test_onnx_runtime_equals_the_numpy_loop_across_chunks(reverse, monkeypatch):
    monkeypatch.setattr(lstm, "PROJECTION_CHUNK", 7)  # the state handed across chunk boundaries
    monkeypatch.delenv("STYLENET_LSTM", raising=False)
    w = weights(1)
    x = np.random.default_rng(2).standard_normal((3, 30, 12)).astype(np.float32)
    assert onnx_lstm.available()
    compiled = w.run(x, reverse)
    np.testing.assert_allclose(compiled, numpy_run(w, x, reverse, monkeypatch), atol=2e-6)
    np.testing.assert_allclose(w.run(x[1], reverse), compiled[1], atol=2e-6)  # one sequence alone
    assert "_sessions" not in pickle.loads(pickle.dumps(w)).__dict__  # sessions stay in their process


def test_a_performer_plays_the_same_velocities_on_either_runtime(monkeypatch):
    monkeypatch.delenv("STYLENET_LSTM", raising=False)
    assert onnx_lstm.available()
    score = (np.random.default_rng(3).random((80, 176)) < 0.1).astype(np.float32)
    compiled = random_performer(("jazz",), units=8, genre_layers=2).velocities(score, "jazz")
    monkeypatch.setenv("STYLENET_LSTM", "numpy")
    assert not onnx_lstm.available()
    looped = random_performer(("jazz",), units=8, genre_layers=2).velocities(score, "jazz")
    np.testing.assert_allclose(compiled, looped, atol=1e-6)


def test_a_runtime_that_fails_is_one_line_and_the_numpy_loop_plays(monkeypatch, capsys):
    monkeypatch.delenv("STYLENET_LSTM", raising=False)
    assert onnx_lstm.available()
    monkeypatch.setitem(onnx_lstm._STATE, "ort", onnx_lstm._STATE["ort"])  # restored after the test

    def broken(*args):
        raise RuntimeError("ONNXRuntimeError : 1 : FAIL : a broken install")

    monkeypatch.setattr(onnx_lstm, "session", broken)
    w = weights(4)
    x = np.random.default_rng(5).standard_normal((2, 9, 12)).astype(np.float32)
    out = w.run(x)
    np.testing.assert_allclose(out, numpy_run(w, x, False, monkeypatch), atol=1e-6)
    err = capsys.readouterr().err
    assert err.count("note: ONNX Runtime failed") == 1 and "NumPy instead" in err
    assert not onnx_lstm.available()

