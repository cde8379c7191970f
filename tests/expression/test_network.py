"""The expression network's spread: `widen` keeps a performance's shape and widens its departures, the
calibrated gains are read back per genre, and the play step writes them."""

import json

import numpy as np
import pretty_midi
import pytest

from stylenet.cli.main import main as stylenet
from stylenet.expression.network import ExpressionNet, widen
from stylenet.nn.note_network import write_note_arrays
from tests.helpers import N, Song, random_expression_net, write_song


def test_widen_keeps_the_mean_and_the_shape_and_multiplies_the_spread():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(200, 6)) * [10, 0.1, 0.02, 0.3, 1, 1] + [64, 0, 0, -0.2, 0.5, 0.5]
    wide = widen(values, [1.5, 2.0, 0.0, 1.0])
    for k, gain in enumerate([1.5, 2.0, 0.0, 1.0]):
        assert wide[:, k].mean() == pytest.approx(values[:, k].mean())
        assert wide[:, k].std() == pytest.approx(gain * values[:, k].std())
        if gain > 0:  # the same shape: its correlation with any pianist is unchanged
            assert np.corrcoef(wide[:, k], values[:, k])[0, 1] == pytest.approx(1.0)
    np.testing.assert_array_equal(wide[:, 4:], values[:, 4:])  # pedal untouched
    assert widen(np.zeros((0, 6)), [2, 2, 2, 2]).shape == (0, 6)


def with_header(path, **header):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    info = json.loads(str(arrays["info"])) | header
    arrays["info"] = np.array(json.dumps(info))
    write_note_arrays(path, arrays)
    return path


def test_the_gains_are_read_per_genre_and_velocity_only_for_its_stylenet(tmp_path):
    from tests.helpers import random_performer

    performer, other = random_performer(seed=1), random_performer(seed=2)
    path = with_header(random_expression_net(tmp_path / "e.npz"),
                       spread={"jazz": {"tempo": 0.0, "onset": 1.5, "duration": 2.0}},
                       velocity={"fingerprint": performer.fingerprint(),
                                 "genres": {"jazz": {"weight": 0.5, "spread": 1.4}}})
    net = ExpressionNet.load(path)
    np.testing.assert_allclose(net.spread("jazz", performer), [1.4, 0.0, 1.5, 2.0])
    np.testing.assert_allclose(net.spread("jazz", other), [1.0, 0.0, 1.5, 2.0])  # another StyleNet's velocities
    np.testing.assert_allclose(net.spread("pop", performer), [1.0, 1.0, 1.0, 1.0])  # not calibrated


def test_perform_with_no_timing_spread_moves_every_note_alike(tmp_path, model_file, capsys):
    """Onset and tempo gains of 0: every note departs from the score by the same amount, so the notes keep
    the score's distances to the tick (the rubato and the chord spread are held level)."""
    score = write_song(tmp_path / "score.mid", Song([N(60 + i % 7, i * 240, i * 240 + 200) for i in range(48)]))
    level = with_header(random_expression_net(tmp_path / "level.npz"),
                        spread={"jazz": {"tempo": 0.0, "onset": 0.0, "duration": 1.0}})
    wide = with_header(random_expression_net(tmp_path / "wide.npz"),
                       spread={"jazz": {"tempo": 1.0, "onset": 3.0, "duration": 1.0}})
    starts, lines = {}, {}
    for name, net in (("level", level), ("wide", wide)):
        out = tmp_path / f"{name}.mid"
        assert stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file),
                         "--expression-model", str(net), "-o", str(out), "-q"]) == 0
        lines[name] = capsys.readouterr().out  # what perform says it did
        pm = pretty_midi.PrettyMIDI(str(out))
        starts[name] = np.array(sorted(pm.time_to_tick(n.start) for n in pm.instruments[0].notes))
    assert np.abs(np.diff(starts["level"]) - 240).max() <= 1  # the score's distances, to rounding
    assert np.abs(np.diff(starts["wide"]) - 240).max() > 5
    assert lines["level"].count("timing against a steady beat") == 1 and "rubato" in lines["wide"]
