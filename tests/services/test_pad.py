"""The drawing pad without a browser: strokes become pixels, images and answers show,
predictions come from a real stack over REST, and every failure is shown in words.

Mouse input is simulated with the exact messages the browser sends to the canvas widget
(``{"event": "mouse_down", "x": ..., "y": ...}``), so the callbacks are exercised as in
JupyterLab. The browser itself is tested in ``test_pad_browser.py``.
"""

from __future__ import annotations

import base64
import html
import http.server
import io
import json
import re
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from stack_helpers import gateway_says, own_digit_model, repo_models

from services.gateway.errors import SERVER_MESSAGES
from services.pad import SIZE, DigitPad, GatewayClient, PadError, Prediction, rasterise
from services.stack import Stack, free_port

WIDTH = SIZE / 14  # the pad's stroke width, 20 px


def mouse(pad: DigitPad, event: str, x: float, y: float) -> None:
    """What the browser sends when the mouse does something over the canvas."""
    pad.canvas._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def drag(pad: DigitPad, points) -> None:
    mouse(pad, "mouse_down", *points[0])
    for point in points[1:]:
        mouse(pad, "mouse_move", *point)
    mouse(pad, "mouse_up", *points[-1])


def decode(data_url: str) -> np.ndarray:
    header, payload = data_url.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


def shown_error(pad: DigitPad) -> str:
    """The text the result area shows as an error ("" if none)."""
    if pad.error_box.layout.display == "none":
        return ""
    return html.unescape(re.sub(r"<[^>]*>", "", pad.error_box.value))


# -- drawing -------------------------------------------------------------------------------


def test_mouse_strokes_are_recorded_and_rasterised():
    pad = DigitPad("http://127.0.0.1:9/")
    mouse(pad, "mouse_move", 10, 10)  # hovering draws nothing
    drag(pad, [(140, 40), (140, 140), (140, 240)])
    mouse(pad, "mouse_move", 250, 250)  # after mouse_up: nothing either
    assert pad.strokes == [[(140, 40), (140, 140), (140, 240)]]

    image = pad.image()
    assert image.shape == (SIZE, SIZE) and image.dtype == np.uint8
    ink = image > 127
    rows, cols = np.nonzero(ink)
    # A vertical bar 20 px wide with round caps: from y = 40 - 10 to 240 + 10.
    assert abs(cols.min() - (140 - WIDTH / 2)) <= 1 and abs(cols.max() - (140 + WIDTH / 2)) <= 1
    assert abs(rows.min() - (40 - WIDTH / 2)) <= 1 and abs(rows.max() - (240 + WIDTH / 2)) <= 1
    assert ink.sum() == pytest.approx(200 * WIDTH + np.pi * (WIDTH / 2) ** 2, rel=0.03)
    assert image[20, 20] == 0 and image[140, 140] == 255
    # Anti-aliased edges, as a browser's canvas draws them.
    assert ((image > 0) & (image < 255)).any()


def test_leaving_the_canvas_ends_a_stroke_and_a_click_makes_a_dot():
    pad = DigitPad("http://127.0.0.1:9/")
    mouse(pad, "mouse_down", 50, 50)
    mouse(pad, "mouse_move", 60, 60)
    mouse(pad, "mouse_out", 300, 300)
    mouse(pad, "mouse_move", 100, 100)
    mouse(pad, "mouse_down", 200, 200)
    mouse(pad, "mouse_up", 200, 200)
    assert pad.strokes == [[(50, 50), (60, 60)], [(200, 200)]]
    dot = rasterise([[(200, 200)]]) > 127
    assert dot.sum() == pytest.approx(np.pi * (WIDTH / 2) ** 2, rel=0.05)
    assert (pad.image() > 127)[dot].all()


def test_draw_strokes_is_the_same_as_the_mouse():
    by_mouse, by_code = DigitPad("http://127.0.0.1:9/"), DigitPad("http://127.0.0.1:9/")
    strokes = [[(60, 60), (220, 60), (120, 240)], [(90, 150), (190, 150)]]  # a 7 with a bar
    for stroke in strokes:
        drag(by_mouse, stroke)
    by_code.draw_strokes(strokes)
    assert by_code.strokes == by_mouse.strokes
    np.testing.assert_array_equal(by_code.image(), by_mouse.image())


def test_set_image_scales_an_mnist_digit_to_the_canvas():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a "1", white on black like MNIST
    pad = DigitPad("http://127.0.0.1:9/")
    pad.draw_strokes([[(10, 10), (20, 20)]])
    pad.set_image(digit)
    assert pad.strokes == []  # the image replaces the drawing
    image = pad.image()
    assert image.shape == (SIZE, SIZE)
    assert image[140, 140] == 255 and image[140, 60] == 0 and image[20, 140] == 0

    # Dark ink on light paper, and floats in [0, 1], give the same picture.
    pad.set_image(1 - digit / 255.0, ink="dark")
    np.testing.assert_array_equal(pad.image(), image)

    # Strokes drawn afterwards go on top of the image.
    pad.draw_strokes([[(40, 250), (240, 250)]])
    assert pad.image()[250, 140] == 255 and pad.image()[140, 140] == 255


@pytest.mark.parametrize("bad, message", [
    (np.zeros((28, 28, 3)), "2-D grey image"),
    (np.full((28, 28), 300.0), r"\[0, 255\]"),
    (np.full((28, 28), np.nan), "finite"),
])
def test_set_image_refuses_what_it_cannot_show(bad, message):
    with pytest.raises(ValueError, match=message):
        DigitPad("http://127.0.0.1:9/").set_image(bad)


def test_clear_wipes_drawing_and_answer():
    pad = DigitPad("http://127.0.0.1:9/")
    pad.draw_strokes([[(140, 40), (140, 240)]])
    pad.set_image(np.eye(28) * 255)
    pad._show_answer(Prediction(3, np.eye(10)[3], np.zeros((28, 28)), None, "digits-cnn"))
    assert pad.digit_label.value == "3"
    pad.clear_button.click()
    assert pad.strokes == [] and pad.background is None and pad.answer is None
    assert pad.digit_label.value == "" and pad.results.layout.display == "none"
    assert not pad.image().any()


def test_the_request_is_the_drawing_as_png_with_model_and_saliency():
    # No gateway to ask which models it serves: the pad sends the name it was given (the
    # gateway will say if it is wrong), or none for the gateway's default.
    pad = DigitPad("http://127.0.0.1:9", model="mlp", saliency=False)
    pad.draw_strokes([[(140, 40), (140, 240)]])
    body = pad.request()
    assert body["model"] == "mlp" and body["saliency"] is False
    np.testing.assert_array_equal(decode(body["image"]), pad.image())
    assert pad.models == [] and pad.model == "mlp"
    pad.model = None
    assert pad.model is None and "model" not in pad.request()
    assert "model" not in DigitPad("http://127.0.0.1:9").request()


# -- predicting against a real stack -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_stack(tiny_models, tmp_path_factory):
    """The tiny models, and a model of one's own beside them."""
    mine = tmp_path_factory.mktemp("mine")
    own_digit_model(mine, "my-mlp")
    with Stack(models_dir=tiny_models, extra_models=[mine]) as stack:
        yield stack


@pytest.mark.slow
def test_predict_asks_the_gateway_and_shows_the_answer(tiny_stack):
    pad = DigitPad(tiny_stack.url, model="mlp")
    pad.draw_strokes([[(140, 40), (140, 240)]])
    answer = pad.predict()

    # Exactly what the REST API answers for the same request (random-weight models).
    direct = httpx.post(tiny_stack.api_url + "digits", json=pad.request(), trust_env=False)
    assert direct.status_code == 200
    expected = direct.json()
    assert answer.model == expected["model"] == "digits-mlp"
    assert answer.digit == expected["digit"] == int(np.argmax(answer.probabilities))
    np.testing.assert_allclose(answer.probabilities, expected["probabilities"], atol=1e-6)
    assert answer.input_image.shape == (28, 28) and answer.saliency.shape == (28, 28)

    # ... and the result area shows it.
    assert pad.answer is answer
    assert pad.digit_label.value == str(answer.digit)
    assert "digits-mlp" in pad.summary_label.value
    assert [bar.value for bar in pad.bars] == pytest.approx(answer.probabilities.tolist())
    assert pad.bars[answer.digit].bar_style == "success"
    assert bytes(pad.seen_image.value).startswith(b"\x89PNG")
    assert bytes(pad.saliency_image.value).startswith(b"\x89PNG")
    assert pad.results.layout.display is None and shown_error(pad) == ""

    pad.model_selector.value = "digits-cnn"  # the selector picks the model
    pad.predict_button.click()
    assert pad.answer.model == "digits-cnn" and not pad.predict_button.disabled


@pytest.mark.slow
def test_the_model_choice_is_what_the_gateway_serves(tiny_stack):
    listed = httpx.get(tiny_stack.api_url + "models", trust_env=False).json()["models"]
    client = GatewayClient(tiny_stack.url)
    assert [(m.name, m.task, list(m.aliases), m.default) for m in client.models()] == [
        (m["name"], m["task"], m["aliases"], m["default"]) for m in listed]

    pad = DigitPad(tiny_stack.url)
    assert pad.model_selector.options == (("digits-cnn (default)", "digits-cnn"),
                                          ("digits-mlp", "digits-mlp"), ("my-mlp", "my-mlp"))
    assert [m.name for m in pad.models] == ["digits-cnn", "digits-mlp", "my-mlp"]
    assert pad.model == "digits-cnn"  # the served default is selected
    pad.model = "mlp"  # an alias selects its model
    assert pad.model == "digits-mlp"
    pad.model = "my-mlp"
    pad.draw_strokes([[(140, 40), (140, 240)]])
    assert pad.predict().model == "my-mlp" and "my-mlp" in pad.summary_label.value
    with pytest.raises(ValueError, match="'resnet' is none of the digit models served") as e:
        pad.model = "resnet"
    assert "digits-cnn (cnn), digits-mlp (mlp), my-mlp" in str(e.value)
    assert pad.model == "my-mlp"  # unchanged
    assert DigitPad(tiny_stack.url, model="cnn").model == "digits-cnn"
    with pytest.raises(ValueError, match="'cat' is none of the digit models"):
        DigitPad(tiny_stack.url, model="cat")


@pytest.mark.slow
def test_a_pad_made_before_the_stack_gets_the_list_at_predict(tiny_models):
    stack = Stack(models_dir=tiny_models)
    pad = DigitPad(stack.url, model="mlp")  # nothing answers yet
    assert pad.models == [] and pad.request()["model"] == "mlp"
    with stack:
        pad.draw_strokes([[(140, 40), (140, 240)]])
        assert pad.predict().model == "digits-mlp"
    assert [m.name for m in pad.models] == ["digits-cnn", "digits-mlp"]
    assert pad.model == "digits-mlp"


@pytest.mark.slow
def test_an_empty_canvas_is_refused_in_plain_words(tiny_stack):
    pad = DigitPad(tiny_stack.url)
    with pytest.raises(PadError, match="empty") as refused:
        pad.predict()
    said = gateway_says(tiny_stack.url, pad.request())
    assert said["error"] == "invalid_input"
    assert str(refused.value) == shown_error(pad) == said["message"]  # the gateway's words
    assert pad.results.layout.display == "none" and pad.answer is None
    pad.predict_button.click()  # from the button: shown, not raised
    assert "empty" in shown_error(pad)


def test_a_gateway_that_is_not_there_is_reported():
    url = f"http://127.0.0.1:{free_port()}/"
    pad = DigitPad(url)
    pad.draw_strokes([[(140, 40), (140, 240)]])
    pad.predict_button.click()
    assert "Could not reach the gateway" in shown_error(pad) and url in shown_error(pad)
    assert pad.answer is None and not pad.predict_button.disabled
    with pytest.raises(PadError, match="Is the stack running"):
        pad.predict()


@pytest.mark.slow
def test_worker_down_is_reported_and_recovers(tiny_models):
    with Stack(models_dir=tiny_models) as stack:
        pad = DigitPad(stack.url)
        pad.draw_strokes([[(140, 40), (140, 240)]])
        pad.predict()
        stack.kill_worker()
        with pytest.raises(PadError, match="not available right now"):
            pad.predict()
        said = gateway_says(stack.url, pad.request())
        assert said["error"] == "worker_unavailable"
        assert shown_error(pad) == said["message"] == SERVER_MESSAGES[503]
        assert pad.answer is None
        stack.start_worker()
        deadline = time.monotonic() + 15  # the gateway reconnects within its backoff
        while not stack.gateway_ready():
            assert time.monotonic() < deadline, "the gateway did not see the worker return"
            time.sleep(0.1)
        pad.predict_button.click()
        assert shown_error(pad) == "" and pad.answer is not None


class FakeGateway:
    """An HTTP server on 127.0.0.1 that answers every request with ``status``, ``body``
    and ``content_type`` (set them before asking): a gateway saying something made up, or
    a proxy's error page."""

    def __init__(self) -> None:
        fake = self
        self.status, self.body, self.content_type = 200, b"{}", "application/json"
        self.models: list[dict] = []  # what GET /api/models answers
        self.listed = 0  # how often it was asked

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(fake.status)
                self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)

            def do_GET(self):  # noqa: N802 -- GET /api/models: the fake's model list
                fake.listed += 1
                body = json.dumps({"models": fake.models}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, status: int, body, content_type: str = "application/json") -> None:
        self.status, self.content_type = status, content_type
        self.body = json.dumps(body).encode() if isinstance(body, dict) else body


@pytest.fixture
def fake_gateway():
    fake = FakeGateway()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()


@pytest.mark.parametrize("status, error", [(503, "worker_unavailable"), (400, "invalid_input"),
                                           (504, "worker_timeout"), (413, "payload_too_large")])
def test_the_pad_shows_the_gateways_sentence_unchanged(fake_gateway, status, error):
    # Deliberately not the gateway's usual wording, without a capital or a final period:
    # a pad that words the failure itself, or "tidies" the sentence, shows something else.
    message = f"made-up words for a {status} ({error}), shown as they are"
    fake_gateway.answer(status, {"error": error, "detail": "what the caller reads",
                                 "message": message, "request_id": "r1"})
    pad = DigitPad(fake_gateway.url)
    pad.draw_strokes([[(140, 40), (140, 240)]])
    with pytest.raises(PadError) as refused:
        pad.predict()
    assert str(refused.value) == shown_error(pad) == message
    pad.predict_button.click()
    assert shown_error(pad) == message and pad.answer is None


def summary(name, default=False, task="digits"):
    aliases = [name.removeprefix(f"{task}-")] if name.startswith(f"{task}-") else []
    return {"name": name, "aliases": aliases, "task": task, "classes": [], "default": default,
            "card": {}}


def test_a_refused_model_name_makes_the_pad_ask_for_the_list_again(fake_gateway):
    fake_gateway.models = [summary("digits-cnn", default=True), summary("mine"),
                           summary("cat", True, "cat")]
    pad = DigitPad(fake_gateway.url, model="mine")
    assert fake_gateway.listed == 1 and pad.model == "mine"
    assert [m.name for m in pad.models] == ["digits-cnn", "mine"]  # digit models only
    # The worker was restarted without "mine": the gateway refuses it; the pad shows the
    # gateway's words and offers what is served now.
    fake_gateway.models = [summary("digits-cnn", default=True), summary("theirs")]
    fake_gateway.answer(400, {"error": "invalid_request", "detail": "d", "request_id": "r",
                              "message": "no digit model called 'mine'"})
    pad.draw_strokes([[(140, 40), (140, 240)]])
    pad.predict_button.click()
    assert shown_error(pad) == "no digit model called 'mine'"
    assert fake_gateway.listed == 2
    assert pad.model_selector.options == (("digits-cnn (default)", "digits-cnn"),
                                          ("theirs", "theirs"))
    assert pad.model == "digits-cnn"
    # Other refusals do not ask again.
    fake_gateway.answer(503, {"error": "worker_unavailable", "detail": "d", "request_id": "r",
                              "message": "away"})
    pad.predict_button.click()
    assert shown_error(pad) == "away" and fake_gateway.listed == 2


@pytest.mark.parametrize("status, body, content_type", [
    (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),  # a proxy
    (503, b"", "text/plain"),
    (404, {"detail": "Not Found"}, "application/json"),  # some other API, not the gateway
])
def test_an_answer_not_from_the_gateway_is_named_as_such(fake_gateway, status, body,
                                                         content_type):
    fake_gateway.answer(status, body, content_type)
    with pytest.raises(PadError) as refused:
        GatewayClient(fake_gateway.url).digits({"image": "x"})
    said = str(refused.value)
    assert f"HTTP {status}" in said and fake_gateway.url in said
    assert "Not Found" not in said and said not in SERVER_MESSAGES.values()


@pytest.mark.parametrize("body", [b"not json at all", {"digit": 3}, b"[1, 2]"])
def test_an_unreadable_answer_is_reported(fake_gateway, body):
    fake_gateway.answer(200, body)
    pad = DigitPad(fake_gateway.url)
    pad.draw_strokes([[(140, 40), (140, 240)]])
    pad.predict_button.click()
    assert shown_error(pad) == (f"The answer from {fake_gateway.url} could not be read as "
                                "the gateway's.")
    assert pad.answer is None


def test_one_job_per_module():
    """The widget uses the client and the rasteriser; they know nothing about widgets
    (nor about each other)."""
    import ast
    from pathlib import Path

    import services.pad

    def imports(name: str) -> set[str]:
        tree = ast.parse((Path(services.pad.__file__).parent / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module if node.module.startswith("services") else
                          node.module.split(".")[0])
        return found

    widget, client, raster = imports("widget"), imports("client"), imports("raster")
    assert {"services.pad.client", "services.pad.raster", "ipywidgets"} <= widget
    for module in (client, raster):
        assert not module & {"ipywidgets", "ipycanvas", "services.pad.widget"}, module
    assert "services.pad.raster" not in client and "services.pad.client" not in raster
    assert "httpx" in client and "httpx" not in raster | widget


def test_an_exception_inside_a_callback_is_shown(monkeypatch):
    pad = DigitPad("http://127.0.0.1:9/")

    def broken(*_):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("services.pad.widget.rasterise", broken)
    pad.predict_button.click()
    assert "Something went wrong in the pad: ZeroDivisionError" in shown_error(pad)
    assert not pad.predict_button.disabled


# -- the trained models --------------------------------------------------------------------

ONE = [[(150, 40), (140, 240)]]
SEVEN = [[(70, 50), (210, 50), (120, 240)]]


@pytest.mark.slow
def test_drawn_digits_and_a_test_digit_are_recognised():
    from dlcore.data import load_mnist

    models = repo_models()
    mnist = load_mnist("mnist-small")
    with Stack(models_dir=models) as stack:
        pad = DigitPad(stack.url)
        for model in ("cnn", "mlp"):
            pad.model = model  # an alias, as requests may say
            for strokes, expected in [(ONE, 1), (SEVEN, 7)]:
                pad.clear()
                pad.draw_strokes(strokes)
                answer = pad.predict()
                assert answer.digit == expected, (model, expected, answer.probabilities.round(3))
        for i in range(5):
            pad.set_image(mnist.test_x[i])
            assert pad.predict().digit == mnist.test_y[i]
