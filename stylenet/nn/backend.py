"""Importing Keras quietly, and the little that differs between Keras backends.

TensorFlow prints C++ log lines (CUDA probing, oneDNN notices) straight to file descriptor 2 while it
loads, before any Python logging setting can stop them; we point fd 2 at /dev/null for the import only.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


@contextmanager
def _quiet_fd2():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters, some test runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


TRAIN_EXTRA = "pip install 'stylenet[train]'"  # what installs Keras and TensorFlow beside the light core


def import_keras():
    """Import and return keras, with TensorFlow's start-up noise kept off the terminal.  Without them (the
    light install: performing, rendering, surveys need neither) a one-line StyleNetError says how to add them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_fd2():
            keras = _import_keras()
    except ImportError as exc:
        from stylenet.core.errors import StyleNetError

        missing = getattr(exc, "name", None) or "keras"
        raise StyleNetError(f"this needs {missing}, which the light install leaves out: {TRAIN_EXTRA} "
                            f"(or `make install` in a clone)", exit_code=2) from None
    return keras


def _import_keras():
    if backend_name() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        # Probe for GPUs now, while fd 2 is quiet: otherwise the first XLA compile does it later and
        # prints "failed call to cuInit" on a machine without CUDA.
        tf.config.list_physical_devices("GPU")
    import keras

    return keras


def backend_name() -> str:
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")
