"""The gateway on its own: validation, limits, content types, error mapping, request ids,
CORS, operations endpoints. No worker runs here — a request that passes validation meets
a closed port, so it must come back as 503 (which is itself the mapping under test)."""

from __future__ import annotations

import ast
import base64
import re

import grpc
import pytest
from fastapi.testclient import TestClient
from stack_helpers import REPO, bomb_png, drawn_digit, encode, photo

from services.gateway.app import create_app
from services.gateway.errors import SERVER_MESSAGES, from_worker
from services.gateway.settings import GatewaySettings
from services.proto import MODEL_NAME_PATTERN
from services.stack import free_port
from services.worker.settings import WorkerSettings


def gateway(**settings) -> TestClient:
    settings.setdefault("worker_target", f"127.0.0.1:{free_port()}")  # nobody listens
    settings.setdefault("worker_timeout_seconds", 2.0)
    return TestClient(create_app(GatewaySettings(**settings)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client():
    with gateway() as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_error(response, status: int, code: str, fragment: str = "") -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["error"] == code
    assert fragment.lower() in body["detail"].lower()
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# -- /api/digits validation -----------------------------------------------------------------


def test_digits_wants_json(client):
    r = client.post("/api/digits", content=b"image=abc", headers={"content-type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type", "application/json")
    r = client.post("/api/digits", files={"file": ("d.png", encode(drawn_digit()))})
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body, field, fragment",
    [
        (b"{not json", "", "json"),
        (b"[]", "", "object"),
        (b"{}", "image", "field required"),
        (b'{"image": 5}', "image", ""),
        (b'{"image": ""}', "image", "empty"),
        (b'{"image": [[0, 1], [2]]}', "image", "same length"),
        (b'{"image": []}', "image", "empty"),
        (b'{"image": [[0, 300]]}', "image", "[0, 255]"),
        (b'{"image": [[0, -1]]}', "image", "[0, 255]"),
        (b'{"image": [[0, NaN]]}', "image.pixels[0][1]", "finite"),
        (b'{"image": [[0, Infinity]]}', "image.pixels[0][1]", "finite"),
        (b'{"image": [["a"]]}', "image.pixels[0][0]", "number"),
        (b'{"image": "aGk=", "model": ""}', "model", "at least 1 character"),
        (b'{"image": "aGk=", "model": "../models/cat"}', "model", "should match pattern"),
        (b'{"image": "aGk=", "model": "my model"}', "model", "should match pattern"),
        (b'{"image": "aGk=", "model": "' + b"m" * 65 + b'"}', "model", "at most 64"),
        (b'{"image": "aGk=", "model": 7}', "model", "valid string"),
        (b'{"image": "aGk=", "saliency": "maybe"}', "saliency", "boolean"),
        (b'{"image": "aGk=", "extra": 1}', "extra", "not permitted"),
    ],
)
def test_digits_schema_errors_are_400_with_the_field(client, body, field, fragment):
    r = client.post("/api/digits", content=body, headers={"content-type": "application/json"})
    error = assert_error(r, 400, "invalid_request")
    assert any(p["field"] == field and fragment.lower() in p["message"].lower()
               for p in error["errors"]), error["errors"]


def test_digits_empty_body(client):
    r = client.post("/api/digits", content=b"", headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_request", "empty")


@pytest.mark.parametrize(
    "image, status, code, fragment",
    [
        ("not base64!", 400, "invalid_input", "base64"),
        ("data:image/png,notbase64", 400, "invalid_input", "base64"),
        (b64(b"plain text, not an image"), 400, "invalid_input", "not a png, jpeg"),
        (b64(encode(photo(20, 20), "BMP")), 415, "unsupported_media_type", "BMP"),
        (b64(encode(photo(20, 20), "TIFF")), 415, "unsupported_media_type", "TIFF"),
        (b64(bomb_png()), 413, "payload_too_large", "too many pixels"),
    ],
)
def test_digit_images_are_checked_before_the_worker(client, image, status, code, fragment):
    r = client.post("/api/digits", json={"image": image})
    assert_error(r, status, code, fragment)


def test_valid_digit_requests_reach_the_worker(client):
    # The worker is down in this module, so reaching it means a 503 — for every form.
    png = encode(drawn_digit())
    for body in ({"image": b64(png)}, {"image": "data:image/png;base64," + b64(png)},
                 {"image": [[0, 255], [255, 0]], "model": "mlp", "saliency": True}):
        r = client.post("/api/digits", json=body)
        assert_error(r, 503, "worker_unavailable", "not available")
        assert r.headers["retry-after"] == "1"


# -- body limit -----------------------------------------------------------------------------


def test_body_limit_from_content_length():
    with gateway(max_body_bytes=1000) as small:
        r = small.post("/api/digits", json={"image": "A" * 2000})
        assert_error(r, 413, "payload_too_large", "1,000 bytes")


def test_body_limit_while_streaming():
    def chunks():  # no Content-Length: the gateway must count
        for _ in range(10):
            yield b"A" * 500

    with gateway(max_body_bytes=1000) as small:
        for path, ctype in [("/api/digits", "application/json"), ("/api/cats", "image/png"),
                            ("/api/cats", "application/json")]:
            r = small.post(path, content=chunks(), headers={"content-type": ctype})
            assert_error(r, 413, "payload_too_large")


def test_multipart_upload_over_the_limit():
    with gateway(max_body_bytes=5000) as small:
        r = small.post("/api/cats", files={"file": ("c.jpg", b"\xff" * 10000, "image/jpeg")})
        assert_error(r, 413, "payload_too_large")


# -- /api/cats forms and validation ---------------------------------------------------------


def test_cat_content_types(client):
    r = client.post("/api/cats", content=b"hello", headers={"content-type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type", "multipart/form-data")
    r = client.post("/api/cats", content=b"hello")
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body, fragment",
    [({}, "exactly one"), ({"image": "aGk=", "cat_url": "http://x.org/c.png"}, "exactly one"),
     ({"cat_url": 7}, "string"), ({"image": "aGk=", "other": 1}, "not permitted")],
)
def test_cat_json_schema(client, body, fragment):
    error = assert_error(client.post("/api/cats", json=body), 400, "invalid_request")
    assert fragment in error["detail"]


def test_cat_multipart_needs_a_file(client):
    r = client.post("/api/cats", data={"something": "else"},
                    files={"other": ("x.txt", b"x", "text/plain")})
    assert_error(r, 400, "invalid_request", "'file' field")


@pytest.mark.parametrize(
    "kwargs, status, code",
    [
        ({"files": {"file": ("c.bmp", encode(photo(), "BMP"), "image/bmp")}}, 415,
         "unsupported_media_type"),
        ({"content": encode(photo(), "BMP"), "headers": {"content-type": "image/png"}}, 415,
         "unsupported_media_type"),
        ({"content": b"", "headers": {"content-type": "image/jpeg"}}, 400, "invalid_input"),
        ({"json": {"image": b64(bomb_png())}}, 413, "payload_too_large"),
        ({"json": {"image": "%%%"}}, 400, "invalid_input"),
    ],
)
def test_cat_images_are_checked(client, kwargs, status, code):
    assert_error(client.post("/api/cats", **kwargs), status, code)


@pytest.mark.parametrize(
    "url, fragment",
    [("http://127.0.0.1/cat.png", "loopback"), ("http://2130706433/cat.png", "loopback"),
     ("http://169.254.169.254/latest/meta-data/", "link-local"),
     ("http://100.64.1.1/c.png", "carrier-grade"), ("http://[::ffff:10.0.0.1]/c.png", "private"),
     ("file:///etc/passwd", "only http and https")],
)
def test_cat_url_refusals_are_400(client, url, fragment):
    assert_error(client.post("/api/cats", json={"cat_url": url}), 400, "url_not_allowed",
                 fragment)
    r = client.post("/api/cats", data={"cat_url": url})  # the form field works the same
    assert_error(r, 400, "url_not_allowed", fragment)


def test_cat_url_fetch_errors(image_server):
    with gateway(url_allowlist="127.0.0.1", fetch_max_bytes=100_000,
                 fetch_timeout_seconds=1.0) as c:
        cases = [("/page.html", 415, "unsupported_media_type"),
                 ("/big", 413, "payload_too_large"),
                 ("/slow", 400, "url_fetch_failed"),
                 ("/missing", 400, "url_fetch_failed"),
                 ("/redirect?to=http://10.1.1.1/cat.png", 400, "url_not_allowed")]
        for path, status, code in cases:
            assert_error(c.post("/api/cats", json={"cat_url": image_server.url(path)}),
                         status, code)
        # a good image passes every check and goes on to the (absent) worker
        r = c.post("/api/cats", json={"cat_url": image_server.url("/cat.png")})
        assert_error(r, 503, "worker_unavailable")
        fetches = c.get("/metrics").text
    assert 'simpledl_gateway_url_fetches_total{outcome="ok"} 1.0' in fetches


def test_every_cat_form_reaches_the_worker(client):
    jpeg = encode(photo(), "JPEG")
    for kwargs in ({"files": {"file": ("c.jpg", jpeg, "image/jpeg")}},
                   {"json": {"image": b64(jpeg)}},
                   {"content": jpeg, "headers": {"content-type": "image/jpeg"}}):
        assert_error(client.post("/api/cats", **kwargs), 503, "worker_unavailable")


# -- errors, request ids, CORS --------------------------------------------------------------


@pytest.mark.parametrize(
    "code, status, error",
    [(grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_input"),
     (grpc.StatusCode.NOT_FOUND, 404, "model_not_found"),
     (grpc.StatusCode.UNAVAILABLE, 503, "worker_unavailable"),
     (grpc.StatusCode.RESOURCE_EXHAUSTED, 503, "worker_unavailable"),
     (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "worker_timeout"),
     (grpc.StatusCode.INTERNAL, 502, "worker_error"),
     (grpc.StatusCode.UNKNOWN, 502, "worker_error"),
     (grpc.StatusCode.CANCELLED, 502, "worker_error")],
)
def test_worker_status_codes_map_to_http(code, status, error):
    mapped = from_worker(code, "the details", timeout=5)
    assert (mapped.status, mapped.code) == (status, error)
    if status == 400:
        assert mapped.detail == "the details"  # the worker's words reach the caller
    if status == 504:
        assert "5 s" in mapped.detail


def test_unknown_paths_and_methods(client):
    assert_error(client.get("/api/nothing"), 404, "not_found", "/api/nothing")
    r = client.get("/api/digits")
    assert_error(r, 405, "method_not_allowed", "GET")
    assert r.headers["allow"] == "POST"


# -- the words people read -------------------------------------------------------------------
# Every error answer carries ``message``, the sentence the web page and the drawing pad show
# as they get it; the gateway is the only place that words it (tests/services/test_pad.py
# and test_browser.py check that the clients show it unchanged).

def test_a_refusal_carries_its_detail_as_a_sentence(client):
    cases = [
        (client.get("/api/digits"), 405, "GET is not allowed on /api/digits."),
        (client.get("/api/nothing"), 404,
         "There is nothing at /api/nothing; the API is under /api/ (see /docs)."),
        (client.post("/api/digits", json={"image": [[0, 1], [1]]}), 400,
         "Invalid request: image: every row of the pixel array must have the same length."),
    ]
    for r, status, message in cases:
        body = r.json()
        assert r.status_code == status, body
        assert body["message"] == message, body
        assert body["detail"][1:].rstrip(".") == message[1:-1]  # the same words for callers


def test_trouble_behind_the_gateway_gets_a_plain_sentence(client):
    r = client.post("/api/digits", json={"image": [[0, 255], [255, 0]]})
    body = r.json()
    assert r.status_code == 503 and body["error"] == "worker_unavailable"
    assert body["message"] == SERVER_MESSAGES[503]
    assert "not available right now" in body["message"]
    assert "inference worker" in body["detail"]  # the caller's detail stays as documented
    for code, status in [(grpc.StatusCode.DEADLINE_EXCEEDED, 504),
                         (grpc.StatusCode.INTERNAL, 502)]:
        mapped = from_worker(code, "the details", timeout=5)
        assert mapped.message == SERVER_MESSAGES[status]
    assert set(SERVER_MESSAGES) == {500, 502, 503, 504}
    for message in SERVER_MESSAGES.values():  # plain words: no deadlines, codes or ids
        assert message[0].isupper() and message.endswith(".")
        assert not re.search(r"\d|grpc|worker|request id|[A-Z]{4}", message), message
    assert len(set(SERVER_MESSAGES.values())) == 4


def test_a_bug_in_the_gateway_gets_a_plain_sentence_too():
    app = create_app(GatewaySettings(worker_target=f"127.0.0.1:{free_port()}"))

    @app.get("/api/broken")
    async def broken():
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/broken")
    body = r.json()
    assert r.status_code == 500 and body["error"] == "internal_error"
    assert body["message"] == SERVER_MESSAGES[500]
    assert body["request_id"] in body["detail"]


def test_every_error_answer_has_the_documented_shape(client):
    answers = [
        client.post("/api/digits", content=b"{not json",
                    headers={"content-type": "application/json"}),
        client.post("/api/digits", content=b"x", headers={"content-type": "text/plain"}),
        client.post("/api/digits", json={"image": "not base64!"}),
        client.post("/api/digits", json={"image": [[0, 255], [255, 0]]}),
        client.get("/api/nothing"),
    ]
    with gateway(max_body_bytes=1000) as small:
        answers.append(small.post("/api/digits", json={"image": "A" * 2000}))
    for r in answers:
        body = r.json()
        assert r.status_code >= 400
        assert {"error", "detail", "message", "request_id"} <= set(body), body
        assert body["message"][0].isupper() and body["message"].endswith("."), body


# A sentence counts as copied when five words in a row of it appear in another file's
# strings. Fragments shorter than that ("Try again.") are fair to repeat.
COPIED_WORDS = 5
CLIENTS = {
    "page": [REPO / "services" / "frontend" / "app.js"],
    "pad": sorted((REPO / "services" / "pad").glob("*.py")),
}


def python_strings(source: str) -> str:
    """The string literals of a Python file that are not docstrings, in source order."""
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    strings = [node for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)
               and id(node) not in docstrings]
    return " ".join(node.value for node in sorted(strings, key=lambda n: (n.lineno,
                                                                           n.col_offset)))


def js_strings(source: str) -> str:
    """The "..." and `...` literals of a script, comments left out."""
    code = "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith("//"))
    literals = re.findall(r'"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`', code)
    return " ".join(double or template for double, template in literals)


def strings_of(path) -> str:
    source = path.read_text()
    return python_strings(source) if path.suffix == ".py" else (
        js_strings(source) if path.suffix == ".js" else source)


def runs(text: str, n: int = COPIED_WORDS) -> set[tuple[str, ...]]:
    words = re.sub(r"\s+", " ", text.lower()).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_the_copy_detector_finds_a_copy():
    sentence = SERVER_MESSAGES[503]
    head, tail = sentence[:len(sentence) // 2], sentence[len(sentence) // 2:]
    assert runs(sentence) & runs(python_strings(f'PLAIN = {{503: "{head}"\n "{tail}"}}'))
    assert runs(sentence) & runs(js_strings(f'const PLAIN = {{ 503: "{head}" +\n `{tail}` }};'))
    assert runs(sentence) & runs(js_strings(f'throw new Error(`{sentence}`);'))
    assert not runs(sentence) & runs(python_strings(f'"""{sentence}"""'))  # a docstring
    assert not runs(sentence) & runs(js_strings(f'// {sentence}'))  # a comment


def test_the_gateway_sentences_have_one_home():
    home = REPO / "services" / "gateway" / "errors.py"
    elsewhere = [path for path in (REPO / "services").rglob("*")
                 if path.suffix in (".py", ".js", ".html") and path != home
                 and not path.name.endswith("_pb2.py")]
    assert any(path.name == "app.js" for path in elsewhere)
    for path in elsewhere:
        strings = runs(strings_of(path))
        for status, message in SERVER_MESSAGES.items():
            copied = runs(message) & strings
            assert not copied, f"{path.relative_to(REPO)} copies the {status} sentence: {copied}"


def test_the_page_and_the_pad_word_nothing_alike():
    page, pad = (runs(" ".join(strings_of(p) for p in CLIENTS[c])) for c in ("page", "pad"))
    assert page and pad
    assert not page & pad, f"the page and the pad share words: {page & pad}"


def test_request_ids(client):
    r = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"
    r = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\x01"})
    assert r.headers["x-request-id"] != "bad id with spaces\x01"
    assert len(r.headers["x-request-id"]) == 32
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    r = client.post("/api/digits", json={}, headers={"X-Request-ID": "abc.123"})
    assert r.json()["request_id"] == "abc.123"


def test_no_cors_unless_configured(client):
    r = client.options("/api/digits", headers={"Origin": "http://evil.example",
                                               "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_only_for_configured_origins():
    with gateway(cors_origins="http://course.example, http://lab.example") as c:
        preflight = {"Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"}
        ok = c.options("/api/digits", headers={"Origin": "http://lab.example", **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "http://lab.example"
        other = c.options("/api/digits", headers={"Origin": "http://evil.example", **preflight})
        assert other.headers.get("access-control-allow-origin") is None
        simple = c.get("/healthz", headers={"Origin": "http://course.example"})
        assert simple.headers["access-control-allow-origin"] == "http://course.example"


# -- operations, docs, page -----------------------------------------------------------------


def test_health_readiness_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'simpledl_gateway_requests_total{method="GET",route="/healthz",status="200"}' in (
        metrics.text)
    assert "simpledl_gateway_request_duration_seconds_bucket" in metrics.text
    assert 'simpledl_gateway_worker_calls_total{code="UNAVAILABLE"' in metrics.text


def test_openapi_describes_the_api(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/digits", "/api/cats", "/api/models", "/healthz", "/readyz"} <= set(spec["paths"])
    digits = spec["paths"]["/api/digits"]["post"]
    assert "application/json" in digits["requestBody"]["content"]
    assert {"400", "413", "415", "503", "504"} <= set(digits["responses"])
    cats = spec["paths"]["/api/cats"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/*"} <= set(cats)
    assert client.get("/docs").status_code == 200
    # The model field says what it takes: the names the worker may serve, no fixed list.
    model = digits["requestBody"]["content"]["application/json"]["schema"]["properties"][
        "model"]
    name = next(option for option in model["anyOf"] if option.get("type") == "string")
    assert name["pattern"] == MODEL_NAME_PATTERN and name["maxLength"] == 64
    assert "enum" not in name and "GET /api/models" in model["description"]
    listed = spec["components"]["schemas"]["ModelSummary"]["properties"]
    assert {"name", "aliases", "task", "default", "card"} <= set(listed)


def test_a_model_name_is_never_refused_without_asking_the_worker(client):
    # The worker is down: whether "my-mlp" is served cannot be known, so no 400.
    r = client.post("/api/digits", json={"image": b64(encode(drawn_digit())), "model": "my-mlp"})
    assert_error(r, 503, "worker_unavailable", "not available")


def test_the_page_is_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="predict"' in page.text and 'id="cat-file"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    script = client.get("/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text  # user and server text only via textContent
    assert client.get("/style.css").status_code == 200
    assert client.get("/../settings.py").status_code == 404


def test_the_page_can_be_left_to_nginx():
    with gateway(serve_frontend=False) as c:
        assert c.get("/").status_code == 404
        assert c.get("/healthz").status_code == 200


# -- settings -------------------------------------------------------------------------------


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "http://a.example, http://b.example,")
    monkeypatch.setenv("GATEWAY_URL_ALLOWLIST", "127.0.0.1,10.0.0.0/8,images.local")
    monkeypatch.setenv("GATEWAY_SERVE_FRONTEND", "false")
    monkeypatch.setenv("WORKER_BATCHING", "off")
    monkeypatch.setenv("WORKER_MAX_BATCH_SIZE", "8")
    gateway_settings, worker_settings = GatewaySettings(), WorkerSettings()
    assert gateway_settings.cors_origins == ["http://a.example", "http://b.example"]
    assert gateway_settings.url_allowlist == ["127.0.0.1", "10.0.0.0/8", "images.local"]
    assert gateway_settings.serve_frontend is False
    assert (worker_settings.batching, worker_settings.max_batch_size) == (False, 8)
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "")
    assert GatewaySettings().cors_origins == []


def test_documented_defaults():
    g, w = GatewaySettings(), WorkerSettings()
    assert (g.host, g.port, g.worker_target) == ("127.0.0.1", 8000, "127.0.0.1:50051")
    assert (w.host, w.port, w.metrics_port) == ("127.0.0.1", 50051, 9464)
    assert g.max_body_bytes == 4 * 1024 * 1024 and g.serve_frontend is True
    assert g.cors_origins == [] and g.url_allowlist == []
    assert w.models_dir.name == "models" and w.max_connection_age_seconds == 30


def test_keepalive_settings_agree():
    # The worker refuses (GOAWAY "too_many_pings") clients that ping more often than its
    # minimum interval; the gateway's keepalive must not be shorter.
    g, w = GatewaySettings(), WorkerSettings()
    assert g.keepalive_time_seconds >= w.keepalive_min_ping_interval_seconds
    assert g.keepalive_timeout_seconds < g.keepalive_time_seconds
