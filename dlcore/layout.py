"""Layouts: where the examples are in the arrays a model takes, and the conversions to them.

Taught in notebooks/01-logistic-regression.ipynb (flattening pictures into columns) and
07-softmax-and-mnist.ipynb (one-hot labels).

dlcore has two layouts (see DESIGN.md):

- **columns** ``(n_x, m)``: dense models, one example per column, as in the course's
  equations ``Z = W @ A_prev + b``. Images become columns by flattening each one row by
  row (for RGB: row, column, channel), e.g. cats ``(209, 64, 64, 3)`` -> ``(12288, 209)``.
- **images** ``(m, C, H, W)``: convolutional models, one example per leading index.

A model's first layer says which one it takes (its ``batch_axis``: -1 for columns, 0 for
images), and a model card records the shape of one example (``card["input"]["shape"]``).
The data sets, the recipes, :class:`~dlcore.model.Sequential` and the served worker all
convert here, so "flattened row by row, scaled to [0, 1]" and "a one-hot column" have one
definition.

    >>> from dlcore.layout import flatten_images, one_hot, input_layout
    >>> X = flatten_images(cats.train_x)      # (12288, 209) float32 in [0, 1]
    >>> Y = one_hot(digits.train_y, 10)        # (10, 18000)
    >>> input_layout(model)                    # "columns" or "images"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

COLUMNS = "columns"  #: ``(n_x, m)``: examples are columns
IMAGES = "images"  #: ``(m, C, H, W)``: examples along the first axis
LAYOUTS = (COLUMNS, IMAGES)


def layout_of(batch_axis: int) -> str:
    """The layout of arrays whose examples lie along ``batch_axis``: 0 images, -1 columns."""
    if batch_axis == 0:
        return IMAGES
    if batch_axis in (-1, 1):
        return COLUMNS
    raise ValueError(f"batch_axis must be 0 (images) or -1 (columns), got {batch_axis!r}")


def input_layout(model: Any) -> str:
    """The layout ``model`` takes (``"columns"`` or ``"images"``), from its first layer."""
    return layout_of(model.layers[0].batch_axis)


def flatten_images(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Images ``(m, ...)`` uint8 -> the course's column layout ``(features, m)`` in [0, 1].

    Each column is one image flattened in row-major order (for RGB: row, column, channel),
    e.g. cats ``(209, 64, 64, 3)`` -> ``(12288, 209)``.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"flatten_images expects images of shape (m, ...), got {images.shape}")
    m = images.shape[0]
    return (images.reshape(m, -1).T / 255.0).astype(dtype)


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels ``(m,)`` -> one-hot columns ``(num_classes, m)``."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"one_hot expects labels of shape (m,), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"one_hot: labels must be in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    Y = np.zeros((num_classes, labels.size), dtype=dtype)
    Y[labels, np.arange(labels.size)] = 1
    return Y


def _unit_float32(images: np.ndarray) -> np.ndarray:
    """uint8 (or other integer) pixels / 255, or floats already in [0, 1], as float32."""
    x = np.asarray(images)
    return x.astype(np.float32) / (255 if x.dtype.kind in "iu" else 1)


def as_columns(images: np.ndarray) -> np.ndarray:
    """``(m, 28, 28)`` in [0, 1] (or uint8) -> ``(784, m)`` float32 for the dense model."""
    x = _unit_float32(images)
    return x.reshape(x.shape[0], -1).T


def as_images(images: np.ndarray) -> np.ndarray:
    """``(m, 28, 28)`` in [0, 1] (or uint8) -> ``(m, 1, 28, 28)`` float32 for the CNN."""
    x = _unit_float32(images)
    if x.ndim != 3:
        raise ValueError(f"as_images expects grey images (m, H, W), got shape {x.shape}")
    return x[:, None]


def to_layout(images: np.ndarray, layout: str) -> np.ndarray:
    """Grey images ``(m, H, W)`` (uint8, or floats in [0, 1]) in ``layout``: columns
    ``(H*W, m)`` or images ``(m, 1, H, W)``, float32 in [0, 1]."""
    if layout == COLUMNS:
        return as_columns(images)
    if layout == IMAGES:
        return as_images(images)
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def example_shape(model: Any, input_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """The shape of one example as ``model`` takes it, with a batch axis of size 1.

    Args:
        model: the model (its first layer gives the layout).
        input_shape: one example's shape from the model card (``card["input"]["shape"]``),
            e.g. ``[784]``, ``[12288]`` or ``[1, 28, 28]``. Without it, a dense first
            layer's ``n_in`` gives ``(n_in, 1)``; an image model needs it.

    Returns:
        ``(n_x, 1)`` for columns (``input_shape`` flattened), ``(1, *input_shape)`` for
        images; e.g. ``(784, 1)``, ``(1, 1, 28, 28)``.
    """
    layout = input_layout(model)
    if input_shape is None:
        n_in = getattr(model.layers[0], "n_in", None)
        if layout == IMAGES or n_in is None:
            raise ValueError(
                "the input shape of one example is unknown: the model card has no "
                "input.shape and the first layer does not say it"
            )
        input_shape = [n_in]
    shape = list(input_shape)
    if not shape or not all(isinstance(n, int | np.integer) and n > 0 for n in shape):
        raise ValueError(f"an input shape is a list of positive integers, got {input_shape!r}")
    if layout == IMAGES:
        return (1, *(int(n) for n in shape))
    return (int(np.prod(shape)), 1)


def as_example(x: np.ndarray, shape: Sequence[int], dtype=np.float32) -> np.ndarray:
    """One input (a 28x28 digit, 12288 cat pixels, ...) reshaped to ``shape`` (from
    :func:`example_shape`); its values are taken in row-major order."""
    x = np.asarray(x, dtype=dtype)
    size = int(np.prod(shape))
    if x.size != size:
        raise ValueError(f"the model takes {size} values per example, got an input of shape "
                         f"{x.shape}")
    return x.reshape(tuple(shape))
