"""The expression network's output written into MIDI (expression/realise.py), checked to the tick on
hand-made scores: a ritardando, a swung line, a chord with a melody note, pedal on and off, a tempo-map
export read back by pretty_midi, and a band file where nothing but the piano changes."""

import mido
import numpy as np
import pretty_midi
import pytest

from stylenet.core import midifile
from stylenet.expression.notes import TARGETS, score_notes
from stylenet.expression.realise import Expression, piano_note_events, plan, write
from tests.helpers import N, Song, write_song

TPQ = 480  # the songs' resolution; at 120 qpm a second is 960 ticks


def _read(path):
    piece = midifile.load_midi(path)
    return piece, score_notes(piece)


def _predicted(score, **columns):
    out = np.zeros((score.n_notes, len(TARGETS)))
    for name, values in columns.items():
        out[:, TARGETS.index(name)] = values
    return out


def _notes(data: bytes, tmp_path):
    path = tmp_path / "out.mid"
    path.write_bytes(data)
    pm = pretty_midi.PrettyMIDI(str(path))
    return pm, sorted(((pm.time_to_tick(n.start), pm.time_to_tick(n.end), n.pitch, n.velocity)
                       for i in pm.instruments for n in i.notes))


def test_a_ritardando_stretches_the_last_beats_and_keeps_the_length(tmp_path):
    song = Song([N(60 + i, i * TPQ, (i + 1) * TPQ) for i in range(8)], meters=[(0, 4, 4)])
    piece, score = _read(write_song(tmp_path / "rit.mid", song))
    tempo = np.where(np.arange(8) < 6, 0.0, 1.0)  # the last two beats twice as long as the others
    p = plan(piece, score, _predicted(score, tempo=tempo), Expression(articulation=0.0, pedal="off"))
    # 8 beats of 0.5 s = 4 s kept: six of 0.4 s and two of 0.8 s
    assert np.allclose(p.start, [0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 3.2])
    _, notes = _notes(write(piece, p, score), tmp_path)
    assert [n[0] for n in notes] == [0, 384, 768, 1152, 1536, 1920, 2304, 3072]
    assert notes[6][1] == 3072 and notes[7][1] == 3840  # each held its (new) written length


def test_a_swung_line_and_a_melody_lead(tmp_path):
    line = [N(60 + i % 3, i * 240, i * 240 + 240) for i in range(8)]  # straight eighths
    chord = [N(48, 1920, 2880), N(52, 1920, 2880), N(76, 1920, 2880)]  # and a chord with a melody note on top
    piece, score = _read(write_song(tmp_path / "swing.mid", Song(line + chord)))
    onset = np.zeros(score.n_notes)
    offbeat = (score.onset % 1) == 0.5
    onset[offbeat] = 1 / 12  # a third of a beat at 0.5 s a beat: 2:1 swing
    onset[score.pitch == 76] = -0.02  # the melody 20 ms ahead
    p = plan(piece, score, _predicted(score, onset=onset), Expression(articulation=0.0, pedal="off"))
    _, notes = _notes(write(piece, p, score), tmp_path)
    starts = {(n[2], n[0]) for n in notes}
    assert sorted(t for k, t in starts if k >= 60 and t < 1900) == [0, 320, 480, 800, 960, 1280, 1440, 1760]
    assert (76, 1920 - 19) in starts and (48, 1920) in starts and (52, 1920) in starts
    assert len(notes) == 11


def test_pedal_added_changed_and_lifted_and_a_files_own_pedal_kept_or_removed(tmp_path):
    song = Song([N(48 + 4 * i, i * TPQ, (i + 1) * TPQ) for i in range(4)])
    piece, score = _read(write_song(tmp_path / "p.mid", song))
    pedal = np.array([1.0, 1.0, 0.0, 0.0])
    lift = np.array([0.0, 1.0, 0.0, 0.0])
    p = plan(piece, score, _predicted(score, pedal=pedal, lift=lift), Expression(0.0, 0.0, "add"))
    # down just after the first chord; changed at the second (up as it sounds, down again); up at the third
    assert p.pedal == [(58, 127), (480, 0), (538, 127), (960, 0)]
    path = tmp_path / "added.mid"
    path.write_bytes(write(piece, p, score))
    cc = [(m.time, m.value) for m in _absolute(path) if m.type == "control_change"]
    assert cc == [(58, 127), (480, 0), (538, 127), (960, 0)]

    owned = write_song(tmp_path / "own.mid", Song(song.notes, controls=[(10, 0, 64, 127), (1500, 0, 64, 0)]))
    piece, score = _read(owned)
    for mode, expected in (("auto", [(10, 127), (1500, 0)]), ("keep", [(10, 127), (1500, 0)]), ("off", [])):
        p = plan(piece, score, _predicted(score, pedal=pedal), Expression(0.0, 0.0, mode))
        path.write_bytes(write(piece, p, score))
        assert [(m.time, m.value) for m in _absolute(path) if m.type == "control_change"] == expected, mode


def _absolute(path):
    out = []
    for track in mido.MidiFile(path).tracks:
        now = 0
        for m in track:
            now += m.time
            out.append(m.copy(time=now))
    return out


def test_a_tempo_map_export_keeps_the_ticks_and_the_bar_lines(tmp_path):
    song = Song([N(60 + i % 12, i * TPQ, (i + 1) * TPQ) for i in range(16)], meters=[(0, 3, 4)])
    piece, score = _read(write_song(tmp_path / "bars.mid", song))
    tempo = np.sin(np.arange(16) / 3.0) * 0.5
    p = plan(piece, score, _predicted(score, tempo=tempo), Expression(articulation=0.0, pedal="off", timing_as="tempo"))
    pm, notes = _notes(write(piece, p, score), tmp_path)
    assert [n[0] for n in notes] == [i * TPQ for i in range(16)]  # every note on its tick
    assert [pm.time_to_tick(t) for t in pm.get_downbeats()] == [0, 1440, 2880, 4320, 5760, 7200]  # bars of 3/4
    assert len(pm.get_tempo_changes()[0]) == 16  # a tempo a beat
    starts = sorted(n.start for n in pm.instruments[0].notes)
    assert np.allclose(starts, p.start, atol=2e-3)  # the rubato is in the seconds
    assert not np.allclose(np.diff(starts), 0.5, atol=0.01)


def test_nothing_is_lost_in_a_band_file(tmp_path):
    rng = np.random.default_rng(3)
    piano = [N(int(rng.integers(40, 80)), int(t), int(t) + int(rng.integers(60, 900)), 100) for t in
             np.sort(rng.integers(0, 8000, 120))]
    piano += [N(60, 100, 700), N(60, 400, 900)]  # two overlapping notes of one key
    band = [N(36, i * TPQ, i * TPQ + 400, 100, channel=1) for i in range(16)]
    drums = [N(38, i * 240, i * 240 + 60, 90, channel=9) for i in range(32)]
    path = write_song(tmp_path / "band.mid", Song(piano + band + drums, programs={0: 0, 1: 33},
                                                  controls=[(0, 0, 7, 100), (0, 1, 64, 127)]))
    piece, score = _read(path)
    predicted = _predicted(score, tempo=rng.normal(0, 0.3, score.n_notes), onset=rng.normal(0, 0.05, score.n_notes),
                           duration=rng.normal(0, 1, score.n_notes), pedal=rng.random(score.n_notes),
                           lift=rng.random(score.n_notes))
    for how in ("notes", "tempo"):
        p = plan(piece, score, predicted, Expression(timing_as=how))
        out = tmp_path / f"out-{how}.mid"
        out.write_bytes(write(piece, p, score))
        before, after = mido.MidiFile(path), mido.MidiFile(out)
        assert len(before.tracks) == len(after.tracks)
        for t in (2, 3):  # the bass and the drums, event for event
            assert [(m.type, m.time, getattr(m, "note", None)) for m in _absolute_track(before.tracks[t])] == \
                   [(m.type, m.time, getattr(m, "note", None)) for m in _absolute_track(after.tracks[t])]
        again = midifile.load_midi(out)
        assert sorted(again.pitch.tolist()) == sorted(piece.pitch.tolist())  # every piano note once
        events, kept = piano_note_events(again)
        assert len(events) == again.n_notes and not kept  # every note-on ended, each by its own note-off
        assert len({(t, off) for t, _, off, _, _, _ in events}) == len(events)
        for key in np.unique(again.pitch):  # on one key: never overlapping, never swapped
            starts = np.sort(again.start[again.pitch == key])
            ends = again.end[again.pitch == key][np.argsort(again.start[again.pitch == key])]
            assert np.all(ends[:-1] <= starts[1:] + 1e-9)
        assert p.rubato == (how == "tempo")  # moved notes keep a band's beat


def _absolute_track(track):
    now, out = 0, []
    for m in track:
        now += m.time
        out.append(m.copy(time=now))
    return out


@pytest.mark.parametrize("n", [0, 1])
def test_an_empty_or_one_note_score(tmp_path, n):
    piece, score = _read(write_song(tmp_path / "one.mid", Song([N(60, 0, 480)][:n] or [N(20, 0, 480)])))
    p = plan(piece, score, _predicted(score), Expression())
    _, notes = _notes(write(piece, p, score), tmp_path)
    assert len([x for x in notes if 21 <= x[2] <= 108]) == n


def test_odd_note_events_keep_their_meaning(tmp_path):
    """Notes as pretty_midi reads them: one note-off ending three notes of a key, a note begun and ended at
    one tick (no note), a note never ended (no note); the moved file reads back with the same notes."""
    track = mido.MidiTrack()
    events = [(0, "note_on", 64, 80), (120, "note_on", 64, 90), (240, "note_on", 64, 100), (480, "note_off", 64, 0),
              (600, "note_on", 62, 70), (600, "note_off", 62, 0), (720, "note_on", 60, 70), (960, "note_off", 60, 0),
              (1200, "note_on", 67, 50)]
    last = 0
    for tick, kind, key, velocity in events:
        track.append(mido.Message(kind, note=key, velocity=velocity, time=tick - last))
        last = tick
    mid = mido.MidiFile(ticks_per_beat=TPQ)
    mid.tracks.append(track)
    mid.save(tmp_path / "odd.mid")
    piece, score = _read(tmp_path / "odd.mid")
    assert piece.n_notes == 4
    p = plan(piece, score, _predicted(score, onset=np.full(score.n_notes, 0.01)), Expression(articulation=0.0))
    out = tmp_path / "odd-out.mid"
    out.write_bytes(write(piece, p, score))
    again = midifile.load_midi(out)
    assert sorted(again.pitch.tolist()) == [60, 64, 64, 64]
    ends = np.sort(again.end[again.pitch == 64])
    starts = np.sort(again.start[again.pitch == 64])
    assert np.all(ends[:-1] <= starts[1:])  # the three notes of one key no longer overlap
    kinds = [(m.type, m.note) for m in _absolute(out) if m.type in ("note_on", "note_off") and m.note in (62, 67)]
    assert kinds == []  # events that make no note are left out


def test_repeated_strikes_at_a_coarse_resolution_stay_notes(tmp_path):
    # 96 ticks a quarter at 60 qpm: three strikes of one key on one tick (from a review: a zero-length note)
    song = Song([N(60, 0, 96), N(60, 0, 96), N(60, 0, 96), N(64, 192, 288)], ticks_per_beat=96, tempi=[(0, 60.0)])
    piece, score = _read(write_song(tmp_path / "coarse.mid", song))
    p = plan(piece, score, _predicted(score), Expression(articulation=0.0))
    assert np.all(p.end_tick > p.start_tick)
    out = tmp_path / "coarse-out.mid"
    out.write_bytes(write(piece, p, score))
    assert midifile.load_midi(out).n_notes == piece.n_notes


@pytest.mark.parametrize("meter", [(6, 8), (2, 2)])
def test_a_piece_shorter_than_one_beat(tmp_path, meter):
    piece, score = _read(write_song(tmp_path / "cut.mid", Song([N(60, 0, 240), N(64, 0, 240)], meters=[(0, *meter)])))
    for how in ("notes", "tempo"):
        p = plan(piece, score, _predicted(score, tempo=[0.3, 0.3]), Expression(timing_as=how))
        out = tmp_path / f"cut-{how}.mid"
        out.write_bytes(write(piece, p, score))
        assert midifile.load_midi(out).n_notes == 2


def test_an_added_pedal_reaches_both_hands_and_a_kept_one_follows_its_chords(tmp_path):
    hands = [N(72 + i % 5, i * TPQ, (i + 1) * TPQ, channel=0) for i in range(8)]
    hands += [N(48 + i % 5, i * TPQ, (i + 1) * TPQ, channel=1) for i in range(8)]
    path = write_song(tmp_path / "hands.mid", Song(hands, controls=[(24, 0, 64, 127), (TPQ * 4 + 24, 0, 64, 0)]))
    piece, score = _read(path)
    p = plan(piece, score, _predicted(score, pedal=np.ones(score.n_notes)), Expression(0.0, 0.0, "add"))
    out = tmp_path / "hands-out.mid"
    out.write_bytes(write(piece, p, score))
    assert {m.channel for m in _absolute(out) if m.type == "control_change" and m.control == 64} == {0, 1}
    late = _predicted(score, onset=np.full(score.n_notes, 0.1))  # every note 100 ms late: 96 ticks
    p = plan(piece, score, late, Expression(1.0, 0.0, "keep"))
    out.write_bytes(write(piece, p, score))
    presses = [m.time for m in _absolute(out) if m.type == "control_change" and m.control == 64]
    assert presses == [24 + 96, TPQ * 4 + 24 + 96]  # still just after the chords they followed
