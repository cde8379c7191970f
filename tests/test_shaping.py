import numpy as np
import pytest

from stylenet.shaping import DYNAMICS, Shaping, parse_contrast, parse_level, shape


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


@pytest.mark.parametrize("text, value", [("mf", "mf"), ("genre", "genre"), ("model", "model"), ("input", "input"),
                                         ("90", 90.0)])
def test_levels_parse_as_markings_names_or_velocities(text, value):
    assert parse_level(text) == value


@pytest.mark.parametrize("parse, text", [(parse_level, "0"), (parse_level, "loud"), (parse_contrast, "-1"),
                                         (parse_contrast, "wide")])
def test_bad_levels_and_contrasts_are_refused(parse, text):
    with pytest.raises(ValueError):
        parse(text)
