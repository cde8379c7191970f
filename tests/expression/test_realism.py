"""The realism detector (expression/realism.py): what it reads of a segment, the resolution it reads it at,
and that it tells a performance tied to pitch from a pianist's but not a pianist from a copy of himself."""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the realism detector needs scikit-learn (the research extra)")

from stylenet.expression.notes import make_score_notes  # noqa: E402
from stylenet.expression.realism import FEATURES, SEGMENT, as_written, detect, segment_features  # noqa: E402


def test_values_are_read_at_the_resolution_a_midi_file_carries():
    values = np.array([[63.6, 0.12345, 0.01234, -0.4567], [200.0, 1e-16, -2e-4, 0.0], [0.2, 0.0, 0.0, 0.0]])
    got = as_written(values)
    np.testing.assert_allclose(got, [[64, 0.123, 0.012, -0.46], [127, 0.0, -0.0, 0.0], [1, 0, 0, 0]])
    assert values[0, 0] == 63.6  # the input is left as it was


def test_a_segments_features_are_what_a_listener_hears():
    # 24 two-note chords, the top note 10 louder and 5 ms early, velocities rising with pitch
    onset = np.repeat(np.arange(24.0), 2)
    pitch = np.tile([48, 72], 24) + np.repeat(np.arange(24) % 5, 2)
    score = make_score_notes(pitch, onset, onset + 1, np.full(48, 80))
    top = score.pitch == np.repeat(np.maximum.reduceat(score.pitch, np.arange(0, 48, 2)), 2)
    values = np.zeros((48, 4))
    values[:, 0] = np.where(top, 70.0, 60.0)
    values[:, 2] = np.where(top, -0.005, 0.0)
    values[:, 3] = 0.5
    got = segment_features(score, values, np.ones(48, bool))
    assert got.shape == (1, len(FEATURES))
    f = dict(zip(FEATURES, got[0]))
    assert f["chord_balance"] == pytest.approx(5.0) and f["melody_lead"] == pytest.approx(-0.0025)
    assert f["spread"] == pytest.approx(5.0) and f["level"] == pytest.approx(65.0)
    assert f["chord_spread"] == pytest.approx(0.0025) and f["tempo_change"] == 0.0 and f["length_spread"] == 0.0
    assert f["pitch_r"] > 0.9
    assert segment_features(score, values, np.arange(48) < SEGMENT - 1).shape == (0, len(FEATURES))


def _pieces(machine, n_pieces=6, notes=SEGMENT * 8, seed=0):
    """(piece, machine features, human features) for random pieces: the pianist's velocities follow pitch
    loosely, `machine(pitch, human, rng)` writes the machine's."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_pieces):
        onset = np.sort(rng.integers(0, notes // 2, notes)).astype(float)
        pitch = rng.integers(36, 90, notes)
        score = make_score_notes(pitch, onset, onset + 1, np.full(notes, 80))
        human = np.zeros((notes, 4))
        human[:, 0] = np.clip(np.rint(40 + 0.3 * (score.pitch - 36) + rng.normal(0, 12, notes)), 1, 127)
        human[:, 2] = np.rint(rng.normal(0, 0.02, notes) * 1000) / 1000
        human[:, 3] = np.rint(rng.normal(0, 0.3, notes) * 100) / 100
        usable = np.ones(notes, bool)
        out.append((f"piece{p}", segment_features(score, machine(score.pitch, human, rng), usable),
                    segment_features(score, human, usable)))
    return out


def test_a_copy_of_the_pianist_with_float_noise_cannot_be_told_apart():
    def copy(pitch, human, rng):  # the same values, off by digits no one hears
        return human + rng.normal(0, 1e-9, human.shape)

    assert detect(_pieces(copy)) <= 0.6


def test_velocities_tied_to_pitch_are_told_apart():
    def tied(pitch, human, rng):  # the pianist's mean loudness, exactly as pitch says
        out = human.copy()
        out[:, 0] = 40 + 0.3 * (pitch - 36) + rng.normal(0, 2, len(pitch))
        return out

    assert detect(_pieces(tied)) >= 0.9
