"""The course's data sets, fetched and verified: ``cats``, ``mnist``, ``mnist-small``.

>>> from dlcore.data import load_cats
>>> cats = load_cats()                       # fetches and verifies on first use
>>> cats.train_x.shape, cats.classes
((209, 64, 64, 3), ['non-cat', 'cat'])

The loaders return images as stored (examples first, uint8); :mod:`dlcore.layout` turns
them into what a model takes (``flatten_images``, ``one_hot``).

Files are listed with their sha256 in ``datasets/manifest.json``; see
:mod:`dlcore.data.store` for where they come from (cache, mirror, URLs) and the
``DLCORE_DATA_DIR`` / ``DLCORE_DATA_MIRROR`` settings. Command line:
``python -m dlcore.data fetch NAME...``, ``verify``, ``info``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlcore.data.errors import (
    ChecksumMismatch,
    DataError,
    FetchError,
    MalformedFile,
    UnknownDataset,
)
from dlcore.data.formats import read_h5_arrays, read_idx
from dlcore.data.split import train_dev_split
from dlcore.data.store import Store, default_store

__all__ = [
    "ChecksumMismatch",
    "DataError",
    "Dataset",
    "FetchError",
    "MalformedFile",
    "Store",
    "UnknownDataset",
    "fetch",
    "load_cats",
    "load_mnist",
    "train_dev_split",
]

MNIST_CLASSES = [str(d) for d in range(10)]


class Dataset(NamedTuple):
    """A data set split into train and test: images ``(m, ...)`` uint8, labels ``(m,)``."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]


def fetch(name: str, *, store: Store | None = None):
    """Make data set ``name`` present and verified in the cache; return its directory."""
    return (store or default_store()).fetch(name)


def load_cats(*, store: Store | None = None) -> Dataset:
    """The cat vs non-cat images: train ``(209, 64, 64, 3)``, test ``(50, 64, 64, 3)``
    uint8 RGB; labels int64, 1 = cat; classes ``['non-cat', 'cat']``."""
    folder = fetch("cats", store=store)
    image = (None, 64, 64, 3)
    train = read_h5_arrays(
        folder / "train_catvnoncat.h5",
        {"train_set_x": image, "train_set_y": (None,), "list_classes": (2,)},
    )
    test = read_h5_arrays(
        folder / "test_catvnoncat.h5", {"test_set_x": image, "test_set_y": (None,)}
    )
    for x, y, name in [
        (train["train_set_x"], train["train_set_y"], "train"),
        (test["test_set_x"], test["test_set_y"], "test"),
    ]:
        if len(x) != len(y):
            raise MalformedFile(f"cats {name}: {len(x)} images but {len(y)} labels")
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in train["list_classes"]]
    return Dataset(
        train["train_set_x"].astype(np.uint8),
        train["train_set_y"].astype(np.int64),
        test["test_set_x"].astype(np.uint8),
        test["test_set_y"].astype(np.int64),
        classes,
    )


def load_mnist(name: str = "mnist-small", *, store: Store | None = None) -> Dataset:
    """MNIST digits (``mnist`` or ``mnist-small``): images ``(m, 28, 28)`` uint8 (0 = black
    background, 255 = ink), labels ``(m,)`` int64 in 0..9."""
    folder = fetch(name, store=store)
    arrays = {}
    for split, prefix in [("train", "train"), ("test", "t10k")]:
        images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise MalformedFile(
                f"{name} {split} images: shape {images.shape}, expected (m, 28, 28)"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise MalformedFile(
                f"{name} {split}: {len(images)} images but labels of shape {labels.shape}"
            )
        if labels.size and labels.max() > 9:
            raise MalformedFile(f"{name} {split} labels: found {labels.max()}, expected 0..9")
        arrays[split] = (images, labels.astype(np.int64))
    return Dataset(*arrays["train"], *arrays["test"], MNIST_CLASSES)
