"""The HTTP endpoints. Each handler reads its input, calls the worker, shapes the answer;
the work lives in :mod:`~services.gateway.inputs` and :mod:`~services.gateway.answers`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway import answers, inputs
from services.gateway.schemas import (
    MAX_URL_LENGTH,
    CatAnswer,
    CatJSONRequest,
    DigitAnswer,
    DigitRequest,
    ErrorBody,
    ModelList,
    Status,
)
from services.proto import inference_pb2

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "invalid request (e.g. a model the worker does not serve) or unusable image",
        404: "the worker serves no model for this task (a request that names no model)",
        413: "body, image or remote file too large",
        415: "wrong Content-Type or image format",
        502: "the worker failed",
        503: "the worker is unavailable",
        504: "the worker did not answer in time",
    }.items()
}


def _json_body(schema) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema.model_json_schema()}}}}


CAT_URL = {"type": "string", "maxLength": MAX_URL_LENGTH,
           "description": "an http(s) URL of a PNG/JPEG/WebP/GIF image to fetch"}
CAT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary", "description": "the photo"},
                       "cat_url": CAT_URL},
        "oneOf": [{"required": ["file"]}, {"required": ["cat_url"]}],
        "description": "exactly one of file (the photo) and cat_url"}},
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {"cat_url": CAT_URL}, "required": ["cat_url"]}},
    "application/json": {"schema": CatJSONRequest.model_json_schema()},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
}}}

api = APIRouter(prefix="/api", tags=["classify"])
ops = APIRouter(tags=["operations"])


@api.post("/digits", response_model=DigitAnswer, responses=ERRORS,
          openapi_extra=_json_body(DigitRequest))
async def classify_digit(request: Request) -> Response:
    """Classify a handwritten digit (base64 image or pixel rows) with any served digit model."""
    body = await inputs.read_json(request, DigitRequest)
    message = inference_pb2.DigitRequest(
        image=inputs.digit_image(body), model=body.model or "", saliency=body.saliency
    )
    reply = await request.app.state.worker.classify_digit(message)
    return answers.JSONAnswer(answers.digit_answer(reply))


@api.post("/cats", response_model=CatAnswer, responses=ERRORS, openapi_extra=CAT_BODY)
async def classify_cat(request: Request) -> Response:
    """Cat or not? Upload a photo (multipart), send it as base64 JSON, or give a cat_url."""
    state = request.app.state
    image = await inputs.cat_image(request, state.settings, state.fetch_policy, state.metrics)
    message = inference_pb2.CatRequest(image=image)
    return answers.JSONAnswer(answers.cat_answer(await state.worker.classify_cat(message)))


@api.get("/models", response_model=ModelList, responses={503: ERRORS[503], 504: ERRORS[504]})
async def list_models(request: Request) -> Response:
    """The models the worker serves, with their aliases and model cards."""
    return answers.JSONAnswer(answers.model_list(await request.app.state.worker.list_models()))


@ops.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """Liveness: the gateway process answers."""
    return Status(status="ok")


@ops.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def readyz(request: Request):
    """Readiness: the worker answers its health check with SERVING."""
    ready, detail = await request.app.state.worker.ready()
    if ready:
        return Status(status="ready", detail=detail)
    return JSONResponse(Status(status="unavailable", detail=detail).model_dump(),
                        status_code=503)


@ops.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this gateway process."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
