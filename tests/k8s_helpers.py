"""Shared by the Kubernetes tests: the policy package and the rendered manifests.

``rendered(name)`` is ``kubectl kustomize k8s/<name>`` (rendered once per run), handed out
as a fresh copy each time so a test may break it on purpose.
"""

from __future__ import annotations

import copy
import functools
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"
if str(REPO) not in sys.path:  # k8s/ is a package of the checkout, not an installed one
    sys.path.insert(0, str(REPO))

from k8s import policy  # noqa: E402

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed"
)


@functools.cache
def _rendered(name: str) -> tuple[dict, ...]:
    return tuple(policy.render(K8S / name))


def rendered(name: str = "overlays/minikube") -> list[dict]:
    """The objects of a kustomization, as a fresh copy the test may change."""
    return copy.deepcopy(list(_rendered(name)))


def find(objects: list[dict], kind: str, name: str) -> dict:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KeyError(f"{kind}/{name} not rendered")


def find_prefix(objects: list[dict], kind: str, prefix: str) -> dict:
    """A generated object (ConfigMaps carry a hash suffix)."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(prefix)]
    assert len(matches) == 1, f"expected one {kind} named {prefix}*"
    return matches[0]


def container(objects: list[dict], deployment: str) -> dict:
    """The (first) container of a Deployment."""
    return find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
