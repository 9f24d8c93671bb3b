"""The committed models: they load, say what they are, and reach what their cards claim.

These tests never retrain the served models (the CNN takes minutes); they load
``models/digits-*.npz`` + ``.json`` and measure them on the official 10,000-image MNIST
test set. A small seeded run of each recipe checks the training path itself.
"""

from pathlib import Path

import numpy as np
import pytest

from dlcore.data import Dataset, load_mnist
from dlcore.digits import drawn_like, preprocess_digit, preprocess_digits
from dlcore.io import load_model, read_card, save_model
from dlcore.layout import as_columns, as_images, input_layout, to_layout
from dlcore.recipes import RECIPES
from dlcore.recipes.digits import DRAWN_TEST_EXAMPLES, train_digits_cnn, train_digits_mlp

MODELS = Path(__file__).resolve().parent.parent / "models"
#: the digit models' accuracy targets on the official test set (docs/digits.md)
TARGETS = {"digits-mlp": 0.970, "digits-cnn": 0.988}
TO_INPUT = {"digits-mlp": as_columns, "digits-cnn": as_images}


@pytest.fixture(scope="module")
def mnist():
    return load_mnist("mnist-small")


@pytest.mark.parametrize(("name", "task"), [("cat", "cat"), ("digits-mlp", "digits"),
                                            ("digits-cnn", "digits")])
def test_every_served_card_records_its_task_and_layout(name, task):
    card = read_card(MODELS / f"{name}.json")  # also verifies the card's own checksum
    assert card["task"] == task
    model = load_model(MODELS / f"{name}.npz")
    assert input_layout(model) == ("images" if name == "digits-cnn" else "columns")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_card_describes_a_served_digit_model(name):
    card = read_card(MODELS / f"{name}.json")
    assert card["name"] == name and card["task"] == "digits"
    assert card["classes"] == [str(d) for d in range(10)]
    assert card["input"]["preprocessing"] == "dlcore.digits.preprocess_digit"
    layout, shape = card["input"]["layout"], card["input"]["shape"]
    expected = {"digits-mlp": ("columns", [784]), "digits-cnn": ("images", [1, 28, 28])}
    assert (layout, shape) == expected[name]
    assert layout == input_layout(load_model(MODELS / f"{name}.npz"))
    assert card["dataset"]["name"] == "mnist-small" and card["dataset"]["test_examples"] == 10000
    assert card["training_seconds"] > 0 and card["training"]["recipe"] == name
    assert card["metrics"]["test_accuracy"] >= TARGETS[name], card["metrics"]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_model_reaches_its_card_accuracy_on_the_official_test_set(name, mnist):
    model = load_model(MODELS / f"{name}.npz")
    X = TO_INPUT[name](mnist.test_x)
    accuracy = float(np.mean(model.predict(X, batch_size=1000) == mnist.test_y))
    claimed = model.card["metrics"]["test_accuracy"]
    print(f"{name}: measured {accuracy:.4f}, card {claimed:.4f}")
    assert accuracy >= TARGETS[name]
    assert accuracy == pytest.approx(claimed, abs=2e-4)  # at most 2 of 10,000 images differ


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_model_reads_drawings_as_its_card_claims(name, mnist):
    # The serving path: pen drawings of test digits -> preprocess_digit -> the model.
    model = load_model(MODELS / f"{name}.npz")
    drawings = drawn_like(mnist.test_x[:DRAWN_TEST_EXAMPLES], 0)
    X = TO_INPUT[name](preprocess_digits(drawings))
    accuracy = float(np.mean(model.predict(X) == mnist.test_y[:DRAWN_TEST_EXAMPLES]))
    claimed = model.card["metrics"]["drawn_test_accuracy"]
    print(f"{name}: drawn {accuracy:.4f}, card {claimed:.4f}")
    assert accuracy == pytest.approx(claimed, abs=1e-3)
    assert accuracy >= 0.95


def test_cnn_saliency_on_a_real_digit(mnist):
    model = load_model(MODELS / "digits-cnn.npz")
    x = preprocess_digit(mnist.test_x[0])[None, None]
    dX = model.input_gradient(x)  # the predicted class's logit
    assert dX.shape == (1, 1, 28, 28) and np.all(np.isfinite(dX)) and np.abs(dX).max() > 0
    # Brightening the pixels the map marks positive raises that logit (first-order check).
    k = int(model.predict(x)[0])
    logit = model.input_gradient(x, k, score="logit")
    nudged = x + 1e-3 * np.sign(logit)
    probability = model.predict_proba(nudged)[k, 0]
    assert probability >= model.predict_proba(x)[k, 0]


def small_digits(mnist, m_train=600, m_test=300):
    return Dataset(
        mnist.train_x[:m_train], mnist.train_y[:m_train],
        mnist.test_x[:m_test], mnist.test_y[:m_test], mnist.classes,
    )


@pytest.mark.parametrize("train", [train_digits_mlp, train_digits_cnn])
def test_recipe_smoke_run_is_seeded_and_saves_a_loadable_model(train, mnist, tmp_path):
    data = small_digits(mnist)
    a = train(seed=1, data=data, epochs=1)
    b = train(seed=1, data=data, epochs=1)
    for la, lb in zip(a.model.layers, b.model.layers, strict=True):
        for key in la.params:
            np.testing.assert_array_equal(la.params[key], lb.params[key])
    assert set(a.metrics) == {
        "train_accuracy", "test_accuracy", "augmented_test_accuracy", "drawn_test_accuracy"
    }
    assert a.metrics["test_accuracy"] > 0.3  # one epoch on 600 images: well above chance
    npz, _ = save_model(
        a.model, tmp_path / "d", metrics=a.metrics, training_seconds=a.training_seconds, **a.card
    )
    loaded = load_model(npz)
    assert loaded.card["task"] == "digits" and loaded.card["training"]["seed"] == 1
    X = to_layout(data.test_x[:5], input_layout(loaded))
    np.testing.assert_array_equal(loaded.predict(X), a.model.predict(X))


def test_digit_recipes_show_progress_per_epoch(mnist, capsys):
    train_digits_mlp(seed=1, data=small_digits(mnist, 200, 100), epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "training: 100%" in err and "2/2" in err and "epoch/s" in err and "cost=" in err
    assert "evaluating: 100%" in err and "4/4" in err  # train, test, augmented, drawn
    train_digits_mlp(seed=1, data=small_digits(mnist, 200, 100), epochs=1)
    assert capsys.readouterr().err == ""


def test_digit_recipes_are_registered():
    assert RECIPES["digits-mlp"].train is train_digits_mlp
    assert RECIPES["digits-cnn"].train is train_digits_cnn
    assert RECIPES["digits-cnn"].model_name == "digits-cnn"
