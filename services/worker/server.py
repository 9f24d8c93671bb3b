"""The inference worker: a ``grpc.aio`` server for the ``Inference`` service and gRPC health.

Start-up order, so that nobody gets an answer from a half-loaded worker:

1. bind the port and start serving with health ``NOT_SERVING`` (the Inference calls
   answer ``UNAVAILABLE``);
2. load and verify every model of every models directory (off the event loop) and check
   names and default-model settings; a bad file, a name served twice or a default that
   is not served stops the worker with
   :class:`~services.worker.models.ModelLoadError` naming the file or the setting;
3. run a few forward passes per model (warm-up, timed), then switch health to
   ``SERVING``.

Each call takes the steps of :mod:`services.worker.classify` (the function the serving
benchmark's single-process baseline calls whole). Where each step runs is chosen for the
least CPU per answer without letting one call hold up the others:

- a drawing of up to :data:`INLINE_PIXELS` pixels (the page's 280x280 canvas: well under
  a millisecond) is decoded and preprocessed on the event loop — a trip to a thread and
  back, and the wake-ups of the loop it costs, took more CPU than the work itself
  (docs/benchmarks.md, "Serving"); larger drawings, cat photos and saliency maps go to
  the thread pool (``inference_threads``);
- the forward pass runs on the event loop for a model whose pass over one example takes
  less than :data:`INLINE_PASS_SECONDS` (timed during warm-up: the course's models), in
  the thread pool otherwise;
- with batching on, concurrent calls for the same model share one forward pass
  (:mod:`services.worker.batching`).

On shutdown, health turns ``NOT_SERVING``, new calls are refused and calls in flight get
``shutdown_grace_seconds``.

In-process use (tests)::

    worker = Worker(WorkerSettings(port=0, metrics_port=0, models_dir=...))
    await worker.start()          # worker.port is the bound port
    ...
    await worker.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from prometheus_client import start_http_server

from services import imaging
from services.logs import REQUEST_ID
from services.proto import MAX_MESSAGE_BYTES, inference_pb2, inference_pb2_grpc
from services.worker import classify, preprocess
from services.worker.batching import MicroBatcher
from services.worker.metrics import WorkerMetrics
from services.worker.models import (
    CAT,
    DIGITS,
    ServedModel,
    UnknownModel,
    load_models,
    resolve_model,
)
from services.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["Inference"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class NotReady(Exception):
    """The worker is starting or stopping."""


def server_options(settings: WorkerSettings) -> list[tuple[str, int]]:
    """gRPC channel arguments: connection age, keepalive, message size, no port sharing."""
    ms = lambda seconds: int(seconds * 1000)  # noqa: E731
    return [
        ("grpc.max_connection_age_ms", ms(settings.max_connection_age_seconds)),
        ("grpc.max_connection_age_grace_ms", ms(settings.max_connection_age_grace_seconds)),
        ("grpc.keepalive_time_ms", ms(settings.keepalive_time_seconds)),
        ("grpc.keepalive_timeout_ms", ms(settings.keepalive_timeout_seconds)),
        ("grpc.keepalive_permit_without_calls", 1),
        (
            "grpc.http2.min_recv_ping_interval_without_data_ms",
            ms(settings.keepalive_min_ping_interval_seconds),
        ),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # gRPC shares ports between processes by default on Linux; a second worker on a
        # busy port must fail instead of silently taking half the connections.
        ("grpc.so_reuseport", 0),
    ]


#: A model whose forward pass over one example takes less than this (timed while warming
#: up) runs its passes on the event loop: less CPU than a trip to a thread and back.
INLINE_PASS_SECONDS = 0.002
#: Drawings up to this many pixels are decoded and preprocessed on the event loop (a
#: 280x280 canvas takes well under a millisecond); larger ones in the thread pool, so
#: that one big image never holds up the calls behind it.
INLINE_PIXELS = 512 * 512


def on_the_loop(image: inference_pb2.Image) -> bool:
    """Whether ``image`` is small enough to be prepared on the event loop."""
    source = image.WhichOneof("source")
    if source == "pixels":
        return image.pixels.height * image.pixels.width <= INLINE_PIXELS
    if source == "encoded":
        pixels = imaging.png_pixel_count(image.encoded)
        return pixels is not None and pixels <= INLINE_PIXELS
    return True  # no image: refused at once


class InferenceServicer(inference_pb2_grpc.InferenceServicer):
    """ClassifyCat, ClassifyDigit and ListModels over the loaded models."""

    def __init__(
        self, settings: WorkerSettings, metrics: WorkerMetrics, executor: ThreadPoolExecutor
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.executor = executor
        self.models: dict[str, ServedModel] = {}
        self.batchers: dict[str, MicroBatcher] = {}
        self.inline: dict[str, bool] = {}  # model name: passes run on the event loop
        self.ready = False

    def serve_models(
        self, models: dict[str, ServedModel], pass_seconds: dict[str, float] | None = None
    ) -> None:
        """Start answering with ``models`` (batched if the settings say so);
        ``pass_seconds``: one example's forward pass per model, from the warm-up."""
        self.models = models
        self.inline = {name: (pass_seconds or {}).get(name, 1.0) < INLINE_PASS_SECONDS
                       for name in models}
        if self.settings.batching:
            self.batchers = {
                name: MicroBatcher(
                    model,
                    self.executor,
                    self.settings.max_batch_size,
                    self.settings.max_batch_delay_ms / 1000,
                    observe=lambda n, s, name=name: self.metrics.observe_batch(name, n, s),
                    inline=self.inline[name],
                )
                for name, model in models.items()
            }
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        for batcher in self.batchers.values():
            await batcher.close()

    # -- the three calls ---------------------------------------------------------------------

    async def ClassifyCat(
        self, request: inference_pb2.CatRequest, context
    ) -> inference_pb2.CatReply:
        return await self._answer("ClassifyCat", context, self._classify_cat, request)

    async def ClassifyDigit(
        self, request: inference_pb2.DigitRequest, context
    ) -> inference_pb2.DigitReply:
        return await self._answer("ClassifyDigit", context, self._classify_digit, request)

    async def ListModels(
        self, request: inference_pb2.ListModelsRequest, context
    ) -> inference_pb2.ListModelsReply:
        return await self._answer("ListModels", context, self._list_models, request)

    # -- the work behind them: the steps of services.worker.classify --------------------------

    async def _classify_cat(self, request: inference_pb2.CatRequest) -> inference_pb2.CatReply:
        model = resolve_model(self.models, CAT, request.model)
        with self._expecting(model) as ticket:
            x, input_png = await self._offload(classify.prepare_cat, request.image, model)
            output = await self._predict(model, x, ticket)
        return classify.cat_reply(model, output, input_png)

    async def _classify_digit(
        self, request: inference_pb2.DigitRequest
    ) -> inference_pb2.DigitReply:
        model = resolve_model(self.models, DIGITS, request.model)
        if on_the_loop(request.image):
            x, seen = classify.prepare_digit(request.image, model)
            probabilities = await self._predict(model, x)
        else:
            with self._expecting(model) as ticket:
                x, seen = await self._offload(classify.prepare_digit, request.image, model)
                probabilities = await self._predict(model, x, ticket)
        saliency = None
        if request.saliency:
            saliency = await self._offload(model.saliency, x, int(np.argmax(probabilities)))
        return classify.digit_reply(model, probabilities, seen, saliency)

    async def _list_models(
        self, request: inference_pb2.ListModelsRequest
    ) -> inference_pb2.ListModelsReply:
        return inference_pb2.ListModelsReply(
            models=[
                inference_pb2.ModelInfo(
                    name=m.name,
                    task=m.task,
                    classes=m.classes,
                    card_json=json.dumps(m.card),
                    is_default=m.is_default,
                    aliases=m.aliases,
                )
                for m in sorted(self.models.values(), key=lambda m: m.name)
            ]
        )

    async def _offload(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _expecting(self, model: ServedModel):
        """Announce a request to the model's batcher while it is being prepared."""
        batcher = self.batchers.get(model.name)
        return batcher.expecting() if batcher is not None else contextlib.nullcontext()

    async def _predict(self, model: ServedModel, x: np.ndarray, ticket=None) -> np.ndarray:
        """The model's output column for one example: the batcher's share of a pass, or a
        pass of its own (batching off)."""
        batcher = self.batchers.get(model.name)
        if batcher is not None:
            return await batcher.predict(x, ticket)
        start = time.perf_counter()
        if self.inline.get(model.name):
            output = model.predict_proba(x)
        else:
            output = await self._offload(model.predict_proba, x)
        self.metrics.observe_batch(model.name, 1, time.perf_counter() - start)
        return output[:, 0]

    async def _answer(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        work: Callable[[Any], Awaitable[T]],
        request: Any,
    ) -> T:
        """Run ``work(request)``; turn known failures into status codes; record metrics."""
        metadata = dict(context.invocation_metadata() or ())
        token = REQUEST_ID.set(str(metadata.get("x-request-id", "-"))[:64])
        start = time.perf_counter()
        code, message = grpc.StatusCode.OK, ""
        try:
            if not self.ready:
                raise NotReady
            return await work(request)
        except NotReady:
            code = grpc.StatusCode.UNAVAILABLE
            message = "the worker is not ready (starting or stopping)"
        except preprocess.InputError as e:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(e)
        except UnknownModel as e:
            code, message = grpc.StatusCode.NOT_FOUND, str(e.args[0])
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            log.exception("%s failed", method)
            code = grpc.StatusCode.INTERNAL
            message = f"the worker failed on this request (request id {REQUEST_ID.get()})"
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_call(method, code.name, seconds)
            log.info("%s %s in %.1f ms%s", method, code.name, seconds * 1000,
                     f": {message}" if message else "")
            REQUEST_ID.reset(token)
        await context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")


def _timed(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


class Worker:
    """The worker's gRPC server, health service, models and metrics endpoint."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.metrics = WorkerMetrics()
        self.executor = ThreadPoolExecutor(
            settings.inference_threads, thread_name_prefix="inference"
        )
        self.servicer = InferenceServicer(settings, self.metrics, self.executor)
        self.health = health_aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self.metrics_port: int | None = None
        self._metrics_server = None

    async def start(self) -> None:
        """Bind, load the models, warm up, then report SERVING.

        Raises:
            ModelLoadError: a model cannot be served (the server is stopped again).
            OSError: the port cannot be bound.
        """
        settings = self.settings
        imaging.set_max_pixels(settings.max_image_pixels)
        for service in ("", SERVICE_NAME):
            await self.health.set(service, NOT_SERVING)
        self.server = grpc.aio.server(options=server_options(settings))
        inference_pb2_grpc.add_InferenceServicer_to_server(self.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        address = f"{settings.host}:{settings.port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as e:
            raise OSError(f"cannot listen on {address}: {e}") from None
        await self.server.start()
        log.info("listening on %s:%d (gRPC, health NOT_SERVING while loading)", settings.host,
                 self.port)
        if settings.metrics_port:
            self._metrics_server, _ = start_http_server(
                settings.metrics_port, addr=settings.host, registry=self.metrics.registry
            )
            self.metrics_port = self._metrics_server.server_port
            log.info("metrics on http://%s:%d/metrics", settings.host, self.metrics_port)
        try:
            models, pass_seconds = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._load_and_warm_up
            )
        except BaseException:
            await self.stop(grace=0)
            raise
        self.servicer.serve_models(models, pass_seconds)
        self.metrics.models_loaded.set(len(models))
        self.metrics.ready.set(1)
        for service in ("", SERVICE_NAME):
            await self.health.set(service, SERVING)
        log.info(
            "ready: %s; batching %s",
            ", ".join(f"{m.name} ({m.task}{', default' if m.is_default else ''})"
                      for m in models.values()),
            f"on (max {settings.max_batch_size}, {settings.max_batch_delay_ms:g} ms)"
            if settings.batching else "off",
        )

    def _load_and_warm_up(self) -> tuple[dict[str, ServedModel], dict[str, float]]:
        """The models, and how long each takes for a forward pass over one example (the
        fastest of a few, after a first pass that sets up its buffers)."""
        start = time.perf_counter()
        directories = self.settings.model_dirs()
        models = load_models(directories, self.settings.default_models())
        pass_seconds = {}
        for model in models.values():
            x = model.example(np.zeros(model.example_shape))
            model.predict_proba(x)
            pass_seconds[model.name] = min(_timed(model.predict_proba, x) for _ in range(3))
        log.info("loaded and verified %d models from %s in %.2f s", len(models),
                 ", ".join(map(str, directories)), time.perf_counter() - start)
        return models, pass_seconds

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, give calls in flight ``grace`` seconds, release everything."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self.metrics.ready.set(0)
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
        await self.servicer.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()
