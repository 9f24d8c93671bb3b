"""An earlier commit's stack, served the same way, to measure a change against it in one run.

``RevisionStack("cce262f", models_dir)`` unpacks that commit's ``services/`` and ``dlcore/``
(``git archive``, nothing in the repository changes) into a temporary directory and starts
the stack there with *that commit's own launcher* (``services.stack.Stack``), the same
Python and packages as this run, its default settings apart from ``worker_env``, serving
``models_dir``. Its gateway and worker are measured like today's: same requests, same
rounds, CPU time from /proc.

Limits: the commit must have ``services.stack.Stack`` taking ``models_dir``, ``worker_env``
and ``log_dir`` (every commit since the launcher was written does), and its code must run
with today's installed packages and understand the model cards in ``models_dir``; if not,
it fails to start and the error carries its log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: what is unpacked from the commit: the services and the library they import
TREES = ("services", "dlcore")

# Runs in the unpacked directory (its cwd, first on sys.path): starts that commit's stack,
# prints its ports and process ids as one JSON line, and stops it when stdin closes.
_DRIVER = """\
import json, sys
from services.stack import Stack
stack = Stack(models_dir=sys.argv[1], log_dir=sys.argv[2], worker_env=json.loads(sys.argv[3]))
try:
    stack.start()
    print(json.dumps({"port": stack.gateway_port, "gateway": stack.gateway.process.pid,
                      "worker": stack.worker.process.pid}), flush=True)
    sys.stdin.read()
finally:
    stack.stop()
"""


class RevisionError(RuntimeError):
    """The commit cannot be found, unpacked or started (the message says which)."""


def resolve(rev: str, repo: Path = REPO) -> str:
    """The full commit id ``rev`` names (a hash, tag, branch, ``HEAD~3``, ...)."""
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                          cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise RevisionError(f"{rev!r} is not a commit of the repository in {repo}")
    return done.stdout.strip()


def unpack(commit: str, directory: Path, repo: Path = REPO) -> None:
    """Write :data:`TREES` as they are in ``commit`` into ``directory``."""
    archive = subprocess.Popen(["git", "archive", "--format=tar", commit, *TREES], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(directory, filter="data")
    if archive.wait() != 0:
        raise RevisionError(f"git archive {commit} failed: {archive.stderr.read().decode()}")


class RevisionStack:
    """The stack of commit ``rev`` on loopback (a context manager, like ``Stack``).

    Attributes, once started: ``commit`` (full id), ``label`` (``stack@<short id>``),
    ``gateway_port``, ``pids`` (``{"gateway": pid, "worker": pid}``).
    """

    def __init__(self, rev: str, models_dir: Path, worker_env: dict[str, str] | None = None,
                 log_dir: Path | None = None, repo: Path = REPO) -> None:
        self.commit = resolve(rev, repo)
        self.label = f"stack@{self.commit[:7]}"
        self.models_dir = Path(models_dir).resolve()
        self.worker_env = dict(worker_env or {})
        self.repo = repo
        self.log_dir = log_dir
        self.gateway_port = 0
        self.pids: dict[str, int] = {}
        self._tmp: Path | None = None
        self._driver: subprocess.Popen | None = None

    def start(self) -> RevisionStack:
        self._tmp = Path(tempfile.mkdtemp(prefix=f"simpledl-{self.commit[:7]}-"))
        try:
            code = self._tmp / "code"
            code.mkdir()
            unpack(self.commit, code, self.repo)
            logs = self.log_dir or self._tmp / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "PYTHONPATH": str(code)}
            errors = logs / "launcher.log"
            with open(errors, "wb") as stderr:
                self._driver = subprocess.Popen(
                    [sys.executable, "-c", _DRIVER, str(self.models_dir), str(logs),
                     json.dumps(self.worker_env)],
                    cwd=code, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=stderr, text=True,
                )
            line = self._driver.stdout.readline()
            if not line:
                self._driver.wait()
                raise RevisionError(f"the stack of {self.commit[:7]} did not start:\n"
                                    f"{errors.read_text(errors='replace')[-3000:]}")
            started = json.loads(line)
        except BaseException:
            self.stop()
            raise
        self.gateway_port = started["port"]
        self.pids = {"gateway": started["gateway"], "worker": started["worker"]}
        return self

    def stop(self) -> None:
        """Stop the stack (its launcher stops gateway and worker) and delete the code."""
        if self._driver is not None:
            if self._driver.poll() is None:
                self._driver.stdin.close()
                try:
                    self._driver.wait(60)
                except subprocess.TimeoutExpired:
                    self._driver.kill()
                    self._driver.wait()
            self._driver = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> RevisionStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
