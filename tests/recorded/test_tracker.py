"""Beat tracking (stylenet.recorded.tracker) on generated performances; a few real ASAP files when ../shared/data is here."""

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import pytest

from stylenet.core import beats as beat_maps
from stylenet.core import codec, midifile
from stylenet.core.beats import Beats, BeatsError, check_beats
from stylenet.core.midifile import MidiReadError
from stylenet.core.notes import N_NOTE_FEATURES, NOTE_SCALARS, note_features
from stylenet.data import read, splits
from stylenet.recorded import grid, tracker
from tests.helpers import REAL_DATA, N, Song, jitter_weights, write_song

ASAP = REAL_DATA / "asap"
TICKS_PER_SECOND = 960  # the fixtures' files: 480 ticks a quarter at 120 quarters a minute


def f_measure(reference, estimate, window=0.07) -> float:
    """mir_eval.beat.f_measure's definition (one-to-one matches within the window), without mir_eval."""
    reference, estimate = np.sort(reference), np.sort(estimate)
    if not len(reference) or not len(estimate):
        return 0.0
    used, hits = np.zeros(len(estimate), bool), 0
    for r in reference:
        distance = np.where(used, np.inf, np.abs(estimate - r))
        j = int(np.argmin(distance))
        if distance[j] <= window:
            used[j], hits = True, hits + 1
    if not hits:
        return 0.0
    precision, recall = hits / len(estimate), hits / len(reference)
    return 2 * precision * recall / (precision + recall)


def performance(beat_times, per_bar=4, seed=0, jitter=0.008, tail=1.0):
    """A recorded-like piece on the given beats: a bass note and a chord on every beat (the downbeat
    louder, lower and longer), an eighth-note melody between, onsets jittered by a few ms; (notes, downbeat
    flags)."""
    rng = np.random.default_rng(seed)
    beat_times = np.asarray(beat_times, np.float64)
    gaps = np.diff(np.append(beat_times, beat_times[-1] + tail))
    notes = []  # (pitch, start s, end s, velocity)
    for i, (t, gap) in enumerate(zip(beat_times, gaps)):
        down = i % per_bar == 0
        chord = [48, 52, 55] if (i // per_bar) % 2 == 0 else [47, 50, 55]
        notes.append((36 if down else 43, t, t + gap * (0.95 if down else 0.5), 96 if down else 62))
        for p in chord:
            notes.append((p, t, t + gap * 0.45, 80 if down else 56))
        notes.append((72 + (i * 5) % 12, t, t + gap * 0.45, 70 if down else 58))
        notes.append((74 + (i * 7) % 10, t + gap / 2, t + gap * 0.95, 48))
    out = []
    for pitch, start, end, velocity in notes:
        shift = rng.normal(0, jitter)
        on, off = (int(round((t + shift) * TICKS_PER_SECOND)) for t in (start, end))
        out.append(N(pitch, on, off, velocity))
    return out, np.arange(len(beat_times)) % per_bar == 0


def load(tmp_path, notes, name="perf.mid", **song) -> midifile.MidiPiece:
    return midifile.load_midi(write_song(tmp_path / name, Song(notes, **song)))


@pytest.mark.parametrize("seconds", [0.45, 0.55, 0.65, 0.8, 1.0])  # 133 down to 60 beats a minute
def test_steady_tempo_is_tracked(tmp_path, seconds):
    """A plain piece (a chord on every beat, quavers between) is tracked at its beat, not at half or twice
    it.  Faster (0.35 s and less) the shipped tracker reads every second beat, as many pianists count."""
    beats = 0.5 + seconds * np.arange(int(50 / seconds))
    notes, _ = performance(beats)
    found = tracker.track(load(tmp_path, notes))
    check_beats(found)
    assert f_measure(beats, found.times) >= 0.9


def beat_activation(beats, downbeat=None, seed=0, n_frames=None):
    """What a good network gives the decoder: [T, 2] (beat, downbeat) peaks at the beats over noise."""
    rng = np.random.default_rng(seed)
    n_frames = n_frames or int(np.ceil((beats[-1] + 1.0) * tracker.FPS))
    act = np.clip(rng.uniform(0.0, 0.15, (n_frames, 2)), 0, 1).astype(np.float32)
    frames = np.rint(np.asarray(beats) * tracker.FPS).astype(np.int64)
    act[frames, 0] = rng.uniform(0.6, 0.95, len(frames))
    act[frames, 1] = 0.1 if downbeat is None else np.where(downbeat, 0.7, 0.15)
    return act


def piece_tempo(beats, n_frames):
    """What the network says of the beat length, as `track` hands it to the decoder: the whole piece's
    (here a Gaussian over the bins around each beat's length, averaged), in every frame."""
    bins = tracker.tempo_bin(np.diff(beats))
    each = np.exp(-0.5 * (np.arange(len(tracker.TEMPO_BINS))[None, :] - bins[:, None]) ** 2)
    whole = np.log((each / each.sum(axis=1, keepdims=True)).mean(axis=0) + 1e-6)
    return np.repeat(whole[None, :], n_frames, axis=0)


def test_the_decoder_follows_a_gradual_tempo_change():
    gaps = np.linspace(0.65, 0.42, 110)  # an accelerando: ~92 to ~143 beats a minute
    beats = 0.4 + np.concatenate([[0], np.cumsum(gaps[:-1])])
    act = beat_activation(beats, seed=1)
    found = tracker.decode(act, piece_tempo(beats, len(act)))
    assert f_measure(beats, found.times) >= 0.95
    assert 0.55 < np.median(np.diff(found.times)[:10]) < 0.72  # follows the slow start ...
    assert 0.35 < np.median(np.diff(found.times)[-10:]) < 0.5  # ... and the fast end


@pytest.mark.parametrize("per_bar", [3, 4])
def test_downbeats_follow_the_accent_pattern(per_bar):
    beats = 0.3 + 0.5 * np.arange(24 * per_bar)
    downbeat = np.arange(len(beats)) % per_bar == 0
    act = beat_activation(beats, downbeat, seed=2)
    found = tracker.decode(act, piece_tempo(beats, len(act)))
    assert f_measure(beats, found.times) >= 0.95
    assert f_measure(beats[downbeat], found.times[found.downbeat]) >= 0.9
    numerators = found.meter_of_beats()[:, 0]
    assert np.mean(numerators == per_bar) > 0.9


def test_compound_division_reads_six_eight(tmp_path):
    beats = 0.4 + 0.75 * np.arange(48)
    notes = []
    for i, t in enumerate(beats):  # dotted-quarter beats, each filled with three eighths, two beats a bar
        for k in range(3):
            start = t + k * 0.25
            notes.append(N(60 + (i * 3 + k) % 12, round(start * 960), round((start + 0.2) * 960),
                           90 if (k == 0 and i % 2 == 0) else 70 if k == 0 else 45))
        notes.append(N(36 if i % 2 == 0 else 43, round(t * 960), round((t + 0.7) * 960), 85 if i % 2 == 0 else 60))
    assert tracker.beat_division(beats, [n.on / 960 for n in notes]) == 3
    assert tracker.beat_division(beats, beats[:-1] + np.diff(beats) / 2) == 2
    found = tracker.track(load(tmp_path, notes))
    if f_measure(beats, found.times) >= 0.9:  # at the dotted-quarter level, the meter is compound
        assert found.meter_of_beats()[len(beats) // 2, 1] == 8


def test_grid_share_tells_a_sequenced_file_from_a_recording(tmp_path):
    rng = np.random.default_rng(3)
    sixteenths = np.cumsum(rng.choice([1, 1, 2, 2, 4], size=400))
    onsets = sixteenths * 120  # ticks, 480 a quarter
    triplets = 2000 * 480 // 480 + np.arange(60) * 160  # some triplet eighths later on
    on_grid = [N(60 + i % 12, int(t), int(t) + 100, 70) for i, t in enumerate(np.concatenate([onsets, triplets]))]
    jittered = [N(n.pitch, max(int(n.on + rng.normal(0, 40)), 0), n.off + 200, n.velocity) for n in on_grid]
    quantised = grid.grid_share(load(tmp_path, on_grid, name="sequenced.mid"))
    recorded = grid.grid_share(load(tmp_path, jittered, name="recorded.mid"))
    assert quantised > 0.99
    assert recorded < grid.GRID_SHARE_THRESHOLD
    assert abs(recorded - grid.GRID_CHANCE) < 0.1


def test_grid_share_follows_the_files_tempo_map(tmp_path):
    notes = [N(60, i * 240, i * 240 + 200, 70) for i in range(64)]  # eighths, under tempo changes
    piece = load(tmp_path, notes, tempi=[(0, 90.0), (3840, 150.0), (7000, 61.0)])
    assert grid.grid_share(piece) == 1.0


@pytest.mark.parametrize("n_notes", [0, 1, 3])
def test_too_few_notes_is_a_one_line_error(tmp_path, n_notes):
    notes = [N(60 + i, i * 480, i * 480 + 400, 70) for i in range(n_notes)]
    piece = load(tmp_path, notes or [N(60, 0, 10, 70)])
    if not n_notes:
        piece = dataclasses.replace(piece, pitch=piece.pitch[:0], start=piece.start[:0], end=piece.end[:0],
                                    velocity=piece.velocity[:0])
    with pytest.raises(MidiReadError) as caught:
        tracker.track(piece)
    assert "\n" not in str(caught.value) and "cannot track beats" in str(caught.value)
    if not n_notes:
        with pytest.raises(MidiReadError):
            grid.grid_share(piece)


def test_a_chord_and_silence_is_an_error_not_a_crash(tmp_path):
    notes = [N(p, 0, 480, 80) for p in (48, 52, 55, 60)] + [N(60, 96000, 96100, 40)]  # 100 s of nothing
    piece = load(tmp_path, notes)
    try:
        found = tracker.track(piece)
    except (MidiReadError, BeatsError) as exc:
        assert "\n" not in str(exc)
    else:
        check_beats(found)


def test_tracked_beats_conform_the_piece(tmp_path):
    notes, _ = performance(0.5 + 0.5 * np.arange(40), seed=4)
    piece = load(tmp_path, notes)
    conformed = beat_maps.conform(piece, tracker.track(piece))
    score = codec.quantise(conformed)
    assert score.n_notes > 0


def test_ten_minutes_track_in_seconds(tmp_path):
    beats = 0.5 + 0.5 * np.arange(1200)  # 10 minutes
    notes, _ = performance(beats, seed=5)
    piece = load(tmp_path, notes)
    tracker.shipped_activation()  # loading the weights is not tracking
    started = time.perf_counter()
    tracker.track(piece)
    assert time.perf_counter() - started < 15  # a few seconds on one core; generous for a loaded machine


def test_asap_split_is_by_work_seeded_and_about_a_tenth():
    assert splits.asap_split("Beethoven/Piano_Sonatas/17-1") == splits.asap_split(
        "Beethoven/Piano_Sonatas/17-1_no_repeat/Lee01M.mid") == splits.asap_split("Piano_Sonatas_17-1")
    assert splits.asap_work("/x/asap/Bach/Fugue/bwv_846/Shi05M_annotations.txt".replace("/x/asap/", "")) \
        == "Fugue_bwv_846"
    names = [f"Composer/Work_{i}" for i in range(2000)]
    share = np.mean([splits.asap_split(n) == "test" for n in names])
    assert 0.08 < share < 0.12
    other = np.mean([splits.asap_split(n, seed=1) == splits.asap_split(n) for n in names])
    assert other < 0.9  # another seed draws another split


@pytest.mark.skipif(not (ASAP / "metadata.csv").exists(), reason="../shared/data/asap is not here")
def test_the_tracker_and_the_dataset_builder_split_asap_alike():

    rows = read.asap_performances(ASAP)
    for row in rows:
        side = splits.work_split(splits.asap_work(row["folder"]))
        assert splits.asap_split(row["folder"]) == splits.asap_split(row["midi"]) == side
    tested = {r["work"] for r in rows if splits.asap_split(r["work"]) == "test"}
    assert 0.05 < len(tested) / len({r["work"] for r in rows}) < 0.15


@pytest.mark.skipif(not (ASAP / "metadata.csv").exists(), reason="../shared/data/asap is not here")
def test_real_asap_performances_are_tracked():
    mir_eval = pytest.importorskip("mir_eval")
    from stylenet.core.beats import read_annotations

    chosen = {"Bach/Fugue/bwv_863", "Chopin/Etudes_op_10/2"}
    rows = [r for r in read.asap_performances(ASAP) if r["folder"] in chosen]
    rows = [next(r for r in rows if r["folder"] == f) for f in sorted(chosen)]
    for row in rows:
        reference = read_annotations(row["annotations"])
        found = tracker.track(midifile.load_midi(row["midi"]))
        assert isinstance(found, Beats)
        # a floor, not the figure: the README's table has the scores on the test works
        assert mir_eval.beat.f_measure(reference.times, found.times) > 0.5, row["midi"]
        piece = midifile.load_midi(row["midi"])
        assert grid.grid_share(piece) < grid.GRID_SHARE_THRESHOLD


def test_beat_coherence_tells_a_clicked_take_from_a_free_recording(tmp_path):
    rng = np.random.default_rng(6)
    beats = 480 + np.arange(200) * 480  # quarter notes played to a click, each within ~25 ms of it
    clicked = [N(60 + i % 12, int(t + rng.normal(0, 25)), int(t) + 300, 70) for i, t in enumerate(beats)]
    free = [N(60 + i % 12, int(t * 1.37 + rng.normal(0, 25)), int(t * 1.37) + 300, 70) for i, t in enumerate(beats)]
    clicked_piece, free_piece = load(tmp_path, clicked, name="clicked.mid"), load(tmp_path, free, name="free.mid")
    assert grid.grid_share(clicked_piece) < grid.GRID_SHARE_THRESHOLD  # off the tick grid ...
    assert grid.beat_coherence(clicked_piece) > 0.5  # ... but on the beat
    assert grid.beat_coherence(free_piece) < grid.COHERENCE_THRESHOLD


def test_note_features_to_the_bit():
    # C3 and a late G3 struck as one chord, then E4 alone; the pedal goes down between them and up after
    pitch, start = np.array([48, 55, 64]), np.array([0.0, 0.01, 0.5])
    end, velocity = np.array([0.4, 0.5, 0.6]), np.array([64, 127, 32])
    got = note_features(pitch, start, end, velocity, pedal_down=[0.2], pedal_up=[0.55])
    later = note_features(np.append(pitch, 60), np.append(start, 0.7), np.append(end, 0.9),
                                   np.append(velocity, 64), pedal_down=[0.2], pedal_up=[0.55])
    assert later[2, 10] == 1 and later[3, 10] == 0  # the pedal was lifted before the last note
    log = lambda s: np.float32(np.log2(s) / 8.0)  # noqa: E731
    expected = np.array([
        # pitch, velocity, duration, gap before/after, group gap before/after, group size, lowest, highest, pedal
        [27 / 87, 64 / 127, log(0.4), log(8), log(0.01), log(8), log(0.5), 1 / 3, 1, 0, 0],
        [34 / 87, 1.0, log(0.49), log(0.01), log(0.49), log(8), log(0.5), 1 / 3, 0, 1, 0],
        [43 / 87, 32 / 127, log(0.1), log(0.49), log(8), log(0.5), log(8), 0, 1, 1, 1],
    ], np.float32)
    assert got.dtype == np.float32 and got.shape == (3, N_NOTE_FEATURES)
    np.testing.assert_array_equal(got[:, :len(NOTE_SCALARS)], expected)
    classes = np.zeros((3, 12), np.float32)
    classes[[0, 1, 2], [0, 7, 4]] = 1
    np.testing.assert_array_equal(got[:, len(NOTE_SCALARS):], classes)
    assert note_features([], [], [], []).shape == (0, N_NOTE_FEATURES)


def test_notes_become_frames_of_beat_activation_and_beat_length():
    start = np.array([0.0, 0.01, 0.5])
    act = np.array([[0.9, 0.8], [0.3, 0.1], [0.6, 0.2]], np.float32)
    tempo = np.log(np.full((3, len(tracker.TEMPO_BINS)), 1 / len(tracker.TEMPO_BINS)))
    tempo[0, :3] = -1
    tempo[2] = -5
    frames, frame_tempo = tracker.notes_to_frames(start, act, tempo, 40, floor=0.02, piece_tempo=0.0)
    assert frames.shape == (40, 2) and frame_tempo.shape == (40, len(tracker.TEMPO_BINS))
    np.testing.assert_allclose(frames[0], [0.9, 0.8])  # the most beat-like note of the frame
    np.testing.assert_allclose(frames[1], [0.9 * 0.7, 0.8 * 0.7])  # its neighbours, a little less
    np.testing.assert_allclose(frames[25], [0.6, 0.2])
    np.testing.assert_allclose(frames[10], [0.02, 0.02])  # no note: the floor
    np.testing.assert_allclose(frame_tempo[24], tempo[1], rtol=1e-6)  # the last note struck so far
    np.testing.assert_allclose(frame_tempo[25], tempo[2], rtol=1e-6)  # from the frame the note is struck in
    np.testing.assert_allclose(frame_tempo[30], tempo[2], rtol=1e-6)
    np.testing.assert_allclose(frame_tempo[0], tempo[1], rtol=1e-6)  # both struck in frame 0: the later
    _, whole = tracker.notes_to_frames(start, act, tempo, 40, floor=0.02, piece_tempo=1.0)
    piece = np.log(np.exp(tempo).mean(axis=0) + 1e-6)  # the whole piece's beat length, in every frame
    np.testing.assert_allclose(whole[0], piece, rtol=1e-6)
    np.testing.assert_allclose(whole[30], piece, rtol=1e-6)


def test_the_note_network_in_numpy_equals_keras(tmp_path):
    from stylenet.nn.backend import import_keras
    from stylenet.recorded import train_tracker as trainer

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = trainer.build_model(keras, units=8, layers=2, dropout=0.0, mask_padding=True)
    rng = np.random.default_rng(0)
    jitter_weights(model, rng)
    n = 50
    pitch = rng.integers(30, 100, n)
    start = np.sort(rng.uniform(0, 20, n))
    features = note_features(pitch, start, start + rng.uniform(0.05, 1, n), rng.integers(20, 120, n))
    beat, tempo = model.predict(features[None], verbose=0)
    trainer.export(model, tmp_path / "t.npz", {"test": True})
    net = tracker.NoteActivation.load(tmp_path / "t.npz")
    got_beat, got_tempo = net(features)
    np.testing.assert_allclose(got_beat, beat[0], atol=1e-5)
    np.testing.assert_allclose(np.exp(got_tempo), tempo[0], atol=1e-5)
    # with --mask-padding, a training crop padded after its last note reads the notes exactly as inference
    # does (the backward LSTM starts at the last note, not after the padding)
    padded = np.concatenate([features, np.zeros((30, features.shape[1]), features.dtype)])[None]
    padded_beat, padded_tempo = model.predict(padded, verbose=0)
    np.testing.assert_allclose(padded_beat[0, :n], beat[0], atol=1e-5)
    np.testing.assert_allclose(padded_tempo[0, :n], tempo[0], atol=1e-5)


def test_sequenced_files_teach_the_tracker_their_tempo_maps_beats_but_no_held_out_work(tmp_path):
    from stylenet.recorded import train_tracker as trainer
    from tests.helpers import asap_tree, key_song
    asap = asap_tree(tmp_path / "asap", works=30, takes=1)
    works = [f"Composer{w % 3}/Work {w}" for w in range(30)]
    held = next(f for f in works if splits.asap_split(f) == "test" or splits.asap_validation(f))
    kept = next(f for f in works if splits.asap_split(f) == "train" and not splits.asap_validation(f))
    write_song(asap / held / "midi_score.mid", key_song(1))
    write_song(asap / kept / "midi_score.mid", key_song(2))
    raw = tmp_path / "raw" / "classical"
    write_song(raw / "A" / "same as a held-out work.mid", key_song(1))  # another edition of a held-out score
    write_song(raw / "B" / "a train work.mid", key_song(2))  # an ASAP train work may be learned twice
    write_song(raw / "C" / "test piece.mid", key_song(3))
    # six-eight, two bars at 120 quarters a minute, then 60: the beat is the dotted quarter, 0.75 s then 1.5 s
    eighths = [N(40 + (i * 7) % 41, i * 240, i * 240 + 200, 40 + (i * 13) % 80) for i in range(36)]
    write_song(raw / "D" / "six eight.mid", Song(eighths, tempi=[(0, 120.0), (12 * 240, 60.0)], meters=[(0, 6, 8)]))
    splits_csv = tmp_path / "splits.csv"
    splits_csv.write_text("path,genre,piece,split\n" + "".join(
        f"raw/classical/{d}/{n}.mid,classical,{n},{'test' if d == 'C' else 'train'}\n"
        for d, n in (("A", "same as a held-out work"), ("B", "a train work"), ("C", "test piece"),
                     ("D", "six eight"))))
    write_song(raw / "E" / "no piano.mid", Song([N(60, 0, 480)], programs={0: 40}))  # a violin: no notes to learn
    pieces = trainer.load_sequenced(raw, splits_csv, asap, tmp_path / "cache.pkl")
    assert sorted(Path(p["midi"]).name for p in pieces) == ["a train work.mid", "six eight.mid"]
    six = next(p for p in pieces if p["midi"].endswith("six eight.mid"))
    expected = np.concatenate([np.arange(4) * 0.75, 3.0 + np.arange(5) * 1.5])
    np.testing.assert_allclose(six["beats"][:9], expected, atol=1e-6)
    assert six["downbeat"][:9].tolist() == [True, False] * 4 + [True]
    assert six["sequenced"] and len(six["pitch"]) == 36
    again = trainer.load_sequenced(raw, splits_csv, asap, tmp_path / "cache.pkl")  # from the cache
    assert [p["midi"] for p in again] == [p["midi"] for p in pieces]
    np.testing.assert_array_equal(again[1]["beats"], pieces[1]["beats"])
    splits_csv.write_text(splits_csv.read_text().replace("six eight,train", "six eight,test"))  # a piece moves to test
    os.utime(splits_csv, ns=(splits_csv.stat().st_atime_ns, splits_csv.stat().st_mtime_ns + 10**9))
    assert [Path(p["midi"]).name for p in trainer.load_sequenced(raw, splits_csv, asap, tmp_path / "cache.pkl")] \
        == ["a train work.mid"]  # the cache was built from the old splits: built again


def test_a_sequenced_crop_is_scattered_like_playing_and_stays_in_onset_order():
    from stylenet.recorded import train_tracker as trainer
    n = 400
    start = np.repeat(np.arange(n // 4) * 0.25, 4)  # four-note chords struck at once, on the beat
    pitch = np.tile([48, 55, 64, 72], n // 4)
    beats = np.arange(n // 4 + 1) * 0.5
    perf = {"pitch": pitch, "start": start, "end": start + 0.2, "velocity": np.full(n, 64),
            "pedal_down": np.zeros(0), "pedal_up": np.zeros(0), "beats": beats,
            "downbeat": np.arange(len(beats)) % 4 == 0}
    starts = []
    features = trainer.notes.note_features

    def seen(pitch, start, *rest):  # what the network is shown, in the order it reads the notes
        starts.append(np.asarray(start))
        return features(pitch, start, *rest)

    trainer.notes.note_features = seen
    try:
        played = trainer.example(dict(perf, sequenced=True), np.random.default_rng(1), stretch_range=0.0, crop=n)
        plain = trainer.example(perf, np.random.default_rng(1), stretch_range=0.0, crop=n)
    finally:
        trainer.notes.note_features = features
    assert np.all(np.diff(starts[0]) >= 0) and np.any(np.diff(starts[0]) != np.diff(start))  # scattered, in order
    gap = NOTE_SCALARS.index("gap_before")
    assert np.unique(plain[0][:, gap]).size <= 3  # a plain crop keeps its chords exact: two gaps, and the first
    assert np.unique(played[0][:, gap]).size > n // 2  # a sequenced one is scattered
    assert 0.4 < played[1][:, 0].mean() < 0.6  # its on-beat notes stay on the beat (within 50 ms): half of them


def test_balanced_crops_give_slow_beats_their_share_of_training():
    from stylenet.recorded import train_tracker as trainer

    def piece(notes, beat_seconds):
        return {"pitch": np.zeros(notes), "beats": np.arange(50) * beat_seconds}

    # a dense fast etude twice over (0.3 s beats: one band) and a sparse Adagio (1.5 s beats: another)
    pieces = [piece(3000, 0.3), piece(3000, 0.31), piece(600, 1.5)]
    np.testing.assert_allclose(trainer.crop_weights(pieces), [3000 / 6600, 3000 / 6600, 600 / 6600])
    even = trainer.crop_weights(pieces, balance=1.0)
    np.testing.assert_allclose([even[:2].sum(), even[2]], [0.5, 0.5])  # each band alike
    np.testing.assert_allclose(even[0], even[1])  # within a band, still by notes
    half = trainer.crop_weights(pieces, balance=0.5)
    assert 600 / 6600 < half[2] < 0.5 and half.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("damage", ["empty", "truncated", "not a zip", "a frame network", "missing"])
def test_unreadable_tracker_weights_are_a_one_line_error(tmp_path, damage):
    path = tmp_path / "tracker.npz"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(tracker.SHIPPED_TRACKER.read_bytes()[:1000])
    elif damage == "not a zip":
        path.write_bytes(b"xx")
    elif damage == "a frame network":
        np.savez(path, **{"input/kernel": np.zeros((1, 4, 2), np.float32), "dilations": np.array([1])})
    with pytest.raises(BeatsError) as caught:
        tracker.NoteActivation.load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
