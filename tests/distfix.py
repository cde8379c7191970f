"""What the tf.distribute tests share: a small StyleNet and optimizer made alike in every process, and one
batch.  Imported by their subprocess scripts (PYTHONPATH is the repository)."""

import numpy as np


def setup(strategy):
    import keras
    import tensorflow as tf

    from stylenet.model import build_model

    keras.utils.set_random_seed(0)
    with strategy.scope() if strategy else tf.name_scope("single"):
        model = build_model(["jazz", "pop"], units=8, genre_layers=1, keep_prob=1.0)
        opt = keras.optimizers.SGD(0.5)  # not Adam: Adam would hide a wrongly scaled gradient
        opt.build(model.trainable_variables)
    return model, opt


def batch():
    """(score, target, weight, keep) of 4 lanes x 20 steps, the same in every process."""
    rng = np.random.default_rng(0)
    x = (rng.random((4, 20, 176)) < 0.1).astype("float32")
    y = rng.random((4, 20, 88)).astype("float32")
    return x, y, np.ones((4, 20), "float32"), np.ones((4,), "float32")
