"""Micro-batching: requests that arrive together share one forward pass.

A forward pass over 32 examples costs less than 32 passes over one (the matrix products
are the same calls with wider matrices), so under concurrent load the worker answers more
requests per second by stacking them. A batch never exceeds ``max_batch_size``.

Batches form on the event loop, without threads: :meth:`MicroBatcher.predict` queues an
example and asks the loop to run the pass *soon* (``loop.call_soon``), that is after every
call that is ready to run in the same turn of the loop has prepared and queued its own
example; while a pass runs, the next batch gathers. A lone request never waits for company.

Where the pass runs is chosen per model (``inline``): on the event loop when the pass is
cheap (the worker measures it while warming up: the course's models take 0.03-0.25 ms for
one example, less than a trip to a thread and back), else in ``executor``. A cheap pass
runs at once when the batcher is idle — nothing queued, no pass running, nobody announced:
gRPC hands the worker's loop about one call per turn, so waiting a turn for company formed
batches of 1.06 examples on average at 32 calls in flight and cost each call two more
turns of the loop (docs/benchmarks.md, "Serving").

Requests prepared in a thread (large images, see :mod:`services.worker.server`) announce
themselves while they are being prepared (:meth:`MicroBatcher.expecting`); a batch then
waits at most ``max_delay`` for them::

    with batcher.expecting() as ticket:
        x = await prepare_in_a_thread(request)        # decoding, preprocessing
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
    """Collects single examples for one model and runs them as batches.

    Args:
        model: the model to run.
        executor: where passes run that are too slow for the event loop.
        max_batch_size: most examples in one pass.
        max_delay: seconds the first example of a batch waits for requests that are
            still being prepared in a thread (:meth:`expecting`); never longer.
        observe: called with ``(batch_size, seconds)`` after each pass (for metrics).
        inline: run passes on the event loop (True) or in ``executor`` (False).
    """

    def __init__(
        self,
        model: ServedModel,
        executor: Executor,
        max_batch_size: int,
        max_delay: float,
        observe: Callable[[int, float], None] | None = None,
        inline: bool = False,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.model = model
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_delay = max_delay
        self.observe = observe
        self.inline = inline
        self._pending: list[tuple[np.ndarray, asyncio.Future]] = []
        self._oldest = 0.0  # when the first pending example was queued
        self._expected = 0  # requests being prepared in a thread that will call predict
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._in_flight: asyncio.Future | None = None  # a pass running in the executor
        self._closed = False

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
                self._schedule()

    async def predict(self, x: np.ndarray, ticket: Ticket | None = None) -> np.ndarray:
        """The model's output column ``(n_out,)`` for one example ``x`` (model layout)."""
        if self._closed:
            raise RuntimeError("the worker is shutting down")
        if ticket is not None and not ticket.arrived:
            ticket.arrived = True
            self._expected -= 1
        if self.inline and self._idle():
            start = time.perf_counter()
            A = self.model.predict_proba(x)
            if self.observe is not None:
                self.observe(1, time.perf_counter() - start)
            return A[:, 0]
        future = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append((x, future))
        self._schedule()
        return await future

    def _idle(self) -> bool:
        return (not self._pending and self._flush_handle is None and self._in_flight is None
                and self._expected <= 0)

    def _schedule(self, delay: float = 0.0) -> None:
        """Have :meth:`_flush` run soon (after ``delay`` seconds), unless it will anyway.

        Without a delay, a flush that waits for announced requests is brought forward: one
        of them came or gave up, so :meth:`_flush` decides again."""
        if self._in_flight is not None or not self._pending:
            return
        if self._flush_handle is not None:
            if delay > 0 or not isinstance(self._flush_handle, asyncio.TimerHandle):
                return
            self._flush_handle.cancel()
        loop = asyncio.get_running_loop()
        self._flush_handle = (loop.call_later(delay, self._flush) if delay > 0
                              else loop.call_soon(self._flush))

    def _flush(self) -> None:
        """Start a pass over what is pending (or wait a little for expected requests)."""
        self._flush_handle = None
        if self._in_flight is not None or self._closed:
            return
        self._pending = [(x, f) for x, f in self._pending if not f.done()]  # callers gone
        if not self._pending:
            return
        if self._expected > 0 and len(self._pending) < self.max_batch_size:
            wait = self._oldest + self.max_delay - time.monotonic()
            if wait > 0:  # requests are being prepared in a thread: give them a moment
                self._schedule(wait)
                return
        batch = self._pending[:self.max_batch_size]
        self._pending = self._pending[self.max_batch_size:]
        self._oldest = time.monotonic()
        X = (batch[0][0] if len(batch) == 1
             else np.concatenate([x for x, _ in batch], axis=self.model.batch_axis))
        start = time.perf_counter()
        if self.inline:
            try:
                A = self.model.predict_proba(X)
            except Exception as e:
                self._fail(batch, e)
            else:
                self._deliver(batch, A, start)
            self._schedule()
            return
        self._in_flight = asyncio.get_running_loop().run_in_executor(
            self.executor, self.model.predict_proba, X)
        self._in_flight.add_done_callback(lambda done: self._finished(batch, done, start))

    def _finished(self, batch, done: asyncio.Future, start: float) -> None:
        self._in_flight = None
        if done.cancelled():
            self._fail(batch, RuntimeError("the worker is shutting down"))
        elif done.exception() is not None:
            self._fail(batch, done.exception())
        else:
            self._deliver(batch, done.result(), start)
        self._schedule()

    def _deliver(self, batch, A: np.ndarray, start: float) -> None:
        if self.observe is not None:
            self.observe(len(batch), time.perf_counter() - start)
        for i, (_, future) in enumerate(batch):
            if not future.done():
                future.set_result(A[:, i])

    def _fail(self, batch, error: BaseException) -> None:
        # one bad pass fails its own callers, not the batcher
        log.error("forward pass of %s failed for a batch of %d", self.model.name, len(batch),
                  exc_info=error)
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        """Fail whatever is still queued (call after the server finished calls in flight)."""
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._in_flight is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._in_flight
        for _, future in self._pending:
            if not future.done():
                future.set_exception(RuntimeError("the worker is shutting down"))
        self._pending.clear()
