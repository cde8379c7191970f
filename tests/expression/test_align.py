"""Score-to-performance alignment (expression/align.py): beats, per-key assignment, raw files' own grid."""

import numpy as np

from stylenet.core import midifile
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
    score, performed = self_performed(midifile.load_midi(path), "jazz")
    assert np.allclose(score.onset, np.arange(16) * 0.5)  # on the nominal eighth-note grid
    assert np.all(score.velocity == 64)  # a flat score: the file's velocities are the performance
    deviation = performed.onset - performed.time_of(score.onset)
    assert np.allclose(deviation, np.where(np.arange(16) % 2, 40 / 480 * 0.5, 0.0), atol=1e-6)
    assert np.array_equal(performed.velocity, 50 + np.arange(16))
    assert performed.pedal_down is not None and len(performed.pedal_down) == 1


def test_an_asap_pair_on_disk_is_aligned_and_its_rubato_read_back(tmp_path):
    """A work's midi_score.mid and a performance of it with their beat annotations, as ASAP lays them out."""
    from stylenet.expression.align import align_asap
    from stylenet.expression.notes import beat_tempo, targets
    from tests.helpers import annotation_text, recording, rubato_beats

    folder = tmp_path / "Composer" / "Work"
    rng = np.random.default_rng(4)
    positions = np.arange(0, 15, 0.5)
    pitches = rng.integers(40, 90, len(positions))
    score_beats = 0.5 * np.arange(16)
    recording(folder / "midi_score.mid", score_beats, positions, pitches=pitches, velocities=np.full(30, 80))
    played = rubato_beats(16, seed=3)
    recording(folder / "Take.mid", played, positions, pitches=pitches, velocities=rng.integers(30, 100, 30))
    labels = ["db,2/4" if i == 0 else "db" if i % 2 == 0 else "b" for i in range(16)]
    (folder / "midi_score_annotations.txt").write_text(annotation_text(score_beats, labels))
    (folder / "Take_annotations.txt").write_text(annotation_text(played, labels))
    row = {"folder": "Composer/Work", "midi": str(folder / "Take.mid"), "annotations": str(folder / "Take_annotations.txt")}
    score, performed, report = align_asap(row, tmp_path)
    assert report.matched == report.score_notes == 30 and report.median_offset < 0.002
    values, masks = targets(score, performed)
    assert masks[:, 1].sum() == 28  # the fermata's two notes (a beat 8 times the score's) teach no tempo
    expected = beat_tempo(score, performed.beat_quarters, performed.beat_seconds)  # per beat, from the files
    written = np.log2(np.diff(played) / 0.5)
    assert np.allclose(expected, written - np.median(written), atol=0.01)
