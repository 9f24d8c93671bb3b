"""Conv2D, MaxPool2D, AvgPool2D, Flatten: forward against loop references, gradients by
finite differences (float64), shapes, errors, and a whole CNN."""

import numpy as np
import pytest

from dlcore.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, output_size
from dlcore.gradcheck import check_layer, check_model
from dlcore.layers import Dense, ReLU, layer_from_spec, layer_to_spec
from dlcore.model import Sequential

TOL = 1e-7


def conv_reference(X, W, b, stride, padding):
    """The convolution written as the course's four nested loops (slow, obviously right)."""
    m, _, H, Wd = X.shape
    C, _, f, _ = W.shape
    Xp = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out = (H + 2 * padding - f) // stride + 1
    W_out = (Wd + 2 * padding - f) // stride + 1
    Z = np.zeros((m, C, H_out, W_out))
    for i in range(m):
        for c in range(C):
            for y in range(H_out):
                for x in range(W_out):
                    window = Xp[i, :, y * stride : y * stride + f, x * stride : x * stride + f]
                    Z[i, c, y, x] = np.sum(window * W[c]) + b[c]
    return Z


def pool_reference(X, f, stride, padding, reduce):
    m, C, H, W = X.shape
    fill = -np.inf if reduce is np.max else 0.0
    Xp = np.pad(X, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2), constant_values=fill)
    H_out, W_out = output_size(H, f, stride, padding), output_size(W, f, stride, padding)
    A = np.zeros((m, C, H_out, W_out))
    for y in range(H_out):
        for x in range(W_out):
            A[:, :, y, x] = reduce(
                Xp[:, :, y * stride : y * stride + f, x * stride : x * stride + f], axis=(2, 3)
            )
    return A


# (m, C_prev, H, W, C, f, stride, padding): odd sizes, strides that do not divide, batch 1.
CONV_CASES = [
    (2, 3, 5, 7, 4, 3, 1, 0),
    (1, 1, 6, 6, 2, 3, 1, 1),
    (3, 2, 7, 5, 3, 3, 2, 1),
    (1, 2, 9, 8, 2, 4, 3, 2),
    (2, 1, 5, 5, 3, 1, 1, 0),
    (1, 3, 4, 4, 1, 4, 1, 0),
    (2, 2, 6, 7, 3, 2, 2, 0),
]


@pytest.mark.parametrize("m,C_prev,H,W,C,f,s,p", CONV_CASES)
def test_conv_forward_matches_loops(m, C_prev, H, W, C, f, s, p):
    rng = np.random.default_rng(0)
    layer = Conv2D(C_prev, C, f, stride=s, padding=p, rng=1, dtype=np.float64)
    layer.params["b"][:] = rng.standard_normal(C)
    X = rng.standard_normal((m, C_prev, H, W))
    ours = layer.forward(X)
    reference = conv_reference(X, layer.params["W"], layer.params["b"], s, p)
    assert ours.shape == (m, C, output_size(H, f, s, p), output_size(W, f, s, p))
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m,C_prev,H,W,C,f,s,p", CONV_CASES)
def test_conv_gradients(m, C_prev, H, W, C, f, s, p):
    rng = np.random.default_rng(1)
    layer = Conv2D(C_prev, C, f, stride=s, padding=p, rng=2, dtype=np.float64)
    layer.params["b"][:] = rng.standard_normal(C)
    report = check_layer(layer, rng.standard_normal((m, C_prev, H, W)), rng=3)
    assert set(report.errors) == {"W", "b", "dA_prev"}
    assert report.max_error < TOL, report


def test_conv_float32_matches_float64():
    X = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    l64 = Conv2D(3, 5, 3, padding=1, rng=0, dtype=np.float64)
    l32 = Conv2D(3, 5, 3, padding=1, rng=0, dtype=np.float32)
    Z32 = l32.forward(X.astype(np.float32))
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, l64.forward(X), rtol=1e-4, atol=1e-5)
    dZ = np.ones_like(Z32)
    assert l32.backward(dZ).dtype == np.float32 and l32.grads["W"].dtype == np.float32


def test_conv_backward_without_input_grad_still_fills_grads():
    layer = Conv2D(1, 2, 3, rng=0, dtype=np.float64)
    Z = layer.forward(np.ones((2, 1, 4, 4)))
    assert layer.backward(np.ones_like(Z), input_grad=False) is None
    # dW[c] = sum over the 4 windows of ones, / m=2 per example -> 4 per weight.
    np.testing.assert_allclose(layer.grads["W"], np.full((2, 1, 3, 3), 4.0))
    np.testing.assert_allclose(layer.grads["b"], [4.0, 4.0])


POOL_CASES = [  # (m, C, H, W, f, stride, padding)
    (2, 3, 4, 6, 2, None, 0),
    (1, 1, 5, 5, 2, None, 0),  # odd size: the last row and column are dropped
    (2, 2, 7, 6, 3, 2, 1),
    (1, 2, 5, 7, 3, 1, 0),  # overlapping windows
    (3, 1, 6, 6, 4, 3, 2),
    (1, 2, 7, 7, 2, 3, 0),  # gaps between windows
]


@pytest.mark.parametrize("cls,reduce", [(MaxPool2D, np.max), (AvgPool2D, np.mean)])
@pytest.mark.parametrize("m,C,H,W,f,s,p", POOL_CASES)
def test_pool_forward_matches_loops(cls, reduce, m, C, H, W, f, s, p):
    layer = cls(f, s, p)
    X = np.random.default_rng(0).standard_normal((m, C, H, W))
    expected = pool_reference(X, f, layer.stride, p, reduce)
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("m,C,H,W,f,s,p", POOL_CASES)
def test_pool_gradients(cls, m, C, H, W, f, s, p):
    # Random normal inputs have no ties, so max pooling is differentiable at them.
    X = np.random.default_rng(5).standard_normal((m, C, H, W))
    report = check_layer(cls(f, s, p), X, rng=6)
    assert report.max_error < TOL, report


def test_maxpool_routes_gradient_to_the_winner():
    X = np.array([[[[1.0, 5.0], [2.0, 3.0]]]])
    layer = MaxPool2D(2)
    assert layer.forward(X).ravel().tolist() == [5.0]
    np.testing.assert_array_equal(layer.backward(np.array([[[[7.0]]]])), [[[[0, 7], [0, 0]]]])


def test_flatten_bridges_images_to_columns():
    X = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    A = Flatten().forward(X)
    assert A.shape == (12, 2)
    np.testing.assert_array_equal(A[:, 1], X[1].ravel())  # example i is column i
    layer = Flatten()
    layer.forward(X)
    np.testing.assert_array_equal(layer.backward(A), X)
    assert check_layer(Flatten(), X).max_error < TOL


@pytest.mark.parametrize(
    "layer", [Conv2D(2, 3, 3, stride=2, padding=1, dtype=np.float64), MaxPool2D(3, 2, 1),
              AvgPool2D(2), Flatten()]
)
def test_layers_round_trip_through_specs(layer):
    rebuilt = layer_from_spec(layer_to_spec(layer))
    assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config()
    assert layer.batch_axis == 0
    assert repr(layer).startswith(type(layer).__name__ + "(")


def test_shape_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Conv2D\(C_prev=3.*expected A_prev of shape \(m, 3"):
        Conv2D(3, 4, 3).forward(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"expected A_prev of shape .*got \(8, 8\)"):
        MaxPool2D(2).forward(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="a 5x5 window does not fit a 3x3 input"):
        Conv2D(1, 1, 5).forward(np.zeros((1, 1, 3, 3), np.float32))
    layer = Conv2D(1, 2, 3)
    Z = layer.forward(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected dZ of shape \(1, 2, 3, 3\)"):
        layer.backward(Z[:, :1])
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Conv2D(1, 1, 3).backward(np.zeros((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="padding"):
        MaxPool2D(2, padding=2)
    with pytest.raises(ValueError, match="stride"):
        Conv2D(1, 1, 3, stride=0)


def small_cnn(dtype=np.float64):
    rng = np.random.default_rng(0)
    return Sequential(
        [
            Conv2D(1, 3, 3, padding=1, rng=rng, dtype=dtype),
            ReLU(),
            MaxPool2D(2),
            Conv2D(3, 4, 3, stride=2, rng=rng, dtype=dtype),
            ReLU(),
            AvgPool2D(2, stride=1),
            Flatten(),
            Dense(4, 3, activation="softmax", rng=rng, dtype=dtype),
        ],
        loss="categorical_cross_entropy",
    )


@pytest.mark.parametrize("m", [1, 3])
def test_whole_cnn_gradients_including_input(m):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((m, 1, 11, 11))  # -> 11 -> 5 -> 2 -> 1 pixels
    y = rng.integers(0, 3, m)
    report = check_model(small_cnn(), X, y, l2=0.1, input_grad=True)
    assert "dX" in report.errors and "layer0.W" in report.errors
    assert report.max_error < TOL, report


def test_cnn_trains_on_a_toy_problem():
    # Vertical vs horizontal bars: a seeded, few-second smoke test of fit on images.
    rng = np.random.default_rng(0)
    m = 64
    X = rng.normal(0, 0.1, (m, 1, 9, 9)).astype(np.float32)
    y = rng.integers(0, 2, m)
    X[y == 0, 0, :, 4] += 1
    X[y == 1, 0, 4, :] += 1
    model = Sequential(
        [Conv2D(1, 4, 3, rng=1), ReLU(), MaxPool2D(2), Flatten(),
         Dense(4 * 3 * 3, 2, activation="softmax", rng=2)],
        loss="categorical_cross_entropy",
    )
    from dlcore.optim import Adam

    history = model.fit(X, y, epochs=15, optimizer=Adam(0.01), batch_size=16, rng=0)
    assert history["accuracy"][-1] == 1.0, history
    assert model.predict(X).tolist() == y.tolist()


# -- input gradients (saliency) -----------------------------------------------------------


def score_by_forward(model, X, k, score):
    A = model.forward(X)
    if score == "probability":
        return A[k, 0]
    last = model.layers[-1]
    return (last.A_prev.T @ last.params["W"].T).T[k, 0] + last.params["b"][k, 0]


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_input_gradient_matches_finite_differences(score):
    from dlcore.gradcheck import numerical_gradient, relative_error

    model = small_cnn()
    X = np.random.default_rng(3).standard_normal((3, 1, 11, 11))
    k = np.array([2, 0, 1])
    dX = model.input_gradient(X, k, score=score)
    assert dX.shape == X.shape
    for i in range(3):  # each example's score depends on its own image only
        Xi = X[i : i + 1].copy()
        reference = numerical_gradient(
            lambda Xi=Xi, ki=k[i]: score_by_forward(model, Xi, ki, score), Xi
        )
        assert relative_error(dX[i : i + 1], reference) < TOL, (dX[i], reference)


def test_input_gradient_of_a_dense_model_and_the_predicted_class():
    rng = np.random.default_rng(0)
    model = Sequential(
        [Dense(5, 4, rng=rng, dtype=np.float64),
         Dense(4, 3, activation="softmax", rng=rng, dtype=np.float64)],
        loss="categorical_cross_entropy",
    )
    X = rng.standard_normal((5, 2))
    dX = model.input_gradient(X)  # the predicted class, logit score
    predicted = model.predict(X)
    W1, W2 = model.layers[0].params["W"], model.layers[1].params["W"]
    active = (model.layers[0].A > 0).astype(float)  # d relu
    expected = np.stack([W1.T @ (W2[predicted[i]] * active[:, i]) for i in range(2)], axis=1)
    np.testing.assert_allclose(dX, expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"class_index must be integers in \[0, 3\)"):
        model.input_gradient(X, 3)
    with pytest.raises(ValueError, match="score must be 'logit' or 'probability'"):
        model.input_gradient(X, 0, score="loss")


def test_cnn_model_file_round_trip(tmp_path):
    from dlcore.io import load_model, save_model

    model = small_cnn(np.float32)
    X = np.random.default_rng(0).standard_normal((2, 1, 11, 11)).astype(np.float32)
    save_model(model, tmp_path / "cnn", input={"layout": "images", "shape": [1, 11, 11]})
    loaded = load_model(tmp_path / "cnn.json")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_maxpool_ties_send_the_gradient_to_one_pixel():
    # All four pixels tie: exactly one (the first) gets dA, so the total is conserved.
    layer = MaxPool2D(2)
    layer.forward(np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 3.0)), [[[[3, 0], [0, 0]]]])
    overlapping = MaxPool2D(2, stride=1)
    overlapping.forward(np.ones((1, 1, 3, 3)))
    dX = overlapping.backward(np.ones((1, 1, 2, 2)))
    assert dX.sum() == 4 and dX[0, 0, 0, 0] == 1


def test_digit_cnn_matches_pytorch_when_available():
    # An independent reference for the whole forward pass (PyTorch is optional: skipped
    # when it is not installed, as it is not a dependency of dlcore).
    torch = pytest.importorskip("torch")
    from benchmarks.cnn import torch_cnn
    from dlcore.recipes.digits import build_digits_cnn

    model = build_digits_cnn(0)
    net = torch_cnn(model).eval()
    X = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        theirs = torch.softmax(net(torch.from_numpy(X)), dim=1).numpy().T
    np.testing.assert_allclose(model.predict_proba(X), theirs, atol=1e-5)
