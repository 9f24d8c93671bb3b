"""Mutation tests of notebook 03's exercise checks (dlcore/exercises/deep_network.py)."""

from __future__ import annotations

import numpy as np
from exercise_helpers import Spec, failure, mutation_tests


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def relu(Z):
    return np.maximum(0, Z)


def init_params(layer_dims, rng):
    return [(rng.standard_normal((n, n_prev)) * np.sqrt(2 / n_prev), np.zeros((n, 1)))
            for n_prev, n in zip(layer_dims[:-1], layer_dims[1:], strict=True)]


def init_with(scale=lambda n_prev, n: np.sqrt(2 / n_prev), shape=None, bias=None, draw=None,
              layers=None):
    def f(layer_dims, rng):
        params = []
        L = len(layer_dims) - 1 if layers is None else layers(len(layer_dims))
        for k in range(1, L + 1):
            n_prev, n = layer_dims[k - 1], layer_dims[k]
            s = shape(n_prev, n) if shape else (n, n_prev)
            W = (draw(rng, s) if draw else rng.standard_normal(s)) * scale(n_prev, n)
            b = bias(rng, n) if bias else np.zeros((n, 1))
            params.append((W, b))
        return params

    return f


def linear_forward(A_prev, W, b):
    return W @ A_prev + b


def layer_forward(A_prev, W, b, g):
    Z = W @ A_prev + b
    return g(Z), Z


def model_forward(X, params, cache="A", hidden=relu, output=sigmoid, use_b=True, stale=False,
                  skip_last=False):
    L = len(params)
    A, caches = X, []
    for k, (W, b) in enumerate(params, start=1):
        if skip_last and k == L:
            break
        A_prev = A
        Z = W @ A_prev + (b if use_b else 0)
        A = output(Z) if k == L else hidden(Z)
        caches.append((A if stale else A_prev, A if cache == "A" else Z))
    return A, caches


def forward_with(**kw):
    return lambda X, params: model_forward(X, params, **kw)


def linear_backward(dZ, A_prev, W):
    m = A_prev.shape[1]
    return W.T @ dZ, dZ @ A_prev.T / m, np.sum(dZ, axis=1, keepdims=True) / m


def lb_with(dA=None, dW=None, db=None):
    """linear_backward with some of its three results computed by the given formulas."""

    def f(dZ, A_prev, W):
        m = A_prev.shape[1]
        base = dict(zip(("dA", "dW", "db"), linear_backward(dZ, A_prev, W), strict=True))
        formulas = {"dA": dA, "dW": dW, "db": db}
        return tuple(formulas[k](dZ, A_prev, W, m) if formulas[k] else base[k] for k in base)

    return f


def relu_backward(dA, Z):
    return dA * (Z > 0)


def relu_backward_A(dA, A):
    return dA * (A > 0)


def sigmoid_backward(dA, Z):
    s = sigmoid(Z)
    return dA * s * (1 - s)


def sigmoid_backward_A(dA, A):
    return dA * A * (1 - A)


def model_backward(AL, Y, params, caches, cache="A", dZL=None, hidden=None, reverse=False):
    L = len(params)
    grads, dA = [None] * L, None
    dZ = dZL(AL, Y) if dZL else AL - Y
    for k in range(L, 0, -1):
        A_prev, second = caches[k - 1]
        if k < L:
            if hidden:
                dZ = hidden(dA, second)
            else:
                dZ = dA * (second > 0)  # (A > 0) and (Z > 0) are the same mask
        m = A_prev.shape[1]
        grads[k - 1] = (dZ @ A_prev.T / m, np.sum(dZ, axis=1, keepdims=True) / m)
        dA = params[k - 1][0].T @ dZ
    return grads[::-1] if reverse else grads


def backward_with(**kw):
    return lambda AL, Y, params, caches: model_backward(AL, Y, params, caches, **kw)


def model_backward_Z(AL, Y, params, caches):
    return model_backward(AL, Y, params, caches, cache="Z")


def update_params(params, grads, lr):
    return [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads, strict=True)]


SPECS = [
    Spec("init_params_deep", init_params, {
        "layer_count": init_with(layers=lambda n: n - 2),
        "transposed": init_with(shape=lambda n_prev, n: (n_prev, n)),
        "random_bias": init_with(bias=lambda rng, n: rng.standard_normal((n, 1))),
        "zeros": init_with(scale=lambda n_prev, n: 0.0),
        "uniform": init_with(draw=lambda rng, s: rng.random(s)),
        "he_vs_xavier": init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev)),
        "fan_out": init_with(scale=lambda n_prev, n: np.sqrt(2 / n)),
        "no_sqrt": init_with(scale=lambda n_prev, n: 2 / n_prev),
        "small": init_with(scale=lambda n_prev, n: 0.01),
        "no_scale": init_with(scale=lambda n_prev, n: 1.0),
        "ignores_rng": init_with(draw=lambda rng, s: np.random.default_rng(0).standard_normal(s)),
    }, rewritten=[
        ("layer_count", lambda layer_dims, rng: [  # k = 0 wraps round to layer_dims[-1]
            (rng.standard_normal((layer_dims[k], layer_dims[k - 1])) * np.sqrt(2 / layer_dims[k]),
             np.zeros((layer_dims[k], 1))) for k in range(len(layer_dims))]),
        ("he_vs_xavier", init_with(scale=lambda n_prev, n: 1 / np.sqrt(n_prev))),
        ("no_sqrt", init_with(scale=lambda n_prev, n: np.sqrt(2 / n_prev) ** 2)),
    ], flavour="he"),
    Spec("init_params_deep", init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev)), {
        "layer_count": init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev),
                                 layers=lambda n: n - 2),
        "transposed": init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev),
                                shape=lambda n_prev, n: (n_prev, n)),
        "random_bias": init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev),
                                 bias=lambda rng, n: rng.standard_normal((n, 1))),
        "zeros": init_with(scale=lambda n_prev, n: 0.0),
        "uniform": init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev),
                             draw=lambda rng, s: rng.random(s)),
        "he_vs_xavier": init_params,
        "fan_out": init_with(scale=lambda n_prev, n: np.sqrt(1 / n)),
        "no_sqrt": init_with(scale=lambda n_prev, n: 1 / n_prev),
        "small": init_with(scale=lambda n_prev, n: 0.01),
        "no_scale": init_with(scale=lambda n_prev, n: 1.0),
        "ignores_rng": init_with(scale=lambda n_prev, n: np.sqrt(1 / n_prev),
                                 draw=lambda rng, s: np.random.default_rng(0).standard_normal(s)),
    }, options={"init": "xavier"}, flavour="xavier"),
    Spec("linear_forward", linear_forward, {
        "no_bias": lambda A_prev, W, b: W @ A_prev,
        "W_transposed": lambda A_prev, W, b: W.T @ A_prev + b,
        "Z_transposed": lambda A_prev, W, b: A_prev.T @ W.T + b.T,
        "bias_summed": lambda A_prev, W, b: W @ A_prev + b.sum(),
    }, rewritten=[
        ("no_bias", lambda A_prev, W, b: np.dot(W, A_prev)),
        ("Z_transposed", lambda A_prev, W, b: (W @ A_prev + b).T),
        ("W_transposed", lambda A_prev, W, b: (A_prev.T @ W).T + b),
    ]),
    Spec("layer_forward", layer_forward, {
        "swapped": lambda A_prev, W, b, g: layer_forward(A_prev, W, b, g)[::-1],
        "no_activation": lambda A_prev, W, b, g: (W @ A_prev + b, W @ A_prev + b),
        "Z_is_A": lambda A_prev, W, b, g: (g(W @ A_prev + b), g(W @ A_prev + b)),
        "no_bias": lambda A_prev, W, b, g: (g(W @ A_prev), W @ A_prev),
    }),
    Spec("relu", relu, {
        "column_max": lambda Z: np.max(Z, 0),
        "derivative": lambda Z: (Z > 0).astype(float),
        "abs": np.abs,
        "negative_part": lambda Z: np.minimum(0, Z),
        "leaky": lambda Z: np.maximum(0.01 * Z, Z),
    }, rewritten=[
        ("derivative", lambda Z: np.where(Z > 0, 1, 0)),
        ("abs", lambda Z: np.sqrt(Z**2)),
        ("negative_part", lambda Z: Z * (Z < 0)),
    ]),
    Spec("model_forward", model_forward, {
        "layer_count": forward_with(skip_last=True),
        "relu_output": forward_with(output=relu),
        "sigmoid_hidden": forward_with(hidden=sigmoid),
        "no_bias": forward_with(use_b=False),
        "stale_cache": forward_with(stale=True),
        "caches_Z": forward_with(cache="Z"),
    }, flavour="A"),
    Spec("model_forward", forward_with(cache="Z"), {
        "layer_count": forward_with(cache="Z", skip_last=True),
        "relu_output": forward_with(cache="Z", output=relu),
        "sigmoid_hidden": forward_with(cache="Z", hidden=sigmoid),
        "no_bias": forward_with(cache="Z", use_b=False),
        "stale_cache": forward_with(cache="Z", stale=True),
        "caches_A": forward_with(cache="A"),
    }, options={"cache": "Z"}, flavour="Z"),
    Spec("linear_backward", linear_backward, {
        "no_mean": lb_with(dW=lambda dZ, A_prev, W, m: dZ @ A_prev.T,
                           db=lambda dZ, A_prev, W, m: np.sum(dZ, axis=1, keepdims=True)),
        "dA_prev_mean": lb_with(dA=lambda dZ, A_prev, W, m: W.T @ dZ / m),
        "W_not_transposed": lb_with(dA=lambda dZ, A_prev, W, m: W @ dZ),
        "dW_transposed": lb_with(dW=lambda dZ, A_prev, W, m: A_prev @ dZ.T / m),
        "db_no_keepdims": lb_with(db=lambda dZ, A_prev, W, m: np.sum(dZ, axis=1) / m),
        "db_wrong_axis": lb_with(db=lambda dZ, A_prev, W, m: np.sum(dZ, axis=0,
                                                                     keepdims=True) / m),
        "db_total": lb_with(db=lambda dZ, A_prev, W, m: np.sum(dZ) / m),
    }, rewritten=[
        ("no_mean", lb_with(db=lambda dZ, A_prev, W, m: dZ.sum(axis=1, keepdims=True))),
        ("dA_prev_mean", lb_with(dA=lambda dZ, A_prev, W, m: np.dot(W.T, dZ / m))),
        ("db_no_keepdims", lb_with(db=lambda dZ, A_prev, W, m: dZ.mean(axis=1))),
    ]),
    Spec("relu_backward", relu_backward, {
        "geq": lambda dA, Z: dA * (Z >= 0),
        "no_mask": lambda dA, Z: dA.copy(),
        "returns_mask": lambda dA, Z: (Z > 0).astype(float),
        "mask_inverted": lambda dA, Z: np.where(Z > 0, 0, dA),
        "relu_of_dA": lambda dA, Z: np.maximum(dA, 0),
    }, rewritten=[
        ("geq", lambda dA, Z: np.where(Z < 0, 0, dA)),
        ("geq", lambda dA, Z: dA * np.heaviside(Z, 1)),
    ], flavour="Z"),
    Spec("relu_backward", relu_backward_A, {
        "geq": lambda dA, A: dA * (A >= 0),
        "times_A": lambda dA, A: dA * A,
        "returns_mask": lambda dA, A: (A > 0) * 1.0,
        "mask_inverted": lambda dA, A: dA * (A == 0),
        "relu_of_dA": lambda dA, A: relu(dA),
    }, options={"at": "A"}, flavour="A"),
    Spec("sigmoid_backward", sigmoid_backward, {
        "at_Z": lambda dA, Z: dA * Z * (1 - Z),
        "no_dA": lambda dA, Z: sigmoid(Z) * (1 - sigmoid(Z)),
        "s_only": lambda dA, Z: dA * sigmoid(Z),
        "tanh_formula": lambda dA, Z: dA * (1 - sigmoid(Z) ** 2),
        "sign": lambda dA, Z: dA * sigmoid(Z) * (sigmoid(Z) - 1),
    }, flavour="Z"),
    Spec("sigmoid_backward", sigmoid_backward_A, {
        "at_A": sigmoid_backward,
        "no_dA": lambda dA, A: A * (1 - A),
        "A_only": lambda dA, A: dA * A,
        "tanh_formula": lambda dA, A: dA * (1 - A * A),
        "sign": lambda dA, A: -dA * A * (1 - A),
    }, rewritten=[("at_A", lambda dA, A: dA * np.exp(-A) / (1 + np.exp(-A)) ** 2)],
        options={"at": "A"}, flavour="A"),
    Spec("model_backward", model_backward, {
        "dZL_sign": backward_with(dZL=lambda AL, Y: Y - AL),
        "no_mean": lambda AL, Y, p, c: [(dW * Y.shape[1], db * Y.shape[1])
                                        for dW, db in model_backward(AL, Y, p, c)],
        "double_mean": backward_with(dZL=lambda AL, Y: (AL - Y) / Y.shape[1]),
        "reversed": backward_with(reverse=True),
        "no_relu_derivative": backward_with(hidden=lambda dA, A: dA),
        "sigmoid_hidden": backward_with(hidden=sigmoid_backward_A),
    }, flavour="A"),
    Spec("model_backward", model_backward_Z, {
        "dZL_sign": backward_with(cache="Z", dZL=lambda AL, Y: Y - AL),
        "no_mean": lambda AL, Y, p, c: [(dW * Y.shape[1], db * Y.shape[1])
                                        for dW, db in model_backward_Z(AL, Y, p, c)],
        "double_mean": backward_with(cache="Z", dZL=lambda AL, Y: (AL - Y) / Y.shape[1]),
        "reversed": backward_with(cache="Z", reverse=True),
        "no_relu_derivative": backward_with(cache="Z", hidden=lambda dA, Z: dA),
        "sigmoid_hidden": backward_with(cache="Z", hidden=sigmoid_backward),
    }, options={"cache": "Z"}, flavour="Z"),
    Spec("update_params", update_params, {
        "ascent": lambda params, grads, lr: update_params(params, grads, -lr),
        "no_lr": lambda params, grads, lr: update_params(params, grads, 1),
        "returns_step": lambda params, grads, lr: [(-lr * dW, -lr * db) for dW, db in grads],
        "b_not_updated": lambda params, grads, lr: [
            (W - lr * dW, b) for (W, b), (dW, _) in zip(params, grads, strict=True)],
    }),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_relu_backward_reads_its_convention_from_the_parameter_name(capsys):
    from dlcore.exercises.engine import run_check

    run_check("relu_backward", relu_backward_A)  # (dA, A)
    run_check("relu_backward", relu_backward)  # (dA, Z)
    run_check("relu_backward", lambda dA, X: dA * (X > 0), at="A")
    assert capsys.readouterr().out.count("checks passed") == 3


def test_relu_backward_that_writes_into_dA_is_reported():
    def f(dA, Z):
        dA[Z <= 0] = 0
        return dA

    err = failure("relu_backward", f)
    assert err.mistake == "modified_input" and "dA" in str(err)


def test_a_missing_layer_in_the_caches_is_a_structure_message():
    err = failure("model_backward", lambda AL, Y, p, c: model_backward(AL, Y, p, c)[:-1])
    assert err.mistake == "structure" and "missing" in str(err), str(err)
