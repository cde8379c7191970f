"""The MIDI codec: grid, matrices, reading (and refusing) files, writing velocities back."""

import io

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stylenet.core import codec, midifile
from stylenet.core import smf as writer  # `smf` is the fuzzer's raw-file builder here
from stylenet.core.codec import Score, decode, encode, make_score
from stylenet.core.midifile import BeatGrid, MidiReadError
from stylenet.velocity import inputs
from tests.helpers import REAL_DATA, N, Song, needs_real_data, real_data_rows, write_song
from tests.midi_fuzz import conductor, piano, smf

TPB = 480  # ticks per quarter in the fixtures
STEP = TPB // 4  # one 1/16 step
MELODY = [(60 + i % 12, i * 240, i * 240 + 200, 40 + i) for i in range(40)]


def score_of(*notes):
    """notes: (pitch, onset, offset, velocity) in steps."""
    p, on, off, v = (np.array(x, dtype=np.int64) for x in zip(*notes))
    return make_score(p, on, off, v)


# ---------------------------------------------------------------------------- matrix layout, to the bit

def test_encode_layout_onset_held_off_and_velocity_over_duration():
    score = score_of((60, 1, 4, 100))  # middle C struck on step 1, released at step 4
    s, v = encode(score)
    k = 60 - 21
    assert s.shape == (4, 176) and s.dtype == np.uint8
    assert v.shape == (4, 88) and v.dtype == np.float32
    assert s[:, 2 * k].tolist() == [0, 1, 0, 0]  # onset bit only on the strike
    assert s[:, 2 * k + 1].tolist() == [0, 1, 1, 1]  # sounding bit while held
    assert s.sum() == 4  # nothing anywhere else
    assert np.allclose(v[:, k], [0, 100 / 127, 100 / 127, 100 / 127])
    assert np.count_nonzero(v) == 3


def test_extreme_keys_map_to_first_and_last_columns():
    s, v = encode(score_of((21, 0, 1, 1), (108, 0, 1, 127)))
    assert s[0].tolist() == [1, 1] + [0] * 172 + [1, 1]
    assert v[0, 0] == pytest.approx(1 / 127) and v[0, 87] == pytest.approx(1.0)


def test_encode_rejects_notes_off_the_keyboard_and_short_matrices():
    with pytest.raises(ValueError):
        encode(Score(np.array([20]), np.array([0]), np.array([1]), np.array([64])))
    with pytest.raises(ValueError):
        encode(score_of((60, 0, 8, 64)), n_steps=4)


def test_repeated_strike_is_two_notes_not_one_long_one():
    score = score_of((60, 0, 2, 50), (60, 2, 4, 90))
    s, v = encode(score)
    k = 2 * (60 - 21)
    assert s[:, k].tolist() == [1, 0, 1, 0]
    assert decode(s, v) == score
    assert decode(s, v).velocity.tolist() == [50, 90]


# ---------------------------------------------------------------------------- overlaps and zero length

def test_same_pitch_same_onset_merges_loudest_and_longest():
    score = score_of((60, 0, 2, 40), (60, 0, 5, 30), (60, 0, 1, 90))
    assert score.pitch.tolist() == [60] and score.onset.tolist() == [0]
    assert score.offset.tolist() == [5] and score.velocity.tolist() == [90]


def test_held_note_is_released_when_the_key_is_struck_again():
    score = score_of((60, 0, 8, 40), (60, 3, 5, 70))
    assert score.onset.tolist() == [0, 3]
    assert score.offset.tolist() == [3, 5]
    assert score.velocity.tolist() == [40, 70]


def test_zero_length_note_lasts_one_step():
    score = score_of((64, 5, 5, 80))
    assert score.offset.tolist() == [6]


# ---------------------------------------------------------------------------- property-based round trips

notes_strategy = st.lists(
    st.tuples(st.integers(21, 108), st.integers(0, 60), st.integers(0, 12), st.integers(1, 127)),
    min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(notes_strategy)
def test_decode_inverts_encode(raw):
    score = make_score([r[0] for r in raw], [r[1] for r in raw], [r[1] + r[2] for r in raw],
                       [r[3] for r in raw]) if raw else make_score([], [], [], [])
    s, v = encode(score)
    back = decode(s, v)
    assert back == score
    # ... and the matrices of the decoded score are the same matrices, bit for bit
    s2, v2 = encode(back)
    assert np.array_equal(s, s2) and np.array_equal(v, v2)


@settings(max_examples=100, deadline=None)
@given(notes_strategy)
def test_make_score_is_monophonic_per_key_and_order_independent(raw):
    if not raw:
        return
    p, on, dur, v = (list(x) for x in zip(*raw))
    off = [a + b for a, b in zip(on, dur)]
    score = make_score(p, on, off, v)
    rev = make_score(p[::-1], on[::-1], off[::-1], v[::-1])
    assert score == rev
    assert np.all(score.offset > score.onset)
    same = score.pitch[1:] == score.pitch[:-1]
    assert np.all(score.offset[:-1][same] <= score.onset[1:][same])


@settings(max_examples=50, deadline=None)
@given(notes_strategy)
def test_midi_file_round_trip_of_quantised_notes(tmp_path_factory, raw):
    """Notes on the grid -> MIDI file -> load -> quantise gives back the same score."""
    score = make_score([r[0] for r in raw], [r[1] for r in raw], [r[1] + r[2] for r in raw],
                       [r[3] for r in raw]) if raw else make_score([], [], [], [])
    notes = [N(int(p), int(a) * STEP, int(b) * STEP, int(v))
             for p, a, b, v in zip(score.pitch, score.onset, score.offset, score.velocity)]
    path = write_song(tmp_path_factory.mktemp("rt") / "x.mid", Song(notes, tempi=[(0, 100.0), (7 * STEP, 61.0)]))
    assert codec.quantise(midifile.load_midi(path)) == score


# ---------------------------------------------------------------------------- files

def test_tempo_changes_do_not_distort_the_grid(tmp_path):
    # Four 1/8 notes; the tempo halves after two of them. On the beat grid they are still evenly spaced.
    notes = [N(60 + i, i * 2 * STEP, (i + 1) * 2 * STEP, 50 + i) for i in range(4)]
    path = write_song(tmp_path / "rit.mid", Song(notes, tempi=[(0, 120.0), (4 * STEP, 60.0)]))
    piece = midifile.load_midi(path)
    assert piece.start.tolist() == pytest.approx([0.0, 0.25, 0.5, 1.0])  # seconds do stretch
    assert codec.quantise(piece).onset.tolist() == [0, 2, 4, 6]
    assert piece.n_tempo_changes == 2


def test_meters_are_recorded_and_default_to_four_four(tmp_path):
    notes = [N(60, 0, STEP, 64)]
    waltz = midifile.load_midi(write_song(tmp_path / "a.mid", Song(notes, meters=[(0, 3, 4), (12 * STEP, 6, 8)])))
    plain = midifile.load_midi(write_song(tmp_path / "b.mid", Song(notes)))
    assert waltz.meters == ["3/4", "6/8"]
    assert plain.meters == ["4/4"]


def test_off_grid_notes_snap_to_nearest_step(tmp_path):
    notes = [N(60, STEP + 50, 3 * STEP - 70, 64),  # 1.42 -> 1, 2.42 -> 2
             N(62, STEP + 60, STEP + 61, 64)]  # exactly half-way rounds up to 2; zero length -> 1 step
    score = codec.quantise(midifile.load_midi(write_song(tmp_path / "x.mid", Song(notes))))
    assert list(zip(score.pitch, score.onset, score.offset)) == [(60, 1, 2), (62, 2, 3)]


def test_out_of_range_keys_dropped_and_counted(tmp_path):
    notes = [N(20, 0, STEP), N(21, 0, STEP), N(108, 0, STEP), N(109, 0, STEP), N(127, 0, STEP)]
    piece = midifile.load_midi(write_song(tmp_path / "x.mid", Song(notes)))
    assert sorted(piece.pitch.tolist()) == [21, 108]
    assert piece.dropped_out_of_range == 3


def test_format_0_and_1_give_the_same_score(tmp_path):
    song = Song([N(60, 0, 4 * STEP, 30), N(36, STEP, 2 * STEP, 90, channel=1), N(38, 0, STEP, 100, channel=9)],
                programs={1: 0})
    a = codec.quantise(midifile.load_midi(write_song(tmp_path / "f0.mid", song, fmt=0)))
    b = codec.quantise(midifile.load_midi(write_song(tmp_path / "f1.mid", song, fmt=1)))
    assert a == b
    assert sorted(a.pitch.tolist()) == [36, 60]  # drums (channel 10) are not piano


def test_only_piano_programs_count(tmp_path):
    song = Song([N(60, 0, STEP, 64, channel=0), N(40, 0, STEP, 64, channel=1), N(72, 0, STEP, 64, channel=2)],
                programs={0: 0, 1: 33, 2: 4})  # grand piano, fingered bass, electric piano
    assert sorted(midifile.load_midi(write_song(tmp_path / "x.mid", song)).pitch.tolist()) == [60, 72]
    assert midifile.load_midi(tmp_path / "x.mid", programs=(33,)).pitch.tolist() == [40]


def test_file_without_piano_notes_has_no_notes(tmp_path):
    song = Song([N(38, 0, STEP, 100, channel=9), N(42, STEP, 2 * STEP, 80, channel=9)])
    piece = midifile.load_midi(write_song(tmp_path / "drums.mid", song))
    assert piece.n_notes == 0
    s, v = encode(codec.quantise(piece))
    assert s.shape == (0, 176) and v.shape == (0, 88)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"RIFF....not midi", "not a Standard MIDI File"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x40\x00\x90", "unreadable MIDI"),
])
def test_bad_files_raise_one_line_reasons(tmp_path, content, reason):
    path = tmp_path / "bad file (1).mid"
    path.write_bytes(content)
    with pytest.raises(MidiReadError) as err:
        midifile.load_midi(path)
    assert reason in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_file_is_a_read_error(tmp_path):
    good = write_song(tmp_path / "g.mid", Song([N(60 + i % 12, i * STEP, (i + 1) * STEP) for i in range(50)]))
    cut = tmp_path / "cut.mid"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(MidiReadError, match="unreadable MIDI"):
        midifile.load_midi(cut)


# ---------------------------------------------------------------------------- grid

def test_beat_grid_maps_steps_and_seconds_both_ways():
    grid = BeatGrid(4, np.array([0.0, 2.0]), np.array([0.0, 4.0]), np.array([120.0, 60.0]), 480)
    steps = np.arange(0, 40)
    assert np.array_equal(grid.seconds_to_steps(grid.steps_to_seconds(steps)), steps)
    assert grid.steps_to_seconds([16, 20]).tolist() == [2.0, 3.0]  # one beat at 60 qpm is one second


def test_score_to_midi_decodes_to_the_same_score(tmp_path):
    score = score_of((60, 0, 4, 30), (64, 2, 3, 90), (67, 5, 9, 127))
    pm = codec.score_to_midi(score)
    path = tmp_path / "q.mid"
    path.write_bytes(writer.midi_bytes(pm))
    assert codec.quantise(midifile.load_midi(path)) == score


# ---------------------------------------------------------------------------- applying velocities

def _events(data_or_path):
    mid = mido.MidiFile(file=io.BytesIO(data_or_path)) if isinstance(data_or_path, bytes) else mido.MidiFile(data_or_path)
    return mid, [[(m.dict(), m.time) for m in track] for track in mid.tracks]


def test_apply_velocities_changes_piano_note_velocities_and_nothing_else(tmp_path):
    # Off-grid piano notes (the player's own timing), a pedal, a drum track, a bass, tempo and meter changes,
    # a text event: all must survive untouched.
    song = Song([N(60, 10, 500, 30), N(64, 130, 131, 40), N(67, 250, 900, 50), N(19, 0, 100, 70),
                 N(38, 0, 60, 100, channel=9), N(40, 0, 480, 90, channel=1)],
                tempi=[(0, 90.0), (300, 140.0)], meters=[(0, 3, 4)], programs={0: 0, 1: 33},
                controls=[(5, 0, 64, 127), (700, 0, 64, 0)], text=[(0, "hello")])
    path = write_song(tmp_path / "in.mid", song)
    before = path.read_bytes()
    piece = midifile.load_midi(path)
    velocity = np.zeros((20, 88), dtype=np.float32)
    velocity[0, 60 - 21] = 100 / 127  # 10 ticks -> step 0
    velocity[1, 64 - 21] = 0.0  # 130 ticks -> step 1; 0 clips to velocity 1, never a note-off
    velocity[2, 67 - 21] = 2.0  # 250 -> step 2; above 1 clips to 127
    out = codec.apply_velocities(piece, velocity)
    assert path.read_bytes() == before  # input untouched
    a, ea = _events(path)
    b, eb = _events(out)
    assert (a.type, a.ticks_per_beat, len(a.tracks)) == (b.type, b.ticks_per_beat, len(b.tracks))
    changed = {}
    for ta, tb in zip(ea, eb):
        assert len(ta) == len(tb)
        for (ma, time_a), (mb, time_b) in zip(ta, tb):
            assert time_a == time_b
            if ma != mb:
                assert ma["type"] == mb["type"] == "note_on" and set(ma) == set(mb)
                assert {k for k in ma if ma[k] != mb[k]} == {"velocity"}
                changed[ma["note"]] = mb["velocity"]
    assert changed == {60: 100, 64: 1, 67: 127}  # pitch 19 (off the keyboard), drums and bass kept


def test_apply_velocities_on_a_format_0_file(tmp_path):
    song = Song([N(60, 0, STEP, 30), N(38, 0, STEP, 100, channel=9)])
    piece = midifile.load_midi(write_song(tmp_path / "f0.mid", song, fmt=0))
    out = mido.MidiFile(file=io.BytesIO(codec.apply_velocities(piece, np.full((1, 88), 0.5))))
    assert out.type == 0
    ons = {(m.channel, m.note): m.velocity for m in out.tracks[0] if m.type == "note_on" and m.velocity}
    assert ons == {(0, 60): 64, (9, 38): 100}


def test_a_header_that_lies_about_its_format_is_written_back_true(tmp_path):
    path = write_song(tmp_path / "f.mid", Song([N(60, 0, STEP, 30), N(64, STEP, 2 * STEP, 50)]), fmt=0)
    data = path.read_bytes()
    path.write_bytes(data[:8] + b"\xff\xff" + data[10:])  # format 65535: mido reads it anyway
    piece = midifile.load_midi(path)
    written = codec.apply_velocities(piece, np.full((2, 88), 0.5))
    assert written[8:10] == b"\x00\x00" and mido.MidiFile(file=io.BytesIO(written)).type == 0


def test_piano_only_format0_keeps_piano_channels_and_meta(tmp_path):
    song = Song([N(60, 0, STEP, 30), N(38, 0, STEP, 100, channel=9), N(40, 0, STEP, 90, channel=1)],
                programs={1: 33}, meters=[(0, 6, 8)], controls=[(0, 0, 64, 127)], text=[(0, "lyrics")])
    piece = midifile.load_midi(write_song(tmp_path / "x.mid", song))
    out = mido.MidiFile(file=io.BytesIO(writer.piano_only_format0(piece)))
    assert out.type == 0 and len(out.tracks) == 1
    types = [m.type for m in out.tracks[0]]
    assert "time_signature" in types and "set_tempo" in types and "control_change" in types
    assert "text" not in types
    notes = [m.note for m in out.tracks[0] if m.type == "note_on"]
    assert notes == [60]
    path = tmp_path / "p.mid"
    path.write_bytes(writer.piano_only_format0(piece))
    assert codec.quantise(midifile.load_midi(path)) == codec.quantise(piece)


# ------------------------------------------------------------------------------------------ metre

def test_metre_features_mark_downbeats_beats_and_subbeats_of_each_meter():
    # 3/4 for one 12-step bar, then 6/8 (two dotted-quarter beats of three eighths) for two bars
    features = inputs.metre_features(np.array([[0, 3, 4], [12, 6, 8]]), 36)
    downbeat, beat, subbeat = features[:, 0], features[:, 1], features[:, 2]
    assert np.flatnonzero(downbeat).tolist() == [0, 12, 24]
    assert np.flatnonzero(beat).tolist() == [0, 4, 8, 12, 18, 24, 30]
    assert np.flatnonzero(subbeat).tolist() == [0, 2, 4, 6, 8, 10] + list(range(12, 36, 2))
    # bar phase: step 3 of a 12-step 3/4 bar is a quarter of the way round
    np.testing.assert_allclose(features[3, 3:], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(features[12 + 6, 3:], [0.0, -1.0], atol=1e-6)  # half-way through a 6/8 bar
    assert features.dtype == np.float32 and features.shape == (36, len(inputs.METRE_CHANNELS))


def test_metre_defaults_to_four_four_before_the_first_meter_and_without_any():
    none = inputs.metre_features(np.zeros((0, 3)), 40)
    assert np.flatnonzero(none[:, 0]).tolist() == [0, 16, 32]
    assert np.flatnonzero(none[:, 1]).tolist() == list(range(0, 40, 4))
    late = inputs.metre_features(np.array([[20, 2, 4]]), 40)  # 4/4 until step 20, then bars of 8 steps
    assert np.flatnonzero(late[:, 0]).tolist() == [0, 16, 20, 28, 36]


def test_metre_at_a_finer_grid_and_in_compound_twelve_eight():
    features = inputs.metre_features(np.array([[0, 12, 8]]), 48, steps_per_quarter=8)  # bar = 6 quarters
    assert np.flatnonzero(features[:, 0]).tolist() == [0]
    assert np.flatnonzero(features[:, 1]).tolist() == [0, 12, 24, 36]  # four dotted-quarter beats


def test_meter_map_reads_signatures_at_their_grid_steps(tmp_path):
    path = write_song(tmp_path / "m.mid", Song([N(60, 0, 480)], meters=[(0, 3, 4), (1440, 6, 8), (2880, 4, 4)]))
    assert midifile.load_midi(path).meter_map().tolist() == [[0, 3, 4], [12, 6, 8], [24, 4, 4]]
    plain = write_song(tmp_path / "p.mid", Song([N(60, 0, 480)]))
    assert midifile.load_midi(plain).meter_map().shape == (0, 3)


def test_encode_input_appends_optional_channels_after_the_score_columns():
    score = np.zeros((16, codec.SCORE_COLUMNS), np.uint8)
    score[0, 0:2] = 1
    plain = inputs.encode_input(score)
    assert plain.shape == (16, 176) and plain.dtype == np.float32 and plain[0, 0] == 1
    with_metre = inputs.encode_input(score, np.array([[0, 4, 4]]), ["metre"])
    assert with_metre.shape == (16, inputs.input_columns(["metre"])) == (16, 181)
    np.testing.assert_array_equal(with_metre[:, :176], plain)
    np.testing.assert_array_equal(with_metre[:, 176:], inputs.metre_features(np.array([[0, 4, 4]]), 16))
    with pytest.raises(ValueError, match="unknown model input"):
        inputs.encode_input(score, None, ["chords"])


def test_riff_wrapped_midi_is_read_as_the_midi_inside(tmp_path):
    data = smf([conductor(), piano(MELODY)])
    wrapped = b"RIFF" + (4 + 8 + len(data)).to_bytes(4, "little") + b"RMID" + b"data" + len(data).to_bytes(4, "little") + data
    assert midifile.load_midi("x.rmi", data=wrapped).n_notes == midifile.load_midi("x.mid", data=data).n_notes == 40


def test_a_piece_over_the_step_limit_is_refused_before_its_grid_exists(tmp_path, monkeypatch):
    piece = midifile.load_midi(write_song(tmp_path / "s.mid", Song([N(60, 0, 480), N(62, 480 * 100, 480 * 101)])))
    monkeypatch.setattr(midifile, "MAX_STEPS", 400)  # the piece is 404 steps
    monkeypatch.setattr(codec, "encode", lambda *a: pytest.fail("encode must not be reached"))
    with pytest.raises(midifile.MidiReadError, match=r"too long: the piano part lasts 101 quarter notes \(404 grid"):
        codec.quantise(piece)


@needs_real_data
def test_a_real_file_keeps_every_event_but_its_velocities(tmp_path):
    path = REAL_DATA / next(r["path"] for r in real_data_rows() if r["genre"] == "jazz")
    piece = midifile.load_midi(path)
    _, velocity = codec.encode(codec.quantise(piece))
    out = mido.MidiFile(file=io.BytesIO(codec.apply_velocities(piece, velocity * 0.5)))
    original = mido.MidiFile(path)
    for a, b in zip(original.tracks, out.tracks):
        assert len(a) == len(b)
        for ma, mb in zip(a, b):
            if ma.type == "note_on" and ma.velocity and ma != mb:
                assert ma.copy(velocity=mb.velocity) == mb
            else:
                assert ma == mb


def test_voice_channels_flag_the_top_and_bottom_sounding_keys():
    score = np.zeros((4, 176), np.uint8)
    for step, keys in {0: [10, 40, 70], 1: [40], 3: [5, 6]}.items():  # step 2: silence
        for key in keys:
            score[step, 2 * key + 1] = 1
    score[0, 2 * 70] = 1  # an onset flag alone does not make a key sound: the held column does
    voices = inputs.voice_channels(score)
    top, bottom = voices[:, :88], voices[:, 88:]
    assert [list(np.flatnonzero(row)) for row in top] == [[70], [40], [], [6]]
    assert [list(np.flatnonzero(row)) for row in bottom] == [[10], [40], [], [5]]
    assert voices.dtype == np.float32


def test_voice_is_computed_by_the_network_not_stored_with_the_data():
    assert inputs.input_columns(["voice"]) == 176 and inputs.network_columns(["voice"]) == 352
    assert inputs.network_columns(["metre", "voice"]) == 176 + 5 + 176
    assert inputs.input_channels(None, 8, ["voice"]) is None
    x = np.zeros((8, 176), np.float32)
    assert inputs.with_derived(x, ["voice"]).shape == (8, 352) and inputs.with_derived(x, []).shape == (8, 176)


def test_shifting_keys_moves_every_column_of_a_key_and_drops_what_leaves_the_keyboard():
    score = np.zeros((3, codec.SCORE_COLUMNS), np.uint8)
    score[0, 2 * 10:2 * 10 + 2] = 1  # key 10 struck
    score[1, 2 * 87 + 1] = 1  # the top key held
    up = codec.shift_keys(score, 2)
    expected = np.zeros_like(score)
    expected[0, 2 * 12:2 * 12 + 2] = 1  # the top key went off the keyboard
    np.testing.assert_array_equal(up, expected)
    np.testing.assert_array_equal(codec.shift_keys(up, -2), np.where(np.arange(176) < 2 * 86, score, 0))
    velocity = np.arange(3 * midifile.N_KEYS, dtype=np.float32).reshape(3, midifile.N_KEYS)
    down = codec.shift_keys(velocity, -3)
    np.testing.assert_array_equal(down[:, :85], velocity[:, 3:])
    assert not down[:, 85:].any()
    shifted = codec.shift_keys(score, 0)
    assert shifted is not score and np.array_equal(shifted, score)
    assert not codec.shift_keys(score, 88).any() and not codec.shift_keys(velocity, -100).any()
