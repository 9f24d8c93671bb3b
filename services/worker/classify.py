"""One classification, from a request's image to the reply: the work the worker does per call.

In three steps, so that a server can keep decoding and the forward pass off its event loop
and let concurrent calls share one forward pass (:mod:`services.worker.batching`)::

    model = resolve_model(models, DIGITS, request.model)
    x, seen = prepare_digit(request.image, model)      # decode, preprocess (InputError)
    probabilities = model.predict_proba(x)[:, 0]       # or the batcher's share of a pass
    reply = digit_reply(model, probabilities, seen)

:func:`classify_digit` and :func:`classify_cat` do all of it for one request, unbatched —
what a single process without the gRPC hop does (the serving benchmark's baseline,
``benchmarks/serving``). The worker's servicer takes the same steps;
tests/services/test_classify.py checks that its gRPC answers equal these functions'.

Digits: the reply's ``digit`` is the *class name* of the most probable output (the card's
``classes``, ``"0"``…``"9"`` for the course's models), not merely its index; a class name
that is not a number falls back to the index. The saliency map, when asked, is taken for
the most probable output.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from services.proto import inference_pb2
from services.worker import preprocess
from services.worker.models import CAT, DIGITS, ServedModel, resolve_model


def prepare_digit(
    image: inference_pb2.Image, model: ServedModel
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, seen)``: the drawing as one example in ``model``'s layout, and the 28x28 float32
    image in [0, 1] it shows (1 = ink).

    Raises:
        InputError: the image cannot be decoded or holds no drawing (the message says why).
    """
    seen = preprocess.digit_input(preprocess.digit_pixels(image))
    return model.example(seen), seen


def digit_label(model: ServedModel, index: int) -> int:
    """The digit that output ``index`` of ``model`` stands for: its class name as a number
    (``"7"`` -> 7), or ``index`` if the card names the class otherwise."""
    name = model.classes[index]
    return int(name) if name.isdigit() else index


def digit_reply(
    model: ServedModel,
    probabilities: np.ndarray,
    seen: np.ndarray,
    saliency: np.ndarray | None = None,
) -> inference_pb2.DigitReply:
    """The reply for one digit: ``probabilities`` ``(10,)`` (the model's output column),
    ``seen`` the 28x28 input, ``saliency`` a map of the same shape (or None)."""
    reply = inference_pb2.DigitReply(
        digit=digit_label(model, int(np.argmax(probabilities))),
        probabilities=probabilities.tolist(),
        input_image=seen.ravel().tolist(),
        model=model.name,
    )
    if saliency is not None:
        reply.saliency.extend(saliency.ravel().tolist())
    return reply


def classify_digit(
    models: Mapping[str, ServedModel], request: inference_pb2.DigitRequest
) -> inference_pb2.DigitReply:
    """The whole ``ClassifyDigit`` call for one request, in this thread, unbatched.

    Raises:
        UnknownModel: the request names a digit model that is not served.
        InputError: the image cannot be used.
    """
    model = resolve_model(models, DIGITS, request.model)
    x, seen = prepare_digit(request.image, model)
    probabilities = model.predict_proba(x)[:, 0]
    saliency = model.saliency(x, int(np.argmax(probabilities))) if request.saliency else None
    return digit_reply(model, probabilities, seen, saliency)


def prepare_cat(image: inference_pb2.Image, model: ServedModel) -> tuple[np.ndarray, bytes]:
    """``(x, input_png)``: the photo as one example in ``model``'s layout, and the 64x64
    picture it shows as a PNG file.

    Raises:
        InputError: the image cannot be decoded (or is a pixel array).
    """
    pixels = preprocess.cat_pixels(image)
    return model.example(preprocess.cat_input(pixels)), preprocess.png_bytes(pixels)


def cat_reply(model: ServedModel, output: np.ndarray, input_png: bytes) -> inference_pb2.CatReply:
    """The reply for one photo: ``output`` ``(1,)`` is the model's cat probability; the
    label is the card's class name (``classes[1]`` when the probability is at least 0.5)."""
    cat_probability = float(output[0])
    index = int(cat_probability >= 0.5)
    return inference_pb2.CatReply(
        label=model.classes[index],
        probability=cat_probability if index else 1.0 - cat_probability,
        cat_probability=cat_probability,
        model=model.name,
        input_png=input_png,
    )


def classify_cat(
    models: Mapping[str, ServedModel], request: inference_pb2.CatRequest
) -> inference_pb2.CatReply:
    """The whole ``ClassifyCat`` call for one request, in this thread, unbatched.

    Raises:
        UnknownModel: the request names a cat model that is not served.
        InputError: the image cannot be used.
    """
    model = resolve_model(models, CAT, request.model)
    x, input_png = prepare_cat(request.image, model)
    return cat_reply(model, model.predict_proba(x)[:, 0], input_png)
