"""Dense, Dropout and the layer base: forward values, gradients, errors, configs."""

import numpy as np
import pytest

from dlcore.gradcheck import check_layer, numerical_gradient, relative_error
from dlcore.layers import (
    LAYER_TYPES,
    Dense,
    Dropout,
    ReLU,
    Softmax,
    layer_from_spec,
    layer_to_spec,
)

ACTIVATIONS = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", None]


def test_dense_forward_is_W_A_prev_plus_b():
    layer = Dense(3, 2, activation=None, rng=0, dtype=np.float64)
    layer.params["b"][:] = [[1.0], [-1.0]]
    A_prev = np.random.default_rng(1).standard_normal((3, 4))
    W, b = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(layer.forward(A_prev), W @ A_prev + b)
    relu = Dense(3, 2, activation="relu", rng=0, dtype=np.float64)
    relu.params["b"][:] = b
    np.testing.assert_allclose(relu.forward(A_prev), np.maximum(W @ A_prev + b, 0))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_in, n_out, m", [(5, 3, 7), (1, 4, 1), (6, 1, 3)])
@pytest.mark.parametrize("seed", [0, 1])
def test_dense_backward_matches_finite_differences(activation, n_in, n_out, m, seed):
    layer = Dense(n_in, n_out, activation=activation, init="xavier", rng=seed, dtype=np.float64)
    layer.params["b"][:] = np.random.default_rng(seed + 10).standard_normal((n_out, 1))
    A_prev = np.random.default_rng(seed + 20).standard_normal((n_in, m))
    report = check_layer(layer, A_prev, rng=seed)
    assert set(report.errors) == {"W", "b", "dA_prev"}
    assert report.max_error < 1e-7, f"{layer!r}:\n{report}"


def test_dense_backward_formulas():
    layer = Dense(4, 3, activation=None, rng=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    A_prev, dZ = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    layer.forward(A_prev)
    dA_prev = layer.backward(dZ)
    np.testing.assert_allclose(layer.grads["W"], dZ @ A_prev.T / 5)
    np.testing.assert_allclose(layer.grads["b"], dZ.sum(axis=1, keepdims=True) / 5)
    np.testing.assert_allclose(dA_prev, layer.params["W"].T @ dZ)
    assert layer.backward(dZ, input_grad=False) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_params_take_the_dtype(dtype):
    layer = Dense(4, 3, dtype=dtype, rng=0)
    assert all(p.dtype == dtype for p in layer.params.values())
    assert layer.params.keys() == layer.grads.keys() == {"W", "b"}
    assert layer.params["W"].shape == (3, 4) and layer.params["b"].shape == (3, 1)
    A = layer.forward(np.ones((4, 2), dtype=dtype))
    assert A.dtype == dtype
    layer.backward(np.ones_like(A))
    assert all(g.dtype == dtype for g in layer.grads.values())


def test_dense_shape_errors_name_the_layer_and_both_shapes():
    layer = Dense(4, 3, rng=0)
    with pytest.raises(
        ValueError,
        match=r"Dense\(n_in=4, n_out=3.*expected A_prev of shape "
        r"\(4, m\), got \(5, 2\)",
    ):
        layer.forward(np.ones((5, 2), dtype=np.float32))
    layer.forward(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected dA of shape \(3, 2\), got \(3, 5\)"):
        layer.backward(np.ones((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="n_in >= 1"):
        Dense(0, 3)
    with pytest.raises(ValueError, match="float32 or float64"):
        Dense(2, 3, dtype=np.int32)
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(2, 3).backward(np.ones((3, 1), dtype=np.float32))


def test_dropout_scales_kept_units_and_is_identity_outside_training():
    A = np.ones((50, 40))
    layer = Dropout(keep_prob=0.8, rng=0)
    np.testing.assert_array_equal(layer.forward(A), A)
    out = layer.forward(A, training=True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.8)
    assert kept.mean() == pytest.approx(0.8, abs=0.03)
    dA = np.random.default_rng(1).standard_normal(A.shape)
    np.testing.assert_allclose(layer.backward(dA), dA * kept / 0.8)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 4), (7, 1)], ids=str)
def test_dropout_backward_matches_finite_differences_for_a_fixed_mask(shape):
    rng = np.random.default_rng(2)
    A_prev, R = rng.standard_normal(shape), rng.standard_normal(shape)

    def cost():  # a fresh layer with the same seed draws the same mask every time
        return float(np.sum(R * Dropout(0.6, rng=5).forward(A_prev, training=True)))

    layer = Dropout(0.6, rng=5)
    layer.forward(A_prev, training=True)
    ours, reference = layer.backward(R), numerical_gradient(cost, A_prev)
    assert relative_error(ours, reference) < 1e-8, f"ours {ours}\nreference {reference}"


def test_dropout_rejects_bad_keep_prob():
    with pytest.raises(ValueError, match=r"keep_prob must be in \(0, 1\], got 0"):
        Dropout(0)


@pytest.mark.parametrize(
    "layer",
    [Dense(3, 2, activation="tanh", init="xavier"), Dropout(0.5), ReLU(), Softmax()],
    ids=repr,
)
def test_config_round_trip(layer):
    spec = layer_to_spec(layer)
    rebuilt = layer_from_spec(spec)
    assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config()
    assert repr(rebuilt) == repr(layer)
    assert spec["type"] in LAYER_TYPES


def test_unknown_layer_type_is_refused():
    with pytest.raises(ValueError, match="unknown layer type 'Conv9D'.*Dense"):
        layer_from_spec({"type": "Conv9D", "config": {}})


def _every_layer_kind():
    from dlcore import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Softmax

    dense = (lambda: Dense(4, 3, rng=0), (4, 5))
    image = (1, 2, 6, 6)
    return [
        dense,
        (lambda: ReLU(), (3, 5)),
        (lambda: Softmax(), (3, 5)),
        (lambda: Dropout(0.5, rng=0), (3, 5)),
        (lambda: Conv2D(2, 3, 3, padding=1, rng=0), image),
        (lambda: MaxPool2D(2), image),
        (lambda: AvgPool2D(2), image),
        (lambda: Flatten(), image),
    ]


@pytest.mark.parametrize("make, in_shape", _every_layer_kind())
def test_every_layer_refuses_backward_before_forward_and_a_wrong_shape(make, in_shape):
    layer = make()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones(in_shape))
    A = layer.forward(np.random.default_rng(0).random(in_shape), training=True)
    wrong = tuple(n + 1 for n in A.shape)
    with pytest.raises(ValueError, match=rf"expected d[AZ] of shape \({A.shape[0]}, "):
        layer.backward(np.ones(wrong))
    assert layer.backward(np.ones(A.shape)).shape == in_shape
