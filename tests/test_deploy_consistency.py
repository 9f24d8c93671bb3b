"""The manifests match the code: its settings, its launcher, and its real processes.

The rules between the manifests themselves (ports = settings = Services, the headless
target, keepalive agreement, routes, body sizes, grace periods, the NetworkPolicy graph)
live in k8s/policy and are tested in tests/test_k8s.py. This module checks what only the
code can tell:

- every ConfigMap setting is a real setting of its service, read as written;
- the settings' defaults and the local launcher (services/stack.py) keep the policy's
  wiring rules against the manifests (``policy.environment_problems``: the same ports,
  the gateway dialling the worker's port, keepalive agreement), and the launcher sets no
  variable the manifests do not;
- the gRPC options the code builds carry the settings the policy compares;
- the worker and the gateway, run as local processes (``services.stack``) with exactly
  the environment the rendered minikube manifests give their containers, answer every
  probe the Deployments declare, the images' HEALTHCHECK commands, the paths the Ingress
  routes to the gateway, and stop within their grace period.

For the processes, what cannot hold outside a cluster is overridden on purpose:

- ``WORKER_HOST`` / ``GATEWAY_HOST`` 0.0.0.0 -> 127.0.0.1 (tests listen on loopback only,
  STYLE.md);
- ``WORKER_MODELS_DIR`` /app/models (the image's path) -> the untrained served models
  (``tiny_models``): the settings, ports and probes checked here do not depend on weights;
- the host in ``GATEWAY_WORKER_TARGET`` (the headless Service name, cluster DNS only)
  -> 127.0.0.1; the ``dns:///`` scheme and the port stay.

Ports stay the manifests' ports (50051, 9464, 8000) unless one is taken on this machine;
then all of them move to free ports together and the test says so.
"""

from __future__ import annotations

import http.client
import json
import os
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
from helpers import free_port, port_is_free, started, wait_until
from k8s_helpers import container, find, needs_kubectl, policy, rendered
from pydantic_core import PydanticUndefined

from services.gateway.settings import GatewaySettings
from services.stack import Stack
from services.worker.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[1]
HEALTHCHECK = REPO / "services" / "docker" / "healthcheck.py"
SETTINGS = {"worker": (WorkerSettings, "WORKER_"), "gateway": (GatewaySettings, "GATEWAY_")}

pytestmark = needs_kubectl


def manifest_env(app: str) -> dict[str, str]:
    objects = rendered()
    return policy.workload_env(find(objects, "Deployment", app), objects)


def named_ports(app: str) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(rendered(), app)["ports"]}


def launcher(ports: dict[str, int], **options) -> Stack:
    """services.stack on the given ports (named as the containers name them)."""
    return Stack(
        gateway_port=ports["http"],
        worker_port=ports["grpc"],
        worker_metrics_port=ports["metrics"],
        **options,
    )


def defaults(app: str) -> dict[str, str]:
    """Every setting's default, as the environment variable that would set it."""
    settings_class, prefix = SETTINGS[app]
    return {
        prefix + name.upper(): str(field.default)
        for name, field in settings_class.model_fields.items()
        if field.default is not PydanticUndefined
    }


# --------------------------------------------------------------------------- the code


@pytest.mark.parametrize("app", sorted(SETTINGS))
def test_every_configmap_setting_is_a_real_setting(app, monkeypatch):
    """The settings ignore unknown variables (extra="ignore"): a typo would pass silently."""
    settings_class, prefix = SETTINGS[app]
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


def test_the_settings_defaults_keep_the_wiring_rules():
    """Without the manifests (the launcher, `python -m services.worker`) the services use
    the manifests' ports, and the defaults agree with each other as the ConfigMaps do."""
    problems = policy.environment_problems(
        rendered(), defaults("worker"), defaults("gateway"), "the settings' defaults"
    )
    assert problems == [], "\n".join(map(str, problems))


def test_the_launcher_sets_what_the_manifests_set():
    """services/stack.py configures no variable the manifests leave out, and what it sets
    (over the defaults) keeps the wiring rules, given the manifests' ports."""
    stack = launcher(named_ports("worker") | named_ports("gateway"), inherit_output=True)
    launched = {"worker": stack.worker_environment(), "gateway": stack.gateway_environment()}
    for app, env in launched.items():
        extra = set(env) - set(manifest_env(app))
        assert not extra, f"the launcher sets {sorted(extra)}, which the {app} manifest does not"
    problems = policy.environment_problems(
        rendered(),
        defaults("worker") | launched["worker"],
        defaults("gateway") | launched["gateway"],
        "the launcher",
    )
    assert problems == [], "\n".join(map(str, problems))


def test_the_grpc_options_carry_the_settings_the_policy_compares():
    """The keepalive, balancing and connection-age values the policy checks in the
    ConfigMaps are the ones the code hands to gRPC."""
    from services.gateway.worker_client import channel_options
    from services.worker.server import server_options

    env = manifest_env("worker") | manifest_env("gateway")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        client = dict(channel_options(GatewaySettings()))
        server = dict(server_options(WorkerSettings()))

    def ms(setting: str) -> int:
        return int(1000 * float(env[setting]))

    assert client["grpc.keepalive_time_ms"] == ms("GATEWAY_KEEPALIVE_TIME_SECONDS")
    assert server["grpc.http2.min_recv_ping_interval_without_data_ms"] == ms(
        "WORKER_KEEPALIVE_MIN_PING_INTERVAL_SECONDS"
    )
    assert server["grpc.max_connection_age_ms"] == ms("WORKER_MAX_CONNECTION_AGE_SECONDS")
    balancing = json.loads(client["grpc.service_config"])["loadBalancingConfig"]
    assert balancing == [{env["GATEWAY_WORKER_LB_POLICY"]: {}}]
    # Pings on an idle connection: the client sends them, the server accepts them.
    assert client["grpc.keepalive_permit_without_calls"] == 1
    assert server["grpc.keepalive_permit_without_calls"] == 1


# --------------------------------------------------------------------------- live


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
def stack(tmp_path_factory, tiny_models):
    """Worker and gateway started with the manifests' environment; yields (ports, stack)."""
    worker_env, gateway_env = manifest_env("worker"), manifest_env("gateway")
    ports = {
        "grpc": int(worker_env["WORKER_PORT"]),
        "metrics": int(worker_env["WORKER_METRICS_PORT"]),
        "http": int(gateway_env["GATEWAY_PORT"]),
    }
    if not all(port_is_free(p) for p in ports.values()):
        taken = {k: v for k, v in ports.items() if not port_is_free(v)}
        ports = {name: free_port() for name in ports}
        warnings.warn(
            f"ports {taken} are in use on this machine; running on {ports} instead",
            stacklevel=1,
        )
    worker_env.update(
        WORKER_HOST="127.0.0.1",
        WORKER_PORT=str(ports["grpc"]),
        WORKER_METRICS_PORT=str(ports["metrics"]),
        WORKER_MODELS_DIR=str(tiny_models),
    )
    assert gateway_env["GATEWAY_WORKER_TARGET"] == "dns:///worker-headless:50051"
    gateway_env.update(
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(ports["http"]),
        GATEWAY_WORKER_TARGET=f"dns:///127.0.0.1:{ports['grpc']}",
    )
    local = launcher(
        ports,
        models_dir=tiny_models,
        worker_env=worker_env,
        gateway_env=gateway_env,
        log_dir=tmp_path_factory.mktemp("stack"),
    )
    # Not waiting for the launcher's idea of ready: the probes below are the test.
    with started(local):
        yield ports, local


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
    ports, local = stack
    for app in ("worker", "gateway"):
        c = container(rendered(), app)
        declared = named_ports(app)
        # Startup first, given the whole startup budget; then readiness and liveness.
        wait_until(
            f"{app} startupProbe",
            lambda c=c, declared=declared: call_probe(c["startupProbe"], ports, declared),
            local,
        )
        for probe in ("readinessProbe", "livenessProbe"):
            wait_until(
                f"{app} {probe}",
                lambda probe=probe, c=c, declared=declared: call_probe(c[probe], ports, declared),
                local,
                timeout=30,
            )


@pytest.mark.slow
def test_image_healthchecks_succeed_on_the_real_processes(stack):
    """The HEALTHCHECK commands of the images, pointed at the local ports."""
    ports, local = stack
    wait_until("gateway readiness", lambda: http_get(ports["http"], "/readyz")[0] == 200, local)

    def healthcheck(*args: str) -> int:
        return subprocess.run([sys.executable, str(HEALTHCHECK), *args], timeout=30).returncode

    assert healthcheck("grpc", f"127.0.0.1:{ports['grpc']}") == 0
    assert healthcheck("http", f"http://127.0.0.1:{ports['http']}/healthz") == 0
    # and they fail when nothing answers
    dead = free_port()
    assert healthcheck("grpc", f"127.0.0.1:{dead}") == 1
    assert healthcheck("http", f"http://127.0.0.1:{dead}/healthz") == 1


@pytest.mark.slow
def test_what_the_ingress_routes_is_served(stack):
    """Every path the Ingress sends to the gateway answers; the body limit is the gateway's."""
    ports, local = stack
    wait_until("gateway readiness", lambda: http_get(ports["http"], "/readyz")[0] == 200, local)
    routed = policy.routes(policy.Rendered(rendered()))
    to_gateway = {path for _, path, service, _ in routed if service == "gateway"}
    assert "/api" in to_gateway and len(to_gateway) > 1
    status, body = http_get(ports["http"], "/api/models")
    assert status == 200, body
    assert b"digits" in body or b"cat" in body
    for path in to_gateway - {"/api"}:
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
    ports, local = stack
    wait_until("worker readiness", lambda: grpc_health(ports["grpc"]) == 1, local)
    objects = rendered()
    grace = find(objects, "Deployment", "worker")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    sleep = container(objects, "worker")["lifecycle"]["preStop"]["sleep"]["seconds"]
    start = time.monotonic()
    code = local.stop_worker(grace=grace - sleep)
    assert code == 0, local.worker.log_tail()
    assert time.monotonic() - start < grace - sleep
