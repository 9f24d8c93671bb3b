"""The project's two package lists — pyproject.toml (pip) and environment.yml (conda) — agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(requirements: list[str], where: str) -> dict[str, str]:
    pins = {}
    for req in requirements:
        match = PIN.match(req.strip())
        if not match:
            raise AssertionError(f"{where}: {req!r} is not pinned exactly as 'name==version'")
        pins[normalise(match[1])] = match[2]
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = parse_pins(project["dependencies"], "pyproject dependencies")
    for extra, reqs in project["optional-dependencies"].items():
        reqs = [r for r in reqs if not r.startswith("simpledl[")]  # the 'all' meta-extra
        for name, version in parse_pins(reqs, f"pyproject extra {extra!r}").items():
            if pins.setdefault(name, version) != version:
                raise AssertionError(f"pyproject pins {name} twice: {pins[name]} and {version}")
    return pins


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        elif not re.match(r"^(python|pip)(=|$)", dep):
            conda.append(dep)
    pins = parse_pins(conda, "environment.yml conda")
    for name, version in parse_pins(pip, "environment.yml pip").items():
        if name in pins:
            raise AssertionError(f"environment.yml lists {name} for both conda and pip")
        pins[name] = version
    return pins


def test_environment_yml_and_pyproject_agree():
    ours, theirs = pyproject_pins(), environment_pins()
    only_pyproject = sorted(set(ours) - set(theirs))
    only_environment = sorted(set(theirs) - set(ours))
    versions = {n: (ours[n], theirs[n]) for n in set(ours) & set(theirs) if ours[n] != theirs[n]}
    assert not only_pyproject, f"in pyproject.toml but not environment.yml: {only_pyproject}"
    assert not only_environment, f"in environment.yml but not pyproject.toml: {only_environment}"
    assert not versions, f"pinned differently (pyproject, environment.yml): {versions}"


def test_drift_would_be_caught():
    """The comparison sees a version change and a missing package (guards the guard)."""
    assert parse_pins(["numpy==2.4.6"], "x") != parse_pins(["numpy==2.4.5"], "x")
    assert normalise("prometheus_client") == normalise("prometheus-client")
    try:
        parse_pins(["numpy>=2"], "x")
    except AssertionError as exc:
        assert "not pinned exactly" in str(exc)
    else:
        raise AssertionError("an unpinned requirement was accepted")


def test_python_version_agrees():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_python = next(
        d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")
    )
    assert project["requires-python"] == ">=" + conda_python.split("=", 1)[1]
