"""How this stack is wired: the rules only simpledl's manifests can break.

What it knows about the stack (everything else is read from the manifests): the three
workloads are the pods labelled ``app.kubernetes.io/name`` worker, gateway and frontend;
the names of the settings the services read are in ``settings.py``.

Rules (ids as printed): workloads; config-ports (port settings = container ports =
Service targets, hosts 0.0.0.0); grpc-load-balancing (headless Service, ``dns:///``
target, round_robin, a maximum connection age, a DNS re-resolution interval no longer
than that age); worker-target and keepalive on the ConfigMaps (``settings.py``; the
target reaches the worker through its Service); routing (/api, /docs, /openapi.json to
the gateway, / to the page); body-size (proxy limit = gateway limit); graceful-shutdown
(grace period > preStop sleep + shutdown grace).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .manifests import (
    NAME_LABEL,
    Problem,
    Rendered,
    containers,
    namespace_of,
    parse_size,
    pod_spec,
    ref,
    service_target,
)
from .settings import (
    BODY_LIMIT_SETTING,
    DNS_INTERVAL_SETTING,
    HOST_SETTINGS,
    MAX_CONNECTION_AGE_SETTING,
    PORT_SETTINGS,
    SHUTDOWN_GRACE_SETTING,
    WORKER_LB_POLICY_SETTING,
    WORKER_TARGET_SETTING,
    settings_problems,
)

WORKLOADS = ("worker", "gateway", "frontend")
INGRESS_BODY_ANNOTATION = "nginx.ingress.kubernetes.io/proxy-body-size"
# The page, its API, and the API's docs (the page links to /docs).
ROUTES = {"/api": "gateway", "/docs": "gateway", "/openapi.json": "gateway", "/": "frontend"}


def rule_workloads(rendered: Rendered) -> Iterator[Problem]:
    for app in WORKLOADS:
        if app not in rendered.by_app:
            yield Problem("workloads", app, f"no workload with pods labelled {NAME_LABEL}={app}")


def rule_config_ports(rendered: Rendered) -> Iterator[Problem]:
    """Settings, container ports and Service ports agree."""
    for app, settings in PORT_SETTINGS.items():
        w = rendered.by_app.get(app)
        if w is None:
            continue
        env, ports = rendered.env(app), rendered.ports(w)
        for setting, port_name in settings.items():
            if setting not in env:
                yield Problem("config-ports", ref(w), f"{setting} is not set")
            elif port_name not in ports:
                yield Problem("config-ports", ref(w), f"no container port named {port_name}")
            elif str(ports[port_name]) != env[setting]:
                yield Problem(
                    "config-ports",
                    ref(w),
                    f"{setting}={env[setting]} but container port {port_name} is "
                    f"{ports[port_name]}",
                )
        host = env.get(HOST_SETTINGS[app])
        if host != "0.0.0.0":
            yield Problem(
                "config-ports",
                ref(w),
                f"{HOST_SETTINGS[app]}={host}: in a container the service must listen on 0.0.0.0",
            )
    for svc in rendered.of_kind("Service"):
        matched = rendered.workloads_behind(svc)
        if not matched:
            yield Problem("config-ports", ref(svc), "selects no pods of the stack")
            continue
        ports = rendered.ports(matched[0])
        for port in svc["spec"].get("ports", []):
            target = str(port.get("targetPort", port["port"]))
            if target not in ports:
                yield Problem(
                    "config-ports",
                    ref(svc),
                    f"targetPort {target} is not a port of {rendered.app_of(matched[0])}",
                )


def rule_grpc_load_balancing(rendered: Rendered) -> Iterator[Problem]:
    worker, gateway = rendered.by_app.get("worker"), rendered.by_app.get("gateway")
    if worker is None or gateway is None:
        return
    target = rendered.env("gateway").get(WORKER_TARGET_SETTING, "")
    match = re.fullmatch(r"dns:///([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)", target)
    if not match:
        yield Problem(
            "grpc-load-balancing",
            ref(gateway),
            f"{WORKER_TARGET_SETTING}={target!r}: expected dns:///<headless service>:<port> so "
            "the gateway resolves every worker pod",
        )
        return
    svc = rendered.service(match[1], namespace_of(worker))
    if svc is None:
        yield Problem("grpc-load-balancing", ref(gateway), f"no Service {match[1]}")
        return
    if svc["spec"].get("clusterIP") != "None":
        yield Problem(
            "grpc-load-balancing",
            ref(svc),
            "is not headless (clusterIP: None): the gateway's one HTTP/2 connection would "
            "stick to one worker pod",
        )
    if int(match[2]) not in [p["port"] for p in svc["spec"].get("ports", [])]:
        yield Problem("grpc-load-balancing", ref(svc), f"has no port {match[2]}")
    policy = rendered.env("gateway").get(WORKER_LB_POLICY_SETTING)
    if policy != "round_robin":
        yield Problem(
            "grpc-load-balancing",
            ref(gateway),
            f"{WORKER_LB_POLICY_SETTING}={policy}: pick_first would send every call to the "
            "first worker address",
        )
    age = rendered.env("worker").get(MAX_CONNECTION_AGE_SETTING)
    if age is None or float(age) <= 0:
        yield Problem(
            "grpc-load-balancing",
            ref(worker),
            f"{MAX_CONNECTION_AGE_SETTING} is not set > 0: the gateway would never re-resolve "
            "and pods the HPA adds would get no traffic",
        )
    interval = rendered.env("gateway").get(DNS_INTERVAL_SETTING)
    if age is not None and float(age) > 0 and (interval is None or float(interval) > float(age)):
        yield Problem(
            "grpc-load-balancing",
            ref(gateway),
            f"{DNS_INTERVAL_SETTING}={interval or 'unset (gRPC: 30)'} is longer than "
            f"{MAX_CONNECTION_AGE_SETTING}={age}: re-resolutions on aged connections wait for "
            "it, and new worker pods wait for traffic (benchmarks/scale_out.py)",
        )


def rule_settings_agree(rendered: Rendered) -> Iterator[Problem]:
    """worker-target and keepalive on the ConfigMaps; the target goes through a Service."""
    worker, gateway = rendered.by_app.get("worker"), rendered.by_app.get("gateway")
    if worker is None or gateway is None:
        return
    worker_ports = rendered.ports(worker)

    def reaches(host: str, port: int) -> int | None:
        svc = rendered.service(host.split(".")[0], namespace_of(worker))
        target = service_target(svc, port) if svc is not None else None
        return worker_ports.get(target) if target is not None else None

    yield from settings_problems(
        rendered.env("worker"), rendered.env("gateway"), ref(gateway), reaches
    )


def routes(rendered: Rendered) -> Iterator[tuple[str, str, str, int | str]]:
    """Every (router, path, service, port) the Ingresses and HTTPRoutes declare."""
    for ing in rendered.of_kind("Ingress"):
        for rule in ing["spec"].get("rules", []):
            for path in (rule.get("http") or {}).get("paths", []):
                svc = path["backend"]["service"]
                port = svc["port"].get("number", svc["port"].get("name"))
                yield ref(ing), path["path"], svc["name"], port
    for route in rendered.of_kind("HTTPRoute"):
        for rule in route["spec"].get("rules", []):
            for match in rule.get("matches", [{"path": {"value": "/"}}]):
                for backend in rule.get("backendRefs", []):
                    yield ref(route), match["path"]["value"], backend["name"], backend.get("port")


def rule_routing(rendered: Rendered) -> Iterator[Problem]:
    found = list(routes(rendered))
    if not found:
        yield Problem("routing", "stack", "no Ingress or HTTPRoute routes to the page")
        return
    for path, app in ROUTES.items():
        if not any(p == path and s == app for _, p, s, _ in found):
            yield Problem("routing", "stack", f"nothing routes {path} to the {app} Service")
    namespace = namespace_of(rendered.by_app.get("gateway", {}))
    for where, path, name, port in found:
        svc = rendered.service(name, namespace)
        if svc is None:
            yield Problem("routing", where, f"{path} goes to Service {name}, which does not exist")
        elif service_target(svc, port) is None:
            yield Problem("routing", where, f"{path} goes to {name}:{port}, not a port of {name}")


def rule_body_size(rendered: Rendered) -> Iterator[Problem]:
    gateway = rendered.by_app.get("gateway")
    if gateway is None:
        return
    limit = rendered.env("gateway").get(BODY_LIMIT_SETTING)
    if limit is None:
        yield Problem("body-size", ref(gateway), f"{BODY_LIMIT_SETTING} is not set")
        return
    limit = int(limit)
    for ing in rendered.of_kind("Ingress"):
        size = (ing["metadata"].get("annotations") or {}).get(INGRESS_BODY_ANNOTATION)
        if size is None:
            yield Problem(
                "body-size",
                ref(ing),
                f"no {INGRESS_BODY_ANNOTATION}: ingress-nginx would refuse bodies over 1 MiB "
                f"while the gateway accepts {limit} bytes",
            )
        elif parse_size(size) != limit:
            yield Problem(
                "body-size",
                ref(ing),
                f"{INGRESS_BODY_ANNOTATION}={size} ({parse_size(size)} bytes) but "
                f"{BODY_LIMIT_SETTING}={limit}",
            )
    policies = rendered.of_kind("ClientSettingsPolicy")
    for gw in rendered.of_kind("Gateway"):
        mine = [
            p
            for p in policies
            if namespace_of(p) == namespace_of(gw)
            and p["spec"].get("targetRef", {}).get("kind") == "Gateway"
            and p["spec"]["targetRef"].get("name") == gw["metadata"]["name"]
        ]
        if not mine:
            yield Problem(
                "body-size",
                ref(gw),
                "no ClientSettingsPolicy sets the body limit: the proxy would refuse bodies "
                f"over 1 MiB while the gateway accepts {limit} bytes",
            )
        for p in mine:
            size = (p["spec"].get("body") or {}).get("maxSize")
            if size is None or parse_size(size) != limit:
                yield Problem(
                    "body-size", ref(p), f"body.maxSize={size} but {BODY_LIMIT_SETTING}={limit}"
                )


def rule_graceful_shutdown(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
        grace_period = pod_spec(w).get("terminationGracePeriodSeconds", 30)
        for c in containers(w, init=False):
            sleep = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {})
            needed = sleep.get("seconds", 0)
            if rendered.app_of(w) == "worker":
                needed += float(rendered.env("worker").get(SHUTDOWN_GRACE_SETTING, 0))
            if grace_period <= needed:
                yield Problem(
                    "graceful-shutdown",
                    ref(w),
                    f"terminationGracePeriodSeconds {grace_period} <= preStop sleep + shutdown "
                    f"grace ({needed:g} s): in-flight requests would be killed",
                )


RULES = [
    rule_workloads,
    rule_config_ports,
    rule_grpc_load_balancing,
    rule_settings_agree,
    rule_routing,
    rule_body_size,
    rule_graceful_shutdown,
]
