"""Exercises of notebook 02, a network with one hidden layer: init_params, forward,
compute_cost, backward and update.

``params = (W1, b1, W2, b2)``, ``W1: (n_h, n_x)``, ``b1: (n_h, 1)``, ``W2: (n_y, n_h)``,
``b2: (n_y, 1)``; ``X: (n_x, m)``, ``Y: (n_y, m)``. The hidden layer is tanh, the output a
sigmoid.
"""

from __future__ import annotations

import numpy as np

from dlcore import activations
from dlcore.exercises.engine import Case, Exercise, Mistake, Parts, Runner, register, tuple_of
from dlcore.exercises.properties import (
    as_array,
    expect_shape,
    follows_rng,
    spread,
    unpack_or_fail,
)
from dlcore.exercises.references import F64, labels01, network
from dlcore.losses import BinaryCrossEntropy
from dlcore.optim import GradientDescent

PARAMS = ("W1", "b1", "W2", "b2")
GRADS = ("dW1", "db1", "dW2", "db2")


# -- init_params: random initialisation, checked on its properties --------------------------


def _init_params_procedure(r: Runner) -> None:
    unpack = tuple_of(*PARAMS)
    n_x, n_h, n_y = 3, 5, 2
    got = unpack_or_fail(r, unpack, r.call(n_x, n_h, n_y, np.random.default_rng(0)))
    shapes = {"W1": (n_h, n_x), "b1": (n_h, 1), "W2": (n_y, n_h), "b2": (n_y, 1)}
    arrays = {k: as_array(r, k, v) for k, v in got.items()}
    for k, shape in shapes.items():
        expect_shape(r, k, arrays[k], shape, "transposed" if k.startswith("W") else "")
    r.passed()
    for k in ("b1", "b2"):
        if np.any(arrays[k]):
            r.mistake("random_bias", part=k)
    r.passed()
    big = unpack_or_fail(r, unpack, r.call(300, 200, 40, np.random.default_rng(1)))
    for k in ("W1", "W2"):
        spread(r, k, as_array(r, k, big[k]), 0.01, {"no_scale": 1.0},
               "standard normal draws times 0.01")
    r.passed(2)
    follows_rng(r, lambda rng: unpack(r.call(n_x, n_h, n_y, rng))["W1"])
    r.passed()


register(Exercise(
    name="init_params",
    signature="init_params(n_x, n_h, n_y, rng)",
    notebooks=(2,),
    summary="Small random weights, zero biases: W1 = 0.01·N(0, 1) of shape (n_h, n_x), "
    "b1 = 0 (n_h, 1), W2 = 0.01·N(0, 1) (n_y, n_h), b2 = 0 (n_y, 1), drawn from the "
    "Generator rng. Returns (W1, b1, W2, b2).",
    checks="properties, not values (the draws are random): shapes, zero biases, the spread "
    "of 60,000 and 8,000 draws (standard deviation 0.01, mean 0), and that the same seed "
    "gives the same weights and another seed others.",
    procedure=_init_params_procedure,
    mistakes=[
        Mistake("transposed", "{part} has shape {got}: W[l] is (n[l], n[l-1]), so {part} "
                "is {shape}"),
        Mistake("random_bias", "{part} should start at zero (np.zeros): only the weights "
                "need random values to break the symmetry"),
        Mistake("zeros", "{part} is all zeros: every hidden unit would compute the same "
                "thing forever; draw random weights"),
        Mistake("no_scale", "the weights in {part} spread with standard deviation {std}, "
                "expected {expected}: multiply the standard normal draws by 0.01"),
        Mistake("uniform", "the weights in {part} are all positive: draw from the standard "
                "normal, rng.standard_normal(shape), not from a uniform"),
        Mistake("ignores_rng", "the weights do not come from rng: draw them with "
                "rng.standard_normal(...), so that a seed reproduces them"),
    ],
))


# -- forward -----------------------------------------------------------------------------


def _params(rng, n_x: int, n_h: int, n_y: int, dtype=F64) -> tuple:
    return tuple(x.astype(dtype) for x in (
        rng.standard_normal((n_h, n_x)), rng.standard_normal((n_h, 1)) * 0.5,
        rng.standard_normal((n_y, n_h)) * 0.5, rng.standard_normal((n_y, 1)) * 0.5,
    ))


def _forward_cases(rng) -> list[Case]:
    return [
        Case((_params(rng, 2, 4, 1), rng.standard_normal((2, 7))), "n_x = 2, n_h = 4, m = 7"),
        Case((_params(rng, 3, 5, 1), rng.standard_normal((3, 1))), "one example, m = 1"),
        Case((_params(rng, 3, 6, 2, np.float32), rng.standard_normal((3, 9)).astype(np.float32)),
             "float32, n_h = 6, n_y = 2, m = 9"),
    ]


def _forward(params, X):
    W1, b1, W2, b2 = params
    model = network([(W1, b1), (W2, b2)], hidden="tanh", output="sigmoid")
    A1 = model.layers[0].forward(np.asarray(X, dtype=F64))
    return A1, model.layers[1].forward(A1)


def _forward_variant(g1=np.tanh, g2=activations.sigmoid, use_b1=True, use_b2=True):
    def variant(params, X):
        W1, b1, W2, b2 = (np.asarray(p, F64) for p in params)
        A1 = g1(W1 @ X + (b1 if use_b1 else 0))
        return A1, g2(W2 @ A1 + (b2 if use_b2 else 0))

    return variant


register(Exercise(
    name="forward",
    signature="forward(params, X)",
    notebooks=(2,),
    summary="The forward pass: A1 = tanh(W1 X + b1) (n_h, m), A2 = σ(W2 A1 + b2) (n_y, m). "
    "Returns (A1, A2).",
    checks="three networks (7 examples; one example; float32 with two outputs and 9 "
    "examples); compared with two dlcore Dense layers, tanh then sigmoid.",
    cases=_forward_cases,
    reference=_forward,
    unpack=tuple_of("A1", "A2"),
    mistakes=[
        Mistake("hidden_sigmoid", "A1 uses the sigmoid: the hidden layer is tanh, "
                "A1 = tanh(W1 X + b1)", _forward_variant(g1=activations.sigmoid)),
        Mistake("hidden_relu", "A1 uses ReLU: the hidden layer is tanh, "
                "A1 = tanh(W1 X + b1)", _forward_variant(g1=activations.relu)),
        Mistake("hidden_linear", "A1 is Z1 = W1 X + b1: apply tanh, A1 = tanh(Z1)",
                _forward_variant(g1=lambda Z: Z)),
        Mistake("no_b1", "b1 is left out: Z1 = W1 X + b1", _forward_variant(use_b1=False)),
        Mistake("output_linear", "A2 is Z2 = W2 A1 + b2: apply the sigmoid, A2 = σ(Z2)",
                _forward_variant(g2=lambda Z: Z)),
        Mistake("output_tanh", "A2 uses tanh: the output layer is a sigmoid, "
                "A2 = σ(W2 A1 + b2), a probability", _forward_variant(g2=np.tanh)),
        Mistake("no_b2", "b2 is left out: Z2 = W2 A1 + b2", _forward_variant(use_b2=False)),
    ],
))


# -- compute_cost (also notebook 03's compute_cost(AL, Y)) --------------------------------


def _cost_cases(rng) -> list[Case]:
    cases = []
    for m, dtype in [(7, F64), (1, F64), (13, np.float32)]:
        A = rng.uniform(0.05, 0.95, (1, m)).astype(dtype)
        cases.append(Case((A, labels01(rng, m).astype(dtype)), f"m = {m}, "
                          f"{np.dtype(dtype).name}", {"m": m}))
    return cases


def _cost(A, Y):
    return BinaryCrossEntropy().loss(np.asarray(A, F64), np.asarray(Y, F64))


def _per_example(A, Y):
    A, Y = np.asarray(A, F64), np.asarray(Y, F64)
    return -(Y * np.log(A) + (1 - Y) * np.log(1 - A))


register(Exercise(
    name="compute_cost",
    signature="compute_cost(A2, Y)",
    notebooks=(2, 3),
    summary="The cross-entropy cost J = −(1/m) Σ [y log a + (1 − y) log(1 − a)] of the "
    "output A2 (or AL), shape (1, m), against the labels Y (1, m): a number.",
    checks="7 examples, one example, float32 with 13 examples; compared with "
    "dlcore.BinaryCrossEntropy().loss.",
    cases=_cost_cases,
    reference=_cost,
    unpack=tuple_of("the cost", scalars=("the cost",)),
    mistakes=[
        Mistake("sign", "the cost has the wrong sign: J = −(1/m) Σ [y log a + (1 − y) "
                "log(1 − a)] is positive", lambda A, Y: -_cost(A, Y)),
        Mistake("no_mean", "the cost is m times too large: divide the sum by m",
                lambda A, Y: _cost(A, Y) * Y.shape[1]),
        Mistake("one_term", "the cost leaves out the (1 − y) log(1 − a) term, the examples "
                "with y = 0", lambda A, Y: -np.sum(Y * np.log(np.asarray(A, F64))) / Y.shape[1]),
        Mistake("log10", "the cost uses log10: cross-entropy uses the natural log, np.log",
                lambda A, Y: _cost(A, Y) / np.log(10)),
        Mistake("per_example", "this is one loss per example: the cost is their mean, "
                "a single number", _per_example),
    ],
))


# -- backward -----------------------------------------------------------------------------


def _backward_cases(rng) -> list[Case]:
    cases = []
    for n_x, n_h, m, dtype in [(2, 4, 7, F64), (3, 5, 1, F64), (3, 6, 9, np.float32)]:
        params = _params(rng, n_x, n_h, 1, dtype)
        X = rng.standard_normal((n_x, m)).astype(dtype)
        A1, A2 = (a.astype(dtype) for a in _forward(params, X))
        Y = labels01(rng, m).astype(dtype)
        cases.append(Case((params, A1, A2, X, Y), f"n_x = {n_x}, n_h = {n_h}, m = {m}, "
                          f"{np.dtype(dtype).name}", {"m": m}))
    return cases


def _backward(params, A1, A2, X, Y):
    W1, b1, W2, b2 = params
    model = network([(W1, b1), (W2, b2)], hidden="tanh", output="sigmoid")
    model.forward(np.asarray(X, F64))
    model.backward(np.asarray(Y, F64))
    (l1, l2) = model.layers
    return l1.grads["W"], l1.grads["b"], l2.grads["W"], l2.grads["b"]


def _backward_formula(params, A1, A2, X, Y, dtanh=lambda A1: 1 - A1**2, db_axis=1,
                      keepdims=True):
    """The backward pass written out, with switches for the known mistakes."""
    W1, b1, W2, b2, A1, A2, X, Y = (np.asarray(a, F64) for a in (*params, A1, A2, X, Y))
    m = X.shape[1]
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * dtanh(A1)
    return (dZ1 @ X.T / m, dZ1.sum(axis=db_axis, keepdims=keepdims) / m,
            dZ2 @ A1.T / m, dZ2.sum(axis=db_axis, keepdims=keepdims) / m)


def _grads_times(factor):
    def variant(params, A1, A2, X, Y):
        ref = _backward(params, A1, A2, X, Y)
        return Parts({k: g * factor(X.shape[1]) for k, g in zip(GRADS, ref, strict=True)})

    return variant


def _grads_map(f):
    def variant(*args):
        return Parts(zip(GRADS, (f(g) for g in _backward_formula(*args)), strict=True))

    return variant


register(Exercise(
    name="backward",
    signature="backward(params, A1, A2, X, Y)",
    notebooks=(2,),
    summary="Backpropagation through the two layers: dZ2 = A2 − Y, dW2 = dZ2 A1ᵀ / m, "
    "db2 = Σ dZ2 / m (over the examples), dZ1 = W2ᵀ dZ2 · (1 − A1²), dW1 = dZ1 Xᵀ / m, "
    "db1 = Σ dZ1 / m. Returns (dW1, db1, dW2, db2), each shaped like its parameter.",
    checks="three networks (7 examples; one example; float32 with 9 examples); compared "
    "with dlcore's Sequential.backward on the same tanh + sigmoid network.",
    cases=_backward_cases,
    reference=_backward,
    unpack=tuple_of(*GRADS),
    mistakes=[
        Mistake("no_mean", "{part} is m times too large: the 1/m is missing",
                _grads_times(lambda m: m), first_wrong_only=True),
        Mistake("dZ2_sign", "every gradient has the wrong sign: dZ2 = A2 − Y, not Y − A2",
                _grads_times(lambda m: -1)),
        Mistake("tanh_derivative_sigmoid", "dZ1 uses the sigmoid's derivative A1(1 − A1): "
                "the hidden layer is tanh, whose derivative is 1 − A1²",
                lambda *a: _backward_formula(*a, dtanh=lambda A1: A1 * (1 - A1))),
        Mistake("tanh_derivative_at_z", "dZ1 uses 1 − tanh(A1)²: A1 is already tanh(Z1), so "
                "the derivative is 1 − A1²",
                lambda *a: _backward_formula(*a, dtanh=lambda A1: 1 - np.tanh(A1) ** 2)),
        Mistake("tanh_derivative_not_squared", "dZ1 uses 1 − A1: the derivative of tanh is "
                "1 − A1², A1 squared", lambda *a: _backward_formula(*a, dtanh=lambda A1: 1 - A1)),
        Mistake("no_tanh_derivative", "dZ1 leaves out the derivative of tanh: "
                "dZ1 = W2ᵀ dZ2 · (1 − A1²)", lambda *a: _backward_formula(*a, dtanh=np.ones_like)),
        Mistake("db_no_keepdims", "{part} has lost its column shape: sum with "
                "keepdims=True, so that it is (n, 1) like b",
                lambda *a: Parts(zip(GRADS, _backward_formula(*a, keepdims=False), strict=True)),
                first_wrong_only=True),
        Mistake("db_wrong_axis", "{part} sums over the wrong axis: sum over the examples, "
                "axis=1 (keepdims=True)",
                lambda *a: Parts(zip(GRADS, _backward_formula(*a, db_axis=0), strict=True)),
                first_wrong_only=True),
        Mistake("dW_transposed", "{part} is transposed: dW = dZ A_prevᵀ / m has the shape "
                "of W", _grads_map(lambda g: g.T), first_wrong_only=True),
    ],
))


# -- update -------------------------------------------------------------------------------


def _update_cases(rng) -> list[Case]:
    cases = []
    for n_x, n_h, lr, dtype in [(3, 4, 0.7, F64), (2, 1, 0.05, F64), (4, 5, 1.2, np.float32)]:
        params = _params(rng, n_x, n_h, 1, dtype)
        grads = _params(rng, n_x, n_h, 1, dtype)
        cases.append(Case((params, grads, lr), f"lr = {lr}, {np.dtype(dtype).name}"))
    return cases


def _gd_step(params, grads, lr):
    opt, new = GradientDescent(lr), []
    for p, g in zip(params, grads, strict=True):
        p = np.array(p, dtype=F64)
        opt.update(p, np.asarray(g, F64), None)
        new.append(p)
    return tuple(new)


register(Exercise(
    name="update",
    signature="update(params, grads, lr)",
    notebooks=(2,),
    summary="One gradient-descent step on every parameter, p − lr·dp: returns the new "
    "(W1, b1, W2, b2). (Updating the arrays in place and returning them is fine too.)",
    checks="three learning rates, float64 and float32; compared with "
    "dlcore.GradientDescent's update. The grads must be left as they were.",
    cases=_update_cases,
    reference=_gd_step,
    unpack=tuple_of(*PARAMS),
    may_modify=frozenset({"params"}),
    mistakes=[
        Mistake("ascent", "the parameters move uphill: subtract the step, p − lr·dp",
                lambda params, grads, lr: tuple(np.asarray(p, F64) + lr * np.asarray(g, F64)
                                                for p, g in zip(params, grads, strict=True))),
        Mistake("no_lr", "the step leaves out the learning rate: p − lr·dp",
                lambda params, grads, lr: _gd_step(params, grads, 1.0)),
        Mistake("returns_step", "this is the step −lr·dp: return the updated parameter, "
                "p − lr·dp", lambda params, grads, lr: tuple(-lr * np.asarray(g, F64)
                                                             for g in grads)),
        Mistake("b_not_updated", "{part} did not change: update the biases too",
                lambda params, grads, lr: Parts(b1=params[1], b2=params[3]),
                first_wrong_only=True),
    ],
))
