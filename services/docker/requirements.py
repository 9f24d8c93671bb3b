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
        "tqdm",  # dlcore.data (flatten_images) imports it at module level
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
    # The course: dlcore, the notebooks' packages, and the served stack (notebook 8 starts
    # it and draws on the pad). Not the tests' or benchmarks' packages, nor grpcio-tools
    # (the generated gRPC modules are committed).
    "course": [
        "numpy",
        "h5py",
        "pillow",
        "tqdm",
        "matplotlib",
        "jupyterlab",
        "ipykernel",
        "ipywidgets",
        "ipycanvas",
        "grpcio",
        "grpcio-health-checking",
        "protobuf",
        "fastapi",
        "uvicorn",
        "httpx",
        "prometheus-client",
        "python-multipart",
        "pydantic",
        "pydantic-settings",
    ],
}


def normalize(name: str) -> str:
    """PEP 503 name normalisation: ``Pydantic_Settings`` -> ``pydantic-settings``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Path) -> dict[str, str]:
    """``{normalised name: "name==version"}`` for every pinned requirement in pyproject."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    found = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^;\s]+)", line.strip())
        if match:
            found[normalize(match[1])] = f"{match[1]}=={match[2]}"
    return found


def requirements(image: str, pyproject: Path) -> list[str]:
    """The ``name==version`` lines for ``image``; every name must be pinned in pyproject."""
    if image not in IMAGES:
        raise SystemExit(f"unknown image {image!r}; expected one of {', '.join(IMAGES)}")
    pinned = pins(pyproject)
    missing = [name for name in IMAGES[image] if normalize(name) not in pinned]
    if missing:
        raise SystemExit(f"not pinned with == in {pyproject}: {', '.join(missing)}")
    return [pinned[normalize(name)] for name in IMAGES[image]]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: requirements.py IMAGE [PYPROJECT]", file=sys.stderr)
        return 2
    pyproject = Path(argv[1]) if len(argv) == 2 else Path("pyproject.toml")
    print("\n".join(requirements(argv[0], pyproject)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
