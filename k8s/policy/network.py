"""Who may open connections to whom: the NetworkPolicy graph of the stack (rule id
network-policy).

Every namespace with workloads denies all ingress by default; every pod is selected by a
policy; each app is reachable from exactly the sources below, on ports it declares. EDGE
is an ingress controller or Gateway proxy in another namespace (a peer with a
namespaceSelector naming that namespace).
"""

from __future__ import annotations

from collections.abc import Iterator

from .manifests import (
    Problem,
    Rendered,
    namespace_of,
    ref,
    selects_everything,
)

EDGE = "edge"
ALLOWED_SOURCES = {"worker": {"gateway"}, "gateway": {EDGE}, "frontend": {EDGE}}


def classify_peer(rendered: Rendered, peer: dict, namespace: str) -> set[str]:
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
            return rendered.apps_selected(pod_selector or {}, namespace) or {"nothing"}
        if pod_selector is None or selects_everything(pod_selector):
            return {"every pod of the selected namespaces"}
        return {EDGE}
    if pod_selector is None or selects_everything(pod_selector):
        return {"every pod of the namespace"}
    return rendered.apps_selected(pod_selector, namespace) or {"nothing"}


def rule_network_policy(rendered: Rendered) -> Iterator[Problem]:
    policies = rendered.of_kind("NetworkPolicy")
    for ns in rendered.namespaces():
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
    for w in rendered.workloads:
        app, ns = rendered.app_of(w), namespace_of(w)
        selecting = [
            p
            for p in rendered.selecting("NetworkPolicy", w, "podSelector")
            if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        ]
        if not selecting:
            yield Problem("network-policy", ref(w), "no NetworkPolicy with Ingress selects it")
            continue
        ports = rendered.ports(w)
        sources: set[str] = set()
        for p in selecting:
            for rule in p["spec"].get("ingress") or []:
                if not rule.get("from"):
                    yield Problem(
                        "network-policy", ref(p), f"an ingress rule admits every source to {app}"
                    )
                for peer in rule.get("from") or []:
                    sources |= classify_peer(rendered, peer, ns)
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


RULES = [rule_network_policy]
