"""train_dev_split: a reproducible dev set carved out of train, every example kept once."""

import numpy as np
import pytest

from dlcore.data import train_dev_split


def examples(m=23):
    x = np.arange(m * 6).reshape(m, 2, 3)  # example i holds 6i .. 6i+5
    y = np.arange(m) * 10
    return x, y


def test_every_example_lands_once_with_its_label():
    x, y = examples()
    x_train, y_train, x_dev, y_dev = train_dev_split(x, y, 5, seed=3)
    assert x_dev.shape == (5, 2, 3) and x_train.shape == (18, 2, 3)
    both = np.concatenate([y_train, y_dev])
    assert sorted(both) == sorted(y)
    np.testing.assert_array_equal(np.concatenate([x_train, x_dev])[:, 0, 0], both // 10 * 6)


def test_same_seed_same_split_other_seed_other_split():
    x, y = examples()
    a = train_dev_split(x, y, 5, seed=1)[3]
    assert np.array_equal(a, train_dev_split(x, y, 5, seed=1)[3])
    assert not np.array_equal(a, train_dev_split(x, y, 5, seed=2)[3])


def test_fraction():
    x, y = examples(200)
    assert len(train_dev_split(x, y, 0.25)[3]) == 50


@pytest.mark.parametrize("dev_size", [0, 23, 30, -1, 0.0, 1.0, 1.5])
def test_a_split_that_leaves_a_part_empty_is_refused(dev_size):
    x, y = examples()
    with pytest.raises(ValueError, match="dev_size"):
        train_dev_split(x, y, dev_size)


def test_mismatched_lengths_and_bad_types_are_refused():
    x, y = examples()
    with pytest.raises(ValueError, match="same number of examples"):
        train_dev_split(x, y[:-1], 5)
    with pytest.raises(TypeError, match="int or a float"):
        train_dev_split(x, y, "5")
