"""Shared by the image tests: the scripts they drive and why they may not run here."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import images  # noqa: E402  (scripts/images.py)
import pods  # noqa: E402, F401  (scripts/pods.py; the tests import it from here)

ARTIFACTS = REPO / "artifacts"
HOW_TO_RUN = ("run them as root on Linux with buildah (or a Docker daemon), debootstrap, nginx "
              "and kubectl: `make sysdeps` installs the Debian packages, then `make test` "
              "(or .venv/bin/python -m pytest tests/images)")


def missing_requirements(builder: images.Builder | None) -> str | None:
    """Why the image tests cannot run here, or None."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the image tests need root on Linux (namespaces, chroot, mounts)"
    if builder is None:
        return images.how_to_get_a_builder()
    for tool in ("kubectl", "unshare", "nsenter", "mount", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None
