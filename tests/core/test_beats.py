"""beats.py: reading beat annotations, and the grid that puts a recorded performance on its beats."""

from __future__ import annotations

import mido
import numpy as np
import pretty_midi
import pytest

from stylenet.core import codec, midifile
from stylenet.core.beats import Beats, BeatsError, beat_map, beats_beside, conform, conformed_midi, read_annotations
from stylenet.velocity import inputs
from tests.helpers import annotation_text, recording, rubato_beats


def beat_ticks_of(midi_path, times) -> np.ndarray:
    pm = pretty_midi.PrettyMIDI(str(midi_path))
    return np.array([pm.time_to_tick(t) for t in times])


# --------------------------------------------------------------------------------------------------
# Reading annotations


def test_read_annotations_takes_beats_downbeats_meters_and_ignores_keys(tmp_path):
    path = tmp_path / "p_annotations.txt"
    path.write_text("0.5\t0.5\tb,,0\n1.0\t1.0\tdb,3/4,-2\n1.5\t1.5\tb\n2.0\t2.0\tb\n2.6\t2.6\tdb\n"
                    "3.1\t3.1\tdb,6/8\n3.9\t3.9\tb\n")
    beats = read_annotations(path)
    np.testing.assert_array_equal(beats.times, [0.5, 1.0, 1.5, 2.0, 2.6, 3.1, 3.9])
    np.testing.assert_array_equal(beats.downbeat, [0, 1, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(beats.meters, [[1, 3, 4], [5, 6, 8]])
    np.testing.assert_array_equal(beats.beat_quarters(), [1, 1, 1, 1, 1, 1.5, 1.5])  # MIDI's 4/4 before the first


@pytest.mark.parametrize("text, reason", [
    ("0.5\t0.5\tb\nsoon\tsoon\tb\n", "line 2: expected a time in seconds"),
    ("0.5\t0.5\tb\n1.0\t1.0\tx\n", "line 2: label 'x' is neither 'b' nor 'db'"),
    ("0.5\t0.5\tdb,3/5\n1.0\t1.0\tb\n", "line 1: impossible time signature '3/5'"),
    ("0.5\t0.5\tdb,three/4\n1.0\t1.0\tb\n", "line 1: unreadable time signature"),
    ("0.5\t0.5\tb\n0.5\t0.5\tb\n", "beat 2 (0.500 s) does not come after the one before"),
    ("0.5\t0.5\tb\n", "needs at least 2 beats, found 1"),
    ("", "needs at least 2 beats, found 0"),
])
def test_a_bad_annotation_is_one_line_naming_the_file(tmp_path, text, reason):
    path = tmp_path / "bad_annotations.txt"
    path.write_text(text)
    with pytest.raises(BeatsError) as caught:
        read_annotations(path)
    assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_annotation_says_it_cannot_be_read(tmp_path):
    with pytest.raises(BeatsError, match="cannot read beat annotations"):
        read_annotations(tmp_path / "none.txt")


def test_the_annotation_beside_a_performance_is_asaps_name(tmp_path):
    assert beats_beside(tmp_path / "Shi05M.mid") == tmp_path / "Shi05M_annotations.txt"


# --------------------------------------------------------------------------------------------------
# The beat map


def test_every_beat_gets_its_meters_length_and_bars_start_on_downbeats():
    # 1-beat pickup in 3/4, two bars, then 6/8 (dotted-quarter beats), then 3/8 (eighth-note beats)
    labels = ["b", "db", "b", "b", "db", "b", "b", "db", "b", "db", "b", "db", "b", "b", "db"]
    meters = [(1, 3, 4), (7, 6, 8), (11, 3, 8)]
    beats = Beats(np.arange(len(labels)) * 0.5 + 0.4, [lab == "db" for lab in labels], meters)
    mapped = beat_map(beats)
    tpq = mapped.ticks_per_quarter
    lengths = np.diff(mapped.beat_ticks) / tpq
    np.testing.assert_array_equal(lengths, [1] * 7 + [1.5] * 4 + [0.5] * 3)
    first_downbeat = mapped.beat_ticks[1]
    assert first_downbeat % (3 * tpq) == 0  # the pickup sits before a full bar line
    np.testing.assert_array_equal(mapped.meter_ticks, [[0, 3, 4], [mapped.beat_ticks[7], 6, 8],
                                                       [mapped.beat_ticks[11], 3, 8]])


def test_a_bar_of_the_wrong_length_restarts_the_bar_count_on_its_downbeat():
    labels = ["db", "b", "b", "b", "b", "db", "b", "b", "b", "db"]  # a 5-beat bar in 4/4
    beats = Beats(np.arange(10) * 0.5 + 0.5, [lab == "db" for lab in labels], [(0, 4, 4)])
    mapped = beat_map(beats)
    np.testing.assert_array_equal(mapped.meter_ticks[:, 0], [0, mapped.beat_ticks[5]])
    meters = mapped.meter_map(4)
    features = inputs.metre_features(meters, int(mapped.beat_ticks[-1] * 4 // mapped.ticks_per_quarter) + 1)
    downbeat_steps = mapped.beat_ticks[[0, 5, 9]] * 4 // mapped.ticks_per_quarter
    assert features[downbeat_steps, 0].tolist() == [1, 1, 1]


def test_tempo_rounding_never_drifts_from_the_beats():
    times = rubato_beats(3000, seed=3)
    mapped = beat_map(Beats(times, np.arange(3000) % 4 == 0, [(0, 4, 4)]))
    written = mapped.grid().ticks_to_seconds(mapped.beat_ticks)
    assert np.abs(written - times).max() < 2e-6


def test_a_beat_midi_cannot_write_is_refused():
    with pytest.raises(BeatsError, match="needs a tempo MIDI cannot write"):
        beat_map(Beats([0.5, 40.0], [True, False], [(0, 4, 4)]))


# --------------------------------------------------------------------------------------------------
# Conformed files


@pytest.fixture
def performance(tmp_path):
    """A recorded 3/4 piece with a pickup, rubato and a fermata; notes on 16ths of its beats; pedal."""
    n_beats = 40
    times = rubato_beats(n_beats)
    labels = ["b"] + ["db" if (i - 1) % 3 == 0 else "b" for i in range(1, n_beats)]
    labels[1] = "db,3/4"
    annotation = tmp_path / "take_annotations.txt"
    annotation.write_text(annotation_text(times, labels))
    positions = np.arange(0, n_beats - 1, 0.25)
    midi, note_times = recording(tmp_path / "take.mid", times, positions, pedal=[(2.0, 127), (5.5, 0)])
    return midi, annotation, times, positions, note_times


def test_a_conformed_file_keeps_every_event_within_a_millisecond(performance, tmp_path):
    midi, annotation, _, _, _ = performance
    piece = midifile.load_midi(midi)
    out = tmp_path / "out.mid"
    out.write_bytes(conformed_midi(piece, read_annotations(annotation)))
    before, after = pretty_midi.PrettyMIDI(str(midi)), pretty_midi.PrettyMIDI(str(out))
    old = sorted((n.start, n.end, n.pitch, n.velocity) for n in before.instruments[0].notes)
    new = sorted((n.start, n.end, n.pitch, n.velocity) for n in after.instruments[0].notes)
    assert [o[2:] for o in old] == [n[2:] for n in new]
    assert np.abs(np.array([o[:2] for o in old]) - np.array([n[:2] for n in new])).max() < 0.001
    pedal_old = [(c.time, c.value) for c in before.instruments[0].control_changes]
    pedal_new = [(c.time, c.value) for c in after.instruments[0].control_changes]
    assert [v for _, v in pedal_old] == [v for _, v in pedal_new]
    assert np.abs(np.subtract([t for t, _ in pedal_old], [t for t, _ in pedal_new])).max() < 0.001


def test_every_annotated_beat_lands_on_a_beat_tick_and_meters_where_annotated(performance, tmp_path):
    midi, annotation, times, _, _ = performance
    out = tmp_path / "out.mid"
    out.write_bytes(conformed_midi(midifile.load_midi(midi), read_annotations(annotation)))
    tpq = mido.MidiFile(out).ticks_per_beat
    ticks = beat_ticks_of(out, times)
    assert np.all(ticks % tpq == 0) and np.all(np.diff(ticks) == tpq)
    assert ticks[1] % (3 * tpq) == 0  # the first downbeat starts a 3/4 bar: the pickup is one beat
    meters = [(m.time, m.numerator, m.denominator) for m in pretty_midi.PrettyMIDI(str(out)).time_signature_changes]
    assert meters == [(0.0, 3, 4)]
    tempi = [m for m in mido.MidiFile(out).tracks[0] if m.type == "set_tempo"]
    assert len(tempi) == len(times) + 1  # the lead-in, then one per beat


def test_notes_quantise_on_the_beats_they_were_played_on(performance):
    midi, annotation, _, positions, _ = performance
    nominal = codec.quantise(midifile.load_midi(midi))
    piece = conform(midifile.load_midi(midi), read_annotations(annotation))
    score = codec.quantise(piece)
    mapped = beat_map(read_annotations(annotation))
    first_beat_step = mapped.beat_ticks[0] * 4 // mapped.ticks_per_quarter
    expected = np.sort(first_beat_step + np.rint(positions * 4).astype(int))
    np.testing.assert_array_equal(np.sort(score.onset), expected)
    assert not np.array_equal(np.sort(nominal.onset), expected)  # the file's own grid reads nonsense
    np.testing.assert_array_equal(piece.meter_map(), [[0, 3, 4]])


def test_velocities_written_on_beats_go_to_the_notes_of_the_original_file(performance, tmp_path):
    midi, annotation, _, _, _ = performance
    piece = conform(midifile.load_midi(midi), read_annotations(annotation))
    score = codec.quantise(piece)
    matrix = np.zeros((score.n_steps, midifile.N_KEYS))
    matrix[score.onset, score.pitch - midifile.LOWEST_KEY] = (1 + score.onset % 100) / 127.0  # velocity names the step
    out = tmp_path / "performed.mid"
    out.write_bytes(codec.apply_velocities(piece, matrix))
    original, performed = mido.MidiFile(midi), mido.MidiFile(out)
    assert performed.ticks_per_beat == original.ticks_per_beat
    for a, b in zip(original.tracks, performed.tracks):
        assert [(m.type, m.time) for m in a] == [(m.type, m.time) for m in b]  # timing untouched
    written = sorted((n.pitch, round(n.start, 6), n.velocity) for n in pretty_midi.PrettyMIDI(str(out)).instruments[0].notes)
    expected = sorted((int(p), round(float(t), 6), int(1 + s % 100)) for p, t, s in
                      zip(score.pitch, piece.grid.steps_to_seconds(score.onset), score.onset))
    assert [w[2] for w in written] == [e[2] for e in sorted(expected, key=lambda e: (e[0], e[1]))]
