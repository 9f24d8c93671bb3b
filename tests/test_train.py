"""python -m dlcore.train: writes the model files and prints the metrics."""

import json

import numpy as np
import pytest

from dlcore import recipes
from dlcore.io import load_model
from dlcore.layers import Dense
from dlcore.model import Sequential
from dlcore.train import main


@pytest.fixture
def tiny_recipe(monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "tiny", None)  # removed again after the test

    @recipes.register_recipe("tiny", model_name="tiny-model")
    def train_tiny(seed=None, progress=False):
        """A two-layer toy recipe."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((3, 40))
        Y = (X[:1] > 0).astype(float)
        model = Sequential([Dense(3, 4, rng=rng), Dense(4, 1, "sigmoid", rng=rng)])
        history = model.fit(X, Y, epochs=20, progress=progress)
        accuracy = model.evaluate(X, Y)["accuracy"]
        metrics = {"train_accuracy": accuracy, "test_accuracy": accuracy}
        return recipes.RecipeResult(model, metrics, history, 0.01, {"classes": ["no", "yes"]})

    return train_tiny


def test_cli_trains_saves_and_prints(tiny_recipe, tmp_path, capsys):
    assert main(["tiny", "--out", str(tmp_path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "train_accuracy: " in out and "test_accuracy: " in out and "tiny-model.npz" in out
    card = json.loads((tmp_path / "tiny-model.json").read_text())
    assert card["metrics"]["train_accuracy"] >= 0 and card["classes"] == ["no", "yes"]
    model = load_model(tmp_path / "tiny-model.npz")
    assert model.predict(np.zeros((3, 2))).shape == (2,)


def test_cli_rejects_unknown_recipes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dogs"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'dogs'" in capsys.readouterr().err
