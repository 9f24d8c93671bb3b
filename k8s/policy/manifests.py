"""Reading rendered manifests: what every rule looks up, and nothing about this stack.

``render`` runs ``kubectl kustomize``; the small functions below find pods, containers,
environments, ports and selectors in the parsed objects the way the kubelet and the
API server read them; :class:`Rendered` indexes one rendered kustomization for the rules.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

NAME_LABEL = "app.kubernetes.io/name"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


@dataclass(frozen=True)
class Problem:
    """One broken rule: which rule, which object, what is wrong."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule:<22} {self.where}: {self.message}"


def render(kustomization: str | os.PathLike) -> list[dict]:
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


class Rendered:
    """One rendered kustomization, indexed the way the rules look at it.

    Workloads are told apart by their pods' ``app.kubernetes.io/name`` label (their
    *app*): ``rendered.by_app["worker"]`` is the worker's Deployment.
    """

    def __init__(self, objects: list[dict]):
        self.objects = objects
        self.workloads = of_kind(objects, *WORKLOAD_KINDS)
        self.by_app = {pod_labels(w).get(NAME_LABEL): w for w in self.workloads}

    def of_kind(self, *kinds: str) -> list[dict]:
        return of_kind(self.objects, *kinds)

    def namespaces(self) -> list[str]:
        """The namespaces the workloads run in."""
        return sorted({namespace_of(w) for w in self.workloads})

    def selecting(self, kind: str, workload: dict, field: str) -> list[dict]:
        """The objects of ``kind`` in the workload's namespace whose ``spec.<field>`` label
        selector selects its pods (PodDisruptionBudgets, NetworkPolicies)."""
        return [
            o
            for o in self.of_kind(kind)
            if namespace_of(o) == namespace_of(workload)
            and selector_matches(o["spec"].get(field), pod_labels(workload))
        ]

    def app_of(self, workload: dict) -> str | None:
        return pod_labels(workload).get(NAME_LABEL)

    def env(self, app: str) -> dict[str, str]:
        """The environment of an app's container (empty when the app is missing)."""
        workload = self.by_app.get(app)
        return workload_env(workload, self.objects) if workload is not None else {}

    def ports(self, workload: dict | None) -> dict[str, int]:
        """The declared ports of a workload's (first) container; none without a workload."""
        return container_ports(containers(workload, init=False)[0]) if workload else {}

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

    def workloads_behind(self, svc: dict) -> list[dict]:
        """The workloads whose pods a Service selects."""
        selector = {"matchLabels": svc["spec"].get("selector") or {}}
        return [
            w
            for w in self.workloads
            if namespace_of(w) == namespace_of(svc) and selector_matches(selector, pod_labels(w))
        ]


def service_target(svc: dict, port: int | str) -> str | None:
    """The targetPort (number or name, as text) behind a Service's port (number or name)."""
    for p in svc["spec"].get("ports", []):
        if str(port) in (str(p["port"]), p.get("name")):
            return str(p.get("targetPort", p["port"]))
    return None
