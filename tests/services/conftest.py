"""Fixtures for the served-stack tests (helpers live in ``stack_helpers.py``; ``tiny_models``
and the shared plumbing in ``tests/conftest.py`` and ``tests/helpers.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from stack_helpers import ImageServer, encode, photo


@pytest.fixture
def tampered_models(tmp_path, tiny_models) -> Path:
    """A copy of the tiny models whose digits-mlp weights were changed after saving."""
    directory = tmp_path / "models"
    shutil.copytree(tiny_models, directory)
    weights = directory / "digits-mlp.npz"
    data = bytearray(weights.read_bytes())
    data[-30] ^= 0xFF
    weights.write_bytes(bytes(data))
    return directory


@pytest.fixture
def image_server():
    with ImageServer(encode(photo())) as server:
        yield server
