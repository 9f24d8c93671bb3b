"""Fixtures every suite may use (plumbing lives in ``helpers.py``, next to this file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_tiny_models
from lab_helpers import chromium_browser


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """The served models, untrained (:func:`helpers.make_tiny_models`), made once per run."""
    return make_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright; skips, saying how to install it."""
    with chromium_browser() as browser:
        yield browser
