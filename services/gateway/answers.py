"""From the worker's protobuf replies to the REST answers in :mod:`services.gateway.schemas`.

Each answer is built and validated once, here, and written as JSON by pydantic
(:class:`JSONAnswer`): a route that returned the model would have FastAPI dump it, validate
it against ``response_model`` again and encode it with the json module — for a digit's
800-odd numbers, as much CPU as the rest of the answer (docs/benchmarks.md, "Serving").
The routes keep ``response_model`` for the OpenAPI document.
"""

from __future__ import annotations

import base64
import json

from pydantic import BaseModel
from starlette.responses import Response

from services.gateway.schemas import CatAnswer, DigitAnswer, ModelList, ModelSummary
from services.proto import inference_pb2

SIDE = 28  # the digit models' input is 28x28


def _grid(values, side: int = SIDE, digits: int = 4) -> list[list[float]]:
    # round(x * 10**digits) / 10**digits, and zeros (most of a digit's background) kept as
    # they are: 5x faster than round(x, digits) for each of 784 values, which was a third
    # of the gateway's time per digit request (docs/benchmarks.md, "Serving"). Plain
    # Python: the gateway's image carries no NumPy.
    scale = 10**digits
    flat = [round(v * scale) / scale if v else 0.0 for v in values]
    return [flat[r * side:(r + 1) * side] for r in range(side)]


class JSONAnswer(Response):
    """A 200 answer with a pydantic model as its JSON body."""

    media_type = "application/json"

    def render(self, content: BaseModel) -> bytes:
        return content.model_dump_json().encode()


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
                aliases=list(m.aliases),
                task=m.task,
                classes=list(m.classes),
                default=m.is_default,
                card=json.loads(m.card_json) if m.card_json else {},
            )
            for m in reply.models
        ]
    )
