"""The NumPy forward pass and model files: equal to the Keras model, old files still load, bad ones are one
line, and a run's model performs on its dataset's grid."""

import json

import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.core.errors import StyleNetError
from stylenet.data.build import BuildOptions, build_dataset
from stylenet.nn import lstm
from stylenet.play.batch import perform_file
from stylenet.play.step import Player
from stylenet.velocity.performer import Performer, load_performer
from stylenet.velocity.shaping import Shaping
from tests.helpers import EXAMPLE, GENRES, expressive_song, genre_song, random_performer, tiny, write_song


@pytest.mark.parametrize("runtime", ["numpy", "onnx"])
def test_numpy_forward_pass_equals_keras(runtime, monkeypatch):
    if runtime == "onnx":
        pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[fast]')")
        monkeypatch.delenv("STYLENET_LSTM", raising=False)
        from stylenet.nn import onnx_lstm

        assert onnx_lstm.available()
    else:
        monkeypatch.setenv("STYLENET_LSTM", "numpy")
    from stylenet.nn.backend import import_keras

    keras = import_keras()
    from stylenet.velocity.model import build_model

    keras.utils.set_random_seed(3)
    model = build_model(["jazz", "pop"], units=16, genre_layers=2)
    performer = Performer.from_keras(model)
    score = (np.random.default_rng(0).random((1, 120, 176)) < 0.1).astype(np.float32)
    for genre in ("jazz", "pop"):
        expected = np.asarray(model.perform(score, genre))[0]
        np.testing.assert_allclose(performer.velocities(score[0], genre), expected, atol=1e-5)


def test_numpy_forward_pass_with_metre_input_equals_keras(tmp_path):
    """A model that reads metre: the saved NumPy performer builds the same input (score + metre channels
    from the meter map) as training does, and its velocities equal the Keras model's."""
    from stylenet.nn.backend import import_keras
    from stylenet.velocity.inputs import encode_input

    keras = import_keras()
    from stylenet.velocity.model import build_model

    keras.utils.set_random_seed(4)
    model = build_model(["jazz"], units=16, genre_layers=1, inputs=["metre"])
    path = Performer.from_keras(model).save(tmp_path / "m.npz", dtype=np.float32)
    performer = Performer.load(path)
    assert performer.inputs == ["metre"]
    score = (np.random.default_rng(1).random((96, 176)) < 0.1).astype(np.uint8)
    meters = np.array([[0, 3, 4], [48, 6, 8]])
    expected = np.asarray(model.perform(encode_input(score, meters, ["metre"])[None], "jazz"))[0]
    np.testing.assert_allclose(performer.velocities(score, "jazz", meters), expected, atol=1e-5)
    # the meter map matters: the same notes in 4/4 are played differently
    assert not np.allclose(performer.velocities(score, "jazz", None), expected, atol=1e-3)


def test_the_forward_pass_in_chunks_equals_one_pass(monkeypatch):
    performer = random_performer(("jazz",), units=8, genre_layers=2)
    score = (np.random.default_rng(0).random((50, 176)) < 0.1).astype(np.float32)
    whole = performer.velocities(score, "jazz")
    monkeypatch.setattr(lstm, "PROJECTION_CHUNK", 7)  # 50 steps = 7 chunks, the last one short
    np.testing.assert_allclose(performer.velocities(score, "jazz"), whole, atol=1e-6)


def test_shipped_model_loads_and_genres_differ(tmp_path):
    from stylenet.velocity.performer import SHIPPED, load_performer

    assert SHIPPED.exists() and SHIPPED.stat().st_size < 20e6
    performer = load_performer()
    assert performer.genres == ["classical", "jazz", "pop", "concert"]
    assert all(performer.stats[g]["piece_std"] > 0 for g in performer.genres)
    outputs = {}
    for genre in performer.genres:
        result = perform_file(EXAMPLE, tmp_path / f"{genre}.mid", Player(performer, genre, Shaping(contrast=1.0)))
        outputs[genre] = result.after
        assert result.after.min() >= 1 and result.after.max() <= 127 and result.after.std() > 0
    for a, b in [("classical", "jazz"), ("jazz", "pop"), ("classical", "pop"), ("classical", "concert")]:
        assert np.mean(np.abs(outputs[a] - outputs[b])) > 1.0, (a, b)


def _rewrite_header(src, dst, change):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(str(arrays.pop("header")))
    change(header)
    np.savez(dst, header=np.array(json.dumps(header)), **arrays)
    return dst


def test_a_model_from_before_input_layouts_still_performs(tmp_path, model_file, capsys):
    """Models saved before the header named an input layout read the 176 score columns alone."""
    old = _rewrite_header(model_file, tmp_path / "old.npz", lambda h: h.pop("inputs", None))
    assert Performer.load(old).inputs == []
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(old)]) == 0


def test_a_model_that_names_its_depth_layers_still_loads(tmp_path):
    """Model files saved before the GenreNet depth was called `genre_layers` everywhere name it `layers`."""
    performer = random_performer(("jazz",), genre_layers=2)
    path = performer.save(tmp_path / "new.npz", dtype=np.float32)

    def rename(header):
        header["layers"] = header.pop("genre_layers")

    old = Performer.load(_rewrite_header(path, tmp_path / "old.npz", rename))
    assert len(old.genre_nets["jazz"].forward) == 2
    score = (np.random.default_rng(0).random((30, 176)) < 0.1).astype(np.uint8)
    np.testing.assert_array_equal(old.velocities(score, "jazz"), Performer.load(path).velocities(score, "jazz"))


def test_a_model_reading_an_unknown_input_is_refused_in_one_line(tmp_path, model_file, capsys):
    future = _rewrite_header(model_file, tmp_path / "future.npz", lambda h: h.update(inputs=["harmony"]))
    src = write_song(tmp_path / "s.mid", expressive_song(20))
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(future)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("future.npz: model reads input 'harmony', which this StyleNet does not know; upgrade StyleNet")
    assert "\n" not in err


def test_a_file_that_is_not_a_model_is_one_line(tmp_path, capsys):
    src = write_song(tmp_path / "s.mid", expressive_song(10))
    (tmp_path / "bad.npz").write_bytes(b"MThd garbage")
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(tmp_path / "bad.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("bad.npz: not a StyleNet model file (.npz written by StyleNet)") and "\n" not in err
    assert not (tmp_path / "s.jazz.mid").exists()
    (tmp_path / "empty.npz").write_bytes(b"")  # numpy reads no zip header at all: EOFError
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(tmp_path / "empty.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("empty.npz: not a StyleNet model file (.npz written by StyleNet)") and "\n" not in err


def test_a_model_performs_on_the_grid_its_dataset_was_built_at(tmp_path):
    """A run on an eighth-of-a-quarter grid exports a performer that quantises at 8 steps per quarter."""
    from stylenet.velocity.performer import performer_from_run
    from stylenet.velocity.train import train

    raw = tmp_path / "raw"
    for genre in GENRES:
        for i in range(3):
            write_song(raw / genre / f"{i}.mid", genre_song(genre, i, 60))
    build_dataset(raw, tmp_path / "ds", options=BuildOptions(steps_per_quarter=8), jobs=1, progress=False)
    config = tiny(tmp_path / "ds", epochs=1, window=16)
    config.data.validation_fraction = 0.0
    train(config, tmp_path / "run", progress=False)
    assert performer_from_run(tmp_path / "run").steps_per_quarter == 8


def test_numpy_forward_pass_with_voice_input_equals_keras(tmp_path):
    """A model that reads voices computes the top/bottom-key flags itself, in Keras and in NumPy alike."""
    from stylenet.nn.backend import import_keras
    from stylenet.velocity.inputs import encode_input, voice_channels

    keras = import_keras()
    from stylenet.velocity.model import build_model
    from stylenet.velocity.model import voice_channels as keras_voices

    keras.utils.set_random_seed(5)
    model = build_model(["jazz"], units=16, genre_layers=1, inputs=["metre", "voice"])
    assert model.interpretation.cell.kernel.shape[0] == 176 + 5 + 176
    performer = Performer.load(Performer.from_keras(model).save(tmp_path / "m.npz", dtype=np.float32))
    score = (np.random.default_rng(2).random((96, 176)) < 0.1).astype(np.uint8)
    meters = np.array([[0, 4, 4]])
    np.testing.assert_array_equal(np.asarray(keras_voices(score[None].astype(np.float32)))[0], voice_channels(score))
    expected = np.asarray(model.perform(encode_input(score, meters, ["metre", "voice"])[None], "jazz"))[0]
    np.testing.assert_allclose(performer.velocities(score, "jazz", meters), expected, atol=1e-5)


def test_an_ensemble_performs_the_mean_of_its_networks_and_saves_them_all(tmp_path):
    a, b, c = (random_performer(("jazz", "pop"), units=8, genre_layers=2, seed=s) for s in (1, 2, 3))
    a.stats["jazz"]["contrast"] = 1.5  # a member's calibration is not the ensemble's
    pair = Performer.ensemble([a, b])
    score = (np.random.default_rng(0).random((40, 176)) < 0.1).astype(np.float32)
    np.testing.assert_allclose(pair.velocities(score, "jazz"),
                               (a.velocities(score, "jazz") + b.velocities(score, "jazz")) / 2, atol=1e-6)
    assert "contrast" not in pair.stats["jazz"] and a.stats["jazz"]["contrast"] == 1.5
    trio = Performer.ensemble([pair, c])  # an ensemble joins as its networks, each weighing the same
    assert len(trio.members) == 2
    expected = sum(p.velocities(score, "pop") for p in (a, b, c)) / 3
    np.testing.assert_allclose(trio.velocities(score, "pop"), expected, atol=1e-6)
    loaded = Performer.load(trio.save(tmp_path / "trio.npz", dtype=np.float32))
    assert len(loaded.members) == 2
    np.testing.assert_allclose(loaded.velocities(score, "pop"), expected, atol=1e-5)


def test_models_of_different_genres_or_inputs_do_not_join_an_ensemble(tmp_path):
    jazz = random_performer(("jazz",), seed=1)
    with pytest.raises(StyleNetError, match="genres differ"):
        Performer.ensemble([jazz, random_performer(("jazz", "pop"), seed=2)])
    a, b = jazz.save(tmp_path / "a.npz"), random_performer(("pop",), seed=2).save(tmp_path / "b.npz")
    with pytest.raises(StyleNetError) as refused:  # the error names the files as given
        load_performer([str(a), str(b)])
    assert str(refused.value) == f"{b}: cannot join an ensemble with {a}: their genres differ"
    metre = random_performer(("jazz",), seed=3)
    metre.inputs = ["metre"]
    with pytest.raises(StyleNetError, match="inputs differ"):
        Performer.ensemble([jazz, metre])
    elsewhere = random_performer(("jazz",), seed=4)
    elsewhere.info = {"config": {"data": {"dataset": "other"}}}  # held out other validation pieces
    with pytest.raises(StyleNetError, match="validation pieces differ"):
        Performer.ensemble([jazz, elsewhere])
    # another training seed holds out other pieces, unless data.validation_seed pins them
    first, second = random_performer(("jazz",), seed=5), random_performer(("jazz",), seed=6)
    first.info = {"config": {"data": {"dataset": "d", "validation_seed": None}, "train": {"seed": 0}}}
    second.info = {"config": {"data": {"dataset": "d", "validation_seed": None}, "train": {"seed": 1}}}
    with pytest.raises(StyleNetError, match="validation pieces differ"):
        Performer.ensemble([first, second])
    second.info["config"]["data"]["validation_seed"] = 0
    assert len(Performer.ensemble([first, second]).members) == 1


def _trained_transposed(performer: Performer, span: int) -> Performer:
    """The performer as if its run had trained on windows transposed by up to `span` semitones."""
    performer.info = {**performer.info, "config": {"train": {"transpose": span}}}
    return performer


def test_a_model_trained_on_transposed_music_reads_the_score_in_several_keys_and_averages():
    from dataclasses import replace

    from stylenet.core.codec import shift_keys

    performer = _trained_transposed(random_performer(("jazz",)), 5)
    assert performer.reading_transpositions() == [-4, -2, 0, 2, 4]  # every second semitone of the trained range
    assert _trained_transposed(random_performer(("jazz",)), 3).reading_transpositions() == [-2, 0, 2]
    assert _trained_transposed(random_performer(("jazz",)), 12).reading_transpositions() == [-4, -2, 0, 2, 4]
    assert random_performer(("jazz",)).reading_transpositions() == [0]  # trained in the written keys: one reading
    score = np.zeros((40, 176), np.uint8)
    score[::4, 2 * 40:2 * 40 + 2] = 1  # key 40 struck every 4 steps, a fifth above it held
    score[:, 2 * 47 + 1] = 1
    score[0, 2 * 47] = 1
    once = replace(performer, transpositions=[0])
    expected = np.mean([shift_keys(once.velocities(shift_keys(score, k), "jazz"), -k) for k in (-4, -2, 0, 2, 4)],
                       axis=0)
    np.testing.assert_allclose(performer.velocities(score, "jazz"), expected, atol=1e-6)
    assert not np.allclose(performer.velocities(score, "jazz"), once.velocities(score, "jazz"), atol=1e-3)
    # a reading that would push a key off the keyboard is left out: A0 (key 0) is not read lower
    edge = score.copy()
    edge[5, 0:2] = 1
    expected = np.mean([shift_keys(once.velocities(shift_keys(edge, k), "jazz"), -k) for k in (0, 2, 4)], axis=0)
    np.testing.assert_allclose(performer.velocities(edge, "jazz"), expected, atol=1e-6)
    top = score.copy()
    top[5, 2 * 86:2 * 86 + 2] = 1  # B7: nothing can be read more than one semitone higher
    expected = np.mean([shift_keys(once.velocities(shift_keys(top, k), "jazz"), -k) for k in (-4, -2, 0)], axis=0)
    np.testing.assert_allclose(performer.velocities(top, "jazz"), expected, atol=1e-6)


def test_a_saved_model_keeps_its_reading_and_an_older_file_reads_once(tmp_path):
    performer = _trained_transposed(random_performer(("jazz",)), 6)
    performer.transpositions = [-3, 0, 3]
    loaded = Performer.load(performer.save(tmp_path / "m.npz", dtype=np.float32))
    assert loaded.reading_transpositions() == [-3, 0, 3]
    older = Performer.load(_rewrite_header(tmp_path / "m.npz", tmp_path / "old.npz", lambda h: h.pop("transpositions")))
    assert older.reading_transpositions() == [0]  # saved before readings: played as it was calibrated
    pair = Performer.ensemble([loaded, Performer.load(tmp_path / "m.npz")])
    assert pair.reading_transpositions() == loaded.reading_transpositions()
    with pytest.raises(StyleNetError, match="old.npz: cannot join an ensemble with m.npz: their readings differ"):
        Performer.ensemble([loaded, older], ["m.npz", "old.npz"])
    for damaged in (None, ["two"]):
        path = _rewrite_header(tmp_path / "m.npz", tmp_path / "bad.npz", lambda h: h.update(transpositions=damaged))
        with pytest.raises(StyleNetError, match="bad.npz: damaged model file") as caught:
            Performer.load(path)
        assert "\n" not in str(caught.value)

