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


CHROMIUM = Path("/usr/bin/chromium")
# Quiet on a closed network (see ../shared/notes/jupyterlab-pad-and-browser-tests.md).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-quic"]


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright; skips, saying how to install it."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium "
                    "(install it with: make sysdeps, or apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
