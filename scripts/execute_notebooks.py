"""Execute course notebooks top to bottom and store them with their outputs.

    python scripts/execute_notebooks.py [notebooks/NN-*.ipynb ...]   (default: all)

Runs each notebook in a fresh kernel from its own folder (as JupyterLab and nbval do),
without storing widget state (it would bloat the file and change on every run), with
each cell's stream output coalesced (a progress bar is stored finished), and
prints how long each took — the figures in the README's course table. Kernels get
``OPENBLAS_NUM_THREADS=1`` unless set, as in `make test`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        store_widget_state=False,
        # one stream output per cell: a text progress bar is stored as its finished line,
        # not as every redraw
        coalesce_streams=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str]) -> int:
    # the same BLAS threading as `make test`'s nbval run, so stored outputs are what it sees
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    paths = [Path(p) for p in argv] or sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
    for path in paths:
        seconds = execute(path)
        print(f"{path.name}: {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
