"""Print the pinned requirements of one image, taken from pyproject.toml.

    python requirements.py worker  > requirements.txt    # in the Dockerfile's build stage

The pins live in one place, pyproject.toml; this only chooses which of them an image
installs, so the worker image carries no FastAPI and the gateway image no NumPy.
tests/images/ builds the images and starts each service from its image: a missing
package shows up there as an ImportError.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# Distribution names, as spelled in pyproject.toml. Their own dependencies come along.
IMAGES = {
    "worker": [
        "numpy",
        "pillow",
        "pyspng",
        "zlib-ng",
        "grpcio",
        "grpcio-health-checking",
        "protobuf",
        "prometheus-client",
        "pydantic",
        "pydantic-settings",
    ],
    "gateway": [
        "fastapi",
        "uvicorn",
        "uvloop",
        "httptools",
        "httpx",
        "python-multipart",
        "pillow",
        "grpcio",
        "grpcio-health-checking",
        "protobuf",
        "prometheus-client",
        "pydantic",
        "pydantic-settings",
    ],
    # The course: what dlcore needs, the notebooks' packages, and the served stack
    # (notebook 9 starts it and draws on the pad). Not the tests' or benchmarks'
    # packages, nor grpcio-tools (the generated gRPC modules are committed).
    # "." is the project's dependencies, "[x]" every pin of extra x, "-y" leaves y out.
    "course": [".", "[course]", "[serve]", "-grpcio-tools"],
}


def normalize(name: str) -> str:
    """PEP 503 name normalisation: ``Pydantic_Settings`` -> ``pydantic-settings``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Path) -> dict[str, str]:
    """``{normalised name: "name==version"}`` for every pinned requirement in pyproject."""
    return _pins(_project(pyproject))


def _pins(project: dict) -> dict[str, str]:
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return {normalize(name): line for name, line in _pinned(lines)}


def _project(pyproject: Path) -> dict:
    return tomllib.loads(pyproject.read_text())["project"]


def _pinned(lines: list[str]) -> list[tuple[str, str]]:
    """``(name, "name==version")`` for each line pinned with ``==``."""
    found = []
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^;\s]+)", line.strip())
        if match:
            found.append((match[1], f"{match[1]}=={match[2]}"))
    return found


def names(image: str, pyproject: Path) -> list[str]:
    """The distribution names ``image`` installs, its entries expanded."""
    return _names(image, _project(pyproject), pyproject)


def _names(image: str, project: dict, pyproject: Path) -> list[str]:
    chosen: list[str] = []
    for entry in IMAGES[image]:
        if entry == ".":
            chosen += [name for name, _ in _pinned(project.get("dependencies", []))]
        elif entry.startswith("["):
            extra = project.get("optional-dependencies", {}).get(entry.strip("[]"))
            if extra is None:
                raise SystemExit(f"{image}: no extra {entry} in {pyproject}")
            chosen += [name for name, _ in _pinned(extra)]
        elif entry.startswith("-"):
            chosen = [name for name in chosen if normalize(name) != normalize(entry[1:])]
        else:
            chosen.append(entry)
    unique = {normalize(name): name for name in chosen}
    return list(unique.values())


def requirements(image: str, pyproject: Path) -> list[str]:
    """The ``name==version`` lines for ``image``; every name must be pinned in pyproject."""
    if image not in IMAGES:
        raise SystemExit(f"unknown image {image!r}; expected one of {', '.join(IMAGES)}")
    project = _project(pyproject)
    pinned, wanted = _pins(project), _names(image, project, pyproject)
    missing = [name for name in wanted if normalize(name) not in pinned]
    if missing:
        raise SystemExit(f"not pinned with == in {pyproject}: {', '.join(missing)}")
    return [pinned[normalize(name)] for name in wanted]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: requirements.py IMAGE [PYPROJECT]", file=sys.stderr)
        return 2
    pyproject = Path(argv[1]) if len(argv) == 2 else Path("pyproject.toml")
    print("\n".join(requirements(argv[0], pyproject)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
