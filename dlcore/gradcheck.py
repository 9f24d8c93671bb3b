"""Gradient checking by centred finite differences, for any layer or model.

Taught in notebooks/01-logistic-regression.ipynb and
05-initialisation-regularisation-gradient-checking.ipynb.

The course's check: nudge one number ``theta`` by ``+-eps``, measure the cost both ways,

    dtheta_approx = (J(theta + eps) - J(theta - eps)) / (2 eps)

and compare with backprop's ``dtheta`` by the relative error

    ||dtheta - dtheta_approx|| / (||dtheta|| + ||dtheta_approx||)

which is around 1e-7 or below in float64 when backprop is right (1e-3 and above means a
bug). Run it in float64: float32 round-off swamps the difference quotient.

- :func:`check_layer` uses the cost ``J = sum(R * forward(A_prev)) / m`` with a fixed
  random ``R``, so it tests ``grads`` (``dJ/dparam``) and the returned ``dA_prev`` (which,
  by the course's convention, is ``m dJ/dA_prev``, the per-example derivative).
- :func:`check_model` uses the model's own cost (with L2 if given) and checks every
  parameter and, optionally, the input gradient.

Both return a :class:`GradcheckReport`; ``print(report)`` shows ours next to the
finite-difference reference for each array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dlcore.init import SeedLike, as_generator


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """``||ours - reference|| / (||ours|| + ||reference||)`` (0 when both are zero)."""
    denom = np.linalg.norm(ours) + np.linalg.norm(reference)
    return 0.0 if denom == 0 else float(np.linalg.norm(ours - reference) / denom)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``dJ/dx`` by centred differences; ``f()`` reads ``x``, which is nudged in place.

    Every element of ``x`` is restored afterwards, even if ``f`` raises.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            x[i] = old + eps
            J_plus = f()
            x[i] = old - eps
            J_minus = f()
        finally:
            x[i] = old
        grad[i] = (J_plus - J_minus) / (2 * eps)
    return grad


@dataclass
class GradcheckReport:
    """Per-array results: ``ours`` (backprop), ``reference`` (finite differences), error."""

    ours: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, ours: np.ndarray, reference: np.ndarray) -> None:
        self.ours[name] = np.array(ours, dtype=np.float64)
        self.reference[name] = reference
        self.errors[name] = relative_error(self.ours[name], reference)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        lines = []
        for name, err in self.errors.items():
            lines.append(f"{name}: relative error {err:.3e}")
            with np.printoptions(precision=6, threshold=12, edgeitems=3):
                lines.append(f"  ours:      {self.ours[name].ravel()}")
                lines.append(f"  reference: {self.reference[name].ravel()}")
        return "\n".join(lines)


def check_layer(
    layer, A_prev: np.ndarray, rng: SeedLike = 0, eps: float = 1e-6, training: bool = False
) -> GradcheckReport:
    """Check ``layer.backward`` (parameters and ``dA_prev``) against finite differences.

    ``A_prev`` should be float64, like the layer's parameters; the examples are on
    ``layer.batch_axis``.
    """
    A_prev = np.array(A_prev, dtype=np.float64)
    m = A_prev.shape[layer.batch_axis]
    R = as_generator(rng).standard_normal(layer.forward(A_prev, training).shape)

    def cost() -> float:
        return float(np.sum(R * layer.forward(A_prev, training)) / m)

    cost()
    dA_prev = layer.backward(R.copy())
    report = GradcheckReport()
    grads = {key: g.copy() for key, g in layer.grads.items()}
    for key, param in layer.params.items():
        report.add(key, grads[key], numerical_gradient(cost, param, eps))
    report.add("dA_prev", dA_prev / m, numerical_gradient(cost, A_prev, eps))
    return report


def check_model(
    model,
    X: np.ndarray,
    Y: np.ndarray,
    l2: float = 0.0,
    eps: float = 1e-6,
    input_grad: bool = False,
) -> GradcheckReport:
    """Check ``model.backward`` for every parameter (``layer{i}.{key}``), and ``dX`` if asked.

    The model must be float64 and contain no dropout in training mode (the check runs the
    forward pass with ``training=False``).
    """
    X = model.prepare(X)
    m = X.shape[model.batch_axis]

    def cost() -> float:
        return model.cost(model.forward(X), Y_, l2)

    A = model.forward(X)
    Y_ = model._targets(Y, A)
    dX = model.backward(Y_, l2, input_grad=input_grad)
    grads = {
        f"layer{i}.{key}": g.copy()
        for i, layer in enumerate(model.layers)
        for key, g in layer.grads.items()
    }
    report = GradcheckReport()
    for i, layer in enumerate(model.layers):
        for key, param in layer.params.items():
            name = f"layer{i}.{key}"
            report.add(name, grads[name], numerical_gradient(cost, param, eps))
    if input_grad:
        report.add("dX", dX / m, numerical_gradient(cost, X, eps))
    return report
