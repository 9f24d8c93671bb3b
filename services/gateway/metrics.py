"""The gateway's Prometheus metrics (names follow the conventions: base units, ``_total``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """HTTP requests and latency per route, worker calls per method and outcome, URL fetches."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "simpledl_gateway_requests_total",
            "HTTP requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "simpledl_gateway_request_duration_seconds",
            "time from receiving a request to the end of the answer",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.worker_calls = Counter(
            "simpledl_gateway_worker_calls_total",
            "gRPC calls to the worker, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.worker_latency = Histogram(
            "simpledl_gateway_worker_call_duration_seconds",
            "time of one gRPC call to the worker",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.url_fetches = Counter(
            "simpledl_gateway_url_fetches_total",
            "cat_url fetches, by outcome (ok or the error code)",
            ["outcome"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_worker_call(self, method: str, code: str, seconds: float) -> None:
        self.worker_calls.labels(method, code).inc()
        self.worker_latency.labels(method).observe(seconds)
