"""Recipes: the named, reproducible training runs behind the course's served models.

A recipe is one function that loads its data, builds the model, trains it (optionally
with a progress bar), evaluates it, and returns a :class:`RecipeResult` — the model, its
metrics and the model-card fields, including the card's ``task`` ("cat" or "digits"),
which tells the inference worker what to serve the model for. Notebooks call the same
functions (one definition, no copies), and ``python -m dlcore.train NAME`` saves the
result to ``models/``::

    from dlcore.recipes import train_cats
    result = train_cats(progress=True)
    result.metrics   # {'train_accuracy': ..., 'test_accuracy': ..., ...}

Where things are:

- :mod:`dlcore.recipes.base`: :class:`RecipeResult` and :class:`Recipe`;
- :mod:`dlcore.recipes.cats`: ``cats`` (the cat classifier, ``models/cat``);
- :mod:`dlcore.recipes.digits`: ``digits-mlp`` and ``digits-cnn``;
- this module: the registry ``RECIPES``, filled below from those modules. The recipe
  modules never import the registry, so nothing imports itself back.

Add a recipe by writing its function in a module of its own and registering it here::

    register_recipe("digits-mlp", model_name="digits-mlp")(train_digits_mlp)
"""

from __future__ import annotations

from collections.abc import Callable

from dlcore.io import save_model
from dlcore.recipes.base import Recipe, RecipeResult
from dlcore.recipes.cats import (
    CAT_INPUT,
    CAT_LAYER_DIMS,
    CAT_LEARNING_RATE,
    CAT_SEED,
    CAT_STEPS,
    build_cat_model,
    train_cats,
)
from dlcore.recipes.digits import train_digits_cnn, train_digits_mlp

__all__ = [
    "CAT_INPUT",
    "CAT_LAYER_DIMS",
    "CAT_LEARNING_RATE",
    "CAT_SEED",
    "CAT_STEPS",
    "RECIPES",
    "Recipe",
    "RecipeResult",
    "build_cat_model",
    "get_recipe",
    "register_recipe",
    "run_recipe",
    "train_cats",
    "train_digits_cnn",
    "train_digits_mlp",
]

RECIPES: dict[str, Recipe] = {}


def register_recipe(name: str, model_name: str | None = None):
    """Decorator: register ``fn(seed=None, progress=False) -> RecipeResult`` as ``name``."""

    def decorate(fn: Callable[..., RecipeResult]) -> Callable[..., RecipeResult]:
        doc = (fn.__doc__ or name).strip().splitlines()[0]
        RECIPES[name] = Recipe(name, model_name or name, fn, doc)
        return fn

    return decorate


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ValueError listing the known ones otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None


def run_recipe(
    name: str, out_dir="models", seed: int | None = None, progress: bool | None = False
):
    """Train recipe ``name`` and save ``out_dir/<model_name>.npz`` + ``.json``.

    ``progress``: ``True`` show a progress bar, ``False`` hide it, ``None`` only on a
    terminal (:mod:`dlcore.progress`). Returns ``(result, (npz_path, card_path))``.
    """
    recipe = get_recipe(name)
    result = recipe.train(seed=seed, progress=progress)
    paths = save_model(
        result.model,
        f"{out_dir}/{recipe.model_name}",
        metrics=result.metrics,
        training_seconds=result.training_seconds,
        **result.card,
    )
    return result, paths


# The course's recipes, in the order `make models` trains them.
register_recipe("cats", model_name="cat")(train_cats)
register_recipe("digits-mlp")(train_digits_mlp)
register_recipe("digits-cnn")(train_digits_cnn)
