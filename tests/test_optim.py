"""Optimisers against hand-computed updates; schedules; the mini-batch iterator."""

import numpy as np
import pytest

from dlcore.layers import Dense
from dlcore.optim import (
    Adam,
    GradientDescent,
    Momentum,
    RMSProp,
    exponential_decay,
    minibatches,
    time_decay,
)

G1, G2 = 0.5, -1.0  # the gradients of two successive steps for a one-number parameter


def run_two_steps(optimizer):
    layer = Dense(1, 1, activation=None, init="zeros", dtype=np.float64)
    layer.params["W"][:] = 1.0
    seen = []
    for g in (G1, G2):
        layer.grads["W"][:] = g
        layer.grads["b"][:] = 0.0
        optimizer.step([layer])
        seen.append(float(layer.params["W"][0, 0]))
    assert layer.params["b"][0, 0] == 0.0
    return seen


def test_gradient_descent():
    assert run_two_steps(GradientDescent(lr=0.1)) == pytest.approx([1 - 0.05, 1 - 0.05 + 0.1])


def test_momentum():
    v1 = 0.1 * G1  # beta = 0.9: v = 0.9 v + 0.1 g
    v2 = 0.9 * v1 + 0.1 * G2
    w1 = 1 - 0.1 * v1
    assert run_two_steps(Momentum(lr=0.1, beta=0.9)) == pytest.approx([w1, w1 - 0.1 * v2])


def test_rmsprop():
    s1 = 0.1 * G1**2  # beta2 = 0.9
    s2 = 0.9 * s1 + 0.1 * G2**2
    w1 = 1 - 0.01 * G1 / (np.sqrt(s1) + 1e-8)
    w2 = w1 - 0.01 * G2 / (np.sqrt(s2) + 1e-8)
    assert run_two_steps(RMSProp(lr=0.01, beta2=0.9)) == pytest.approx([w1, w2])


def test_adam_with_bias_correction():
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    v1, s1 = (1 - b1) * G1, (1 - b2) * G1**2
    w1 = 1 - lr * (v1 / (1 - b1)) / (np.sqrt(s1 / (1 - b2)) + eps)
    v2, s2 = b1 * v1 + (1 - b1) * G2, b2 * s1 + (1 - b2) * G2**2
    w2 = w1 - lr * (v2 / (1 - b1**2)) / (np.sqrt(s2 / (1 - b2**2)) + eps)
    assert w1 == pytest.approx(1 - lr, rel=1e-6)  # bias correction makes step one = lr
    assert run_two_steps(Adam(lr=lr, beta1=b1, beta2=b2, eps=eps)) == pytest.approx([w1, w2])


def test_optimizer_state_is_per_parameter():
    opt = Adam(lr=0.1)
    a, b = Dense(2, 2, rng=0, dtype=np.float64), Dense(2, 2, rng=1, dtype=np.float64)
    for layer in (a, b):
        layer.grads["W"][:] = 1.0
    opt.step([a, b])
    assert set(opt.state) == {(0, "W"), (0, "b"), (1, "W"), (1, "b")}
    assert opt.t == 1


def test_learning_rate_must_be_positive():
    with pytest.raises(ValueError, match="learning rate must be > 0"):
        GradientDescent(lr=0)


def test_schedules():
    decay = time_decay(0.5, decay_rate=1.0)
    assert [decay(e) for e in range(3)] == pytest.approx([0.5, 0.25, 0.5 / 3])
    stepped = time_decay(0.5, decay_rate=1.0, time_interval=10)
    assert [stepped(e) for e in (0, 9, 10, 25)] == pytest.approx([0.5, 0.5, 0.25, 0.5 / 3])
    assert exponential_decay(1.0, 0.5)(3) == pytest.approx(0.125)


def test_minibatches_cover_every_example_once_with_a_short_last_batch():
    X = np.arange(2 * 10).reshape(2, 10).astype(float)
    Y = np.arange(10).reshape(1, 10).astype(float)
    batches = list(minibatches(X, Y, batch_size=4, rng=0))
    assert [b[0].shape for b in batches] == [(2, 4), (2, 4), (2, 2)]
    seen = np.concatenate([Yb[0] for _, Yb in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    for Xb, Yb in batches:  # columns stay paired with their labels
        np.testing.assert_array_equal(Xb[0], Yb[0])
    again = np.concatenate([Yb[0] for _, Yb in minibatches(X, Y, batch_size=4, rng=0)])
    np.testing.assert_array_equal(seen, again)


def test_minibatches_full_batch_and_image_tensors():
    X, Y = np.zeros((3, 5)), np.zeros((1, 5))
    assert [(Xb is X, Yb is Y) for Xb, Yb in minibatches(X, Y, None)] == [(True, True)]
    images = np.arange(6 * 2 * 3 * 3).reshape(6, 2, 3, 3).astype(float)
    labels = np.arange(6).reshape(1, 6).astype(float)
    for Xb, Yb in minibatches(images, labels, 4, rng=1, x_batch_axis=0):
        np.testing.assert_array_equal(Xb[:, 0, 0, 0] // 18, Yb[0])
    with pytest.raises(ValueError, match="X has 6 examples on axis -1 but Y has 5"):
        next(minibatches(np.zeros((2, 6)), np.zeros((1, 5)), 2))
