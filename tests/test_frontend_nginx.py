"""The frontend image's nginx config, run by Debian's real nginx on the real page.

services/docker/nginx.conf is what the frontend image runs. Here Debian's nginx runs the
same file from a temporary prefix on a loopback port, serving a copy of
services/frontend/, as an unprivileged user as in the container. Only three things are
rewritten, each checked to occur: the listen address (8080 -> 127.0.0.1:<free port>),
the document root (the image's /usr/share/nginx/html -> the copy) and /tmp (the pod's
emptyDir -> the temporary prefix). `make test` installs nginx (apt-get install -y nginx)
where it is missing and permitted; without it this module is skipped, saying so.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from helpers import free_port

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "services" / "docker" / "nginx.conf"
PAGE = REPO / "services" / "frontend"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)), None
)
UNPRIVILEGED = 65534  # nobody: the container runs nginx as a non-root user too

pytestmark = pytest.mark.skipif(
    NGINX is None,
    reason="Debian's nginx is not installed (apt-get install -y nginx; make test does this "
    "where it runs as root)",
)


def replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    assert count >= 1, f"nginx.conf no longer contains {old!r}; update this test with it"
    return text.replace(old, new)


def nginx_config(prefix: Path, port: int, root: Path) -> str:
    """The image's config with the listen port, document root and /tmp moved here."""
    text = CONF.read_text()
    assert text.count("listen 8080;") == 1, "the frontend listens on 8080 exactly once"
    text = replace_once(text, "listen 8080;", f"listen 127.0.0.1:{port};")
    text = replace_once(text, " /tmp/", f" {prefix}/")
    text = replace_once(text, "root /usr/share/nginx/html;", f"root {root};")
    assert "/usr/share/nginx/html" not in text
    return text


def run_as_unprivileged() -> list[str]:
    """Command prefix dropping root, like the container's USER 10001 (nobody here)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux) to drop privileges")
    return [setpriv, f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups"]


@pytest.fixture(scope="module")
def site():
    """nginx serving a copy of services/frontend/ with the image's config; yields a GET."""
    assert (PAGE / "index.html").is_file(), f"no page to serve: {PAGE}/index.html is missing"
    prefix = Path(tempfile.mkdtemp(prefix="simpledl-nginx-"))
    try:
        os.chmod(prefix, 0o777)  # writable by the unprivileged nginx
        root = prefix / "html"
        shutil.copytree(PAGE, root)
        for path in [root, *root.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(prefix, port, root))
        cmd = [*run_as_unprivileged(), NGINX, "-p", str(prefix), "-c", str(conf), "-e", "stderr"]

        # nginx reopens /dev/stdout (access_log), so its output goes to a file the
        # unprivileged user owns, not to a pipe of ours.
        log = (prefix / "nginx.log").open("w+")
        if os.geteuid() == 0:
            os.chown(log.name, UNPRIVILEGED, UNPRIVILEGED)
        syntax = subprocess.run([*cmd, "-t"], stdout=log, stderr=log, timeout=30)
        log.seek(0)
        assert syntax.returncode == 0, f"nginx -t rejects the config:\n{log.read()}"

        proc = subprocess.Popen([*cmd, "-g", "daemon off;"], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        pytest.fail(f"nginx did not start (exit {proc.poll()}):\n{log.read()}")
                    time.sleep(0.1)

            def request(path: str, method: str = "GET", body: bytes | None = None):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request(method, path, body=body)
                response = conn.getresponse()
                content = response.read()
                conn.close()
                return response, content

            yield request, prefix
        finally:
            proc.send_signal(signal.SIGQUIT)  # graceful, as the image's STOPSIGNAL
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def test_serves_the_page(site):
    request, _ = site
    response, body = request("/")
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/html")
    assert body == (PAGE / "index.html").read_bytes()
    assert response.getheader("Cache-Control") == "no-cache"


def test_serves_every_file_of_the_page_with_its_type(site):
    request, _ = site
    types = {".html": "text/html", ".js": "application/javascript", ".css": "text/css"}
    files = [p for p in PAGE.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert files
    for path in files:
        url = "/" + path.relative_to(PAGE).as_posix()
        response, body = request(url)
        assert response.status == 200, url
        assert body == path.read_bytes(), url
        if path.suffix in types:
            assert response.getheader("Content-Type").startswith(types[path.suffix]), url


def test_security_headers_and_no_version(site):
    request, _ = site
    for path in ("/", "/index.html", "/app.js", "/does-not-exist"):
        response, _ = request(path)
        csp = response.getheader("Content-Security-Policy") or ""
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert response.getheader("X-Content-Type-Options") == "nosniff", path
        assert response.getheader("X-Frame-Options") == "DENY", path
        assert response.getheader("Referrer-Policy") == "no-referrer", path
        assert response.getheader("Server") == "nginx", path  # server_tokens off


class InlineCode(HTMLParser):
    """Collects what the Content-Security-Policy would block: inline scripts and styles."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self._in_script = True
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        self.found += [f"{name}= on <{tag}>" for name in names if name == "style"]
        self.found += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]


def test_the_page_needs_nothing_the_content_security_policy_blocks():
    for page in PAGE.rglob("*.html"):
        parser = InlineCode()
        parser.feed(page.read_text())
        assert parser.found == [], f"{page.name}: {parser.found}"


def test_healthz_answers(site):
    request, _ = site
    response, body = request("/healthz")
    assert (response.status, body) == (200, b"ok\n")


def test_every_probe_of_the_frontend_deployment_succeeds(site):
    """The startup, readiness and liveness probes of k8s/base/frontend.yaml, on nginx."""
    request, _ = site
    docs = yaml.safe_load_all((REPO / "k8s" / "base" / "frontend.yaml").read_text())
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in ("http", 8080), probe
        response, _ = request(get["path"])
        assert response.status == 200, f"{probe} {get['path']}"


def test_proxies_nothing(site):
    """/api belongs to the gateway behind the Ingress; nginx neither proxies nor fakes it."""
    request, _ = site
    for method in ("GET", "POST"):
        response, body = request("/api/digits", method=method, body=b"{}")
        assert response.status == 404, method
        assert b"<html" in body.lower()  # nginx's own page, not index.html
        assert body != (PAGE / "index.html").read_bytes()


def test_unknown_paths_and_dot_files_are_404(site):
    request, _ = site
    assert request("/no/such/page.html")[0].status == 404
    assert request("/.git/config")[0].status == 404


def test_refuses_large_bodies(site):
    request, _ = site
    response, _ = request("/", method="POST", body=b"x" * 64 * 1024)
    assert response.status == 413


def test_writes_only_under_the_prefix(site):
    """pid and temporary files go where /tmp is in the image (the pod's emptyDir)."""
    _, prefix = site
    assert (prefix / "nginx.pid").is_file()
    assert (prefix / "client_body").is_dir()
