"""How the gateway says no: one JSON error shape, and the status for every known failure.

Every error response is ``{"error": code, "detail": plain-language message,
"message": the sentence to show a person, "request_id": id}`` (plus ``"errors"``, a list
of field problems, for invalid requests):

=====  ==========================  ===============================================
 400   ``invalid_request``         the JSON does not match the schema (field list)
 400   ``invalid_input``           the image cannot be used (damaged, empty drawing)
 400   ``url_not_allowed``         cat_url scheme/address refused
 400   ``url_fetch_failed``        cat_url unreachable, too slow, bad answer
 404   ``not_found`` /             no such path / no such model on the worker
       ``model_not_found``
 405   ``method_not_allowed``      e.g. GET on a POST endpoint
 413   ``payload_too_large``       body, remote file or pixel count over the limit
 415   ``unsupported_media_type``  wrong Content-Type or image format
 502   ``worker_error``            the worker failed unexpectedly
 503   ``worker_unavailable``      the worker cannot be reached or is not ready
 504   ``worker_timeout``          the worker did not answer within the deadline
 500   ``internal_error``          a bug in the gateway (never for an expected failure)
=====  ==========================  ===============================================

Schema errors are 400, not FastAPI's default 422: serving systems (Triton, KServe,
BentoML) answer 400 for invalid input, and clients need one status for "fix your request".

This module is the one home of the words a learner reads when something fails. ``detail``
is for whoever called the API (it names deadlines, gRPC codes, request ids); ``message``
is the sentence the web page and the notebook's drawing pad show as it is: for a 4xx the
detail written as a sentence (it says what to change), for a 5xx a plain sentence from
:data:`SERVER_MESSAGES` without the internals. The clients word only what cannot come
from the gateway (no connection, an error page from a proxy in between).
"""

from __future__ import annotations

from typing import Any

import grpc

from services import imaging
from services.gateway.fetch import FetchError

#: What a person is shown for a failure behind the gateway (``message`` of a 5xx answer).
SERVER_MESSAGES = {
    500: "Something went wrong on the server.",
    502: "The model server had a problem. Try again.",
    503: "The model server is not available right now (it may be starting). "
         "Try again in a moment.",
    504: "The model server took too long to answer. Try again.",
}


def sentence(detail: str) -> str:
    """``detail`` as a sentence to show as it is: capitalised, ending with one period.

    ``"the drawing is empty (draw a digit first)"`` -> ``"The drawing is empty (draw a
    digit first)."``
    """
    detail = detail.strip()
    return detail[:1].upper() + detail[1:].rstrip(".") + "." if detail else ""


class ApiError(Exception):
    """An expected failure with its HTTP status, error code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    @property
    def message(self) -> str:
        """The sentence a client shows a person (see the module docstring)."""
        if self.status >= 500:
            return SERVER_MESSAGES.get(self.status, SERVER_MESSAGES[500])
        return sentence(self.detail) or f"The request was refused (HTTP {self.status})."

    def body(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail,
                                "message": self.message, "request_id": request_id}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def from_http_status(status: int, detail: str, method: str = "", path: str = "") -> ApiError:
    """An ApiError for a plain HTTP error raised by the framework (404, 405, ...)."""
    if status == 404 and detail == "Not Found":
        detail = f"there is nothing at {path}; the API is under /api/ (see /docs)"
    elif status == 405 and detail == "Method Not Allowed":
        detail = f"{method} is not allowed on {path}"
    return ApiError(status, HTTP_CODES.get(status, f"http_{status}"), detail)


def from_worker(code: grpc.StatusCode, details: str, timeout: float) -> ApiError:
    """The HTTP answer for a worker call that ended with gRPC status ``code``."""
    details = details or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ApiError(400, "invalid_input", details or "the input cannot be classified")
    if code == grpc.StatusCode.NOT_FOUND:
        return ApiError(404, "model_not_found", details or "no such model")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return ApiError(
            503,
            "worker_unavailable",
            "the inference worker is not available right now; try again in a moment",
            headers={"Retry-After": "1"},
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ApiError(
            504, "worker_timeout", f"the inference worker did not answer within {timeout:g} s"
        )
    return ApiError(502, "worker_error", f"the inference worker failed ({code.name}: {details})")


def from_image_error(error: imaging.ImageError) -> ApiError:
    """400 for an unreadable image, 415 for a format we do not take, 413 for too many pixels."""
    if isinstance(error, imaging.UnsupportedImageFormat):
        return ApiError(415, "unsupported_media_type", str(error))
    if isinstance(error, imaging.ImageTooLarge):
        return ApiError(413, "payload_too_large", str(error))
    return ApiError(400, "invalid_input", str(error))


def from_fetch_error(error: FetchError) -> ApiError:
    return ApiError(error.status, error.code, error.message)


def from_validation_errors(errors: list[dict[str, Any]]) -> ApiError:
    """400 listing each field problem as ``{"field": "body.image", "message": ...}``."""
    problems = [
        {"field": _field(error.get("loc", ())), "message": _message(error)} for error in errors
    ]
    summary = "; ".join(
        f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems[:5]
    )
    return ApiError(400, "invalid_request", f"invalid request: {summary}", errors=problems)


def _field(loc) -> str:
    """``("image", "pixels", 3, 4)`` -> ``image.pixels[3][4]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "body":
            text += f".{part}" if text else str(part)
    return text


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
