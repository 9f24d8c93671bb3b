"""Mutation tests of notebook 04's exercise check (dlcore/exercises/cat_classifier.py)."""

from __future__ import annotations

import numpy as np
from exercise_helpers import Spec, failure, mutation_tests


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def written(hidden=lambda Z: np.maximum(Z, 0), slope=lambda Z1, A1: Z1 > 0, sign=1.0,
            cost_scale=1.0, mean=True, keepdims=True, transpose=False, grads_as=list):
    """The notebook's function, with one switch per way of getting it wrong."""

    def two_layer_forward_backward(W1, b1, W2, b2, X, Y):
        m = X.shape[1]
        Z1 = W1 @ X + b1
        A1 = hidden(Z1)
        A2 = sigmoid(W2 @ A1 + b2)
        J = -cost_scale * np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m
        k = 1 / m if mean else 1.0
        dZ2 = sign * (A2 - Y)
        dW2, db2 = k * dZ2 @ A1.T, k * dZ2.sum(axis=1, keepdims=keepdims)
        dZ1 = (W2.T @ dZ2) * slope(Z1, A1)
        dW1, db1 = k * dZ1 @ X.T, k * dZ1.sum(axis=1, keepdims=keepdims)
        if transpose:
            dW1, dW2 = dW1.T, dW2.T
        return A2, J, grads_as([dW1, db1, dW2, db2])

    return two_layer_forward_backward


def tanh_network(W1, b1, W2, b2, X, Y):
    # notebook 2's network: tanh forward and its derivative backward
    return written(hidden=np.tanh, slope=lambda Z1, A1: 1 - A1**2)(W1, b1, W2, b2, X, Y)


def sigmoid_network(W1, b1, W2, b2, X, Y):
    return written(hidden=sigmoid, slope=lambda Z1, A1: A1 * (1 - A1))(W1, b1, W2, b2, X, Y)


def cost_without_mean(W1, b1, W2, b2, X, Y):
    A2, J, grads = written()(W1, b1, W2, b2, X, Y)
    return A2, J * X.shape[1], grads


SPECS = [
    Spec("two_layer_forward_backward", written(), {
        "hidden_tanh": tanh_network,
        "hidden_sigmoid": sigmoid_network,
        "cost_sign": written(cost_scale=-1.0),
        "cost_no_mean": cost_without_mean,
        "no_mean": written(mean=False),
        "dZ2_sign": written(sign=-1.0),
        "no_relu_derivative": written(slope=lambda Z1, A1: 1),
        "tanh_derivative": written(slope=lambda Z1, A1: 1 - A1**2),
        "db_no_keepdims": written(keepdims=False),
        "dW_transposed": written(transpose=True),
    }, rewritten=[
        # tanh forward, but ReLU's mask backward: the forward pass is what is wrong
        ("hidden_tanh", written(hidden=np.tanh)),
        # the mask read off A1 with >= lets every entry through
        ("no_relu_derivative", written(slope=lambda Z1, A1: A1 >= 0)),
        # the 1/m forgotten in dW2 only
        ("no_mean", lambda *a: (lambda A2, J, g: (A2, J, [g[0], g[1], g[2] * a[4].shape[1],
                                                          g[3]]))(*written()(*a))),
    ]),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_grads_as_a_tuple_pass_too(capsys):
    from dlcore.exercises import engine

    engine.run_check("two_layer_forward_backward", written(grads_as=tuple))
    assert capsys.readouterr().out == "two_layer_forward_backward: all 3 checks passed\n"


def test_a_flat_result_names_the_structure():
    def flat(W1, b1, W2, b2, X, Y):
        A2, J, grads = written()(W1, b1, W2, b2, X, Y)
        return (A2, J, *grads)

    err = failure("two_layer_forward_backward", flat)
    assert err.mistake == "structure"
    assert "should return 3 values (A2, J, grads), got 6" in str(err)


def test_three_gradients_name_the_missing_one():
    def three(W1, b1, W2, b2, X, Y):
        A2, J, grads = written()(W1, b1, W2, b2, X, Y)
        return A2, J, grads[:3]

    err = failure("two_layer_forward_backward", three)
    assert err.mistake == "structure"
    assert "grads should return 4 values (dW1, db1, dW2, db2), got 3" in str(err)


def test_a_wrong_entry_outside_the_catalogue_is_located():
    def off_by_one(W1, b1, W2, b2, X, Y):
        A2, J, (dW1, db1, dW2, db2) = written()(W1, b1, W2, b2, X, Y)
        dW2 = dW2.copy()
        dW2[0, 1] += 1.0
        return A2, J, [dW1, db1, dW2, db2]

    err = failure("two_layer_forward_backward", off_by_one)
    assert err.mistake == "values"
    assert str(err).startswith("two_layer_forward_backward: dW2 is wrong at [0, 1]")
