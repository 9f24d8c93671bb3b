"""The gateway's connection to the worker: one gRPC channel, a deadline on every call.

The channel spreads calls over every address the target resolves to (``round_robin``;
with ``dns:///worker-headless:50051`` in Kubernetes that is one connection per worker
pod) and reconnects quickly (backoff capped at 1 s) when a worker comes back. A call that
finds no worker fails at once with UNAVAILABLE instead of waiting for the deadline; calls
that fail with UNAVAILABLE are retried twice by gRPC (all three calls are idempotent).
Failures become :class:`~services.gateway.errors.ApiError` with the status from
:func:`~services.gateway.errors.from_worker`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gateway.errors import from_worker
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

    async def close(self) -> None:
        await self.channel.close()

    async def classify_digit(self, request: inference_pb2.DigitRequest) -> inference_pb2.DigitReply:
        return await self._call("ClassifyDigit", self.inference.ClassifyDigit, request)

    async def classify_cat(self, request: inference_pb2.CatRequest) -> inference_pb2.CatReply:
        return await self._call("ClassifyCat", self.inference.ClassifyCat, request)

    async def list_models(self) -> inference_pb2.ListModelsReply:
        return await self._call(
            "ListModels", self.inference.ListModels, inference_pb2.ListModelsRequest()
        )

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
