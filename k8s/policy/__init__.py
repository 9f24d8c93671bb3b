"""Static checks of the rendered simpledl manifests, beyond what checkov checks.

    python -m k8s.policy                              # every overlay under k8s/overlays
    python -m k8s.policy k8s/overlays/minikube        # one kustomization
    kubectl kustomize k8s/base | python -m k8s.policy -   # rendered YAML on stdin

(from the repository root). Prints one line per broken rule (``rule-id  Kind/name: what is
wrong``) and exits 1 if there are any. :func:`check` does the same for a list of parsed
objects; tests/test_k8s.py breaks each rule in a rendered manifest and expects its
complaint. It does not talk to a cluster and needs only PyYAML and ``kubectl kustomize``.

- ``manifests``: reading rendered objects (pods, containers, environments, selectors);
- ``wiring``: how this stack is wired (ports = settings = Services, the headless target
  and round-robin, routes, body sizes, grace periods);
- ``settings``: the setting names, and the rules between the worker's and the gateway's
  settings (the target reaches the worker's port, keepalive agreement) for any
  environment: :func:`settings_problems`, and :func:`environment_problems` for one that is
  not the manifests' (the services' settings defaults, the local launcher's);
- ``network``: the NetworkPolicy graph (who may reach whom);
- ``hygiene``: generic workload rules checkov does not check (startup probes, probe
  ports, runAsNonRoot, /tmp, disruption budgets, autoscaling, spreading, Pod Security).

The generic rules checkov does check (resources, image tags, the service account token,
most of the security context) are left to it: k8s/checkov.sh, run by ``make test``.
"""

from __future__ import annotations

from . import hygiene, network, wiring
from .manifests import Problem, Rendered, parse, parse_size, render, workload_env
from .settings import environment_problems, settings_problems
from .wiring import routes

RULES = [*wiring.RULES, *network.RULES, *hygiene.RULES]

__all__ = [
    "RULES",
    "Problem",
    "Rendered",
    "check",
    "environment_problems",
    "parse",
    "parse_size",
    "render",
    "routes",
    "settings_problems",
    "workload_env",
]


def check(objects: list[dict]) -> list[Problem]:
    """Every broken rule in a rendered kustomization (an empty list when all hold)."""
    rendered = Rendered(objects)
    return [problem for rule in RULES for problem in rule(rendered)]
