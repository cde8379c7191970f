"""touch.py: what a recording's timing says about loudness — its features, the network in NumPy, where its
deviations land on the quantised score, and how perform and evaluate add it."""

import json
from pathlib import Path

import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.core import codec, midifile
from stylenet.core.errors import FileError
from stylenet.core.notes import note_order
from stylenet.play.batch import perform_file
from stylenet.play.step import Player
from stylenet.recorded import touch
from stylenet.velocity.evaluate import _notes, evaluate
from stylenet.velocity.performer import Performer
from stylenet.velocity.shaping import Shaping
from tests.helpers import expressive_song, jitter_weights, random_performer, recording, rubato_beats, write_song

F = len(touch.FEATURES)


def random_touch(path: Path, calibration: dict, units: int = 4, seed: int = 0, info=None) -> Path:
    """A touch network file with random weights (NumPy only), calibrated for `calibration`'s genres."""
    rng = np.random.default_rng(seed)
    info = json.dumps({"calibration": calibration}) if info is None else info
    arrays = {"kind": np.array("touch"), "info": np.array(info),
              "input/kernel": rng.normal(0, 0.5, (F, units)).astype(np.float32),
              "input/bias": np.zeros(units, np.float32),
              "output/kernel": rng.normal(0, 0.5, (2 * units, 1)).astype(np.float32),
              "output/bias": np.zeros(1, np.float32)}
    for direction in ("forward", "backward"):
        arrays[f"lstm0/{direction}/kernel"] = rng.normal(0, 0.5, (units, 4 * units)).astype(np.float32)
        arrays[f"lstm0/{direction}/recurrent"] = rng.normal(0, 0.5, (units, 4 * units)).astype(np.float32)
        arrays[f"lstm0/{direction}/bias"] = rng.normal(0, 0.5, 4 * units).astype(np.float32)
    np.savez(path, **arrays)
    return path


def test_a_chord_s_leading_note_and_its_place_in_the_chord_are_read():
    # one chord: the top key struck 20 ms before the others (a melody lead), then a single bass note
    pitch = np.array([72, 60, 64, 36])
    start = np.array([1.00, 1.02, 1.02, 2.0])
    end = np.array([1.9, 1.5, 1.5, 2.2])
    order = note_order(pitch, start)
    features = touch.touch_features(pitch[order], start[order], end[order], pedal_down=[0.5], pedal_up=[1.9])
    assert features.shape == (4, F) and features.dtype == np.float32
    col = {name: features[:, i] for i, name in enumerate(touch.FEATURES)}
    np.testing.assert_allclose(col["lead"] * touch.LEAD_SECONDS, [0.0, 0.02, 0.02, 0.0], atol=1e-6)
    assert col["lag"][0] < 0 < col["lag"][1]  # the leading note before the chord's mean onset, the others after
    np.testing.assert_array_equal(col["top"], [1, 0, 0, 1])  # notes in order: 72 (first struck), 60, 64, 36
    np.testing.assert_array_equal(col["bottom"], [0, 1, 0, 1])
    np.testing.assert_allclose(col["rank"], [0.0, 1.0, 0.5, 0.0])  # from the top key down
    np.testing.assert_array_equal(col["pedal"], [1, 1, 1, 0])  # the pedal lifts at 1.9 s
    np.testing.assert_allclose(col["chord_size"], [np.log2(3) / 3] * 3 + [0.0])
    assert col["articulation"][0] > col["articulation"][1]  # the top note held longer into the next gap
    assert touch.touch_features([], [], []).shape == (0, F)


def test_the_touch_network_in_numpy_equals_keras(tmp_path):
    from stylenet.nn.backend import import_keras
    from stylenet.recorded import train_touch as trainer

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = trainer.build_model(keras, units=8, layers=2, dropout=0.0)
    rng = np.random.default_rng(0)
    jitter_weights(model, rng)
    n = 60
    pitch = rng.integers(30, 100, n)
    start = np.sort(rng.uniform(0, 20, n))
    features = touch.touch_features(pitch, start, start + rng.uniform(0.05, 1, n), [3.0], [9.0])
    expected = model.predict(features[None], verbose=0)[0, :, 0] * touch.SCALE
    trainer.export(model, tmp_path / "touch.npz", {"test": True})
    np.testing.assert_allclose(touch.TouchNet.load(tmp_path / "touch.npz")(features), expected, atol=1e-4)


def test_deviations_land_on_the_score_notes_they_were_struck_on(tmp_path):
    # a key struck twice within one step is one note of the score: it gets the mean of the two
    net = touch.TouchNet.load(random_touch(tmp_path / "t.npz", {}))
    positions = np.concatenate([np.arange(0, 10, 0.5), [4.02]])  # 4.02: C4 again, 10 ms after its strike at 4.0
    pitches = np.concatenate([60 + np.arange(20) % 12, [60 + 8 % 12]])
    src, _ = recording(tmp_path / "take.mid", rubato_beats(12), positions, pitches=pitches)
    piece = midifile.load_midi(src)
    per_note = touch.note_deviations(piece, net)
    assert per_note.shape == (piece.n_notes,) and np.all(np.isfinite(per_note)) and per_note.std() > 0
    score = codec.quantise(piece)
    assert score.n_notes == piece.n_notes - 1  # the re-strike merged
    steps = piece.grid.seconds_to_steps(piece.start)
    for i in range(score.n_notes):
        struck = (steps == score.onset[i]) & (piece.pitch == score.pitch[i])
        assert touch.score_deviations(piece, score, net)[i] == pytest.approx(per_note[struck].mean())
    nowhere = touch.deviations_at(piece, [score.onset[0]], [0], net)  # A0 is never struck here
    assert nowhere.tolist() == [0.0]


@pytest.mark.parametrize("damage", ["empty", "not a zip", "a tracker", "info not JSON", "no contrast", "no output",
                                    "other features"])
def test_a_damaged_or_foreign_touch_file_is_one_line(tmp_path, damage):
    path = tmp_path / "touch.npz"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "not a zip":
        path.write_bytes(b"xx")
    elif damage == "a tracker":
        np.savez(path, kind=np.array("notes"))
    elif damage == "info not JSON":
        random_touch(path, {}, info="{calibration")
    elif damage == "no contrast":
        random_touch(path, {"concert": {"weight": 4}})
    else:
        random_touch(path, {})
        with np.load(path) as npz:
            arrays = dict(npz)
        if damage == "no output":
            del arrays["output/kernel"], arrays["output/bias"]
        else:
            arrays["input/kernel"] = arrays["input/kernel"][:5]
        np.savez(path, **arrays)
    with pytest.raises(FileError) as caught:
        touch.TouchNet.load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_model_s_fingerprint_follows_its_weights_not_its_file(tmp_path):
    performer = random_performer(genres=("jazz",))
    copy = Performer.load(performer.save(tmp_path / "m.npz"))
    assert copy.fingerprint() == Performer.load(tmp_path / "m.npz").fingerprint()
    assert copy.fingerprint() != random_performer(genres=("jazz",), seed=1).fingerprint()


def _recorded_take(tmp_path):
    times = 0.6 + np.cumsum(np.concatenate([[0.0], 0.5 * np.exp(np.linspace(0, 0.3, 47))]))
    src, _ = recording(tmp_path / "take.mid", times, np.arange(0, 47, 0.5),
                       pitches=np.tile([48, 60, 64, 67], 24), velocities=np.tile([90, 50, 60, 55], 24))
    return src


def calibrated(model_file, genre: str = "jazz", weight: float = 2.0, contrast: float = 1.0) -> dict:
    return {genre: {"weight": weight, "contrast": contrast,
                    "fingerprint": Performer.load(model_file).fingerprint()}}


def test_perform_reads_a_recording_s_touch_in_a_calibrated_genre_only(tmp_path, model_file, capsys):
    touch_file = random_touch(tmp_path / "touch.npz", calibrated(model_file))
    src = _recorded_take(tmp_path)
    run = ["perform", str(src), "--model", str(model_file), "--touch-model", str(touch_file)]
    assert main(run + ["--genre", "jazz", "-o", str(tmp_path / "auto.mid")]) == 0
    assert "touch from its timing" in capsys.readouterr().out
    assert main(run + ["--genre", "jazz", "--touch", "off", "-o", str(tmp_path / "off.mid")]) == 0
    assert "touch" not in capsys.readouterr().out
    assert (tmp_path / "auto.mid").read_bytes() != (tmp_path / "off.mid").read_bytes()
    # a genre it is not calibrated for: auto reads the score alone, `on` is a usage error in one line
    assert main(run + ["--genre", "pop", "-o", str(tmp_path / "pop.mid")]) == 0
    assert "touch" not in capsys.readouterr().out
    assert main(run + ["--genre", "pop", "--touch", "on", "-o", str(tmp_path / "on.mid")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "calibrated for jazz" in err and not (tmp_path / "on.mid").exists()


def test_a_touch_calibrated_for_another_model_is_left_out_with_a_note(tmp_path, model_file, capsys):
    other = random_performer(seed=3).save(tmp_path / "other.npz")
    touch_file = random_touch(tmp_path / "touch.npz", calibrated(model_file))
    src = _recorded_take(tmp_path)
    run = ["perform", str(src), "--genre", "jazz", "--model", str(other), "--touch-model", str(touch_file)]
    assert main(run + ["-o", str(tmp_path / "auto.mid")]) == 0
    captured = capsys.readouterr()
    assert "touch from its timing" not in captured.out and "calibrated for another StyleNet model" in captured.err
    assert main(run + ["--touch", "off", "-o", str(tmp_path / "off.mid")]) == 0
    assert (tmp_path / "auto.mid").read_bytes() == (tmp_path / "off.mid").read_bytes()
    assert main(run + ["--touch", "on", "-o", str(tmp_path / "on.mid")]) == 2
    assert "another StyleNet model" in capsys.readouterr().err


def test_a_contrast_number_stretches_the_touch_as_calibrated(tmp_path, model_file):
    performer = Performer.load(model_file)
    src = _recorded_take(tmp_path)
    net = touch.TouchNet.load(random_touch(tmp_path / "t.npz", calibrated(model_file, contrast=0.5)))
    with_touch = (net, net.calibration["jazz"])
    as_calibrated = perform_file(src, tmp_path / "a.mid", Player(performer, "jazz", Shaping(contrast=1.0),
                                                                 touch_with=with_touch))
    half = perform_file(src, tmp_path / "b.mid", Player(performer, "jazz", Shaping(contrast=0.5), touch_with=with_touch))
    auto = perform_file(src, tmp_path / "c.mid", Player(performer, "jazz", touch_with=with_touch))
    # --contrast 1 is the calibrated stretch (0.5 of the raw sum), as auto; 0.5 halves that again
    np.testing.assert_array_equal(as_calibrated.after, auto.after)
    assert half.after.std() == pytest.approx(0.5 * as_calibrated.after.std(), rel=0.05)
    assert 5 < as_calibrated.after.std() < 30  # inside 1..127: no clipping bends the ratio


def test_auto_touch_leaves_a_sequenced_file_to_the_score(tmp_path, model_file, capsys):
    touch_file = random_touch(tmp_path / "touch.npz", calibrated(model_file))
    sequenced = write_song(tmp_path / "song.mid", expressive_song(60))
    run = ["perform", str(sequenced), "--genre", "jazz", "--model", str(model_file), "--touch-model", str(touch_file)]
    assert main(run + ["-o", str(tmp_path / "auto.mid")]) == 0
    assert main(run + ["--touch", "off", "-o", str(tmp_path / "off.mid")]) == 0
    assert main(run + ["--touch", "on", "-o", str(tmp_path / "on.mid")]) == 0
    assert "touch from its timing" in capsys.readouterr().out  # only `on`
    assert (tmp_path / "auto.mid").read_bytes() == (tmp_path / "off.mid").read_bytes()
    assert (tmp_path / "on.mid").read_bytes() != (tmp_path / "off.mid").read_bytes()


def test_a_missing_touch_model_is_a_one_line_error(tmp_path, model_file, capsys):
    src = _recorded_take(tmp_path)
    assert main(["perform", str(src), "--genre", "jazz", "--model", str(model_file),
                 "--touch-model", str(tmp_path / "nope.npz")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.npz" in err


def test_evaluate_scores_a_recording_with_and_without_its_touch(tmp_path):
    performer = random_performer(genres=("jazz",))
    calibration = {"jazz": {"weight": 3.0, "contrast": 1.0}}
    net = touch.TouchNet.load(random_touch(tmp_path / "touch.npz", calibration))
    src = _recorded_take(tmp_path)
    piece = midifile.load_midi(src)
    score_matrix, velocity = codec.encode(codec.quantise(piece))
    evaluated = _notes("take", "jazz", score_matrix, velocity)
    evaluated.touch = touch.deviations_at(piece, evaluated.step, evaluated.key, net)
    both = evaluate(performer, [evaluated], progress=False, touch_calibration=calibration)["predictions"]["jazz"]
    evaluated.touch = None
    alone = evaluate(performer, [evaluated], progress=False)["predictions"]["jazz"]
    np.testing.assert_allclose(both["model (score only)"][0], alone["model (calibrated)"][0])
    raw = codec.raw_velocities_at(performer.velocities(score_matrix, "jazz"), evaluated.step, evaluated.key)
    blended = raw + 3.0 * touch.deviations_at(piece, evaluated.step, evaluated.key, net)
    # contrast 1 at the model's own level: the calibrated row is the blend itself
    np.testing.assert_allclose(both["model (calibrated)"][0], np.clip(blended, 1, 127), atol=1e-6)
    assert not np.allclose(both["model (calibrated)"][0], both["model (score only)"][0])
