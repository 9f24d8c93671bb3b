"""Helpers for the served-stack tests: the trained models, images, a local image server.

The untrained models most tests serve (the ``tiny_models`` fixture) come from
``tests/helpers.py``. Tests that need the trained models in ``models/`` (a drawn 3 must
come back as 3) use :func:`repo_models` and skip with the reason when they have not been
trained yet.
"""

from __future__ import annotations

import http.server
import io
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import REPO, SERVED_MODELS
from PIL import Image


def own_digit_model(directory: Path, name: str, hidden: int = 8, seed: int = 1):
    """A digit model of one's own, as a learner saves it (random weights, a dense
    784-hidden-10 network, card with task "digits"), in ``directory``; the model."""
    from dlcore import Dense, Sequential, save_model
    from dlcore.recipes.digits import MLP_INPUT

    rng = np.random.default_rng(seed)
    model = Sequential([Dense(784, hidden, rng=rng),
                        Dense(hidden, 10, activation="softmax", rng=rng)],
                       loss="categorical_cross_entropy")
    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, directory / name, input=MLP_INPUT, classes=[str(d) for d in range(10)],
               task="digits")
    return model


def repo_models(*names: str) -> Path:
    """The repository's models/ if it holds ``names`` (default: all served models), or skip
    naming what is missing."""
    directory = REPO / "models"
    missing = [n for n in names or SERVED_MODELS if not (directory / f"{n}.npz").exists()
               or not (directory / f"{n}.json").exists()]
    if missing:
        pytest.skip(f"trained models missing in models/: {', '.join(missing)} "
                    "(train them with: make models)")
    return directory


def repo_digit_models() -> tuple[Path, list[str]]:
    """models/ with the cat model and at least one digit model: ``(dir, ["cnn", "mlp"])``
    (those present), or skip saying what to train."""
    directory = repo_models("cat")
    present = [m for m in ("cnn", "mlp") if (directory / f"digits-{m}.npz").exists()]
    if not present:
        pytest.skip("no trained digit model in models/ (train them with: make models)")
    return directory, present


def copy_models(source: Path, tmp_path: Path, *names: str) -> Path:
    """A models directory in ``tmp_path`` holding copies of ``names`` from ``source``."""
    directory = tmp_path / "models"
    directory.mkdir(exist_ok=True)
    for name in names:
        for suffix in (".npz", ".json"):
            shutil.copy(source / f"{name}{suffix}", directory)
    return directory


def gateway_says(url: str, body: dict) -> dict:
    """The gateway's own error answer for ``body`` posted to ``<url>api/digits`` (``url``
    is the gateway's root, ``Stack.url``): what the pad and the page must show unchanged."""
    r = httpx.post(url + "api/digits", json=body, trust_env=False)
    assert r.status_code >= 400, r.text
    return r.json()


# -- images --------------------------------------------------------------------------------


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def drawn_digit(size: int = 280) -> np.ndarray:
    """A white canvas with a thick black vertical stroke (something like a 1)."""
    canvas = np.full((size, size), 255, np.uint8)
    w = size // 14
    canvas[size // 5 : 4 * size // 5, size // 2 - w // 2 : size // 2 + w // 2] = 0
    return canvas


def photo(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """A random RGB picture."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def bomb_png(side: int = 20000) -> bytes:
    """A tiny PNG file declaring side x side pixels (a decompression bomb)."""
    return encode(Image.new("1", (side, side)))


# -- a local HTTP server for cat_url tests -------------------------------------------------


class ImageServer:
    """An HTTP server on 127.0.0.1 with routes that behave well and badly.

    ``/cat.png`` an image; ``/page.html`` HTML; ``/big`` an image stream larger than any
    limit without Content-Length; ``/big-declared`` a huge Content-Length; ``/slow`` one
    byte every 0.2 s forever; ``/missing`` 404; ``/redirect?to=URL`` a 302; ``/loop`` a
    redirect to itself. ``hosts`` records the Host header of every request.
    """

    def __init__(self, png: bytes) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.hosts.append(self.headers.get("Host"))
                path, _, query = self.path.partition("?")
                name = path.strip("/").replace("-", "_").replace(".", "_")
                route = getattr(server, "route_" + name, None)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    route(self, query)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.png = png
        self.hosts: list[str | None] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @staticmethod
    def _send(handler, status: int, content_type: str, body: bytes, **headers) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    def route_cat_png(self, h, query):
        self._send(h, 200, "image/png", self.png)

    def route_page_html(self, h, query):
        self._send(h, 200, "text/html; charset=utf-8", b"<html><body>no cat</body></html>")

    def route_big(self, h, query):  # chunked, no Content-Length: must be counted
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"\x89PNG" + b"\0" * 65532
        for _ in range(200):  # 12.5 MiB
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")

    def route_big_declared(self, h, query):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(1 << 40))
        h.end_headers()
        h.wfile.write(self.png)

    def route_slow(self, h, query):  # slow loris: headers, then a byte now and then
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", "5000")
        h.end_headers()
        for _ in range(300):
            h.wfile.write(b"\0")
            h.wfile.flush()
            time.sleep(0.2)

    def route_redirect(self, h, query):
        from urllib.parse import parse_qs

        target = parse_qs(query)["to"][0]
        self._send(h, 302, "text/plain", b"", Location=target)

    def route_loop(self, h, query):
        self._send(h, 302, "text/plain", b"", Location="/loop")

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


