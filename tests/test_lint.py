"""The code is ruff clean (rules in pyproject.toml), over exactly what `make lint` checks,
and `make lint` checks every directory that holds Python code."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Not the project's code: environments, build output, caches (all git-ignored).
NOT_CODE = {"build", "dist", "node_modules", "__pycache__"}


def lint_paths() -> list[str]:
    """The paths of the Makefile's ``lint`` verb (``ruff check <paths>``)."""
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no lint verb"
    command = re.search(r"ruff check (.+)", recipe[1])
    assert command, f"the lint verb does not run ruff check: {recipe[1]!r}"
    return command[1].split()


def python_directories() -> set[str]:
    """Top-level directories of this checkout with Python files anywhere below them."""
    found = set()
    for top in REPO.iterdir():
        if not top.is_dir() or top.name.startswith(".") or top.name in NOT_CODE:
            continue
        for _root, dirs, files in os.walk(top):
            dirs[:] = [
                d
                for d in dirs
                if not d.startswith(".") and d not in NOT_CODE and not d.endswith(".egg-info")
            ]
            if any(f.endswith(".py") for f in files):
                found.add(top.name)
                break
    return found


def test_make_lint_covers_every_python_directory():
    assert python_directories() <= set(lint_paths()), sorted(python_directories())


def test_ruff_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *lint_paths()],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
