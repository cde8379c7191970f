import numpy as np
import pytest

from stylenet.velocity.shaping import (
    DYNAMICS,
    MAX_CONTRAST,
    Shaping,
    contrast_factor,
    parse_contrast,
    parse_level,
    shape,
)


def test_shape_level_and_contrast():
    predicted = np.array([50.0, 60.0, 70.0])
    own = np.array([30.0, 30.0, 40.0])
    stats = {"piece_std": 15.0, "mean": 77.0}
    assert np.allclose(shape(predicted, own, Shaping(contrast=1.0, level="model"), stats), predicted)
    assert np.allclose(shape(predicted, own, Shaping(contrast=2.0, level="model"), stats), [40, 60, 80])
    auto = shape(predicted, own, Shaping(level="model"), {"piece_std": 16.329931618554522})
    assert np.isclose(auto.std(), 16.329931618554522) and np.isclose(auto.mean(), 60)
    assert np.isclose(shape(predicted, own, Shaping(level="ff", contrast=1.0)).mean(), DYNAMICS["ff"])
    assert np.isclose(shape(predicted, own, Shaping(level="input", contrast=1.0)).mean(), own.mean())
    assert np.isclose(shape(predicted, own, Shaping(level=90.0, contrast=1.0)).mean(), 90)
    assert np.isclose(shape(predicted, own, Shaping(level="genre", contrast=1.0), stats).mean(), 77.0)
    squeezed = shape(np.array([60.0, 60.1]), own[:2], Shaping(level="model"), {"piece_std": 50.0})
    assert np.isclose(squeezed.std(), 0.05 * 4)  # the auto stretch is capped at 4x


def test_auto_contrast_uses_the_genres_factor_when_the_model_has_one():
    predicted, own = np.array([50.0, 60.0, 70.0]), np.zeros(3)
    stats = {"contrast": 1.5, "piece_std": 99.0, "mean": 77.0}  # the factor wins over the per-piece spread
    assert np.allclose(shape(predicted, own, Shaping(level="model"), stats), [45, 60, 75])
    assert np.allclose(shape(predicted, own, Shaping(level="model", contrast=1.0), stats), predicted)


def test_contrast_factor_brings_the_spread_of_all_notes_to_the_target():
    # two pieces, means 61 and 71, deviations +-1: the spread after a stretch c is sqrt(25 + c^2) (means stay)
    predicted = [np.array([60.0, 62.0]), np.array([70.0, 72.0])]
    human_spread = np.sqrt(25 + 2.0 ** 2) / 0.9  # so c = 2 gives 0.9 of it
    truth = [64 + human_spread * np.array([1.0, -1.0]), 64 + human_spread * np.array([1.0, -1.0])]
    assert contrast_factor(predicted, truth, target=0.9) == pytest.approx(2.0, abs=1e-4)
    assert contrast_factor(predicted, truth, target=np.sqrt(25 + 0.5 ** 2) / human_spread) == pytest.approx(0.5, abs=1e-4)
    assert contrast_factor(predicted, truth, target=5.0) == MAX_CONTRAST  # out of reach: the cap
    assert contrast_factor(predicted, [np.full(2, 64.0)] * 2) == 1.0  # no human spread to match
    assert contrast_factor([], []) == 1.0  # no pieces of the genre


@pytest.mark.parametrize("text, value", [("mf", "mf"), ("genre", "genre"), ("model", "model"), ("input", "input"),
                                         ("90", 90.0)])
def test_levels_parse_as_markings_names_or_velocities(text, value):
    assert parse_level(text) == value


@pytest.mark.parametrize("parse, text", [(parse_level, "0"), (parse_level, "loud"), (parse_contrast, "-1"),
                                         (parse_contrast, "wide")])
def test_bad_levels_and_contrasts_are_refused(parse, text):
    with pytest.raises(ValueError):
        parse(text)
