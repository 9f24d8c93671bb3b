"""The gateway application: REST in front of the gRPC worker (``create_app``).

    app = create_app(GatewaySettings())      # uvicorn services.gateway.app:app also works

Middleware, outermost first: request context (id, log, metrics, JSON 500) → CORS (only
the configured origins; none by default) → body limit → routes. The static page is
served at ``/`` when ``GATEWAY_SERVE_FRONTEND`` is on.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway import routes
from services.gateway.errors import ApiError, from_http_status, from_validation_errors
from services.gateway.inputs import fetch_policy
from services.gateway.metrics import GatewayMetrics
from services.gateway.middleware import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    error_response,
    request_id_of,
)
from services.gateway.settings import GatewaySettings
from services.gateway.worker_client import WorkerClient
from services.imaging import set_max_pixels


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """A gateway for ``settings`` (read from the environment if omitted)."""
    settings = settings if settings is not None else GatewaySettings()
    set_max_pixels(settings.max_image_pixels)
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.worker = WorkerClient(settings, metrics)
        try:
            yield
        finally:
            await app.state.worker.close()

    app = FastAPI(
        title="simpledl gateway",
        version="0.1.0",
        summary="Classify handwritten digits and cat photos with the course's models.",
        description="Errors are JSON `{error, detail, request_id}`; see docs/serving.md.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.fetch_policy = fetch_policy(settings)
    app.include_router(routes.api)
    app.include_router(routes.ops)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc, request_id_of(request.scope))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        error = from_http_status(exc.status_code, str(exc.detail), request.method,
                                 request.url.path)
        error.headers.update(exc.headers or {})
        return error_response(error, request_id_of(request.scope))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error_response(from_validation_errors(list(exc.errors())),
                              request_id_of(request.scope))

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if settings.serve_frontend:
        app.include_router(frontend_router(settings.frontend_dir))
    return app


def frontend_router(directory: Path) -> APIRouter:
    """``GET /`` and ``GET /<file>`` for the files of the static page.

    Plain routes rather than a static mount at ``/``: a mount would match every path and
    turn ``GET /api/digits`` into a 404 instead of a 405.
    """
    files = {path.name: path for path in Path(directory).iterdir() if path.is_file()}
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def page() -> FileResponse:
        return FileResponse(files["index.html"])

    @router.get("/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in files:
            raise StarletteHTTPException(404)
        return FileResponse(files[name])

    return router
