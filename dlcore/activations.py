"""Activation functions g(Z) and their backward rules, as in the course.

Taught in notebooks/01-logistic-regression.ipynb (sigmoid), 02-one-hidden-layer.ipynb (tanh),
03-deep-network-step-by-step.ipynb (ReLU) and 07-softmax-and-mnist.ipynb (softmax).

Each activation comes as a pair of pure functions:

- ``forward(Z) -> A``: the activation applied elementwise (softmax: over axis 0, the classes);
- ``backward(dA, A) -> dZ``: the chain rule ``dZ = dA * g'(Z)``, written with the *output*
  ``A`` because every activation here has a derivative that is cheap to express through it
  (``sigmoid: A (1 - A)``, ``tanh: 1 - A**2``, ``relu: A > 0``). Layers therefore cache
  only ``A``, never ``Z``.

All functions work on arrays of any shape and keep the input's dtype, so they serve dense
activations ``(n, m)`` and image tensors ``(m, C, H, W)`` alike (softmax needs the classes
on axis 0, the dense convention). The layer wrappers (``ReLU()``, ``Sigmoid()`` ...) live in
:mod:`dlcore.layers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LEAKY_RELU_SLOPE = 0.01


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """sigma(Z) = 1 / (1 + exp(-Z)), computed without overflow for large |Z|."""
    # exp(-|Z|) never overflows; the two branches are the same function rearranged.
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E)).astype(Z.dtype, copy=False)


def sigmoid_backward(dA: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * A (1 - A)."""
    return dA * A * (1 - A)


def relu(Z: np.ndarray) -> np.ndarray:
    """relu(Z) = max(Z, 0)."""
    return np.maximum(Z, 0)


def relu_backward(dA: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA where Z > 0, else 0 (``A > 0`` exactly when ``Z > 0``)."""
    return dA * (A > 0)


def leaky_relu(Z: np.ndarray, slope: float = LEAKY_RELU_SLOPE) -> np.ndarray:
    """leaky_relu(Z) = Z where Z > 0, else slope * Z."""
    return np.where(Z > 0, Z, Z * slope).astype(Z.dtype, copy=False)


def leaky_relu_backward(
    dA: np.ndarray, A: np.ndarray, slope: float = LEAKY_RELU_SLOPE
) -> np.ndarray:
    """dZ = dA where Z > 0, else slope * dA (the sign of A is the sign of Z for slope > 0)."""
    return np.where(A > 0, dA, dA * slope).astype(dA.dtype, copy=False)


def tanh(Z: np.ndarray) -> np.ndarray:
    """tanh(Z)."""
    return np.tanh(Z)


def tanh_backward(dA: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * (1 - A**2)."""
    return dA * (1 - A * A)


def softmax(Z: np.ndarray) -> np.ndarray:
    """softmax over the classes (axis 0): A[k, i] = exp(Z[k, i]) / sum_j exp(Z[j, i])."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))  # shifting by the max avoids overflow
    return E / E.sum(axis=0, keepdims=True)


def softmax_backward(dA: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = A * (dA - sum_k dA[k] A[k]), the softmax Jacobian applied to dA per example.

    With cross-entropy the whole expression collapses to ``dZ = A - Y``; the model uses
    that fused form (see :mod:`dlcore.losses`).
    """
    return A * (dA - (dA * A).sum(axis=0, keepdims=True))


def identity(Z: np.ndarray) -> np.ndarray:
    """g(Z) = Z (a linear layer)."""
    return Z


def identity_backward(dA: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA."""
    return dA


class Activation(NamedTuple):
    """A named forward/backward pair."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray], np.ndarray]


ACTIVATIONS: dict[str | None, Activation] = {
    "relu": Activation("relu", relu, relu_backward),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_backward),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_backward),
    "tanh": Activation("tanh", tanh, tanh_backward),
    "softmax": Activation("softmax", softmax, softmax_backward),
    None: Activation("linear", identity, identity_backward),
}


def get_activation(name: str | None) -> Activation:
    """Look an activation up by name (``None`` means linear); ValueError for unknown names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of {known}") from None
