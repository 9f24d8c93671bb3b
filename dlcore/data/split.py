"""Hold out a dev set: the examples the course makes its choices on.

The course uses three sets (taught in notebook 2): *train* to fit the weights, *dev* to
choose everything else (hidden units, lambda, keep_prob, learning rate, which model), and
*test*, looked at once at the end to report how the chosen model does. The loaders give
train and test; :func:`train_dev_split` carves the dev set out of train.

>>> from dlcore.data import load_cats, train_dev_split
>>> cats = load_cats()
>>> x_train, y_train, x_dev, y_dev = train_dev_split(cats.train_x, cats.train_y, 50, seed=0)
>>> x_train.shape, x_dev.shape
((159, 64, 64, 3), (50, 64, 64, 3))
"""

from __future__ import annotations

import numpy as np


def train_dev_split(
    x: np.ndarray, y: np.ndarray, dev_size: int | float, seed: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split examples ``x (m, ...)`` and labels ``y (m, ...)`` into train and dev.

    Args:
        x, y: examples along the first axis, as the loaders return them.
        dev_size: how many examples go to dev (an int), or which share of them (a float
            in (0, 1), rounded to the nearest count).
        seed: the shuffle; the same seed gives the same split.

    Returns:
        ``(x_train, y_train, x_dev, y_dev)``; each example keeps its label, the order
        within each part is the shuffled order.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"train_dev_split: x and y need the same number of examples along their first "
            f"axis, got x {x.shape} and y {y.shape}"
        )
    m = len(x)
    if isinstance(dev_size, float):
        if not 0 < dev_size < 1:
            raise ValueError(
                f"train_dev_split: a fractional dev_size must be in (0, 1), got {dev_size}"
            )
        n_dev = int(round(dev_size * m))
    elif isinstance(dev_size, int | np.integer) and not isinstance(dev_size, bool):
        n_dev = int(dev_size)
    else:
        raise TypeError(f"train_dev_split: dev_size must be an int or a float, got {dev_size!r}")
    if not 0 < n_dev < m:
        raise ValueError(
            f"train_dev_split: dev_size {dev_size} leaves no examples for train or dev "
            f"(m = {m}; expected 1 <= dev examples <= {m - 1})"
        )
    order = np.random.default_rng(seed).permutation(m)
    train, dev = order[n_dev:], order[:n_dev]
    return x[train], y[train], x[dev], y[dev]
