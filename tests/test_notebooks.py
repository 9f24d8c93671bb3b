"""The course notebooks are stored as clean top-to-bottom runs (nbval re-runs them in
`make test`; it only checks cells that carry an execution count, so a notebook stored
unexecuted would pass without checking anything)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))


def code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_as_a_clean_run(path):
    notebook = json.loads(path.read_text())
    assert notebook["metadata"].get("kernelspec", {}).get("name") == "python3", (
        "store the kernelspec, or JupyterLab opens a blocking 'Select Kernel' dialog"
    )
    assert "widgets" not in notebook["metadata"], "widget state is stored: execute without it"
    cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"execution counts {counts}"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"stored error output: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ignored_outputs_say_why(path):
    """Cells that skip nbval's output comparison carry a one-line reason."""
    for cell in code_cells(path):
        tags = cell.get("metadata", {}).get("tags", [])
        if "nbval-ignore-output" in tags or "nbval-skip" in tags:
            source = "".join(cell["source"])
            assert "# nbval:" in source, f"cell without a '# nbval: <reason>' line:\n{source}"


def test_notebooks_are_numbered_in_reading_order():
    numbers = [int(p.name.split("-")[0]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1))
