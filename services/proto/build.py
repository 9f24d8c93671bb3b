"""Regenerate the Python gRPC modules from ``inference.proto``.

    python -m services.proto.build            # rewrite services/proto/inference_pb2*.py
    python -m services.proto.build --check    # exit 1 if the committed files are stale

The generated files are committed so that the worker and gateway run without a build
step (and container images need no protoc); ``tests/services/test_proto.py`` runs the
check. Paths are relative to the repository root so the generated code imports
``services.proto.inference_pb2`` as a package module.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
REPO = PROTO_DIR.parents[1]
PROTO = "services/proto/inference.proto"
GENERATED = ["inference_pb2.py", "inference_pb2_grpc.py"]


def generate(out_root: Path) -> dict[str, bytes]:
    """Run protoc into ``out_root``; return ``{file name: contents}`` of the generated files."""
    from grpc_tools import protoc

    include = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{REPO}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        str(REPO / PROTO),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")
    out = out_root / "services" / "proto"
    return {name: (out / name).read_bytes() for name in GENERATED}


def stale_files() -> list[str]:
    """Names of generated files that differ from what protoc produces now."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    stale = []
    for name, content in fresh.items():
        path = PROTO_DIR / name
        if not path.exists() or path.read_bytes() != content:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(f"stale generated files: {', '.join(stale)}; run python -m services.proto.build")
            return 1
        print("generated gRPC modules are up to date")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in generate(Path(tmp)).items():
            (PROTO_DIR / name).write_bytes(content)
    print(f"wrote {', '.join(GENERATED)} in {PROTO_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
