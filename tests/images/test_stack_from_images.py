"""The stack run from its images with exactly the pods' settings, behind the Ingress.

Each pod of ``k8s/base`` (worker, gateway, frontend) runs its image's command on the
image's root file system with the Deployment's settings: the ConfigMaps' environment
unchanged, UID/GID 10001, a read-only root with only its emptyDir ``/tmp`` writable, no
privilege escalation. They share a private network namespace in which the Services'
names resolve (its hosts file) to the pods' loopback addresses, so the gateway dials
``dns:///worker-headless:50051`` as in the cluster. Debian's nginx, configured from the
Ingress object's own rules, stands in for ingress-nginx: ``/api`` to the gateway, the rest
to the page. Everything here goes through it (``scripts/pods.py`` and
``scripts/ingress_stand_in.py`` explain the set-up).
"""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from image_helpers import ARTIFACTS, REPO, pods
from ingress_stand_in import start_ingress
from lab_helpers import CHROMIUM, chromium_browser
from PIL import Image, ImageDraw

from k8s.policy import parse_size  # the checkout's k8s/ (pods puts the root on the path)

sys.path.insert(0, str(REPO / "tests" / "services"))
# The bad-input matrix and the page's drawing helpers, as the local-stack tests use them.
from test_browser import THREE, draw, open_page, predicted  # noqa: E402
from test_reliability_bad_input import CASES, GOOD_PNG, b64  # noqa: E402

pytestmark = pytest.mark.slow


class Running:
    """The cluster, its pods by Deployment name, and the Ingress stand-in's socket."""

    def __init__(self, cluster: pods.Cluster, by_name: dict[str, pods.Pod], ingress: Path):
        self.cluster, self.pods, self.ingress = cluster, by_name, ingress


@pytest.fixture(scope="module")
def stack(builder, objects, image_ids):
    with pods.Cluster() as cluster:
        try:
            running = pods.start_stack(cluster, objects, image_ids, builder)
            ingress = start_ingress(cluster, objects)
            yield Running(cluster, running, ingress)
        except pods.PodError as error:
            pytest.fail(str(error))
        finally:
            logs = ARTIFACTS / "pods"
            logs.mkdir(parents=True, exist_ok=True)
            for pod in cluster.pods:
                (logs / f"{pod.spec.name}.log").write_text(pod.logs())


@pytest.fixture(scope="module")
def http(stack):
    """A client of the Ingress stand-in (its Unix socket, from outside the namespace)."""
    transport = httpx.HTTPTransport(uds=str(stack.ingress))
    with httpx.Client(transport=transport, base_url="http://simpledl.test", timeout=30,
                      trust_env=False) as client:
        yield client


def ingress_body_limit(objects) -> int:
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    return parse_size(ingress["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/proxy-body-size"])


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def mounts_of(pid: int) -> dict[str, tuple[str, str]]:
    """Mount point (as the process sees it) -> (file system type, mount options)."""
    found = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        found[fields[4]] = (fields[separator + 1], fields[5])
    return found


# --------------------------------------------------------------------------- the pods


def test_every_pod_runs_with_its_deployments_settings(stack, objects):
    for name, pod in stack.pods.items():
        deployment = pods.find(objects, "Deployment", name)
        spec = deployment["spec"]["template"]["spec"]
        container = spec["containers"][0]
        status = status_of(pod.process.pid)
        uid, gid = spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]
        assert status["Uid"].split() == [str(uid)] * 4, (name, status["Uid"])
        assert status["Gid"].split() == [str(gid)] * 4, (name, status["Gid"])
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, name
        assert status["NoNewPrivs"] == "1", name  # allowPrivilegeEscalation: false

        mounts = mounts_of(pod.process.pid)
        assert mounts["/"][1].split(",")[0] == "ro", (name, mounts["/"])  # readOnlyRootFilesystem
        for volume_mount in container["volumeMounts"]:
            kind, options = mounts[volume_mount["mountPath"]]
            assert kind == "tmpfs" and options.startswith("rw"), (name, volume_mount)

        configmap = pods.container_env(objects, container)
        if not configmap:
            continue  # the page's nginx has no settings (and rewrites its environment block)
        environ = Path(f"/proc/{pod.process.pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
        for key, value in configmap.items():  # the ConfigMap's values, unchanged
            assert env.get(key) == value, (name, key, env.get(key), value)


def test_the_root_file_system_is_read_only_and_tmp_is_writable(stack):
    for name, pod in stack.pods.items():
        refused = pod.exec(["sh", "-c", "touch /written-at-run-time"])
        assert refused.returncode != 0, f"{name}: wrote to its root file system"
        assert "Read-only file system" in refused.stderr, (name, refused.stderr)
        allowed = pod.exec(["sh", "-c", "echo x > /tmp/probe && cat /tmp/probe && id -u"])
        assert allowed.returncode == 0, (name, allowed.stderr)
        assert allowed.stdout.split() == ["x", "10001"], (name, allowed.stdout)


def test_every_probe_of_every_deployment_passes(stack):
    for name, pod in stack.pods.items():
        assert pod.spec.probes, name
        for kind in pod.spec.probes:
            passed, what = pod.probe(kind)
            assert passed, f"{name} {kind}: {what}"


def test_each_images_healthcheck_passes_inside_its_pod(stack, builder, image_ids):
    for name, pod in stack.pods.items():
        config = builder.inspect(image_ids[pod.spec.image])
        test = (config.get("Healthcheck") or {}).get("Test")
        assert test and test[0] == "CMD", f"{name}: no HEALTHCHECK in the built image: {config}"
        result = pod.exec(test[1:], timeout=30)
        assert result.returncode == 0, (name, test, result.stdout, result.stderr)


def test_the_services_names_resolve_to_the_pods(stack):
    hosts = stack.cluster.hosts.read_text()
    for service, deployment in (("worker-headless", "worker"), ("gateway", "gateway"),
                                ("frontend", "frontend")):
        address = stack.pods[deployment].address
        assert re.search(rf"^{re.escape(address)}\t{service} ", hosts, re.M), hosts
    target = stack.pods["gateway"].spec.env["GATEWAY_WORKER_TARGET"]
    assert target == "dns:///worker-headless:50051"


# --------------------------------------------------------------------------- through the Ingress


def test_the_ingress_routes_the_page_to_nginx_and_api_to_the_gateway(http):
    page = http.get("/")
    assert page.status_code == 200
    assert page.content == (REPO / "services" / "frontend" / "index.html").read_bytes()
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert http.get("/app.js").content == (REPO / "services/frontend/app.js").read_bytes()
    assert http.get("/healthz").text == "ok\n"  # the page's nginx (the Ingress's "/" rule)

    models = http.get("/api/models")  # the gateway, which asks the worker
    assert models.status_code == 200, models.text
    names = {m["name"] for m in models.json()["models"]}
    assert names == {"cat", "digits-mlp", "digits-cnn"}
    missing = http.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert http.get("/openapi.json").json()["info"]["title"]
    assert http.get("/docs").status_code == 200


def render_strokes(strokes, size: int = 280) -> bytes:
    """The strokes as the page draws them: black lines on white, 18 px wide."""
    image = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * size, y * size) for x, y in stroke]
        pen.line(points, fill=0, width=18, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_drawn_three_comes_back_as_three_from_every_digit_model(http):
    drawing = base64.b64encode(render_strokes(THREE)).decode()
    for model in (None, "cnn", "mlp"):
        body = {"image": drawing, **({"model": model} if model else {})}
        answer = http.post("/api/digits", json=body)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["digit"] == 3, (model, np.round(result["probabilities"], 3).tolist())
        assert answer.headers["x-request-id"]


def test_a_cat_upload_gets_the_served_models_answer(http):
    from dlcore import load_model
    from dlcore.data import load_cats
    from dlcore.layout import flatten_images

    cats = load_cats()
    index = int(np.flatnonzero(cats.test_y == 1)[0])
    picture = cats.test_x[index]
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    answer = http.post("/api/cats", files={"file": ("cat.png", buffer.getvalue(), "image/png")})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    # The worker image serves models/cat as this checkout has it: the same probability.
    model = load_model(REPO / "models" / "cat")
    expected = float(model.predict_proba(flatten_images(picture[np.newaxis]))[0, 0])
    assert result["model"] == "cat"
    assert result["cat_probability"] == pytest.approx(expected, abs=1e-4)
    assert result["label"] == ("cat" if expected >= 0.5 else "non-cat")


SELF_CONTAINED = [c for c in CASES if "{server}" not in json.dumps(c.request, default=str)]


@pytest.mark.parametrize("case", SELF_CONTAINED, ids=[c.kind for c in SELF_CONTAINED])
def test_bad_input_through_the_ingress(http, objects, case):
    """The bad-input matrix (its cases that need no test server), through the Ingress.

    A body over the Ingress's proxy-body-size never reaches the gateway: ingress-nginx
    answers 413 itself (an HTML page, not the gateway's JSON)."""
    request = http.build_request(case.method, case.path, **case.request)
    response = http.send(request)
    if len(request.read()) > ingress_body_limit(objects):
        assert response.status_code == 413, case.kind
        assert "application/json" not in response.headers.get("content-type", "")
    else:
        assert response.status_code == case.status, (case.kind, response.text[:300])
        body = response.json()
        assert body["error"] == case.error, body
        fragments = (case.fragment,) if isinstance(case.fragment, str) else case.fragment
        assert any(f.lower() in body["detail"].lower() for f in fragments), body["detail"]
        assert body["request_id"] == response.headers["x-request-id"]
    ok = http.post("/api/digits", json={"image": b64(GOOD_PNG)})
    assert ok.status_code == 200, f"after {case.kind}: {ok.status_code} {ok.text[:300]}"


# --------------------------------------------------------------------------- a browser


@pytest.mark.browser
def test_a_browser_draws_a_three_on_the_page_through_the_ingress(stack):
    """Chromium inside the namespace opens the Ingress's address, draws, reads the answer."""
    wrapper = stack.cluster.directory / "chromium"
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(stack.cluster.command([str(CHROMIUM)]))
                       + ' "$@"\n')
    wrapper.chmod(0o755)
    with chromium_browser(wrapper) as browser:
        page, problems = open_page(browser, "http://127.0.0.1/")
        draw(page, THREE)
        page.click("#predict")
        digit, probabilities = predicted(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "images-browser-digit.png"), full_page=True)
        assert digit == 3, np.round(probabilities, 3).tolist()
        assert page.locator("#digit-model").text_content().startswith("digits-")
        page.close()
    assert not problems, problems


# --------------------------------------------------------------------------- stopping (last)


def test_each_process_stops_gracefully_on_its_stop_signal(stack):
    """The image's STOPSIGNAL (SIGTERM; nginx: SIGQUIT), as the kubelet sends it: each
    process finishes its shutdown within terminationGracePeriodSeconds (never SIGKILLed)
    and exits 0 — or, like uvicorn, re-raises the stop signal once it has shut down."""
    finished = {"worker": "shutting down", "gateway": "Application shutdown complete"}
    for name in ("frontend", "gateway", "worker"):
        pod = stack.pods[name]
        expected = signal.SIGQUIT if name == "frontend" else signal.SIGTERM
        assert pod.spec.stop_signal == expected, name
        code = pod.stop(prestop=False)
        assert code in (0, -expected), f"{name} exited {code}; its log:\n{pod.logs()[-3000:]}"
        assert finished.get(name, "") in pod.logs(), name
