"""cat_url fetching refuses every non-public destination, and bounds size, time and hops."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.gateway.fetch import (
    FetchError,
    FetchPolicy,
    RemoteNotImage,
    RemoteTooLarge,
    UrlRefused,
    check_address,
    fetch_image,
)

LOCAL = FetchPolicy.from_allowlist(["127.0.0.1"], timeout=3.0, max_bytes=1 << 20)


PUBLIC_ONLY = FetchPolicy(timeout=3.0)


def fetch(url, policy=PUBLIC_ONLY, resolve=None):
    kwargs = {"resolve": resolve} if resolve else {}
    return asyncio.run(fetch_image(url, policy, **kwargs))


def fake_dns(table):
    async def resolve(host, port):
        if host not in table:
            raise FetchError(f"the host name {host!r} could not be resolved")
        return table[host]

    return resolve


# Every host below resolves (through the system resolver, no network needed) to an address
# that is not on the public internet; the fetch must be refused before any connection.
REFUSED_HOSTS = [
    "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0x7f000001", "127.255.255.254",
    "localhost", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[2002:7f00:1::1]",
    "[64:ff9b::7f00:1]", "0.0.0.0", "[::]",
    "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "[::ffff:192.168.1.1]",
    "[fc00::1]", "[fd12:3456::1]",
    "100.64.0.1", "100.127.255.254",
    "169.254.169.254", "[::ffff:169.254.169.254]", "[fe80::1]",
    "224.0.0.1", "239.255.255.250", "[ff02::1]",
    "240.0.0.1", "255.255.255.255", "192.0.2.10", "198.18.0.1",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_non_public_addresses_are_refused(host):
    with pytest.raises(UrlRefused) as refused:
        fetch(f"http://{host}/cat.png")
    assert "only images on the public internet" in str(refused.value)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass_the_check(address):
    check_address("images.example.org", address, FetchPolicy())  # no exception


def test_the_resolved_address_is_checked_not_the_name():
    dns = fake_dns({"cats.example.org": ["10.1.2.3"]})
    with pytest.raises(UrlRefused, match=r"cats\.example\.org \(which resolves to 10\.1\.2\.3\)"):
        fetch("http://cats.example.org/cat.png", resolve=dns)


def test_a_name_with_any_private_address_is_refused():
    dns = fake_dns({"rebind.example.org": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(UrlRefused, match="loopback"):
        fetch("http://rebind.example.org/cat.png", resolve=dns)


def test_the_connection_goes_to_the_checked_address(image_server):
    # "images.test" exists only in this fake DNS; the fetch can only succeed if the
    # gateway connects to the address it resolved and checked, without resolving again.
    dns = fake_dns({"images.test": ["127.0.0.1"]})
    data = fetch(f"http://images.test:{image_server.port}/cat.png", LOCAL, dns)
    assert data == image_server.png
    assert image_server.hosts[-1] == f"images.test:{image_server.port}"


def test_allowlisted_address_and_host_name(image_server):
    assert fetch(image_server.url("/cat.png"), LOCAL) == image_server.png
    by_name = FetchPolicy.from_allowlist(["localhost"], timeout=3.0)
    url = f"http://localhost:{image_server.port}/cat.png"
    assert fetch(url, by_name) == image_server.png
    with pytest.raises(UrlRefused):  # the allow-list is exact: 127.0.0.2 is not listed
        fetch(f"http://127.0.0.2:{image_server.port}/cat.png", LOCAL)


def test_environment_proxies_are_ignored(image_server, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")  # nothing listens on port 9
    assert fetch(image_server.url("/cat.png"), LOCAL) == image_server.png


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/cat.png",
                                 "gopher://example.org/", "data:image/png;base64,AAAA",
                                 "/relative/cat.png"])
def test_only_http_and_https(url):
    with pytest.raises(UrlRefused, match="only http and https"):
        fetch(url)


@pytest.mark.parametrize("url", ["http://", "http:///cat.png", "http://0177.0.0.1/"])
def test_malformed_urls(url):
    with pytest.raises(FetchError):
        fetch(url)


def test_redirect_to_a_private_address_is_refused(image_server):
    url = image_server.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
    with pytest.raises(UrlRefused, match="169.254.169.254"):
        fetch(url, LOCAL)
    url = image_server.url("/redirect?to=http://[::ffff:10.0.0.1]/x.png")
    with pytest.raises(UrlRefused, match="private"):
        fetch(url, LOCAL)


def test_redirect_to_another_scheme_is_refused(image_server):
    with pytest.raises(UrlRefused, match="only http and https"):
        fetch(image_server.url("/redirect?to=file:///etc/passwd"), LOCAL)


def test_redirects_are_followed_and_bounded(image_server):
    assert fetch(image_server.url("/redirect?to=/cat.png"), LOCAL) == image_server.png
    with pytest.raises(FetchError, match="redirected more than 3 times"):
        fetch(image_server.url("/loop"), FetchPolicy.from_allowlist(["127.0.0.1"], timeout=3.0,
                                                                   max_redirects=3))
    no_redirects = FetchPolicy.from_allowlist(["127.0.0.1"], timeout=3.0, max_redirects=0)
    with pytest.raises(FetchError, match="more than 0 times"):
        fetch(image_server.url("/redirect?to=/cat.png"), no_redirects)


def test_not_an_image(image_server):
    with pytest.raises(RemoteNotImage, match="text/html") as error:
        fetch(image_server.url("/page.html"), LOCAL)
    assert error.value.status == 415


def test_oversize_stream_is_counted(image_server):
    with pytest.raises(RemoteTooLarge, match="larger than the limit") as error:
        fetch(image_server.url("/big"), LOCAL)
    assert error.value.status == 413


def test_oversize_declared_length_is_refused_early(image_server):
    with pytest.raises(RemoteTooLarge, match="1,099,511,627,776 bytes"):
        fetch(image_server.url("/big-declared"), LOCAL)


def test_slow_server_hits_the_deadline(image_server):
    policy = FetchPolicy.from_allowlist(["127.0.0.1"], timeout=1.0)
    start = time.monotonic()
    with pytest.raises(FetchError, match="longer than 1 s"):
        fetch(image_server.url("/slow"), policy)
    assert time.monotonic() - start < 10  # ended by the deadline, not by the server


def test_http_errors_are_reported(image_server):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(image_server.url("/missing"), LOCAL)


def test_unreachable_host():
    dns = fake_dns({"down.example.org": ["127.0.0.1"]})
    policy = FetchPolicy.from_allowlist(["127.0.0.1"], timeout=3.0)
    with pytest.raises(FetchError, match="could not connect|could not be downloaded"):
        fetch("http://down.example.org:9/cat.png", policy, dns)  # port 9: nothing listens
