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


def test_a_network_from_before_the_section_features_reads_the_first_23(tmp_path):
    from stylenet.expression.notes import LEGACY_FEATURES, make_score_notes

    path = random_expression_net(tmp_path / "new.npz", genres=("jazz",))
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["input/kernel"] = arrays["input/kernel"][list(range(len(LEGACY_FEATURES))) + [-1]]  # 23 + the genre
    arrays["info"] = np.array(json.dumps({"genres": ["jazz"]}))  # no "features": an older file
    write_note_arrays(tmp_path / "old.npz", arrays)
    old = ExpressionNet.load(tmp_path / "old.npz")
    assert old.features == LEGACY_FEATURES
    score = make_score_notes(60 + np.arange(12) % 5, np.arange(12.0), np.arange(12.0) + 0.5, np.full(12, 80))
    assert old(score, "jazz").shape == (12, 6)
    with_header(tmp_path / "old.npz", features=["key", "mood"])
    with pytest.raises(Exception, match="mood"):
        ExpressionNet.load(tmp_path / "old.npz")
    with_header(tmp_path / "old.npz", features=["key"])
    with pytest.raises(Exception, match="reads 24 values a note, its header names 2"):
        ExpressionNet.load(tmp_path / "old.npz")


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


def test_widen_gives_the_onsets_inside_a_chord_their_own_gain():
    from stylenet.expression.notes import make_score_notes

    # three chords of three notes; the written onsets spread each chord and move the chords apart
    score = make_score_notes(np.tile([48, 60, 72], 3), np.repeat([0.0, 1.0, 2.0], 3), np.repeat([1.0, 2.0, 3.0], 3),
                             np.full(9, 80))
    starts, chords = score.chords()
    np.testing.assert_array_equal(starts, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(chords, np.repeat([0, 1, 2], 3))
    values = np.zeros((9, 6))
    values[:, 2] = np.repeat([0.0, 0.01, 0.05], 3) + np.tile([-0.004, 0.0, 0.004], 3)
    together = widen(values, [1, 1, 2.0, 1], chords, 0.0)  # a sequencer's chords: struck at once
    np.testing.assert_allclose(together[:, 2], 0.02 + 2.0 * (np.repeat([0.0, 0.01, 0.05], 3) - 0.02))
    spread = widen(values, [1, 1, 2.0, 1], chords, 3.0)
    np.testing.assert_allclose(spread[:, 2] - together[:, 2], np.tile([-0.012, 0.0, 0.012], 3), atol=1e-12)
    np.testing.assert_allclose(widen(values, [1, 1, 2.0, 1])[:, 2], widen(values, [1, 1, 2.0, 1], chords, 2.0)[:, 2])


def test_the_spread_inside_chords_is_read_on_the_notes_the_pianist_played():
    from stylenet.expression.train import _inside_chords

    chords = np.array([0, 0, 0, 1, 1, 2])
    pianist = np.array([0.0, 0.01, 0.02, 0.5, 0.5, 0.9])
    ours = np.array([0.0, 0.002, 0.004, 0.5, 0.501, 0.9])
    played = np.array([True, True, False, True, True, True])  # the third note missed; chord 2 a single note
    theirs, mine = _inside_chords(chords, pianist, ours, played)
    np.testing.assert_allclose(theirs, [-0.005, 0.005, 0.0, 0.0])
    np.testing.assert_allclose(mine, [-0.001, 0.001, -0.0005, 0.0005])


def test_training_crops_are_drawn_per_work_and_transposed_within_bounds():
    from stylenet.expression.train import KEY, _groups, example

    items = [{"work": w, "x": np.zeros((n, 30), np.float32), "y": np.zeros((n, 12), np.float32)}
             for w, n in (("a", 100), ("a", 300), ("b", 200))]
    sets, weights = _groups(items, "work")
    assert sets == [[0, 1], [2]] and np.allclose(weights, [0.5, 0.5])  # each work by its mean length
    sets, weights = _groups(items, "performance")
    assert sets == [[0], [1], [2]] and np.allclose(weights, [1 / 6, 3 / 6, 2 / 6])
    item = {"x": np.full((50, 30), 0.5, np.float32), "y": np.ones((50, 12), np.float32)}
    rng = np.random.default_rng(0)
    shifts = set()
    for _ in range(200):
        x, y = example(item, rng, 64, transpose=2)
        assert x.shape == (64, 30) and np.all(y[50:] == 0)  # padded and masked beyond the piece
        shifts.add(round(float(x[0, KEY] - 0.5) * 87))
        assert np.all(x[:50, 1:] == 0.5)  # only the key moves
    assert shifts == {-2, -1, 0, 1, 2}
    assert np.all(item["x"] == 0.5)  # the piece itself is untouched


def test_perform_strikes_a_chord_at_once_where_its_pianists_do(tmp_path, model_file):
    """A chord gain of 0 (a sequenced genre's pianists strike chords at once): every chord's notes start on
    one tick while the chords themselves still move; a gain of 3 spreads them."""
    chords = [N(p, i * 480, i * 480 + 400) for i in range(24) for p in (48, 55, 64, 72)]
    score = write_song(tmp_path / "score.mid", Song(chords))
    spreads = {}
    for gain in (0.0, 3.0):
        net = with_header(random_expression_net(tmp_path / f"c{gain}.npz"),
                          spread={"jazz": {"tempo": 1.0, "onset": 3.0, "duration": 1.0, "chord_onset": gain}})
        out = tmp_path / f"c{gain}.mid"
        assert stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file),
                         "--expression-model", str(net), "-o", str(out), "-q"]) == 0
        notes = pretty_midi.PrettyMIDI(str(out)).instruments[0].notes
        assert len(notes) == len(chords)
        ticks = np.array(sorted(pretty_midi.PrettyMIDI(str(out)).time_to_tick(n.start) for n in notes)).reshape(24, 4)
        spreads[gain] = ticks.max(axis=1) - ticks.min(axis=1)
    assert spreads[0.0].max() == 0 and spreads[3.0].max() > 5


def test_a_sequenced_pianists_chords_calibrate_to_a_gain_of_zero():
    """Chords struck at once but for one arpeggio: the typical chord is together, so the written chords are
    too (a gain matching the arpeggio's spread would spread every chord); a pianist who spreads every chord
    twice as wide as the written performance gets a gain of 2."""
    from types import SimpleNamespace

    from stylenet.expression.notes import Performed, make_score_notes
    from stylenet.expression.train import spread_gains

    n_chords = 40
    score = make_score_notes(np.tile([48, 60, 67, 72], n_chords), np.repeat(np.arange(n_chords, dtype=float), 4),
                             np.repeat(np.arange(n_chords, dtype=float) + 1, 4), np.full(4 * n_chords, 80))
    beats = np.arange(n_chords + 2, dtype=float)
    rng = np.random.default_rng(0)
    written = np.zeros((4 * n_chords, 6))
    written[:, 0] = 64 + rng.normal(0, 5, 4 * n_chords)
    written[:, 2] = np.tile([0.004, 0.0, -0.002, -0.006], n_chords)  # each chord spread alike, 10 ms
    rows = []
    arpeggio = np.where(np.arange(4 * n_chords) < 4, np.tile([0.0, 0.03, 0.06, 0.09], n_chords), 0.0)  # the first
    for genre, inside in (("classical", arpeggio), ("concert", 2 * written[:, 2])):
        onset = np.repeat(np.arange(n_chords, dtype=float), 4) * 0.5 + inside
        performed = Performed(onset, onset + 0.4, written[:, 0] + rng.normal(0, 5, 4 * n_chords), beats, beats * 0.5)
        rows.append(SimpleNamespace(genre=genre, work=genre, score=score, performed=performed))
    cache = {(g, g): (written, written) for g in ("classical", "concert")}
    gains = spread_gains(rows, cache, {"classical": {"weight": 1.0}, "concert": {"weight": 1.0}})
    assert gains["classical"]["chord_onset"] == 0.0
    assert gains["concert"]["chord_onset"] == pytest.approx(2.0, abs=0.01)


def test_an_ensemble_writes_the_mean_of_its_networks_and_refuses_a_stranger(tmp_path):
    from stylenet.expression.network import join
    from stylenet.expression.notes import make_score_notes, score_features

    paths = [random_expression_net(tmp_path / f"{k}.npz", seed=k) for k in range(3)]
    nets = [ExpressionNet.load(p) for p in paths]
    join(paths, tmp_path / "ensemble.npz")
    ensemble = ExpressionNet.load(tmp_path / "ensemble.npz")
    assert len(ensemble.members) == 2 and ensemble.genres == nets[0].genres
    assert [m["path"] for m in ensemble.header["members"]] == [str(p) for p in paths]
    score = make_score_notes(60 + np.arange(20) % 7, np.arange(20.0) / 2, np.arange(20.0) / 2 + 0.4, np.full(20, 80))
    features = score_features(score, "jazz", ensemble.genres, ensemble.features)
    np.testing.assert_allclose(ensemble.raw(features), np.mean([n.raw(features) for n in nets], axis=0), rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(nets[0].raw(features), nets[1].raw(features))  # the members differ: the mean is theirs

    stranger = random_expression_net(tmp_path / "pop.npz", genres=("pop",))
    with pytest.raises(Exception, match="genres or features differ"):
        join([paths[0], stranger], tmp_path / "bad.npz")
    with pytest.raises(Exception, match="join their members"):
        join([paths[0], tmp_path / "ensemble.npz"], tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()

    with np.load(tmp_path / "ensemble.npz") as npz:  # a damaged member is the file's one-line error
        arrays = {k: npz[k] for k in npz.files}
    arrays["member2/output/kernel"] = arrays["member2/output/kernel"][:3]
    write_note_arrays(tmp_path / "damaged.npz", arrays)
    with pytest.raises(Exception, match="member 2's output layer"):
        ExpressionNet.load(tmp_path / "damaged.npz")


def test_train_expression_ensemble_usage_errors(tmp_path, capsys):
    paths = [str(random_expression_net(tmp_path / f"{k}.npz", seed=k)) for k in range(2)]
    assert stylenet(["train-expression", "--ensemble", paths[0], "--out", str(tmp_path / "e.npz")]) == 2
    assert "two networks or more" in capsys.readouterr().err
    assert stylenet(["train-expression", "--ensemble", *paths, "--out", paths[1]]) == 2
    assert "is one of the --ensemble networks" in capsys.readouterr().err


def test_loosen_takes_out_a_share_of_the_local_slope_on_pitch_in_any_note_order():
    from stylenet.expression.network import PITCH_WINDOW, loosen

    rng = np.random.default_rng(0)
    n = 10 * PITCH_WINDOW
    pitch = rng.integers(40, 90, n)
    onset = np.arange(n) // 2 / 2.0  # two notes an eighth
    slope = np.where(np.arange(n) < n // 2, 0.6, 0.2)  # a phrase tied closely to pitch, then one loosely
    velocity = 30 + slope * pitch + rng.normal(0, 2, n)
    np.testing.assert_array_equal(loosen(velocity, pitch, onset, 0.0), velocity)
    ties = []
    for amount in (0.0, 0.25, 0.5, 1.0):
        loose = loosen(velocity, pitch, onset, amount)
        assert loose.mean() == pytest.approx(velocity.mean(), abs=0.2)
        first = slice(PITCH_WINDOW, n // 2 - PITCH_WINDOW)  # inside the first phrase, away from the second
        ties.append(np.polyfit(pitch[first], loose[first], 1)[0])
    assert ties[0] == pytest.approx(0.6, abs=0.05)
    assert ties[1] == pytest.approx(0.75 * ties[0], abs=0.05) and ties[2] == pytest.approx(0.5 * ties[0], abs=0.05)
    assert abs(ties[3]) < 0.05  # all of it out: the melody no louder than the bass
    shuffled = rng.permutation(n)  # the notes in any order: each note gets the same
    np.testing.assert_allclose(loosen(velocity[shuffled], pitch[shuffled], onset[shuffled], 0.5),
                               loosen(velocity, pitch, onset, 0.5)[shuffled])
    one_key = loosen(np.arange(50.0), np.full(50, 60), np.arange(50.0), 1.0)  # one key: no slope to take out
    np.testing.assert_allclose(one_key, np.arange(50.0))


def test_perform_loosens_the_written_velocity_from_pitch_as_calibrated(tmp_path, model_file):
    """The loosening is read for the StyleNet model it was calibrated with, and takes the melody's lift
    over the bass down; for another model it is not applied."""
    from stylenet.velocity.performer import load_performer

    performer = load_performer(model_file)
    notes = [N(p, i * 240, i * 240 + 200) for i in range(64) for p in (40 + 3 * (i % 5), 76 + 2 * (i % 4))]
    score = write_song(tmp_path / "score.mid", Song(notes))
    lift = {}
    for name, amount, fingerprint in (("tied", 0.0, performer.fingerprint()), ("loose", 1.0, performer.fingerprint()),
                                      ("other", 1.0, "another model")):
        net = with_header(random_expression_net(tmp_path / f"{name}.npz"),
                          velocity={"fingerprint": fingerprint, "genres": {"jazz": {"weight": 0.5, "loosen": amount}}})
        out = tmp_path / f"{name}.mid"
        assert stylenet(["perform", str(score), "--genre", "jazz", "--model", str(model_file), "--contrast", "1",
                         "--expression-model", str(net), "-o", str(out), "-q"]) == 0
        played = pretty_midi.PrettyMIDI(str(out)).instruments[0].notes
        assert len(played) == len(notes)
        high = np.mean([n.velocity for n in played if n.pitch >= 76])
        low = np.mean([n.velocity for n in played if n.pitch < 76])
        lift[name] = high - low
    assert abs(lift["loose"]) < 1 < abs(lift["tied"]) and abs(lift["other"]) > 1
    assert ExpressionNet.load(tmp_path / "other.npz").loosening("jazz", performer) == 0.0


def test_calibration_scores_each_loosening_against_the_pianist():
    """A pianist whose loudness follows the phrase but hardly the pitch: loosening the written velocity's
    tie to pitch brings it nearer him; a pianist who follows pitch as closely as written: it takes it away."""
    from types import SimpleNamespace

    from stylenet.expression.notes import Performed, make_score_notes
    from stylenet.expression.train import LOOSENINGS, _velocity_r

    rng = np.random.default_rng(1)
    n = 400
    pitch = rng.integers(40, 90, n)
    onset = np.arange(n, dtype=float) / 2
    score = make_score_notes(pitch, onset, onset + 0.4, np.full(n, 80))
    phrase = 12 * np.sin(np.arange(n) / 15)
    written = np.zeros((n, 6))
    written[:, 0] = 30 + phrase + 0.8 * pitch
    beats = np.arange(n // 2 + 2, dtype=float)
    rows, cache = [], {}
    for work, tie in (("loose", 0.05), ("tied", 0.8)):
        velocity = 30 + phrase + tie * pitch + rng.normal(0, 1, n)
        performed = Performed(onset * 0.5, onset * 0.5 + 0.2, velocity, beats, beats * 0.5)
        rows.append(SimpleNamespace(genre="jazz", work=work, score=score, performed=performed))
        cache[("jazz", work)] = (written, written)
    loose = {a: _velocity_r(rows[:1], cache, 1.0, a) for a in LOOSENINGS}
    tied = {a: _velocity_r(rows[1:], cache, 1.0, a) for a in LOOSENINGS}
    assert list(loose) == list(LOOSENINGS)
    assert all(loose[a] < loose[b] for a, b in zip(LOOSENINGS, LOOSENINGS[1:]))
    assert all(tied[a] > tied[b] for a, b in zip(LOOSENINGS, LOOSENINGS[1:]))


def test_consensus_targets_are_the_pianists_mean_of_velocity_and_tempo_only():
    from stylenet.expression.train import typical

    k = 6
    def item(work, velocity, tempo, found, onset):
        y = np.zeros((3, 2 * k), np.float32)
        y[:, 0], y[:, 1], y[:, 2] = velocity, tempo, onset
        y[:, k], y[:, k + 1], y[:, k + 2] = found, found, found
        return {"genre": "concert", "work": work, "y": y}

    a = item("w", [1.0, 2.0, 3.0], [0.5, 0.0, -0.5], [1, 1, 0], [0.1, 0.2, 0.3])
    b = item("w", [3.0, 0.0, 5.0], [-0.5, 1.0, 0.5], [1, 0, 1], [0.4, 0.5, 0.6])
    alone = item("v", [7.0, 8.0, 9.0], [1.0, 1.0, 1.0], [1, 1, 1], [0.0, 0.0, 0.0])
    other_genre = item("w", [9.0, 9.0, 9.0], [0.0, 0.0, 0.0], [1, 1, 1], [0.0, 0.0, 0.0])
    other_genre["genre"] = "jazz"
    before = [i["y"].copy() for i in (a, b, alone, other_genre)]
    typical([a, b, alone, other_genre])
    for m in (a, b):
        np.testing.assert_allclose(m["y"][:, 0], [2.0, 2.0, 5.0])  # the mean over those who played the note
        np.testing.assert_allclose(m["y"][:, 1], [0.0, 0.0, 0.5])
        np.testing.assert_allclose(m["y"][:, k:k + 2], [[1, 1], [1, 1], [1, 1]])  # played by one of them at least
    np.testing.assert_allclose(a["y"][:, 2], before[0][:, 2])  # onsets stay each pianist's own, as do their masks
    np.testing.assert_allclose(b["y"][:, [2, k + 2]], before[1][:, [2, k + 2]])
    np.testing.assert_array_equal(alone["y"], before[2])  # a work played once, or in another genre: as it was
    np.testing.assert_array_equal(other_genre["y"], before[3])
