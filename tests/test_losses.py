"""Losses: values against hand computation, gradients by finite differences, the fused rule."""

import numpy as np
import pytest

from dlcore.activations import sigmoid, sigmoid_backward, softmax, softmax_backward
from dlcore.gradcheck import numerical_gradient, relative_error
from dlcore.losses import BinaryCrossEntropy, CategoricalCrossEntropy, get_loss


def test_binary_cross_entropy_value():
    A = np.array([[0.8, 0.9, 0.4]])
    Y = np.array([[1.0, 1.0, 0.0]])
    expected = -(np.log(0.8) + np.log(0.9) + np.log(0.6)) / 3
    assert BinaryCrossEntropy().loss(A, Y) == pytest.approx(expected)


def test_categorical_cross_entropy_value():
    A = np.array([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]])
    Y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert CategoricalCrossEntropy().loss(A, Y) == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2)


def test_saturated_float32_output_gives_a_finite_cost():
    A = np.array([[1.0, 0.0]], dtype=np.float32)
    assert np.isfinite(BinaryCrossEntropy().loss(A, np.array([[0.0, 1.0]], dtype=np.float32)))


def _random_case(loss, rng, m):
    if isinstance(loss, BinaryCrossEntropy):
        return rng.uniform(0.05, 0.95, (1, m)), rng.integers(0, 2, (1, m)).astype(float)
    A = softmax(rng.standard_normal((4, m)))
    return A, np.eye(4)[:, rng.integers(0, 4, m)]


@pytest.mark.parametrize("loss", [BinaryCrossEntropy(), CategoricalCrossEntropy()], ids=repr)
@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_matches_finite_differences(loss, m, seed):
    A, Y = _random_case(loss, np.random.default_rng(seed), m)
    ours = loss.grad(A, Y) / m  # per-example derivative; the cost is the mean
    reference = numerical_gradient(lambda: loss.loss(A, Y), A)
    assert relative_error(ours, reference) < 1e-7, f"ours {ours}\nreference {reference}"


@pytest.mark.parametrize("seed", [0, 1])
def test_fused_gradient_equals_the_chain_rule(seed):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((1, 6))
    A, Y = sigmoid(Z), rng.integers(0, 2, (1, 6)).astype(float)
    bce = BinaryCrossEntropy()
    np.testing.assert_allclose(bce.fused_grad(A, Y), sigmoid_backward(bce.grad(A, Y), A))
    Z = rng.standard_normal((3, 6))
    A, Y = softmax(Z), np.eye(3)[:, rng.integers(0, 3, 6)]
    cce = CategoricalCrossEntropy()
    np.testing.assert_allclose(cce.fused_grad(A, Y), softmax_backward(cce.grad(A, Y), A))


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: expected Y of shape \(1, 3\)"):
        BinaryCrossEntropy().loss(np.full((1, 3), 0.5), np.zeros(3))
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        get_loss("mse")
