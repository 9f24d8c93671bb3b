"""The real processes on loopback: worker and gateway started by the launcher, every
endpoint exercised over HTTP, the worker killed and brought back, a tampered model file
refused at start, the foreground launcher stopped with a signal."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import wait_until
from stack_helpers import (
    REPO,
    ImageServer,
    drawn_digit,
    encode,
    own_digit_model,
    photo,
    repo_digit_models,
)

import dlcore
from dlcore.digits import preprocess_digit
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.stack import Stack, StackError, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image_host():
    with ImageServer(encode(photo(), "JPEG")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(tiny_models):
    with Stack(models_dir=tiny_models, gateway_env={"GATEWAY_URL_ALLOWLIST": "127.0.0.1"},
               worker_env={"WORKER_SHUTDOWN_GRACE_SECONDS": "5"}) as running:
        yield running


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.url, trust_env=False, timeout=30) as client:
        yield client


def nothing_listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def b64png(image) -> str:
    return "data:image/png;base64," + base64.b64encode(encode(image)).decode()


def test_operations_endpoints(stack, http):
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/readyz").json() == {"status": "ready", "detail": "worker SERVING"}
    assert "simpledl_gateway_requests_total" in http.get("/metrics").text
    assert http.get("/docs").status_code == 200
    assert "/api/digits" in http.get("/openapi.json").json()["paths"]
    page = http.get("/")
    assert page.status_code == 200 and 'id="pad"' in page.text
    assert http.get("/app.js").status_code == 200


def test_models_endpoint(http, tiny_models):
    models = {m["name"]: m for m in http.get("/api/models").json()["models"]}
    assert set(models) == {"cat", "digits-cnn", "digits-mlp"}
    assert models["digits-cnn"]["default"] and not models["digits-mlp"]["default"]
    card = (tiny_models / "cat.json").read_text()
    assert models["cat"]["card"]["sha256"] in card
    assert models["cat"]["classes"] == ["non-cat", "cat"]
    assert {name: m["aliases"] for name, m in models.items()} == {
        "cat": [], "digits-cnn": ["cnn"], "digits-mlp": ["mlp"]}


@pytest.mark.parametrize("model", ["cnn", "mlp", None])
def test_digits_endpoint_matches_dlcore(http, tiny_models, model):
    body = {"image": b64png(drawn_digit()), "saliency": True}
    if model:
        body["model"] = model
    r = http.post("/api/digits", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    name = f"digits-{model or 'cnn'}"
    assert answer["model"] == name
    seen = preprocess_digit(drawn_digit())
    x = seen[None, None] if name == "digits-cnn" else seen.reshape(784, 1)
    expected = dlcore.load_model(tiny_models / f"{name}.json").predict_proba(x)[:, 0]
    np.testing.assert_allclose(answer["probabilities"], expected, atol=2e-6)
    assert answer["digit"] == int(np.argmax(expected))
    np.testing.assert_allclose(answer["input_image"], seen, atol=1e-4)
    saliency = np.array(answer["saliency"])
    assert saliency.shape == (28, 28) and saliency.max() == pytest.approx(1.0)


def test_digits_as_pixel_rows(http):
    rows = (drawn_digit(40) / 255).round(3).tolist()
    r = http.post("/api/digits", json={"image": rows, "model": "mlp"})
    assert r.status_code == 200, r.text
    assert np.array(r.json()["input_image"]).shape == (28, 28)


def test_cats_endpoint_in_every_form(stack, http, image_host):
    jpeg = image_host.png  # the module's image server serves a JPEG at /cat.png
    answers = [
        http.post("/api/cats", files={"file": ("cat.jpg", jpeg, "image/jpeg")}),
        http.post("/api/cats", json={"image": base64.b64encode(jpeg).decode()}),
        http.post("/api/cats", content=jpeg, headers={"content-type": "image/jpeg"}),
        http.post("/api/cats", json={"cat_url": image_host.url("/cat.png")}),
        http.post("/api/cats", json={"cat_url": image_host.url("/redirect?to=/cat.png")}),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
    bodies = [r.json() for r in answers]
    assert all(b == bodies[0] for b in bodies)  # the same photo, the same answer
    first = bodies[0]
    assert first["model"] == "cat" and first["label"] in ("cat", "non-cat")
    assert 0.5 <= first["probability"] <= 1
    assert first["input_image"].startswith("data:image/png;base64,")


def test_bad_inputs_get_4xx_from_the_real_worker(http):
    png = encode(drawn_digit())
    truncated = base64.b64encode(png[: len(png) // 2]).decode()
    cases = [
        ({"image": b64png(np.full((60, 60), 255, np.uint8))}, 400, "empty"),
        ({"image": truncated}, 400, "damaged or truncated"),
        ({"image": [[0, 0], [0, 0]]}, 400, "empty"),
    ]
    for body, status, fragment in cases:
        r = http.post("/api/digits", json=body)
        assert r.status_code == status, r.text
        assert fragment in r.json()["detail"]
    assert http.post("/api/digits", json={"image": b64png(drawn_digit())}).status_code == 200


def test_a_model_the_worker_does_not_serve_is_400_listing_those_it_does(tmp_path, tiny_models):
    only_mlp = tmp_path / "models"
    only_mlp.mkdir()
    for suffix in (".npz", ".json"):
        name = f"digits-mlp{suffix}"
        (only_mlp / name).write_bytes((tiny_models / name).read_bytes())
    default = {"WORKER_DEFAULT_DIGIT_MODEL": "digits-mlp"}  # the default must be served
    with Stack(models_dir=only_mlp, worker_env=default) as small, \
            httpx.Client(trust_env=False) as client:
        r = client.post(small.api_url + "digits", json={"image": b64png(drawn_digit()),
                                                         "model": "cnn"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        assert r.json()["errors"] == [{"field": "model", "message": (
            "no digit model called 'cnn'; the served digit models are: digits-mlp (or mlp) "
            "(GET /api/models)")}]
        # A task the worker serves no model for is another matter: nothing to name.
        r = client.post(small.api_url + "cats", files={"file": ("c.png", encode(photo()))})
        assert r.status_code == 404 and "no cat model" in r.json()["detail"]


def test_an_extra_models_directory_end_to_end(tmp_path, tiny_models):
    """Stack(extra_models=...) serves a model of one's own beside the others: listed, asked
    by name, the aliases still work, and the gateway's list of names follows the worker."""
    mine = tmp_path / "mine"
    own_digit_model(mine, "my-mlp")
    body = {"image": b64png(drawn_digit()), "saliency": True}
    with Stack(models_dir=tiny_models, extra_models=[mine]) as stack, \
            httpx.Client(base_url=stack.url, trust_env=False, timeout=30) as client:
        assert stack.worker_environment()["WORKER_EXTRA_MODELS_DIRS"] == str(mine)
        listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        assert set(listed) == {"cat", "digits-cnn", "digits-mlp", "my-mlp"}
        assert listed["my-mlp"]["task"] == "digits" and listed["my-mlp"]["aliases"] == []
        assert not listed["my-mlp"]["default"]

        used = {}
        for name in ("my-mlp", "digits-mlp", "mlp", "digits-cnn", "cnn", None):
            r = client.post("/api/digits", json=body if name is None else {**body, "model": name})
            assert r.status_code == 200, r.text
            used[name] = r.json()["model"]
        assert used == {"my-mlp": "my-mlp", "digits-mlp": "digits-mlp", "mlp": "digits-mlp",
                        "digits-cnn": "digits-cnn", "cnn": "digits-cnn", None: "digits-cnn"}
        answer = client.post("/api/digits", json={**body, "model": "my-mlp"}).json()
        seen = preprocess_digit(drawn_digit())
        expected = dlcore.load_model(mine / "my-mlp.json").predict_proba(seen.reshape(784, 1))
        np.testing.assert_allclose(answer["probabilities"], expected[:, 0], atol=2e-6)

        r = client.post("/api/digits", json={**body, "model": "your-mlp"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        assert r.json()["message"] == (
            "Invalid request: model: no digit model called 'your-mlp'; the served digit "
            "models are: digits-cnn (or cnn), digits-mlp (or mlp), my-mlp (GET /api/models).")
        r = client.post("/api/digits", json={**body, "model": "cat"})  # a model, not of digits
        assert r.status_code == 400 and "no digit model called 'cat'" in r.json()["detail"]

        # The worker comes back with one more model: the first request naming it finds it.
        own_digit_model(mine, "your-mlp")
        stack.stop_worker()
        stack.start_worker()
        # the gateway reconnects to a restarted worker within its 1 s backoff
        wait_until("the gateway to see the worker return", stack.gateway_ready, stack, 15)
        assert client.post("/api/digits", json={**body, "model": "your-mlp"}).json()[
            "model"] == "your-mlp"
        # ... and without the directory: a name the gateway knew is refused the same way.
        stack.stop_worker()
        stack.extra_models = []
        stack.start_worker()
        wait_until("the gateway to see the worker return", stack.gateway_ready, stack, 15)
        r = client.post("/api/digits", json={**body, "model": "my-mlp"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        assert r.json()["errors"][0]["field"] == "model"
        assert "'my-mlp'" in r.json()["detail"] and "digits-cnn, digits-mlp" in r.json()["detail"]
        listed = client.get("/api/models").json()["models"]
        assert {m["name"] for m in listed} == {"cat", "digits-cnn", "digits-mlp"}


def test_a_name_served_twice_stops_the_stack(tmp_path, tiny_models):
    twice = tmp_path / "mine"
    own_digit_model(twice, "digits-cnn")
    with pytest.raises(StackError, match="two models are called 'digits-cnn'"):
        Stack(models_dir=tiny_models, extra_models=[twice]).start()


def test_request_id_reaches_the_worker_log(stack, http):
    r = http.post("/api/digits", json={"image": b64png(drawn_digit())},
                  headers={"X-Request-ID": "trace-worker-7"})
    assert r.headers["x-request-id"] == "trace-worker-7"
    for service in (stack.worker, stack.gateway):  # log lines may trail the answer a little
        deadline = time.monotonic() + 5
        while "[trace-worker-7]" not in service.log_path.read_text():
            assert time.monotonic() < deadline, service.log_tail()
            time.sleep(0.1)


def test_worker_metrics(stack, http):
    http.post("/api/digits", json={"image": b64png(drawn_digit())})
    text = httpx.get(stack.worker_metrics_url, trust_env=False).text
    assert 'simpledl_worker_requests_total{code="OK",method="ClassifyDigit"}' in text
    assert "simpledl_worker_batch_size_bucket" in text
    assert "simpledl_worker_inference_duration_seconds_count" in text
    assert "simpledl_worker_ready 1.0" in text


def test_worker_deadline_is_504(stack):
    # A gateway whose deadline no call can meet, in front of the real worker.
    settings = GatewaySettings(worker_target=stack.worker_target, worker_timeout_seconds=0.0005)
    big = np.tile(drawn_digit(), (6, 6))  # 1680x1680: decoding alone takes milliseconds
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/digits", json={"image": b64png(big)})
    assert r.status_code == 504 and r.json()["error"] == "worker_timeout"


def test_worker_down_is_503_quickly_and_recovers(stack, http):
    body = {"image": b64png(drawn_digit())}
    assert http.post("/api/digits", json=body).status_code == 200
    stack.kill_worker()
    start = time.monotonic()
    r = http.post("/api/digits", json=body)
    elapsed = time.monotonic() - start
    assert r.status_code == 503 and r.json()["error"] == "worker_unavailable"
    assert elapsed < 5  # failed fast, not by waiting out the 5 s worker deadline
    assert http.get("/readyz").status_code == 503
    assert http.get("/healthz").status_code == 200  # the gateway itself is alive

    stack.start_worker()
    wait_for_success(http, body)  # the gateway reconnects within its 1 s backoff
    assert http.get("/readyz").status_code == 200


def wait_for_success(http, body, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while (r := http.post("/api/digits", json=body)).status_code != 200:
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)


def test_sigterm_stops_the_worker_cleanly(stack, http):
    assert stack.stop_worker() == 0
    assert "stopped" in stack.worker.log_tail()
    stack.start_worker()
    wait_for_success(http, {"image": b64png(drawn_digit())})


def worker_env(models_dir: Path) -> dict[str, str]:
    return {**os.environ, "WORKER_MODELS_DIR": str(models_dir), "WORKER_PORT": str(free_port()),
            "WORKER_METRICS_PORT": "0", "PYTHONPATH": str(REPO)}


def test_a_tampered_model_stops_the_worker(tampered_models):
    result = subprocess.run([sys.executable, "-m", "services.worker"], cwd=REPO,
                            env=worker_env(tampered_models), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "digits-mlp" in result.stderr and "sha256" in result.stderr
    with pytest.raises(StackError, match="refusing to start"):
        Stack(models_dir=tampered_models).start()


def test_invalid_settings_stop_the_worker(tiny_models):
    env = {**worker_env(tiny_models), "WORKER_PORT": "not-a-port"}
    result = subprocess.run([sys.executable, "-m", "services.worker"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "WORKER_* settings" in result.stderr


def test_stop_leaves_nothing_behind(tiny_models):
    stack = Stack(models_dir=tiny_models).start()
    processes = [stack.worker.process, stack.gateway.process]
    stack.stop()
    worker, gateway = (p.poll() for p in processes)
    assert worker == 0  # a clean, graceful exit on SIGTERM
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (exit -15)
    assert gateway in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in stack.gateway.log_tail()
    assert nothing_listens(stack.gateway_port) and nothing_listens(stack.worker_port)


def test_foreground_launcher(tiny_models, tmp_path):
    port = free_port()
    mine = tmp_path
    own_digit_model(mine, "my-mlp")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "services.stack", "--port", str(port), "--models-dir",
         str(tiny_models), "--extra-models", str(mine)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any("Press Ctrl+C" in line for line in lines):
            assert time.monotonic() < deadline and launcher.poll() is None, "".join(lines)
            lines.append(launcher.stdout.readline())
        assert f"page      http://127.0.0.1:{port}/" in "".join(lines)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False).status_code == 200
        listed = httpx.get(f"http://127.0.0.1:{port}/api/models", trust_env=False).json()
        assert "my-mlp" in {m["name"] for m in listed["models"]}
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(30) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.stdout.close()
    assert nothing_listens(port)


def test_the_trained_models_serve_mnist_digits():
    """With the models from `make models`: real test digits, drawn black on white."""
    models, digit_models = repo_digit_models()
    from dlcore.data import DataError, load_mnist

    try:
        mnist = load_mnist("mnist-small")
    except DataError as e:
        pytest.skip(f"mnist-small is not available ({e}); run: make data")
    with Stack(models_dir=models) as stack, httpx.Client(trust_env=False) as client:
        listed = client.get(stack.api_url + "models").json()["models"]
        assert {m["name"] for m in listed} >= {"cat", *(f"digits-{m}" for m in digit_models)}
        for model in digit_models:
            correct = 0
            for image, label in zip(mnist.test_x[:20], mnist.test_y[:20], strict=True):
                paper = 255 - np.kron(image, np.ones((10, 10), np.uint8))  # 280x280, dark ink
                body = {"image": b64png(paper), "model": model}
                r = client.post(stack.api_url + "digits", json=body)
                assert r.status_code == 200, r.text
                correct += r.json()["digit"] == int(label)
            assert correct >= 18, f"digits-{model}: {correct}/20 MNIST test digits right"


def test_connection_age_limit_loses_no_calls(tiny_models):
    """The worker closes connections every second here (30 s by default, so clients
    re-resolve behind a Kubernetes Service); the gateway's calls must not notice."""
    env = {"WORKER_MAX_CONNECTION_AGE_SECONDS": "1", "WORKER_MAX_CONNECTION_AGE_GRACE_SECONDS": "1"}
    with Stack(models_dir=tiny_models, worker_env=env) as stack, httpx.Client(
            base_url=stack.url, trust_env=False, timeout=30) as client:
        body = {"image": b64png(drawn_digit())}
        statuses = []
        deadline = time.monotonic() + 4  # four connection lifetimes
        while time.monotonic() < deadline:
            statuses.append(client.post("/api/digits", json=body).status_code)
    assert statuses and set(statuses) == {200}, statuses
