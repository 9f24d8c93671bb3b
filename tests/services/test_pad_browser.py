"""Notebook 09 in real JupyterLab, driven by Debian's Chromium: run all, draw, predict.

What a learner does in ``make lab``, done by Playwright: start JupyterLab headless on
127.0.0.1, open the serving notebook, Run > Run All Cells (which starts the stack from
the notebook), wait until the kernel is idle, then draw digits with mouse moves on the
pad's canvas, press Predict and read the predicted digit and the ten probabilities from
the widget in the page. Screenshots go to ``artifacts/`` (git-ignored).

Isolation: JupyterLab gets a temporary HOME, settings, workspaces and root directory, and
opens a temporary copy of the notebook, so nothing (autosave included, which is also
switched off) can write into the committed notebook. The copy leaves out the notebook's
last code cell, ``stack.stop()``: *Run All* would otherwise stop the stack before anyone
could draw. The stack is then stopped the other way the notebook promises: when its
kernel goes away with JupyterLab — which this test checks too.

Needs /usr/bin/chromium (``make sysdeps`` installs it; never ``playwright install``).
Facts this relies on: ``../shared/notes/jupyterlab-pad-and-browser-tests.md``.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from lab_helpers import Lab, run_all
from stack_helpers import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = REPO / "notebooks" / "09-serve-and-draw.ipynb"
ARTIFACTS = REPO / "artifacts"


def ellipse(cx, cy, rx, ry, n=40):
    return [(cx + rx * math.sin(t), cy - ry * math.cos(t))
            for t in np.linspace(0, 2 * math.pi, n)]


# Digits in [0, 1] canvas coordinates (y grows downwards): big, plain, unambiguous.
DIGITS = {
    7: [[(0.25, 0.18), (0.75, 0.18), (0.42, 0.86)]],
    1: [[(0.5, 0.14), (0.5, 0.86)]],
    0: [ellipse(0.5, 0.5, 0.22, 0.34)],
}


# -- JupyterLab ----------------------------------------------------------------------------


def copy_notebook(root: Path) -> Path:
    """Notebook 09 without its final ``stack.stop()`` cell, in JupyterLab's root folder."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    last = notebook.cells[code[-1]]
    assert last.source.startswith("stack.stop()"), (
        f"the notebook's last code cell should stop the stack, found:\n{last.source}")
    del notebook.cells[code[-1]]
    path = root / NOTEBOOK.name
    nbformat.write(notebook, path)
    return path


# -- the page ------------------------------------------------------------------------------


def draw(page, canvas, strokes) -> None:
    """Draw strokes given in [0, 1] canvas coordinates with mouse moves."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"])
                  for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            steps = max(2, round(math.dist((x0, y0), (x1, y1)) / 12))
            page.mouse.move(x1, y1, steps=steps)
        page.mouse.up()


def read_answer(page, pad) -> tuple[int, list[float], str]:
    """Wait for the pad's answer; the digit, the ten percentages and the summary line."""
    digit = pad.locator(".simpledl-pad-digit")
    error = pad.locator(".simpledl-pad-error")
    page.wait_for_function(
        """([digit, error]) => /^\\d$/.test(digit.textContent.trim())
                              || error.textContent.trim() !== ''""",
        arg=[digit.element_handle(), error.element_handle()], timeout=60_000)
    assert error.text_content().strip() == "", f"the pad shows an error: {error.text_content()}"
    percentages = [float(re.sub(r"[^\d.]", "", row.locator(".widget-label").last.text_content()))
                   for row in pad.locator(".simpledl-pad-bar").all()]
    summary = pad.locator(".simpledl-pad-summary").text_content()
    return int(digit.text_content().strip()), percentages, summary




def test_notebook_09_pad_in_jupyterlab(chromium, tmp_path):
    committed = NOTEBOOK.read_bytes()
    lab = Lab(tmp_path)
    path = copy_notebook(lab.root)
    n_code_cells = sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
    ARTIFACTS.mkdir(exist_ok=True)
    page = None
    try:
        lab.start()
        page, problems = lab.open(chromium, path.name)

        run_all(page, n_code_cells)
        pad = page.locator(".simpledl-pad")
        pad.wait_for(timeout=60_000)
        # The notebook itself fed the pad a drawn 7 (and asked the learner's model last),
        # and the pad offers every digit model served, the learner's own included.
        digit, _, summary = read_answer(page, pad)
        assert (digit, "my-mlp" in summary) == (7, True), summary
        offered = [text.replace("\xa0", " ")  # ipywidgets shows spaces as no-break spaces
                   for text in pad.locator(".simpledl-pad-model option").all_text_contents()]
        assert offered == ["digits-cnn (default)", "digits-mlp", "my-mlp"], offered

        canvas = pad.locator(".simpledl-pad-canvas")
        seen = []
        for expected, strokes in DIGITS.items():
            pad.locator(".simpledl-pad-clear").click()
            page.wait_for_function("(e) => e.textContent.trim() === ''",
                                   arg=pad.locator(".simpledl-pad-digit").element_handle())
            draw(page, canvas, strokes)
            pad.locator(".simpledl-pad-predict").click()
            digit, percentages, summary = read_answer(page, pad)
            page.screenshot(path=str(ARTIFACTS / f"pad-browser-{expected}.png"))
            pad.screenshot(path=str(ARTIFACTS / f"pad-widget-{expected}.png"))
            seen.append((expected, digit, percentages, summary))
        for expected, digit, percentages, summary in seen:
            assert digit == expected, f"drew {expected}, the pad says {digit}: {percentages}"
            assert len(percentages) == 10 and int(np.argmax(percentages)) == digit
            assert sum(percentages) == pytest.approx(100, abs=1), percentages
            assert "digits-cnn" in summary  # the notebook left the selector on CNN
        assert not problems, problems
    finally:
        if page is not None:
            page.close()
        lab.stop()
        deadline = time.monotonic() + 30  # the stack gets its grace period to stop
        while (leftovers := lab.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.2)
        lab.kill_leftovers()
    assert NOTEBOOK.read_bytes() == committed, "the test changed the committed notebook"
    # The kernel went away with JupyterLab, and the stack it started went with it.
    assert not leftovers, f"processes left running after JupyterLab stopped: {leftovers}"
