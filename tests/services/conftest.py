"""Fixtures for the served-stack tests (helpers live in ``stack_helpers.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from stack_helpers import ImageServer, encode, make_tiny_models, photo


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    return make_tiny_models(tmp_path_factory.mktemp("tiny-models"))


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
