"""The micro-batcher: examples queued together share one pass, a lone one never waits,
each caller gets its own column, a failing pass fails only its own callers."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from services.worker.batching import MicroBatcher


class Model:
    """Stands in for a ServedModel: columns layout, output = 2 * input, passes recorded."""

    name = "fake"
    batch_axis = -1

    def __init__(self, fail_when=None) -> None:
        self.batches: list[int] = []
        self.threads: list[str] = []
        self.fail_when = fail_when

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self.batches.append(X.shape[1])
        self.threads.append(threading.current_thread().name)
        if self.fail_when is not None and self.fail_when(X):
            raise ValueError("this pass fails")
        return 2 * X


def column(value: float) -> np.ndarray:
    return np.full((3, 1), value)


@pytest.fixture
def executor():
    with ThreadPoolExecutor(2, thread_name_prefix="inference") as pool:
        yield pool


def test_examples_queued_together_share_one_pass_in_the_thread_pool(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, 0.05, inline=False)
        outputs = await asyncio.gather(*(batcher.predict(column(i)) for i in range(10)))
        await batcher.close()
        return outputs

    outputs = asyncio.run(scenario())
    assert model.batches == [10]
    for i, output in enumerate(outputs):
        np.testing.assert_array_equal(output, np.full(3, 2.0 * i))  # each caller its column
    assert model.threads[0].startswith("inference")


def test_a_cheap_pass_runs_at_once_on_the_loop_when_the_batcher_is_idle(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, 0.05, inline=True)
        return await asyncio.gather(*(batcher.predict(column(i)) for i in range(3)))

    outputs = asyncio.run(scenario())
    assert model.batches == [1, 1, 1]
    assert model.threads == [threading.main_thread().name] * 3
    for i, output in enumerate(outputs):
        np.testing.assert_array_equal(output, np.full(3, 2.0 * i))


@pytest.mark.parametrize("inline", [True, False])
def test_examples_queued_while_a_request_is_announced_share_one_pass(executor, inline):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, max_delay=30.0, inline=inline)
        with batcher.expecting() as ticket:  # one is being prepared in a thread
            waiting = [asyncio.ensure_future(batcher.predict(column(i))) for i in range(4)]
            await asyncio.sleep(0.05)
            last = await batcher.predict(column(4), ticket)
        return [await w for w in waiting] + [last]

    outputs = asyncio.run(scenario())
    assert model.batches == [5]
    for i, output in enumerate(outputs):
        np.testing.assert_array_equal(output, np.full(3, 2.0 * i))


def test_a_batch_never_exceeds_the_limit(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 4, 0.05, inline=False)
        await asyncio.gather(*(batcher.predict(column(i)) for i in range(10)))

    asyncio.run(scenario())
    assert model.batches == [4, 4, 2]


def test_a_lone_example_does_not_wait_for_company(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, max_delay=30.0, inline=True)
        start = time.monotonic()
        for i in range(5):
            await batcher.predict(column(i))
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 30  # five passes, none waited for the delay
    assert model.batches == [1] * 5


def test_a_pass_waits_for_requests_announced_while_they_are_prepared(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, max_delay=30.0, inline=True)

        async def slow_caller():
            with batcher.expecting() as ticket:
                await asyncio.sleep(0.05)  # being prepared in a thread, say
                return await batcher.predict(column(1), ticket)

        return await asyncio.gather(slow_caller(), batcher.predict(column(0)))

    second, first = asyncio.run(scenario())
    assert model.batches == [2]  # the first waited for the announced one, not for 30 s
    np.testing.assert_array_equal(second, np.full(3, 2.0))


def test_an_announced_request_that_fails_to_arrive_does_not_hold_the_batch(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, max_delay=30.0, inline=True)

        async def failing_caller():
            with batcher.expecting():
                await asyncio.sleep(0.05)
                raise ValueError("the image could not be decoded")

        results = await asyncio.wait_for(asyncio.gather(
            failing_caller(), batcher.predict(column(0)), return_exceptions=True), 10)
        return results

    error, output = asyncio.run(scenario())
    assert isinstance(error, ValueError) and model.batches == [1]
    np.testing.assert_array_equal(output, np.zeros(3))


@pytest.mark.parametrize("inline", [True, False])
def test_a_failing_pass_fails_its_callers_and_the_next_pass_runs(executor, inline):
    model = Model(fail_when=lambda X: X[0, 0] == 7)

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, 0.05, inline=inline)
        failed = await asyncio.gather(*(batcher.predict(column(7 if i == 0 else i))
                                        for i in range(3)), return_exceptions=True)
        after = await batcher.predict(column(5))
        return failed, after

    failed, after = asyncio.run(scenario())
    if inline:  # each ran at once: only the bad one failed
        assert isinstance(failed[0], ValueError) and model.batches == [1, 1, 1, 1]
        np.testing.assert_array_equal(failed[2], np.full(3, 4.0))
    else:  # one pass for the three: all three failed
        assert all(isinstance(f, ValueError) for f in failed) and model.batches == [3, 1]
    np.testing.assert_array_equal(after, np.full(3, 10.0))


def test_callers_that_gave_up_are_left_out_of_the_pass(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, 0.05, inline=False)
        gone = asyncio.ensure_future(batcher.predict(column(9)))
        staying = asyncio.ensure_future(batcher.predict(column(1)))
        await asyncio.sleep(0)  # both queued
        gone.cancel()
        return await staying

    np.testing.assert_array_equal(asyncio.run(scenario()), np.full(3, 2.0))
    assert model.batches == [1]


def test_closing_fails_what_is_still_queued(executor):
    model = Model()

    async def scenario():
        batcher = MicroBatcher(model, executor, 32, max_delay=30.0, inline=True)
        with batcher.expecting():  # keeps the pass waiting
            waiting = asyncio.ensure_future(batcher.predict(column(1)))
            await asyncio.sleep(0.05)
            await batcher.close()
            with pytest.raises(RuntimeError, match="shutting down"):
                await waiting
            with pytest.raises(RuntimeError, match="shutting down"):
                await batcher.predict(column(2))

    asyncio.run(scenario())
    assert model.batches == []
