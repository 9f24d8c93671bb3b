"""Mutation tests of notebook 01's exercise checks (dlcore/exercises/logistic_regression.py):
each mutant is a learner's function with one known mistake, written as a learner would."""

from __future__ import annotations

import math

import numpy as np
from exercise_helpers import Spec, failure, mutation_tests


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)


def propagate(w, b, X, Y):
    m = X.shape[1]
    A = sigmoid(w.T @ X + b)
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    dZ = A - Y
    return cost, X @ dZ.T / m, np.sum(dZ) / m


def propagate_with(cost_scale=1.0, dw=None, db=None, use_b=True, two_terms=True):
    def f(w, b, X, Y):
        m = X.shape[1]
        A = sigmoid(np.dot(w.T, X) + (b if use_b else 0))
        logs = Y * np.log(A) + ((1 - Y) * np.log(1 - A) if two_terms else 0)
        cost = -cost_scale * np.sum(logs) / m
        dZ = A - Y
        return (cost, dw(X, dZ, m) if dw else X @ dZ.T / m,
                db(dZ, m) if db else np.sum(dZ) / m)

    return f


def propagate_y_minus_a(w, b, X, Y):
    m = X.shape[1]
    A = sigmoid(w.T @ X + b)
    cost = np.mean(-Y * np.log(A) - (1 - Y) * np.log(1 - A))
    dZ = Y - A
    return cost, (1 / m) * X @ dZ.T, np.mean(dZ)


def optimize(w, b, cost_and_gradients, num_iterations, lr):
    costs = []
    for _ in range(num_iterations):
        cost, dw, db = cost_and_gradients(w, b)
        costs.append(cost)
        w = w - lr * dw
        b = b - lr * db
    return w, b, costs


def optimize_on_data(w, b, X, Y, num_iterations, lr):
    return optimize(w, b, lambda w, b: propagate(w, b, X, Y), num_iterations, lr)


def optimize_ascent(w, b, cost_and_gradients, num_iterations, lr):
    return optimize(w, b, cost_and_gradients, num_iterations, -lr)


def optimize_no_lr(w, b, cost_and_gradients, num_iterations, lr):
    return optimize(w, b, cost_and_gradients, num_iterations, 1)


def optimize_b_fixed(w, b, cost_and_gradients, num_iterations, lr):
    costs = []
    for _ in range(num_iterations):
        cost, dw, db = cost_and_gradients(w, b)
        costs.append(cost)
        w = w - lr * dw
    return w, b, costs


def optimize_frozen(w, b, cost_and_gradients, num_iterations, lr):
    costs = []
    _, dw, db = cost_and_gradients(w, b)
    for _ in range(num_iterations):
        cost, _, _ = cost_and_gradients(w, b)
        costs.append(cost)
        w = w - lr * dw
        b = b - lr * db
    return w, b, costs


def optimize_every_100(w, b, cost_and_gradients, num_iterations, lr):
    costs = []
    for i in range(num_iterations):
        cost, dw, db = cost_and_gradients(w, b)
        if i % 100 == 0:
            costs.append(cost)
        w, b = w - lr * dw, b - lr * db
    return w, b, costs


def optimize_inplace(w, b, cost_and_gradients, num_iterations, lr):
    costs = []
    for _ in range(num_iterations):
        cost, dw, db = cost_and_gradients(w, b)
        costs.append(cost)
        w -= lr * dw  # in place on w: allowed
        b -= lr * db
    return w, b, costs


def predict(w, b, X):
    return (sigmoid(w.T @ X + b) > 0.5).astype(int)


SPECS = [
    Spec("sigmoid", sigmoid, {
        "minus_sign": lambda z: 1 / (1 + np.exp(z)),
        "no_reciprocal": lambda z: 1 + np.exp(-z),
        "missing_one": lambda z: 1 / np.exp(-z),
        "tanh": np.tanh,
        "rounded": lambda z: np.where(sigmoid(z) > 0.5, 1, 0),
        "derivative": sigmoid_derivative,
    }, rewritten=[
        ("minus_sign", lambda z: np.exp(-z) / (1 + np.exp(-z))),
        ("minus_sign", lambda z: 1 - 1 / (1 + np.exp(-z))),
        ("tanh", lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))),
        ("rounded", lambda z: np.round(sigmoid(z))),
    ]),
    Spec("sigmoid_derivative", sigmoid_derivative, {
        "at_z": lambda z: z * (1 - z),
        "sigmoid_itself": sigmoid,
        "tanh_formula": lambda z: 1 - sigmoid(z) ** 2,
        "sign": lambda z: sigmoid(z) * (sigmoid(z) - 1),
    }, rewritten=[
        ("at_z", lambda z: z - z**2),
        ("sigmoid_itself", lambda z: np.exp(z) / (1 + np.exp(z))),
    ]),
    Spec("propagate", propagate, {
        "no_bias": propagate_with(use_b=False),
        "cost_sign": propagate_with(cost_scale=-1),
        "cost_no_mean": lambda w, b, X, Y: (propagate(w, b, X, Y)[0] * X.shape[1],
                                            *propagate(w, b, X, Y)[1:]),
        "cost_one_term": propagate_with(two_terms=False),
        "gradient_sign": lambda w, b, X, Y: (propagate(w, b, X, Y)[0],
                                             -propagate(w, b, X, Y)[1],
                                             -propagate(w, b, X, Y)[2]),
        "dw_no_mean": propagate_with(dw=lambda X, dZ, m: X @ dZ.T),
        "dw_transposed": propagate_with(dw=lambda X, dZ, m: dZ @ X.T / m),
        "db_no_mean": propagate_with(db=lambda dZ, m: np.sum(dZ)),
    }, rewritten=[
        # the 1/m dropped by dividing later / never: dw = (1/m) * ... written another way
        ("dw_no_mean", propagate_with(dw=lambda X, dZ, m: np.dot(X, dZ.T) * m / m)),
        ("cost_no_mean", propagate_with(cost_scale=7)),  # first case has m = 7
        ("dw_transposed", propagate_with(dw=lambda X, dZ, m: (X @ dZ.T).T / m)),
        ("gradient_sign", propagate_y_minus_a),
    ]),
    Spec("optimize", optimize, {
        "costs_length": optimize_every_100,
        "ascent": optimize_ascent,
        "no_lr": optimize_no_lr,
        "b_not_updated": optimize_b_fixed,
        "frozen_gradients": optimize_frozen,
    }, flavour="function"),
    Spec("optimize", optimize_on_data, {
        "costs_length": lambda w, b, X, Y, n, lr: optimize_every_100(
            w, b, lambda w, b: propagate(w, b, X, Y), n, lr),
        "ascent": lambda w, b, X, Y, n, lr: optimize_on_data(w, b, X, Y, n, -lr),
        "no_lr": lambda w, b, X, Y, n, lr: optimize_on_data(w, b, X, Y, n, 1.0),
        "b_not_updated": lambda w, b, X, Y, n, lr: optimize_b_fixed(
            w, b, lambda w, b: propagate(w, b, X, Y), n, lr),
        "frozen_gradients": lambda w, b, X, Y, n, lr: optimize_frozen(
            w, b, lambda w, b: propagate(w, b, X, Y), n, lr),
    }, flavour="data"),
    Spec("predict", predict, {
        "probabilities": lambda w, b, X: sigmoid(w.T @ X + b),
        "inverted": lambda w, b, X: (sigmoid(w.T @ X + b) < 0.5).astype(int),
        "threshold_z": lambda w, b, X: (w.T @ X + b > 0.5).astype(int),
        "flat": lambda w, b, X: predict(w, b, X).ravel(),
    }, rewritten=[("threshold_z", lambda w, b, X: np.round(w.T @ X + b >= 0.5001))]),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_updating_w_in_place_is_allowed(capsys):
    from dlcore.exercises.engine import run_check

    run_check("optimize", optimize_inplace)
    assert capsys.readouterr().out == "optimize: all 3 checks passed\n"


def test_a_scalar_only_sigmoid_reports_its_exception_and_line():
    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    err = failure("sigmoid", sigmoid)
    assert err.mistake == "exception"
    assert "TypeError" in str(err) and "return 1 / (1 + math.exp(-z))" in str(err)


def test_a_cost_of_shape_1_1_is_asked_to_be_a_number():
    def f(w, b, X, Y):
        cost, dw, db = propagate(w, b, X, Y)
        return np.reshape(cost, (1, 1)), dw, db

    err = failure("propagate", f)
    assert err.mistake == "shape" and "cost should be a number" in str(err), str(err)
