"""Score features and performance targets (expression/notes.py)."""

import numpy as np

from stylenet.expression.notes import FEATURES, Performed, make_score_notes, score_features, targets


def _score(n=16, velocity=None):
    onset = np.arange(n, dtype=float)
    v = np.full(n, 80) if velocity is None else velocity
    return make_score_notes(60 + np.arange(n) % 7, onset, onset + 0.5, v, ((0.0, 0.5),), ((0.0, 4, 4),))


def test_a_ritardando_staccato_and_pedal_become_targets():
    score = _score()
    beats_q = np.arange(0, 18, 1.0)
    lengths = np.where(np.arange(17) < 12, 0.5, 1.0)  # the last five beats twice as slow
    beats_s = np.concatenate([[0.0], np.cumsum(lengths)])
    onset = np.interp(score.onset, beats_q, beats_s)
    offset = onset + 0.25 * np.interp(score.onset, beats_q[:-1], lengths)  # half the written length
    performed = Performed(onset, offset, np.arange(16) + 40.0, beats_q, beats_s, np.array([0.5]), np.array([3.0]))
    values, masks = targets(score, performed)
    assert np.all(masks[:, :5] == 1)
    assert np.allclose(values[:12, 1], 0.0) and np.allclose(values[12:, 1], 1.0)  # log2: twice as slow, median 0
    assert np.allclose(values[:, 2], 0.0, atol=1e-9)  # every note on its beat
    assert np.allclose(values[:, 3], -1.0)  # held half as long as written
    assert np.array_equal(values[:, 4], (np.arange(16) * 0.5 + 0.1 > 0.5) & (np.arange(16) * 0.5 + 0.1 < 3.0))
    assert np.array_equal(values[:, 0], np.arange(16) + 40.0)


def test_an_unplayed_note_and_a_source_without_pedal_teach_nothing():
    score = _score(8)
    onset = score.onset * 0.5
    onset[3] = np.nan
    performed = Performed(onset, onset + 0.2, np.full(8, 60.0), np.arange(0, 10, 1.0), np.arange(0, 10, 1.0) * 0.5)
    _, masks = targets(score, performed)
    assert np.all(masks[3] == 0) and np.all(masks[[0, 1, 2, 4], :4] == 1)
    assert np.all(masks[:, 4:] == 0)


def test_notated_dynamics_are_read_and_a_flat_score_says_so():
    genres = ["classical", "jazz"]
    dynamic = score_features(_score(velocity=np.where(np.arange(16) < 8, 49, 96)), "jazz", genres)
    flat = score_features(_score(), "jazz", genres)
    v, f = FEATURES.index("score_velocity"), FEATURES.index("flat")
    assert np.allclose(dynamic[:8, v], (49 - 64) / 32) and np.allclose(dynamic[8:, v], (96 - 64) / 32)
    assert np.all(dynamic[:, f] == 0) and np.all(flat[:, f] == 1) and np.all(flat[:, v] == 0)
    assert np.all(flat[:, len(FEATURES) + 1] == 1) and np.all(flat[:, len(FEATURES)] == 0)  # the genre one-hot
    downbeat = FEATURES.index("downbeat")
    assert np.array_equal(flat[:, downbeat], np.arange(16) % 4 == 0)


def test_a_rest_a_section_and_the_end_are_read_around_each_note():
    # four quarters, a half-note rest, four quarters; p then f; a change to 3/4 at quarter 6
    onset = np.array([0.0, 1, 2, 3, 6, 7, 8, 9])
    score = make_score_notes(np.full(8, 60), onset, onset + 1.0, np.where(onset < 5, 49, 96), ((0.0, 0.5),),
                             ((0.0, 4, 4), (6.0, 3, 4)))
    got = score_features(score, "jazz", ["jazz"])
    col = {name: got[:, i] for i, name in enumerate(FEATURES)}
    assert np.allclose(col["rest_after"], np.log2(1 + np.array([0, 0, 0, 2, 0, 0, 0, 0])) / 2)
    assert np.allclose(col["rest_before"], np.log2(1 + np.array([0, 0, 0, 0, 2, 0, 0, 0])) / 2)
    assert np.allclose(col["velocity_z"], np.where(onset < 5, -0.5, 0.5))  # z = -1 and 1, halved
    assert col["boundary"][4] == 1.0 and col["boundary"][0] < col["boundary"][3] < 1.0  # the new metre at 6
    assert col["to_end"][-1] > col["to_end"][0] and np.isclose(col["to_end"][-1], np.exp(-1 / 8))
    flat = score_features(_score(), "jazz", ["jazz"])
    assert np.all(flat[:, FEATURES.index("velocity_z")] == 0) and np.all(flat[:, FEATURES.index("velocity_section")] == 0)


def test_a_network_reads_the_features_it_names_in_its_order():
    from stylenet.expression.notes import LEGACY_FEATURES

    score = _score(velocity=np.where(np.arange(16) < 8, 49, 96))
    every = score_features(score, "pop", ["jazz", "pop"])
    legacy = score_features(score, "pop", ["jazz", "pop"], LEGACY_FEATURES)
    assert legacy.shape == (16, len(LEGACY_FEATURES) + 2)
    assert np.array_equal(legacy[:, :len(LEGACY_FEATURES)], every[:, :len(LEGACY_FEATURES)])
    assert np.array_equal(legacy[:, -2:], every[:, -2:])
    picked = score_features(score, "pop", ["jazz", "pop"], ("rest_after", "key"))
    assert np.array_equal(picked[:, 0], every[:, FEATURES.index("rest_after")])
    assert np.array_equal(picked[:, 1], every[:, 0])
    try:
        score_features(score, "pop", ["pop"], ("key", "mood"))
    except ValueError as exc:
        assert "mood" in str(exc)
    else:
        raise AssertionError("an unknown feature was read")
