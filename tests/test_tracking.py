"""Beat tracking (stylenet.tracking) on generated performances; a few real ASAP files when ../shared/data is here."""

import dataclasses
import time

import numpy as np
import pytest

from stylenet import codec, tracking
from stylenet.beats import Beats, BeatsError, check_beats
from stylenet.codec import MidiReadError
from tests.helpers import REAL_DATA, N, Song, write_song

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


def load(tmp_path, notes, name="perf.mid", **song) -> codec.MidiPiece:
    return codec.load_midi(write_song(tmp_path / name, Song(notes, **song)))


def test_steady_tempo_is_tracked(tmp_path):
    beats = 0.5 + 0.55 * np.arange(96)
    notes, _ = performance(beats)
    found = tracking.track(load(tmp_path, notes))
    check_beats(found)
    assert f_measure(beats, found.times) >= 0.9


def test_gradually_changing_tempo_is_tracked(tmp_path):
    gaps = np.linspace(0.65, 0.42, 110)  # an accelerando: ~92 to ~143 beats a minute
    beats = 0.4 + np.concatenate([[0], np.cumsum(gaps[:-1])])
    notes, _ = performance(beats, seed=1)
    found = tracking.track(load(tmp_path, notes))
    assert f_measure(beats, found.times) >= 0.85
    assert 0.55 < np.median(np.diff(found.times)[:10]) < 0.72  # follows the slow start ...
    assert 0.35 < np.median(np.diff(found.times)[-10:]) < 0.5  # ... and the fast end


@pytest.mark.parametrize("per_bar", [3, 4])
def test_downbeats_follow_the_accent_pattern(tmp_path, per_bar):
    beats = 0.3 + 0.5 * np.arange(24 * per_bar)
    notes, downbeat = performance(beats, per_bar=per_bar, seed=2)
    found = tracking.track(load(tmp_path, notes))
    assert f_measure(beats, found.times) >= 0.9
    assert f_measure(beats[downbeat], found.times[found.downbeat]) >= 0.8
    numerators = found.meter_of_beats()[:, 0]
    assert np.mean(numerators == per_bar) > 0.8


def test_compound_division_reads_six_eight(tmp_path):
    beats = 0.4 + 0.75 * np.arange(48)
    notes = []
    for i, t in enumerate(beats):  # dotted-quarter beats, each filled with three eighths, two beats a bar
        for k in range(3):
            start = t + k * 0.25
            notes.append(N(60 + (i * 3 + k) % 12, round(start * 960), round((start + 0.2) * 960),
                           90 if (k == 0 and i % 2 == 0) else 70 if k == 0 else 45))
        notes.append(N(36 if i % 2 == 0 else 43, round(t * 960), round((t + 0.7) * 960), 85 if i % 2 == 0 else 60))
    assert tracking.beat_division(beats, [n.on / 960 for n in notes]) == 3
    assert tracking.beat_division(beats, beats[:-1] + np.diff(beats) / 2) == 2
    found = tracking.track(load(tmp_path, notes))
    if f_measure(beats, found.times) >= 0.9:  # at the dotted-quarter level, the meter is compound
        assert found.meter_of_beats()[len(beats) // 2, 1] == 8


def test_grid_share_tells_a_sequenced_file_from_a_recording(tmp_path):
    rng = np.random.default_rng(3)
    sixteenths = np.cumsum(rng.choice([1, 1, 2, 2, 4], size=400))
    onsets = sixteenths * 120  # ticks, 480 a quarter
    triplets = 2000 * 480 // 480 + np.arange(60) * 160  # some triplet eighths later on
    on_grid = [N(60 + i % 12, int(t), int(t) + 100, 70) for i, t in enumerate(np.concatenate([onsets, triplets]))]
    jittered = [N(n.pitch, max(int(n.on + rng.normal(0, 40)), 0), n.off + 200, n.velocity) for n in on_grid]
    quantised = tracking.grid_share(load(tmp_path, on_grid, name="sequenced.mid"))
    recorded = tracking.grid_share(load(tmp_path, jittered, name="recorded.mid"))
    assert quantised > 0.99
    assert recorded < tracking.GRID_SHARE_THRESHOLD
    assert abs(recorded - tracking.GRID_CHANCE) < 0.1


def test_grid_share_follows_the_files_tempo_map(tmp_path):
    notes = [N(60, i * 240, i * 240 + 200, 70) for i in range(64)]  # eighths, under tempo changes
    piece = load(tmp_path, notes, tempi=[(0, 90.0), (3840, 150.0), (7000, 61.0)])
    assert tracking.grid_share(piece) == 1.0


@pytest.mark.parametrize("n_notes", [0, 1, 3])
def test_too_few_notes_is_a_one_line_error(tmp_path, n_notes):
    notes = [N(60 + i, i * 480, i * 480 + 400, 70) for i in range(n_notes)]
    piece = load(tmp_path, notes or [N(60, 0, 10, 70)])
    if not n_notes:
        piece = dataclasses.replace(piece, pitch=piece.pitch[:0], start=piece.start[:0], end=piece.end[:0],
                                    velocity=piece.velocity[:0])
    with pytest.raises(MidiReadError) as caught:
        tracking.track(piece)
    assert "\n" not in str(caught.value) and "cannot track beats" in str(caught.value)
    if not n_notes:
        with pytest.raises(MidiReadError):
            tracking.grid_share(piece)


def test_a_chord_and_silence_is_an_error_not_a_crash(tmp_path):
    notes = [N(p, 0, 480, 80) for p in (48, 52, 55, 60)] + [N(60, 96000, 96100, 40)]  # 100 s of nothing
    piece = load(tmp_path, notes)
    try:
        found = tracking.track(piece)
    except (MidiReadError, BeatsError) as exc:
        assert "\n" not in str(exc)
    else:
        check_beats(found)


def test_tracked_beats_conform_the_piece(tmp_path):
    from stylenet import beats as beats_mod

    notes, _ = performance(0.5 + 0.5 * np.arange(40), seed=4)
    piece = load(tmp_path, notes)
    conformed = beats_mod.conform(piece, tracking.track(piece))
    score = codec.quantise(conformed)
    assert score.n_notes > 0


def test_ten_minutes_track_in_seconds(tmp_path):
    beats = 0.5 + 0.5 * np.arange(1200)  # 10 minutes
    notes, _ = performance(beats, seed=5)
    piece = load(tmp_path, notes)
    tracking.shipped_activation()  # loading the weights is not tracking
    started = time.perf_counter()
    tracking.track(piece)
    assert time.perf_counter() - started < 15  # a few seconds on one core; generous for a loaded machine


def test_asap_split_is_by_work_seeded_and_about_a_tenth():
    assert tracking.asap_split("Beethoven/Piano_Sonatas/17-1") == tracking.asap_split(
        "Beethoven/Piano_Sonatas/17-1_no_repeat/Lee01M.mid") == tracking.asap_split("Piano_Sonatas_17-1")
    assert tracking.asap_work("/x/asap/Bach/Fugue/bwv_846/Shi05M_annotations.txt".replace("/x/asap/", "")) \
        == "Fugue_bwv_846"
    names = [f"Composer/Work_{i}" for i in range(2000)]
    share = np.mean([tracking.asap_split(n) == "test" for n in names])
    assert 0.08 < share < 0.12
    other = np.mean([tracking.asap_split(n, seed=1) == tracking.asap_split(n) for n in names])
    assert other < 0.9  # another seed draws another split


@pytest.mark.skipif(not (ASAP / "metadata.csv").exists(), reason="../shared/data/asap is not here")
def test_the_tracker_and_the_dataset_builder_split_asap_alike():
    from stylenet import dataset

    rows = tracking.asap_performances(ASAP)
    for row in rows:
        side = dataset.work_split(dataset.asap_work(row["folder"]))
        assert tracking.asap_split(row["folder"]) == tracking.asap_split(row["midi"]) == side
    tested = {r["work"] for r in rows if tracking.asap_split(r["work"]) == "test"}
    assert 0.05 < len(tested) / len({r["work"] for r in rows}) < 0.15


@pytest.mark.skipif(not (ASAP / "metadata.csv").exists(), reason="../shared/data/asap is not here")
def test_real_asap_performances_are_tracked():
    mir_eval = pytest.importorskip("mir_eval")
    from stylenet.beats import read_annotations

    chosen = {"Bach/Fugue/bwv_863", "Chopin/Etudes_op_10/2"}
    rows = [r for r in tracking.asap_performances(ASAP) if r["folder"] in chosen]
    rows = [next(r for r in rows if r["folder"] == f) for f in sorted(chosen)]
    for row in rows:
        reference = read_annotations(row["annotations"])
        found = tracking.track(codec.load_midi(row["midi"]))
        assert isinstance(found, Beats)
        # a floor, not the figure: the README's table has the scores on the test works
        assert mir_eval.beat.f_measure(reference.times, found.times) > 0.5, row["midi"]
        piece = codec.load_midi(row["midi"])
        assert tracking.grid_share(piece) < tracking.GRID_SHARE_THRESHOLD


def test_beat_coherence_tells_a_clicked_take_from_a_free_recording(tmp_path):
    rng = np.random.default_rng(6)
    beats = 480 + np.arange(200) * 480  # quarter notes played to a click, each within ~25 ms of it
    clicked = [N(60 + i % 12, int(t + rng.normal(0, 25)), int(t) + 300, 70) for i, t in enumerate(beats)]
    free = [N(60 + i % 12, int(t * 1.37 + rng.normal(0, 25)), int(t * 1.37) + 300, 70) for i, t in enumerate(beats)]
    clicked_piece, free_piece = load(tmp_path, clicked, name="clicked.mid"), load(tmp_path, free, name="free.mid")
    assert tracking.grid_share(clicked_piece) < tracking.GRID_SHARE_THRESHOLD  # off the tick grid ...
    assert tracking.beat_coherence(clicked_piece) > 0.5  # ... but on the beat
    assert tracking.beat_coherence(free_piece) < tracking.COHERENCE_THRESHOLD
