"""The gateway's connection to the worker: one gRPC channel, a deadline on every call.

The channel spreads calls over every address the target resolves to (``round_robin``;
with ``dns:///worker-headless:50051`` in Kubernetes that is one connection per worker
pod) and reconnects quickly (backoff capped at 1 s) when a worker comes back. A call that
finds no worker fails at once with UNAVAILABLE instead of waiting for the deadline; calls
that fail with UNAVAILABLE are retried twice by gRPC (all three calls are idempotent).
Failures become :class:`~services.gateway.errors.ApiError` with the status from
:func:`~services.gateway.errors.from_worker`.

**Which model names a request may use.** The gateway checks a request's ``model`` against
the names and aliases the worker's ``ListModels`` reported (:class:`ServedModels`), so an
unknown name is a 400 that lists the served models, before any image goes to the worker.
How fresh that list is: it is asked for the first time a request names a model, asked
again whenever a request names a model it does not hold (so a model served by a
restarted worker is found by the first request that names it) and whenever a worker
refuses a name the list held (a worker restarted without it), and renewed by every
``GET /api/models``. A name is never refused without asking the worker first; if the
worker cannot be asked, the request gets the 503 any worker call gets. Concurrent
requests share one ``ListModels`` call. Requests that name no model never wait for the
list: the worker's default answers them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gateway.errors import ApiError, from_validation_errors, from_worker
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings
from services.logs import REQUEST_ID
from services.proto import MAX_MESSAGE_BYTES, inference_pb2, inference_pb2_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["Inference"].full_name


def channel_options(settings: GatewaySettings) -> list[tuple[str, Any]]:
    """Load balancing, retries, keepalive (agreeing with the worker's), reconnect, sizes."""
    service_config = {
        "loadBalancingConfig": [{settings.worker_lb_policy: {}}],
        "methodConfig": [
            {
                "name": [{"service": SERVICE_NAME}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
    ms = lambda seconds: int(seconds * 1000)  # noqa: E731
    return [
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", ms(settings.keepalive_time_seconds)),
        ("grpc.keepalive_timeout_ms", ms(settings.keepalive_timeout_seconds)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Re-resolve as soon as an aged connection closes (docs/deploy.md, "Re-resolution").
        ("grpc.dns_min_time_between_resolutions_ms", ms(settings.worker_dns_min_interval_seconds)),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


#: How each task is named in a sentence ("no digit model called ...").
TASK_WORDS = {"digits": "digit", "cat": "cat"}


class ServedModels:
    """The worker's models as the gateway last heard of them: for each task, every name
    and alias a request may use, and the model it stands for."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, str]] | None = None  # None: not asked yet

    def learn(self, reply: inference_pb2.ListModelsReply) -> None:
        known: dict[str, dict[str, str]] = {}
        for model in reply.models:
            names = known.setdefault(model.task, {})
            names[model.name] = model.name
            for alias in model.aliases:
                names.setdefault(alias, model.name)
        self.known = known

    def forget(self) -> None:
        self.known = None

    def resolve(self, task: str, requested: str) -> str | None:
        """The model ``requested`` stands for, or None if it is not known (or not yet)."""
        return (self.known or {}).get(task, {}).get(requested)

    def listing(self, task: str) -> str:
        """``digits-cnn (or cnn), digits-mlp (or mlp), my-mlp``: what requests may name."""
        names = (self.known or {}).get(task, {})
        aliases: dict[str, list[str]] = {}
        for name, model in names.items():
            aliases.setdefault(model, [])
            if name != model:
                aliases[model].append(name)
        return ", ".join(model + "".join(f" (or {a})" for a in sorted(aliases[model]))
                         for model in sorted(aliases))

    def unknown(self, task: str, requested: str, detail: str = "") -> ApiError:
        """The 400 for a request naming a model the worker does not serve for ``task``."""
        listing = self.listing(task)
        served = (f"the served {TASK_WORDS.get(task, task)} models are: {listing}" if listing
                  else f"the worker serves no {TASK_WORDS.get(task, task)} model")
        message = detail or (f"no {TASK_WORDS.get(task, task)} model called {requested!r}; "
                             f"{served} (GET /api/models)")
        return from_validation_errors([{"loc": ("body", "model"), "msg": message}])


class WorkerClient:
    """Calls the worker's Inference and Health services."""

    def __init__(self, settings: GatewaySettings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.channel = grpc.aio.insecure_channel(
            settings.worker_target, options=channel_options(settings)
        )
        self.inference = inference_pb2_grpc.InferenceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.served = ServedModels()  #: the names requests may use, from ListModels
        self._listing: asyncio.Future | None = None

    async def close(self) -> None:
        await self.channel.close()

    async def classify_digit(self, request: inference_pb2.DigitRequest) -> inference_pb2.DigitReply:
        """ClassifyDigit; a ``model`` the worker does not serve is a 400 listing those it
        does (checked against :attr:`served` first, see the module docstring)."""
        if request.model:
            await self.check_model("digits", request.model)
        try:
            return await self._call("ClassifyDigit", self.inference.ClassifyDigit, request)
        except ApiError as e:
            if e.code != "model_not_found" or not request.model:
                raise
            self.served.forget()  # the worker no longer serves what the list said
            raise self.served.unknown("digits", request.model, e.detail) from None

    async def classify_cat(self, request: inference_pb2.CatRequest) -> inference_pb2.CatReply:
        return await self._call("ClassifyCat", self.inference.ClassifyCat, request)

    async def list_models(self) -> inference_pb2.ListModelsReply:
        """ListModels; the answer also renews :attr:`served`."""
        reply = await self._call(
            "ListModels", self.inference.ListModels, inference_pb2.ListModelsRequest()
        )
        self.served.learn(reply)
        return reply

    async def check_model(self, task: str, requested: str) -> str:
        """The model ``requested`` names for ``task``; asks the worker again when the name
        is not known, and raises the 400 listing the served models if it still is not."""
        model = self.served.resolve(task, requested)
        if model is None:
            await self._list_once()
            model = self.served.resolve(task, requested)
        if model is None:
            raise self.served.unknown(task, requested)
        return model

    async def _list_once(self) -> None:
        """One ListModels call shared by every request that is waiting for it."""
        if self._listing is None or self._listing.done():
            self._listing = asyncio.ensure_future(self.list_models())
        await asyncio.shield(self._listing)

    async def _call(self, method: str, rpc, request):
        timeout = self.settings.worker_timeout_seconds
        start = time.perf_counter()
        code = "OK"
        try:
            return await rpc(
                request, timeout=timeout, metadata=(("x-request-id", REQUEST_ID.get()),)
            )
        except grpc.aio.AioRpcError as e:
            code = e.code().name
            log.warning("worker %s failed: %s %s", method, code, e.details())
            raise from_worker(e.code(), e.details(), timeout) from None
        finally:
            self.metrics.observe_worker_call(method, code, time.perf_counter() - start)

    async def ready(self) -> tuple[bool, str]:
        """Whether the worker answers its health check with SERVING, and if not, why."""
        try:
            reply = await self.health.Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                timeout=self.settings.readiness_timeout_seconds,
            )
        except grpc.aio.AioRpcError as e:
            return False, f"worker health check failed: {e.code().name}"
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            return False, f"worker reports {status}"
        return True, "worker SERVING"
