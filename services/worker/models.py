"""The models the worker serves: loaded once from ``models/`` (and any extra directories),
verified, and wrapped with the input layout each one expects.

Every ``<name>.npz`` + ``<name>.json`` pair in each models directory is loaded with
:func:`dlcore.load_model`, which checks both files' checksums; one bad file stops the
worker from starting (:class:`ModelLoadError` names the file and what is wrong).

- **Task**: the card's ``task`` field, ``"cat"`` or ``"digits"`` (the recipes write it).
  A card without a valid task stops the worker: nothing is guessed from names or classes.
- **Input layout**: from :mod:`dlcore.layout` — the first layer says columns ``(n_x, m)``
  or images ``(m, C, H, W)``, the card's ``input.shape`` the shape of one example.
- **Default model** of a task (what a request naming no model gets): a worker setting
  (``WORKER_DEFAULT_CAT_MODEL``, ``WORKER_DEFAULT_DIGIT_MODEL``). When the worker serves any
  model of a task, the default must name one of them, or the worker refuses to start; a
  task without served models has no default.
- **Names** a request may use: the model's file name (``"digits-cnn"``, ``"my-mlp"``), or
  its alias, the part after ``"<task>-"`` (``"cnn"`` for ``"digits-cnn"``); the same rule
  applies to the default settings. A name is 1-64 letters, digits, ``.``, ``_`` or ``-``
  (:data:`services.proto.MODEL_NAME_PATTERN`, what the gateway lets a request send), names
  are unique across all directories, and within a task no name is another model's alias:
  anything else stops the worker at start-up, so every request names one model or none.

dlcore layers cache their inputs during ``forward`` for ``backward``, so one model object
must not run two passes at once: every pass holds the model's lock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import dlcore
from dlcore import layout
from dlcore.model import Sequential
from services.proto import MODEL_NAME_PATTERN
from services.worker.settings import DEFAULT_MODEL_FIELDS, WorkerSettings

CAT = "cat"
DIGITS = "digits"
TASKS = (CAT, DIGITS)
DIGIT_CLASSES = [str(d) for d in range(10)]
CAT_CLASSES = ["non-cat", "cat"]


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
    is_default: bool = False  # answers the task's requests that name no model
    card_path: Path | None = None  # where it was loaded from (named in start-up errors)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def aliases(self) -> list[str]:
        """Other names requests may use: ``["cnn"]`` for ``digits-cnn``, none for ``my-mlp``."""
        prefix = f"{self.task}-"
        rest = self.name[len(prefix):] if self.name.startswith(prefix) else ""
        return [rest] if rest else []

    @property
    def batch_axis(self) -> int:
        """0 for image tensors ``(m, C, H, W)``, -1 for columns ``(n_x, m)``."""
        return 0 if self.model.layout == layout.IMAGES else -1

    def example(self, x: np.ndarray) -> np.ndarray:
        """One input (a 28x28 digit, a 64x64x3 photo's 12288 values, ...) in this model's
        layout: ``(n_x, 1)`` columns or ``(1, C, H, W)`` images
        (:func:`dlcore.layout.as_example`)."""
        try:
            return layout.as_example(x, self.example_shape, self.model.dtype)
        except ValueError as e:
            raise ValueError(f"model {self.name}: {e}") from None

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


def _served_model(stem: str, model: Sequential) -> ServedModel:
    card = model.card
    task = card.get("task")
    if task not in TASKS:
        raise ModelLoadError(
            f"model {stem}: its card has no valid 'task' (found {task!r}; expected one of "
            f"{', '.join(map(repr, TASKS))}); train it with a current recipe "
            "(python -m dlcore.train) or save it with save_model(..., task=...)"
        )
    classes = [str(c) for c in (card.get("classes") or [])]
    if not classes:
        classes = list(DIGIT_CLASSES if task == DIGITS else CAT_CLASSES)
    card_input = card.get("input") or {}
    try:
        card_layout = card_input.get("layout")
        if card_layout in layout.LAYOUTS and card_layout != model.layout:
            raise ValueError(f"its card says {card_layout} but its first layer takes "
                             f"{model.layout}")
        example_shape = layout.example_shape(model, card_input.get("shape"))
    except ValueError as e:
        raise ModelLoadError(f"model {stem}: {e}") from None
    return ServedModel(
        name=stem, task=task, classes=classes, card=card, model=model,
        example_shape=example_shape,
    )


def load_models(
    models_dirs: Path | Sequence[Path], defaults: Mapping[str, str] | None = None
) -> dict[str, ServedModel]:
    """Load and verify every model in ``models_dirs``; ``{name: ServedModel}``.

    Args:
        models_dirs: a directory of ``<name>.npz`` + ``<name>.json`` pairs, or several
            (``WorkerSettings.model_dirs()``: ``models/`` and any extra directories).
        defaults: ``{task: model name}``, the model for requests that name none
            (default: the worker settings' defaults, ``WorkerSettings().default_models()``
            without the environment).

    Raises:
        ModelLoadError: a directory is missing or empty, a model file fails its checksum
            or cannot be rebuilt, a card has no valid task, a file name is not a valid
            model name, two files have the same name, a name is another model's alias,
            or a default is not a served model of its task (the message names the files
            or the setting).
    """
    directories = [Path(models_dirs)] if isinstance(models_dirs, str | Path) else [
        Path(d) for d in models_dirs]
    served: dict[str, ServedModel] = {}
    for directory in directories:
        for model in _load_directory(directory):
            if model.name in served:
                raise ModelLoadError(
                    f"two models are called {model.name!r}: {served[model.name].card_path} "
                    f"and {model.card_path}; model names must be unique (save one under "
                    "another name)"
                )
            served[model.name] = model
    _check_aliases(served)
    _mark_defaults(served, built_in_defaults() if defaults is None else defaults)
    return served


def _load_directory(models_dir: Path) -> list[ServedModel]:
    if not models_dir.is_dir():
        raise ModelLoadError(f"models directory {models_dir} does not exist (run: make models)")
    stems = sorted({p.stem for p in models_dir.iterdir() if p.suffix in (".npz", ".json")})
    if not stems:
        raise ModelLoadError(
            f"no models in {models_dir}: expected <name>.npz with its <name>.json card "
            "(run: make models)"
        )
    models = []
    for stem in stems:
        card_path = models_dir / f"{stem}.json"
        if not re.fullmatch(MODEL_NAME_PATTERN, stem):
            raise ModelLoadError(
                f"model file {card_path}: {stem!r} is not a model name requests can use "
                "(1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a "
                "digit); save the model under such a name"
            )
        try:
            model = dlcore.load_model(card_path)
        except dlcore.ModelFileError as e:
            raise ModelLoadError(f"model {stem} failed verification: {e}") from e
        served = _served_model(stem, model)
        served.card_path = card_path
        models.append(served)
    return models


def _check_aliases(models: Mapping[str, ServedModel]) -> None:
    """Within a task, no model's name may be another model's alias.

    ``models`` is keyed by name (:func:`load_models`). Two models cannot share an alias:
    the alias of ``<task>-<rest>`` is ``<rest>``, so they would have the same name.
    """
    for task in TASKS:
        for model in (m for m in models.values() if m.task == task):
            for alias in model.aliases:
                other = models.get(alias)
                if other is not None and other.task == task:
                    raise ModelLoadError(
                        f"{task} requests naming {alias!r} would be ambiguous: it is the "
                        f"alias of {model.name} ({model.card_path}) and also the name of "
                        f"{other.name} ({other.card_path}); save one under another name"
                    )


def built_in_defaults() -> dict[str, str]:
    """The default model of each task when no setting changes it."""
    fields = WorkerSettings.model_fields
    return {task: fields[name].default for task, name in DEFAULT_MODEL_FIELDS.items()}


def _mark_defaults(models: dict[str, ServedModel], defaults: Mapping[str, str]) -> None:
    for task in TASKS:
        if not any(m.task == task for m in models.values()):
            continue  # this worker serves no model of the task: nothing to default to
        name = defaults.get(task, "")
        model = _lookup(models, task, name)
        if model is None:
            setting = "WORKER_" + DEFAULT_MODEL_FIELDS[task].upper()
            raise ModelLoadError(
                f"the default {task} model {name!r} ({setting}) is not one of the {task} "
                f"models this worker serves: {', '.join(_names(models, task))}"
            )
        model.is_default = True


def _lookup(models: Mapping[str, ServedModel], task: str, name: str) -> ServedModel | None:
    """The ``task`` model called ``name`` or whose alias ``name`` is (``models`` keyed by
    name, as :func:`load_models` returns them; :func:`_check_aliases` made sure at most
    one of the two exists)."""
    name = name.strip()
    if not name:
        return None
    for candidate in (name, f"{task}-{name}"):  # the alias of "<task>-<rest>" is "<rest>"
        model = models.get(candidate)
        if model is not None and model.task == task:
            return model
    return None


def _names(models: Mapping[str, ServedModel], task: str) -> list[str]:
    return sorted(m.name for m in models.values() if m.task == task)


def default_model(models: Mapping[str, ServedModel], task: str) -> ServedModel | None:
    """The model used when a request for ``task`` names none (``None``: no such model)."""
    return next((m for m in models.values() if m.task == task and m.is_default), None)


def resolve_model(models: Mapping[str, ServedModel], task: str, requested: str) -> ServedModel:
    """The model a request asks for: "" (the task's default), a name, or an alias ("cnn").

    Raises:
        UnknownModel: no such model for this task (the message lists the served ones).
    """
    if not requested.strip():
        model = default_model(models, task)
        if model is None:
            raise UnknownModel(f"this worker serves no {task} model")
        return model
    model = _lookup(models, task, requested)
    if model is not None:
        return model
    served = _names(models, task)
    raise UnknownModel(
        f"no {task} model called {requested.strip()!r}; this worker serves: "
        f"{', '.join(served) if served else 'none'}"
    )
