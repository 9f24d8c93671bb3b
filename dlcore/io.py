"""Model files: weights in ``.npz`` (never pickle) plus a JSON model card.

Taught in notebooks/09-serve-and-draw.ipynb (saving a model of your own for the stack to serve).

``save_model(model, "models/cat", ...)`` writes two files side by side:

- ``models/cat.npz``: every parameter as ``layer{i}.{key}`` (``layer0.W``, ``layer0.b``,
  ...), read back with ``allow_pickle=False``;
- ``models/cat.json``: the model card — architecture (each layer's ``type`` and
  ``config()``), loss, dtype, input layout and preprocessing, classes, data set, metrics,
  training time, the ``sha256`` of the ``.npz``, the dlcore version and the file-format
  version. The card also carries ``card_sha256``, a checksum of its own other fields, so
  an edited card is noticed; change a card by saving the model again.

``load_model(path)`` takes either file, checks the card's format version and checksum,
checks the ``.npz`` bytes against the card's ``sha256`` *before* parsing them, rebuilds
every layer from its config (any type registered with
:func:`dlcore.layers.register_layer`), checks each array's name, shape and dtype, and
returns a :class:`~dlcore.model.Sequential` with the card attached as ``model.card``.
Anything wrong raises :class:`ModelFileError` (a ``ValueError``) saying what and where.
Both files are written to temporary names and renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.layers import layer_from_spec, layer_to_spec
from dlcore.model import Sequential
from dlcore.version import __version__

FORMAT = "dlcore-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, tampered with, or incompatible with this dlcore."""


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def _card_checksum(card: dict[str, Any]) -> str:
    body = {k: v for k, v in card.items() if k != "card_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _write_atomic(target: Path, data: bytes) -> None:
    # A fresh name beside the target, created like any other file (mode 0o666 minus the
    # umask; mkstemp's 0o600 would hide model files from a server running as another user).
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_model(
    model: Sequential,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    input: dict[str, Any] | None = None,
    classes: list[str] | None = None,
    dataset: dict[str, Any] | str | None = None,
    metrics: dict[str, float] | None = None,
    training_seconds: float | None = None,
    **extra: Any,
) -> tuple[Path, Path]:
    """Write ``<path>.npz`` and ``<path>.json``; return both paths.

    Args:
        model: the model to save.
        path: ``models/cat``, ``models/cat.npz`` or ``models/cat.json``.
        name: the model's name (default: the file stem).
        input: the input layout and preprocessing, e.g. ``{"shape": [12288], "layout":
            "...", "preprocessing": "..."}``.
        classes: class names in label order (``["non-cat", "cat"]``).
        dataset: the data set trained on (a name or a dict).
        metrics: e.g. ``{"train_accuracy": 0.99, "test_accuracy": 0.8}``.
        training_seconds: wall-clock training time.
        **extra: further JSON-able card fields (e.g. ``recipe``, ``seed``).
    """
    npz_path, card_path = _paths(path)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        f"layer{i}.{key}": value
        for i, layer in enumerate(model.layers)
        for key, value in layer.params.items()
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    weights = buffer.getvalue()
    card: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dlcore_version": __version__,
        "name": name or npz_path.stem,
        "architecture": {
            "type": "Sequential",
            "loss": model.loss.name,
            "layers": [layer_to_spec(layer) for layer in model.layers],
        },
        "dtype": model.dtype.name,
        "input": input or {},
        "classes": list(classes) if classes is not None else None,
        "dataset": dataset,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "training_seconds": None if training_seconds is None else float(training_seconds),
        **extra,
        "weights_file": npz_path.name,
        "sha256": hashlib.sha256(weights).hexdigest(),
    }
    card["card_sha256"] = _card_checksum(card)
    _write_atomic(npz_path, weights)
    _write_atomic(card_path, (json.dumps(card, indent=2) + "\n").encode())
    return npz_path, card_path


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The verified model card for ``path`` (either file); ModelFileError if it is not one."""
    _, card_path = _paths(path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"no model card {card_path}: weights are only loaded with the card that "
            "records their checksum"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{card_path} is not a readable JSON model card: {e}") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelFileError(f"{card_path} is not a {FORMAT} card (no 'format': {FORMAT!r})")
    version = card.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            f"{card_path} has format_version {version!r}; this dlcore {__version__} reads "
            f"versions 1..{FORMAT_VERSION} (upgrade dlcore or re-export the model)"
        )
    if card.get("card_sha256") != _card_checksum(card):
        raise ModelFileError(
            f"{card_path} was modified after it was written (card_sha256 does not match its "
            "contents); save the model again instead of editing the card"
        )
    return card


def load_model(path: str | os.PathLike) -> Sequential:
    """Load a model from ``<name>.npz`` or ``<name>.json`` after verifying both files."""
    npz_path, card_path = _paths(path)
    card = read_card(card_path)
    weights_file = card.get("weights_file", npz_path.name)
    if not isinstance(weights_file, str) or Path(weights_file).name != weights_file:
        raise ModelFileError(f"{card_path}: weights_file must be a plain file name")
    npz_path = card_path.with_name(weights_file)
    try:
        weights = npz_path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"cannot read the weights {npz_path}: {e}") from None
    actual = hashlib.sha256(weights).hexdigest()
    if actual != card.get("sha256"):
        raise ModelFileError(
            f"{npz_path} does not match its card: sha256 {actual}, card says "
            f"{card.get('sha256')}; the file is corrupt or was replaced"
        )
    arch = card.get("architecture") or {}
    try:
        layers = [layer_from_spec(spec) for spec in arch["layers"]]
        model = Sequential(layers, loss=arch["loss"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{card_path}: cannot rebuild the architecture: {e}") from None
    try:
        with np.load(io.BytesIO(weights), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError) as e:
        raise ModelFileError(f"{npz_path} is not a valid weights file: {e}") from None
    expected = {
        f"layer{i}.{key}": param
        for i, layer in enumerate(model.layers)
        for key, param in layer.params.items()
    }
    if set(arrays) != set(expected):
        raise ModelFileError(
            f"{npz_path} holds arrays {sorted(arrays)}, the architecture needs {sorted(expected)}"
        )
    for key, param in expected.items():
        array = arrays[key]
        if array.shape != param.shape or array.dtype != param.dtype:
            raise ModelFileError(
                f"{npz_path}: {key} is {array.dtype} {array.shape}, the architecture needs "
                f"{param.dtype} {param.shape}"
            )
        param[...] = array
    model.card = card
    return model
