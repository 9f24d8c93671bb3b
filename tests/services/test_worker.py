"""The inference worker in-process: answers match dlcore run directly, errors are status
codes with plain messages, batching changes nothing but speed, health follows readiness."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from stack_helpers import (
    REPO,
    bomb_png,
    copy_models,
    drawn_digit,
    encode,
    own_digit_model,
    photo,
)

import dlcore
from dlcore.digits import preprocess_digit
from dlcore.layout import flatten_images
from services.proto import inference_pb2 as pb
from services.proto import inference_pb2_grpc
from services.worker.models import ModelLoadError, ServedModel, load_models
from services.worker.server import INLINE_PIXELS, Worker
from services.worker.settings import WorkerSettings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@contextlib.asynccontextmanager
async def running(models_dir, **settings):
    worker = Worker(WorkerSettings(port=0, metrics_port=0, models_dir=models_dir, **settings))
    await worker.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{worker.port}")
    try:
        yield worker, inference_pb2_grpc.InferenceStub(channel)
    finally:
        await channel.close()
        await worker.stop(grace=1)


def run(coro):
    return asyncio.run(coro)


def digit_request(image=None, **fields):
    image = drawn_digit() if image is None else image
    return pb.DigitRequest(image=pb.Image(encoded=encode(image)), **fields)


def test_digit_answer_matches_dlcore(tiny_models):
    async def scenario():
        async with running(tiny_models, batching=False) as (_, stub):
            return {m: await stub.ClassifyDigit(digit_request(model=m)) for m in ("mlp", "cnn")}

    replies = run(scenario())
    seen = preprocess_digit(drawn_digit())
    inputs = {"mlp": seen.reshape(784, 1), "cnn": seen[None, None]}
    for name, reply in replies.items():
        model = dlcore.load_model(tiny_models / f"digits-{name}.json")
        expected = model.predict_proba(inputs[name])[:, 0]
        assert reply.model == f"digits-{name}"
        np.testing.assert_allclose(reply.probabilities, expected, rtol=1e-5, atol=1e-7)
        assert reply.digit == int(np.argmax(expected))
        assert sum(reply.probabilities) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(np.reshape(reply.input_image, (28, 28)), seen, atol=1e-7)
        assert len(reply.saliency) == 0  # not asked for


@pytest.mark.parametrize(
    ("settings", "expected"),
    [({}, "digits-cnn"), ({"default_digit_model": "mlp"}, "digits-mlp"),
     ({"default_digit_model": "digits-mlp"}, "digits-mlp")],
)
def test_default_digit_model_is_the_setting(tiny_models, settings, expected):
    async def scenario():
        async with running(tiny_models, **settings) as (_, stub):
            default = await stub.ClassifyDigit(digit_request())
            listed = await stub.ListModels(pb.ListModelsRequest())
            return default, listed

    default, listed = run(scenario())
    assert default.model == expected
    models = {m.name: m for m in listed.models}
    assert [m.name for m in listed.models] == ["cat", "digits-cnn", "digits-mlp"]
    assert {n for n, m in models.items() if m.is_default} == {"cat", expected}
    assert models["digits-mlp"].task == "digits" and models["cat"].task == "cat"
    assert list(models["cat"].classes) == ["non-cat", "cat"]
    card = json.loads(models["digits-cnn"].card_json)
    assert card["sha256"] == json.loads((tiny_models / "digits-cnn.json").read_text())["sha256"]


def test_the_default_is_not_chosen_by_a_metric(tmp_path, tiny_models):
    # The MLP's card now claims the better accuracy: the default stays the setting's CNN.
    from dlcore import save_model

    models = copy_models(tiny_models, tmp_path, "cat", "digits-cnn")
    mlp = dlcore.load_model(tiny_models / "digits-mlp.json")
    save_model(mlp, models / "digits-mlp", input=mlp.card["input"], classes=mlp.card["classes"],
               task="digits", metrics={"test_accuracy": 0.99, "drawn_test_accuracy": 0.99})
    served = load_models(models, {"cat": "cat", "digits": "digits-cnn"})
    assert [m.name for m in served.values() if m.is_default] == ["cat", "digits-cnn"]


@pytest.mark.parametrize("name", ["resnet", "cat", "digits-mlp-v2"])
def test_an_unserved_default_stops_the_worker_naming_the_served_models(tiny_models, name):
    async def scenario():
        worker = Worker(WorkerSettings(port=0, metrics_port=0, models_dir=tiny_models,
                                       default_digit_model=name))
        with pytest.raises(ModelLoadError) as error:
            await worker.start()
        return str(error.value)

    message = run(scenario())
    assert f"default digits model {name!r}" in message
    assert "WORKER_DEFAULT_DIGIT_MODEL" in message and "digits-cnn, digits-mlp" in message


def test_the_default_setting_is_read_from_the_environment(tiny_models):
    env = {"PATH": "/usr/bin:/bin", "WORKER_MODELS_DIR": str(tiny_models), "WORKER_PORT": "0",
           "WORKER_METRICS_PORT": "0", "WORKER_DEFAULT_DIGIT_MODEL": "resnet"}
    result = subprocess.run([sys.executable, "-m", "services.worker"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "refusing to start: the default digits model 'resnet' (WORKER_DEFAULT_DIGIT_MODEL)" \
        in result.stderr
    assert "digits-cnn, digits-mlp" in result.stderr


def test_a_task_without_served_models_has_no_default(tmp_path, tiny_models):
    only_digits = copy_models(tiny_models, tmp_path, "digits-mlp", "digits-cnn")

    async def scenario():
        # WORKER_DEFAULT_CAT_MODEL keeps its value "cat": no cat model, nothing to check.
        async with running(only_digits) as (_, stub):
            digit = await stub.ClassifyDigit(digit_request())
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ClassifyCat(pb.CatRequest(image=pb.Image(encoded=encode(photo()))))
            return digit, error.value

    digit, error = run(scenario())
    assert digit.model == "digits-cnn"
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "this worker serves no cat model"


@pytest.mark.parametrize("task", [None, "dogs", ""])
def test_a_card_without_a_valid_task_stops_loading(tmp_path, tiny_models, task):
    from dlcore import save_model

    models = copy_models(tiny_models, tmp_path, "digits-mlp", "digits-cnn")
    cat = dlcore.load_model(tiny_models / "cat.json")
    fields = {} if task is None else {"task": task}
    save_model(cat, models / "cat", input=cat.card["input"], classes=["non-cat", "cat"], **fields)
    with pytest.raises(ModelLoadError) as error:
        load_models(models)
    message = str(error.value)
    assert message.startswith("model cat: its card has no valid 'task'")
    assert f"found {task!r}" in message and "'cat', 'digits'" in message


def test_a_card_whose_layout_contradicts_the_model_stops_loading(tmp_path, tiny_models):
    from dlcore import save_model

    models = copy_models(tiny_models, tmp_path, "cat")
    mlp = dlcore.load_model(tiny_models / "digits-mlp.json")
    wrong = {**mlp.card["input"], "layout": "images", "shape": [1, 28, 28]}
    save_model(mlp, models / "digits-mlp", input=wrong, classes=mlp.card["classes"],
               task="digits")
    with pytest.raises(ModelLoadError, match="model digits-mlp: its card says images but its "
                       "first layer takes columns"):
        load_models(models, {"cat": "cat", "digits": "digits-mlp"})


def test_the_worker_does_not_import_the_data_store():
    # The worker image carries dlcore without the data store's downloader and progress bars.
    code = (
        "import sys\n"
        "import services.worker.__main__, services.worker.server, services.worker.models\n"
        "import services.worker.batching, services.worker.preprocess\n"
        "print(sorted(m for m in ('dlcore.data', 'tqdm', 'pooch') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_saliency_on_request(tiny_models):
    async def scenario():
        async with running(tiny_models) as (_, stub):
            return await stub.ClassifyDigit(digit_request(model="mlp", saliency=True))

    reply = run(scenario())
    saliency = np.reshape(reply.saliency, (28, 28))
    model = dlcore.load_model(tiny_models / "digits-mlp.json")
    seen = preprocess_digit(drawn_digit()).reshape(784, 1)
    expected = np.abs(model.input_gradient(seen, reply.digit)).reshape(28, 28)
    np.testing.assert_allclose(saliency, expected / expected.max(), atol=1e-5)


def test_pixel_arrays_in_both_ranges(tiny_models):
    drawing = drawn_digit(56).astype(np.float32)
    as_bytes = pb.Pixels(height=56, width=56, values=drawing.ravel().tolist())
    as_unit = pb.Pixels(height=56, width=56, values=(drawing / 255).ravel().tolist())

    async def scenario():
        async with running(tiny_models) as (_, stub):
            a = await stub.ClassifyDigit(pb.DigitRequest(image=pb.Image(pixels=as_bytes)))
            b = await stub.ClassifyDigit(pb.DigitRequest(image=pb.Image(pixels=as_unit)))
            return a, b

    a, b = run(scenario())
    np.testing.assert_allclose(a.input_image, b.input_image, atol=1e-6)
    np.testing.assert_allclose(a.input_image, preprocess_digit(drawn_digit(56)).ravel(),
                               atol=1e-6)


def test_cat_answer_matches_dlcore(tiny_models):
    picture = photo(200, 150)

    async def scenario():
        async with running(tiny_models) as (_, stub):
            request = pb.CatRequest(image=pb.Image(encoded=encode(picture, "JPEG", quality=95)))
            return await stub.ClassifyCat(request)

    reply = run(scenario())
    seen = np.asarray(Image.open(io.BytesIO(reply.input_png)))
    assert seen.shape == (64, 64, 3)
    model = dlcore.load_model(tiny_models / "cat.json")
    p = float(model.predict_proba(flatten_images(seen[None]))[0, 0])
    assert reply.cat_probability == pytest.approx(p, rel=1e-5)
    assert reply.label == ("cat" if p >= 0.5 else "non-cat")
    assert reply.probability == pytest.approx(max(p, 1 - p), rel=1e-5)
    assert reply.model == "cat"


BAD_DIGITS = {
    "empty canvas": (pb.Image(encoded=encode(np.full((50, 50), 255, np.uint8))), "empty"),
    "no image": (pb.Image(), "no image"),
    "not an image": (pb.Image(encoded=b"just some text"), "not a PNG, JPEG, WebP or GIF"),
    "bmp": (pb.Image(encoded=encode(photo(20, 20), "BMP")), "BMP images are not supported"),
    "truncated png": (pb.Image(encoded=encode(photo(64, 64))[:300]), "damaged or truncated"),
    "bomb": (pb.Image(encoded=bomb_png()), "too many pixels"),
    "wrong count": (pb.Image(pixels=pb.Pixels(height=3, width=3, values=[0] * 8)), "needs 9"),
    "nan": (pb.Image(pixels=pb.Pixels(height=1, width=2, values=[0, float("nan")])), "finite"),
    "range": (pb.Image(pixels=pb.Pixels(height=1, width=2, values=[0, 300])), "[0, 255]"),
    "too wide": (pb.Image(pixels=pb.Pixels(height=1, width=5000, values=[0] * 5000)), "2048"),
}


@pytest.mark.parametrize("case", sorted(BAD_DIGITS))
def test_bad_digit_input_is_invalid_argument(tiny_models, case):
    image, message = BAD_DIGITS[case]

    async def scenario():
        async with running(tiny_models) as (_, stub):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ClassifyDigit(pb.DigitRequest(image=image))
            return error.value

    error = run(scenario())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


def test_unknown_model_is_not_found(tiny_models):
    async def scenario():
        async with running(tiny_models) as (_, stub):
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ClassifyDigit(digit_request(model="resnet"))
            return error.value

    error = run(scenario())
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "digits-cnn, digits-mlp" in error.details()


def test_cat_needs_an_image_file(tiny_models):
    async def scenario():
        async with running(tiny_models) as (_, stub):
            pixels = pb.Image(pixels=pb.Pixels(height=1, width=1, values=[0]))
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ClassifyCat(pb.CatRequest(image=pixels))
            return error.value

    assert run(scenario()).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_batched_answers_equal_single_answers(tiny_models):
    # Drawings larger than the worker prepares on its event loop: they are decoded in the
    # thread pool, announced to the batcher meanwhile, and wait for each other.
    side = 600
    assert side * side > INLINE_PIXELS
    drawings = [np.roll(drawn_digit(side), shift, axis=1) for shift in range(-120, 120, 8)]
    drawings += [np.roll(drawn_digit(side), shift, axis=0) for shift in range(-80, 80, 8)]

    async def answers(stub):
        requests = [stub.ClassifyDigit(digit_request(d, model=m))
                    for d in drawings for m in ("cnn", "mlp")]
        return await asyncio.gather(*requests)

    async def scenario():
        async with running(tiny_models, batching=False) as (_, stub):
            single = await answers(stub)
        async with running(tiny_models, batching=True, max_batch_size=16,
                           max_batch_delay_ms=50) as (worker, stub):
            batched = await answers(stub)
            registry = worker.metrics.registry
            sizes = {stat: registry.get_sample_value(f"simpledl_worker_batch_size_{stat}",
                                                     {"model": "digits-cnn"})
                     for stat in ("sum", "count")}
        return single, batched, sizes

    single, batched, sizes = run(scenario())
    for a, b in zip(single, batched, strict=True):
        assert (a.model, a.digit) == (b.model, b.digit)
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-4, atol=1e-6)
    assert sizes["sum"] == len(drawings)  # every example went through a pass ...
    assert sizes["count"] < len(drawings)  # ... and some passes were shared


def test_health_is_not_serving_until_the_models_are_loaded(tiny_models, monkeypatch):
    release = threading.Event()
    original = Worker._load_and_warm_up

    def slow_load(self):
        release.wait(30)
        return original(self)

    monkeypatch.setattr(Worker, "_load_and_warm_up", slow_load)

    async def scenario():
        worker = Worker(WorkerSettings(port=0, metrics_port=0, models_dir=tiny_models))
        starting = asyncio.create_task(worker.start())
        while worker.port is None or worker.server is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            before = (await health.Check(health_pb2.HealthCheckRequest())).status
            with pytest.raises(grpc.aio.AioRpcError) as early:
                await inference_pb2_grpc.InferenceStub(channel).ClassifyDigit(digit_request())
            release.set()
            await starting
            after = (await health.Check(health_pb2.HealthCheckRequest())).status
        await worker.stop(grace=1)
        return before, early.value.code(), after

    before, early_code, after = run(scenario())
    assert (before, early_code, after) == (NOT_SERVING, grpc.StatusCode.UNAVAILABLE, SERVING)


def test_graceful_stop_finishes_calls_in_flight(tiny_models, monkeypatch):
    async def scenario():
        async with running(tiny_models) as (worker, stub):
            # From now on a forward pass takes half a second, so the call is in flight
            # while the worker is told to stop.
            original = ServedModel.predict_proba

            def slow(self, X):
                time.sleep(0.5)
                return original(self, X)

            monkeypatch.setattr(ServedModel, "predict_proba", slow)
            call = asyncio.ensure_future(stub.ClassifyDigit(digit_request()))
            await asyncio.sleep(0.2)
            await worker.stop(grace=5)
            reply = await call
            with pytest.raises(grpc.aio.AioRpcError) as after:
                await stub.ClassifyDigit(digit_request(), timeout=2)
            return reply, after.value.code()

    reply, code_after = run(scenario())
    assert len(reply.probabilities) == 10
    assert code_after in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_a_lone_request_does_not_wait_for_a_batch(tiny_models):
    async def scenario():
        # A 1 s batching delay: a request that waited for company would take that long.
        async with running(tiny_models, batching=True, max_batch_delay_ms=1000) as (_, stub):
            start = time.monotonic()
            for _ in range(10):
                await stub.ClassifyDigit(digit_request(), timeout=20)
            return time.monotonic() - start

    assert run(scenario()) < 10  # ten calls, not one second each


def test_metrics_count_calls_and_errors(tiny_models):
    async def scenario():
        async with running(tiny_models) as (worker, stub):
            await stub.ClassifyDigit(digit_request())
            with contextlib.suppress(grpc.aio.AioRpcError):
                await stub.ClassifyDigit(digit_request(model="nope"))
            registry = worker.metrics.registry
            return {
                "ok": registry.get_sample_value("simpledl_worker_requests_total",
                                                {"method": "ClassifyDigit", "code": "OK"}),
                "not_found": registry.get_sample_value(
                    "simpledl_worker_errors_total",
                    {"method": "ClassifyDigit", "code": "NOT_FOUND"}),
                "latency": registry.get_sample_value(
                    "simpledl_worker_request_duration_seconds_count", {"method": "ClassifyDigit"}),
                "models": registry.get_sample_value("simpledl_worker_models_loaded"),
            }

    assert run(scenario()) == {"ok": 1.0, "not_found": 1.0, "latency": 2.0, "models": 3.0}


def test_a_tampered_model_stops_loading_with_a_clear_message(tampered_models):
    with pytest.raises(ModelLoadError) as error:
        load_models(tampered_models)
    message = str(error.value)
    assert "digits-mlp" in message and "sha256" in message


def test_missing_or_empty_models_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_models(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="no models in"):
        load_models(tmp_path)


def test_a_weights_file_without_its_card_is_refused(tmp_path, tiny_models):
    (tmp_path / "orphan.npz").write_bytes((tiny_models / "cat.npz").read_bytes())
    with pytest.raises(ModelLoadError, match="orphan"):
        load_models(tmp_path)


# -- several models directories ------------------------------------------------------------


def test_extra_directories_are_served_beside_the_models(tmp_path, tiny_models):
    mine = own_digit_model(tmp_path / "mine", "my-mlp")
    own_digit_model(tmp_path / "more", "digits-small", hidden=4)

    async def scenario():
        async with running(tiny_models, batching=False,
                           extra_models_dirs=[tmp_path / "mine", tmp_path / "more"]) as (_, stub):
            listed = await stub.ListModels(pb.ListModelsRequest())
            replies = {name: await stub.ClassifyDigit(digit_request(model=name))
                       for name in ("my-mlp", "small", "digits-small", "mlp", "cnn")}
            return listed, replies

    listed, replies = run(scenario())
    models = {m.name: m for m in listed.models}
    assert list(models) == ["cat", "digits-cnn", "digits-mlp", "digits-small", "my-mlp"]
    assert {name: list(m.aliases) for name, m in models.items()} == {
        "cat": [], "digits-cnn": ["cnn"], "digits-mlp": ["mlp"], "digits-small": ["small"],
        "my-mlp": []}
    assert not models["my-mlp"].is_default and models["my-mlp"].task == "digits"
    assert {name: r.model for name, r in replies.items()} == {
        "my-mlp": "my-mlp", "small": "digits-small", "digits-small": "digits-small",
        "mlp": "digits-mlp", "cnn": "digits-cnn"}
    # The learner's model answers with its own weights.
    expected = mine.predict_proba(preprocess_digit(drawn_digit()).reshape(784, 1))[:, 0]
    np.testing.assert_allclose(replies["my-mlp"].probabilities, expected, rtol=1e-5, atol=1e-7)


def test_extra_directories_from_the_environment(monkeypatch):
    monkeypatch.setenv("WORKER_EXTRA_MODELS_DIRS", "/a/mine:/b/more:")  # os.pathsep, as PATH
    settings = WorkerSettings()
    assert settings.extra_models_dirs == [Path("/a/mine"), Path("/b/more")]
    assert settings.model_dirs() == [settings.models_dir, Path("/a/mine"), Path("/b/more")]
    monkeypatch.setenv("WORKER_EXTRA_MODELS_DIRS", "")
    assert WorkerSettings().model_dirs() == [settings.models_dir]


def test_a_name_served_twice_stops_loading_naming_both_files(tmp_path, tiny_models):
    own_digit_model(tmp_path / "mine", "digits-mlp")
    with pytest.raises(ModelLoadError) as error:
        load_models([tiny_models, tmp_path / "mine"])
    message = str(error.value)
    assert message.startswith("two models are called 'digits-mlp'")
    assert str(tiny_models / "digits-mlp.json") in message
    assert str(tmp_path / "mine" / "digits-mlp.json") in message


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_a_name_that_is_another_models_alias_stops_loading(tmp_path, tiny_models, name):
    own_digit_model(tmp_path / "mine", name)
    with pytest.raises(ModelLoadError) as error:
        load_models([tiny_models, tmp_path / "mine"])
    message = str(error.value)
    assert f"digits requests naming {name!r} would be ambiguous" in message
    assert f"digits-{name}" in message and str(tmp_path / "mine" / f"{name}.json") in message


def test_a_cat_model_may_share_a_name_with_a_digit_alias(tmp_path, tiny_models):
    # Requests name a model of their own task: a cat model called "mlp" is no ambiguity.
    from dlcore import save_model

    cat = dlcore.load_model(tiny_models / "cat.json")
    (tmp_path / "cats").mkdir()
    save_model(cat, tmp_path / "cats" / "mlp", input=cat.card["input"],
               classes=["non-cat", "cat"], task="cat")
    served = load_models([tiny_models, tmp_path / "cats"])
    assert served["mlp"].task == "cat" and served["digits-mlp"].aliases == ["mlp"]


@pytest.mark.parametrize("name", ["my model", "-mlp", "m" * 65, "modèle"])
def test_a_file_name_requests_cannot_use_stops_loading(tmp_path, name):
    own_digit_model(tmp_path, name)
    with pytest.raises(ModelLoadError, match="is not a model name requests can use"):
        load_models(tmp_path)


def test_a_missing_extra_directory_stops_the_worker(tmp_path, tiny_models):
    async def scenario():
        worker = Worker(WorkerSettings(port=0, metrics_port=0, models_dir=tiny_models,
                                       extra_models_dirs=[tmp_path / "nowhere"]))
        with pytest.raises(ModelLoadError, match="nowhere does not exist"):
            await worker.start()

    run(scenario())
