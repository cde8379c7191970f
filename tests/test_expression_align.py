"""Score-to-performance alignment (expression/align.py): beats, per-key assignment, raw files' own grid."""

import numpy as np

from stylenet import codec
from stylenet.expression.align import align, self_performed
from stylenet.expression.notes import make_score_notes
from tests.helpers import N, Song, write_song


def test_a_rubato_performance_with_a_slip_and_an_ornament_is_matched_note_for_note():
    rng = np.random.default_rng(0)
    n = 64
    onset = np.repeat(np.arange(n // 2) * 0.5, 2)  # eighth notes, two keys at once
    pitch = np.where(np.arange(n) % 2 == 0, 48 + np.arange(n) % 5, 72 + np.arange(n) % 3)  # repeated keys
    score = make_score_notes(pitch, onset, onset + 0.5, np.full(n, 64), ((0.0, 0.5),), ((0.0, 4, 4),))
    beats_q = np.arange(0, 17, 1.0)
    beats_s = 1.0 + np.concatenate([[0], np.cumsum(0.6 * np.exp(rng.normal(0, 0.15, 16)))])
    played = np.interp(score.onset, beats_q, beats_s) + rng.normal(0, 0.015, n)
    keep = np.ones(n, bool)
    keep[[5, 30]] = False  # two notes left out
    perf_pitch = np.concatenate([score.pitch[keep], [60, 61, 60]])  # and a trill that is not in the score
    perf_start = np.concatenate([played[keep], [3.0, 3.05, 3.1]])
    order = rng.permutation(len(perf_pitch))
    match, _ = align(score, beats_q, perf_pitch[order], perf_start[order], beats_s)
    expected = np.full(n, -1)
    expected[keep] = np.argsort(order)[:keep.sum()]
    assert np.array_equal(match, expected)


def test_a_played_file_is_read_against_its_own_grid(tmp_path):
    # a swung jazz line at 120 qpm: off-beats 40 ticks late (of 480), and a pedal
    notes = [N(60 + i % 5, i * 240 + (40 if i % 2 else 0), i * 240 + 200, 50 + i) for i in range(16)]
    path = write_song(tmp_path / "swing.mid", Song(notes, controls=[(0, 0, 64, 127), (1900, 0, 64, 0)]))
    score, performed = self_performed(codec.load_midi(path), "jazz")
    assert np.allclose(score.onset, np.arange(16) * 0.5)  # on the nominal eighth-note grid
    assert np.all(score.velocity == 64)  # a flat score: the file's velocities are the performance
    deviation = performed.onset - performed.time_of(score.onset)
    assert np.allclose(deviation, np.where(np.arange(16) % 2, 40 / 480 * 0.5, 0.0), atol=1e-6)
    assert np.array_equal(performed.velocity, 50 + np.arange(16))
    assert performed.pedal_down is not None and len(performed.pedal_down) == 1
