"""The models the worker serves: loaded once from ``models/``, verified, and wrapped with
the input layout each one expects.

Every ``<name>.npz`` + ``<name>.json`` pair in the models directory is loaded with
:func:`dlcore.load_model`, which checks both files' checksums; one bad file stops the
worker from starting (:class:`ModelLoadError` names the file and what is wrong).

A model's *task* ("cat" or "digits") comes from its card: the ``task`` field when present,
otherwise its class names (``["non-cat", "cat"]`` or the ten digits). The input layout
comes from the model itself: a first layer with ``batch_axis = 0`` takes image tensors
``(m, 1, 28, 28)`` (the CNN), anything else takes columns ``(n_x, m)`` (dense models).

dlcore layers cache their inputs during ``forward`` for ``backward``, so one model object
must not run two passes at once: every pass holds the model's lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import dlcore
from dlcore.model import Sequential

CAT = "cat"
DIGITS = "digits"
DIGIT_CLASSES = [str(d) for d in range(10)]


class ModelLoadError(RuntimeError):
    """A model in the models directory cannot be served; the worker refuses to start."""


class UnknownModel(LookupError):
    """The request names a model this worker does not serve."""


@dataclass(eq=False)  # compared and hashed by identity: one object per loaded model
class ServedModel:
    """One loaded model with what serving needs to know about it."""

    name: str
    task: str
    classes: list[str]
    card: dict[str, Any]
    model: Sequential
    example_shape: tuple[int, ...]  # one example as the model takes it, batch axis of size 1
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def batch_axis(self) -> int:
        """0 for image tensors ``(m, C, H, W)``, -1 for columns ``(n_x, m)``."""
        return 0 if self.model.batch_axis == 0 else -1

    @property
    def accuracy(self) -> float:
        """How good the card says the model is, to pick the default: the accuracy on
        drawn-like test digits when the card has it (what the served model sees), else the
        test accuracy, else 0."""
        metrics = self.card.get("metrics") or {}
        for key in ("drawn_test_accuracy", "test_accuracy"):
            value = metrics.get(key)
            if isinstance(value, int | float):
                return float(value)
        return 0.0

    def example(self, x: np.ndarray) -> np.ndarray:
        """One input (a 28x28 digit, a 64x64x3 photo, ...) in this model's layout.

        The pixels are flattened row-major in both layouts, matching
        ``dlcore.data.flatten_images`` for columns and ``(1, C, H, W)`` for images.
        """
        x = np.asarray(x, dtype=self.model.dtype)
        if x.size != int(np.prod(self.example_shape)):
            raise ValueError(
                f"model {self.name} takes {int(np.prod(self.example_shape))} values per "
                f"example, got an input of shape {x.shape}"
            )
        return x.reshape(self.example_shape)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Output activations ``(n_out, m)`` for a batch in this model's layout."""
        with self.lock:
            return self.model.predict_proba(X)

    def saliency(self, X: np.ndarray, class_index: int) -> np.ndarray:
        """``|d score / d X|`` for one example and class ``class_index``, scaled to [0, 1].

        The score is the class's logit (``Sequential.input_gradient``), so the map shows
        which pixels, nudged, would most change the model's belief in that class.
        Returned in the shape of ``X``.
        """
        with self.lock:
            dX = self.model.input_gradient(X, class_index)
        magnitude = np.abs(np.asarray(dX, dtype=np.float32))
        peak = float(magnitude.max())
        return magnitude / peak if peak > 0 else magnitude


def _task_of(name: str, card: dict[str, Any], classes: list[str]) -> str | None:
    task = card.get("task")
    if task in (CAT, DIGITS):
        return task
    if classes == DIGIT_CLASSES or name.startswith("digits"):
        return DIGITS
    if "cat" in classes or name.startswith("cat"):
        return CAT
    return None


def _example_shape(name: str, model: Sequential, card: dict[str, Any]) -> tuple[int, ...]:
    shape = (card.get("input") or {}).get("shape")
    if not (isinstance(shape, list) and shape and all(isinstance(n, int) for n in shape)):
        first = model.layers[0]
        n_in = getattr(first, "n_in", None)
        if model.batch_axis == 0 or n_in is None:
            raise ModelLoadError(
                f"model {name}: its card has no input shape (card['input']['shape']) and it "
                "cannot be read from the first layer"
            )
        shape = [n_in]
    if model.batch_axis == 0:
        return (1, *shape)
    return (int(np.prod(shape)), 1)


def load_models(models_dir: Path) -> dict[str, ServedModel]:
    """Load and verify every model in ``models_dir``; ``{name: ServedModel}``.

    Raises:
        ModelLoadError: the directory is missing or empty, or a model file fails its
            checksum or cannot be rebuilt (the message names the file).
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ModelLoadError(f"models directory {models_dir} does not exist (run: make models)")
    stems = sorted({p.stem for p in models_dir.iterdir() if p.suffix in (".npz", ".json")})
    if not stems:
        raise ModelLoadError(
            f"no models in {models_dir}: expected <name>.npz with its <name>.json card "
            "(run: make models)"
        )
    served = {}
    for stem in stems:
        path = models_dir / f"{stem}.json"
        try:
            model = dlcore.load_model(path)
        except dlcore.ModelFileError as e:
            raise ModelLoadError(f"model {stem} failed verification: {e}") from e
        card = model.card
        name = str(card.get("name") or stem)
        classes = [str(c) for c in (card.get("classes") or [])]
        task = _task_of(name, card, classes)
        if task is None:
            raise ModelLoadError(
                f"model {stem}: cannot tell what it classifies (no 'task' in its card and "
                f"classes {classes} are neither digits nor cat/non-cat)"
            )
        if task == DIGITS and not classes:
            classes = DIGIT_CLASSES
        if task == CAT and not classes:
            classes = ["non-cat", "cat"]
        served[stem] = ServedModel(
            name=stem,
            task=task,
            classes=classes,
            card=card,
            model=model,
            example_shape=_example_shape(stem, model, card),
        )
    return served


def default_model(models: dict[str, ServedModel], task: str) -> ServedModel | None:
    """The model used when a request names none: the most accurate one for ``task``.

    Ties go to the convolutional model, then to the name (so the choice is stable).
    """
    candidates = [m for m in models.values() if m.task == task]
    if not candidates:
        return None
    return max(candidates, key=lambda m: (m.accuracy, m.batch_axis == 0, m.name))


def resolve_model(models: dict[str, ServedModel], task: str, requested: str) -> ServedModel:
    """The model a request asks for: "" (default), "cnn"/"mlp", or a full name.

    Raises:
        UnknownModel: no such model for this task (the message lists the served ones).
    """
    requested = requested.strip()
    if not requested:
        model = default_model(models, task)
        if model is None:
            raise UnknownModel(f"this worker serves no {task} model")
        return model
    for name in (requested, f"{task}-{requested}"):
        model = models.get(name)
        if model is not None and model.task == task:
            return model
    served = sorted(m.name for m in models.values() if m.task == task)
    raise UnknownModel(
        f"no {task} model called {requested!r}; this worker serves: "
        f"{', '.join(served) if served else 'none'}"
    )
