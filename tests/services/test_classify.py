"""One classification (services.worker.classify): answers equal dlcore run directly, the
digit is the model card's class name, bad input raises the worker's errors, and the
worker's gRPC answers are the same as the function's (so the worker and the serving
benchmark's baseline, which calls the function, cannot drift apart)."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from stack_helpers import drawn_digit, encode, photo

import dlcore
from dlcore import Dense, Sequential, save_model
from dlcore.digits import preprocess_digit
from dlcore.layout import flatten_images
from dlcore.recipes.digits import MLP_INPUT
from services.proto import inference_pb2 as pb
from services.proto import inference_pb2_grpc
from services.worker import classify
from services.worker.models import UnknownModel, load_models
from services.worker.preprocess import InputError
from services.worker.server import Worker
from services.worker.settings import WorkerSettings


def digit_request(image=None, **fields) -> pb.DigitRequest:
    image = drawn_digit() if image is None else image
    return pb.DigitRequest(image=pb.Image(encoded=encode(image)), **fields)


@pytest.fixture(scope="module")
def served(tiny_models):
    return load_models(tiny_models)


def relabelled_mlp(directory, classes):
    """A digits MLP whose card names its ten outputs ``classes`` (in that order)."""
    rng = np.random.default_rng(3)
    model = Sequential([Dense(784, 10, activation="softmax", rng=rng)],
                       loss="categorical_cross_entropy")
    save_model(model, directory / "digits-mlp", input=MLP_INPUT, classes=classes,
               task="digits")
    return load_models(directory, {"digits": "mlp"})


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_digit_answer_equals_dlcore(tiny_models, served, name):
    reply = classify.classify_digit(served, digit_request(model=name))
    seen = preprocess_digit(drawn_digit())
    x = seen[None, None] if name == "cnn" else seen.reshape(784, 1)
    expected = dlcore.load_model(tiny_models / f"digits-{name}.json").predict_proba(x)[:, 0]
    assert reply.model == f"digits-{name}"
    np.testing.assert_allclose(reply.probabilities, expected, rtol=1e-5, atol=1e-7)
    assert reply.digit == int(np.argmax(expected))
    np.testing.assert_allclose(np.reshape(reply.input_image, (28, 28)), seen, atol=1e-7)
    assert len(reply.saliency) == 0


def test_the_digit_is_the_cards_class_name(tmp_path):
    classes = [str(d) for d in reversed(range(10))]  # output 0 stands for the digit 9, ...
    models = relabelled_mlp(tmp_path, classes)
    reply = classify.classify_digit(models, digit_request())
    index = int(np.argmax(reply.probabilities))
    assert reply.digit == int(classes[index]) == 9 - index


def test_a_class_name_that_is_no_number_falls_back_to_the_index(tmp_path):
    models = relabelled_mlp(tmp_path, [f"class {d}" for d in range(10)])
    reply = classify.classify_digit(models, digit_request())
    assert reply.digit == int(np.argmax(reply.probabilities))


def test_saliency_when_asked(served):
    reply = classify.classify_digit(served, digit_request(model="cnn", saliency=True))
    model = served["digits-cnn"]
    x = model.example(preprocess_digit(drawn_digit()))
    expected = model.saliency(x, int(np.argmax(reply.probabilities)))
    np.testing.assert_allclose(reply.saliency, expected.ravel(), atol=1e-7)
    assert max(reply.saliency) == pytest.approx(1.0)


def test_cat_answer_equals_dlcore(tiny_models, served):
    picture = photo(64, 64)
    reply = classify.classify_cat(served, pb.CatRequest(image=pb.Image(encoded=encode(picture))))
    model = dlcore.load_model(tiny_models / "cat.json")
    p = float(model.predict_proba(flatten_images(picture[None]))[0, 0])
    assert reply.cat_probability == pytest.approx(p, rel=1e-5)
    assert reply.label == ("cat" if p >= 0.5 else "non-cat")
    assert reply.probability == pytest.approx(max(p, 1 - p), rel=1e-5)
    assert reply.input_png.startswith(b"\x89PNG")


def test_bad_input_raises_the_workers_errors(served):
    with pytest.raises(InputError, match="empty"):
        classify.classify_digit(served, digit_request(np.full((40, 40), 255, np.uint8)))
    with pytest.raises(InputError):
        classify.classify_digit(served, pb.DigitRequest(image=pb.Image(encoded=b"not a png")))
    with pytest.raises(UnknownModel, match="vgg"):
        classify.classify_digit(served, digit_request(model="vgg"))
    with pytest.raises(UnknownModel):
        classify.classify_cat(served, pb.CatRequest(image=pb.Image(encoded=encode(photo())),
                                                    model="mlp"))
    with pytest.raises(InputError, match="image file"):
        classify.classify_cat(served, pb.CatRequest(image=pb.Image(
            pixels=pb.Pixels(height=1, width=1, values=[0]))))


@pytest.mark.parametrize("batching", [False, True])
def test_the_worker_answers_as_the_function_does(tiny_models, served, batching):
    requests = [digit_request(model="cnn"), digit_request(model="mlp", saliency=True),
                digit_request(drawn_digit(56))]
    cat = pb.CatRequest(image=pb.Image(encoded=encode(photo())))

    async def ask():
        worker = Worker(WorkerSettings(port=0, metrics_port=0, batching=batching,
                                       models_dir=tiny_models))
        await worker.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
                stub = inference_pb2_grpc.InferenceStub(channel)
                digits = [await stub.ClassifyDigit(r) for r in requests]
                return digits, await stub.ClassifyCat(cat)
        finally:
            await worker.stop(grace=1)

    digits, cat_reply = asyncio.run(ask())
    for request, reply in zip(requests, digits, strict=True):
        assert reply == classify.classify_digit(served, request)
    assert cat_reply == classify.classify_cat(served, cat)
