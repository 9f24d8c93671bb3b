"""Activation functions: values, stability, dtype, and backward rules by finite differences."""

import numpy as np
import pytest

from dlcore import activations as act
from dlcore.gradcheck import check_layer
from dlcore.layers import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh

LAYERS = [ReLU, LeakyReLU, Sigmoid, Tanh, Softmax]


def test_values_match_the_formulas():
    Z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(act.sigmoid(Z), 1 / (1 + np.exp(-Z)))
    np.testing.assert_array_equal(act.relu(Z), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(act.leaky_relu(Z), [[-0.02, 0.0, 3.0]])
    np.testing.assert_allclose(act.tanh(Z), np.tanh(Z))
    S = act.softmax(np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))
    np.testing.assert_allclose(S[:, 0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(S[:, 1], [1 / 3] * 3)


def test_sigmoid_and_softmax_do_not_overflow():
    with np.errstate(over="raise", invalid="raise"):
        s = act.sigmoid(np.array([[-1000.0, 1000.0]], dtype=np.float32))
        p = act.softmax(np.array([[1000.0], [0.0]]))
    np.testing.assert_array_equal(s, [[0.0, 1.0]])
    np.testing.assert_allclose(p[:, 0], [1.0, 0.0])


def test_softmax_is_shift_invariant_per_column():
    Z = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(act.softmax(Z), act.softmax(Z + np.arange(5)))
    np.testing.assert_allclose(act.softmax(Z).sum(axis=0), np.ones(5))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", None])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(name, dtype):
    g = act.get_activation(name)
    Z = np.random.default_rng(1).standard_normal((3, 4)).astype(dtype)
    A = g.forward(Z)
    assert A.dtype == dtype
    assert g.backward(np.ones_like(A), A).dtype == dtype


@pytest.mark.parametrize("layer_cls", LAYERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", [(3, 5), (7, 1), (2, 3, 4, 5)], ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_backward_matches_finite_differences(layer_cls, shape, seed):
    rng = np.random.default_rng(seed)
    # keep inputs away from the kink of (leaky) ReLU, where the derivative is undefined
    Z = rng.standard_normal(shape)
    Z = np.where(np.abs(Z) < 1e-3, 0.5, Z)
    report = check_layer(layer_cls(), Z, rng=seed)
    assert report.max_error < 1e-7, f"{layer_cls.__name__}:\n{report}"


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*'relu'"):
        act.get_activation("swish")
