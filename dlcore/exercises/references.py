"""dlcore's answers to the exercises, composed from its public pieces.

Every check compares the learner's function with these. They compute in float64 whatever
the input dtype, so a float32 learner's answer is compared with the exact one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlcore.layers import Dense
from dlcore.model import Sequential

F64 = np.float64


def dense(W: np.ndarray, b: np.ndarray, activation: str | None) -> Dense:
    """A float64 Dense layer holding ``W`` and ``b`` (``b`` of shape (n, 1) or scalar)."""
    W = np.asarray(W, dtype=F64)
    layer = Dense(W.shape[1], W.shape[0], activation=activation, init="zeros", dtype=F64)
    layer.params["W"][...] = W
    layer.params["b"][...] = np.asarray(b, dtype=F64).reshape(-1, 1) if np.ndim(b) else b
    return layer


def network(params: Sequence[tuple[np.ndarray, np.ndarray]], hidden: str = "relu",
            output: str = "sigmoid") -> Sequential:
    """The course's L-layer network: ``hidden`` activations, then an ``output`` layer."""
    L = len(params)
    layers = [dense(W, b, hidden if k < L else output) for k, (W, b) in enumerate(params, 1)]
    loss = "categorical_cross_entropy" if output == "softmax" else "binary_cross_entropy"
    return Sequential(layers, loss=loss)


def logistic(w: np.ndarray, b: float, X: np.ndarray, Y: np.ndarray) -> tuple:
    """Logistic regression's ``(cost, dw, db)`` with the course's ``w: (n_x, 1)``."""
    model = network([(np.asarray(w, dtype=F64).T, b)], output="sigmoid")
    X, Y = np.asarray(X, dtype=F64), np.asarray(Y, dtype=F64)
    A = model.forward(X)
    cost = model.cost(A, Y)
    model.backward(Y)
    layer = model.layers[0]
    return cost, layer.grads["W"].T.copy(), float(layer.grads["b"][0, 0])


def labels01(rng: np.random.Generator, m: int) -> np.ndarray:
    """``(1, m)`` labels of 0 and 1, both present when m > 1."""
    Y = (rng.random((1, m)) > 0.5).astype(F64)
    if m > 1:
        Y[0, 0], Y[0, 1] = 0.0, 1.0
    return Y
