"""Cross-entropy losses: the cost ``J`` of a batch and its gradient ``dA[L]``.

Taught in notebooks/01-logistic-regression.ipynb (binary cross-entropy as a negative
log-likelihood) and 07-softmax-and-mnist.ipynb (categorical cross-entropy, dZ = A - Y).

Shapes follow the course: the output ``A`` (``y_hat``) and the targets ``Y`` are both
``(n_out, m)``: ``(1, m)`` of 0/1 labels for binary classification, one-hot ``(C, m)``
for ``C`` classes.

- ``loss(A, Y) -> J``, the mean over the ``m`` examples;
- ``grad(A, Y) -> dA``, the per-example derivative ``dL/dA`` (not divided by ``m``; the
  layers divide when they form parameter gradients, see :mod:`dlcore.layers`).

**Fused output gradient.** With a sigmoid output and binary cross-entropy, or a softmax
output and categorical cross-entropy, the chain rule through the activation collapses to

    dZ[L] = A[L] - Y

which is both cheaper and numerically safer than ``grad`` followed by the activation's
backward (no division by ``A`` or ``1 - A``). Each loss names the activation it fuses with
in ``fused_activation``; :class:`dlcore.model.Sequential` uses the fused form whenever the
last activation matches.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


def _clip(A: np.ndarray) -> np.ndarray:
    # Keeps log() finite when a float32 sigmoid saturates to exactly 0 or 1.
    eps = np.finfo(A.dtype).eps if A.dtype.kind == "f" else np.finfo(np.float64).eps
    return np.clip(A, eps, 1 - eps)


def _check(name: str, A: np.ndarray, Y: np.ndarray) -> None:
    if A.shape != Y.shape:
        hint = " (reshape labels to (1, m))" if A.shape[0] == 1 and Y.ndim == 1 else ""
        raise ValueError(
            f"{name}: expected Y of shape {A.shape} like the output A, got {Y.shape}{hint}"
        )


class Loss:
    """Base: ``loss(A, Y) -> float`` and ``grad(A, Y) -> dA``."""

    name: ClassVar[str]
    fused_activation: ClassVar[str]

    def loss(self, A: np.ndarray, Y: np.ndarray) -> float:
        raise NotImplementedError

    def grad(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fused_grad(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``dZ[L] = A - Y`` for an output layer whose activation is ``fused_activation``."""
        _check(self.name, A, Y)
        return A - Y

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BinaryCrossEntropy(Loss):
    """``J = -(1/m) sum(Y log A + (1 - Y) log(1 - A))`` for ``A, Y: (1, m)``."""

    name = "binary_cross_entropy"
    fused_activation = "sigmoid"

    def loss(self, A: np.ndarray, Y: np.ndarray) -> float:
        _check(self.name, A, Y)
        A = _clip(A)
        m = A.shape[-1]
        return float(-(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum() / m)

    def grad(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``dA = -(Y / A - (1 - Y) / (1 - A))``."""
        _check(self.name, A, Y)
        A = _clip(A)
        return -(Y / A - (1 - Y) / (1 - A))


class CategoricalCrossEntropy(Loss):
    """``J = -(1/m) sum(Y * log A)`` for ``A, Y: (C, m)``, ``Y`` one-hot."""

    name = "categorical_cross_entropy"
    fused_activation = "softmax"

    def loss(self, A: np.ndarray, Y: np.ndarray) -> float:
        _check(self.name, A, Y)
        m = A.shape[-1]
        return float(-(Y * np.log(_clip(A))).sum() / m)

    def grad(self, A: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``dA = -Y / A``."""
        _check(self.name, A, Y)
        return -Y / _clip(A)


LOSSES: dict[str, type[Loss]] = {
    BinaryCrossEntropy.name: BinaryCrossEntropy,
    CategoricalCrossEntropy.name: CategoricalCrossEntropy,
}


def get_loss(loss: str | Loss) -> Loss:
    """A loss instance from its name (``"binary_cross_entropy"``, ...) or as given."""
    if isinstance(loss, Loss):
        return loss
    try:
        return LOSSES[loss]()
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown loss {loss!r}; expected one of {', '.join(map(repr, LOSSES))}"
        ) from None
