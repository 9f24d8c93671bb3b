"""ASGI middleware: a request id, an access log line and metrics for every request, a body
size limit, security headers, and a JSON 500 (never a bare one) for bugs.

Plain ASGI rather than ``BaseHTTPMiddleware`` so that request bodies stream through and
the limit is enforced while reading, not after.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import ApiError
from services.gateway.metrics import GatewayMetrics
from services.logs import REQUEST_ID

log = logging.getLogger("services.gateway.access")

SCOPE_KEY = "simpledl.request_id"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The page never loads scripts, styles or images from elsewhere, and never needs inline
# script; /docs (Swagger UI from a CDN) is left without it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
NO_CSP_PATHS = ("/docs", "/redoc")


def request_id_of(scope: Scope) -> str:
    return scope.get(SCOPE_KEY) or REQUEST_ID.get()


def error_response(error: ApiError, request_id: str) -> JSONResponse:
    """The JSON answer for ``error`` (see :mod:`services.gateway.errors`)."""
    return JSONResponse(error.body(request_id), status_code=error.status, headers=error.headers)


def _route_label(scope: Scope) -> str:
    """The matched route template (bounded label values), not the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is not None:
        return path or "/"
    return "static" if scope.get("app_root_path") is not None else "unmatched"


class RequestContextMiddleware:
    """Request id (``X-Request-ID`` in and out), access log, metrics, JSON 500s."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope[SCOPE_KEY] = request_id
        token = REQUEST_ID.set(request_id)
        method, path = scope["method"], scope["path"]
        start = time.perf_counter()
        status, started = 500, False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if not path.startswith(NO_CSP_PATHS):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error in %s %s", method, path)
            if not started:
                error = ApiError(
                    500, "internal_error",
                    f"an unexpected error in the gateway; please report request id {request_id}",
                )
                await error_response(error, request_id)(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe_request(method, _route_label(scope), status, seconds)
            log.info("%s %s %d %.1f ms", method, path, status, seconds * 1000)
            REQUEST_ID.reset(token)


class BodyTooLarge(HTTPException):
    """Raised while reading a body that passes the limit (FastAPI passes it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit:,} bytes")


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: at once if Content-Length says so, else while
    streaming (a body without Content-Length is counted, not trusted)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            error = BodyTooLarge(limit)
            response = error_response(ApiError(413, "payload_too_large", error.detail),
                                      request_id_of(scope))
            await response(scope, receive, send)
            return
        received = 0

        async def receive_with_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_with_limit, send)
