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

import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pytest
from stack_helpers import REPO

from services.stack import free_port, http_status

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = REPO / "notebooks" / "09-serve-and-draw.ipynb"
ARTIFACTS = REPO / "artifacts"
SETTINGS = {  # JupyterLab user settings: no news popup over the page, no autosave
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
TIMEOUT_MS = 180_000  # Run All starts the stack; on a busy 2-core machine that takes a while


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


class Lab:
    """JupyterLab on 127.0.0.1 in a throw-away home; every process it starts (kernel,
    stack) inherits ``SIMPLEDL_TEST_MARK`` so that leftovers can be found."""

    def __init__(self, base: Path) -> None:
        self.token = uuid.uuid4().hex
        self.mark = uuid.uuid4().hex
        self.port = free_port()
        self.root = base / "root"
        self.home = base / "home"
        self.log = base / "jupyterlab.log"
        self.process: subprocess.Popen | None = None
        for directory in (self.root, self.home):
            directory.mkdir()
        self.settings = base / "settings"
        for name, value in SETTINGS.items():
            path = self.settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "HOME": str(self.home), "SIMPLEDL_TEST_MARK": self.mark,
               "JUPYTER_CONFIG_DIR": str(self.home / ".jupyter"),
               "JUPYTER_RUNTIME_DIR": str(self.home / "runtime")}
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.allow_root=True",
            f"--LabApp.user_settings_dir={self.settings}",
            f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=self.root, env=env,
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while http_status(f"{self.url}/api/status?token={self.token}") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start; its log:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Terminate the server (it shuts its kernels down), then anything it left."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def leftovers(self) -> list[int]:
        """Processes still carrying this run's mark (a kernel, a worker, a gateway)."""
        found = []
        needle = f"SIMPLEDL_TEST_MARK={self.mark}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue  # gone already, or not ours to read
        return found

    def kill_leftovers(self) -> None:
        for pid in self.leftovers():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])


# -- the page ------------------------------------------------------------------------------


def wait_for_idle_kernel(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Idle needs three signals together: a kernel name in the toolbar (not No Kernel /
    Starting / Connecting), the execution indicator idle, and no ``[*]`` prompt."""
    page.wait_for_function(
        """() => {
            const name = document.querySelector('.jp-NotebookPanel-toolbar .jp-KernelName');
            const label = name ? name.textContent.trim() : '';
            if (!label || /No Kernel|Starting|Connecting|Unknown/i.test(label)) return false;
            const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
            if (!indicator || indicator.getAttribute('data-status') !== 'idle') return false;
            return ![...document.querySelectorAll('.jp-InputPrompt')]
                .some(p => p.textContent.includes('*'));
        }""",
        timeout=timeout_ms,
        polling=250,
    )


def run_all(page, n_code_cells: int) -> None:
    """Run > Run All Cells (exactly that item), then wait until the last cell has run."""
    page.locator(".lm-MenuBar-itemLabel").get_by_text("Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    last_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").nth(n_code_cells - 1)
    last_prompt.filter(has_text=f"[{n_code_cells}]").wait_for(timeout=TIMEOUT_MS)
    wait_for_idle_kernel(page)


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




def test_notebook_08_pad_in_jupyterlab(chromium, tmp_path):
    committed = NOTEBOOK.read_bytes()
    lab = Lab(tmp_path)
    path = copy_notebook(lab.root)
    n_code_cells = sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
    ARTIFACTS.mkdir(exist_ok=True)
    page = None
    try:
        lab.start()
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{lab.url}/lab/tree/{path.name}?token={lab.token}&reset")
        wait_for_idle_kernel(page)

        run_all(page, n_code_cells)
        pad = page.locator(".simpledl-pad")
        pad.wait_for(timeout=60_000)
        # The notebook itself fed the pad a drawn 7 (and asked the MLP last).
        digit, _, summary = read_answer(page, pad)
        assert (digit, "digits-mlp" in summary) == (7, True), summary

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
