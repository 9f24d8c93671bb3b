"""The gateway's settings: every ``GATEWAY_*`` environment variable, read in this one place.

Lists (``GATEWAY_CORS_ORIGINS``, ``GATEWAY_URL_ALLOWLIST``) are comma-separated; an empty
value means none. ``docs/serving.md`` has the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.imaging import DEFAULT_MAX_PIXELS

FRONTEND_DIR = Path(__file__).resolve().parents[1] / "frontend"
MiB = 1024 * 1024


class GatewaySettings(BaseSettings):
    """Where the gateway listens, how it reaches the worker, and its input limits."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = Field("127.0.0.1", description="address the HTTP server binds")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port")
    worker_target: str = Field(
        "127.0.0.1:50051",
        description="gRPC target of the worker; in Kubernetes dns:///worker-headless:50051",
    )
    worker_lb_policy: str = Field(
        "round_robin", description="gRPC load-balancing policy over the target's addresses"
    )
    worker_timeout_seconds: float = Field(
        5.0, gt=0, description="deadline of every call to the worker"
    )
    readiness_timeout_seconds: float = Field(
        1.0, gt=0, description="deadline of the worker health check behind /readyz"
    )
    keepalive_time_seconds: float = Field(
        30, gt=0, description="ping the worker connection this often (not shorter than "
        "WORKER_KEEPALIVE_MIN_PING_INTERVAL_SECONDS)"
    )
    keepalive_timeout_seconds: float = Field(
        10, gt=0, description="drop the worker connection when a ping is unanswered this long"
    )
    worker_dns_min_interval_seconds: float = Field(
        5, gt=0, description="shortest time between two DNS resolutions of the worker target "
        "(gRPC's own default is 30 s): with WORKER_MAX_CONNECTION_AGE_SECONDS it bounds how "
        "long a new worker pod waits for its first call"
    )
    max_body_bytes: int = Field(4 * MiB, ge=1, description="largest request body (413 above)")
    max_image_pixels: int = Field(
        DEFAULT_MAX_PIXELS, ge=1, description="largest image (width x height) accepted"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed to call the API from a browser"
    )
    url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs, addresses or host names cat_url may reach although they are "
        "not public (e.g. 127.0.0.1 for a test image server)",
    )
    fetch_timeout_seconds: float = Field(5.0, gt=0, description="whole cat_url fetch deadline")
    fetch_max_bytes: int = Field(4 * MiB, ge=1, description="largest image fetched by URL")
    fetch_max_redirects: int = Field(3, ge=0, le=20, description="redirects followed")
    serve_frontend: bool = Field(True, description="serve services/frontend/ at /")
    frontend_dir: Path = Field(FRONTEND_DIR, description="the static page's directory")
    log_level: str = Field("INFO", description="logging level name")

    @field_validator("cors_origins", "url_allowlist", mode="before")
    @classmethod
    def _split_commas(cls, value):
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
