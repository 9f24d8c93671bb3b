"""From the worker's protobuf replies to the REST answers in :mod:`services.gateway.schemas`."""

from __future__ import annotations

import base64
import json

from services.gateway.schemas import CatAnswer, DigitAnswer, ModelList, ModelSummary
from services.proto import inference_pb2

SIDE = 28  # the digit models' input is 28x28


def _grid(values, side: int = SIDE, digits: int = 4) -> list[list[float]]:
    return [[round(float(v), digits) for v in values[r * side:(r + 1) * side]]
            for r in range(side)]


def digit_answer(reply: inference_pb2.DigitReply) -> DigitAnswer:
    return DigitAnswer(
        digit=reply.digit,
        probabilities=[round(float(p), 6) for p in reply.probabilities],
        input_image=_grid(reply.input_image),
        saliency=_grid(reply.saliency) if len(reply.saliency) else None,
        model=reply.model,
    )


def cat_answer(reply: inference_pb2.CatReply) -> CatAnswer:
    return CatAnswer(
        label=reply.label,
        probability=round(float(reply.probability), 6),
        cat_probability=round(float(reply.cat_probability), 6),
        model=reply.model,
        input_image="data:image/png;base64," + base64.b64encode(reply.input_png).decode(),
    )


def model_list(reply: inference_pb2.ListModelsReply) -> ModelList:
    return ModelList(
        models=[
            ModelSummary(
                name=m.name,
                task=m.task,
                classes=list(m.classes),
                default=m.is_default,
                card=json.loads(m.card_json) if m.card_json else {},
            )
            for m in reply.models
        ]
    )
