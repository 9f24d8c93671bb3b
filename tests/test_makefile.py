"""The Makefile's verbs do what the README says: help lists them, a missing prerequisite
is named, and `make lab` really starts JupyterLab on the course, both editions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import free_port

REPO = Path(__file__).resolve().parents[1]


def make(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_help_lists_the_verbs():
    out = make("help").stdout
    for verb in ["lab", "exercises", "check-exercises", "test", "data", "install", "help"]:
        assert f"make {verb} " in out, out


def test_missing_python_is_named_with_a_fix(tmp_path):
    result = make("install", f"VENV={tmp_path / 'venv'}", "PYTHON=/nonexistent/python3")
    assert result.returncode != 0
    assert "'/nonexistent/python3' is missing or older than Python 3.11" in result.stdout
    assert "apt-get install python3" in result.stdout


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.slow
def test_make_lab_starts_jupyterlab(tmp_path):
    """`make lab` makes the exercise edition (kept where the learner changed it) and opens
    JupyterLab at the repository's root, on the first exercise notebook."""
    port, token = free_port(), "make-lab-test"
    lab_args = (
        f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} "
        f"--ServerApp.allow_root=True --LabApp.user_settings_dir={tmp_path}/settings "
        f"--LabApp.workspaces_dir={tmp_path}/workspaces"
    )
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={lab_args}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # a first `make lab` also installs nbgrader's build environment and makes the edition
        deadline = time.monotonic() + 180
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/status?token={token}"
                with urllib.request.urlopen(url, timeout=2) as response:
                    status = (response.status, json.load(response))
                    break
            except OSError:
                time.sleep(0.5)
        assert status is not None, "JupyterLab did not answer /api/status within 180 s"
        assert status[0] == 200 and "started" in status[1]
        def listing(path: str = "") -> dict[str, str]:
            url = f"http://127.0.0.1:{port}/api/contents/{path}?token={token}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return {item["name"]: item["type"] for item in json.load(response)["content"]}

        # the server's root holds both editions: the solved notebooks and the learner's
        root = listing()
        assert root.get("notebooks") == "directory" and root.get("exercises") == "directory"
        assert "README.md" in root
        solved = {p.name for p in (REPO / "notebooks").glob("[0-9]*.ipynb")}
        assert solved <= set(listing("notebooks"))
        made = {p.name for p in (REPO / "exercises").glob("[0-9]*.ipynb")}
        assert made and made <= solved and made <= set(listing("exercises"))
        # ... and opens on the exercise edition's first notebook
        first = min(made)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/?token={token}")
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=5)
        assert redirect.value.code == 302
        assert redirect.value.headers["Location"].startswith(f"/lab/tree/exercises/{first}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode is not None
