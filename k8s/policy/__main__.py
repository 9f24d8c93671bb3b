"""``python -m k8s.policy [kustomization ... | -]``: the policy check from a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import check, parse, render

OVERLAYS = Path(__file__).resolve().parents[1] / "overlays"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m k8s.policy",
        description="Check rendered simpledl manifests against the project's policy rules.",
    )
    parser.add_argument(
        "kustomizations",
        nargs="*",
        help="kustomization directories, or - for rendered YAML on stdin "
        "(default: every overlay under k8s/overlays)",
    )
    args = parser.parse_args(argv)
    targets = args.kustomizations or sorted(
        str(p.parent) for p in OVERLAYS.glob("*/kustomization.yaml")
    )
    failed = False
    for target in targets:
        objects = parse(sys.stdin.read()) if target == "-" else render(target)
        problems = check(objects)
        print(f"{target}: {len(objects)} objects, {len(problems)} problems")
        for problem in problems:
            print(f"  {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
