"""Micro-batching: requests that arrive together share one forward pass.

A forward pass over 32 examples costs less than 32 passes over one (the matrix products
are the same calls with wider matrices), so under concurrent load the worker answers more
requests per second by stacking them. The price is the wait: the first request of a batch
waits at most ``max_delay`` for others to join, and a batch never exceeds
``max_batch_size``. While a pass runs, new requests queue up and form the next batch.

The wait only happens when it can pay off: callers announce a request while they are
still decoding and preprocessing it (:meth:`MicroBatcher.expecting`), and a batch is sent
at once when nobody else is on the way. A lone request therefore never waits — batching
costs nothing when the worker is idle (docs/serving.md has the measurements).

    with batcher.expecting() as ticket:
        x = prepare(request)                          # decoding, preprocessing
        probabilities = await batcher.predict(x, ticket)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

import numpy as np

from services.worker.models import ServedModel

log = logging.getLogger(__name__)


class Ticket:
    """A request announced to the batcher; ``arrived`` once it was queued."""

    __slots__ = ("arrived",)

    def __init__(self) -> None:
        self.arrived = False


class MicroBatcher:
    """Collects single examples for one model and runs them as batches off the event loop.

    Args:
        model: the model to run.
        executor: where forward passes run (never on the event loop).
        max_batch_size: most examples in one pass.
        max_delay: seconds the first example of a batch waits for more to arrive.
        observe: called with ``(batch_size, seconds)`` after each pass (for metrics).
    """

    def __init__(
        self,
        model: ServedModel,
        executor: Executor,
        max_batch_size: int,
        max_delay: float,
        observe: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.model = model
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_delay = max_delay
        self.observe = observe
        self._queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._expected = 0  # requests being prepared that will call predict soon

    @contextlib.contextmanager
    def expecting(self) -> Iterator[Ticket]:
        """Announce a request that is being prepared; pass the ticket to :meth:`predict`."""
        ticket = Ticket()
        self._expected += 1
        try:
            yield ticket
        finally:
            if not ticket.arrived:  # preparation failed: it will never come
                self._expected -= 1

    async def predict(self, x: np.ndarray, ticket: Ticket | None = None) -> np.ndarray:
        """The model's output column ``(n_out,)`` for one example ``x`` (model layout)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        if ticket is not None and not ticket.arrived:
            ticket.arrived = True
            self._expected -= 1
        self._queue.put_nowait((x, future))  # no await between the count and the queue
        return await future

    async def close(self) -> None:
        """Stop the batching task (call after the server has finished in-flight calls)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("the worker is shutting down"))

    async def _collect(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_delay
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            if self._expected <= 0:  # nobody else is on the way: do not wait
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return [(x, f) for x, f in batch if not f.done()]  # drop callers that gave up

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if not batch:
                continue
            X = np.concatenate([x for x, _ in batch], axis=self.model.batch_axis)
            start = time.perf_counter()
            try:
                A = await loop.run_in_executor(self.executor, self.model.predict_proba, X)
            except Exception as e:  # one bad pass fails its own callers, not the batcher
                log.exception("forward pass of %s failed for a batch of %d", self.model.name,
                              len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            if self.observe is not None:
                self.observe(len(batch), time.perf_counter() - start)
            for i, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(A[:, i])
