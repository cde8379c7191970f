"""The StyleNet network (Malik & Ek, 2017), written only against `keras` / `keras.ops`.

    score [batch, time, 176 (+ optional channels: `inputs`, e.g. metre; inputs.encode_input)]
      (+ voice: the top and bottom sounding key, computed here from the score columns; inputs.voice_channels)
      -> interpretation: LSTM(176)                      shared by every genre: "reading" the score
      -> GenreNet[genre]: 3 x (Dropout, BiLSTM(176))    one per genre: how that genre plays what it read
                          Dropout, Dense(88)            linear, one velocity per key (velocity / 127)
      -> velocity [batch, time, 88]

Only the GenreNet of the genre asked for runs, so `perform --genre jazz` costs one GenreNet.

Truncated backpropagation through time.  Training sees 200-step windows of a piece, in order.  The
*forward* LSTMs (the interpretation layer and the forward half of every BiLSTM) carry their (h, c) state
from one window into the next, so the model hears the music before the window.  The backward halves start
each window from zero: their "previous" window would be the future one, which has not been read yet.
`call` therefore takes and returns the forward states.

Dropout lives in separate Dropout layers, never inside the LSTMs (`recurrent_dropout` would rule out the
cuDNN kernel on a GPU).  The LSTMs are `FusedLSTM` (nn/fused_lstm.py): Keras's LSTM with the very same weights,
whose time loop is replaced by a faster one on a CPU under TensorFlow; on a GPU (cuDNN) or under JAX it is
Keras's LSTM unchanged.  The same code runs on TensorFlow (default) and JAX backends.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from stylenet.core.codec import SCORE_COLUMNS
from stylenet.core.midifile import N_KEYS
from stylenet.nn.fused_lstm import FusedLSTM
from stylenet.velocity.inputs import input_columns, network_columns


class GenreNet(layers.Layer):
    """How one genre plays: stacked bidirectional LSTMs and a linear read-out to 88 velocities."""

    def __init__(self, genre: str, units: int = 176, genre_layers: int = 3, keep_prob: float = 0.8, **kwargs):
        super().__init__(name=f"genre_{genre}", **kwargs)
        self.genre, self.units, self.genre_layers, self.keep_prob = genre, units, genre_layers, keep_prob
        rate = 1.0 - keep_prob
        self.dropouts = [layers.Dropout(rate, name=f"dropout_{i}") for i in range(genre_layers + 1)]
        self.forward = [FusedLSTM(units, return_sequences=True, return_state=True, name=f"forward_{i}")
                        for i in range(genre_layers)]
        self.backward = [FusedLSTM(units, return_sequences=True, go_backwards=True, name=f"backward_{i}")
                         for i in range(genre_layers)]
        self.velocity = layers.Dense(N_KEYS, name="velocity")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for i in range(self.genre_layers):
            self.forward[i].build(shape)
            self.backward[i].build(shape)
            shape = shape[:-1] + (2 * self.units,)
        self.velocity.build(shape)
        self.built = True

    def call(self, hidden, states=None, training=False):
        """hidden [B, T, units] -> (velocity [B, T, 88], forward states [(h, c)] * genre_layers)."""
        new_states = []
        for i in range(self.genre_layers):
            hidden = self.dropouts[i](hidden, training=training)
            forward, h, c = self.forward[i](hidden, initial_state=None if states is None else list(states[i]),
                                            training=training)
            backward = ops.flip(self.backward[i](hidden, training=training), axis=1)
            hidden = ops.concatenate([forward, backward], axis=-1)
            new_states.append((h, c))
        return self.velocity(self.dropouts[-1](hidden, training=training)), new_states


def voice_channels(score):
    """inputs.voice_channels in keras.ops: [B, T, 176] score columns -> [B, T, 176] top and bottom keys."""
    held = ops.cast(score[..., 1:SCORE_COLUMNS:2] > 0, "float32")
    at_or_above = ops.flip(ops.cumsum(ops.flip(held, axis=-1), axis=-1), axis=-1)
    at_or_below = ops.cumsum(held, axis=-1)
    top = held * ops.cast(ops.equal(at_or_above, 1.0), "float32")
    bottom = held * ops.cast(ops.equal(at_or_below, 1.0), "float32")
    return ops.cast(ops.concatenate([top, bottom], axis=-1), score.dtype)


class StyleNet(keras.Model):
    """A shared interpretation layer feeding one GenreNet per genre."""

    def __init__(self, genres, units: int = 176, genre_layers: int = 3, keep_prob: float = 0.8, inputs=(), **kwargs):
        super().__init__(name="stylenet", **kwargs)
        self.genres = list(genres)
        self.units, self.genre_layers, self.keep_prob = units, genre_layers, keep_prob
        self.inputs_layout = list(inputs)  # optional input channels after the 176 score columns
        self.interpretation = FusedLSTM(units, return_sequences=True, return_state=True, name="interpretation")
        self.genre_nets = {g: GenreNet(g, units, genre_layers, keep_prob) for g in self.genres}

    def build(self, input_shape=None):
        input_shape = input_shape or (None, None, input_columns(self.inputs_layout))
        self.interpretation.build(tuple(input_shape[:-1]) + (network_columns(self.inputs_layout),))
        for net in self.genre_nets.values():
            net.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, score, genre: str, states=None, training=False):
        """score [B, T, input columns] -> (velocity [B, T, 88], forward states to carry into the next window).

        `states` is None (start of a piece) or the structure this method returned for the last window:
        [(h, c) of the interpretation layer, (h, c) of each forward LSTM of the genre's net].
        """
        if genre not in self.genre_nets:
            raise ValueError(f"unknown genre {genre!r}; this model knows {', '.join(self.genres)}")
        if "voice" in self.inputs_layout:
            score = ops.concatenate([score, voice_channels(score[..., :SCORE_COLUMNS])], axis=-1)
        hidden, h, c = self.interpretation(score, initial_state=None if states is None else list(states[0]),
                                           training=training)
        velocity, genre_states = self.genre_nets[genre](hidden, states=None if states is None else states[1:],
                                                        training=training)
        return velocity, [(h, c)] + genre_states

    def perform(self, score, genre: str):
        """Velocities for whole pieces at once (inference: no windows, no dropout)."""
        velocity, _ = self(score, genre=genre, training=False)
        return velocity

    def genre_variables(self, genre: str) -> list:
        """The trainable variables a step on `genre` updates: the shared layer and that GenreNet."""
        return self.interpretation.trainable_variables + self.genre_nets[genre].trainable_variables

    def zero_states(self, batch_size: int):
        zeros = ops.zeros((batch_size, self.units), dtype=self.interpretation.compute_dtype)
        return [(zeros, zeros) for _ in range(1 + self.genre_layers)]

    def get_config(self):
        return {"genres": self.genres, "units": self.units, "genre_layers": self.genre_layers,
                "keep_prob": self.keep_prob, "inputs": self.inputs_layout}


def build_model(genres, units: int = 176, genre_layers: int = 3, keep_prob: float = 0.8, inputs=()) -> StyleNet:
    model = StyleNet(genres, units, genre_layers, keep_prob, inputs)
    model.build()
    return model
