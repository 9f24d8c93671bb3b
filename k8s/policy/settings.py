"""The services' settings as the policy sees them: their names, and the rules between the
worker's and the gateway's settings that hold wherever the two run.

Rules (ids as printed): worker-target (the gateway dials the worker's gRPC port) and
keepalive (the gateway pings no more often than the worker accepts).
:func:`settings_problems` checks them for any pair of environments: the ConfigMaps
(``wiring.rule_settings_agree``), the services' settings defaults, the local launcher's.
:func:`environment_problems` checks an environment that is not the manifests' against
them, ports included (tests/test_deploy_consistency.py gives it the Python side's facts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from .manifests import Problem, Rendered

# Setting (environment variable) -> the container port it must equal.
PORT_SETTINGS = {
    "worker": {"WORKER_PORT": "grpc", "WORKER_METRICS_PORT": "metrics"},
    "gateway": {"GATEWAY_PORT": "http"},
}
HOST_SETTINGS = {"worker": "WORKER_HOST", "gateway": "GATEWAY_HOST"}
BODY_LIMIT_SETTING = "GATEWAY_MAX_BODY_BYTES"
WORKER_TARGET_SETTING = "GATEWAY_WORKER_TARGET"
WORKER_LB_POLICY_SETTING = "GATEWAY_WORKER_LB_POLICY"
MAX_CONNECTION_AGE_SETTING = "WORKER_MAX_CONNECTION_AGE_SECONDS"
DNS_INTERVAL_SETTING = "GATEWAY_WORKER_DNS_MIN_INTERVAL_SECONDS"
CLIENT_KEEPALIVE_SETTING = "GATEWAY_KEEPALIVE_TIME_SECONDS"
SERVER_MIN_PING_SETTING = "WORKER_KEEPALIVE_MIN_PING_INTERVAL_SECONDS"
SHUTDOWN_GRACE_SETTING = "WORKER_SHUTDOWN_GRACE_SECONDS"
# A gRPC target: [scheme:[//authority/]]host:port, e.g. dns:///worker-headless:50051.
TARGET = re.compile(
    r"(?:[a-z][a-z0-9+.-]*:(?://[^/]*/)?)?(?P<host>\[[^\]]*\]|[^:/]+):(?P<port>\d+)"
)


def settings_problems(
    worker: Mapping[str, str],
    gateway: Mapping[str, str],
    where: str = "settings",
    reaches: Callable[[str, int], int | None] | None = None,
) -> Iterator[Problem]:
    """The rules between the worker's and the gateway's settings, for any environment.

    Args:
        worker, gateway: ``WORKER_*`` / ``GATEWAY_*`` variables as text, e.g. a ConfigMap,
            or every setting's default.
        where: named in each complaint (``Deployment/gateway``, ``the launcher``).
        reaches: ``(host, port) -> the worker port`` a connection to the gateway's target
            arrives at (in a cluster: through the worker's Service; None when unknown).
            By default the target's port itself.
    """
    client = gateway.get(CLIENT_KEEPALIVE_SETTING)
    server = worker.get(SERVER_MIN_PING_SETTING)
    missing = [
        name
        for name, value in ((CLIENT_KEEPALIVE_SETTING, client), (SERVER_MIN_PING_SETTING, server))
        if value is None
    ]
    if missing:
        yield Problem("keepalive", where, f"not set, so not comparable: {', '.join(missing)}")
    elif float(client) < float(server):
        # A gRPC server answers pings faster than its minimum interval with GOAWAY.
        yield Problem(
            "keepalive",
            where,
            f"{CLIENT_KEEPALIVE_SETTING}={client} < {SERVER_MIN_PING_SETTING}={server}: the "
            "worker would answer the gateway's pings with GOAWAY too_many_pings",
        )

    target, port = gateway.get(WORKER_TARGET_SETTING, ""), worker.get("WORKER_PORT")
    match = TARGET.fullmatch(target)
    if match is None or port is None:
        yield Problem(
            "worker-target",
            where,
            f"{WORKER_TARGET_SETTING}={target!r}, WORKER_PORT={port}: expected a target "
            "host:port and the port the worker listens on",
        )
        return
    reached = (reaches or (lambda host, p: p))(match["host"], int(match["port"]))
    if reached is not None and str(reached) != port:
        yield Problem(
            "worker-target",
            where,
            f"{WORKER_TARGET_SETTING}={target} arrives at port {reached} of the worker, which "
            f"serves gRPC on WORKER_PORT={port}",
        )


def environment_problems(
    objects: list[dict], worker: Mapping[str, str], gateway: Mapping[str, str], source: str
) -> list[Problem]:
    """An environment the services run with outside the manifests (the settings' defaults,
    the local launcher's) against the manifests: the same ports, and settings that agree
    with each other (:func:`settings_problems`). ``source`` names it in the complaints."""
    rendered = Rendered(objects)
    problems = []
    for app, env in (("worker", worker), ("gateway", gateway)):
        manifest = rendered.env(app)
        for setting in PORT_SETTINGS[app]:
            if env.get(setting) != manifest.get(setting):
                problems.append(
                    Problem(
                        "config-ports",
                        source,
                        f"{setting}={env.get(setting)}, but the manifests set "
                        f"{manifest.get(setting)}",
                    )
                )
    return problems + list(settings_problems(worker, gateway, source))
