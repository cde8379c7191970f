"""How an epoch is cut into mini-batches: the plan, the windows, context and transposition."""

from collections import Counter

import numpy as np
import pytest

from stylenet.velocity.batches import epoch_plan, make_batch
from stylenet.velocity.pieces import Piece, TrainingData


def _toy_data(lengths_by_genre):
    return TrainingData(
        {g: [Piece(f"{g}{i}", np.zeros((n, 176), np.uint8), np.zeros((n, 88), np.float16))
             for i, n in enumerate(lengths)] for g, lengths in lengths_by_genre.items()},
        {g: [] for g in lengths_by_genre})


def test_epoch_plan_alternates_genres_and_covers_every_window_once():
    data = _toy_data({"a": [100, 250, 30, 410, 90], "b": [500, 60], "c": [40] * 9})
    plan = epoch_plan(data, batch_size=2, window=50, seed=0, epoch=0)
    genres = [g for g, _ in plan]
    # strict rotation while every genre still has batches
    n_common = 3 * min(Counter(genres).values())
    assert genres[:n_common] == ["a", "b", "c"] * (n_common // 3)
    for genre, pieces in data.train.items():
        windows = Counter(slot for g, slots in plan if g == genre for slot in slots if slot is not None)
        expected = {(i, k) for i, p in enumerate(pieces) for k in range(-(-len(p.score) // 50))}
        assert set(windows) == expected and set(windows.values()) == {1}
        # within a lane, a piece's windows come in order and back to back
        for lane in range(2):
            seq = [slots[lane] for g, slots in plan if g == genre and slots[lane] is not None]
            for (p0, k0), (p1, k1) in zip(seq, seq[1:]):
                assert (p1 == p0 and k1 == k0 + 1) or (p1 != p0 and k1 == 0)


def test_epoch_plan_reshuffles_every_epoch_and_is_reproducible():
    data = _toy_data({"a": [60] * 12, "b": [60] * 12})
    e0 = epoch_plan(data, 4, 50, seed=1, epoch=0)
    assert e0 == epoch_plan(data, 4, 50, seed=1, epoch=0)
    assert e0 != epoch_plan(data, 4, 50, seed=1, epoch=1)


def test_make_batch_pads_with_silence_and_marks_new_pieces():
    score = np.zeros((70, 176), np.uint8)
    score[:, 1] = 1
    piece = Piece("p", score, np.full((70, 88), 0.5, np.float16))
    x, y, w, keep = make_batch([piece], [(0, 1), None, (0, 0)], window=50)
    assert x.shape == (3, 50, 176) and y.shape == (3, 50, 88)
    assert w[0].tolist() == [1.0] * 20 + [0.0] * 30 and w[1].sum() == 0 and w[2].sum() == 50
    assert keep.tolist() == [1.0, 0.0, 0.0]
    assert x[0, :20, 1].sum() == 20 and x[0, 20:].sum() == 0


def test_make_batch_with_context_reads_around_the_window_and_scores_only_it():
    score = np.zeros((70, 176), np.uint8)
    score[:, 1] = 1
    velocity = (np.arange(70, dtype=np.float16)[:, None] / 100 * np.ones((1, 88), np.float16))
    piece = Piece("p", score, velocity)
    x, y, w, keep = make_batch([piece], [(0, 0), (0, 1)], window=30, context=10)
    assert x.shape == (2, 50, 176) and keep.tolist() == [0.0, 0.0]  # context replaces carried state
    # first window: no music before the piece, so the lane starts 10 steps in; steps 0..39 are read
    assert y[0, 10:50, 0].tolist() == pytest.approx((np.arange(40) / 100).tolist(), abs=1e-3)
    assert w[0].tolist() == [0.0] * 10 + [1.0] * 30 + [0.0] * 10
    # second window: steps 20..69 read (10 before, 30 scored, 10 after)
    assert y[1, :, 0].tolist() == pytest.approx((np.arange(20, 70) / 100).tolist(), abs=1e-3)
    assert w[1].tolist() == [0.0] * 10 + [1.0] * 30 + [0.0] * 10


def test_transposition_moves_keys_and_velocities_together_and_stays_on_the_keyboard():
    score = np.zeros((8, 176), np.uint8)
    score[0, 2 * 3:2 * 3 + 2] = 1  # key 3 struck
    score[1:4, 2 * 80 + 1] = 1  # key 80 held
    velocity = np.zeros((8, 88), np.float16)
    velocity[0, 3], velocity[1:4, 80] = 0.25, 0.75
    extra = np.arange(16, dtype=np.float32).reshape(8, 2)
    piece = Piece("p", score, velocity, extra)
    shifts = set()
    for seed in range(40):
        x, y, w, _ = make_batch([piece], [(0, 0)], window=8, transpose=6, rng=np.random.default_rng(seed))
        struck = np.flatnonzero(x[0, 0, 0:176:2])
        assert len(struck) == 1
        shift = int(struck[0]) - 3
        shifts.add(shift)
        assert -3 <= shift <= 6  # key 3 can go down to A0 at most; the limit of 6 holds upwards
        assert y[0, 0, 3 + shift] == 0.25 and y[0, 2, 80 + shift] == 0.75 and y.sum() == pytest.approx(0.25 + 3 * 0.75)
        assert x[0, :, 2 * (80 + shift) + 1].sum() == 3
        np.testing.assert_array_equal(x[0, :, 176:], extra)  # metre channels are not keyed
    assert shifts == set(range(-3, 7))  # every allowed shift, and no other, is drawn
