"""Fixtures shared by the test files; the helpers they are made with are in helpers.py."""

import pytest

from stylenet.data.build import build_dataset
from tests.helpers import (
    GENRES,
    N,
    Song,
    expressive_song,
    genre_song,
    random_performer,
    tiny_compose,
    write_key_songs,
    write_song,
)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A saved model with random weights that knows classical, jazz and pop."""
    return random_performer().save(tmp_path_factory.mktemp("model") / "m.npz")


@pytest.fixture(scope="session")
def genre_dataset(tmp_path_factory):
    """A built dataset of seven pieces per genre, each genre with its own learnable touch."""
    raw = tmp_path_factory.mktemp("raw")
    for g_index, genre in enumerate(GENRES):
        for i in range(7):
            write_song(raw / genre / f"{genre} {i}.mid", genre_song(genre, 100 * g_index + i, 60 + 15 * i))
    out = tmp_path_factory.mktemp("ds")
    build_dataset(raw, out, jobs=1, progress=False)
    return out


@pytest.fixture
def raw_tree(tmp_path):
    """raw/<genre>/... with nested folders, awkward names and one broken file of every kind."""
    raw = tmp_path / "raw"
    write_song(raw / "jazz" / "Trio (live) take 1.mid", expressive_song(30, seed=1))
    write_song(raw / "jazz" / "deep" / "er" / "Blue in Green.MID", expressive_song(45, seed=2), fmt=0)
    write_song(raw / "classical" / "Chopin" / "op 25 no 1.mid", expressive_song(60, seed=3, meters=[(0, 3, 4)]))
    write_song(raw / "classical" / "bach.mid", expressive_song(25, seed=4, tempi=[(0, 80.0), (960, 70.0)]))
    write_song(raw / "pop" / "001.mid", expressive_song(35, seed=5))
    # broken, each its own way
    (raw / "pop" / "empty.mid").write_bytes(b"")
    (raw / "pop" / "garbage.mid").write_bytes(b"this is not a midi file at all")
    good = write_song(raw / "pop" / "tmp_full.mid", expressive_song(80, seed=6))
    (raw / "pop" / "truncated.mid").write_bytes(good.read_bytes()[:150])
    good.unlink()
    write_song(raw / "pop" / "drums only.mid", Song([N(38, i * 120, i * 120 + 60, 20 + i, channel=9)
                                                      for i in range(30)]))
    write_song(raw / "pop" / "flat.mid", Song([N(60 + i % 5, i * 120, i * 120 + 100, 64 + i % 3)
                                               for i in range(40)]))
    (raw / "pop" / "notes.txt").write_text("not a MIDI suffix: ignored")
    write_song(raw / "loose.mid", expressive_song(30, seed=7))  # no genre folder
    return raw


@pytest.fixture(scope="session")
def key_songs(tmp_path_factory):
    """Ten little pieces in different keys (two of them at 90 qpm, outside the report's tempo range)."""
    return write_key_songs(tmp_path_factory.mktemp("songs"))


@pytest.fixture(scope="session")
def lstm_run(key_songs, tmp_path_factory):
    """A token LSTM trained for three epochs on `key_songs` (seconds)."""
    from stylenet.compose.train import train

    run = tmp_path_factory.mktemp("runs") / "lstm"
    train(tiny_compose(key_songs), run, progress=False)
    return run


@pytest.fixture(scope="session")
def ae_run(key_songs, tmp_path_factory):
    """An autoencoder of 4-bar passages trained for three epochs on `key_songs` (seconds)."""
    from stylenet.compose.train import train

    run = tmp_path_factory.mktemp("runs") / "ae"
    train(tiny_compose(key_songs, "autoencoder"), run, progress=False)
    return run
