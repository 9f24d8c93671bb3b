"""Weight initialisers: zeros, scaled random, Xavier and He.

Taught in notebooks/05-initialisation-regularisation-gradient-checking.ipynb (why 1/n halves a
ReLU network's signal and He's 2/n does not; ``"xavier"`` here is LeCun's 1/n).

Every initialiser returns ``W`` of shape ``(n_out, n_in)`` (the course's ``W[l]`` is
``(n[l], n[l-1])``) drawn from a seed or a :class:`numpy.random.Generator`; biases start
at zero in every scheme. The course page on initialisation compares them:

- ``zeros``: every unit of a layer computes the same thing forever (symmetry is never
  broken) — included to show why it fails;
- ``random``: ``randn * scale`` (``scale=0.01`` by default; large scales saturate sigmoids);
- ``xavier``: ``randn * sqrt(1 / n_in)`` — the course's "Xavier" (LeCun's variance; Glorot
  and Bengio's paper averages fan-in and fan-out). The original cat network used exactly
  this (``W / sqrt(n[l-1])``);
- ``he``: ``randn * sqrt(2 / n_in)``, for ReLU layers (He et al. 2015).

For convolution ``n_in`` is the fan-in ``C_prev * f * f``; pass ``shape`` explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SeedLike = int | np.random.Generator | None


def as_generator(rng: SeedLike) -> np.random.Generator:
    """A Generator from a seed (int), an existing Generator (returned as is) or None (fresh)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be an int seed, a numpy.random.Generator or None, not {rng!r}")


def zeros(shape: Sequence[int], rng: SeedLike = None, dtype=np.float32) -> np.ndarray:
    """All zeros (``rng`` is accepted for a uniform signature and ignored)."""
    return np.zeros(shape, dtype=dtype)


def random(
    shape: Sequence[int], rng: SeedLike = None, dtype=np.float32, scale: float = 0.01
) -> np.ndarray:
    """Standard normal draws times ``scale``."""
    return (as_generator(rng).standard_normal(shape) * scale).astype(dtype)


def xavier(shape: Sequence[int], rng: SeedLike = None, dtype=np.float32) -> np.ndarray:
    """Standard normal draws times ``sqrt(1 / fan_in)``; fan_in is the product of shape[1:]."""
    fan_in = int(np.prod(shape[1:]))
    return (as_generator(rng).standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(dtype)


def he(shape: Sequence[int], rng: SeedLike = None, dtype=np.float32) -> np.ndarray:
    """Standard normal draws times ``sqrt(2 / fan_in)``; fan_in is the product of shape[1:]."""
    fan_in = int(np.prod(shape[1:]))
    return (as_generator(rng).standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


INITIALIZERS = {"zeros": zeros, "random": random, "xavier": xavier, "he": he}


def initialize(name: str, shape: Sequence[int], rng: SeedLike = None, dtype=np.float32):
    """Draw a weight array with the initialiser called ``name`` (see INITIALIZERS)."""
    try:
        init = INITIALIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown init {name!r}; expected one of {', '.join(map(repr, INITIALIZERS))}"
        ) from None
    return init(shape, rng=rng, dtype=dtype)
