"""The manifests match the code: settings, ports and probes, checked on the real processes.

The worker and the gateway run here as local processes with exactly the environment the
rendered minikube manifests give their containers (the ConfigMaps), except for what
cannot hold outside a cluster, each overridden on purpose:

- ``WORKER_HOST`` / ``GATEWAY_HOST`` 0.0.0.0 -> 127.0.0.1 (tests listen on loopback only,
  STYLE.md);
- ``WORKER_MODELS_DIR`` /app/models (the image's path) -> this checkout's models/, or
  two small untrained models while models/ holds no trained ones;
- the host in ``GATEWAY_WORKER_TARGET`` (the headless Service name, cluster DNS only)
  -> 127.0.0.1; the ``dns:///`` scheme and the port stay.

Ports stay the manifests' ports (50051, 9464, 8000) unless one is taken on this machine;
then all of them move to free ports together and the test says so. Every probe path and
port the Deployments declare is then called (HTTP GET, or a gRPC health check) and must
succeed, as must the images' HEALTHCHECK commands. The static tests check that ports in
Services, containers, settings defaults, images and the launcher agree.
"""

from __future__ import annotations

import copy
import functools
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_helpers import load_policy

from services.gateway.settings import GatewaySettings
from services.worker.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"
HEALTHCHECK = REPO / "services" / "docker" / "healthcheck.py"

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed"
)


policy = load_policy()


@functools.cache
def _objects() -> tuple[dict, ...]:
    return tuple(policy.render(K8S / "overlays" / "minikube"))


def objects() -> list[dict]:
    return copy.deepcopy(list(_objects()))


def deployment(name: str) -> dict:
    for obj in objects():
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == name:
            return obj
    raise KeyError(name)


def container(name: str) -> dict:
    return deployment(name)["spec"]["template"]["spec"]["containers"][0]


def manifest_env(name: str) -> dict[str, str]:
    return policy.workload_env(deployment(name), objects())


def named_ports(name: str) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(name)["ports"]}


def service_ports(name: str) -> dict[str, int]:
    for obj in objects():
        if obj["kind"] == "Service" and obj["metadata"]["name"] == name:
            return {p["name"]: p["port"] for p in obj["spec"]["ports"]}
    raise KeyError(name)


def default(settings_class, field: str):
    return settings_class.model_fields[field].default


# --------------------------------------------------------------------------- static


@pytest.mark.parametrize(
    ("app", "settings_class", "prefix"),
    [("worker", WorkerSettings, "WORKER_"), ("gateway", GatewaySettings, "GATEWAY_")],
)
def test_every_configmap_setting_is_a_real_setting(app, settings_class, prefix, monkeypatch):
    """The settings ignore unknown variables (extra="ignore"): a typo would pass silently."""
    env = manifest_env(app)
    known = {prefix + name.upper() for name in settings_class.model_fields}
    ours = {key for key in env if key.startswith(prefix)}
    assert ours <= known, f"not settings of {app}: {sorted(ours - known)}"
    for key in list(os.environ):
        if key.startswith(prefix):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_class()
    for key in ours:
        value, text = getattr(settings, key.removeprefix(prefix).lower()), env[key]
        if isinstance(value, bool):
            read_as = text.lower() in ("1", "true", "on", "yes")
        elif isinstance(value, int | float | Path):
            read_as = type(value)(text)
        else:
            read_as = text
        assert value == read_as, f"{key}={text} read as {value!r}"


def test_ports_agree_everywhere():
    """Settings defaults = ConfigMap = container ports = Service ports = image EXPOSE."""
    worker_env, gateway_env = manifest_env("worker"), manifest_env("gateway")
    grpc_port = default(WorkerSettings, "port")
    metrics_port = default(WorkerSettings, "metrics_port")
    http_port = default(GatewaySettings, "port")
    assert (grpc_port, metrics_port, http_port) == (50051, 9464, 8000)

    assert int(worker_env["WORKER_PORT"]) == grpc_port
    assert int(worker_env["WORKER_METRICS_PORT"]) == metrics_port
    assert int(gateway_env["GATEWAY_PORT"]) == http_port
    assert named_ports("worker") == {"grpc": grpc_port, "metrics": metrics_port}
    assert named_ports("gateway") == {"http": http_port}
    assert service_ports("worker-headless") == {"grpc": grpc_port, "metrics": metrics_port}
    assert service_ports("gateway") == {"http": http_port}
    # The gateway dials the worker's port, in the cluster and by default.
    assert gateway_env["GATEWAY_WORKER_TARGET"].endswith(f":{grpc_port}")
    assert default(GatewaySettings, "worker_target").endswith(f":{grpc_port}")
    for image, ports in (("worker", {grpc_port, metrics_port}), ("gateway", {http_port})):
        text = (REPO / "services" / "docker" / f"{image}.Dockerfile").read_text()
        exposed = {int(p) for p in re.search(r"^EXPOSE (.+)$", text, re.M)[1].split()}
        assert exposed == ports, image


def test_probes_point_at_declared_ports_and_real_endpoints():
    worker, gateway = container("worker"), container("gateway")
    for probe in ("startupProbe", "readinessProbe"):
        assert worker[probe]["grpc"]["port"] == default(WorkerSettings, "port")
    assert worker["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    paths = {
        probe: gateway[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {
        "startupProbe": "/healthz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
    }
    from services.gateway.routes import ops

    assert {"/healthz", "/readyz", "/metrics"} <= {route.path for route in ops.routes}


def test_keepalive_settings_agree():
    """The gateway pings no more often than the worker accepts, in the channel options."""
    from services.gateway.worker_client import channel_options
    from services.worker.server import server_options

    env = {**manifest_env("worker"), **manifest_env("gateway")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        client = dict(channel_options(GatewaySettings()))
        server = dict(server_options(WorkerSettings()))
    assert (
        client["grpc.keepalive_time_ms"]
        >= server["grpc.http2.min_recv_ping_interval_without_data_ms"]
    )
    assert client["grpc.keepalive_permit_without_calls"] == 1
    assert server["grpc.keepalive_permit_without_calls"] == 1
    assert '"round_robin"' in client["grpc.service_config"]
    assert server["grpc.max_connection_age_ms"] == 1000 * float(
        env["WORKER_MAX_CONNECTION_AGE_SECONDS"]
    )
    # The defaults agree too (the launcher runs on them).
    assert default(GatewaySettings, "keepalive_time_seconds") >= default(
        WorkerSettings, "keepalive_min_ping_interval_seconds"
    )


def test_launcher_sets_the_settings_the_manifests_set():
    """services/stack.py configures the same variables, with the manifests' ports."""
    from services.stack import Stack

    worker_env, gateway_env = manifest_env("worker"), manifest_env("gateway")
    ports = named_ports("worker") | named_ports("gateway")
    stack = Stack(
        gateway_port=ports["http"],
        worker_port=ports["grpc"],
        worker_metrics_port=ports["metrics"],
        inherit_output=True,
    )
    launched_worker, launched_gateway = stack.worker_environment(), stack.gateway_environment()
    assert set(launched_worker) <= set(worker_env), set(launched_worker) - set(worker_env)
    assert set(launched_gateway) <= set(gateway_env), set(launched_gateway) - set(gateway_env)
    for key in ("WORKER_PORT", "WORKER_METRICS_PORT"):
        assert launched_worker[key] == worker_env[key], key
    assert launched_gateway["GATEWAY_PORT"] == gateway_env["GATEWAY_PORT"]
    # Both point the gateway at the worker's gRPC port (the launcher without DNS).
    assert launched_gateway["GATEWAY_WORKER_TARGET"].rsplit(":", 1)[1] == worker_env["WORKER_PORT"]
    assert gateway_env["GATEWAY_WORKER_TARGET"].rsplit(":", 1)[1] == worker_env["WORKER_PORT"]


def test_graceful_shutdown_fits_the_grace_period():
    spec = deployment("worker")["spec"]["template"]["spec"]
    sleep = container("worker")["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = float(manifest_env("worker")["WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert spec["terminationGracePeriodSeconds"] > sleep + grace


# --------------------------------------------------------------------------- live


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVED_MODELS = ("cat", "digits-mlp", "digits-cnn")


def models_dir(tmp: Path) -> Path:
    """This checkout's models/ (what the worker image carries) when it holds the trained
    models; otherwise two small untrained dlcore models — the settings, ports and probes
    checked here do not depend on the weights."""
    models = REPO / "models"
    if all((models / f"{name}.npz").is_file() for name in SERVED_MODELS):
        return models
    from dlcore import Dense, Sequential, save_model

    digits = [str(d) for d in range(10)]
    cat = Sequential([Dense(12288, 1, activation="sigmoid", rng=0)], "binary_cross_entropy")
    mlp = Sequential([Dense(784, 10, activation="softmax", rng=0)], "categorical_cross_entropy")
    save_model(cat, tmp / "cat", input={"shape": [12288]}, classes=["non-cat", "cat"])
    save_model(mlp, tmp / "digits-mlp", input={"shape": [784]}, classes=digits, task="digits")
    return tmp


class Processes:
    def __init__(self):
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, module: str, env: dict[str, str], log: Path) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "GATEWAY_"))}
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO,
            env={**base, **env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return self.logs[name].read_text()

    def stop(self, name: str, timeout: float) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def grpc_health(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=3).status


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Worker and gateway started with the manifests' environment; yields the ports."""
    worker_env, gateway_env = manifest_env("worker"), manifest_env("gateway")
    ports = {
        "grpc": int(worker_env["WORKER_PORT"]),
        "metrics": int(worker_env["WORKER_METRICS_PORT"]),
        "http": int(gateway_env["GATEWAY_PORT"]),
    }
    if not all(port_free(p) for p in ports.values()):
        taken = {k: v for k, v in ports.items() if not port_free(v)}
        ports = {name: free_port() for name in ports}
        warnings.warn(
            f"ports {taken} are in use on this machine; running on {ports} instead",
            stacklevel=1,
        )
    worker_env.update(
        WORKER_HOST="127.0.0.1",
        WORKER_PORT=str(ports["grpc"]),
        WORKER_METRICS_PORT=str(ports["metrics"]),
        WORKER_MODELS_DIR=str(models_dir(tmp_path_factory.mktemp("models"))),
    )
    target = gateway_env["GATEWAY_WORKER_TARGET"]
    assert target == "dns:///worker-headless:50051"
    gateway_env.update(
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(ports["http"]),
        GATEWAY_WORKER_TARGET=f"dns:///127.0.0.1:{ports['grpc']}",
    )
    logs = tmp_path_factory.mktemp("stack")
    procs = Processes()
    try:
        procs.start("worker", "services.worker", worker_env, logs / "worker.log")
        procs.start("gateway", "services.gateway", gateway_env, logs / "gateway.log")
        yield ports, procs
    finally:
        procs.stop_all()


def wait_for(what: str, check, procs: Processes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for name, proc in procs.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{procs.log(name)}")
        try:
            if check():
                return
        except (OSError, grpc.RpcError) as e:
            last = e
        time.sleep(0.2)
    logs = "\n".join(f"--- {n}\n{procs.log(n)}" for n in procs.procs)
    pytest.fail(f"{what} did not succeed within {timeout} s (last error: {last})\n{logs}")


def call_probe(probe: dict, ports: dict[str, int], container_ports: dict[str, int]) -> bool:
    """Run one Kubernetes probe against the local process: True on success."""
    if "grpc" in probe:
        port = probe["grpc"]["port"]
        name = {v: k for k, v in container_ports.items()}[port]
        status = grpc_health(ports[name], probe["grpc"].get("service", ""))
        return status == health_pb2.HealthCheckResponse.SERVING
    if "httpGet" in probe:
        port = probe["httpGet"]["port"]
        name = port if isinstance(port, str) else {v: k for k, v in container_ports.items()}[port]
        status, _ = http_get(ports[name], probe["httpGet"]["path"])
        return 200 <= status < 400  # what the kubelet counts as success
    raise AssertionError(f"unexpected probe kind: {probe}")


@pytest.mark.slow
def test_every_declared_probe_succeeds_on_the_real_processes(stack):
    ports, procs = stack
    for app in ("worker", "gateway"):
        c = container(app)
        declared = named_ports(app)
        # Startup first, given the whole startup budget; then readiness and liveness.
        wait_for(
            f"{app} startupProbe",
            lambda c=c, declared=declared: call_probe(c["startupProbe"], ports, declared),
            procs,
        )
        for probe in ("readinessProbe", "livenessProbe"):
            wait_for(
                f"{app} {probe}",
                lambda probe=probe, c=c, declared=declared: call_probe(c[probe], ports, declared),
                procs,
                timeout=30,
            )


@pytest.mark.slow
def test_image_healthchecks_succeed_on_the_real_processes(stack):
    """The HEALTHCHECK commands of the images, pointed at the local ports."""
    ports, procs = stack
    wait_for("gateway readiness", lambda: http_get(ports["http"], "/readyz")[0] == 200, procs)
    for args in (
        ["grpc", f"127.0.0.1:{ports['grpc']}"],
        ["http", f"http://127.0.0.1:{ports['http']}/healthz"],
    ):
        result = subprocess.run([sys.executable, str(HEALTHCHECK), *args], timeout=30)
        assert result.returncode == 0, args
    # and they fail when nothing answers
    dead = free_port()
    assert (
        subprocess.run(
            [sys.executable, str(HEALTHCHECK), "grpc", f"127.0.0.1:{dead}"], timeout=30
        ).returncode
        == 1
    )
    assert (
        subprocess.run(
            [sys.executable, str(HEALTHCHECK), "http", f"http://127.0.0.1:{dead}/healthz"],
            timeout=30,
        ).returncode
        == 1
    )


@pytest.mark.slow
def test_what_the_ingress_routes_is_served(stack):
    """/api (the Ingress's gateway route) answers; the 4 MiB limit is the gateway's."""
    ports, procs = stack
    wait_for("gateway readiness", lambda: http_get(ports["http"], "/readyz")[0] == 200, procs)
    status, body = http_get(ports["http"], "/api/models")
    assert status == 200, body
    assert b"digits" in body or b"cat" in body
    # Every other path the Ingress sends to the gateway exists there too.
    ingress = next(o for o in objects() if o["kind"] == "Ingress")
    to_gateway = [
        p["path"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
        if p["backend"]["service"]["name"] == "gateway" and p["path"] != "/api"
    ]
    assert to_gateway
    for path in to_gateway:
        assert http_get(ports["http"], path)[0] == 200, path
    # Not the page: the gateway runs with GATEWAY_SERVE_FRONTEND=false, nginx serves it.
    assert http_get(ports["http"], "/")[0] == 404
    # A body one byte over the limit the Ingress also allows: refused from its headers
    # (the gateway answers before the body is sent, so none is).
    limit = int(manifest_env("gateway")["GATEWAY_MAX_BODY_BYTES"])
    conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=10)
    conn.putrequest("POST", "/api/digits")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(limit + 1))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    # The worker's metrics endpoint (its liveness probe) is Prometheus text.
    status, body = http_get(ports["metrics"], "/metrics")
    assert status == 200 and b"# HELP" in body


@pytest.mark.slow
def test_worker_stops_within_its_grace_period(stack):
    """SIGTERM (what the kubelet sends after preStop) ends the worker cleanly in time."""
    ports, procs = stack
    wait_for("worker readiness", lambda: grpc_health(ports["grpc"]) == 1, procs)
    grace = deployment("worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    sleep = container("worker")["lifecycle"]["preStop"]["sleep"]["seconds"]
    start = time.monotonic()
    code = procs.stop("worker", timeout=grace - sleep)
    assert code == 0, procs.log("worker")
    assert time.monotonic() - start < grace - sleep
