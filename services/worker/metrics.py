"""The worker's Prometheus metrics (names follow the conventions: base units, ``_total``).

Each :class:`WorkerMetrics` has its own registry, so tests can run several workers in one
process; the server exposes it over HTTP on ``WORKER_METRICS_PORT``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class WorkerMetrics:
    """Requests, latency, batch sizes, forward-pass time and errors, per method/model."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "simpledl_worker_requests_total",
            "gRPC calls answered, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "simpledl_worker_errors_total",
            "gRPC calls that ended with a status other than OK, by method and code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "simpledl_worker_request_duration_seconds",
            "time from receiving a call to answering it",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "simpledl_worker_batch_size",
            "examples per forward pass",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "simpledl_worker_inference_duration_seconds",
            "time of one forward pass (a whole batch)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.models_loaded = Gauge(
            "simpledl_worker_models_loaded",
            "models loaded and verified",
            registry=self.registry,
        )
        self.ready = Gauge(
            "simpledl_worker_ready",
            "1 when serving, 0 while starting or shutting down",
            registry=self.registry,
        )

    def observe_call(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(method, code).inc()
        if code != "OK":
            self.errors.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)

    def observe_batch(self, model: str, size: int, seconds: float) -> None:
        self.batch_size.labels(model).observe(size)
        self.inference.labels(model).observe(seconds)
