"""A small StyleNet with random weights, built in NumPy (no TensorFlow), for tests of perform/evaluate."""

import numpy as np

from stylenet.inference import GenreWeights, LSTMWeights, Performer


def _lstm(rng, n_in, units, scale):
    return LSTMWeights(rng.normal(0, scale, (n_in, 4 * units)).astype(np.float32),
                       rng.normal(0, scale, (units, 4 * units)).astype(np.float32),
                       rng.normal(0, scale, 4 * units).astype(np.float32))


def random_performer(genres=("classical", "jazz", "pop"), units=8, genre_layers=1, seed=0) -> Performer:
    rng = np.random.default_rng(seed)
    nets = {}
    for g in genres:
        forward, backward, n_in = [], [], units
        for _ in range(genre_layers):
            forward.append(_lstm(rng, n_in, units, 0.5))
            backward.append(_lstm(rng, n_in, units, 0.5))
            n_in = 2 * units
        nets[g] = GenreWeights(forward, backward, rng.normal(0, 0.3, (n_in, 88)).astype(np.float32),
                               np.full(88, 0.5, np.float32))
    stats = {g: {"mean": 60.0 + 10 * i, "std": 18.0, "piece_std": 15.0, "piece_mean_std": 8.0, "low": 20.0,
                 "high": 110.0, "pieces": 5, "notes": 500} for i, g in enumerate(genres)}
    return Performer(list(genres), _lstm(rng, 176, units, 0.5), nets, 4, stats, {"test": True})
