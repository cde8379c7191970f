"""One training step, and the loss it minimises, on either Keras backend, on one device or under a
tf.distribute strategy."""

from __future__ import annotations

import numpy as np

from stylenet.core.codec import SCORE_COLUMNS
from stylenet.core.config import ConfigError
from stylenet.nn.backend import backend_name


def velocity_loss(kind: str, score, target, weight, predicted, spread_weight: float = 0.0):
    """The training loss over one batch (velocities / 127; `weight` 0 marks padding and unscored context).

    `mse`         the paper's mean squared error over every cell of the velocity matrix.
    `masked_mse`  the same over the cells where a note sounds (a long note counts once per step held).
    `onset_mse`   the same over the cells where a key is struck: each note counts once, at the step
                  where its velocity is read, whatever its length.
    `spread_weight` adds the squared difference between the predicted and the human standard deviation
    of the struck notes' velocities, per lane (one window of one piece).  Squared error alone rewards
    predictions squeezed towards the middle (the optimum of an uncertain regression has less spread
    than the truth); this term asks for the human contrast at training time, at a small price in error.
    """
    from keras import ops

    predicted = ops.cast(predicted, "float32")
    squared = ops.square(predicted - target)
    rows = ops.expand_dims(weight, -1)
    struck = score[:, :, 0:SCORE_COLUMNS:2] * rows
    if kind == "mse":
        mask = rows * ops.ones_like(squared)
    elif kind == "masked_mse":
        mask = score[:, :, 1:SCORE_COLUMNS:2] * rows
    else:
        mask = struck
    loss = ops.sum(squared * mask) / ops.maximum(ops.sum(mask), 1.0)
    if spread_weight:
        loss = loss + spread_weight * _spread_error(predicted, target, struck)
    return loss


def _spread_error(predicted, target, struck):
    """Mean over lanes with two or more struck notes of (SD predicted - SD human)^2 at those notes."""
    from keras import ops

    count = ops.sum(struck, axis=(1, 2))
    n = ops.maximum(count, 1.0)

    def sd(x):
        mean = ops.sum(x * struck, axis=(1, 2)) / n
        centred = (x - mean[:, None, None]) * struck
        return ops.sqrt(ops.sum(ops.square(centred), axis=(1, 2)) / n + 1e-8)

    valid = ops.cast(count >= 2, "float32")
    return ops.sum(valid * ops.square(sd(predicted) - sd(target))) / ops.maximum(ops.sum(valid), 1.0)


def reset_lanes(states, keep):
    """Zero the carried state of every lane that starts a new piece (keep = 0)."""
    from keras import ops

    return [(h * ops.cast(keep, h.dtype)[:, None], c * ops.cast(keep, c.dtype)[:, None]) for h, c in states]


class Stepper:
    """The compiled training step and inference call for the active Keras backend.

    TensorFlow: tf.function around a GradientTape.  JAX: jax.jit around `stateless_call`.  Both apply
    gradients with the same Keras optimizer, restricted to the shared layer and the batch's GenreNet.
    """

    def __init__(self, model, optimizer, loss: str, strategy=None, spread_weight: float = 0.0):
        self.model, self.optimizer, self.loss, self.spread_weight = model, optimizer, loss, spread_weight
        self.backend = backend_name()
        self.strategy = strategy
        self._train, self._predict = {}, {}

    def train(self, genre, score, target, weight, keep, states):
        if genre not in self._train:
            self._train[genre] = (self._tf_train if self.backend == "tensorflow" else self._jax_train)(genre)
        return self._train[genre](score, target, weight, keep, states)

    def predict(self, genre, score):
        if genre not in self._predict:
            self._predict[genre] = self._make_predict(genre)
        return self._predict[genre](score)

    # -- TensorFlow
    def _tf_train(self, genre):
        import tensorflow as tf

        model, optimizer, loss_kind, strategy = self.model, self.optimizer, self.loss, self.strategy
        spread_weight = self.spread_weight
        variables = model.genre_variables(genre)
        replicas = strategy.num_replicas_in_sync if strategy else 1

        def replica_step(score, target, weight, keep, states):
            states = reset_lanes(states, keep)
            with tf.GradientTape() as tape:
                predicted, new_states = model(score, genre=genre, states=states, training=True)
                loss = velocity_loss(loss_kind, score, target, weight, predicted, spread_weight)
                # Replicas' gradients are summed by the optimizer: scale each so the sum is the mean.
                scaled = optimizer.scale_loss(loss / replicas)
            grads = tape.gradient(scaled, variables)
            optimizer.apply(grads, variables)
            return loss, new_states

        if strategy is None:
            return tf.function(replica_step, reduce_retracing=True)

        @tf.function(reduce_retracing=True)
        def distributed_step(score, target, weight, keep, states):
            loss, new_states = strategy.run(replica_step, args=(score, target, weight, keep, states))
            return strategy.reduce("MEAN", loss, axis=None), new_states

        def run(score, target, weight, keep, states):
            """Deal the batch's lanes (and their carried states) out to the replicas, and gather back."""
            def split(array):
                parts = np.array_split(np.asarray(array), replicas)
                return strategy.experimental_distribute_values_from_function(
                    lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group]))

            states = [(split(h), split(c)) for h, c in states]
            loss, new_states = distributed_step(split(score), split(target), split(weight), split(keep), states)

            def gather(value):  # every replica's lanes, on every worker (the next window needs them all)
                return strategy.gather(value, axis=0)

            return loss, [(gather(h), gather(c)) for h, c in new_states]

        return run

    # -- JAX
    def _jax_train(self, genre):
        import jax
        import keras

        model, optimizer, loss_kind, spread_weight = self.model, self.optimizer, self.loss, self.spread_weight
        trainable = model.trainable_variables
        position = {id(v): i for i, v in enumerate(trainable)}
        update = [position[id(v)] for v in model.genre_variables(genre)]
        update_vars = [trainable[i] for i in update]

        def loss_fn(trainable_values, non_trainable_values, score, target, weight, states):
            (predicted, new_states), non_trainable_values = model.stateless_call(
                trainable_values, non_trainable_values, score, genre=genre, states=states, training=True)
            loss = velocity_loss(loss_kind, score, target, weight, predicted, spread_weight)
            return optimizer.scale_loss(loss), (loss, new_states, non_trainable_values)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def step(trainable_values, non_trainable_values, optimizer_values, score, target, weight, keep, states):
            states = reset_lanes(states, keep)
            (_, (loss, new_states, non_trainable_values)), grads = grad_fn(
                trainable_values, non_trainable_values, score, target, weight, states)
            mapping = [(v, trainable_values[i]) for v, i in zip(update_vars, update)]
            mapping += list(zip(optimizer.variables, optimizer_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                optimizer.apply([grads[i] for i in update], update_vars)
            trainable_values = list(trainable_values)
            for v, i in zip(update_vars, update):
                trainable_values[i] = scope.get_current_value(v)
            optimizer_values = [scope.get_current_value(v) for v in optimizer.variables]
            return loss, new_states, trainable_values, non_trainable_values, optimizer_values

        def run(score, target, weight, keep, states):
            loss, new_states, tv, ntv, ov = step(
                [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                [v.value for v in optimizer.variables], score, target, weight, keep, states)
            for var, value in zip(model.trainable_variables, tv):
                var.assign(value)
            for var, value in zip(model.non_trainable_variables, ntv):
                var.assign(value)
            for var, value in zip(optimizer.variables, ov):
                var.assign(value)
            return loss, new_states

        return run

    def _make_predict(self, genre):
        model = self.model
        if self.backend == "tensorflow":
            import tensorflow as tf

            return tf.function(lambda score: model.perform(score, genre), reduce_retracing=True)
        if self.backend == "jax":
            import jax

            @jax.jit
            def predict(trainable_values, non_trainable_values, score):
                (velocity, _), _ = model.stateless_call(trainable_values, non_trainable_values, score,
                                                        genre=genre, training=False)
                return velocity

            return lambda score: predict([v.value for v in model.trainable_variables],
                                         [v.value for v in model.non_trainable_variables], score)
        return lambda score: model.perform(score, genre)


def make_strategy(kind: str):
    """The tf.distribute strategy of `train.distribute` (None for a single device)."""
    if kind == "none":
        return None
    if backend_name() != "tensorflow":
        raise ConfigError(f"train.distribute: {kind} needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    import tensorflow as tf

    if kind == "mirrored":  # every local GPU (or, in tests, logical CPU devices)
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MultiWorkerMirroredStrategy()  # hosts and roles from TF_CONFIG


def device_line() -> str:
    """What the active backend computes on, for the run's first line."""
    if backend_name() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return f"{len(gpus)} GPU(s)" if gpus else "CPU"
    if backend_name() == "jax":
        import jax

        return ", ".join(sorted({d.platform for d in jax.devices()}))
