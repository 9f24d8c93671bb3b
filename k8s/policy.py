"""Static policy check of the rendered simpledl manifests: the rules issue 8 asks for.

    python k8s/policy.py                              # every overlay under k8s/overlays
    python k8s/policy.py k8s/overlays/minikube        # one kustomization
    kubectl kustomize k8s/base | python k8s/policy.py -   # rendered YAML on stdin

Prints one line per broken rule (``rule-id  Kind/name: what is wrong``) and exits 1 if
there are any. ``check(objects)`` does the same for a list of already parsed objects;
tests/test_k8s.py breaks each rule in a rendered manifest and expects its complaint.

The rules (ids as printed): workloads, resources (requests and limits), probes (startup,
readiness and liveness present, on declared ports, liveness != readiness),
security-context (non-root UID > 10000, read-only root, no privilege escalation, drop
ALL, seccomp RuntimeDefault, no host namespaces), tmp-volume (a sized emptyDir on /tmp),
service-account-token (not mounted), network-policy (default deny; every pod selected;
sources and ports exactly as intended), pdb, hpa (CPU, minReplicas >= 2, no
spec.replicas on its target), anti-affinity, image-tag (tagged, never latest),
config-ports (settings = container ports = Service targets; hosts 0.0.0.0),
grpc-load-balancing (headless Service, dns:/// target, round_robin, max connection age),
keepalive (client pings no faster than the server accepts), routing (/api, /docs,
/openapi.json to the gateway, / to the page), body-size (proxy limit = gateway limit),
graceful-shutdown (grace period > preStop sleep + shutdown grace), pod-security
(namespace enforces "restricted").

What it knows about the stack (everything else is read from the manifests):
the three workloads are the pods labelled ``app.kubernetes.io/name`` worker, gateway and
frontend; only the gateway may reach the worker; only an ingress controller or Gateway
proxy from another namespace may reach the gateway and the frontend; the worker scales
with an HPA; the setting names the services read (``WORKER_PORT``, ``GATEWAY_PORT``, ...).
It does not talk to a cluster and needs only PyYAML and ``kubectl kustomize``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

K8S_DIR = Path(__file__).resolve().parent
NAME_LABEL = "app.kubernetes.io/name"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
MIN_UID = 10001  # "a UID above 10000"
WORKLOADS = ("worker", "gateway", "frontend")
# Who may open connections to whom. EDGE is an ingress controller or Gateway proxy in
# another namespace (a peer with a namespaceSelector naming that namespace).
EDGE = "edge"
ALLOWED_SOURCES = {"worker": {"gateway"}, "gateway": {EDGE}, "frontend": {EDGE}}
AUTOSCALED = {"worker"}
MIN_HPA_REPLICAS = 2
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
CLIENT_KEEPALIVE_SETTING = "GATEWAY_KEEPALIVE_TIME_SECONDS"
SERVER_MIN_PING_SETTING = "WORKER_KEEPALIVE_MIN_PING_INTERVAL_SECONDS"
SHUTDOWN_GRACE_SETTING = "WORKER_SHUTDOWN_GRACE_SECONDS"
INGRESS_BODY_ANNOTATION = "nginx.ingress.kubernetes.io/proxy-body-size"


@dataclass(frozen=True)
class Problem:
    """One broken rule: which rule, which object, what is wrong."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule:<22} {self.where}: {self.message}"


# --------------------------------------------------------------------------- reading


def render(kustomization: Path | str) -> list[dict]:
    """``kubectl kustomize <dir>``, parsed: the objects ``kubectl apply -k`` would send."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization} failed:\n{result.stderr}")
    return parse(result.stdout)


def parse(text: str) -> list[dict]:
    """Parse a multi-document YAML stream, dropping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def ref(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def namespace_of(obj: dict) -> str:
    return obj.get("metadata", {}).get("namespace", "default")


def of_kind(objects: Iterable[dict], *kinds: str) -> list[dict]:
    return [o for o in objects if o.get("kind") in kinds]


def pod_spec(workload: dict) -> dict:
    return workload.get("spec", {}).get("template", {}).get("spec", {})


def pod_labels(workload: dict) -> dict:
    return workload.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})


def containers(workload: dict, init: bool = True) -> list[dict]:
    spec = pod_spec(workload)
    found = list(spec.get("containers", []))
    if init:
        found += spec.get("initContainers", [])
    return found


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select ``labels``?"""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selects_everything(selector: dict | None) -> bool:
    return (
        selector is not None
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    )


def workload_env(workload: dict, objects: list[dict]) -> dict[str, str]:
    """The environment of a workload's first container: ConfigMap envFrom, then env."""
    env: dict[str, str] = {}
    maps = {
        (namespace_of(o), o["metadata"]["name"]): o.get("data", {})
        for o in of_kind(objects, "ConfigMap")
    }
    container = containers(workload, init=False)[0]
    for source in container.get("envFrom", []):
        name = (source.get("configMapRef") or {}).get("name")
        if name is not None:
            env.update(maps.get((namespace_of(workload), name), {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def container_ports(container: dict) -> dict[str, int]:
    """``{name or number as text: number}`` for every declared port."""
    ports: dict[str, int] = {}
    for port in container.get("ports", []):
        ports[str(port["containerPort"])] = port["containerPort"]
        if "name" in port:
            ports[port["name"]] = port["containerPort"]
    return ports


def parse_size(text: str | int) -> int:
    """nginx size syntax to bytes: ``4m`` -> 4194304, ``512k``, ``1g``, plain bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)\s*", str(text))
    if not match:
        raise ValueError(f"not an nginx size: {text!r} (expected e.g. 4m, 512k, 1048576)")
    number, unit = int(match[1]), match[2].lower()
    return number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


class Stack:
    """The rendered objects, indexed the way the rules look at them."""

    def __init__(self, objects: list[dict]):
        self.objects = objects
        self.workloads = of_kind(objects, *WORKLOAD_KINDS)
        self.by_app = {pod_labels(w).get(NAME_LABEL): w for w in self.workloads}

    def app_of(self, workload: dict) -> str | None:
        return pod_labels(workload).get(NAME_LABEL)

    def apps_selected(self, selector: dict | None, namespace: str) -> set[str]:
        return {
            self.app_of(w)
            for w in self.workloads
            if namespace_of(w) == namespace and selector_matches(selector, pod_labels(w))
        }

    def hpa_for(self, workload: dict) -> dict | None:
        for hpa in of_kind(self.objects, "HorizontalPodAutoscaler"):
            target = hpa.get("spec", {}).get("scaleTargetRef", {})
            if (
                namespace_of(hpa) == namespace_of(workload)
                and target.get("kind") == workload["kind"]
                and target.get("name") == workload["metadata"]["name"]
            ):
                return hpa
        return None

    def min_replicas(self, workload: dict) -> int:
        hpa = self.hpa_for(workload)
        if hpa is not None:
            return hpa["spec"].get("minReplicas", 1)
        return workload.get("spec", {}).get("replicas", 1)

    def service(self, name: str, namespace: str) -> dict | None:
        for svc in of_kind(self.objects, "Service"):
            if svc["metadata"]["name"] == name and namespace_of(svc) == namespace:
                return svc
        return None


# --------------------------------------------------------------------------- rules


def rule_workloads(stack: Stack) -> Iterator[Problem]:
    for app in WORKLOADS:
        if app not in stack.by_app:
            yield Problem("workloads", app, f"no workload with pods labelled {NAME_LABEL}={app}")


def rule_resources(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        for c in containers(w):
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (res.get(kind) or {}):
                        yield Problem(
                            "resources", ref(w), f"container {c['name']} has no {kind}.{resource}"
                        )


def probe_action(probe: dict) -> dict:
    return {k: v for k, v in probe.items() if k in ("httpGet", "grpc", "tcpSocket", "exec")}


def probe_port(probe: dict) -> int | str | None:
    for kind in ("httpGet", "grpc", "tcpSocket"):
        if kind in probe:
            return probe[kind].get("port")
    return None


def rule_probes(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        for c in containers(w, init=False):
            probes = {k: c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")}
            for name, probe in probes.items():
                if probe is None:
                    yield Problem("probes", ref(w), f"container {c['name']} has no {name}")
                    continue
                port = probe_port(probe)
                if port is not None and str(port) not in container_ports(c):
                    yield Problem(
                        "probes",
                        ref(w),
                        f"{c['name']} {name} uses port {port}, which the container does not "
                        f"declare ({sorted(container_ports(c))})",
                    )
            live, ready = probes["livenessProbe"], probes["readinessProbe"]
            if live and ready and probe_action(live) == probe_action(ready):
                yield Problem(
                    "probes",
                    ref(w),
                    f"container {c['name']}: liveness and readiness ask the same question "
                    f"({probe_action(live)}); a dependency outage would restart the pod",
                )


def effective(pod: dict, container: dict, key: str):
    """A securityContext field as the kubelet sees it (container overrides pod)."""
    value = (container.get("securityContext") or {}).get(key)
    if value is None:
        value = (pod.get("securityContext") or {}).get(key)
    return value


def rule_security_context(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        pod = pod_spec(w)
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(host):
                yield Problem("security-context", ref(w), f"{host} is true")
        for v in pod.get("volumes", []):
            if "hostPath" in v:
                yield Problem("security-context", ref(w), f"hostPath volume {v['name']}")
        for c in containers(w):
            sc = c.get("securityContext") or {}
            name = c["name"]
            if effective(pod, c, "runAsNonRoot") is not True:
                yield Problem("security-context", ref(w), f"{name}: runAsNonRoot is not true")
            uid = effective(pod, c, "runAsUser")
            if not isinstance(uid, int) or uid < MIN_UID:
                yield Problem(
                    "security-context", ref(w), f"{name}: runAsUser {uid} (need >= {MIN_UID})"
                )
            seccomp = effective(pod, c, "seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                yield Problem(
                    "security-context", ref(w), f"{name}: seccompProfile is not RuntimeDefault"
                )
            if sc.get("readOnlyRootFilesystem") is not True:
                yield Problem(
                    "security-context", ref(w), f"{name}: readOnlyRootFilesystem is not true"
                )
            if sc.get("allowPrivilegeEscalation") is not False:
                yield Problem(
                    "security-context", ref(w), f"{name}: allowPrivilegeEscalation is not false"
                )
            if sc.get("privileged"):
                yield Problem("security-context", ref(w), f"{name}: privileged")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                yield Problem("security-context", ref(w), f"{name}: capabilities do not drop ALL")
            if caps.get("add"):
                yield Problem(
                    "security-context", ref(w), f"{name}: adds capabilities {caps['add']}"
                )


def rule_tmp_volume(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        volumes = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
        for c in containers(w):
            if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
                continue
            mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
            volume = volumes.get(mounts.get("/tmp", ""))
            if volume is None or "emptyDir" not in volume:
                yield Problem(
                    "tmp-volume",
                    ref(w),
                    f"{c['name']} has a read-only root but no emptyDir mounted at /tmp",
                )
            elif not (volume["emptyDir"] or {}).get("sizeLimit"):
                yield Problem(
                    "tmp-volume", ref(w), f"{c['name']}: the /tmp emptyDir has no sizeLimit"
                )


def rule_service_account_token(stack: Stack) -> Iterator[Problem]:
    accounts = {
        (namespace_of(sa), sa["metadata"]["name"]): sa
        for sa in of_kind(stack.objects, "ServiceAccount")
    }
    for w in stack.workloads:
        pod = pod_spec(w)
        setting = pod.get("automountServiceAccountToken")
        if setting is None:
            sa = accounts.get((namespace_of(w), pod.get("serviceAccountName", "default")))
            setting = sa.get("automountServiceAccountToken") if sa else None
        if setting is not False:
            yield Problem(
                "service-account-token",
                ref(w),
                "automountServiceAccountToken is not false (the pods never call the API)",
            )


def classify_peer(stack: Stack, peer: dict, namespace: str) -> set[str]:
    """Which sources a NetworkPolicy peer admits: app names, EDGE, or a complaint."""
    if "ipBlock" in peer:
        return {f"ipBlock {peer['ipBlock'].get('cidr')}"}
    ns_selector = peer.get("namespaceSelector")
    pod_selector = peer.get("podSelector")
    if ns_selector is not None:
        if selects_everything(ns_selector):
            return {"every namespace"}
        names = (ns_selector.get("matchLabels") or {}).get("kubernetes.io/metadata.name")
        if names == namespace:
            return stack.apps_selected(pod_selector or {}, namespace) or {"nothing"}
        if pod_selector is None or selects_everything(pod_selector):
            return {"every pod of the selected namespaces"}
        return {EDGE}
    if pod_selector is None or selects_everything(pod_selector):
        return {"every pod of the namespace"}
    return stack.apps_selected(pod_selector, namespace) or {"nothing"}


def rule_network_policy(stack: Stack) -> Iterator[Problem]:
    policies = of_kind(stack.objects, "NetworkPolicy")
    for ns in sorted({namespace_of(w) for w in stack.workloads}):
        default_deny = [
            p
            for p in policies
            if namespace_of(p) == ns
            and selects_everything(p["spec"].get("podSelector"))
            and "Ingress" in p["spec"].get("policyTypes", [])
            and not p["spec"].get("ingress")
        ]
        if not default_deny:
            yield Problem(
                "network-policy",
                f"Namespace/{ns}",
                "no default-deny ingress policy (podSelector: {}, no ingress rules)",
            )
    for w in stack.workloads:
        app, ns, labels = stack.app_of(w), namespace_of(w), pod_labels(w)
        selecting = [
            p
            for p in policies
            if namespace_of(p) == ns
            and selector_matches(p["spec"].get("podSelector", {}), labels)
            and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        ]
        if not selecting:
            yield Problem("network-policy", ref(w), "no NetworkPolicy with Ingress selects it")
            continue
        ports = container_ports(containers(w, init=False)[0])
        sources: set[str] = set()
        for p in selecting:
            for rule in p["spec"].get("ingress") or []:
                if not rule.get("from"):
                    yield Problem(
                        "network-policy", ref(p), f"an ingress rule admits every source to {app}"
                    )
                for peer in rule.get("from") or []:
                    sources |= classify_peer(stack, peer, ns)
                for port in rule.get("ports") or []:
                    if str(port.get("port")) not in ports:
                        yield Problem(
                            "network-policy",
                            ref(p),
                            f"admits port {port.get('port')}, which {app} does not declare",
                        )
                if not rule.get("ports"):
                    yield Problem(
                        "network-policy", ref(p), f"an ingress rule opens every port of {app}"
                    )
        allowed = ALLOWED_SOURCES.get(app, set())
        if sources - allowed:
            yield Problem(
                "network-policy",
                ref(w),
                f"{app} is reachable from {sorted(sources - allowed)}; only {sorted(allowed)} may",
            )
        if allowed - sources:
            yield Problem(
                "network-policy",
                ref(w),
                f"{app} is not reachable from {sorted(allowed - sources)}, which needs it",
            )


def rule_pdb(stack: Stack) -> Iterator[Problem]:
    pdbs = of_kind(stack.objects, "PodDisruptionBudget")
    for w in stack.workloads:
        mine = [
            p
            for p in pdbs
            if namespace_of(p) == namespace_of(w)
            and selector_matches(p["spec"].get("selector"), pod_labels(w))
        ]
        if not mine:
            yield Problem("pdb", ref(w), "no PodDisruptionBudget selects its pods")
            continue
        spec = mine[0]["spec"]
        if isinstance(spec.get("minAvailable"), int):
            if spec["minAvailable"] >= stack.min_replicas(w):
                yield Problem(
                    "pdb",
                    ref(mine[0]),
                    f"minAvailable {spec['minAvailable']} >= {stack.min_replicas(w)} replicas: "
                    "no node could ever be drained",
                )
        elif spec.get("maxUnavailable") in (0, "0", "0%"):
            yield Problem("pdb", ref(mine[0]), "maxUnavailable 0: no node could ever be drained")


def rule_hpa(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        app, hpa = stack.app_of(w), stack.hpa_for(w)
        if hpa is None:
            if app in AUTOSCALED:
                yield Problem("hpa", ref(w), "no HorizontalPodAutoscaler scales it")
            continue
        if "replicas" in w.get("spec", {}):
            yield Problem(
                "hpa",
                ref(w),
                "has spec.replicas although an HPA scales it (every apply would reset the "
                "HPA's choice)",
            )
        spec = hpa["spec"]
        if spec.get("minReplicas", 1) < MIN_HPA_REPLICAS:
            yield Problem(
                "hpa", ref(hpa), f"minReplicas {spec.get('minReplicas', 1)} < {MIN_HPA_REPLICAS}"
            )
        if spec.get("maxReplicas", 0) <= spec.get("minReplicas", 1):
            yield Problem("hpa", ref(hpa), "maxReplicas leaves no room to scale")
        cpu = [
            m
            for m in spec.get("metrics", [])
            if m.get("type") == "Resource" and m.get("resource", {}).get("name") == "cpu"
        ]
        if not cpu:
            yield Problem("hpa", ref(hpa), "does not scale on CPU")


def rule_anti_affinity(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        if w["kind"] == "DaemonSet":
            continue
        labels = pod_labels(w)
        anti = (pod_spec(w).get("affinity") or {}).get("podAntiAffinity") or {}
        terms = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [
            t.get("podAffinityTerm", {})
            for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ]
        spread = [
            t
            for t in terms
            if t.get("topologyKey") == "kubernetes.io/hostname"
            and selector_matches(t.get("labelSelector"), labels)
        ]
        if not spread:
            yield Problem(
                "anti-affinity",
                ref(w),
                "no podAntiAffinity on kubernetes.io/hostname that selects its own pods",
            )


def rule_image_tags(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        for c in containers(w):
            image = c.get("image", "")
            if "@sha256:" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if tag is None:
                yield Problem("image-tag", ref(w), f"{c['name']}: image {image} has no tag")
            elif tag == "latest":
                yield Problem("image-tag", ref(w), f"{c['name']}: image {image} uses latest")


def rule_config_ports(stack: Stack) -> Iterator[Problem]:
    """Settings, container ports and Service ports agree."""
    for app, settings in PORT_SETTINGS.items():
        w = stack.by_app.get(app)
        if w is None:
            continue
        env = workload_env(w, stack.objects)
        ports = container_ports(containers(w, init=False)[0])
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
    for svc in of_kind(stack.objects, "Service"):
        selector = {"matchLabels": svc["spec"].get("selector") or {}}
        matched = [
            w
            for w in stack.workloads
            if namespace_of(w) == namespace_of(svc) and selector_matches(selector, pod_labels(w))
        ]
        if not matched:
            yield Problem("config-ports", ref(svc), "selects no pods of the stack")
            continue
        ports = container_ports(containers(matched[0], init=False)[0])
        for port in svc["spec"].get("ports", []):
            target = str(port.get("targetPort", port["port"]))
            if target not in ports:
                yield Problem(
                    "config-ports",
                    ref(svc),
                    f"targetPort {target} is not a port of {stack.app_of(matched[0])}",
                )


def rule_grpc_load_balancing(stack: Stack) -> Iterator[Problem]:
    worker, gateway = stack.by_app.get("worker"), stack.by_app.get("gateway")
    if worker is None or gateway is None:
        return
    target = workload_env(gateway, stack.objects).get(WORKER_TARGET_SETTING, "")
    match = re.fullmatch(r"dns:///([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)", target)
    if not match:
        yield Problem(
            "grpc-load-balancing",
            ref(gateway),
            f"{WORKER_TARGET_SETTING}={target!r}: expected dns:///<headless service>:<port> so "
            "the gateway resolves every worker pod",
        )
        return
    svc = stack.service(match[1], namespace_of(worker))
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
    policy = workload_env(gateway, stack.objects).get(WORKER_LB_POLICY_SETTING)
    if policy != "round_robin":
        yield Problem(
            "grpc-load-balancing",
            ref(gateway),
            f"{WORKER_LB_POLICY_SETTING}={policy}: pick_first would send every call to the "
            "first worker address",
        )
    worker_env = workload_env(worker, stack.objects)
    age = worker_env.get(MAX_CONNECTION_AGE_SETTING)
    if age is None or float(age) <= 0:
        yield Problem(
            "grpc-load-balancing",
            ref(worker),
            f"{MAX_CONNECTION_AGE_SETTING} is not set > 0: the gateway would never re-resolve "
            "and pods the HPA adds would get no traffic",
        )


def rule_keepalive(stack: Stack) -> Iterator[Problem]:
    """The gateway's pings are no more frequent than the worker accepts.

    A gRPC server answers pings that come faster than its minimum interval with GOAWAY
    ("too_many_pings") and drops the connection; both sides set the values explicitly so
    this can be checked here.
    """
    worker, gateway = stack.by_app.get("worker"), stack.by_app.get("gateway")
    if worker is None or gateway is None:
        return
    client = workload_env(gateway, stack.objects).get(CLIENT_KEEPALIVE_SETTING)
    server = workload_env(worker, stack.objects).get(SERVER_MIN_PING_SETTING)
    if client is None or server is None:
        missing = [
            name
            for name, value in (
                (CLIENT_KEEPALIVE_SETTING, client),
                (SERVER_MIN_PING_SETTING, server),
            )
            if value is None
        ]
        yield Problem("keepalive", "stack", f"not set explicitly: {', '.join(missing)}")
    elif float(client) < float(server):
        yield Problem(
            "keepalive",
            ref(gateway),
            f"{CLIENT_KEEPALIVE_SETTING}={client} < {SERVER_MIN_PING_SETTING}={server}: the "
            "worker would answer the gateway's pings with GOAWAY too_many_pings",
        )


def routes(stack: Stack) -> Iterator[tuple[str, str, str, int | str]]:
    """Every (router, path, service, port) the Ingresses and HTTPRoutes declare."""
    for ing in of_kind(stack.objects, "Ingress"):
        for rule in ing["spec"].get("rules", []):
            for path in (rule.get("http") or {}).get("paths", []):
                svc = path["backend"]["service"]
                port = svc["port"].get("number", svc["port"].get("name"))
                yield ref(ing), path["path"], svc["name"], port
    for route in of_kind(stack.objects, "HTTPRoute"):
        for rule in route["spec"].get("rules", []):
            for match in rule.get("matches", [{"path": {"value": "/"}}]):
                for backend in rule.get("backendRefs", []):
                    yield ref(route), match["path"]["value"], backend["name"], backend.get("port")


def rule_routing(stack: Stack) -> Iterator[Problem]:
    found = list(routes(stack))
    if not found:
        yield Problem("routing", "stack", "no Ingress or HTTPRoute routes to the page")
        return
    # The page, its API, and the API's docs (the page links to /docs).
    wanted = {"/api": "gateway", "/docs": "gateway", "/openapi.json": "gateway", "/": "frontend"}
    for path, app in wanted.items():
        if not any(p == path and s == app for _, p, s, _ in found):
            yield Problem("routing", "stack", f"nothing routes {path} to the {app} Service")
    namespace = namespace_of(stack.by_app.get("gateway", {}))
    for where, path, name, port in found:
        svc = stack.service(name, namespace)
        if svc is None:
            yield Problem("routing", where, f"{path} goes to Service {name}, which does not exist")
            continue
        ports = {str(p["port"]) for p in svc["spec"]["ports"]}
        ports |= {p["name"] for p in svc["spec"]["ports"] if "name" in p}
        if str(port) not in ports:
            yield Problem("routing", where, f"{path} goes to {name}:{port}, not a port of {name}")


def rule_body_size(stack: Stack) -> Iterator[Problem]:
    gateway = stack.by_app.get("gateway")
    if gateway is None:
        return
    limit = workload_env(gateway, stack.objects).get(BODY_LIMIT_SETTING)
    if limit is None:
        yield Problem("body-size", ref(gateway), f"{BODY_LIMIT_SETTING} is not set")
        return
    limit = int(limit)
    for ing in of_kind(stack.objects, "Ingress"):
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
    gateways = of_kind(stack.objects, "Gateway")
    policies = of_kind(stack.objects, "ClientSettingsPolicy")
    for gw in gateways:
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


def rule_graceful_shutdown(stack: Stack) -> Iterator[Problem]:
    for w in stack.workloads:
        grace_period = pod_spec(w).get("terminationGracePeriodSeconds", 30)
        for c in containers(w, init=False):
            sleep = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {})
            needed = sleep.get("seconds", 0)
            if stack.app_of(w) == "worker":
                needed += float(workload_env(w, stack.objects).get(SHUTDOWN_GRACE_SETTING, 0))
            if grace_period <= needed:
                yield Problem(
                    "graceful-shutdown",
                    ref(w),
                    f"terminationGracePeriodSeconds {grace_period} <= preStop sleep + shutdown "
                    f"grace ({needed:g} s): in-flight requests would be killed",
                )


def rule_pod_security_admission(stack: Stack) -> Iterator[Problem]:
    namespaces = {ns["metadata"]["name"]: ns for ns in of_kind(stack.objects, "Namespace")}
    for ns in sorted({namespace_of(w) for w in stack.workloads}):
        labels = namespaces.get(ns, {}).get("metadata", {}).get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            yield Problem(
                "pod-security",
                f"Namespace/{ns}",
                "does not enforce the restricted Pod Security Standard",
            )


RULES = [
    rule_workloads,
    rule_resources,
    rule_probes,
    rule_security_context,
    rule_tmp_volume,
    rule_service_account_token,
    rule_network_policy,
    rule_pdb,
    rule_hpa,
    rule_anti_affinity,
    rule_image_tags,
    rule_config_ports,
    rule_grpc_load_balancing,
    rule_keepalive,
    rule_routing,
    rule_body_size,
    rule_graceful_shutdown,
    rule_pod_security_admission,
]


def check(objects: list[dict]) -> list[Problem]:
    """Every broken rule in a rendered stack (an empty list when all hold)."""
    stack = Stack(objects)
    return [problem for rule in RULES for problem in rule(stack)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "kustomizations",
        nargs="*",
        help="kustomization directories, or - for rendered YAML on stdin "
        "(default: every overlay under k8s/overlays)",
    )
    args = parser.parse_args(argv)
    targets = args.kustomizations or sorted(
        str(p.parent) for p in (K8S_DIR / "overlays").glob("*/kustomization.yaml")
    )
    failed = False
    for target in targets:
        objects = parse(sys.stdin.read()) if target == "-" else render(target)
        problems = check(objects)
        print(f"{target}: {len(objects)} objects, {len(problems)} problems")
        for problem in problems:
            print(f"  {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
