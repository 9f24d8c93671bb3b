"""dlcore.layout: columns and images, one example's shape, and the one-hot columns."""

import numpy as np
import pytest

from dlcore import layout
from dlcore.conv import Conv2D, Flatten
from dlcore.layers import Dense, ReLU
from dlcore.layout import (
    as_columns,
    as_example,
    as_images,
    example_shape,
    flatten_images,
    input_layout,
    one_hot,
    to_layout,
)
from dlcore.model import Sequential


def dense_model():
    return Sequential([Dense(12, 3, rng=0), Dense(3, 2, activation="softmax", rng=0)],
                      loss="categorical_cross_entropy")


def conv_model():
    return Sequential(
        [Conv2D(1, 2, 3, padding=1, rng=0), ReLU(), Flatten(),
         Dense(2 * 4 * 3, 2, activation="softmax", rng=0)],
        loss="categorical_cross_entropy",
    )


def test_flatten_images_makes_one_column_per_image_row_by_row():
    rgb = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)  # (m, H, W, C)
    X = flatten_images(rgb)
    assert X.shape == (18, 2) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 1], rgb[1].ravel() / np.float32(255))  # row, col, channel
    assert flatten_images(rgb, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"shape \(m, \.\.\.\), got \(5,\)"):
        flatten_images(np.zeros(5))


def test_one_hot_columns_and_errors():
    Y = one_hot(np.array([2, 0, 1, 2]), 3)
    np.testing.assert_array_equal(Y, [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.2, got 0\.\.3"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match=r"labels of shape \(m,\)"):
        one_hot(np.zeros((2, 2), int), 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_grey_images_to_columns_and_image_tensors(dtype):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4, 5, 6)).astype(np.uint8)
    images = pixels if dtype == np.uint8 else (pixels / 255).astype(dtype)  # both in [0, 1]
    columns, tensors = as_columns(images), as_images(images)
    assert columns.shape == (30, 4) and tensors.shape == (4, 1, 5, 6)
    assert columns.dtype == tensors.dtype == np.float32
    np.testing.assert_allclose(columns[:, 2], pixels[2].ravel() / 255, rtol=1e-6)
    np.testing.assert_allclose(tensors[2, 0], pixels[2] / 255, rtol=1e-6)
    np.testing.assert_array_equal(to_layout(images, "columns"), columns)
    np.testing.assert_array_equal(to_layout(images, "images"), tensors)


def test_layout_errors_say_what_was_expected():
    with pytest.raises(ValueError, match=r"grey images \(m, H, W\), got shape \(2, 5, 5, 3\)"):
        as_images(np.zeros((2, 5, 5, 3)))
    with pytest.raises(ValueError, match="layout must be one of .*'columns', 'images'.*'rows'"):
        to_layout(np.zeros((2, 5, 5)), "rows")
    with pytest.raises(ValueError, match="batch_axis must be 0 .* or -1 .*got 2"):
        layout.layout_of(2)


def test_a_models_input_layout_comes_from_its_first_layer():
    assert input_layout(dense_model()) == dense_model().layout == "columns"
    assert input_layout(conv_model()) == conv_model().layout == "images"


def test_one_example_in_the_models_layout():
    dense, conv = dense_model(), conv_model()
    assert example_shape(dense) == (12, 1)  # from the first layer's n_in
    assert example_shape(dense, [3, 4]) == (12, 1)  # a card's image shape, flattened
    assert example_shape(conv, [1, 4, 3]) == (1, 1, 4, 3)
    with pytest.raises(ValueError, match="input shape of one example is unknown"):
        example_shape(conv)
    with pytest.raises(ValueError, match="list of positive integers, got"):
        example_shape(dense, [0, 4])
    pixels = np.arange(12).reshape(4, 3)
    x = as_example(pixels, example_shape(conv, [1, 4, 3]))
    assert x.shape == (1, 1, 4, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], pixels)
    np.testing.assert_array_equal(as_example(pixels, (12, 1))[:, 0], pixels.ravel())
    assert conv.predict_proba(x).shape == (2, 1) and dense.predict_proba(as_example(
        pixels, example_shape(dense))).shape == (2, 1)
    with pytest.raises(ValueError, match=r"takes 12 values per example, got an input of shape "
                       r"\(5,\)"):
        as_example(np.zeros(5), (12, 1))


def test_sequential_takes_integer_labels_as_their_one_hot_columns():
    X = np.random.default_rng(1).standard_normal((12, 6))
    labels = np.array([1, 0, 1, 1, 0, 0])
    with_labels, with_columns = dense_model(), dense_model()
    with_labels.fit(X, labels, epochs=3)
    with_columns.fit(X, one_hot(labels, 2), epochs=3)
    for a, b in zip(with_labels.layers, with_columns.layers, strict=True):
        np.testing.assert_array_equal(a.params["W"], b.params["W"])
