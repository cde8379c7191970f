"""How an epoch of training is cut into mini-batches (truncated BPTT, as the paper).

  * Each genre's training pieces are shuffled (a fresh, seeded order every epoch) and dealt onto
    `batch_size` lanes, always to the lane with the least music so far.  A lane plays its pieces back to
    back; each piece is cut into consecutive `window`-step windows, the last one padded with silence that
    the loss ignores.
  * One mini-batch = the next window of every lane of one genre.  Mini-batches alternate between genres
    (classical, jazz, pop, classical, ...); a genre that runs out drops from the rotation.
  * The forward LSTM states carry from one window of a piece into the next (see model.py); at the first
    window of a piece the lane's state is reset to zero.

The plan of an epoch is a pure function of (seed, epoch), so a resumed run replays exactly the batches an
uninterrupted one would have.
"""

from __future__ import annotations

import math

import numpy as np

from stylenet.core.codec import SCORE_COLUMNS, shift_keys
from stylenet.core.midifile import N_KEYS
from stylenet.velocity.inputs import shift_input
from stylenet.velocity.pieces import Piece, TrainingData

Slot = tuple[int, int] | None  # (piece index, window index) or an idle lane


def epoch_plan(data: TrainingData, batch_size: int, window: int, seed: int, epoch: int) -> list[tuple[str, list[Slot]]]:
    """The mini-batches of one epoch, in order: [(genre, [slot per lane])]."""
    rng = np.random.default_rng([seed, epoch])
    per_genre = {}
    for genre, pieces in data.train.items():
        lanes: list[list[Slot]] = [[] for _ in range(batch_size)]
        for index in rng.permutation(len(pieces)):
            lane = min(range(batch_size), key=lambda i: len(lanes[i]))
            lanes[lane].extend((int(index), k) for k in range(math.ceil(len(pieces[index].score) / window)))
        n = max(len(lane) for lane in lanes)
        per_genre[genre] = [[lane[j] if j < len(lane) else None for lane in lanes] for j in range(n)]
    plan, position = [], {g: 0 for g in per_genre}
    while any(position[g] < len(per_genre[g]) for g in per_genre):
        for genre in per_genre:
            if position[genre] < len(per_genre[genre]):
                plan.append((genre, per_genre[genre][position[genre]]))
                position[genre] += 1
    return plan


def make_batch(pieces: list[Piece], slots: list[Slot], window: int, context: int = 0, transpose: int = 0,
               rng: np.random.Generator | None = None):
    """-> inputs [B, C+W+C, columns], velocity [B, C+W+C, 88], weight [B, C+W+C] (1 = scored music),
    keep [B] (0 = start from a zero state).

    `context` (C) steps of the piece before and after the window are read but not scored, and every window
    starts from a zero state: each LSTM direction then warms up on real music, as it does when `perform`
    reads a whole piece, instead of the backward halves starting cold at every window's end.  Without
    context (the paper) the forward state is carried from the previous window instead.

    `transpose` N shifts each lane's slice by a random number of semitones in -N..N, chosen so every
    sounding key stays on the keyboard: the same touch on another key teaches the net that dynamics
    follow the music's shape, not absolute pitch alone.
    """
    b, length = len(slots), window + 2 * context
    columns = pieces[0].inputs(0, 1).shape[1] if pieces else SCORE_COLUMNS
    inputs = np.zeros((b, length, columns), np.float32)
    velocity = np.zeros((b, length, N_KEYS), np.float32)
    weight = np.zeros((b, length), np.float32)
    keep = np.zeros((b,), np.float32)
    for lane, slot in enumerate(slots):
        if slot is None:
            continue
        index, k = slot
        piece = pieces[index]
        start, stop = k * window - context, (k + 1) * window + context
        lo, hi = max(start, 0), min(stop, len(piece.score))
        at = lo - start  # where the piece's first read step lands in the lane
        x = piece.inputs(lo, hi)
        v = piece.velocity[lo:hi].astype(np.float32)
        if transpose and rng is not None:
            x, v = _transposed(x, v, transpose, rng)
        inputs[lane, at:at + len(x)] = x
        velocity[lane, at:at + len(x)] = v
        scored_lo, scored_hi = max(k * window, lo) - start, min((k + 1) * window, hi) - start
        weight[lane, scored_lo:scored_hi] = 1.0
        keep[lane] = 0.0 if (k == 0 or context) else 1.0
    return inputs, velocity, weight, keep


def _transposed(inputs: np.ndarray, velocity: np.ndarray, most: int, rng: np.random.Generator):
    """Shift a slice's keys by a random whole number of semitones in -most..most that keeps every
    sounding key inside A0..C8; the optional channels after the score columns are not keyed."""
    sounding = np.flatnonzero(inputs[:, 1:SCORE_COLUMNS:2].any(axis=0))
    if len(sounding) == 0:
        return inputs, velocity
    shift = int(rng.integers(max(-most, -sounding[0]), min(most, N_KEYS - 1 - sounding[-1]) + 1))
    if shift == 0:
        return inputs, velocity
    return shift_input(inputs, shift), shift_keys(velocity, shift)
