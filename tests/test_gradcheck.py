"""The gradient checker itself: it agrees with known gradients and catches a wrong one."""

import numpy as np
import pytest

from dlcore.gradcheck import check_layer, numerical_gradient, relative_error
from dlcore.layers import Dense


def test_numerical_gradient_of_a_quadratic_and_restores_x():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(x**2)), x)
    np.testing.assert_allclose(grad, 2 * before, rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_works_on_column_major_arrays():
    x = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    grad = numerical_gradient(lambda: float(np.sum(x * np.arange(6.0).reshape(2, 3))), x)
    np.testing.assert_allclose(grad, np.arange(6.0).reshape(2, 3), atol=1e-8)


def test_relative_error():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    assert relative_error(np.ones(3), -np.ones(3)) == pytest.approx(1.0)


class WrongDense(Dense):
    """A Dense layer whose db forgets to divide by m — the checker must catch it."""

    def backward_dZ(self, dZ, input_grad=True):
        dA_prev = super().backward_dZ(dZ, input_grad)
        self.grads["b"] *= dZ.shape[1]
        return dA_prev


def test_a_wrong_backward_is_caught_and_reported():
    layer = WrongDense(3, 2, activation="tanh", rng=0, dtype=np.float64)
    report = check_layer(layer, np.random.default_rng(0).standard_normal((3, 4)))
    assert report.errors["W"] < 1e-7
    assert report.errors["b"] > 0.1
    text = str(report)
    assert "b: relative error" in text and "ours:" in text and "reference:" in text
