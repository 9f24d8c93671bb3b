"""Checks on properties, for exercises whose answer is random (initialisation, masks).

Their values cannot be compared with dlcore's, so the checks look at what every correct
answer shares: shapes, zero biases, the spread of the draws (standard deviation, mean,
sign), and whether the draws come from the ``rng`` the learner was given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcore.exercises.engine import Runner, StructureError


def unpack_or_fail(r: Runner, unpack: Callable, result) -> dict:
    try:
        return unpack(result)
    except StructureError as e:
        r.fail(str(e), "structure")


def as_array(r: Runner, name: str, value) -> np.ndarray:
    if value is None:
        r.fail(f"{name} is None (not implemented yet?)", "not_implemented")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        r.fail(f"{name} should be an array, got {type(value).__name__}", "structure")
    return a


def expect_shape(r: Runner, name: str, a: np.ndarray, shape: tuple, transposed_key: str = "",
                 **fields) -> None:
    if a.shape == shape:
        return
    if transposed_key and a.shape == shape[::-1]:
        r.mistake(transposed_key, part=name, shape=shape, got=a.shape, **fields)
    r.fail(f"{name} has shape {a.shape}, expected {shape}", "shape")


def spread(r: Runner, name: str, W: np.ndarray, std: float, scales: dict[str, float],
           expected_words: str, **fields) -> None:
    """The draws of ``W`` look like N(0, std²): centred, with that standard deviation.

    ``scales`` maps mistake keys to the standard deviation that mistake gives; the one
    closest to the measured spread (within the sampling error) is reported.
    """
    n = W.size
    if not np.any(W):
        r.mistake("zeros", part=name, **fields)
    measured = float(np.sqrt(np.mean(W**2)))  # spread about 0, the intended mean
    mean = float(np.mean(W))
    if W.min() >= 0 and mean > 0:
        r.mistake("uniform", part=name, **fields)
    tol = 4 / np.sqrt(2 * n) + 0.02  # sampling error of a standard deviation, generously
    if abs(measured / std - 1) <= tol and abs(mean) <= 5 * std / np.sqrt(n):
        return
    for key, other in scales.items():
        if abs(measured / other - 1) <= tol:
            r.mistake(key, part=name, std=f"{measured:.3g}", expected=f"{std:.3g}", **fields)
    if abs(mean) > 5 * std / np.sqrt(n):
        r.fail(f"the entries of {name} have mean {mean:.3g}, expected about 0 "
               f"({expected_words})")
    r.fail(f"the entries of {name} spread with standard deviation {measured:.3g}, "
           f"expected {std:.3g} ({expected_words})")


def follows_rng(r: Runner, draw: Callable[[np.random.Generator], np.ndarray]) -> None:
    """``draw(rng)`` gives the same array for the same seed and another for another seed."""
    a = np.asarray(draw(np.random.default_rng(11)), dtype=np.float64)
    b = np.asarray(draw(np.random.default_rng(11)), dtype=np.float64)
    c = np.asarray(draw(np.random.default_rng(12)), dtype=np.float64)
    if a.shape != b.shape or not np.array_equal(a, b) or (a.shape == c.shape and
                                                          np.array_equal(a, c)):
        r.mistake("ignores_rng")
