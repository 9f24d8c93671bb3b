"""The serving benchmark measures what it says (no timings are asserted here): its baseline
does the stack's work and answers alike, its load generator counts every answer and every
error, and its summary takes medians and ratios to the baseline."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

import dlcore
from benchmarks.serving import (
    SERVERS,
    Baseline,
    Run,
    baseline_app,
    digit_request,
    load,
    main,
    page_png,
    summarise,
)
from dlcore.digits import preprocess_digit
from services.worker import preprocess


def test_the_request_is_what_the_page_sends():
    request = digit_request("cnn", page_png(), 8000)
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /api/digits HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    sent = json.loads(body)
    assert sent["model"] == "cnn" and sent["image"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_baseline_answers_as_dlcore_does(tiny_models, model):
    png = page_png()
    body = json.loads(digit_request(model, png, 0).partition(b"\r\n\r\n")[2])
    with TestClient(baseline_app(tiny_models)) as client:
        answer = client.post("/api/digits", json=body).json()
    from services.proto import inference_pb2

    seen = preprocess_digit(preprocess.digit_pixels(inference_pb2.Image(encoded=png)))
    x = seen[None, None] if model == "cnn" else seen.reshape(784, 1)
    expected = dlcore.load_model(tiny_models / f"digits-{model}.json").predict_proba(x)[:, 0]
    np.testing.assert_allclose(answer["probabilities"], expected, atol=2e-6)
    assert answer["model"] == f"digits-{model}"
    np.testing.assert_allclose(answer["input_image"], seen, atol=1e-4)


@pytest.mark.slow
def test_the_load_generator_counts_answers_and_errors(tiny_models):
    with Baseline(tiny_models) as server:
        good = digit_request("mlp", page_png(), server.port)
        n, errors, seconds, latencies, cpu = asyncio.run(
            load(server.port, good, 4, 30, 60, {"baseline": server.process.pid}))
        assert (n, errors, len(latencies)) == (30, 0, 30)
        assert seconds > 0 and min(latencies) > 0 and cpu["baseline"] > 0
        bad = good.replace(b'"model": "mlp"', b'"model": "vgg"')
        n, errors, *_ = asyncio.run(load(server.port, bad, 2, 10, 60))
        assert (n, errors) == (10, 10)


def test_summary_takes_medians_and_ratios():
    def run(server, throughput, latencies):
        return Run(server, "cnn", 8, int(throughput), 0, 1.0, latencies, {"p": 1.0})

    runs = [run(SERVERS[2], 100, [1, 2, 3]), run(SERVERS[2], 300, [1, 2, 3]),
            run(SERVERS[2], 200, [1, 2, 3]), run(SERVERS[0], 50, [10] * 99 + [1000])]
    rows = {r["server"]: r for r in summarise(runs)}
    assert rows[SERVERS[2]]["throughput"] == 200 and rows[SERVERS[2]]["rounds"] == 3
    assert rows[SERVERS[0]]["vs_baseline"] == pytest.approx(0.25)
    assert rows[SERVERS[0]]["p50"] == 10 and rows[SERVERS[0]]["p99"] > 10


def test_missing_models_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--models-dir", str(tmp_path)])
    assert "has no digits-cnn model" in capsys.readouterr().err
