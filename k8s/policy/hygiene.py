"""Generic workload hygiene that checkov does not check (checkov 3.3.30, k8s/checkov.sh).

checkov runs in ``make test`` and covers resources, liveness and readiness probes being
present, image tags, the service account token, and most of the security context
(docs/deploy.md maps its check ids to the rules this module used to have). What it misses
stays here (ids as printed):

- probes: a startup probe is present, every probe uses a port the container declares,
  liveness and readiness ask different questions (a dependency outage must not restart
  the pod);
- security-context: ``runAsNonRoot`` is true (checkov accepts any non-zero
  ``runAsUser`` instead) and no hostPath volume is mounted;
- tmp-volume: a read-only root has a sized ``emptyDir`` on /tmp;
- pdb, hpa, anti-affinity: every workload survives a node drain (a PodDisruptionBudget
  that lets one pod go), the autoscaled apps have a CPU HPA with at least two replicas
  and no ``spec.replicas`` of their own, replicas spread over nodes;
- pod-security: every namespace with workloads enforces the restricted Pod Security
  Standard, so the API server refuses what the rules above and checkov would catch.
"""

from __future__ import annotations

from collections.abc import Iterator

from .manifests import (
    Problem,
    Rendered,
    container_ports,
    containers,
    pod_labels,
    pod_spec,
    ref,
    selector_matches,
)

AUTOSCALED = {"worker"}
MIN_HPA_REPLICAS = 2


def probe_action(probe: dict) -> dict:
    return {k: v for k, v in probe.items() if k in ("httpGet", "grpc", "tcpSocket", "exec")}


def probe_port(probe: dict) -> int | str | None:
    for kind in ("httpGet", "grpc", "tcpSocket"):
        if kind in probe:
            return probe[kind].get("port")
    return None


def rule_probes(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
        for c in containers(w, init=False):
            if c.get("startupProbe") is None:
                yield Problem("probes", ref(w), f"container {c['name']} has no startupProbe")
            for name in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = probe_port(c.get(name) or {})
                if port is not None and str(port) not in container_ports(c):
                    yield Problem(
                        "probes",
                        ref(w),
                        f"{c['name']} {name} uses port {port}, which the container does not "
                        f"declare ({sorted(container_ports(c))})",
                    )
            live, ready = c.get("livenessProbe"), c.get("readinessProbe")
            if live and ready and probe_action(live) == probe_action(ready):
                yield Problem(
                    "probes",
                    ref(w),
                    f"container {c['name']}: liveness and readiness ask the same question "
                    f"({probe_action(live)}); a dependency outage would restart the pod",
                )


def rule_security_context(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
        pod = pod_spec(w)
        for v in pod.get("volumes", []):
            if "hostPath" in v:
                yield Problem("security-context", ref(w), f"hostPath volume {v['name']}")
        for c in containers(w):
            non_root = (c.get("securityContext") or {}).get("runAsNonRoot")
            if non_root is None:  # the container's setting overrides the pod's
                non_root = (pod.get("securityContext") or {}).get("runAsNonRoot")
            if non_root is not True:
                yield Problem("security-context", ref(w), f"{c['name']}: runAsNonRoot is not true")


def rule_tmp_volume(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
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


def rule_pdb(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
        mine = rendered.selecting("PodDisruptionBudget", w, "selector")
        if not mine:
            yield Problem("pdb", ref(w), "no PodDisruptionBudget selects its pods")
            continue
        spec = mine[0]["spec"]
        if isinstance(spec.get("minAvailable"), int):
            if spec["minAvailable"] >= rendered.min_replicas(w):
                yield Problem(
                    "pdb",
                    ref(mine[0]),
                    f"minAvailable {spec['minAvailable']} >= {rendered.min_replicas(w)} "
                    "replicas: no node could ever be drained",
                )
        elif spec.get("maxUnavailable") in (0, "0", "0%"):
            yield Problem("pdb", ref(mine[0]), "maxUnavailable 0: no node could ever be drained")


def rule_hpa(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
        app, hpa = rendered.app_of(w), rendered.hpa_for(w)
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


def rule_anti_affinity(rendered: Rendered) -> Iterator[Problem]:
    for w in rendered.workloads:
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


def rule_pod_security_admission(rendered: Rendered) -> Iterator[Problem]:
    namespaces = {ns["metadata"]["name"]: ns for ns in rendered.of_kind("Namespace")}
    for ns in rendered.namespaces():
        labels = namespaces.get(ns, {}).get("metadata", {}).get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            yield Problem(
                "pod-security",
                f"Namespace/{ns}",
                "does not enforce the restricted Pod Security Standard",
            )


RULES = [
    rule_probes,
    rule_security_context,
    rule_tmp_volume,
    rule_pdb,
    rule_hpa,
    rule_anti_affinity,
    rule_pod_security_admission,
]
