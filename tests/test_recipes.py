"""Recipes: the registry, and the cat recipe reaching the reference accuracy."""

import numpy as np
import pytest

from dlcore.io import load_model
from dlcore.recipes import (
    CAT_LAYER_DIMS,
    RECIPES,
    build_cat_model,
    get_recipe,
    train_cats,
)


def test_registry():
    assert RECIPES["cats"].model_name == "cat" and RECIPES["cats"].train is train_cats
    with pytest.raises(ValueError, match="unknown recipe 'dogs'; known: .*cats"):
        get_recipe("dogs")


def test_cat_model_architecture():
    model = build_cat_model(seed=0)
    dims = [(layer.n_in, layer.n_out, layer.activation) for layer in model.layers]
    assert dims == [(12288, 20, "relu"), (20, 7, "relu"), (7, 5, "relu"), (5, 1, "sigmoid")]
    assert tuple(d[0] for d in dims) + (1,) == CAT_LAYER_DIMS
    assert model.dtype == np.float32
    np.testing.assert_array_equal(
        build_cat_model(seed=0).layers[0].params["W"], model.layers[0].params["W"]
    )


@pytest.mark.slow
def test_cat_recipe_reaches_the_reference_accuracy(tmp_path):
    from dlcore.io import save_model

    result = train_cats()
    assert result.metrics["train_accuracy"] >= 0.98, result.metrics
    assert result.metrics["test_accuracy"] >= 0.78, result.metrics
    assert len(result.history["cost"]) == 2500
    assert result.history["cost"][-1] < result.history["cost"][0] / 4
    npz, _ = save_model(result.model, tmp_path / "cat", metrics=result.metrics, **result.card)
    loaded = load_model(npz)
    assert loaded.card["classes"] == ["non-cat", "cat"]
    assert loaded.card["input"]["shape"] == [12288]
