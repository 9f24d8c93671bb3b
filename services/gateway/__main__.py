"""``python -m services.gateway``: serve the gateway with uvicorn until SIGTERM or Ctrl+C.

On SIGTERM uvicorn stops accepting connections and lets requests in flight finish.
Exit status 2 when the settings are invalid.

uvicorn runs on uvloop with httptools' HTTP parser (:data:`SERVER`): against asyncio's
own loop and h11 they take about a third of the gateway's CPU time per request
(docs/benchmarks.md, "Serving"); the gRPC client (grpc.aio) runs on uvloop as well.
"""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.logs import configure_logging

#: How uvicorn serves the gateway (also the serving benchmark's baseline).
SERVER = {
    "loop": "uvloop",
    "http": "httptools",
    "log_config": None,  # keep configure_logging's format (with request ids)
    "access_log": False,  # the request-context middleware logs each request with its id
    "timeout_graceful_shutdown": 10,
    "server_header": False,
}


def main() -> int:
    try:
        settings = GatewaySettings()
    except ValidationError as e:
        print(f"gateway: invalid GATEWAY_* settings:\n{e}", file=sys.stderr)
        return 2
    configure_logging("gateway", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **SERVER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
