"""The composers' data: keys found and transposed, the report's filters and their counts, piano rolls, and
chord tokens that survive a round trip through MIDI."""

import numpy as np
import pytest

from stylenet.compose.data import (
    NO_FILTERS,
    STEPS_PER_BAR,
    FilterCounts,
    Filters,
    Vocabulary,
    bar_chunks,
    chord_notes,
    chords,
    find_key,
    load_corpus,
    piano_roll,
    read_tune,
    read_tunes,
    roll_notes,
    source_files,
    transposition,
    tune_midi,
)
from stylenet.core.config import ConfigError
from tests.helpers import MAJOR_STEPS, key_song, tiny_compose, write_song


def test_krumhansl_schmuckler_names_the_key_of_a_scale_and_its_relative_minor():
    scale = np.array([62 + s for s in MAJOR_STEPS])  # D major
    tonic, mode, r = find_key(scale, np.where(np.arange(7) == 0, 4, 1))  # the tonic held longest
    assert (tonic, mode) == (2, "major") and r > 0.8
    b_minor = np.array([59, 61, 62, 64, 66, 67, 69, 59, 66, 62])  # same pitch classes, B and F# stressed
    assert find_key(b_minor, [4, 1, 1, 1, 3, 1, 1, 4, 3, 2])[:2] == (11, "minor")


@pytest.mark.parametrize("tonic, mode, shift", [(0, "major", 0), (2, "major", -2), (7, "major", 5),
                                                (6, "major", -6), (9, "minor", 0), (0, "minor", -3),
                                                (4, "minor", 5)])
def test_transposition_takes_the_smallest_move_to_c_major_or_a_minor(tonic, mode, shift):
    assert transposition(tonic, mode) == shift


def test_a_piece_is_transposed_trimmed_and_timed(tmp_path):
    path = write_song(tmp_path / "e_major.mid", key_song(3, tonic=4, qpm=118.0, bars=4, lead_bars=2))
    tune = read_tune(path, Filters())
    assert tune.key == "E major" and tune.shift == -4 and tune.qpm == pytest.approx(118.0)
    assert tune.trimmed_bars == 2 and tune.onset.min() == 0 and tune.n_bars == 4
    raw = read_tune(path, NO_FILTERS)
    assert raw.shift == 0 and raw.onset.min() == 2 * STEPS_PER_BAR
    np.testing.assert_array_equal(np.sort(tune.pitch), np.sort(raw.pitch - 4))
    assert set(np.unique(tune.pitch % 12)) <= {0, 2, 4, 5, 7, 9, 11}  # C major's pitch classes only


def test_filters_count_what_they_keep_and_drop(key_songs, tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"MThd nonsense")
    files = source_files(key_songs) + source_files(tmp_path)
    counts = FilterCounts("songs", tempo_range=(110.0, 130.0))
    kept = read_tunes(files, Filters(), counts)
    assert (counts.read, counts.unreadable, counts.tempo, counts.kept) == (11, 1, 2, 8)
    assert counts.trimmed == 4 and counts.transposed == sum(t.shift != 0 for t in kept)
    assert len(kept) == 8 and sum(counts.keys.values()) == 8
    lines = counts.lines()
    assert any(line.startswith("dropped: prevailing tempo outside 110-130 qpm") and line.endswith(" 2")
               for line in lines)
    everything = read_tunes(source_files(key_songs), Filters(None), FilterCounts("songs"))
    assert len(everything) == 10


def test_a_config_asking_for_more_bars_than_the_data_has_is_one_line(key_songs):
    config = tiny_compose(key_songs, "autoencoder", autoencoder={"bars": 40})
    with pytest.raises(ConfigError) as err:
        load_corpus(config.data, min_bars=40, progress=False)
    assert str(err.value) == ("autoencoder.bars: 40 bars is longer than every piece left after the filters "
                              "(longest: 10 bars); lower autoencoder.bars")
    with pytest.raises(ConfigError, match=r"token_lstm.context: 999 tokens .* \(longest: 80 tokens\)"):
        load_corpus(config.data, min_chords=1000, progress=False)


def test_a_built_dataset_is_read_through_its_manifest(genre_dataset):
    files = source_files(genre_dataset, "train", ["jazz"])
    assert len(files) == 7 and all(genre == "jazz" and path.is_file() for path, _, genre, _ in files)


def test_piano_roll_and_its_notes_round_trip(tmp_path):
    tune = read_tune(write_song(tmp_path / "s.mid", key_song(1, bars=3)), NO_FILTERS)
    roll = piano_roll(tune)
    pitch, onset, offset = roll_notes(roll)
    again = piano_roll(read_tune(_written(tmp_path / "back.mid", pitch, onset, offset), NO_FILTERS))
    np.testing.assert_array_equal(again, roll)
    chunks = bar_chunks(tune, 2, 1)
    assert chunks.shape == (2, 2, STEPS_PER_BAR, 96) and chunks.dtype == np.uint8
    np.testing.assert_array_equal(chunks[1].reshape(-1, 96), roll[STEPS_PER_BAR:3 * STEPS_PER_BAR])


def _written(path, pitch, onset, offset, qpm=120.0):
    path.write_bytes(tune_midi(pitch, onset, offset, qpm))
    return path


def test_tokens_round_trip_through_midi(tmp_path):
    """tokens -> MIDI -> tokens: a chord is the set of pitches struck together, written an eighth apart."""
    vocabulary = Vocabulary.build([[(48, 52, 55), (60,), (45, 60, 64, 69)]], 1)
    sequence = [(48, 52, 55), (60,), (62,), (45, 60, 64, 69), (60,), (48, 52, 55)]
    ids = vocabulary.encode(sequence)
    path = _written(tmp_path / "tokens.mid", *chord_notes(vocabulary.decode(ids), 3), qpm=125.0)
    back = read_tune(path, NO_FILTERS)
    assert chords(back) == sequence
    np.testing.assert_array_equal(vocabulary.encode(chords(back)), ids)
    assert back.qpm == pytest.approx(125.0)
    assert Vocabulary.from_json(vocabulary.to_json()).tokens == vocabulary.tokens


def test_a_rare_chord_is_read_as_its_outer_voices_or_its_top_note():
    vocabulary = Vocabulary.build([[(48, 55, 64)] * 2 + [(48, 64)] * 2 + [(50, 53, 57)]], min_count=2)
    assert len(vocabulary) == 88 + 2  # every key, and the two chords heard twice
    assert vocabulary.known((48, 55, 64)) == (48, 55, 64)
    assert vocabulary.known((48, 52, 55, 64)) == (48, 64)  # outer voices
    assert vocabulary.known((50, 53, 57)) == (57,)  # heard once: its top note
    assert vocabulary.known((12, 14)) == (21,)  # below the piano: its lowest key
