"""From an HTTP request to the image the worker gets: content types, base64, uploads, URLs.

Each function raises :class:`~services.gateway.errors.ApiError` with a plain message when
the request cannot be used, so handlers stay a few lines long. Images are checked here
(format and pixel count, from the header only) before anything is sent to the worker,
which decodes them.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from services import imaging
from services.gateway import fetch
from services.gateway.errors import (
    ApiError,
    from_fetch_error,
    from_image_error,
    from_validation_errors,
)
from services.gateway.metrics import GatewayMetrics
from services.gateway.schemas import MAX_URL_LENGTH, CatJSONRequest, DigitRequest
from services.gateway.settings import GatewaySettings
from services.proto import inference_pb2

Model = TypeVar("Model", bound=BaseModel)
CAT_FORMS = (
    "multipart/form-data (field 'file', or 'cat_url'), JSON {\"image\": base64} or "
    "{\"cat_url\": URL}, or the image itself with Content-Type image/png, image/jpeg, "
    "image/webp or image/gif"
)


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case ("" if none)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and
                                            media.endswith("+json"))


async def read_json(request: Request, schema: type[Model]) -> Model:
    """The JSON body validated against ``schema``: 415 if not JSON, 400 if invalid."""
    media = media_type(request)
    if not is_json(media):
        raise ApiError(
            415, "unsupported_media_type",
            f"send JSON with Content-Type: application/json (got {media or 'no content type'})",
        )
    body = await request.body()
    return parse_json(body, schema)


def parse_json(body: bytes, schema: type[Model]) -> Model:
    if not body.strip():
        raise ApiError(400, "invalid_request", "the request body is empty; send a JSON object")
    try:
        return schema.model_validate_json(body)
    except ValidationError as e:
        raise from_validation_errors(e.errors(include_url=False)) from None


def decode_base64(text: str, field: str = "image") -> bytes:
    """Bytes from base64 text or a ``data:<type>;base64,<data>`` URL."""
    payload = text.strip()
    if payload.startswith("data:"):
        header, _, payload = payload.partition(",")
        if not header.endswith(";base64"):
            raise ApiError(400, "invalid_input", f"{field}: a data: URL must be base64-encoded")
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400, "invalid_input", f"{field} is not valid base64 (expected a base64-encoded "
            "PNG, JPEG, WebP or GIF file)"
        ) from None


def checked_image(data: bytes) -> inference_pb2.Image:
    """An encoded image after its header passed the format and pixel-count checks."""
    try:
        imaging.probe(data)
    except imaging.ImageError as e:
        raise from_image_error(e) from None
    return inference_pb2.Image(encoded=data)


def digit_image(body: DigitRequest) -> inference_pb2.Image:
    """The drawing of a digit request as the worker's Image message."""
    if isinstance(body.image, str):
        return checked_image(decode_base64(body.image))
    rows = body.image
    return inference_pb2.Image(
        pixels=inference_pb2.Pixels(
            height=len(rows), width=len(rows[0]), values=[v for row in rows for v in row]
        )
    )


async def cat_image(
    request: Request, settings: GatewaySettings, policy: fetch.FetchPolicy,
    metrics: GatewayMetrics,
) -> inference_pb2.Image:
    """The photo of a cat request, whichever of the accepted forms it came in."""
    media = media_type(request)
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=1, max_fields=4,
                                  max_part_size=settings.max_body_bytes)
        upload = form.get("file") or form.get("image")
        url = form.get("cat_url")
        if isinstance(upload, UploadFile) and url is not None:
            raise ApiError(400, "invalid_request",
                           "send exactly one of 'file' (the photo) and 'cat_url', not both")
        if isinstance(upload, UploadFile):
            data = await upload.read()
        elif isinstance(url, str) and url.strip():
            if len(url) > MAX_URL_LENGTH:
                raise ApiError(400, "invalid_request",
                               f"cat_url may be at most {MAX_URL_LENGTH} characters long")
            data = await fetch_url(url.strip(), policy, metrics)
        else:
            raise ApiError(400, "invalid_request",
                           "the form needs a 'file' field holding the photo (or 'cat_url')")
    elif is_json(media):
        body = parse_json(await request.body(), CatJSONRequest)
        if body.cat_url is not None:
            data = await fetch_url(body.cat_url, policy, metrics)
        else:
            data = decode_base64(body.image or "")
    elif media.startswith("image/"):
        data = await request.body()
    else:
        raise ApiError(415, "unsupported_media_type",
                       f"send the photo as {CAT_FORMS} (got {media or 'no content type'})")
    return checked_image(data)


def fetch_policy(settings: GatewaySettings) -> fetch.FetchPolicy:
    """The cat_url fetch limits and allow-list from the settings."""
    return fetch.FetchPolicy.from_allowlist(
        settings.url_allowlist,
        timeout=settings.fetch_timeout_seconds,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
    )


async def fetch_url(url: str, policy: fetch.FetchPolicy, metrics: GatewayMetrics) -> bytes:
    """The bytes at ``url``, fetched with the SSRF guards of :mod:`services.gateway.fetch`."""
    try:
        data = await fetch.fetch_image(url, policy)
    except fetch.FetchError as e:
        metrics.url_fetches.labels(e.code).inc()
        raise from_fetch_error(e) from None
    metrics.url_fetches.labels("ok").inc()
    return data
