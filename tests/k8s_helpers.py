"""Shared by the Kubernetes tests: ``k8s/policy.py`` loaded as a module (``k8s/`` is not
a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

K8S = Path(__file__).resolve().parents[1] / "k8s"


def load_policy():
    """k8s/policy.py as the module ``k8s_policy``."""
    if "k8s_policy" not in sys.modules:
        spec = importlib.util.spec_from_file_location("k8s_policy", K8S / "policy.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["k8s_policy"] = module
        spec.loader.exec_module(module)
    return sys.modules["k8s_policy"]
