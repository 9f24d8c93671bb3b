"""The local launcher: the worker and the gateway as child processes on loopback ports.

From Python (the serving notebook, the integration tests)::

    from services.stack import Stack

    with Stack() as stack:              # starts both, waits until the page answers
        print(stack.url)                # http://127.0.0.1:<port>/  — the page
        ...                             # stack.api_url, stack.worker_target, ...
    # both processes are stopped here (and at interpreter exit, whatever happens)

With a model of your own beside the course's (notebook 9)::

    with Stack(extra_models=["my-models"]) as stack:   # my-models/my-mlp.npz + .json
        ...                             # POST /api/digits {"model": "my-mlp", ...}

From a terminal (``make stack``)::

    python -m services.stack            # prints the page URL; Ctrl+C stops everything
    python -m services.stack --extra-models my-models

Ports are free 127.0.0.1 ports picked at start (the page's port can be fixed with
``gateway_port`` / ``--port``). The children get their settings as ``WORKER_*`` and
``GATEWAY_*`` environment variables, exactly like the containers do; extra variables
can be passed with ``worker_env`` / ``gateway_env``. Start-up fails with
:class:`StackError` carrying the child's last log lines (for example the worker refusing
a model file with a bad checksum). On Linux the children also die with their parent.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


class StackError(RuntimeError):
    """A service of the stack failed to start (the message includes its log)."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on ``port`` (closed connections do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


# On Linux each child asks the kernel for SIGTERM when the launcher dies (prctl
# PR_SET_PDEATHSIG), as the first thing it does, then runs its module as `python -m`
# would. Not from a preexec_fn: that makes subprocess fork() instead of vfork(), and
# gRPC (1.81 and later) restarts its poller thread in a forked child, whose epoll file
# descriptor close_fds then closes — the child aborts ("epoll_wait error: Bad file
# descriptor") before it can exec; this launcher holds gRPC channels (worker_ready).
_RUN_DYING_WITH_PARENT = """\
import ctypes, os, runpy, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):  # the launcher died before the call above
    sys.exit(1)
module = sys.argv[2]
sys.argv = [module]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def child_command(python: str, module: str) -> list[str]:
    """The command line that runs ``python -m module`` as a child of this process."""
    if not sys.platform.startswith("linux"):
        return [python, "-m", module]
    return [python, "-c", _RUN_DYING_WITH_PARENT, str(os.getpid()), module]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET ``url`` (no proxies), or None if nothing answers."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def grpc_serving(target: str, service: str = "", timeout: float = 1.0) -> bool:
    """Whether the gRPC health check of ``service`` at ``target`` (``127.0.0.1:50051``,
    ``unix:/path``, any gRPC target) says SERVING; False if nothing answers in time."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


class _Child:
    """One service process and where its output goes."""

    def __init__(self, name: str, module: str, log_path: Path | None) -> None:
        self.name = name
        self.module = module
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, env: dict[str, str], python: str) -> None:
        out = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                child_command(python, self.module),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
            )
        finally:
            if out:
                out.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL at once (a crash, for reliability tests)."""
        if self.running:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(output went to the terminal)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"


class Stack:
    """Worker + gateway on 127.0.0.1, started together and stopped together.

    Args:
        models_dir: the models to serve (default: the repository's ``models/``).
        extra_models: further directories of models to serve beside them, e.g. a digit
            model of your own saved with ``dlcore.save_model(..., task="digits")``;
            requests name it by its file name. A name served twice stops the worker.
        gateway_port, worker_port, worker_metrics_port: fixed ports; 0 = a free one.
        worker_env, gateway_env: extra environment variables for one service (for example
            ``{"WORKER_BATCHING": "off"}`` or ``{"GATEWAY_URL_ALLOWLIST": "127.0.0.1"}``).
        log_dir: where ``worker.log`` and ``gateway.log`` go (default: a temporary
            directory); ``None`` with ``inherit_output=True`` prints to this terminal.
        startup_timeout: seconds each service gets to become ready.
        stop_grace: seconds each service gets to finish in-flight work when stopped.
    """

    def __init__(
        self,
        models_dir: str | os.PathLike | None = None,
        extra_models: Sequence[str | os.PathLike] = (),
        gateway_port: int = 0,
        worker_port: int = 0,
        worker_metrics_port: int = 0,
        worker_env: dict[str, str] | None = None,
        gateway_env: dict[str, str] | None = None,
        log_dir: str | os.PathLike | None = None,
        inherit_output: bool = False,
        startup_timeout: float = 60.0,
        stop_grace: float = 10.0,
        python: str = sys.executable,
    ) -> None:
        self.models_dir = Path(models_dir) if models_dir is not None else REPO / "models"
        if isinstance(extra_models, str | os.PathLike):
            extra_models = [extra_models]  # one directory, not its characters
        self.extra_models = [Path(d) for d in extra_models]
        self.gateway_port = gateway_port or free_port()
        self.worker_port = worker_port or free_port()
        self.worker_metrics_port = worker_metrics_port or free_port()
        self.worker_env = dict(worker_env or {})
        self.gateway_env = dict(gateway_env or {})
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.python = python
        if inherit_output:
            self.log_dir = None
        else:
            self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="simpledl-stack-"))
            self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (lambda name: self.log_dir / f"{name}.log") if self.log_dir else (lambda name: None)
        self.worker = _Child("worker", "services.worker", log("worker"))
        self.gateway = _Child("gateway", "services.gateway", log("gateway"))
        self._atexit_registered = False

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The page (and the gateway's root): ``http://127.0.0.1:<port>/``."""
        return f"http://{HOST}:{self.gateway_port}/"

    @property
    def api_url(self) -> str:
        return f"{self.url}api/"

    @property
    def worker_target(self) -> str:
        """The worker's gRPC address, ``127.0.0.1:<port>``."""
        return f"{HOST}:{self.worker_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://{HOST}:{self.worker_metrics_port}/metrics"

    # -- environment -----------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def worker_environment(self) -> dict[str, str]:
        """The ``WORKER_*`` variables the worker is started with."""
        extra = ({"WORKER_EXTRA_MODELS_DIRS": os.pathsep.join(map(str, self.extra_models))}
                 if self.extra_models else {})
        return {
            "WORKER_HOST": HOST,
            "WORKER_PORT": str(self.worker_port),
            "WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "WORKER_MODELS_DIR": str(self.models_dir),
            **extra,
            **self.worker_env,
        }

    def gateway_environment(self) -> dict[str, str]:
        """The ``GATEWAY_*`` variables the gateway is started with."""
        return {
            "GATEWAY_HOST": HOST,
            "GATEWAY_PORT": str(self.gateway_port),
            "GATEWAY_WORKER_TARGET": self.worker_target,
            "GATEWAY_SERVE_FRONTEND": "true",
            **self.gateway_env,
        }

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start the worker, wait for it, start the gateway, wait until ``/readyz`` is 200."""
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self.start_worker()
            self.start_gateway()
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, wait: bool = True) -> None:
        """(Re)start the worker on its port; by default wait until it reports SERVING."""
        if self.worker.running:
            raise StackError("the worker is already running")
        self.worker.start({**self._base_env(), **self.worker_environment()}, self.python)
        if wait:
            self._wait(self.worker, self.worker_ready, "report SERVING on gRPC health")

    def start_gateway(self, wait: bool = True) -> None:
        if self.gateway.running:
            raise StackError("the gateway is already running")
        self.gateway.start({**self._base_env(), **self.gateway_environment()}, self.python)
        if wait:
            self._wait(self.gateway, self.gateway_ready, f"answer 200 on {self.url}readyz")

    def stop_worker(self, grace: float | None = None) -> int | None:
        """SIGTERM the worker (graceful); its exit status."""
        return self.worker.stop(self.stop_grace if grace is None else grace)

    def kill_worker(self) -> None:
        """SIGKILL the worker, as if it crashed."""
        self.worker.kill()

    def stop(self) -> None:
        """Stop the gateway, then the worker (each gets ``stop_grace`` seconds)."""
        self.gateway.stop(self.stop_grace)
        self.worker.stop(self.stop_grace)
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- readiness -------------------------------------------------------------------------

    def worker_ready(self) -> bool:
        """Whether the worker's gRPC health check says SERVING."""
        return grpc_serving(self.worker_target)

    def gateway_ready(self) -> bool:
        return http_status(f"{self.url}readyz") == 200

    def _wait(self, child: _Child, ready, what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not child.running:
                code = child.process.returncode if child.process else None
                raise StackError(
                    f"the {child.name} exited with status {code} while starting; its output:\n"
                    f"{child.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.1)
        child.stop(self.stop_grace)
        raise StackError(
            f"the {child.name} did not {what} within {self.startup_timeout:g} s; its output:\n"
            f"{child.log_tail()}"
        )

    def __repr__(self) -> str:
        state = "running" if self.gateway.running and self.worker.running else "stopped"
        return f"Stack({self.url}, worker {self.worker_target}, {state})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.stack",
        description="Run the worker and the gateway on 127.0.0.1 until Ctrl+C.",
    )
    parser.add_argument("--port", type=int, default=None,
                        help="the page's port (default: 8000 if free, else any free port)")
    parser.add_argument("--models-dir", default=None, help="models to serve (default: models/)")
    parser.add_argument("--extra-models", action="append", default=[], metavar="DIR",
                        help="a further directory of models to serve (may be repeated)")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else (8000 if port_is_free(8000) else 0)
    stack = Stack(models_dir=args.models_dir, extra_models=args.extra_models, gateway_port=port,
                  inherit_output=True)
    try:
        stack.start()
    except StackError as e:
        print(f"simpledl stack: {e}", file=sys.stderr)
        return 1
    print(
        f"\nsimpledl stack is up:\n"
        f"  page      {stack.url}\n"
        f"  API docs  {stack.url}docs\n"
        f"  worker    {stack.worker_target} (gRPC), metrics {stack.worker_metrics_url}\n"
        f"Press Ctrl+C to stop.\n",
        flush=True,
    )
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    try:
        while not stopping:
            if not (stack.worker.running and stack.gateway.running):
                print("simpledl stack: a service stopped unexpectedly; shutting down",
                      file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        print("simpledl stack: stopping ...", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
