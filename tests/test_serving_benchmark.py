"""The serving benchmark measures what it says (no timings are asserted here): it sends
drawings as the page does, its baseline answers as the worker does, its load generator
counts every answer and error and its own CPU time, its summary takes medians and ratios,
and ``--compare-with`` serves an earlier commit's stack the same way."""

from __future__ import annotations

import asyncio
import collections
import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

import dlcore
from benchmarks.serving import drawings, profile
from benchmarks.serving.baseline import Baseline, baseline_app
from benchmarks.serving.load import LOAD_GENERATOR, Run, load
from benchmarks.serving.report import markdown, summarise
from benchmarks.serving.revision import RevisionError, RevisionStack, resolve, unpack
from benchmarks.serving.run import check_same_answers, main
from dlcore import Dense, Sequential, save_model
from dlcore.recipes.digits import MLP_INPUT
from services.gateway.answers import digit_answer
from services.proto import inference_pb2
from services.worker.classify import classify_digit
from services.worker.models import load_models
from services.worker.preprocess import digit_input, digit_pixels


def mnist_like(seed: int) -> np.ndarray:
    """A 28x28 uint8 stroke (255 = ink on black), as MNIST stores a digit."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([tuple(rng.integers(5, 23, 2)) for _ in range(3)], fill=255,
                               width=3)
    return np.asarray(image)


@pytest.fixture(scope="module")
def pngs() -> list[bytes]:
    return drawings.page_drawings(4, digits=np.stack([mnist_like(s) for s in range(4)]))


def body(model: str, png: bytes) -> dict:
    return json.loads(drawings.digit_body(png, model))


def test_drawings_are_what_the_page_sends(pngs):
    assert len(set(pngs)) == 4
    for png in pngs:
        image = Image.open(io.BytesIO(png))
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (280, 280))
        rgba = np.asarray(image)
        assert rgba[..., 3].min() == 255  # opaque, as canvas.toDataURL() gives
        grey = rgba[..., 0]
        assert np.median(grey) == 255 and grey.min() == 0  # black ink on white paper
        assert 0 < np.mean(grey < 128) < 0.2
        seen = digit_input(digit_pixels(inference_pb2.Image(encoded=png)))
        assert seen.shape == (28, 28) and seen.max() == 1.0


def test_the_request_is_what_the_page_sends(pngs):
    request = drawings.digit_request("cnn", pngs[0], 8000)
    head, _, payload = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /api/digits HTTP/1.1\r\n")
    assert f"Content-Length: {len(payload)}".encode() in head
    sent = json.loads(payload)
    assert sent["model"] == "cnn" and sent["image"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_baseline_answers_as_dlcore_and_the_worker_do(tiny_models, pngs, model):
    with TestClient(baseline_app(tiny_models)) as client:
        answers = [client.post("/api/digits", json=body(model, png)).json() for png in pngs]
    served = load_models(tiny_models)
    dl_model = dlcore.load_model(tiny_models / f"digits-{model}.json")
    for png, answer in zip(pngs, answers, strict=True):
        request = inference_pb2.DigitRequest(image=inference_pb2.Image(encoded=png), model=model)
        assert answer == digit_answer(classify_digit(served, request)).model_dump()
        seen = digit_input(digit_pixels(request.image))
        x = seen[None, None] if model == "cnn" else seen.reshape(784, 1)
        np.testing.assert_allclose(answer["probabilities"], dl_model.predict_proba(x)[:, 0],
                                   atol=2e-6)
        assert answer["model"] == f"digits-{model}"


def test_the_baseline_answers_with_the_cards_class_names(tiny_models, tmp_path, pngs):
    shutil.copytree(tiny_models, tmp_path, dirs_exist_ok=True)
    classes = [str(d) for d in reversed(range(10))]
    model = Sequential([Dense(784, 10, activation="softmax", rng=np.random.default_rng(1))],
                       loss="categorical_cross_entropy")
    save_model(model, tmp_path / "digits-mlp", input=MLP_INPUT, classes=classes, task="digits")
    with TestClient(baseline_app(tmp_path)) as client:
        for png in pngs:
            answer = client.post("/api/digits", json=body("mlp", png)).json()
            assert answer["digit"] == 9 - int(np.argmax(answer["probabilities"]))


def test_the_baseline_refuses_bad_input_as_the_gateway_does(tiny_models):
    empty = drawings.page_png(np.zeros((28, 28), np.uint8), np.random.default_rng(0))
    with TestClient(baseline_app(tiny_models)) as client:
        r = client.post("/api/digits", json=body("mlp", empty))
        assert r.status_code == 400 and "empty" in r.json()["detail"]
        r = client.post("/api/digits", json={"image": "data:image/png;base64,AAAA"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"


@pytest.mark.slow
def test_the_load_generator_counts_answers_errors_and_its_own_cpu(tiny_models, pngs):
    with Baseline(tiny_models) as server:
        good = [drawings.digit_request("mlp", png, server.port) for png in pngs]
        n, errors, seconds, latencies, cpu = asyncio.run(
            load(server.port, good, 4, 30, 60, server.pids))
        assert (n, errors, len(latencies)) == (30, 0, 30)
        assert seconds > 0 and min(latencies) > 0
        assert set(cpu) == {"baseline", LOAD_GENERATOR} and cpu["baseline"] > 0
        # every connection cycles through the requests: alternating good and bad requests
        # give exactly half errors, however the answers fall on the connections
        bad = good[0].replace(b'"model": "mlp"', b'"model": "vgg"')
        n, errors, *_ = asyncio.run(load(server.port, [good[0], bad], 2, 20, 60))
        assert (n, errors) == (20, 10)


def test_summary_takes_medians_and_ratios():
    def run(server, throughput, latencies):
        return Run(server, "cnn", 8, int(throughput), 0, 1.0, latencies,
                   {"p": 1.0, LOAD_GENERATOR: 0.1})

    runs = [run("baseline", 100, [1, 2, 3]), run("baseline", 300, [1, 2, 3]),
            run("baseline", 200, [1, 2, 3]), run("stack, batching on", 50, [10] * 99 + [1000]),
            run("stack@abc1234", 25, [20] * 10)]
    rows = {r["server"]: r for r in summarise(runs, earlier="stack@abc1234")}
    assert rows["baseline"]["throughput"] == 200 and rows["baseline"]["rounds"] == 3
    assert rows["stack, batching on"]["vs_baseline"] == pytest.approx(0.25)
    assert rows["stack, batching on"]["vs_earlier"] == pytest.approx(2.0)
    assert rows["stack, batching on"]["p50"] == 10 and rows["stack, batching on"]["p99"] > 10
    table = markdown(list(rows.values()))
    assert "× earlier" in table and "| 2.00 |" in table and "load gen." in table


def test_replot_draws_an_earlier_json(tmp_path, capsys):
    runs = [Run(server, model, c, 100, 0, 1.0, [1.0, 2.0, 3.0],
                {"gateway": 1.0, "worker": 2.0, LOAD_GENERATOR: 0.1})
            for server in ("stack, batching on", "baseline") for model in ("cnn", "mlp")
            for c in (1, 32)]
    saved = tmp_path / "serving.json"
    saved.write_text(json.dumps({"results": summarise(runs)}))
    assert main(["--replot", str(saved), "--plot", str(tmp_path / "serving.png")]) == 0
    assert Image.open(tmp_path / "serving.png").format == "PNG"
    with pytest.raises(SystemExit):
        main(["--replot", str(saved)])
    assert "--replot needs --plot" in capsys.readouterr().err


def test_answers_must_agree_across_servers():
    answer = {"digit": 3, "model": "digits-cnn", "probabilities": [0.1] * 9 + [0.123456]}
    rounded = {**answer, "probabilities": [0.1] * 9 + [0.123457]}  # the 6th decimal
    check_same_answers({"a": [answer], "b": [rounded]})
    for other in ({**answer, "digit": 5}, {**answer, "probabilities": [0.1] * 9 + [0.12346]}):
        with pytest.raises(RuntimeError, match="drawing 0: b answered"):
            check_same_answers({"a": [answer], "b": [other]})


def test_missing_models_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--models-dir", str(tmp_path)])
    assert "has no digits-cnn model" in capsys.readouterr().err


def test_an_unknown_revision_is_named(tmp_path):
    with pytest.raises(RevisionError, match="no-such-commit"):
        RevisionStack("no-such-commit", tmp_path)


def test_a_revision_is_unpacked_without_touching_the_repository(tmp_path):
    unpack("HEAD", tmp_path)
    assert (tmp_path / "services" / "stack.py").is_file()
    assert (tmp_path / "dlcore" / "digits.py").is_file()


@pytest.mark.slow
def test_one_run_against_an_earlier_commit(tiny_models, capsys):
    """The JSON every result keeps, for today's baseline and HEAD's stack served from a
    temporary directory (which is gone afterwards)."""
    head = resolve("HEAD")
    unpacked = lambda: set(Path(tempfile.gettempdir()).glob(f"simpledl-{head[:7]}-*"))  # noqa: E731
    before = unpacked()
    assert main(["--models-dir", str(tiny_models), "--models", "mlp", "--concurrency", "2",
                 "--requests", "20", "--rounds", "1", "--drawings", "3", "--servers",
                 "baseline", "--compare-with", "HEAD", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    earlier = measured["conditions"]["compare_with"]["server"]
    assert earlier == f"stack@{head[:7]}" and measured["settings"]["compare_with"] == ["HEAD"]
    assert [r["server"] for r in measured["conditions"]["revisions"]] == [earlier]
    rows = {r["server"]: r for r in measured["results"]}
    assert set(rows) == {"baseline", earlier}
    for row in rows.values():
        assert {"model", "concurrency", "server", "throughput", "p50", "p90", "p99", "errors",
                "cpu_ms_per_answer"} <= set(row)
        assert (row["model"], row["concurrency"], row["errors"]) == ("mlp", 2, 0)
        assert row["throughput"] > 0 and row["p50"] <= row["p90"] <= row["p99"]
        assert LOAD_GENERATOR in row["cpu_ms_per_answer"]
    assert set(rows[earlier]["cpu_ms_per_answer"]) == {"gateway", "worker", LOAD_GENERATOR}
    assert rows[earlier]["vs_earlier"] == 1.0
    assert unpacked() <= before


# -- the profile of the stack's processes ---------------------------------------------------

THREAD = "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:83)"
LOOP = "<module> (services/worker/__main__.py:70);BaseEventLoop._run_once (asyncio/b.py:1)"


@pytest.mark.parametrize(("stack", "category"), [
    (f"{THREAD};_prepare_digit (services/worker/server.py:98);"
     "digit_pixels (services/worker/preprocess.py:66);decode (services/imaging.py:144);"
     "ImageFile.load (PIL/ImageFile.py:425)", "PNG decoding"),
    (f"{LOOP};digit_pixels (services/worker/preprocess.py:73);_plain_png_pixels "
     "(services/worker/preprocess.py:94);_decode_plain_png (services/worker/preprocess.py:"
     "118);load (pyspng/lib.py:48)", "PNG decoding"),
    (f"{LOOP};_plain_png_pixels (services/worker/preprocess.py:95);_grey_if_opaque "
     "(services/worker/preprocess.py:129);Image.convert (PIL/Image.py:1232)",
     "alpha check, grey conversion"),
    (f"{THREAD};digit_input (services/worker/preprocess.py:101);"
     "preprocess_digit (dlcore/digits.py:77);Image.resize (PIL/Image.py:2440)",
     "preprocess_digit"),
    (f"{THREAD};digit_pixels (services/worker/preprocess.py:70);"
     "Image.convert (PIL/Image.py:1232)", "alpha check, grey conversion"),
    (f"{THREAD};ServedModel.predict_proba (services/worker/models.py:90);"
     "Conv2D.forward (dlcore/conv.py:159)", "forward pass"),
    (f"{THREAD};Future.set_result (concurrent/futures/_base.py:1);"
     "BaseSelectorEventLoop._write_to_self (asyncio/selector_events.py:139)",
     "thread-pool hand-offs"),
    (f"{LOOP};EpollSelector.select (selectors.py:468)", "event loop (asyncio)"),
    (f"{LOOP};RequestContextMiddleware.__call__ (services/gateway/middleware.py:63);"
     "classify_digit (services/gateway/routes.py:65);WorkerClient._call "
     "(services/gateway/worker_client.py:96);UnaryUnaryCall._invoke (grpc/aio/_call.py:595)",
     "gRPC (Python side)"),
    (f"{LOOP};RequestContextMiddleware.__call__ (services/gateway/middleware.py:63);"
     "checked_image (services/gateway/inputs.py:90);probe (services/imaging.py:130);"
     "_open (services/imaging.py:90)", "request: base64, PNG header"),
    (f"{LOOP};classify_digit (services/gateway/routes.py:65);digit_answer "
     "(services/gateway/answers.py:26);BaseModel.__init__ (pydantic/main.py:280)",
     "answer: rounding, DigitAnswer"),
    (f"{LOOP};RequestContextMiddleware.__call__ (services/gateway/middleware.py:63);"
     "serialize_response (fastapi/routing.py:1);TypeAdapter.dump_json "
     "(pydantic/type_adapter.py:651)", "validation, serialisation (pydantic)"),
    (f"{LOOP};h11_impl.send (uvicorn/protocols/http/h11_impl.py:1);"
     "_SelectorSocketTransport.write (asyncio/selector_events.py:1057)",
     "socket reads and writes"),
])
def test_profile_samples_fall_where_the_work_is(stack, category):
    assert profile.categorise(stack.split(";")) == category


def test_profile_divides_each_threads_cpu_by_its_samples():
    samples = {profile.MAIN: collections.Counter({"event loop (asyncio)": 3, "logging": 1}),
               profile.POOL: collections.Counter({"forward pass": 1})}
    threads = {profile.MAIN: 0.8, profile.POOL: 2.0, profile.GRPC: 0.1}
    rows = profile.attribute(samples, threads)
    assert rows["event loop (asyncio)"]["ms_per_answer"] == pytest.approx(0.6)
    assert rows["logging"]["ms_per_answer"] == pytest.approx(0.2)
    assert rows["forward pass"]["ms_per_answer"] == pytest.approx(2.0)
    assert rows["gRPC C threads (not sampled)"]["ms_per_answer"] == pytest.approx(0.1)
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_the_profile_of_a_real_stack(tiny_models, tmp_path):
    result = profile.profile("mlp", 4, 300, 200, tmp_path, tiny_models)
    assert (result["answers"], result["errors"]) == (300, 0)
    for name in ("gateway", "worker"):
        process = result["processes"][name]
        assert (tmp_path / f"{name}.txt").stat().st_size > 0
        total = sum(row["ms_per_answer"] for row in process["categories"].values())
        assert total == pytest.approx(sum(process["threads_ms_per_answer"].values()))
        assert process["threads_ms_per_answer"][profile.MAIN] > 0
    assert "PNG decoding" in result["processes"]["worker"]["categories"]
    assert "HTTP (uvicorn, h11)" in result["processes"]["gateway"]["categories"]
    assert "**worker:" in profile.markdown(result)
