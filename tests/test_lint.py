"""The code is ruff clean (rules in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    paths = [
        p for p in ["dlcore", "services", "tests", "benchmarks", "scripts"] if (REPO / p).is_dir()
    ]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
