"""JupyterLab and Chromium for the browser tests: a throw-away JupyterLab server, Debian's
Chromium through Playwright, and the page signals a test waits for.

Facts this relies on: ``../shared/notes/jupyterlab-pad-and-browser-tests.md`` (Chromium at
/usr/bin/chromium, never ``playwright install``; the settings that stop the news popup and
autosave; the three signals of an idle kernel; the exact "Run All Cells" menu item).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.stack import free_port, http_status

CHROMIUM = Path("/usr/bin/chromium")
# Quiet on a closed network.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-quic"]
SETTINGS = {  # JupyterLab user settings: no news popup over the page, no autosave
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
TIMEOUT_MS = 180_000  # a Run All that starts a stack, on a busy 2-core machine


@contextmanager
def chromium_browser(executable: Path = CHROMIUM) -> Iterator:
    """Debian's headless Chromium driven by Playwright; skips, saying how to install it.

    ``executable`` starts it another way (a script that runs /usr/bin/chromium inside a
    network namespace, say); the test still skips when /usr/bin/chromium is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium "
                    "(install it with: make sysdeps, or apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


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

    def open(self, browser, name: str) -> tuple:
        """``(page, problems)``: notebook ``name`` (under the lab's root) opened in a new
        Chromium page, its kernel idle; ``problems`` collects the page's JavaScript errors."""
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{self.url}/lab/tree/{name}?token={self.token}&reset")
        wait_for_idle_kernel(page)
        return page, problems

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])


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
