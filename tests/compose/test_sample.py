"""Sampling: seeded and reproducible, temperature as documented, autoencoder codes inside the training spread,
and pieces that `stylenet perform` and `stylenet survey` take as they are."""

from types import SimpleNamespace

import numpy as np
import pytest

from stylenet.cli.main import main
from stylenet.compose.data import NO_FILTERS, read_tune
from stylenet.compose.sample import Composer, SampleOptions, choose, draw_latents, sample, token_pieces
from stylenet.core import midifile
from stylenet.core.errors import StyleNetError
from tests.helpers import N, Song, write_song


def _bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.mid"))}


def test_the_same_seed_writes_the_same_pieces(lstm_run, tmp_path):
    for out, seed in (("a", 3), ("b", 3), ("c", 4)):
        report = sample(SampleOptions(str(lstm_run), str(tmp_path / out), count=2, bars=4, seed=seed))
        assert len(report.written) == 2
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert list(_bytes(tmp_path / "a").values()) != list(_bytes(tmp_path / "c").values())


def test_a_token_piece_is_flat_at_the_asked_tempo_and_length(lstm_run, tmp_path):
    sample(SampleOptions(str(lstm_run), str(tmp_path), count=1, bars=4, qpm=100.0, velocity=70))
    path = next(tmp_path.glob("*.mid"))
    piece = midifile.load_midi(path)
    assert set(piece.velocity.tolist()) == {70}
    assert piece.grid.qpm[0] == pytest.approx(100.0)
    tune = read_tune(path, NO_FILTERS)
    assert tune.n_bars == 4 and len(np.unique(tune.onset)) == 4 * 8  # a token every eighth note


def test_temperature_zero_is_greedy_and_one_draws_the_network_s_probabilities():
    p = np.array([0.1, 0.6, 0.3])
    rng = np.random.default_rng(0)
    assert {choose(p, 0.0, rng) for _ in range(20)} == {1}
    draws = np.bincount([choose(p, 1.0, rng) for _ in range(6000)], minlength=3) / 6000
    np.testing.assert_allclose(draws, p, atol=0.02)
    sharp = p ** 2 / (p ** 2).sum()  # temperature 0.5: p ** (1 / 0.5), renormalised
    draws = np.bincount([choose(p, 0.5, rng) for _ in range(6000)], minlength=3) / 6000
    np.testing.assert_allclose(draws, sharp, atol=0.02)


def test_an_opening_is_context_and_too_short_a_one_is_named(lstm_run, key_songs, tmp_path):
    opening = next(key_songs.glob("*.mid"))
    for out in ("a", "b"):
        sample(SampleOptions(str(lstm_run), str(tmp_path / out), count=1, bars=2, seed=0, temperature=0.0,
                             opening=str(opening)))
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    write_song(tmp_path / "three.mid", Song([N(60, 0, 240, 64), N(62, 240, 480, 64), N(64, 480, 720, 64)]))
    with pytest.raises(StyleNetError, match=r"three.mid: an opening needs 16 chord tokens .* it has 3"):
        sample(SampleOptions(str(lstm_run), str(tmp_path / "d"), opening=str(tmp_path / "three.mid")))


class _NextToken:
    """A 'network' that always predicts the token after the last one it read."""

    def predict_on_batch(self, windows):
        return np.eye(10)[(windows[:, -1] + 1) % 10]


def test_the_window_slides_over_the_opening_and_then_over_what_was_written():
    composer = Composer(None, SimpleNamespace(token_lstm=SimpleNamespace(context=4)), _NextToken(),
                        vocabulary=[None] * 10)  # only its length is read
    pieces = token_pieces(composer, 2, 6, seed=0, temperature=0.0, opening=np.array([5, 5, 5, 7]))
    np.testing.assert_array_equal(pieces, [[8, 9, 0, 1, 2, 3]] * 2)  # the opening is context, not output


def test_latent_codes_are_drawn_from_the_training_spread_and_never_negative():
    latents = {"mean": np.array([2.0, 0.1]), "components": np.array([[1.0, 0.0], [0.0, 1.0]]),
               "scales": np.array([0.5, 0.3])}
    codes = draw_latents(latents, 20000, np.random.default_rng(0))
    assert codes.min() >= 0.0
    assert codes[:, 0].mean() == pytest.approx(2.0, abs=0.02) and codes[:, 0].std() == pytest.approx(0.5, abs=0.02)
    assert (codes[:, 1] == 0).mean() == pytest.approx(0.37, abs=0.02)  # N(0.1, 0.3) below zero, clipped
    one = draw_latents(latents, 5000, np.random.default_rng(0), components=1)
    assert np.all(one[:, 1] == 0.1)


def test_autoencoder_pieces_are_valid_midi_that_perform_gives_dynamics(ae_run, tmp_path, model_file, capsys):
    assert main(["compose", "sample", "--model", str(ae_run), "-n", "2", "--bars", "6", "--seed", "1",
                 "--threshold", "0.2", "-o", str(tmp_path / "gen")]) == 0
    written = sorted((tmp_path / "gen").glob("*.mid"))
    assert [p.name for p in written] == ["autoencoder-seed1-01.mid", "autoencoder-seed1-02.mid"]
    assert all(read_tune(p, NO_FILTERS).n_bars <= 6 for p in written)
    assert main(["perform", str(tmp_path / "gen"), "--genre", "jazz", "--model", str(model_file),
                 "-o", str(tmp_path / "performed"), "-q"]) == 0
    performed = [midifile.load_midi(p) for p in sorted((tmp_path / "performed").glob("*.mid"))]
    assert len(performed) == 2 and all(len(set(p.velocity.tolist())) > 1 for p in performed)


def test_a_threshold_no_cell_reaches_writes_nothing_and_says_why(ae_run, tmp_path, capsys):
    assert main(["compose", "sample", "--model", str(ae_run), "-n", "1", "--threshold", "1",
                 "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "piece 1: silent at --threshold 1" in err and not list(tmp_path.glob("*.mid"))


def test_a_bad_model_path_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["compose", "sample", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err and "not a `stylenet compose train` run directory" in err


def test_existing_pieces_are_not_overwritten_without_force(lstm_run, tmp_path, capsys):
    args = ["compose", "sample", "--model", str(lstm_run), "-n", "1", "--bars", "2", "-o", str(tmp_path)]
    assert main(args) == 0
    before = _bytes(tmp_path)
    assert main(args + ["--seed", "0"]) == 2 and "--force" in capsys.readouterr().err
    assert _bytes(tmp_path) == before
    assert main(args + ["--temperature", "0", "--force"]) == 0


def test_generated_pieces_are_a_source_of_the_rating_survey(lstm_run, tmp_path, capsys):
    sample(SampleOptions(str(lstm_run), str(tmp_path / "lstm"), count=2, bars=4))
    assert main(["survey", "build", "-o", str(tmp_path / "survey"), "--design", "rating", "--items", "2",
                 "--sources", f"lstm={tmp_path / 'lstm'}", "--seconds", "2", "-q"]) == 0
    assert "2 clips" in capsys.readouterr().out


def test_the_shipped_composer_writes_pieces_perform_accepts(tmp_path, model_file):
    report = sample(SampleOptions(None, str(tmp_path / "gen"), count=1, bars=2, seed=0))
    assert report.composer == "token_lstm" and len(report.written) == 1
    assert read_tune(report.written[0], NO_FILTERS).n_bars == 2
    assert main(["perform", str(report.written[0]), "--genre", "jazz", "--model", str(model_file),
                 "-o", str(tmp_path / "played.mid"), "-q"]) == 0
