"""Initialisers: shapes, dtypes, scales, determinism."""

import numpy as np
import pytest

from dlcore import init


@pytest.mark.parametrize("name", ["zeros", "random", "xavier", "he"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype(name, dtype):
    W = init.initialize(name, (7, 3), rng=0, dtype=dtype)
    assert W.shape == (7, 3) and W.dtype == dtype


@pytest.mark.parametrize(
    "name, expected_std",
    [("zeros", 0.0), ("random", 0.01), ("xavier", np.sqrt(1 / 400)), ("he", np.sqrt(2 / 400))],
)
def test_scale(name, expected_std):
    W = init.initialize(name, (300, 400), rng=0, dtype=np.float64)
    assert W.std() == pytest.approx(expected_std, rel=0.02, abs=1e-12)
    assert abs(W.mean()) < 0.05 * expected_std + 1e-12


def test_fan_in_counts_all_trailing_axes():
    W = init.he((64, 3, 5, 5), rng=0, dtype=np.float64)  # a conv kernel: fan-in 3*5*5
    assert W.std() == pytest.approx(np.sqrt(2 / 75), rel=0.03)


def test_same_seed_same_weights_and_generators_advance():
    np.testing.assert_array_equal(init.he((4, 5), rng=3), init.he((4, 5), rng=3))
    assert not np.array_equal(init.he((4, 5), rng=3), init.he((4, 5), rng=4))
    g = np.random.default_rng(3)
    first, second = init.he((4, 5), rng=g), init.he((4, 5), rng=g)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, init.he((4, 5), rng=3))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        init.initialize("glorot", (2, 2))
    with pytest.raises(TypeError, match="rng must be"):
        init.as_generator("seed")
