"""Plumbing the test suites share: free ports, small untrained models, the stack runner.

- :func:`free_port` / :func:`port_is_free`: the launcher's own (``services.stack``);
- :func:`make_tiny_models`: the served models (``cat``, ``digits-mlp``, ``digits-cnn``)
  with random weights, saved by ``dlcore.save_model`` with the served input layouts and
  cards, so a worker starts in a second and is exercised as in production (the
  ``tiny_models`` fixture in tests/conftest.py makes them once per run);
- :func:`started` and :func:`wait_until`: a :class:`services.stack.Stack` run with exactly
  the settings a test gives it, and waiting on its processes with their logs on failure;
- :class:`Terminal`: a text stream that says it is a terminal (for progress bars).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from services.stack import Stack, free_port, port_is_free

REPO = Path(__file__).resolve().parents[1]
SERVED_MODELS = ("cat", "digits-mlp", "digits-cnn")
SERVICE_PREFIXES = ("WORKER_", "GATEWAY_")

__all__ = [
    "REPO",
    "SERVED_MODELS",
    "Terminal",
    "free_port",
    "make_tiny_models",
    "port_is_free",
    "started",
    "wait_until",
]


class Terminal(io.StringIO):
    """A StringIO whose ``isatty()`` is True: stderr as an interactive terminal."""

    def isatty(self) -> bool:
        return True


def make_tiny_models(directory: Path) -> Path:
    """cat, digits-mlp and digits-cnn with random weights in ``directory`` (returned).

    Each card records its ``task`` ("cat", "digits"); the cards' test accuracies are made
    up (the CNN's the higher, as in ``models/``).
    """
    from dlcore import Dense, ReLU, Sequential, save_model
    from dlcore.conv import Conv2D, Flatten, MaxPool2D
    from dlcore.recipes.cats import CAT_INPUT
    from dlcore.recipes.digits import CNN_INPUT, MLP_INPUT

    rng = np.random.default_rng(0)
    digits = [str(d) for d in range(10)]
    cat = Sequential(
        [Dense(12288, 4, rng=rng), Dense(4, 1, activation="sigmoid", rng=rng)],
        loss="binary_cross_entropy",
    )
    mlp = Sequential(
        [Dense(784, 16, rng=rng), Dense(16, 10, activation="softmax", rng=rng)],
        loss="categorical_cross_entropy",
    )
    cnn = Sequential(
        [
            Conv2D(1, 2, 3, padding=1, rng=rng),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(2 * 14 * 14, 10, activation="softmax", rng=rng),
        ],
        loss="categorical_cross_entropy",
    )
    for model, name, layout, classes, task, accuracy in (
        (cat, "cat", CAT_INPUT, ["non-cat", "cat"], "cat", 0.5),
        (mlp, "digits-mlp", MLP_INPUT, digits, "digits", 0.5),
        (cnn, "digits-cnn", CNN_INPUT, digits, "digits", 0.6),
    ):
        save_model(
            model,
            directory / name,
            input=layout,
            classes=classes,
            task=task,
            metrics={"test_accuracy": accuracy},
        )
    return directory


@contextlib.contextmanager
def started(stack: Stack) -> Iterator[Stack]:
    """Start both services of ``stack`` without waiting for them, and stop them at the end
    whatever happens; the test waits on its own terms (:func:`wait_until`).

    They get exactly the ``WORKER_*`` / ``GATEWAY_*`` settings the Stack was given, none
    inherited from the shell running the tests. (``with Stack(...)`` instead starts them
    one after the other, each once the launcher finds it ready.)
    """
    inherited = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(SERVICE_PREFIXES)}
    try:
        try:
            stack.start_worker(wait=False)
            stack.start_gateway(wait=False)
        finally:
            os.environ.update(inherited)
        yield stack
    finally:
        stack.stop()


def wait_until(what: str, check: Callable[[], bool], stack: Stack, timeout: float = 120) -> None:
    """Poll ``check`` until it is true; fail with both services' logs if a service exits
    first or ``timeout`` seconds pass. Connection errors count as "not yet"."""
    import grpc

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        for child in (stack.worker, stack.gateway):
            if child.process is not None and not child.running:
                pytest.fail(
                    f"the {child.name} exited with status {child.process.returncode} while "
                    f"waiting for {what}:\n{child.log_tail()}"
                )
        try:
            if check():
                return
        except (OSError, grpc.RpcError) as e:
            last = e
        time.sleep(0.2)
    logs = "\n".join(f"--- {c.name}\n{c.log_tail()}" for c in (stack.worker, stack.gateway))
    pytest.fail(f"{what} did not succeed within {timeout:g} s (last error: {last})\n{logs}")
