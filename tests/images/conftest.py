"""Fixtures for the image tests: the four images built, and the stack run from them.

The images are built once per session with ``scripts/images.py`` (Docker if a daemon
answers, otherwise buildah; layers and base images are reused from the last build, so a
second ``make test`` rebuilds only what changed). The stack runs from them with
``scripts/pods.py``: the pods' settings from ``kubectl kustomize k8s/base``, in a private
network namespace, behind Debian's nginx configured from the Ingress object.

Without root, a builder, kubectl or util-linux's unshare/nsenter these tests skip and
say how to run them. The build's output goes to ``artifacts/images-build.log``.
"""

from __future__ import annotations

import time

import pytest
from image_helpers import ARTIFACTS, HOW_TO_RUN, REPO, images, missing_requirements, pods


@pytest.fixture(scope="session")
def builder() -> images.Builder:
    found = images.detect_builder()
    reason = missing_requirements(found)
    if reason:
        pytest.skip(f"{reason}; {HOW_TO_RUN}")
    return found


@pytest.fixture(scope="session")
def built(builder) -> dict[str, images.Built]:
    """Every image of services/docker, built (or found up to date) for this session."""
    if not (REPO / "models" / "digits-cnn.npz").exists():
        pytest.skip("models/ holds no trained models (make models): the worker image needs them")
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "images-build.log"
    start = time.monotonic()
    with open(log_path, "w") as log:
        try:
            result = images.build(images.IMAGES, builder, log=log)
        except images.BuildError as error:
            log.flush()
            tail = log_path.read_text(errors="replace")[-6000:]
            pytest.fail(f"{error}\n--- the end of {log_path}:\n{tail}")
    print(f"\nimages: built or reused in {time.monotonic() - start:.0f} s "
          f"({builder.name}); {log_path}")
    return result


@pytest.fixture(scope="session")
def objects() -> list[dict]:
    """k8s/base as kustomize renders it."""
    return pods.render(REPO / "k8s" / "base")


@pytest.fixture(scope="session")
def image_ids(built) -> dict[str, str]:
    """Image name as the manifests write it (simpledl/worker:0.1.0) -> built image id."""
    return {b.tag: b.id for b in built.values()}
