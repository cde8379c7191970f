"""An LSTM's forward pass in NumPy, on a Keras layer's weights: performing needs no TensorFlow.

Each layer's input projection is one matrix product over a chunk of the piece (PROJECTION_CHUNK steps:
memory stays flat however long the piece); only the small recurrent product runs step by step.  Several
sequences of one length (a score's readings in several keys) go through side by side, one product a step.

Speed (`make bench`, docs/performance.md).  A step's recurrent product is small ([B, 176] x [176, 704]):
OpenBLAS's threads cost more than they give there (17 us a step on one thread against 23 us on two), so
the loops run with BLAS on one thread (`one_blas_thread`), and a bidirectional layer's two halves run on
two threads side by side instead (`bidirectional`: NumPy releases the GIL inside its products)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

PROJECTION_CHUNK = 4096  # steps whose input projection is computed at once (memory stays flat in T)


@dataclass
class LSTMWeights:
    """Keras layout: kernel [in, 4u], recurrent [u, 4u], bias [4u]; gates in the order i, f, c, o."""

    kernel: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray

    def __getstate__(self):  # a compiled session (onnx_lstm) stays in its process
        return {k: v for k, v in self.__dict__.items() if k != "_sessions"}

    def run(self, x: np.ndarray, reverse: bool = False) -> np.ndarray:
        """x [T, in] -> h [T, u], or x [B, T, in] -> h [B, T, u] (B sequences of one length read side by
        side: one matrix product a step for all of them), starting from zero state; `reverse` reads each
        sequence from its end."""
        if x.ndim == 2:
            return self.run(x[None], reverse)[0]
        from stylenet.nn import onnx_lstm

        if onnx_lstm.available():  # the compiled kernel, where `stylenet[fast]` is installed
            try:
                return onnx_lstm.run(self, x, reverse, PROJECTION_CHUNK)
            except Exception as exc:  # noqa: BLE001 - a runtime that fails is one line, and the loop below plays
                onnx_lstm.give_up(exc)
        batch, t_len = x.shape[:2]
        units = self.recurrent.shape[0]
        recurrent = self.recurrent
        h = np.zeros((batch, units), np.float32)
        c = np.zeros((batch, units), np.float32)
        out = np.empty((batch, t_len, units), np.float32)
        u2, u3 = 2 * units, 3 * units
        starts = range(0, t_len, PROJECTION_CHUNK)
        for start in (reversed(starts) if reverse else starts):
            # The input contribution of a chunk of steps at once: one matrix product, without holding a
            # [T, 4 units] array for a long piece.
            projected = x[:, start:start + PROJECTION_CHUNK] @ self.kernel
            projected += self.bias
            offsets = range(projected.shape[1] - 1, -1, -1) if reverse else range(projected.shape[1])
            for i in offsets:
                z = projected[:, i] + h @ recurrent
                gates = 1.0 / (1.0 + np.exp(-z))  # sigmoid for i, f, o; the c slice is replaced below
                c = gates[:, units:u2] * c + gates[:, :units] * np.tanh(z[:, u2:u3])
                h = gates[:, u3:] * np.tanh(c)
                out[:, start + i] = h
        return out


_HALVES: ThreadPoolExecutor | None = None  # two threads for a bidirectional layer's halves, made on first use
_LOCK = threading.Lock()  # forward passes may run on several threads at once (the studio's workers)


def _pool() -> ThreadPoolExecutor:
    global _HALVES
    with _LOCK:
        if _HALVES is None:
            _HALVES = ThreadPoolExecutor(2, thread_name_prefix="stylenet-lstm")
        return _HALVES


def bidirectional(forward: LSTMWeights, backward: LSTMWeights, x: np.ndarray) -> np.ndarray:
    """A bidirectional layer: [..., T, in] -> [..., T, 2u], the forward half's outputs then the backward's,
    the two halves run side by side on two threads."""
    later = _pool().submit(backward.run, x, True)
    return np.concatenate([forward.run(x), later.result()], axis=-1)


@contextmanager
def one_blas_thread():
    """BLAS on one thread while a forward pass runs (its step-by-step products are too small to share);
    where threadpoolctl is missing, BLAS keeps its own setting."""
    global _LIMITED, _LIMIT
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is None:  # outside the except: an error in the pass is not chained to the ImportError
        yield
        return
    with _LOCK:  # passes on several threads: the first sets the limit, the last lifts it
        if _LIMITED == 0:
            _LIMIT = threadpool_limits(1, "blas")
        _LIMITED += 1
    try:
        yield
    finally:
        with _LOCK:
            _LIMITED -= 1
            if _LIMITED == 0:
                _LIMIT.restore_original_limits()
                _LIMIT = None


_LIMITED = 0  # forward passes inside one_blas_thread now
_LIMIT = None
