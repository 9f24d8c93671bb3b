"""Progress bars for long work: one kind of bar, the same in a terminal and in a notebook.

Every ``progress`` argument in dlcore (``Sequential.fit``, the recipes,
``python -m dlcore.train``) and in the benchmarks means the same:

- ``True``: show the bar;
- ``False``: no bar;
- ``None``: tqdm decides — a bar when stderr is a terminal, none when it is a file, a pipe
  (CI logs) or a notebook.

The bar is tqdm's *text* bar (``tqdm.std``), written to stderr: stdout stays free for what a
command prints (metrics, JSON), and a notebook stored with its outputs shows the finished
bar as text. (``tqdm.auto`` would draw a notebook widget instead, which a stored notebook
shows as a view frozen at 0 %.) tqdm is imported on first use, so importing dlcore — as the
inference worker does — does not load it. Commands that log lines while a bar is drawn
print them with :func:`write`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress_bar(
    iterable: Iterable | None = None,
    *,
    progress: bool | None,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    unit_scale: bool = False,
    leave: bool = True,
) -> Any:
    """A tqdm text bar on stderr over ``iterable`` (or ``total`` manual ``update`` steps).

    Args:
        iterable: what to iterate over; ``None`` for a bar advanced with ``bar.update(n)``.
        progress: ``True`` show, ``False`` hide, ``None`` show only on a terminal.
        total: the number of steps (taken from ``len(iterable)`` when it has one).
        desc: the label in front of the bar, e.g. ``"training"``.
        unit: what one step is, e.g. ``"epoch"``.
        unit_scale: count in k, M, G ... of ``unit`` (e.g. bytes of a download, ``unit="B"``).
        leave: keep the finished bar on screen.

    A hidden bar still iterates and accepts ``update``, ``set_description`` and
    ``set_postfix``, so callers never branch on ``progress``.
    """
    from tqdm.std import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        leave=leave,
        file=sys.stderr,  # looked up now: a notebook or pytest may have replaced it
        disable=None if progress is None else not progress,
    )


def write(message: str) -> None:
    """Print ``message`` as a line on stderr above the bars being drawn, not through them."""
    from tqdm.std import tqdm

    tqdm.write(message, file=sys.stderr)
