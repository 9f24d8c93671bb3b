"""Sequential: whole-model gradients, training behaviour, predictions and errors."""

import numpy as np
import pytest

from dlcore.gradcheck import check_model
from dlcore.layers import Dense, Dropout, ReLU, Sigmoid, Softmax, Tanh
from dlcore.losses import BinaryCrossEntropy, CategoricalCrossEntropy
from dlcore.model import Sequential, TrainingDivergedError
from dlcore.optim import Adam, GradientDescent, Momentum, time_decay


def binary_model(rng=0, dtype=np.float64, n_x=5):
    g = np.random.default_rng(rng)
    return Sequential(
        [
            Dense(n_x, 7, "relu", init="he", rng=g, dtype=dtype),
            Dense(7, 3, "tanh", init="xavier", rng=g, dtype=dtype),
            Dense(3, 1, "sigmoid", init="xavier", rng=g, dtype=dtype),
        ],
        loss="binary_cross_entropy",
    )


def softmax_model(rng=0, dtype=np.float64):
    g = np.random.default_rng(rng)
    return Sequential(
        [Dense(4, 6, "leaky_relu", rng=g, dtype=dtype), Dense(6, 3, "softmax", rng=g, dtype=dtype)],
        loss="categorical_cross_entropy",
    )


def blobs(m=200, n_x=2, classes=2, seed=0):
    """Separable clusters: X (n_x, m), labels (m,)."""
    centres = 4 * np.eye(n_x, classes)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, m)
    return centres[:, labels] + rng.standard_normal((n_x, m)), labels


@pytest.mark.parametrize("m", [1, 7])
@pytest.mark.parametrize("l2", [0.0, 0.7])
@pytest.mark.parametrize("seed", [0, 1])
def test_binary_model_gradients(m, l2, seed):
    rng = np.random.default_rng(seed + 100)
    X, Y = rng.standard_normal((5, m)), rng.integers(0, 2, (1, m))
    report = check_model(binary_model(seed), X, Y, l2=l2, input_grad=True)
    assert report.max_error < 1e-7, str(report)


@pytest.mark.parametrize("m", [1, 9])
def test_softmax_model_gradients_with_integer_labels(m):
    rng = np.random.default_rng(m)
    X, labels = rng.standard_normal((4, m)), rng.integers(0, 3, m)
    report = check_model(softmax_model(m), X, labels, l2=0.3, input_grad=True)
    assert report.max_error < 1e-7, str(report)


class UnfusedBCE(BinaryCrossEntropy):
    fused_activation = "none"  # forces backprop through grad() and the sigmoid's backward


class UnfusedCCE(CategoricalCrossEntropy):
    fused_activation = "none"


@pytest.mark.parametrize(
    "layers, loss",
    [
        ([Dense(4, 5, None), Tanh(), Dense(5, 1, None), Sigmoid()], "binary_cross_entropy"),
        ([Dense(4, 5, None), ReLU(), Dense(5, 3, None), Softmax()], "categorical_cross_entropy"),
        ([Dense(4, 5, "tanh"), Dense(5, 1, "sigmoid")], UnfusedBCE()),
        ([Dense(4, 5, "tanh"), Dense(5, 3, "softmax")], UnfusedCCE()),
        ([Dense(4, 5, None), Sigmoid()], UnfusedBCE()),
    ],
    ids=["sigmoid-layer", "softmax-layer", "unfused-sigmoid", "unfused-softmax", "unfused-layer"],
)
def test_standalone_activation_layers_and_unfused_outputs(layers, loss):
    g = np.random.default_rng(0)
    layers = [
        Dense(lay.n_in, lay.n_out, lay.activation, init="xavier", rng=g, dtype=np.float64)
        if isinstance(lay, Dense)
        else lay
        for lay in layers
    ]
    model = Sequential(layers, loss=loss)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 6))
    n_out = [lay for lay in layers if isinstance(lay, Dense)][-1].n_out
    Y = np.eye(n_out)[:, rng.integers(0, n_out, 6)] if n_out > 1 else rng.integers(0, 2, (1, 6))
    report = check_model(model, X, Y, input_grad=True)
    assert report.max_error < 1e-7, str(report)


def test_input_gradient_has_the_input_shape_and_is_off_by_default():
    model = binary_model()
    X = np.random.default_rng(0).standard_normal((5, 4))
    model.forward(X)
    assert model.backward(np.ones((1, 4))) is None
    model.forward(X)
    assert model.backward(np.ones((1, 4)), input_grad=True).shape == (5, 4)


def test_fit_learns_separable_data_and_returns_a_history():
    X, labels = blobs()
    model = binary_model(n_x=2)
    history = model.fit(
        X,
        labels.reshape(1, -1),
        epochs=60,
        optimizer=Adam(lr=0.01),
        batch_size=32,
        rng=0,
        validation_data=blobs(seed=1),
    )
    assert set(history) == {"cost", "accuracy", "lr", "val_cost", "val_accuracy"}
    assert all(len(v) == 60 for v in history.values())
    assert history["cost"][-1] < history["cost"][0] / 3
    assert history["accuracy"][-1] > 0.95 and history["val_accuracy"][-1] > 0.9
    assert model.evaluate(X, labels)["accuracy"] > 0.95


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_training_with_dropout_momentum_and_a_schedule(dtype):
    X, labels = blobs(m=300, n_x=4, classes=3, seed=2)
    g = np.random.default_rng(0)
    model = Sequential(
        [
            Dense(4, 16, "relu", rng=g, dtype=dtype),
            Dropout(0.9, rng=g),
            Dense(16, 3, "softmax", rng=g, dtype=dtype),
        ],
        loss="categorical_cross_entropy",
    )
    history = model.fit(
        X,
        labels,
        epochs=40,
        optimizer=Momentum(lr=0.1),
        batch_size=64,
        lr_schedule=time_decay(0.1, 0.05),
        l2=0.01,
        rng=1,
    )
    assert history["lr"][0] == pytest.approx(0.1) and history["lr"][-1] < 0.04
    assert model.evaluate(X, labels)["accuracy"] > 0.95
    proba = model.predict_proba(X)
    assert proba.shape == (3, 300) and proba.dtype == dtype
    np.testing.assert_allclose(proba.sum(axis=0), 1, rtol=1e-5)
    predicted = model.predict(X)
    assert predicted.shape == (300,) and predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, model.predict(X, batch_size=7))


def test_binary_predictions_threshold_at_one_half():
    model = binary_model()
    X = np.random.default_rng(5).standard_normal((5, 11))
    proba = model.predict_proba(X)
    assert proba.shape == (1, 11)
    np.testing.assert_array_equal(model.predict(X), (proba[0] > 0.5).astype(int))


def test_same_seed_same_training_run():
    X, labels = blobs(seed=3)

    def train(seed):
        g = np.random.default_rng(seed)
        model = Sequential([Dense(2, 8, rng=g), Dropout(0.8, rng=g), Dense(8, 1, "sigmoid", rng=g)])
        history = model.fit(X, labels, epochs=5, optimizer=Adam(), batch_size=16, rng=seed)
        return model, history

    (a, ha), (b, hb), (c, _) = train(7), train(7), train(8)
    assert ha == hb
    for la, lb in zip(a.layers, b.layers, strict=True):
        for key in la.params:
            np.testing.assert_array_equal(la.params[key], lb.params[key])
    assert not np.array_equal(a.layers[0].params["W"], c.layers[0].params["W"])


def test_divergence_names_the_step():
    X, labels = blobs(seed=4)
    X[0, 5] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"cost became nan at epoch 0, iteration 0"):
        binary_model(n_x=2).fit(X, labels, epochs=3)
    X, labels = blobs(seed=4)
    g = np.random.default_rng(0)  # linear hidden layers: a too-large step makes W overflow
    model = Sequential(
        [Dense(2, 4, None, rng=g), Dense(4, 4, None, rng=g), Dense(4, 1, "sigmoid", rng=g)]
    )
    with (
        np.errstate(all="ignore"),
        pytest.raises(
            TrainingDivergedError, match=r"at epoch 1, iteration 1 \(optimizer step 6.*smaller"
        ),
    ):
        model.fit(X * 100, labels, epochs=50, optimizer=GradientDescent(lr=1.0), batch_size=64)


def test_shape_errors_name_the_layer():
    model = binary_model()
    with pytest.raises(
        ValueError,
        match=r"layer 0: Dense\(n_in=5.*expected A_prev of shape "
        r"\(5, m\), got \(4, 3\)",
    ):
        model.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X has 3 examples but Y has 2"):
        model.fit(np.zeros((5, 3)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"integer labels must be in \[0, 3\)"):
        softmax_model().fit(np.zeros((4, 2)), np.array([0, 3]))
    with pytest.raises(RuntimeError, match="before forward"):
        binary_model().backward(np.zeros((1, 2)))


def test_repr_lists_the_layers():
    text = repr(binary_model())
    assert text.startswith("Sequential([") and text.count("Dense(") == 3
    assert "binary_cross_entropy" in text
