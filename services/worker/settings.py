"""The worker's settings: every ``WORKER_*`` environment variable, read in this one place.

The launcher (``services/stack.py``), the Dockerfiles and the Kubernetes ConfigMap set
these; ``docs/serving.md`` has the table. Booleans accept on/off, true/false, 1/0; a list
of directories is separated by ``os.pathsep`` (``:`` on Linux), as in ``PATH``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.imaging import DEFAULT_MAX_PIXELS

REPO = Path(__file__).resolve().parents[2]
#: The setting that names each task's default model (environment: WORKER_ + upper case).
DEFAULT_MODEL_FIELDS = {"cat": "default_cat_model", "digits": "default_digit_model"}


class WorkerSettings(BaseSettings):
    """Where the worker listens, which models it serves, and how it batches."""

    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore")

    host: str = Field("127.0.0.1", description="address the gRPC server binds")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (incl. grpc.health.v1)")
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="Prometheus /metrics HTTP port; 0 turns it off"
    )
    models_dir: Path = Field(REPO / "models", description="directory of <name>.npz + .json")
    # Models served beside models_dir, e.g. the one a learner trained (notebook 9 and
    # Stack(extra_models=[...])). Names must be unique across all the directories.
    extra_models_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="further directories of models to serve, "
        "separated by os.pathsep (':'); empty = none"
    )
    # The model a request that names none gets, one setting per task. Checked at start-up:
    # when the worker serves any model of the task, the setting must name one of them
    # (a file name such as "digits-mlp", or what a request may send: "mlp"), else the
    # worker refuses to start and lists them; a task the worker serves no model for has no
    # default (its calls answer NOT_FOUND). Nothing is ranked by a metric.
    default_cat_model: str = Field(
        "cat", min_length=1, description="the cat model for requests that name none"
    )
    default_digit_model: str = Field(
        "digits-cnn", min_length=1, description="the digit model for requests that name none"
    )
    # On by default, from the measurements in docs/serving.md ("Micro-batching"): under
    # concurrent load (8-128 calls in flight) it raised throughput by 5-70 % and cut tail
    # latency; a lone request never waits (the batcher only waits while other requests
    # are on their way), so with one caller at a time it costs nothing measurable.
    # Re-measured through the whole stack (docs/benchmarks.md, "Serving"): up to +28 % for
    # the CNN at 32 in flight, a wash for the tiny MLP; still on.
    batching: bool = Field(True, description="combine concurrent requests into one pass")
    max_batch_size: int = Field(32, ge=1, le=1024, description="examples per forward pass")
    max_batch_delay_ms: float = Field(
        2.0, ge=0, le=1000, description="how long the first request waits for company"
    )
    inference_threads: int = Field(
        2, ge=1, le=64, description="threads running preprocessing and forward passes"
    )
    blas_threads: int = Field(
        1, ge=1, le=64, description="threads of NumPy's BLAS inside one forward pass "
        "(OPENBLAS_NUM_THREADS etc. take precedence)"
    )
    max_connection_age_seconds: float = Field(
        30, gt=0, description="close client connections after this long, so clients "
        "re-resolve and spread over new worker pods"
    )
    max_connection_age_grace_seconds: float = Field(
        10, ge=0, description="time calls in flight get to finish on an aged connection"
    )
    keepalive_time_seconds: float = Field(
        60, gt=0, description="ping an idle client connection this often"
    )
    keepalive_timeout_seconds: float = Field(
        20, gt=0, description="drop a connection whose ping is unanswered this long"
    )
    keepalive_min_ping_interval_seconds: float = Field(
        10, gt=0, description="the shortest client ping interval accepted (the gateway's "
        "GATEWAY_KEEPALIVE_TIME_SECONDS must not be shorter)"
    )
    shutdown_grace_seconds: float = Field(
        10, ge=0, description="on SIGTERM, time in-flight calls get before being cancelled"
    )
    max_image_pixels: int = Field(
        DEFAULT_MAX_PIXELS, ge=1, description="largest image (width x height) decoded"
    )
    log_level: str = Field("INFO", description="logging level name")

    @field_validator("extra_models_dirs", mode="before")
    @classmethod
    def _split_paths(cls, value):
        if isinstance(value, str):
            return [item.strip() for item in value.split(os.pathsep) if item.strip()]
        return value

    def model_dirs(self) -> list[Path]:
        """Every directory whose models the worker serves: ``models_dir`` first."""
        return [self.models_dir, *self.extra_models_dirs]

    def default_models(self) -> dict[str, str]:
        """``{task: model}`` for requests that name no model (the ``default_*`` settings)."""
        return {task: getattr(self, name) for task, name in DEFAULT_MODEL_FIELDS.items()}
