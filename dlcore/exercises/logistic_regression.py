"""Exercises of notebook 01, logistic regression: sigmoid, its derivative, propagate,
optimize and predict.

Shapes as in the notebook: ``w: (n_x, 1)``, ``b`` a number, ``X: (n_x, m)``, ``Y: (1, m)``.
"""

from __future__ import annotations

import numpy as np

from dlcore import activations
from dlcore.exercises.engine import (
    Case,
    Exercise,
    Mistake,
    Parts,
    parameter_names,
    register,
    tuple_of,
)
from dlcore.exercises.references import F64, labels01, logistic


def _sig(z):
    return activations.sigmoid(np.asarray(z, dtype=F64))


def _z_cases(rng, large: bool = True) -> list[Case]:
    cases = [
        Case((rng.standard_normal((3, 5)) * 3,), "float64 z of shape (3, 5)"),
        Case((rng.standard_normal((1, 7)).astype(np.float32) * 3,), "float32 z of shape (1, 7)"),
        Case((rng.standard_normal((4, 1)),), "z of shape (4, 1)"),
        Case((np.array([0.0, 2.0, -1.5]),), "z = [0, 2, -1.5]"),
    ]
    if large:
        big = rng.uniform(20, 700, (2, 6)) * np.where(rng.random((2, 6)) < 0.5, -1, 1)
        cases.append(Case((big,), "large |z|, up to 700"))
    return cases


register(Exercise(
    name="sigmoid",
    signature="sigmoid(z)",
    notebooks=(1, 3),
    summary="σ(z) = 1 / (1 + e^(−z)), elementwise, for an array z of any shape.",
    checks="float64 and float32 arrays of several shapes, a 1-D vector, |z| up to 700 "
    "(the answer must be 0 or 1 there, not nan); compared with dlcore.activations.sigmoid.",
    cases=_z_cases,
    reference=_sig,
    mistakes=[
        Mistake("minus_sign", "your output is σ(−z) = 1 − σ(z): the exponent is −z, "
                "σ(z) = 1 / (1 + e^(−z))", lambda z: _sig(-np.asarray(z, F64))),
        Mistake("no_reciprocal", "your output is 1 + e^(−z), the denominator: "
                "σ(z) is its reciprocal, 1 / (1 + e^(−z))",
                lambda z: 1 + np.exp(-np.asarray(z, F64))),
        Mistake("missing_one", "your output is e^z = 1 / e^(−z): the denominator is "
                "1 + e^(−z), the 1 + is missing", lambda z: np.exp(np.asarray(z, F64))),
        Mistake("tanh", "your output is tanh(z), not the sigmoid 1 / (1 + e^(−z))",
                lambda z: np.tanh(np.asarray(z, F64))),
        Mistake("rounded", "your output is 0/1 labels (σ(z) > 0.5): return the "
                "probabilities σ(z) themselves", lambda z: (_sig(z) > 0.5).astype(F64)),
        Mistake("derivative", "your output is the derivative σ(z)(1 − σ(z)); the function "
                "itself is σ(z) = 1 / (1 + e^(−z))", lambda z: _sig(z) * (1 - _sig(z))),
    ],
))


def _dsig(z):
    s = _sig(z)
    return activations.sigmoid_backward(np.ones_like(s), s)


register(Exercise(
    name="sigmoid_derivative",
    signature="sigmoid_derivative(z)",
    notebooks=(1,),
    summary="σ′(z) = σ(z)(1 − σ(z)), elementwise.",
    checks="float64 and float32 arrays of several shapes and a 1-D vector; compared with "
    "dlcore.activations.sigmoid_backward(1, σ(z)).",
    cases=lambda rng: _z_cases(rng, large=False),
    reference=_dsig,
    mistakes=[
        Mistake("at_z", "your output is z(1 − z): the formula a(1 − a) takes a = σ(z), "
                "not z itself (the derivative is σ(z)(1 − σ(z)))",
                lambda z: np.asarray(z, F64) * (1 - np.asarray(z, F64))),
        Mistake("sigmoid_itself", "your output is σ(z) itself; its derivative is "
                "σ(z)(1 − σ(z))", _sig),
        Mistake("tanh_formula", "your output is 1 − σ(z)², the formula of tanh's derivative; "
                "the sigmoid's is σ(z)(1 − σ(z))", lambda z: 1 - _sig(z) ** 2),
        Mistake("sign", "your output has the wrong sign: σ′(z) = σ(z)(1 − σ(z)) is positive",
                lambda z: -_dsig(z)),
    ],
))


def _lr_inputs(rng, n: int, m: int, b: float, dtype=F64) -> tuple:
    w = (rng.standard_normal((n, 1)) * 0.5).astype(dtype)
    X = rng.standard_normal((n, m)).astype(dtype)
    return w, b, X, labels01(rng, m).astype(dtype)


def _forward(w, b, X):
    return _sig(np.asarray(w, F64).T @ np.asarray(X, F64) + b)


def _propagate_cases(rng) -> list[Case]:
    return [
        Case(_lr_inputs(rng, 4, 7, 0.3), "n_x = 4, m = 7", {"m": 7}),
        Case(_lr_inputs(rng, 3, 1, -0.2), "one example, m = 1", {"m": 1}),
        Case(_lr_inputs(rng, 5, 11, 0.1, np.float32), "float32, n_x = 5, m = 11", {"m": 11}),
    ]


def _one_term_cost(w, b, X, Y):
    A = _forward(w, b, X)
    return -np.sum(Y * np.log(A)) / Y.shape[1]


def _scaled(part: str, factor):
    """Variant: one output of the reference times ``factor(m)`` (m = number of examples)."""

    def variant(w, b, X, Y):
        ref = dict(zip(("cost", "dw", "db"), logistic(w, b, X, Y), strict=True))
        return Parts({part: ref[part] * factor(X.shape[1])})

    return variant


register(Exercise(
    name="propagate",
    signature="propagate(w, b, X, Y)",
    notebooks=(1,),
    summary="Logistic regression's forward pass A = σ(wᵀX + b), the cross-entropy cost "
    "J = −(1/m) Σ [y log a + (1 − y) log(1 − a)] and its gradients dw = X (A − Y)ᵀ / m "
    "(shape of w), db = Σ (A − Y) / m (a number). Returns (cost, dw, db).",
    checks="n_x = 4 with 7 examples, one example, float32 with 11 examples; compared with "
    "a dlcore Dense sigmoid unit trained on binary cross-entropy.",
    cases=_propagate_cases,
    reference=logistic,
    unpack=tuple_of("cost", "dw", "db", scalars=("cost", "db")),
    mistakes=[
        Mistake("no_bias", "the forward pass leaves out b: A = σ(wᵀX + b)",
                lambda w, b, X, Y: logistic(w, 0.0, X, Y)),
        Mistake("cost_sign", "the cost has the wrong sign: J = −(1/m) Σ [y log a + "
                "(1 − y) log(1 − a)] is positive", _scaled("cost", lambda m: -1)),
        Mistake("cost_no_mean", "the cost is m times too large: divide the sum by m",
                _scaled("cost", lambda m: m)),
        Mistake("cost_one_term", "the cost leaves out the (1 − y) log(1 − a) term, the "
                "examples with y = 0", lambda w, b, X, Y: Parts(cost=_one_term_cost(w, b, X, Y))),
        Mistake("gradient_sign", "dw and db have the wrong sign: dZ = A − Y, not Y − A",
                lambda w, b, X, Y: Parts(dw=-logistic(w, b, X, Y)[1],
                                         db=-logistic(w, b, X, Y)[2])),
        Mistake("dw_no_mean", "dw is m times too large: the 1/m is missing",
                _scaled("dw", lambda m: m)),
        Mistake("dw_transposed", "dw has the shape of wᵀ: dw = X (A − Y)ᵀ / m has the shape "
                "of w, (n_x, 1)", lambda w, b, X, Y: Parts(dw=logistic(w, b, X, Y)[1].T)),
        Mistake("db_no_mean", "db is m times too large: the 1/m is missing",
                _scaled("db", lambda m: m)),
    ],
))


def _gd(w, b, grads, num_iterations, lr, *, sign=1.0, update_b=True, frozen=False):
    """Gradient descent on logistic regression, with switches for known mistakes."""
    w, costs = np.asarray(w, F64).copy(), []
    first = None
    for _ in range(num_iterations):
        cost, dw, db = grads(w, b)
        if frozen:
            first = first or (dw, db)
            dw, db = first
        costs.append(cost)
        w = w - sign * lr * dw
        if update_b:
            b = b - sign * lr * db
    return w, b, np.array(costs)


def _optimize_cases(rng, with_data: bool) -> list[Case]:
    cases = []
    for n, m, iters, lr in [(3, 8, 6, 0.5), (2, 1, 3, 0.1), (4, 5, 1, 1.0)]:
        w, b, X, Y = _lr_inputs(rng, n, m, 0.25)
        info = {"num_iterations": iters}
        label = f"{iters} iterations, lr = {lr}, m = {m}"
        if with_data:
            cases.append(Case((w, b, X, Y, iters, lr), label, info))
        else:
            cases.append(Case((w, b, _Gradients(X, Y), iters, lr), label, info))
    return cases


class _Gradients:
    """The ``cost_and_gradients(w, b)`` the check hands to optimize: dlcore's propagate."""

    def __init__(self, X, Y):
        self.X, self.Y = X, Y

    def __call__(self, w, b):
        return logistic(w, b, self.X, self.Y)

    def __deepcopy__(self, memo):
        return self


def _optimize_flavour(with_data: bool) -> Exercise:
    def grads_of(args):
        if with_data:
            w, b, X, Y, iters, lr = args
            return w, b, _Gradients(X, Y), iters, lr
        return args

    def reference(*args):
        return _gd(*grads_of(args))

    def variant(**switches):
        return lambda *args: _gd(*grads_of(args), **switches)

    def costs_length(got, expected, case):
        try:
            return len(got["costs"]) != len(expected["costs"])
        except TypeError:
            return False

    if with_data:
        signature = "optimize(w, b, X, Y, num_iterations, lr)"
        grads_words = "propagate(w, b, X, Y)"
    else:
        signature = "optimize(w, b, cost_and_gradients, num_iterations, lr)"
        grads_words = "cost_and_gradients(w, b)"
    return Exercise(
        name="optimize",
        signature=signature,
        notebooks=(1,),
        summary=f"num_iterations steps of gradient descent from (w, b), the gradients from "
        f"{grads_words}: w = w − lr·dw, b = b − lr·db. Returns (w, b, costs), costs[k] the "
        "cost before step k.",
        checks="6, 3 and 1 iterations at three learning rates, from non-zero w and b; "
        "compared with the same loop on dlcore's gradients.",
        cases=lambda rng: _optimize_cases(rng, with_data),
        reference=reference,
        unpack=tuple_of("w", "b", "costs", scalars=("b",)),
        may_modify=frozenset({"w"}),
        mistakes=[
            Mistake("costs_length", "costs should hold one cost per iteration, the cost "
                    "before each step (num_iterations = {num_iterations})", test=costs_length),
            Mistake("ascent", "the parameters move uphill: subtract the step, "
                    "w = w − lr·dw and b = b − lr·db", variant(sign=-1.0)),
            Mistake("no_lr", "the step leaves out the learning rate: w = w − lr·dw",
                    lambda *args: _gd(*grads_of(args)[:4], 1.0)),
            Mistake("b_not_updated", "b never changes: update it too, b = b − lr·db",
                    variant(update_b=False)),
            Mistake("frozen_gradients", "every step uses the gradients of the first one: "
                    "compute the cost and gradients again inside the loop, at the current "
                    "w and b", variant(frozen=True)),
        ],
    )


def _choose_optimize(fn, options) -> str:
    # no signature (a builtin) counts as no parameters: the function flavour
    return "data" if len(parameter_names(fn)) >= 6 else "function"


register(Exercise(
    name="optimize",
    signature="optimize(w, b, cost_and_gradients, num_iterations, lr)",
    notebooks=(1,),
    summary="Gradient descent on logistic regression (two notebook versions: gradients "
    "from a function, or from propagate on X, Y — chosen by the number of parameters).",
    checks="see the flavours",
    flavours={"function": _optimize_flavour(False), "data": _optimize_flavour(True)},
    choose=_choose_optimize,
))


def _predict(w, b, X):
    return (_forward(w, b, X) > 0.5).astype(np.int64)


def _predict_cases(rng) -> list[Case]:
    cases = []
    for n, m, dtype in [(3, 9, F64), (2, 1, F64), (4, 12, np.float32)]:
        w, b, X, _ = _lr_inputs(rng, n, m, 0.3, dtype)
        # Put some z = wᵀX + b in (0, 0.5) so that thresholding z instead of σ(z) shows.
        cases.append(Case((w * 2, b, X), f"n_x = {n}, m = {m}, {np.dtype(dtype).name}"))
    return cases


register(Exercise(
    name="predict",
    signature="predict(w, b, X)",
    notebooks=(1,),
    summary="Labels of shape (1, m): 1 where σ(wᵀX + b) > 0.5, else 0.",
    checks="9 examples, one example, float32 with 12 examples; compared with dlcore's "
    "sigmoid thresholded at 0.5.",
    cases=_predict_cases,
    reference=_predict,
    mistakes=[
        Mistake("probabilities", "these are the probabilities σ(wᵀX + b): predict returns "
                "labels, 1 where the probability is above 0.5, else 0", _forward),
        Mistake("inverted", "the labels are the wrong way round: predict 1 where "
                "σ(wᵀX + b) > 0.5", lambda w, b, X: 1 - _predict(w, b, X)),
        Mistake("threshold_z", "the threshold is applied to z = wᵀX + b: apply it to the "
                "probability σ(z) (σ(z) > 0.5 exactly when z > 0)",
                lambda w, b, X: (np.asarray(w, F64).T @ X + b > 0.5).astype(np.int64)),
        Mistake("flat", "the labels have shape (m,): keep them as a row, (1, m)",
                lambda w, b, X: _predict(w, b, X).ravel()),
    ],
))
