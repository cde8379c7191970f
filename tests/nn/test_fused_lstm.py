"""FusedLSTM against keras.layers.LSTM: same variables, same outputs, same gradients."""

import re

import keras
import numpy as np
import pytest

from stylenet.nn import fused_lstm
from stylenet.nn.fused_lstm import FusedLSTM, _gpu_visible

B, T, F, U = 4, 50, 20, 8

on_tf = keras.backend.backend() == "tensorflow"
needs_tf = pytest.mark.skipif(not on_tf, reason="the fused path is TensorFlow-only")


def pair(**kwargs):
    """A keras LSTM and a FusedLSTM with the same (non-default) weights."""
    ref = keras.layers.LSTM(U, return_sequences=True, return_state=True, **kwargs)
    fused = FusedLSTM(U, return_sequences=True, return_state=True, **kwargs)
    ref.build((None, None, F))
    fused.build((None, None, F))
    rng = np.random.default_rng(1)
    # Random bias too (the default is zeros and ones), so every gate's bias is checked.
    ref.cell.bias.assign(rng.standard_normal(4 * U).astype("float32") * 0.5)
    fused.set_weights(ref.get_weights())
    return ref, fused


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, F)).astype("float32")
    h0 = rng.standard_normal((B, U)).astype("float32") * 0.5
    c0 = rng.standard_normal((B, U)).astype("float32") * 2.0
    return x, h0, c0


def test_variables_match_keras_lstm():
    ref = keras.layers.LSTM(U, return_sequences=True, return_state=True, name="a")
    fused = FusedLSTM(U, return_sequences=True, return_state=True, name="a")
    ref.build((None, None, F))
    fused.build((None, None, F))
    assert [tuple(v.shape) for v in fused.variables] == [tuple(v.shape) for v in ref.variables]
    # Same paths too, up to the global counter Keras appends to repeated seed-generator names.
    paths = lambda layer: [re.sub(r"seed_generator_\d+/", "seed_generator/", v.path) for v in layer.variables]
    assert paths(fused) == paths(ref)
    assert [v.trainable for v in fused.variables] == [v.trainable for v in ref.variables]
    assert fused.cell.kernel.shape == (F, 4 * U) and fused.cell.recurrent_kernel.shape == (U, 4 * U)
    bias = np.asarray(fused.cell.bias)  # unit_forget_bias: zeros, ones (forget gate), zeros
    assert np.array_equal(bias, np.r_[np.zeros(U), np.ones(U), np.zeros(2 * U)])
    assert type(FusedLSTM.from_config(fused.get_config())) is FusedLSTM


def test_checkpoint_by_index_both_ways():
    """Weights saved in `variables` order from one kind of model load into the other."""
    def model(lstm_cls):
        inputs = keras.Input((None, F))
        hidden = lstm_cls(U, return_sequences=True)(inputs)
        hidden = lstm_cls(U, return_sequences=True, go_backwards=True)(hidden)
        return keras.Model(inputs, keras.layers.Dense(3)(hidden))

    ref, fused = model(keras.layers.LSTM), model(FusedLSTM)
    x = data()[0]
    for src, dst in ((ref, fused), (fused, ref)):
        for v in src.trainable_variables:
            v.assign(np.random.default_rng(len(v.path)).standard_normal(v.shape).astype("float32") * 0.3)
        for s, d in zip(src.variables, dst.variables):
            d.assign(s)
        np.testing.assert_allclose(np.asarray(dst(x)), np.asarray(src(x)), atol=1e-5)


def _run(layer, x, h0, c0, use_state, training=True):
    import tensorflow as tf

    x, h0, c0 = tf.convert_to_tensor(x), tf.convert_to_tensor(h0), tf.convert_to_tensor(c0)
    weights = [layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias]
    with tf.GradientTape() as tape:
        tape.watch([x, h0, c0])
        out, h, c = layer(x, initial_state=[h0, c0] if use_state else None, training=training)
        # A loss that weighs every time step, unit and final state differently.
        scale = tf.sin(tf.reshape(tf.range(T * U, dtype=tf.float32), (T, U)))
        loss = tf.reduce_sum(out * scale) + tf.reduce_sum(h * h) + 0.5 * tf.reduce_sum(c)
    grads = tape.gradient(loss, [x, h0, c0] + weights)
    return [out, h, c], grads


def _run_compiled(layer, x, h0, c0, use_state, dynamic=False):
    """As _run, in a tf.function; `dynamic`: traced with batch and time unknown."""
    import tensorflow as tf

    signature = [tf.TensorSpec([None, None, F]), tf.TensorSpec([None, U]), tf.TensorSpec([None, U])]

    @tf.function(input_signature=signature if dynamic else None)
    def run(x, h0, c0):
        return _run(layer, x, h0, c0, use_state)

    out, grads = run(x, h0, c0)
    return [np.asarray(t) for t in out], [None if g is None else np.asarray(g) for g in grads]


def _uses_fused_path():
    return on_tf and not _gpu_visible()


@needs_tf
@pytest.mark.parametrize("xla", [True, False], ids=["xla", "no_xla"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "go_backwards"])
@pytest.mark.parametrize("use_state", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize("mode", ["eager", "tf_function", "dynamic_length"])
def test_matches_keras_lstm(xla, go_backwards, use_state, mode, monkeypatch):
    monkeypatch.setattr(fused_lstm, "USE_XLA", xla)
    ref, fused = pair(go_backwards=go_backwards)
    x, h0, c0 = data()
    ref_out, ref_grads = _run(ref, x, h0, c0, use_state)
    if mode == "eager":
        out, grads = _run(fused, x, h0, c0, use_state)
    else:
        out, grads = _run_compiled(fused, x, h0, c0, use_state, dynamic=mode == "dynamic_length")
    for a, b in zip(out, ref_out):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    names = ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]
    for name, a, b in zip(names, grads, ref_grads):
        if not use_state and name in ("h0", "c0"):
            continue  # zero initial states are constants inside the layer
        assert a is not None and b is not None, name
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0, err_msg=name)


@needs_tf
@pytest.mark.parametrize("bucket", [32, 50, 256])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "go_backwards"])
def test_inference_pads_to_buckets_and_matches(bucket, go_backwards, monkeypatch):
    """Outside training the XLA loop runs on the time axis padded to a multiple of XLA_BUCKET (50 steps ->
    64, 50, 256): the padding must not reach the outputs, the last state or the gradients."""
    import tensorflow as tf

    monkeypatch.setattr(fused_lstm, "XLA_BUCKET", bucket)
    ref, fused = pair(go_backwards=go_backwards)
    x, h0, c0 = data()
    ref_out, ref_grads = _run(ref, x, h0, c0, True, training=False)
    out, grads = _run(fused, x, h0, c0, True, training=False)
    for a, b in zip(out, ref_out):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    for a, b in zip(grads, ref_grads):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    # XLA compiles per shape: the loop sees only whole buckets, so pieces of many lengths share a compile
    forward_loop, backward_loop = fused_lstm._loops(True)
    lengths = []
    monkeypatch.setitem(fused_lstm._LOOPS, True, [
        lambda zx, *args, **kwargs: lengths.append(zx.shape[1]) or forward_loop(zx, *args, **kwargs), backward_loop])
    for steps in (3, 17, 31, 50):
        got = fused(tf.constant(x[:, :steps]), training=False)
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(ref(x[:, :steps], training=False)[0]), atol=1e-5)
    assert lengths == [-(-steps // bucket) * bucket for steps in (3, 17, 31, 50)]


@needs_tf
@pytest.mark.parametrize("xla", [True, False], ids=["xla", "no_xla"])
def test_layers_of_other_shapes(xla, monkeypatch):
    """The loop functions are shared by all layers (and retrace with unknown shapes): other widths work."""
    import tensorflow as tf

    monkeypatch.setattr(fused_lstm, "USE_XLA", xla)
    for units, features, steps in ((8, 20, 50), (5, 7, 9), (13, 3, 1)):
        ref = keras.layers.LSTM(units, return_sequences=True, return_state=True, go_backwards=units == 5)
        fused = FusedLSTM(units, return_sequences=True, return_state=True, go_backwards=units == 5)
        ref.build((None, None, features))
        fused.build((None, None, features))
        fused.set_weights(ref.get_weights())
        x = tf.constant(np.random.default_rng(units).standard_normal((3, steps, features)).astype("float32"))
        results = []
        for layer in (ref, fused):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out, h, c = layer(x, training=True)
                loss = tf.reduce_sum(out * out) + tf.reduce_sum(c)
            results.append([out, h, c] + tape.gradient(loss, [x] + layer.trainable_variables))
        for a, b in zip(*results):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)


@needs_tf
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_fast_path_is_taken_on_cpu(training):
    """Guard against silently falling back to Keras's loop: look at the traced graph."""
    import tensorflow as tf

    if not _uses_fused_path():
        pytest.skip("a GPU is visible: FusedLSTM defers to Keras (cuDNN)")
    _, fused = pair()
    x, h0, c0 = data()

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fused(x, training=training)[0])
        return tape.gradient(loss, x)

    graph_def = step.get_concrete_function(tf.constant(x)).graph.as_graph_def()
    # Keras's loop (and its gradient loop) would sit in the step's own graph; ours are two calls to the
    # loop functions, XLA-compiled (USE_XLA = True).
    assert not {"While", "StatelessWhile"} & {n.op for n in graph_def.node}
    calls = [n for n in graph_def.node if n.op in ("PartitionedCall", "StatefulPartitionedCall")]
    called = sorted(n.attr["f"].func.name for n in calls)  # e.g. __inference__forward_loop_123
    assert len(called) == 2 and "_backward_loop_" in called[0] and "_forward_loop_" in called[1], called
    assert fused_lstm.USE_XLA is True
    assert [n.attr["_XlaMustCompile"].b for n in calls] == [True, True]


@needs_tf
def test_falls_back_where_not_fusable():
    """Masks (and in-layer dropout, when training) take Keras's path and still give Keras's numbers."""
    assert not FusedLSTM(U, dropout=0.1)._fusable(None, training=True)
    assert not FusedLSTM(U, recurrent_dropout=0.1)._fusable(None, training=True)
    assert FusedLSTM(U, dropout=0.1)._fusable(None, training=False) == _uses_fused_path()
    ref, fused = pair()
    x, h0, c0 = data()
    mask = np.ones((B, T), bool)
    mask[0, 40:] = False
    a = ref(x, mask=mask)
    b = fused(x, mask=mask)
    for p, q in zip(a, b):
        np.testing.assert_allclose(np.asarray(q), np.asarray(p), atol=1e-6)


@needs_tf
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "go_backwards"])
def test_last_output_only(go_backwards):
    """return_sequences=False, return_state=False: just the last output."""
    ref = keras.layers.LSTM(U, go_backwards=go_backwards)
    fused = FusedLSTM(U, go_backwards=go_backwards)
    ref.build((None, None, F))
    fused.build((None, None, F))
    fused.set_weights(ref.get_weights())
    x = data()[0]
    for training in (False, True):
        np.testing.assert_allclose(np.asarray(fused(x, training=training)), np.asarray(ref(x, training=training)),
                                   atol=1e-5)


@needs_tf
def test_mixed_precision_falls_back():
    """float16 compute: Keras's own loop (the scan is float32-only), same numbers as Keras."""
    ref = keras.layers.LSTM(U, return_sequences=True, dtype="mixed_float16")
    fused = FusedLSTM(U, return_sequences=True, dtype="mixed_float16")
    ref.build((None, None, F))
    fused.build((None, None, F))
    fused.set_weights(ref.get_weights())
    assert not fused._fusable(None, True)
    x = data()[0]
    out = fused(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref(x, training=True)))


@needs_tf
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf_function"])
def test_stylenet_with_dropout_matches_keras_lstm(compiled, monkeypatch):
    """The whole network as trained: BiLSTMs (a forward and a go_backwards FusedLSTM per layer), Dropout
    between them, carried states.  Its loss gradients equal those of the same network on Keras's LSTM path,
    with the same dropout masks."""
    import tensorflow as tf

    from stylenet.velocity.model import build_model

    keras.utils.set_random_seed(3)
    model = build_model(["jazz", "pop"], units=U, genre_layers=2, keep_prob=0.8)
    rng = np.random.default_rng(2)
    for v in model.trainable_variables:
        v.assign(rng.standard_normal(v.shape).astype("float32") * 0.3)
    score = (rng.random((B, T, 176)) < 0.2).astype("float32")
    target = rng.random((B, T, 88)).astype("float32")
    states = [(rng.standard_normal((B, U)).astype("float32"), rng.standard_normal((B, U)).astype("float32"))
              for _ in range(3)]
    variables = model.genre_variables("jazz")
    seeds = [np.asarray(v) for v in model.non_trainable_variables]  # the Dropout layers' seed states

    def step():
        with tf.GradientTape() as tape:
            velocity, new_states = model(score, genre="jazz", states=states, training=True)
            loss = tf.reduce_mean((velocity - target) ** 2) + sum(tf.reduce_sum(h * c) for h, c in new_states)
        return [velocity, *[s for hc in new_states for s in hc]], tape.gradient(loss, variables)

    def run():
        for v, value in zip(model.non_trainable_variables, seeds):
            v.assign(value)  # the same dropout masks in both runs
        out, grads = (tf.function(step) if compiled else step)()
        return [np.asarray(t) for t in out], [np.asarray(g) for g in grads]

    calls = []
    scan = fused_lstm._scan_lstm
    monkeypatch.setattr(fused_lstm, "_scan_lstm", lambda *a, **k: calls.append(1) or scan(*a, **k))
    fused_out, fused_grads = run()
    assert len(calls) == (5 if _uses_fused_path() else 0)  # interpretation + 2 x (forward, backward)
    monkeypatch.setattr(FusedLSTM, "_fusable", lambda self, mask, training: False)
    ref_out, ref_grads = run()
    assert not np.allclose(ref_out[0], run_without_dropout(model, score, states))  # dropout was on
    for a, b in zip(fused_out, ref_out):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    for v, a, b in zip(variables, fused_grads, ref_grads):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4, err_msg=v.path)


def run_without_dropout(model, score, states):
    return np.asarray(model(score, genre="jazz", states=states, training=False)[0])


@needs_tf
def test_gpu_keeps_cudnn(monkeypatch):
    """Where a GPU is visible, every LSTM of the model goes to Keras's cuDNN entry point (backend.lstm), never
    to our CPU loop, and is configured so that cuDNN accepts it (dropout lives outside the LSTMs)."""
    from keras.src import backend as keras_backend
    from keras.src.backend.tensorflow.rnn import _do_lstm_arguments_support_cudnn

    from stylenet.velocity.model import build_model

    model = build_model(["jazz"], units=U, genre_layers=2)
    lstms = [model.interpretation] + [lstm for net in model.genre_nets.values() for lstm in net.forward + net.backward]
    for lstm in lstms:
        assert lstm.use_cudnn == "auto" and not lstm.cell.recurrent_dropout and not lstm.cell.dropout
        assert _do_lstm_arguments_support_cudnn(lstm.cell.activation, lstm.cell.recurrent_activation,
                                                lstm.unroll, lstm.cell.use_bias)
    monkeypatch.setattr(fused_lstm, "_GPU_VISIBLE", True)
    cudnn_calls, scan_calls = [], []
    real_lstm = keras_backend.lstm

    def cudnn_lstm(*args, **kwargs):  # no GPU here: record the attempt, then let Keras fall back as it would
        cudnn_calls.append(kwargs["go_backwards"])
        return real_lstm(*args, **kwargs)

    monkeypatch.setattr(keras_backend, "lstm", cudnn_lstm)
    monkeypatch.setattr(fused_lstm, "_scan_lstm", lambda *a, **k: scan_calls.append(1))
    score = (np.random.default_rng(0).random((2, 30, 176)) < 0.2).astype("float32")
    model(score, genre="jazz", training=True)
    assert scan_calls == [] and cudnn_calls == [False, False, True, False, True]
