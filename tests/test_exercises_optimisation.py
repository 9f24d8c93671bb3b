"""Mutation tests of notebook 06's exercise checks (dlcore/exercises/optimisation.py)."""

from __future__ import annotations

import math

import numpy as np
from exercise_helpers import Spec, mutation_tests


def make_minibatches(X, Y, batch_size, seed):
    order = np.random.default_rng(seed).permutation(X.shape[1])
    return [(X[:, order[k:k + batch_size]], Y[:, order[k:k + batch_size]])
            for k in range(0, X.shape[1], batch_size)]


def batches_with(order=None, y_order=None, count=None, axis_rows=False, m_axis=1):
    def f(X, Y, batch_size, seed):
        m = X.shape[m_axis]
        rng = np.random.default_rng(seed)
        perm = order(rng, m, seed) if order else rng.permutation(m)
        perm_y = y_order(rng, m, perm) if y_order else perm
        n = count(m, batch_size) if count else math.ceil(m / batch_size)
        out = []
        for k in range(n):
            idx, idy = (p[k * batch_size:(k + 1) * batch_size] for p in (perm, perm_y))
            out.append((X[idx] if axis_rows else X[:, idx], Y[:, idy]))
        return out

    return f


def momentum_update(W, dW, v, lr, beta=0.9):
    v = beta * v + (1 - beta) * dW
    return W - lr * v, v


def rmsprop_update(W, dW, s, lr, beta2=0.999, eps=1e-8):
    s = beta2 * s + (1 - beta2) * dW**2
    return W - lr * dW / (np.sqrt(s) + eps), s


def adam_update(W, dW, v, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    v = beta1 * v + (1 - beta1) * dW
    s = beta2 * s + (1 - beta2) * dW**2
    v_hat, s_hat = v / (1 - beta1**t), s / (1 - beta2**t)
    return W - lr * v_hat / (np.sqrt(s_hat) + eps), v, s


def adam_with(t_of=lambda t: t, v_hat=None, s_hat=None, denom=None, give_hats=False):
    def f(W, dW, v, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        v = beta1 * v + (1 - beta1) * dW
        s = beta2 * s + (1 - beta2) * dW**2
        tt = t_of(t)
        vh = v_hat(v, beta1, tt) if v_hat else v / (1 - beta1**tt)
        sh = s_hat(s, beta2, tt) if s_hat else s / (1 - beta2**tt)
        d = denom(sh, eps) if denom else np.sqrt(sh) + eps
        W = W - lr * vh / d
        return (W, vh, sh) if give_hats else (W, v, s)

    return f


def momentum_in_place(W, dW, v, lr, beta=0.9):
    v *= beta
    v += (1 - beta) * dW
    W -= lr * v
    return W, v


SPECS = [
    Spec("make_minibatches", make_minibatches, {
        "no_last": batches_with(count=lambda m, bs: m // bs),
        "empty_batch": batches_with(count=lambda m, bs: m // bs + 1),
        "wrong_axis": batches_with(axis_rows=True, m_axis=0),
        "m_from_rows": batches_with(m_axis=0),
        "duplicates": batches_with(order=lambda rng, m, seed: rng.integers(0, m, m)),
        "unpaired": batches_with(y_order=lambda rng, m, perm: rng.permutation(m)),
        "not_shuffled": batches_with(order=lambda rng, m, seed: np.arange(m)),
        "ignores_seed": batches_with(order=lambda rng, m, seed: np.random.default_rng(0)
                                     .permutation(m)),
    }, rewritten=[
        ("unpaired", lambda X, Y, bs, seed: make_minibatches(
            X[:, np.random.default_rng(seed).permutation(X.shape[1])], Y, bs, seed)),
        ("no_last", lambda X, Y, bs, seed: [
            b for b in make_minibatches(X, Y, bs, seed) if b[0].shape[1] == bs]),
        ("ignores_seed", lambda X, Y, bs, seed: make_minibatches(X, Y, bs, 42)),
    ]),
    Spec("momentum_update", momentum_update, {
        "no_one_minus_beta": lambda W, dW, v, lr, beta: (W - lr * (beta * v + dW),
                                                         beta * v + dW),
        "beta_swapped": lambda W, dW, v, lr, beta: momentum_update(W, dW, v, lr, 1 - beta),
        "step_with_dW": lambda W, dW, v, lr, beta: (W - lr * dW, momentum_update(
            W, dW, v, lr, beta)[1]),
        "old_v": lambda W, dW, v, lr, beta: (W - lr * v, momentum_update(W, dW, v, lr, beta)[1]),
        "ascent": lambda W, dW, v, lr, beta: (W + lr * (beta * v + (1 - beta) * dW),
                                              beta * v + (1 - beta) * dW),
        "v_not_returned": lambda W, dW, v, lr, beta: (momentum_update(W, dW, v, lr, beta)[0],
                                                      v),
    }),
    Spec("rmsprop_update", rmsprop_update, {
        "no_sqrt": lambda W, dW, s, lr, b2, eps: (
            W - lr * dW / (b2 * s + (1 - b2) * dW**2 + eps), b2 * s + (1 - b2) * dW**2),
        "not_squared": lambda W, dW, s, lr, b2, eps: (
            W - lr * dW / (np.sqrt(b2 * s + (1 - b2) * dW) + eps), b2 * s + (1 - b2) * dW),
        "eps_inside": lambda W, dW, s, lr, b2, eps: (
            W - lr * dW / np.sqrt(b2 * s + (1 - b2) * dW**2 + eps), b2 * s + (1 - b2) * dW**2),
        "old_s": lambda W, dW, s, lr, b2, eps: (
            W - lr * dW / (np.sqrt(s) + eps), b2 * s + (1 - b2) * dW**2),
        "no_one_minus_beta": lambda W, dW, s, lr, b2, eps: (
            W - lr * dW / (np.sqrt(b2 * s + dW**2) + eps), b2 * s + dW**2),
        "s_not_returned": lambda W, dW, s, lr, b2, eps: (rmsprop_update(W, dW, s, lr, b2, eps)[0],
                                                         s),
    }),
    Spec("adam_update", adam_update, {
        "no_bias_correction": adam_with(v_hat=lambda v, b, t: v, s_hat=lambda s, b, t: s),
        "t_from_zero": adam_with(t_of=lambda t: t - 1),
        "t_plus_one": adam_with(t_of=lambda t: t + 1),
        "only_v_corrected": adam_with(s_hat=lambda s, b, t: s),
        "only_s_corrected": adam_with(v_hat=lambda v, b, t: v),
        "returns_corrected": adam_with(give_hats=True),
        "no_sqrt": adam_with(denom=lambda sh, eps: sh + eps),
        "eps_inside": adam_with(denom=lambda sh, eps: np.sqrt(sh + eps)),
    }, rewritten=[
        ("t_from_zero", adam_with(v_hat=lambda v, b, t: v / (1 - np.power(b, t - 1)),
                                  s_hat=lambda s, b, t: s / (1 - b ** (t - 1)))),
        ("no_bias_correction", adam_with(t_of=lambda t: 10**6)),
    ]),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_updating_W_and_v_in_place_is_allowed(capsys):
    from dlcore.exercises.engine import run_check

    run_check("momentum_update", momentum_in_place)
    assert capsys.readouterr().out == "momentum_update: all 3 checks passed\n"
