"""The course notebooks as stored: clean top-to-bottom runs that look right when opened.

nbval re-runs them in `make test`; it only checks cells that carry an execution count, so a
notebook stored unexecuted would pass without checking anything. What a learner sees when
opening a stored notebook must look right too: no error output, no progress bar stored as a
widget view (it shows "0%" without the kernel that drew it), no test plumbing in the code,
figures of a reasonable size.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MAX_PNG_BYTES = 250_000
#: the one widget a stored notebook may show (a picture of it sits beside it for static readers)
ALLOWED_WIDGETS = ("DigitPad",)


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
def test_untested_outputs_say_why_in_metadata_not_in_the_code(path):
    """A cell nbval does not compare carries its reason in metadata (``nbval_reason``);
    the code a learner reads carries no test plumbing."""
    for cell in code_cells(path):
        source = "".join(cell["source"])
        assert not re.search(r"#\s*nbval", source), f"test plumbing in teaching code:\n{source}"
        metadata = cell.get("metadata", {})
        tags = metadata.get("tags", [])
        if "nbval-ignore-output" in tags or "nbval-skip" in tags:
            reason = metadata.get("nbval_reason")
            assert isinstance(reason, str) and reason.strip(), (
                f"cell tagged {tags} without metadata 'nbval_reason':\n{source}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_widget_views_but_the_pad(path):
    """A progress bar stored as a widget view shows '0%' when the notebook is opened."""
    for cell in code_cells(path):
        for output in cell["outputs"]:
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                text = str(data.get("text/plain", ""))
                assert any(w in text for w in ALLOWED_WIDGETS), (
                    f"a stored widget view ({text[:60]!r}); store a text bar or a summary"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_are_a_sensible_size(path):
    for index, cell in enumerate(code_cells(path)):
        for output in cell["outputs"]:
            png = output.get("data", {}).get("image/png")
            if png:
                size = len(base64.b64decode("".join(png)))
                assert size <= MAX_PNG_BYTES, (
                    f"code cell {index}: a {size / 1000:.0f} KB PNG (at most "
                    f"{MAX_PNG_BYTES / 1000:.0f} KB): smaller figsize or dpi"
                )


def test_notebooks_are_numbered_in_reading_order():
    numbers = [int(p.name.split("-")[0]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1))
