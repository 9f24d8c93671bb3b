"""Mutation tests of notebook 02's exercise checks (dlcore/exercises/one_hidden_layer.py)."""

from __future__ import annotations

import numpy as np
from exercise_helpers import Spec, failure, mutation_tests


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def init_params(n_x, n_h, n_y, rng):
    W1 = rng.standard_normal((n_h, n_x)) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = rng.standard_normal((n_y, n_h)) * 0.01
    b2 = np.zeros((n_y, 1))
    return W1, b1, W2, b2


def init_with(draw=None, shape=None, bias=None):
    def f(n_x, n_h, n_y, rng):
        draw_ = draw or (lambda rng, s: rng.standard_normal(s) * 0.01)
        shape_ = shape or (lambda n_out, n_in: (n_out, n_in))
        bias_ = bias or (lambda rng, n: np.zeros((n, 1)))
        W1 = draw_(rng, shape_(n_h, n_x))
        b1 = bias_(rng, n_h)
        W2 = draw_(rng, shape_(n_y, n_h))
        return W1, b1, W2, bias_(rng, n_y)

    return f


def forward(params, X):
    W1, b1, W2, b2 = params
    A1 = np.tanh(W1 @ X + b1)
    return A1, sigmoid(W2 @ A1 + b2)


def forward_with(g1=np.tanh, g2=sigmoid, b1_on=True, b2_on=True):
    def f(params, X):
        W1, b1, W2, b2 = params
        A1 = g1(np.dot(W1, X) + (b1 if b1_on else 0))
        return A1, g2(np.dot(W2, A1) + (b2 if b2_on else 0))

    return f


def compute_cost(A2, Y):
    m = Y.shape[1]
    return -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m


def backward(params, A1, A2, X, Y):
    W1, b1, W2, b2 = params
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (1 - A1**2)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return dW1, db1, dW2, db2


def backward_with(dtanh=lambda A1: 1 - A1**2, dW=None, db=None, dZ2_of=None):
    dW = dW or (lambda dZ, A_prev, m: dZ @ A_prev.T / m)
    db = db or (lambda dZ, m: np.sum(dZ, axis=1, keepdims=True) / m)
    dZ2_of = dZ2_of or (lambda A2, Y: A2 - Y)

    def f(params, A1, A2, X, Y):
        W1, b1, W2, b2 = params
        m = X.shape[1]
        dZ2 = dZ2_of(A2, Y)
        dZ1 = np.dot(W2.T, dZ2) * dtanh(A1)
        return dW(dZ1, X, m), db(dZ1, m), dW(dZ2, A1, m), db(dZ2, m)

    return f


def update(params, grads, lr):
    return tuple(p - lr * g for p, g in zip(params, grads, strict=True))


def update_in_place(params, grads, lr):
    for p, g in zip(params, grads, strict=True):
        p -= lr * g
    return params


SPECS = [
    Spec("init_params", init_params, {
        "transposed": init_with(shape=lambda n_out, n_in: (n_in, n_out)),
        "random_bias": init_with(bias=lambda rng, n: rng.standard_normal((n, 1)) * 0.01),
        "zeros": init_with(draw=lambda rng, s: np.zeros(s)),
        "no_scale": init_with(draw=lambda rng, s: rng.standard_normal(s)),
        "uniform": init_with(draw=lambda rng, s: rng.random(s) * 0.01),
        "ignores_rng": init_with(draw=lambda rng, s: np.random.default_rng(3).standard_normal(s)
                                 * 0.01),
    }, rewritten=[
        ("ignores_rng", init_with(draw=lambda rng, s: np.random.randn(*s) * 0.01)),  # noqa: NPY002
        ("no_scale", init_with(draw=lambda rng, s: rng.normal(0, 1, s))),
        ("transposed", init_with(draw=lambda rng, s: rng.standard_normal(s[::-1]) * 0.01)),
    ]),
    Spec("forward", forward, {
        "hidden_sigmoid": forward_with(g1=sigmoid),
        "hidden_relu": forward_with(g1=lambda Z: np.maximum(Z, 0)),
        "hidden_linear": forward_with(g1=lambda Z: Z),
        "no_b1": forward_with(b1_on=False),
        "output_linear": forward_with(g2=lambda Z: Z),
        "output_tanh": forward_with(g2=np.tanh),
        "no_b2": forward_with(b2_on=False),
    }, rewritten=[
        ("hidden_sigmoid", forward_with(g1=lambda Z: np.exp(Z) / (1 + np.exp(Z)))),
        ("output_linear", lambda params, X: (forward(params, X)[0],
                                             params[2] @ forward(params, X)[0] + params[3])),
    ]),
    Spec("compute_cost", compute_cost, {
        "sign": lambda A2, Y: np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / Y.shape[1],
        "no_mean": lambda A2, Y: -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)),
        "one_term": lambda A2, Y: -np.sum(Y * np.log(A2)) / Y.shape[1],
        "log10": lambda A2, Y: -np.mean(Y * np.log10(A2) + (1 - Y) * np.log10(1 - A2)),
        "per_example": lambda A2, Y: -(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)),
    }, rewritten=[
        ("no_mean", lambda A2, Y: -np.sum(np.multiply(Y, np.log(A2))
                                          + np.multiply(1 - Y, np.log(1 - A2)))),
        ("sign", lambda A2, Y: np.mean(np.log(np.where(Y == 1, A2, 1 - A2)))),
        ("one_term", lambda A2, Y: float(-np.dot(np.log(A2), Y.T)[0, 0] / Y.shape[1])),
    ]),
    Spec("backward", backward, {
        "no_mean": backward_with(dW=lambda dZ, A_prev, m: dZ @ A_prev.T,
                                 db=lambda dZ, m: np.sum(dZ, axis=1, keepdims=True)),
        "dZ2_sign": backward_with(dZ2_of=lambda A2, Y: Y - A2),
        "tanh_derivative_sigmoid": backward_with(dtanh=lambda A1: A1 * (1 - A1)),
        "tanh_derivative_at_z": backward_with(dtanh=lambda A1: 1 - np.tanh(A1) ** 2),
        "tanh_derivative_not_squared": backward_with(dtanh=lambda A1: 1 - A1),
        "no_tanh_derivative": backward_with(dtanh=lambda A1: 1),
        "db_no_keepdims": backward_with(db=lambda dZ, m: np.sum(dZ, axis=1) / m),
        "db_wrong_axis": backward_with(db=lambda dZ, m: np.sum(dZ, axis=0, keepdims=True) / m),
        "dW_transposed": backward_with(dW=lambda dZ, A_prev, m: A_prev @ dZ.T / m),
    }, rewritten=[
        # the 1/m missing only in dW2 and db2, dropped by dividing dZ1 later
        ("no_mean", lambda *a: backward(*a)[:2] + tuple(g * a[3].shape[1]
                                                        for g in backward(*a)[2:])),
        ("no_mean", backward_with(dW=lambda dZ, A_prev, m: (dZ / m) @ A_prev.T * m)),
        ("dW_transposed", backward_with(dW=lambda dZ, A_prev, m: (dZ @ A_prev.T).T / m)),
        ("tanh_derivative_sigmoid", backward_with(dtanh=lambda A1: A1 - A1 * A1)),
        ("db_no_keepdims", backward_with(db=lambda dZ, m: dZ.mean(axis=1))),
    ]),
    Spec("update", update, {
        "ascent": lambda params, grads, lr: tuple(p + lr * g
                                                  for p, g in zip(params, grads, strict=True)),
        "no_lr": lambda params, grads, lr: tuple(p - g for p, g in zip(params, grads, strict=True)),
        "returns_step": lambda params, grads, lr: tuple(-lr * g for g in grads),
        "b_not_updated": lambda params, grads, lr: (params[0] - lr * grads[0], params[1],
                                                    params[2] - lr * grads[2], params[3]),
    }),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_updating_params_in_place_is_allowed(capsys):
    from dlcore.exercises.engine import run_check

    run_check("update", update_in_place)
    assert capsys.readouterr().out == "update: all 3 checks passed\n"


def test_changing_grads_in_place_is_reported():
    def f(params, grads, lr):
        for g in grads:
            g *= lr
        return tuple(p - g for p, g in zip(params, grads, strict=True))

    err = failure("update", f)
    assert err.mistake == "modified_input" and "grads" in str(err)


def test_mixed_up_gradients_get_the_largest_wrong_entry():
    def f(params, grads, lr):
        W1, b1, W2, b2 = params
        dW1, db1, dW2, db2 = grads
        return W1 - lr * dW1, b1 - lr * db1 * 1.5, W2 - lr * dW2, b2 - lr * db2

    err = failure("update", f)
    assert err.mistake == "values" and "b1 is wrong at [" in str(err) and "expected" in str(err)
