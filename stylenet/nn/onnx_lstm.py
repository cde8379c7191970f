"""An LSTM layer's forward pass on ONNX Runtime's compiled LSTM kernel: the same arithmetic as `lstm.py`'s
NumPy loop, without Python between the steps.

Optional (`pip install 'stylenet[fast]'`: onnxruntime, about 80 MB, so not in the light install).
Where it is installed, `LSTMWeights.run` uses it; STYLENET_LSTM=numpy turns it off (the NumPy loop stays
the reference: the tests hold the two equal, and both equal to the Keras layer).

Each layer and direction is one ONNX `LSTM` node built from the Keras weights (ONNX orders the gates i, o,
f, c where Keras has i, f, c, o; it keeps the input and recurrent biases apart, Keras has one).  A piece
goes through in chunks of `lstm.PROJECTION_CHUNK` steps, the state handed from one chunk to the next, so
memory stays flat in the piece's length as in the NumPy loop.  One session thread per direction: a
bidirectional layer's halves already run on two threads (`lstm.bidirectional`; ONNX Runtime releases
Python's lock while it computes).  Measured in docs/performance.md.
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

_STATE = {"checked": False, "ort": None}
_CHECK = threading.Lock()
_BUILD = threading.Lock()  # sessions are built one at a time; passes already built never wait for it


def available() -> bool:
    """Whether forward passes run on ONNX Runtime: installed and working, and not turned off by
    STYLENET_LSTM=numpy."""
    if os.environ.get("STYLENET_LSTM", "auto").strip().lower() == "numpy":
        return False
    if not _STATE["checked"]:
        with _CHECK:
            if not _STATE["checked"]:
                try:
                    import onnxruntime

                    _STATE["ort"] = onnxruntime
                except Exception:  # noqa: BLE001 - missing or broken (a bad wheel, a missing library): NumPy plays
                    _STATE["ort"] = None
                _STATE["checked"] = True
    return _STATE["ort"] is not None


def give_up(reason: Exception) -> None:
    """ONNX Runtime failed where it was installed: say so once, and let the NumPy loop play from now on."""
    if _STATE["ort"] is not None:
        _STATE["ort"] = None
        detail = " ".join(str(reason).split())[:160] or type(reason).__name__
        sys.stderr.write(f"note: ONNX Runtime failed ({detail}); the LSTMs run on NumPy instead\n")


def _onnx_gates(matrix: np.ndarray) -> np.ndarray:
    """Keras's gate blocks (i, f, c, o) along the last axis, reordered as ONNX wants them (i, o, f, c)."""
    i, f, c, o = np.split(matrix, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def session(kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, reverse: bool):
    """An InferenceSession of one LSTM layer and direction: inputs X [T, B, in], h0 and c0 [1, B, u];
    outputs Y [T, 1, B, u], the last h and c [1, B, u]."""
    ort = _STATE["ort"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # one node: nothing to fuse
    options.enable_cpu_mem_arena = False  # an arena per session kept 230 MB more for a two-hour piece
    return ort.InferenceSession(model_bytes(kernel, recurrent, bias, reverse), options,
                                providers=["CPUExecutionProvider"])


# -- the ONNX model, written as protobuf bytes ---------------------------------------------------------------
# The `onnx` package would build it in three calls, but importing it takes a second (protobuf's generated
# code), longer than a 3-minute piece takes to play; these few fields of onnx.proto are all one LSTM node
# needs.  tests/nn/test_onnx_lstm.py reads the bytes back with `onnx` and checks them with its checker.

FLOAT, INT_ATTRIBUTE, STRING_ATTRIBUTE = 1, 2, 3  # TensorProto.FLOAT; AttributeProto.INT, .STRING
IR_VERSION, OPSET = 8, 14


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64s as protobuf writes them
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value) -> bytes:
    value = value.encode() if isinstance(value, str) else bytes(value)
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _tensor(name: str, array: np.ndarray) -> bytes:  # TensorProto: dims, data_type, name, raw_data
    array = np.ascontiguousarray(array, dtype="<f4")
    return b"".join(_int(1, d) for d in array.shape) + _int(2, FLOAT) + _bytes(8, name) + _bytes(9, array.tobytes())


def _value_info(name: str, dims) -> bytes:  # ValueInfoProto{name, TypeProto{tensor_type{elem_type, shape}}}
    shape = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, FLOAT) + _bytes(2, shape)))


def model_bytes(kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray, reverse: bool) -> bytes:
    """A serialised ONNX ModelProto: one `LSTM` node of the Keras layer's weights, in one direction."""
    units = recurrent.shape[0]
    node = (b"".join(_bytes(1, n) for n in ("X", "W", "R", "B", "", "h0", "c0"))
            + b"".join(_bytes(2, n) for n in ("Y", "h", "c")) + _bytes(3, "lstm") + _bytes(4, "LSTM")
            + _bytes(5, _bytes(1, "hidden_size") + _int(3, units) + _int(20, INT_ATTRIBUTE))
            + _bytes(5, _bytes(1, "direction") + _bytes(4, "reverse" if reverse else "forward")
                     + _int(20, STRING_ATTRIBUTE)))
    graph = (_bytes(1, node) + _bytes(2, "lstm")
             + _bytes(5, _tensor("W", _onnx_gates(kernel).T[None]))
             + _bytes(5, _tensor("R", _onnx_gates(recurrent).T[None]))
             + _bytes(5, _tensor("B", np.concatenate([_onnx_gates(bias), np.zeros_like(bias)])[None]))
             + _bytes(11, _value_info("X", ["steps", "batch", kernel.shape[0]]))
             + _bytes(11, _value_info("h0", [1, "batch", units]))
             + _bytes(11, _value_info("c0", [1, "batch", units]))
             + _bytes(12, _value_info("Y", ["steps", 1, "batch", units]))
             + _bytes(12, _value_info("h", [1, "batch", units]))
             + _bytes(12, _value_info("c", [1, "batch", units])))
    return _int(1, IR_VERSION) + _bytes(7, graph) + _bytes(8, _bytes(1, "") + _int(2, OPSET))


def run(weights, x: np.ndarray, reverse: bool, chunk: int) -> np.ndarray:
    """x [B, T, in] -> h [B, T, u] through `weights` (an `lstm.LSTMWeights`), starting from zero state."""
    sessions = weights.__dict__.setdefault("_sessions", {})
    if reverse not in sessions:
        with _BUILD:
            if reverse not in sessions:
                sessions[reverse] = session(weights.kernel, weights.recurrent, weights.bias, reverse)
    ort_session = sessions[reverse]
    batch, t_len = x.shape[:2]
    units = weights.recurrent.shape[0]
    h = np.zeros((1, batch, units), np.float32)
    c = np.zeros((1, batch, units), np.float32)
    out = np.empty((batch, t_len, units), np.float32)
    starts = range(0, t_len, chunk)
    for start in (reversed(starts) if reverse else starts):
        steps = np.ascontiguousarray(np.swapaxes(x[:, start:start + chunk], 0, 1), dtype=np.float32)
        y, h, c = ort_session.run(None, {"X": steps, "h0": h, "c0": c})
        out[:, start:start + chunk] = np.swapaxes(y[:, 0], 0, 1)
    return out
