"""What every recipe is made of: :class:`RecipeResult` (what training returns) and
:class:`Recipe` (a registry entry). The recipe modules import these; the registry in
:mod:`dlcore.recipes` imports the recipe modules — never the other way round."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dlcore.model import Sequential


@dataclass
class RecipeResult:
    """What a recipe returns: the trained model, its metrics and the model-card fields."""

    model: Sequential
    metrics: dict[str, float]
    history: dict[str, list[float]]
    training_seconds: float
    card: dict[str, Any] = field(default_factory=dict)  # keyword arguments for save_model


@dataclass(frozen=True)
class Recipe:
    name: str  # what you type: python -m dlcore.train NAME
    model_name: str  # the file stem in models/: <model_name>.npz and .json
    train: Callable[..., RecipeResult]  # train(seed=None, progress=False) -> RecipeResult
    description: str
