"""The second report's two composers as Keras 3 networks, read top to bottom.

**Autoencoder** (`build_autoencoder`).  A passage of 16 bars, each bar a 24-step x 96-pitch piano roll of
zeros and ones (a pitch sounding or not).  The encoder flattens each bar's 2,304 cells and passes them through
Dense 2,000 and Dense 200, the same weights for every bar (a bar is a bar wherever it falls); the 16 bar
summaries, 3,200 numbers, go through Dense 1,600 and Dense 120: the latent vector, the whole passage in 120
numbers.  The decoder mirrors it (120 -> 1,600 -> 3,200 -> per bar 200 -> 2,000 -> 2,304) and ends in a
sigmoid: each cell's probability of sounding; a cell above the threshold (0.5) is a note.  ReLU everywhere
else, the latent included (so latent codes are never negative).  Trained to reproduce its input (binary
cross-entropy per cell).

**Token LSTM** (`build_token_lstm`).  The previous 64 tokens (chords, numbered by the vocabulary) predict a
probability for every token to come next.  Small network: LSTM 256, LSTM 256, Dense 256, Dense over the
vocabulary with a softmax, a Dropout of 0.3 after each of the first three.  Deep network: ten LSTMs of 128,
two Dense of 128, dropout 0.01.  The report fed each token as one number (its index / vocabulary size:
`token_input: scalar`), which asks the network to find meaning in the order of an arbitrary numbering;
`token_input: embedding` learns a vector per token instead.  The hidden Dense layers use ReLU (the report's
had none, and two linear layers in a row are one).
"""

from __future__ import annotations

from stylenet.compose.data import N_PITCHES, STEPS_PER_BAR

BAR_CELLS = STEPS_PER_BAR * N_PITCHES  # 2,304


def build_autoencoder(bars: int = 16, bar_units=(2000, 200), piece_units=(1600, 120)):
    """-> (autoencoder, encoder, decoder): three Keras models sharing one set of layers.

    encoder: [batch, bars, 24, 96] -> [batch, latent];  decoder: [batch, latent] -> [batch, bars, 24, 96]."""
    import keras
    from keras import layers

    passage = keras.Input((bars, STEPS_PER_BAR, N_PITCHES), name="passage")
    h = layers.Reshape((bars, BAR_CELLS), name="bars")(passage)
    for i, units in enumerate(bar_units):  # a Dense on the last axis is the same Dense for every bar
        h = layers.Dense(units, activation="relu", name=f"bar_encoder_{i}")(h)
    h = layers.Flatten(name="bar_summaries")(h)
    for i, units in enumerate(piece_units):
        h = layers.Dense(units, activation="relu", name=f"piece_encoder_{i}")(h)
    encoder = keras.Model(passage, h, name="encoder")

    latent = keras.Input((piece_units[-1],), name="latent")
    h = latent
    mirrored_piece = [*piece_units[-2::-1], bars * bar_units[-1]]  # 1,600 then 16 x 200
    for i, units in enumerate(mirrored_piece):
        h = layers.Dense(units, activation="relu", name=f"piece_decoder_{i}")(h)
    h = layers.Reshape((bars, bar_units[-1]), name="bar_summaries_out")(h)
    for i, units in enumerate(bar_units[-2::-1]):
        h = layers.Dense(units, activation="relu", name=f"bar_decoder_{i}")(h)
    h = layers.Dense(BAR_CELLS, activation="sigmoid", name="cells")(h)
    roll = layers.Reshape((bars, STEPS_PER_BAR, N_PITCHES), name="roll")(h)
    decoder = keras.Model(latent, roll, name="decoder")

    autoencoder = keras.Model(passage, decoder(encoder(passage)), name="autoencoder")
    return autoencoder, encoder, decoder


def build_token_lstm(vocabulary_size: int, context: int = 64, lstm_layers: int = 2, lstm_units: int = 256,
                     dense_layers: int = 1, dense_units: int = 256, dropout: float = 0.3,
                     token_input: str = "scalar", embedding_size: int = 32):
    """[batch, context] token numbers -> [batch, vocabulary_size] probabilities of the next token."""
    import keras
    from keras import layers

    tokens = keras.Input((context,), dtype="int32", name="tokens")
    if token_input == "scalar":  # the report: each token as one number in [0, 1)
        h = layers.Rescaling(1.0 / vocabulary_size, name="token_number")(tokens)
        h = layers.Reshape((context, 1), name="one_feature")(h)
    else:
        h = layers.Embedding(vocabulary_size, embedding_size, name="token_vectors")(tokens)
    for i in range(lstm_layers):
        h = layers.LSTM(lstm_units, return_sequences=i < lstm_layers - 1, name=f"lstm_{i}")(h)
        h = layers.Dropout(dropout, name=f"lstm_dropout_{i}")(h)
    for i in range(dense_layers):
        h = layers.Dense(dense_units, activation="relu", name=f"dense_{i}")(h)
        h = layers.Dropout(dropout, name=f"dense_dropout_{i}")(h)
    next_token = layers.Dense(vocabulary_size, activation="softmax", name="next_token")(h)
    return keras.Model(tokens, next_token, name="token_lstm")


def build_composer(config, vocabulary_size: int | None = None):
    """The network a ComposeConfig asks for: (model to train, decoder or None)."""
    if config.composer == "autoencoder":
        a = config.autoencoder
        autoencoder, _, decoder = build_autoencoder(a.bars, a.bar_units, a.piece_units)
        return autoencoder, decoder
    k = config.token_lstm
    return build_token_lstm(vocabulary_size, k.context, k.lstm_layers, k.lstm_units, k.dense_layers, k.dense_units,
                            k.dropout, k.token_input, k.embedding_size), None
