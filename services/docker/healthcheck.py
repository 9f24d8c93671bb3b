"""Container HEALTHCHECK for the simpledl images: exit 0 when the service answers.

    python healthcheck.py grpc 127.0.0.1:50051    # grpc.health.v1 Check(service="") is SERVING
    python healthcheck.py http http://127.0.0.1:8000/healthz    # HTTP 200

Docker and Compose use it (``HEALTHCHECK`` in the Dockerfiles); Kubernetes ignores image
health checks and uses the probes in k8s/base instead, which ask the same questions.
Standard library plus grpcio only, so it runs in either image.
"""

from __future__ import annotations

import sys
import urllib.request

TIMEOUT_SECONDS = 3.0


def grpc_serving(target: str) -> bool:
    """True if the gRPC health service at ``target`` (host:port) reports SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_ok(url: str) -> bool:
    """True if GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("grpc", "http"):
        print("usage: healthcheck.py grpc HOST:PORT | http URL", file=sys.stderr)
        return 2
    kind, where = argv
    healthy = grpc_serving(where) if kind == "grpc" else http_ok(where)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
