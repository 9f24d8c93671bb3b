"""Mutation tests of notebook 05's exercise checks (dlcore/exercises/regularisation.py)."""

from __future__ import annotations

import numpy as np
from exercise_helpers import Spec, failure, mutation_tests


def he_init(n_out, n_in, rng):
    return rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)


def he_with(scale=lambda n_out, n_in: np.sqrt(2 / n_in), draw=None, transposed=False):
    def f(n_out, n_in, rng):
        shape = (n_in, n_out) if transposed else (n_out, n_in)
        return (draw(rng, shape) if draw else rng.standard_normal(shape)) * scale(n_out, n_in)

    return f


def l2_cost(J, weights, lambd, m):
    return J + lambd / (2 * m) * sum(np.sum(W * W) for W in weights)


def l2_cost_with(term):
    return lambda J, weights, lambd, m: J + term(weights, lambd, m)


def l2_grad(dW, W, lambd, m):
    return dW + lambd / m * W


def dropout_forward(A, keep_prob, rng):
    D = rng.random(A.shape) < keep_prob
    return A * D / keep_prob, D


def dropout_with(mask=None, scale=lambda A, D, kp: A * D / kp, returned_D=None):
    def f(A, keep_prob, rng):
        D = mask(rng, A, keep_prob) if mask else rng.random(A.shape) < keep_prob
        return scale(A, D, keep_prob), (returned_D(D, keep_prob) if returned_D else D)

    return f


def dropout_backward(dA_tilde, D, keep_prob):
    return dA_tilde * D / keep_prob


def gradient_check(model, X, Y, l2=0.0, eps=1e-6, difference="centred", restore=True,
                   approx_l2=None, backprop_l2=None, swap=False, backward=True):
    if backward:
        model.forward(X)
        model.backward(Y, l2 if backprop_l2 is None else backprop_l2)
    cost_l2 = l2 if approx_l2 is None else approx_l2
    result = {}
    for i, layer in enumerate(model.layers):
        for key, theta in layer.params.items():
            approx = np.zeros_like(theta)
            for idx in np.ndindex(theta.shape):
                old = theta[idx]
                theta[idx] = old + eps
                J_plus = model.cost(model.forward(X), Y, cost_l2)
                theta[idx] = old - eps if difference != "one-sided" else old
                J_minus = model.cost(model.forward(X), Y, cost_l2)
                if restore:
                    theta[idx] = old
                if difference == "centred":
                    approx[idx] = (J_plus - J_minus) / (2 * eps)
                elif difference == "one-sided":
                    approx[idx] = (J_plus - J_minus) / eps
                else:  # centred, divided by eps
                    approx[idx] = (J_plus - J_minus) / eps
            backprop = layer.grads[key].copy()
            result[f"layer{i}.{key}"] = (approx, backprop) if swap else (backprop, approx)
    return result


def gc_with(**kw):
    return lambda model, X, Y, l2, eps: gradient_check(model, X, Y, l2, eps, **kw)


def gradient_check_restoring_by_steps(model, X, Y, l2=0.0, eps=1e-6):
    # restores theta by adding eps back, as some learners do: round-off only
    model.forward(X)
    model.backward(Y, l2)
    result = {}
    for i, layer in enumerate(model.layers):
        for key, theta in layer.params.items():
            approx = np.zeros_like(theta)
            for idx in np.ndindex(theta.shape):
                theta[idx] += eps
                J_plus = model.cost(model.forward(X), Y, l2)
                theta[idx] -= 2 * eps
                J_minus = model.cost(model.forward(X), Y, l2)
                theta[idx] += eps
                approx[idx] = (J_plus - J_minus) / (2 * eps)
            result[f"layer{i}.{key}"] = (layer.grads[key].copy(), approx)
    return result


SPECS = [
    Spec("he_init", he_init, {
        "transposed": he_with(transposed=True),
        "zeros": lambda n_out, n_in, rng: np.zeros((n_out, n_in)),
        "uniform": he_with(draw=lambda rng, s: rng.random(s)),
        "xavier": he_with(scale=lambda n_out, n_in: np.sqrt(1 / n_in)),
        "glorot": he_with(scale=lambda n_out, n_in: np.sqrt(2 / (n_in + n_out))),
        "fan_out": he_with(scale=lambda n_out, n_in: np.sqrt(2 / n_out)),
        "no_sqrt": he_with(scale=lambda n_out, n_in: 2 / n_in),
        "no_scale": he_with(scale=lambda n_out, n_in: 1),
        "ignores_rng": he_with(draw=lambda rng, s: np.random.default_rng(5).standard_normal(s)),
    }, rewritten=[
        ("xavier", lambda n_out, n_in, rng: rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))),
        ("no_sqrt", lambda n_out, n_in, rng: rng.normal(0, 2 / n_in, (n_out, n_in))),
    ]),
    Spec("l2_cost", l2_cost, {
        "no_half": l2_cost_with(lambda Ws, lambd, m: lambd / m * sum(np.sum(W**2) for W in Ws)),
        "no_m": l2_cost_with(lambda Ws, lambd, m: lambd / 2 * sum(np.sum(W**2) for W in Ws)),
        "no_half_no_m": l2_cost_with(lambda Ws, lambd, m: lambd * sum(np.sum(W**2) for W in Ws)),
        "term_only": lambda J, Ws, lambd, m: lambd / (2 * m) * sum(np.sum(W**2) for W in Ws),
        "sign": lambda J, Ws, lambd, m: J - lambd / (2 * m) * sum(np.sum(W**2) for W in Ws),
        "not_squared": l2_cost_with(lambda Ws, lambd, m: lambd / (2 * m)
                                    * sum(np.linalg.norm(W) for W in Ws)),
        "l1": l2_cost_with(lambda Ws, lambd, m: lambd / (2 * m) * sum(np.abs(W).sum() for W in Ws)),
        "last_layer_only": l2_cost_with(lambda Ws, lambd, m: lambd / (2 * m) * np.sum(Ws[-1]**2)),
    }, rewritten=[
        # the 1/m dropped by dividing the wrong thing later
        ("no_m", l2_cost_with(lambda Ws, lambd, m: (lambd * sum(np.sum(np.square(W))
                                                               for W in Ws) / 2))),
        ("no_half", l2_cost_with(lambda Ws, lambd, m: sum(lambd * np.sum(W**2) / m for W in Ws))),
        ("last_layer_only", lambda J, Ws, lambd, m: [
            J + lambd / (2 * m) * np.sum(W**2) for W in Ws][-1]),
    ]),
    Spec("l2_grad", l2_grad, {
        "no_m": lambda dW, W, lambd, m: dW + lambd * W,
        "halved": lambda dW, W, lambd, m: dW + lambd / (2 * m) * W,
        "term_only": lambda dW, W, lambd, m: lambd / m * W,
        "uses_dW": lambda dW, W, lambd, m: dW + lambd / m * dW,
        "sign": lambda dW, W, lambd, m: dW - lambd / m * W,
        "squared": lambda dW, W, lambd, m: dW + lambd / m * W**2,
    }, rewritten=[("halved", lambda dW, W, lambd, m: dW + 0.5 * lambd * W / m),
                  ("uses_dW", lambda dW, W, lambd, m: dW * (1 + lambd / m))]),
    Spec("dropout_forward", dropout_forward, {
        "no_rescale": dropout_with(scale=lambda A, D, kp: A * D),
        "times_keep_prob": dropout_with(scale=lambda A, D, kp: A * D * kp),
        "inverted_mask": dropout_with(mask=lambda rng, A, kp: rng.random(A.shape) > kp),
        "shared_mask": dropout_with(mask=lambda rng, A, kp: rng.random((A.shape[0], 1)) < kp),
        "D_scaled": dropout_with(returned_D=lambda D, kp: D / kp),
        "mask_mismatch": dropout_with(scale=lambda A, D, kp: A * ~D / kp),
        "ignores_rng": dropout_with(mask=lambda rng, A, kp: np.random.default_rng(1).random(
            A.shape) < kp),
    }, rewritten=[
        ("shared_mask", dropout_with(mask=lambda rng, A, kp: np.broadcast_to(
            rng.random((A.shape[0], 1)) < kp, A.shape))),
        ("no_rescale", dropout_with(mask=lambda rng, A, kp: (rng.random(A.shape) < kp) * 1.0,
                                    scale=lambda A, D, kp: np.multiply(A, D))),
    ]),
    Spec("dropout_backward", dropout_backward, {
        "no_rescale": lambda dA, D, kp: dA * D,
        "times_keep_prob": lambda dA, D, kp: dA * D * kp,
        "no_mask": lambda dA, D, kp: dA / kp,
        "inverted_mask": lambda dA, D, kp: dA * (1 - D) / kp,
    }, rewritten=[("no_rescale", lambda dA, D, kp: np.where(D, dA, 0))]),
    Spec("gradient_check", gradient_check, {
        "no_restore": gc_with(restore=False),
        "no_two": gc_with(difference="no-two"),
        "one_sided": gc_with(difference="one-sided"),
        "cost_without_l2": gc_with(approx_l2=0.0),
        "backprop_without_l2": gc_with(backprop_l2=0.0),
        "swapped": gc_with(swap=True),
        "stale_backprop": gc_with(backward=False),
    }),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_restoring_theta_by_adding_eps_back_is_fine(capsys):
    from dlcore.exercises.engine import run_check

    run_check("gradient_check", gradient_check_restoring_by_steps)
    assert capsys.readouterr().out == "gradient_check: all 3 checks passed\n"


def test_dropout_that_writes_into_A_is_reported():
    def f(A, keep_prob, rng):
        D = rng.random(A.shape) < keep_prob
        A *= D / keep_prob
        return A, D

    err = failure("dropout_forward", f)
    assert err.mistake == "modified_input" and "A" in str(err)
