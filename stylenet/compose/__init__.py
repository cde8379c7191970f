"""The second report's composers (an autoencoder of bars and a token LSTM over chords): their config,
corpus, models, training, sampling and report -- pieces for `perform` to play."""
