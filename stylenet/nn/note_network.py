"""Note networks in NumPy: a dense layer, bidirectional LSTMs over a piece's notes, dense outputs.

The beat tracker, the touch network and the expression network share this shape -- every note hears the
whole piece before and after it -- and are trained in Keras, stored as an .npz of the layers' weights with
a `kind` and a JSON header (`save_note_network`), and read back here for inference without TensorFlow."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from stylenet.core.beats import BeatsError


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


class NoteNetwork:
    """A network over a piece's notes in `note_order`, run here in NumPy: a dense layer ("input", ELU), then
    bidirectional LSTMs ("lstm0", "lstm1", ...) over the whole piece, so every note hears the piece before
    and after it; subclasses read their own output layers off `trunk`.  Stored as an .npz of the Keras
    layers' weights with a `kind` and a JSON `info` header (`stylenet train-tracker`, `train-touch`, `train-expression`)."""

    KIND = ""  # the file's `kind`
    NAME = "note network"  # in error messages
    HINT = ""  # what to do about a file of another kind
    ERROR = BeatsError

    def __init__(self, arrays: dict):
        from stylenet.nn.lstm import LSTMWeights

        self.info = str(arrays["info"]) if "info" in arrays else "{}"
        self.dense = {k.split("/")[0]: (arrays[k], arrays[k.replace("kernel", "bias")])
                      for k in arrays if k.endswith("/kernel") and k.count("/") == 1}
        layers = sorted({k.split("/")[0] for k in arrays if k.startswith("lstm")}, key=lambda n: int(n[4:]))
        self.lstms = [tuple(LSTMWeights(*(arrays[f"{name}/{d}/{w}"].astype(np.float32)
                                          for w in ("kernel", "recurrent", "bias")))
                            for d in ("forward", "backward")) for name in layers]

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:  # EOFError: an empty file
            raise cls.ERROR(path, f"cannot read the {cls.NAME}'s weights ({exc or type(exc).__name__})") from None
        if str(arrays.get("kind", "")) != cls.KIND:
            article = "an" if cls.NAME[:1] in "aeiou" else "a"
            raise cls.ERROR(path, f"not {article} {cls.NAME} (its kind is {str(arrays.get('kind', 'none'))!r}){cls.HINT}")
        try:
            return cls(arrays)
        except KeyError as exc:
            raise cls.ERROR(path, f"the {cls.NAME}'s weights lack {exc}") from None
        except ValueError as exc:  # a subclass's own checks of what it was given
            raise cls.ERROR(path, f"damaged {cls.NAME} file: {exc}") from None

    def trunk(self, features: np.ndarray) -> np.ndarray:
        """features [N, F] -> the last LSTM's output [N, 2 units]."""
        kernel, bias = self.dense["input"]
        from stylenet.nn.lstm import bidirectional, one_blas_thread

        h = _elu(np.asarray(features, np.float32) @ kernel + bias)
        with one_blas_thread():
            for forward, backward in self.lstms:
                h = bidirectional(forward, backward, h)
        return h


def save_note_network(model, path, kind: str, info: dict) -> None:
    """A trained Keras note network (dense "input", Bidirectional "lstm{i}", dense heads) as the .npz a
    `NoteNetwork` of that `kind` reads, float32, written atomically."""
    import json

    arrays = {"kind": np.array(kind)}
    for layer in model.layers:
        weights = layer.get_weights()
        if layer.name.startswith("lstm"):
            for direction, offset in (("forward", 0), ("backward", 3)):
                for name, w in zip(("kernel", "recurrent", "bias"), weights[offset:offset + 3]):
                    arrays[f"{layer.name}/{direction}/{name}"] = w.astype(np.float32)
        elif len(weights) == 2:
            arrays[f"{layer.name}/kernel"], arrays[f"{layer.name}/bias"] = (w.astype(np.float32) for w in weights)
    arrays["info"] = np.array(json.dumps(info))
    write_note_arrays(path, arrays)


def write_note_arrays(path, arrays: dict) -> None:
    """A note network's arrays (as `save_note_network` lays them out) to `path`, atomically.  Uncompressed, as
    the StyleNet model is: float weights shrink by 8 % compressed, and inflating them is paid at every load
    (30 ms of `perform`'s start for the shipped two-network expression ensemble)."""
    from stylenet.core.fileio import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
