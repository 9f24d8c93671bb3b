"""Bad input against the real stack: every kind gets its intended 4xx and a clear message,
never a 5xx, and the very next ordinary request still succeeds.

One stack (gateway + worker processes on loopback, tiny models) serves the whole matrix.
Its gateway may fetch from 127.0.0.1 (the test's image server) but from no other
non-public address, and gives a cat_url fetch 1 s (default 5 s) so the slow-loris case
ends quickly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from stack_helpers import ImageServer, bomb_png, drawn_digit, encode, photo

from services.stack import Stack

pytestmark = pytest.mark.slow

FETCH_TIMEOUT = 1.0
MAX_BODY = 4 * 1024 * 1024  # the gateway's default GATEWAY_MAX_BODY_BYTES


@dataclass
class Bad:
    """One kind of bad request and the answer it must get."""

    kind: str
    path: str
    request: dict[str, Any]
    status: int
    error: str
    fragment: str | tuple[str, ...]  # part of the plain-language detail (one of them)
    method: str = "POST"
    extra: dict[str, Any] = field(default_factory=dict)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(image) -> bytes:
    return encode(image)


GOOD_PNG = png(drawn_digit())
TRUNCATED_PNG = GOOD_PNG[: len(GOOD_PNG) // 2]
JPEG = encode(photo(), "JPEG")
NOT_AN_IMAGE = b"Hello! This is a text file, not a picture of anything.\n" * 4
HUGE_DIMENSIONS = png(Image.new("L", (5000, 4000)))  # 20 megapixels, a few KB on disk
BOMB = bomb_png(20000)  # 400 megapixels declared in a ~50 KB file
BMP = encode(photo(), "BMP")
TIFF = encode(photo(), "TIFF")
WHITE_CANVAS = png(np.full((280, 280), 255, np.uint8))


def digits_json(body: Any) -> dict[str, Any]:
    return {"json": body}


def raw_json(text: bytes) -> dict[str, Any]:
    return {"content": text, "headers": {"content-type": "application/json"}}


def cat_url(url: str) -> dict[str, Any]:
    return {"json": {"cat_url": url}}


CASES = [
    # -- the image itself ------------------------------------------------------------------
    Bad("truncated PNG (digit)", "/api/digits", digits_json({"image": b64(TRUNCATED_PNG)}),
        400, "invalid_input", "damaged or truncated"),
    Bad("truncated PNG (cat upload)", "/api/cats",
        {"files": {"file": ("cat.png", TRUNCATED_PNG, "image/png")}},
        400, "invalid_input", "damaged or truncated"),
    Bad("non-image bytes (digit)", "/api/digits", digits_json({"image": b64(NOT_AN_IMAGE)}),
        400, "invalid_input", "not a PNG, JPEG, WebP or GIF"),
    Bad("non-image bytes sent as image/png", "/api/cats",
        {"content": NOT_AN_IMAGE, "headers": {"content-type": "image/png"}},
        400, "invalid_input", "not a PNG, JPEG, WebP or GIF"),
    Bad("zero-byte body (digit)", "/api/digits", raw_json(b""),
        400, "invalid_request", "body is empty"),
    Bad("zero-byte image (cat)", "/api/cats",
        {"content": b"", "headers": {"content-type": "image/jpeg"}},
        400, "invalid_input", "empty (0 bytes)"),
    Bad("huge dimensions (20 MP PNG)", "/api/cats",
        {"files": {"file": ("big.png", HUGE_DIMENSIONS, "image/png")}},
        413, "payload_too_large", "megapixels"),
    Bad("decompression bomb (400 MP PNG)", "/api/digits", digits_json({"image": b64(BOMB)}),
        413, "payload_too_large", "decompression bomb"),
    Bad("BMP image", "/api/cats", {"files": {"file": ("cat.bmp", BMP, "image/bmp")}},
        415, "unsupported_media_type", "BMP images are not supported"),
    Bad("TIFF image (digit)", "/api/digits", digits_json({"image": b64(TIFF)}),
        415, "unsupported_media_type", "TIFF images are not supported"),
    Bad("empty canvas (white PNG)", "/api/digits", digits_json({"image": b64(WHITE_CANVAS)}),
        400, "invalid_input", "the drawing is empty"),
    Bad("empty canvas (pixel rows)", "/api/digits",
        digits_json({"image": [[0.0] * 30 for _ in range(30)]}),
        400, "invalid_input", "the drawing is empty"),
    # -- the body and its type -------------------------------------------------------------
    Bad("oversize body (5 MiB)", "/api/digits",
        raw_json(b'{"image": "' + b"A" * (MAX_BODY + 1024 * 1024) + b'"}'),
        413, "payload_too_large", "larger than the limit"),
    Bad("wrong content type (digit as text/plain)", "/api/digits",
        {"content": b'{"image": "x"}', "headers": {"content-type": "text/plain"}},
        415, "unsupported_media_type", "application/json"),
    Bad("wrong content type (digit as multipart)", "/api/digits",
        {"files": {"file": ("d.png", GOOD_PNG, "image/png")}},
        415, "unsupported_media_type", "application/json"),
    Bad("wrong content type (cat as application/pdf)", "/api/cats",
        {"content": b"%PDF-1.4", "headers": {"content-type": "application/pdf"}},
        415, "unsupported_media_type", "multipart/form-data"),
    Bad("malformed JSON", "/api/digits", raw_json(b'{"image": "abc",'),
        400, "invalid_request", "json"),
    Bad("JSON that is not an object", "/api/digits", raw_json(b'["image"]'),
        400, "invalid_request", "object"),
    Bad("wrong JSON type (image is a number)", "/api/digits", digits_json({"image": 42}),
        400, "invalid_request", "base64 string or a list of pixel rows"),
    Bad("wrong JSON type (saliency is a string)", "/api/digits",
        digits_json({"image": b64(GOOD_PNG), "saliency": "yes please"}),
        400, "invalid_request", "saliency"),
    Bad("wrong JSON type (pixel is a string)", "/api/digits",
        digits_json({"image": [["0", "x"], [0, 0]]}), 400, "invalid_request", "image.pixels"),
    Bad("unknown field", "/api/digits", digits_json({"image": b64(GOOD_PNG), "colour": "red"}),
        400, "invalid_request", "colour"),
    Bad("missing image", "/api/digits", digits_json({"model": "cnn"}),
        400, "invalid_request", "image"),
    Bad("invalid base64", "/api/digits", digits_json({"image": "iVBORw0KGgo=%%%not base64"}),
        400, "invalid_input", "not valid base64"),
    Bad("data: URL that is not base64", "/api/digits",
        digits_json({"image": "data:image/png,hello"}), 400, "invalid_input", "base64"),
    Bad("NaN pixel value", "/api/digits", raw_json(b'{"image": [[NaN, 1.0], [0.0, 0.0]]}'),
        400, "invalid_request", "finite"),
    Bad("infinite pixel value", "/api/digits",
        raw_json(b'{"image": [[Infinity, 1.0], [0.0, 0.0]]}'), 400, "invalid_request", "finite"),
    Bad("pixel value overflowing to inf (1e999)", "/api/digits",
        raw_json(b'{"image": [[1e999, 1.0], [0.0, 0.0]]}'), 400, "invalid_request", "finite"),
    Bad("pixel values outside [0, 255]", "/api/digits",
        digits_json({"image": [[0, 300], [-1, 0]]}), 400, "invalid_request", "[0, 255]"),
    Bad("ragged pixel rows", "/api/digits", digits_json({"image": [[0, 255, 0], [0, 0]]}),
        400, "invalid_request", "same length"),
    Bad("pixel array too large", "/api/digits", digits_json({"image": [[0.0]] * 2049}),
        400, "invalid_request", "at most 2048x2048"),
    Bad("unknown model name", "/api/digits",
        digits_json({"image": b64(GOOD_PNG), "model": "resnet"}),
        400, "invalid_request",
        "no digit model called 'resnet'; the served digit models are: digits-cnn (or cnn), "
        "digits-mlp (or mlp)"),
    Bad("unknown model name: a cat model", "/api/digits",
        digits_json({"image": b64(GOOD_PNG), "model": "cat"}),
        400, "invalid_request", "no digit model called 'cat'"),
    Bad("model name that no model can have (a path)", "/api/digits",
        digits_json({"image": b64(GOOD_PNG), "model": "../models/digits-cnn"}),
        400, "invalid_request", "model: string should match pattern"),
    Bad("model name too long", "/api/digits",
        digits_json({"image": b64(GOOD_PNG), "model": "digits-" + "m" * 60}),
        400, "invalid_request", "at most 64 characters"),
    Bad("cat: both image and cat_url", "/api/cats",
        {"json": {"image": b64(JPEG), "cat_url": "https://example.org/cat.jpg"}},
        400, "invalid_request", "exactly one"),
    Bad("cat: form without a file", "/api/cats", {"data": {"note": "no photo"}},
        400, "invalid_request", "'file' field"),
    # -- cat_url ---------------------------------------------------------------------------
    Bad("URL scheme file:", "/api/cats", cat_url("file:///etc/passwd"),
        400, "url_not_allowed", "only http and https"),
    Bad("URL scheme ftp:", "/api/cats", cat_url("ftp://example.org/cat.jpg"),
        400, "url_not_allowed", "only http and https"),
    Bad("URL scheme gopher:", "/api/cats", cat_url("gopher://127.0.0.1:6379/_INFO"),
        400, "url_not_allowed", "only http and https"),
    Bad("URL to loopback 127.0.0.2", "/api/cats", cat_url("http://127.0.0.2/cat.png"),
        400, "url_not_allowed", "loopback"),
    Bad("URL to loopback as a number", "/api/cats", cat_url("http://2130706434/cat.png"),
        400, "url_not_allowed", "loopback"),
    Bad("URL to loopback ::1", "/api/cats", cat_url("http://[::1]/cat.png"),
        400, "url_not_allowed", "loopback"),
    Bad("URL to IPv4-mapped loopback", "/api/cats", cat_url("http://[::ffff:127.0.0.2]/c.png"),
        400, "url_not_allowed", "loopback"),
    Bad("URL to a private address", "/api/cats", cat_url("http://10.0.0.1/cat.png"),
        400, "url_not_allowed", "private"),
    Bad("URL to a private address 192.168", "/api/cats", cat_url("http://192.168.1.1/c.png"),
        400, "url_not_allowed", "private"),
    Bad("URL to carrier-grade NAT", "/api/cats", cat_url("http://100.64.0.1/cat.png"),
        400, "url_not_allowed", "carrier-grade"),
    Bad("URL to link-local", "/api/cats", cat_url("http://[fe80::1]/cat.png"),
        400, "url_not_allowed", "link-local"),
    Bad("URL to the cloud metadata address", "/api/cats",
        cat_url("http://169.254.169.254/latest/meta-data/"), 400, "url_not_allowed",
        "link-local"),
    Bad("URL to an unspecified address", "/api/cats", cat_url("http://0.0.0.0/cat.png"),
        400, "url_not_allowed", "only images on the public internet"),
    # these use the test's image server on 127.0.0.1 ({server} is filled in)
    Bad("redirect to a private address", "/api/cats",
        cat_url("{server}/redirect?to=http://10.1.2.3/cat.png"), 400, "url_not_allowed",
        "private"),
    Bad("redirect to the metadata address", "/api/cats",
        cat_url("{server}/redirect?to=http://169.254.169.254/latest/meta-data/"),
        400, "url_not_allowed", "link-local"),
    Bad("redirect loop", "/api/cats", cat_url("{server}/loop"),
        400, "url_fetch_failed", "redirected more than"),
    Bad("slow-loris image server", "/api/cats", cat_url("{server}/slow"),
        400, "url_fetch_failed",
        (f"longer than {FETCH_TIMEOUT:g} s", f"within {FETCH_TIMEOUT:g} s")),
    Bad("oversize remote image (no Content-Length)", "/api/cats", cat_url("{server}/big"),
        413, "payload_too_large", "larger than the limit"),
    Bad("remote page that is not an image", "/api/cats", cat_url("{server}/page.html"),
        415, "unsupported_media_type", "not an image"),
    Bad("remote 404", "/api/cats", cat_url("{server}/missing"),
        400, "url_fetch_failed", "HTTP 404"),
    Bad("unresolvable host", "/api/cats", cat_url("http://no-such-host.invalid/cat.png"),
        400, "url_fetch_failed", ("could not be resolved",  # or, with no DNS server at all:
                                  f"longer than {FETCH_TIMEOUT:g} s")),
    # -- paths and methods -----------------------------------------------------------------
    Bad("unknown path", "/api/dogs", digits_json({}), 404, "not_found", "nothing at /api/dogs"),
    Bad("wrong method", "/api/digits", {}, 405, "method_not_allowed", "GET is not allowed",
        method="GET"),
]


@pytest.fixture(scope="module")
def image_server():
    with ImageServer(JPEG) as server:
        yield server


@pytest.fixture(scope="module")
def http(tiny_models, image_server):
    gateway_env = {"GATEWAY_URL_ALLOWLIST": "127.0.0.1",
                   "GATEWAY_FETCH_TIMEOUT_SECONDS": str(FETCH_TIMEOUT)}
    with Stack(models_dir=tiny_models, gateway_env=gateway_env) as stack, \
            httpx.Client(base_url=stack.url, trust_env=False, timeout=30) as client:
        yield client


def test_the_matrix_covers_every_kind_the_issue_names():
    kinds = " ".join(case.kind.lower() for case in CASES)
    for named in ["truncated png", "non-image bytes", "zero-byte", "huge dimensions",
                  "decompression bomb", "oversize body", "wrong content type", "malformed json",
                  "wrong json type", "invalid base64", "empty canvas", "nan", "inf",
                  "unknown model", "url scheme", "loopback", "private", "link-local",
                  "metadata", "redirect to a private address", "slow-loris",
                  "oversize remote image"]:
        assert named in kinds, named
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_bad_input_gets_its_4xx_and_the_next_request_succeeds(http, image_server, case):
    request = dict(case.request)
    if "json" in request and isinstance(request["json"], dict):
        request["json"] = {k: v.format(server=image_server.url("").rstrip("/"))
                           if isinstance(v, str) else v for k, v in request["json"].items()}
    r = http.request(case.method, case.path, **request)
    assert r.status_code < 500, f"{case.kind}: a server error {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert (r.status_code, body.get("error")) == (case.status, case.error), body
    fragments = (case.fragment,) if isinstance(case.fragment, str) else case.fragment
    assert any(f.lower() in body["detail"].lower() for f in fragments), body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]

    ok = http.post("/api/digits", json={"image": b64(GOOD_PNG)})
    assert ok.status_code == 200, f"after {case.kind}: {ok.status_code} {ok.text[:300]}"
    assert 0 <= ok.json()["digit"] <= 9


def test_a_bad_request_in_every_form_the_cat_endpoint_takes(http):
    """The same damaged photo as upload, base64 JSON, raw body: the same clear 400."""
    forms = [
        {"files": {"file": ("c.jpg", JPEG[:200], "image/jpeg")}},
        {"json": {"image": b64(JPEG[:200])}},
        {"content": JPEG[:200], "headers": {"content-type": "image/jpeg"}},
    ]
    details = set()
    for form in forms:
        r = http.post("/api/cats", **form)
        assert r.status_code == 400 and r.json()["error"] == "invalid_input", r.text
        details.add(r.json()["detail"])
    assert len(details) == 1, details
    assert http.post("/api/cats", files={"file": ("c.jpg", JPEG, "image/jpeg")}).status_code == 200


def test_the_gateway_counted_no_server_errors(http):
    """After the whole matrix, the gateway's own metrics show not a single 5xx."""
    metrics = http.get("/metrics").text
    statuses = [line for line in metrics.splitlines()
                if line.startswith("simpledl_gateway_requests_total{")]
    assert statuses, metrics[:500]
    assert not [line for line in statuses if 'status="5' in line], statuses
