"""An LSTM's forward pass in NumPy, on a Keras layer's weights: performing needs no TensorFlow.

Each layer's input projection is one matrix product over a chunk of the piece (PROJECTION_CHUNK steps:
memory stays flat however long the piece); only the small recurrent product runs step by step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROJECTION_CHUNK = 4096  # steps whose input projection is computed at once (memory stays flat in T)


@dataclass
class LSTMWeights:
    """Keras layout: kernel [in, 4u], recurrent [u, 4u], bias [4u]; gates in the order i, f, c, o."""

    kernel: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray

    def run(self, x: np.ndarray, reverse: bool = False) -> np.ndarray:
        """x [T, in] -> h [T, u], starting from zero state; `reverse` reads the piece from its end."""
        t_len = x.shape[0]
        units = self.recurrent.shape[0]
        recurrent = self.recurrent
        h = np.zeros(units, np.float32)
        c = np.zeros(units, np.float32)
        out = np.empty((t_len, units), np.float32)
        u2, u3 = 2 * units, 3 * units
        starts = range(0, t_len, PROJECTION_CHUNK)
        for start in (reversed(starts) if reverse else starts):
            # The input contribution of a chunk of steps at once: one matrix product, without holding a
            # [T, 4 units] array for a long piece.
            projected = x[start:start + PROJECTION_CHUNK] @ self.kernel
            projected += self.bias
            offsets = range(len(projected) - 1, -1, -1) if reverse else range(len(projected))
            for i in offsets:
                z = projected[i] + h @ recurrent
                gates = 1.0 / (1.0 + np.exp(-z))  # sigmoid for i, f, o; the c slice is replaced below
                c = gates[units:u2] * c + gates[:units] * np.tanh(z[u2:u3])
                h = gates[u3:] * np.tanh(c)
                out[start + i] = h
        return out
