"""`FusedLSTM`: a drop-in `keras.layers.LSTM` with a faster time loop for TensorFlow on CPU.

Why: on CPU, Keras's LSTM runs a `tf.while_loop` whose body does both matmuls (x @ kernel, h @ recurrent
kernel) and a dozen small ops per time step, each dispatched separately by TensorFlow's executor, and
TensorFlow differentiates that loop op by op.  Here:

  * the input projection x @ kernel + bias is one big matmul over all time steps, before the loop;
  * the loop does only h @ recurrent_kernel and the gate arithmetic, and is compiled by XLA, which fuses
    each step's small ops into one kernel and runs the loop natively (inference pads the time axis to a
    multiple of XLA_BUCKET steps, so pieces of any length reuse a few compiled loops);
  * the gradient is written by hand (`tf.custom_gradient`): an XLA-compiled backward loop does only the
    recurrent part (one small matmul per step), and the weight and input gradients are a few big matmuls
    over the whole sequence instead of one small product per time step.

What stays the same: `FusedLSTM` *is* a `keras.layers.LSTM` (a subclass), so it has the very same
variables, made in the same order by the same `LSTMCell` (`cell.kernel` [in, 4u], `cell.recurrent_kernel`
[u, 4u], `cell.bias` [4u], gates i, f, c, o; also the dropout seed-generator state), the same initializers,
config and call signature.  Checkpoints move between the two either way, by index or by path.  Only
`inner_loop` (the scan over time, after Keras has sorted out initial states) is replaced, and only where
the result is the same computation:

    TensorFlow backend, no GPU visible (there Keras uses cuDNN), float32 compute dtype, tanh / sigmoid
    activations, no mask, no unroll, no (recurrent) dropout inside the layer during this call.

Anything else (GPU, JAX, mixed precision, masks, ...) runs Keras's LSTM code unchanged.

How fast it is, where the time goes and what was tried: docs/performance.md.
"""

from __future__ import annotations

import keras
from keras import activations, backend

# Compile the time loops with XLA?  True (default) or False.  XLA compiles once per input shape (~0.3 s on
# CPU), which training's fixed-size windows pay once.  Inference on whole pieces would pay it for every new
# length, so there the time axis is padded up to a multiple of XLA_BUCKET steps (at the end of the reading
# order, where it cannot reach the steps kept), and a few compiled loops serve pieces of every length.
USE_XLA = True
XLA_BUCKET = 256
_GPU_VISIBLE = None


def _gpu_visible() -> bool:
    global _GPU_VISIBLE
    if _GPU_VISIBLE is None:  # a GPU does not come and go within a process
        import tensorflow as tf

        _GPU_VISIBLE = bool(tf.config.list_logical_devices("GPU"))
    return _GPU_VISIBLE


def _forward_loop(zx, h0, c0, recurrent_kernel, reverse):
    """zx = x @ kernel + bias [B, T, 4u] -> outputs [B, T, u], last h, last c, and for the backward loop the
    activated gates [T, B, 4u] and cell states [T, B, u] (time-major, in processing order)."""
    import tensorflow as tf

    zx = tf.transpose(zx, [1, 0, 2])
    if reverse:
        zx = tf.reverse(zx, [0])
    steps = tf.shape(zx)[0]

    def step(t, h, c, gates_ta, cs_ta, hs_ta):
        i, f, g, o = tf.split(zx[t] + tf.matmul(h, recurrent_kernel), 4, axis=1)
        i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
        c = f * c + i * g
        h = o * tf.tanh(c)
        return t + 1, h, c, gates_ta.write(t, tf.concat([i, f, g, o], 1)), cs_ta.write(t, c), hs_ta.write(t, h)

    arrays = [tf.TensorArray(zx.dtype, size=steps) for _ in range(3)]
    _, h, c, gates, cs, hs = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, c0, *arrays))
    return tf.transpose(hs.stack(), [1, 0, 2]), h, c, gates.stack(), cs.stack()


def _backward_loop(d_outputs, d_h, d_c, gates, cs, c0, recurrent_kernel_t):
    """Backpropagation through time -> d zx [T, B, 4u] (time-major, in processing order), d h0, d c0."""
    import tensorflow as tf

    d_hs = tf.transpose(d_outputs, [1, 0, 2])
    steps = tf.shape(gates)[0]
    i, f, g, o = tf.split(gates, 4, axis=2)
    tanh_c = tf.tanh(cs)
    c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
    # What does not depend on the recurrence, for all steps at once: with dh and dc the gradient reaching
    # h_t and c_t, the pre-activation gradient is dz = [dc, dc, dc, dh] * d_gates, and dc includes dh * dc_dh.
    d_gates = tf.concat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tanh_c * o * (1 - o)], axis=2)
    dc_dh = o * (1 - tanh_c * tanh_c)

    def step(t, dh_next, dc_next, dz_ta):  # dh_next, dc_next: what step t + 1 sends back to h_t, c_t
        dh = d_hs[t] + dh_next
        dc = dc_next + dh * dc_dh[t]
        dz = tf.concat([dc, dc, dc, dh], axis=1) * d_gates[t]
        return t - 1, tf.matmul(dz, recurrent_kernel_t), dc * f[t], dz_ta.write(t, dz)

    # The last h and c were also outputs: their gradients start the recursion.
    dz = tf.TensorArray(gates.dtype, size=steps)
    _, dh0, dc0, dz = tf.while_loop(lambda t, *_: t >= 0, step, (steps - 1, d_h, d_c, dz))
    return dz.stack(), dh0, dc0


_LOOPS = {}


def _loops(jit: bool):
    """The loops as tf.functions, XLA-compiled or not."""
    if jit not in _LOOPS:
        import tensorflow as tf

        _LOOPS[jit] = [tf.function(fn, jit_compile=jit, autograph=False, reduce_retracing=True)
                       for fn in (_forward_loop, _backward_loop)]
    return _LOOPS[jit]


def _scan_lstm(x, h0, c0, kernel, recurrent_kernel, bias, reverse, jit, bucket=None):
    """x [B, T, in] -> (outputs [B, T, u], last h, last c), outputs in processing order.

    `bucket`: run the forward loop on the time axis padded to a multiple of this many steps (for XLA's shape
    cache); the padded steps come after the last real one in processing order and are dropped."""
    import tensorflow as tf

    forward_loop, backward_loop = _loops(jit)

    @tf.custom_gradient
    def scan(x, h0, c0, kernel, recurrent_kernel, bias):
        batch, steps, features = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        x_flat = tf.reshape(x, [-1, features])
        zx = tf.reshape(tf.matmul(x_flat, kernel) + bias, [batch, steps, -1])  # all steps at once
        # (stop_gradient: `grad` below is the loops' gradient, so no tape needs their insides.)
        if bucket:
            if reverse:  # to processing order here, so that the padding goes after the last step read
                zx = tf.reverse(zx, [1])
            zx = tf.pad(zx, [[0, 0], [0, (-steps) % bucket], [0, 0]])
            outputs, _, _, gates, cs = forward_loop(*map(tf.stop_gradient, (zx, h0, c0, recurrent_kernel)),
                                                    reverse=False)
            outputs, gates, cs = outputs[:, :steps], gates[:steps], cs[:steps]
            h, c = outputs[:, -1], cs[-1]
        else:
            outputs, h, c, gates, cs = forward_loop(*map(tf.stop_gradient, (zx, h0, c0, recurrent_kernel)),
                                                    reverse=reverse)

        def grad(d_outputs, d_h, d_c):
            d_outputs, d_h, d_c = (tf.zeros_like(v) if d is None else d  # unused outputs may send None
                                   for d, v in ((d_outputs, outputs), (d_h, h), (d_c, c)))
            # The loop does only the recurrence; the weight gradients are big matmuls over all steps, which
            # TensorFlow's own (multi-threaded) kernels do faster than XLA's inside the loop's function.
            d_z, d_h0, d_c0 = backward_loop(
                *map(tf.stop_gradient, (d_outputs, d_h, d_c, gates, cs, c0, tf.transpose(recurrent_kernel))))
            units = tf.shape(recurrent_kernel)[0]
            h_prev = tf.concat([h0[None], tf.transpose(outputs, [1, 0, 2])[:-1]], axis=0)  # processing order
            d_recurrent_kernel = tf.matmul(tf.reshape(h_prev, [-1, units]), tf.reshape(d_z, [-1, 4 * units]),
                                           transpose_a=True)
            d_bias = tf.reduce_sum(d_z, axis=[0, 1])
            if reverse:
                d_z = tf.reverse(d_z, [0])
            d_zx = tf.reshape(tf.transpose(d_z, [1, 0, 2]), [batch * steps, -1])
            d_x = tf.reshape(tf.matmul(d_zx, kernel, transpose_b=True), tf.shape(x))
            d_kernel = tf.matmul(x_flat, d_zx, transpose_a=True)
            return d_x, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias

        return (outputs, h, c), grad

    return scan(x, h0, c0, kernel, recurrent_kernel, bias)


@keras.saving.register_keras_serializable(package="stylenet")
class FusedLSTM(keras.layers.LSTM):
    """`keras.layers.LSTM` with a faster time loop on TensorFlow / CPU; same arguments, variables, results."""

    def _fusable(self, mask, training) -> bool:
        cell = self.cell
        return (
            backend.backend() == "tensorflow"
            and not _gpu_visible()
            and self.compute_dtype == "float32"
            and cell.activation is activations.tanh
            and cell.recurrent_activation is activations.sigmoid
            and mask is None
            and not self.unroll
            and not (training and (cell.dropout or cell.recurrent_dropout))
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._fusable(mask, training):
            return super().inner_loop(sequences, initial_state, mask=mask, training=training)

        import tensorflow as tf

        cell = self.cell
        bias = cell.bias if cell.use_bias else tf.zeros([4 * cell.units], sequences.dtype)
        # go_backwards as Keras: read the sequence from its end, return outputs in that (reading) order.
        weights = (tf.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel, bias))
        outputs, h, c = _scan_lstm(sequences, *initial_state, *weights, reverse=self.go_backwards,
                                   jit=bool(USE_XLA), bucket=XLA_BUCKET if USE_XLA and not training else None)
        return h, (outputs if self.return_sequences else h), [h, c]
