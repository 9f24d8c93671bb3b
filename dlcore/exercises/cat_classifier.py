"""Exercise of notebook 04, a cat classifier: two_layer_forward_backward.

The 2-layer network of the cats, ``params = (W1, b1, W2, b2)`` with ``W1: (n_h, n_x)``,
``b1: (n_h, 1)``, ``W2: (1, n_h)``, ``b2: (1, 1)``: a ReLU hidden layer and one sigmoid
unit, trained on the binary cross-entropy. Its forward pass, cost and backward pass in one
function — notebook 2's network with notebook 3's ReLU.
"""

from __future__ import annotations

import numpy as np

from dlcore import activations
from dlcore.exercises.engine import (
    Case,
    Exercise,
    Mistake,
    Parts,
    StructureError,
    register,
    tuple_of,
)
from dlcore.exercises.references import F64, labels01, network

GRADS = ("dW1", "db1", "dW2", "db2")
_outer = tuple_of("A2", "J", "grads", scalars=("J",))
_grads = tuple_of(*GRADS)


def _unpack(result) -> dict:
    parts = _outer(result)
    grads = parts.pop("grads")
    if not isinstance(grads, tuple | list):
        raise StructureError(f"grads should be a list [dW1, db1, dW2, db2], got "
                             f"{type(grads).__name__}")
    try:
        parts.update(_grads(grads))
    except StructureError as e:
        raise StructureError(f"grads {e}") from None
    return parts


def _params(rng, n_x: int, n_h: int, dtype) -> tuple:
    return tuple(x.astype(dtype) for x in (
        rng.standard_normal((n_h, n_x)), rng.standard_normal((n_h, 1)) * 0.5,
        rng.standard_normal((1, n_h)), rng.standard_normal((1, 1)) * 0.5,
    ))


def _cases(rng) -> list[Case]:
    cases = []
    # a square W1 first, so that a transposed dW1 gives an answer instead of an error
    for n_x, n_h, m, dtype in [(4, 4, 7, F64), (5, 3, 1, F64), (6, 5, 9, np.float32)]:
        X = rng.standard_normal((n_x, m)).astype(dtype)
        Y = labels01(rng, m).astype(dtype)
        cases.append(Case((*_params(rng, n_x, n_h, dtype), X, Y),
                          f"n_x = {n_x}, n_h = {n_h}, m = {m}, {np.dtype(dtype).name}",
                          {"m": m}))
    return cases


def _reference(W1, b1, W2, b2, X, Y, hidden: str = "relu"):
    model = network([(W1, b1), (W2, b2)], hidden=hidden, output="sigmoid")
    X, Y = np.asarray(X, F64), np.asarray(Y, F64)
    A2 = model.forward(X)
    J = model.cost(A2, Y)
    model.backward(Y)
    return A2, J, [g for layer in model.layers for g in (layer.grads["W"], layer.grads["b"])]


def _formula(W1, b1, W2, b2, X, Y, dg=lambda Z1, A1: Z1 > 0, keepdims=True):
    """The backward pass written out, with switches for the known mistakes."""
    W1, b1, W2, b2, X, Y = (np.asarray(a, F64) for a in (W1, b1, W2, b2, X, Y))
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = activations.relu(Z1)
    A2 = activations.sigmoid(W2 @ A1 + b2)
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * dg(Z1, A1)
    return (dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=keepdims) / m,
            dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=keepdims) / m)


def _grads_times(factor):
    def variant(*args):
        grads = _reference(*args)[2]
        m = args[4].shape[1]
        return Parts({k: g * factor(m) for k, g in zip(GRADS, grads, strict=True)})

    return variant


def _grads_of(**switches):
    def variant(*args):
        return Parts(zip(GRADS, _formula(*args, **switches), strict=True))

    return variant


register(Exercise(
    name="two_layer_forward_backward",
    signature="two_layer_forward_backward(W1, b1, W2, b2, X, Y)",
    notebooks=(4,),
    summary="The 2-layer network forward and backward: Z1 = W1 X + b1, A1 = max(Z1, 0), "
    "A2 = σ(W2 A1 + b2); the cost J = −(1/m) Σ [y log a + (1 − y) log(1 − a)]; dZ2 = A2 − Y, "
    "dW2 = dZ2 A1ᵀ / m, db2 = Σ dZ2 / m, dZ1 = W2ᵀ dZ2 · (Z1 > 0), dW1 = dZ1 Xᵀ / m, "
    "db1 = Σ dZ1 / m. Returns (A2, J, [dW1, db1, dW2, db2]).",
    checks="three networks (a square W1 with 7 examples; one example; float32 with 9 "
    "examples); compared with a dlcore Sequential of a ReLU and a sigmoid Dense layer: "
    "its forward, cost and backward.",
    cases=_cases,
    reference=_reference,
    unpack=_unpack,
    mistakes=[
        Mistake("hidden_tanh", "the hidden layer is tanh (notebook 2's): here it is ReLU, "
                "A1 = max(Z1, 0), and dZ1 = W2ᵀ dZ2 · (Z1 > 0)",
                lambda *a: _reference(*a, hidden="tanh"), first_wrong_only=True),
        Mistake("hidden_sigmoid", "the hidden layer is a sigmoid: it is ReLU, A1 = max(Z1, 0), "
                "and dZ1 = W2ᵀ dZ2 · (Z1 > 0)",
                lambda *a: _reference(*a, hidden="sigmoid"), first_wrong_only=True),
        Mistake("cost_sign", "J has the wrong sign: J = −(1/m) Σ [y log a + (1 − y) "
                "log(1 − a)] is positive", lambda *a: Parts(J=-_reference(*a)[1])),
        Mistake("cost_no_mean", "J is m times too large: divide the sum over the examples "
                "by m", lambda *a: Parts(J=_reference(*a)[1] * a[4].shape[1])),
        Mistake("no_mean", "{part} is m times too large: the 1/m is missing",
                _grads_times(lambda m: m), first_wrong_only=True),
        Mistake("dZ2_sign", "every gradient has the wrong sign: dZ2 = A2 − Y, not Y − A2",
                _grads_times(lambda m: -1)),
        Mistake("no_relu_derivative", "dZ1 leaves out ReLU's derivative: dZ1 = W2ᵀ dZ2 · "
                "(Z1 > 0), the gradient passes only where the unit was active",
                _grads_of(dg=lambda Z1, A1: 1.0)),
        Mistake("tanh_derivative", "dZ1 uses tanh's derivative 1 − A1² (notebook 2's "
                "hidden layer): ReLU's is 1 where Z1 > 0 and 0 elsewhere",
                _grads_of(dg=lambda Z1, A1: 1 - A1**2)),
        Mistake("db_no_keepdims", "{part} has lost its column shape: sum with "
                "keepdims=True, so that it is (n, 1) like b",
                _grads_of(keepdims=False), first_wrong_only=True),
        Mistake("dW_transposed", "{part} is transposed: dW = dZ A_prevᵀ / m has the shape "
                "of W", lambda *a: Parts(zip(GRADS, (g.T for g in _formula(*a)), strict=True)),
                first_wrong_only=True),
    ],
))
