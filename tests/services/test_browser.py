"""The page in a real browser: Debian's Chromium driven by Playwright, headless.

Draws with mouse moves on the canvas, clicks Predict, reads the digit and the ten
probabilities from the page; uploads a photo and reads the answer; checks the plain-word
errors. Screenshots go to artifacts/ (git-ignored). Needs /usr/bin/chromium
(``make sysdeps`` installs it; never ``playwright install``).
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import math
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from stack_helpers import (
    REPO,
    encode,
    gateway_says,
    own_digit_model,
    photo,
    repo_digit_models,
)

from services.gateway.errors import SERVER_MESSAGES
from services.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "artifacts"
BLANK = [[255] * 28] * 28  # white paper, nothing drawn: what an untouched pad sends


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1100, "height": 1300}, has_touch=True)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # API errors are part of the tests; a failed page asset (or a CSP violation) is not.
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status} for {r.url}")
            if r.status >= 400 and "/api/" not in r.url else None)
    page.goto(url)
    return page, problems


def draw(page, strokes):
    """Each stroke is a list of (x, y) in [0, 1] canvas coordinates, drawn with the mouse."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=2)
        page.mouse.up()


def draw_by_touch(page, stroke):
    """One stroke with a finger (touch events through the DevTools protocol)."""
    box = page.locator("#pad").bounding_box()
    points = [{"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]}
              for x, y in stroke]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
    for point in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def ink_on_pad(page) -> int:
    """How many pixels of the drawing canvas are dark."""
    return page.evaluate("""() => {
        const pad = document.getElementById('pad');
        const data = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
        let dark = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] < 128) dark++;
        return dark;
    }""")


def arc(cx, cy, r, start_deg, end_deg, n=16):
    return [(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
            for a in np.linspace(start_deg, end_deg, n)]


# A "3": two bowls open to the left, the upper ending where the lower begins (y grows down).
THREE = [arc(0.48, 0.32, 0.16, -160, 90) + arc(0.48, 0.64, 0.16, -90, 160)[1:]]
# A "1": one stroke down the middle.
ONE = [[(0.5, 0.2), (0.5, 0.5), (0.5, 0.8)]]


def predicted(page):
    page.locator("#digit-result").wait_for(state="visible")
    digit = int(page.locator("#digit").text_content())
    bars = page.locator("#probabilities li")
    probabilities = [float(bars.nth(i).get_attribute("data-probability")) for i in range(10)]
    return digit, probabilities


def cat_photo_file(tmp_path) -> Path:
    """A cat from the course's test set when the data is there, else a random picture."""
    try:
        from dlcore.data import load_cats

        cats = load_cats()
        image = cats.test_x[int(np.flatnonzero(cats.test_y == 1)[0])]
    except Exception:  # the data set is optional for this test
        image = photo(128, 96)
    path = tmp_path / "cat.png"
    path.write_bytes(encode(image))
    return path


def test_page_mechanics(chromium, tiny_models, tmp_path):
    """Drawing, answers, errors and uploads work (random-weight models: any digit will do)."""
    own_digit_model(tmp_path / "mine", "my-mlp")
    with Stack(models_dir=tiny_models, extra_models=[tmp_path / "mine"]) as stack:
        page, problems = open_page(chromium, stack.url)

        # The model choice lists the digit models the gateway serves, one's own included.
        page.wait_for_function("() => [...document.querySelectorAll('#model option')]"
                               ".some(o => o.value === 'my-mlp')")
        options = page.eval_on_selector_all("#model option",
                                            "os => os.map(o => [o.value, o.textContent])")
        assert options == [["", "default (digits-cnn)"], ["cnn", "digits-cnn (convolutional)"],
                           ["mlp", "digits-mlp (dense)"], ["my-mlp", "my-mlp (dense)"]]

        page.click("#predict")  # nothing drawn yet
        error = page.locator("#digit-error")
        error.wait_for(state="visible")
        said = gateway_says(stack.url, {"image": BLANK})
        assert said["error"] == "invalid_input" and "empty" in said["message"]
        assert error.text_content() == said["message"]  # the gateway's words, unchanged

        draw(page, ONE)
        page.select_option("#model", "mlp")
        page.check("#saliency")
        page.click("#predict")
        digit, probabilities = predicted(page)
        assert error.is_hidden()
        assert sum(probabilities) == pytest.approx(1, abs=1e-3)
        assert digit == int(np.argmax(probabilities))
        assert page.locator("#digit-model").text_content() == "digits-mlp"
        assert page.locator("#probabilities li.top").get_attribute("data-digit") == str(digit)
        assert page.locator("#saliency-figure").is_visible()
        seen = page.evaluate("""() => {
            const c = document.getElementById('seen').getContext('2d');
            return Array.from(c.getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 == 0));
        }""")
        assert max(seen) > 200 and min(seen) < 30  # the 28x28 input is drawn, ink is white

        page.click("#clear")
        assert page.locator("#digit-result").is_hidden()
        assert ink_on_pad(page) == 0

        # A finger draws as well as the mouse (and does not scroll the page instead).
        scroll = page.evaluate("() => window.scrollY")
        draw_by_touch(page, ONE[0])
        assert ink_on_pad(page) > 1000
        assert page.evaluate("() => window.scrollY") == scroll
        page.select_option("#model", "my-mlp")
        page.click("#predict")
        predicted(page)
        assert page.locator("#digit-model").text_content() == "my-mlp"
        page.click("#clear")

        # A photo upload: the page shows what the API answers for the same file.
        path = cat_photo_file(tmp_path)
        page.set_input_files("#cat-file", str(path))
        page.click("#cat-file-submit")
        page.locator("#cat-result").wait_for(state="visible")
        expected = httpx.post(stack.api_url + "cats", trust_env=False,
                              files={"file": ("cat.png", path.read_bytes(), "image/png")}).json()
        assert page.locator("#cat-label").text_content() == expected["label"]
        assert page.locator("#cat-model").text_content() == "cat"
        assert page.locator("#cat-photo").is_visible() and page.locator("#cat-seen").is_visible()

        # A URL the gateway refuses: the reason, in words, on the page.
        page.fill("#cat-url", "http://169.254.169.254/latest/meta-data/")
        page.click("#cat-url-submit")
        cat_error = page.locator("#cat-error")
        cat_error.wait_for(state="visible")
        assert "public internet" in cat_error.text_content()
        assert page.locator("#cat-result").is_hidden()

        # The worker goes away: the page says so plainly.
        stack.kill_worker()
        draw(page, ONE)
        page.click("#predict")
        error.wait_for(state="visible")
        said = gateway_says(stack.url, {"image": BLANK})
        assert said["error"] == "worker_unavailable"
        assert error.text_content() == said["message"] == SERVER_MESSAGES[503]

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-page-mechanics.png"), full_page=True)
        page.close()
    assert not problems, problems


@pytest.fixture
def static_page():
    """The page's own files from a plain HTTP server on 127.0.0.1 (no gateway behind it:
    a test answers /api/ itself with Playwright's routing)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(REPO / "services" / "frontend"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_shows_what_the_gateway_says(chromium, static_page):
    """Whatever sentence the gateway's error answer carries is shown as it is; only what
    did not come from the gateway gets the page's own words."""
    answers = []  # what /api/ answers next: (status, content type, body) or "no connection"

    def answer(route):
        reply = answers.pop(0)
        if reply == "no connection":
            route.abort("connectionrefused")
        else:
            status, content_type, body = reply
            route.fulfill(status=status, content_type=content_type, body=body)

    page, problems = open_page(chromium, static_page)
    page.route("**/api/**", answer)
    error = page.locator("#digit-error")
    draw(page, ONE)

    def shown_after(reply) -> str:
        answers.append(reply)
        page.click("#predict")
        error.wait_for(state="visible")
        page.wait_for_function("() => !document.getElementById('predict').disabled")
        return error.text_content()

    # Made-up sentences, without a capital or a final period: a page that words these
    # failures itself, or "tidies" the gateway's sentence, shows something else.
    for status, code in [(503, "worker_unavailable"), (400, "invalid_input"),
                         (504, "worker_timeout")]:
        message = f"made-up words for a {status} ({code}), shown as they are"
        body = json.dumps({"error": code, "detail": "what the caller reads",
                           "message": message, "request_id": "r1"})
        assert shown_after((status, "application/json", body)) == message
        assert page.locator("#digit-result").is_hidden()

    # A proxy's error page, and some other API's error: not the gateway, and said so.
    for status, content_type, body in [
            (502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            (404, "application/json", json.dumps({"detail": "Not Found"}))]:
        said = shown_after((status, content_type, body))
        assert f"HTTP {status}" in said and "gateway did not answer" in said
        assert said not in SERVER_MESSAGES.values() and "Not Found" not in said
    assert "Could not reach the server" in shown_after("no connection")

    # The cat form uses the same path to the API.
    answers.append((400, "application/json", json.dumps(
        {"error": "url_not_allowed", "detail": "d", "message": "made-up cat words",
         "request_id": "r2"})))
    page.fill("#cat-url", "http://example.test/cat.png")
    page.click("#cat-url-submit")
    page.locator("#cat-error").wait_for(state="visible")
    assert page.locator("#cat-error").text_content() == "made-up cat words"
    assert not answers
    page.close()
    assert not problems, problems


def test_a_drawn_three_comes_back_as_three(chromium, tmp_path):
    """With the trained models in models/: draw a 3, upload a cat, read both answers.

    The 3 must come back from the default model and from each digit model served."""
    models, digit_models = repo_digit_models()
    with Stack(models_dir=models) as stack:
        page, problems = open_page(chromium, stack.url)
        ARTIFACTS.mkdir(exist_ok=True)
        for model in ["", *digit_models]:  # "" = the page's "default"
            page.click("#clear")
            draw(page, THREE)
            page.select_option("#model", model)
            page.click("#predict")
            digit, probabilities = predicted(page)
            used = page.locator("#digit-model").text_content()
            seen = page.locator("#seen").screenshot()
            assert digit == 3, (
                f"{used}: the page says {digit}; probabilities "
                f"{np.round(probabilities, 3).tolist()}; what the model saw: "
                f"data:image/png;base64,{base64.b64encode(seen).decode()}"
            )
            assert max(probabilities) == probabilities[3]
            page.screenshot(path=str(ARTIFACTS / f"browser-digit-3-{used}.png"), full_page=True)
            page.locator("#digit-result").wait_for(state="visible")

        path = cat_photo_file(tmp_path)
        page.set_input_files("#cat-file", str(path))
        page.click("#cat-file-submit")
        page.locator("#cat-result").wait_for(state="visible")
        label = page.locator("#cat-label").text_content()
        sure = page.locator("#cat-probability").text_content()
        expected = httpx.post(stack.api_url + "cats", trust_env=False,
                              files={"file": ("cat.png", path.read_bytes(), "image/png")}).json()
        assert label == expected["label"] and label in ("cat", "non-cat")
        assert "%" in sure
        page.screenshot(path=str(ARTIFACTS / "browser-cat.png"), full_page=True)
        page.close()
    assert not problems, problems
