"""Fetching a cat photo from a user-supplied URL without opening a server-side request
forgery hole.

A URL typed by a stranger must not make the gateway talk to anything a stranger could not
reach: the cloud metadata service (169.254.169.254), the worker, the cluster's other
services, the host's loopback. So, for every connection (the first one and after every
redirect):

- only ``http`` and ``https`` URLs;
- the host name is resolved once and *every* resolved address is checked at connect time,
  and the connection goes to exactly the address that was checked (a DNS answer that
  changes between check and connect — DNS rebinding — cannot slip through);
- IPv4-mapped (``::ffff:127.0.0.1``), 6to4 and NAT64 IPv6 addresses are unwrapped first;
- anything that is not globally routable is refused: loopback in all its spellings
  (``127.1``, ``2130706433``, ``0x7f.1`` all resolve to 127.0.0.1), private ranges,
  carrier-grade NAT 100.64.0.0/10, link-local (incl. 169.254.169.254), multicast,
  reserved and unspecified addresses — unless :attr:`FetchPolicy.allow_networks` or
  :attr:`FetchPolicy.allow_hosts` lists them (``GATEWAY_URL_ALLOWLIST``);
- redirects are followed here, at most ``max_redirects`` of them, each hop checked again;
- no proxy from the environment is used (it would bypass the address check);
- the whole fetch has one deadline, so a server trickling one byte a second still ends;
- bytes are counted while streaming (``Content-Length`` is only used to refuse early);
- the answer must be ``200`` with an ``image/*`` content type.

Errors are :class:`FetchError` subclasses whose ``status`` is the HTTP status the gateway
answers with and whose message says what happened in plain words.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolve(host, port) -> [address, ...]``; replaceable in tests.
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECTS = (301, 302, 303, 307, 308)
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
USER_AGENT = "simpledl-gateway/0.1 (cat_url fetcher)"


class FetchError(Exception):
    """The image at a URL cannot be used; ``status`` is the HTTP status to answer with."""

    status = 400
    code = "url_fetch_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UrlRefused(FetchError):
    """The URL points somewhere the gateway will not go (scheme, address)."""

    code = "url_not_allowed"


class RemoteTooLarge(FetchError):
    """The remote file is larger than the limit."""

    status = 413
    code = "payload_too_large"


class RemoteNotImage(FetchError):
    """The URL answered with something other than an image."""

    status = 415
    code = "unsupported_media_type"


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetch. ``allow_*`` name non-public destinations that are permitted."""

    timeout: float = 5.0
    max_bytes: int = 4 * 1024 * 1024
    max_redirects: int = 3
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_allowlist(cls, entries: Iterable[str], **limits) -> FetchPolicy:
        """Build a policy from ``GATEWAY_URL_ALLOWLIST`` entries: CIDRs, addresses, host names."""
        networks, hosts = [], set()
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(allow_networks=tuple(networks), allow_hosts=frozenset(hosts), **limits)


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address (else ``ip``)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be fetched from (``None`` if it is a public address)."""
    ip = unwrap(ip)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (e.g. a cloud metadata service)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private-network or special-purpose address"
    if not ip.is_global:
        return "not a public internet address"
    return None


def check_address(host: str, address: str, policy: FetchPolicy) -> None:
    """Raise :class:`UrlRefused` unless ``host`` at ``address`` may be fetched from."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if host.lower().rstrip(".") in policy.allow_hosts:
        return
    if any(candidate in network for network in policy.allow_networks
           for candidate in {ip, unwrap(ip)} if candidate.version == network.version):
        return
    reason = refusal(ip)
    if reason is not None:
        shown = host if host == address else f"{host} (which resolves to {address})"
        raise UrlRefused(
            f"the URL points to {shown}, {reason}; only images on the public internet "
            "can be fetched"
        )


async def system_resolve(host: str, port: int) -> list[str]:
    """All addresses the system resolver gives for ``host`` (IP literals resolve to
    themselves, including shorthand such as ``127.1`` or ``2130706433``)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchError(f"the host name {host!r} could not be resolved ({e.strerror})") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, and connects only to a checked address."""

    def __init__(self, policy: FetchPolicy, resolve: Resolver) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None,
                          socket_options=None):
        addresses = await self.resolve(host, port)
        if not addresses:
            raise FetchError(f"the host name {host!r} has no addresses")
        for address in addresses:  # refuse the host if ANY of its addresses is refused
            check_address(host, address, self.policy)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        raise FetchError(f"could not connect to {host} port {port} ({error})")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UrlRefused("unix sockets cannot be fetched from")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def parse_url(url: str) -> httpx.URL:
    """The URL if it is an absolute http(s) URL with a host; :class:`UrlRefused` otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise FetchError(f"not a valid URL ({e})") from None
    if parsed.scheme not in ("http", "https"):
        shown = f"{parsed.scheme}:" if parsed.scheme else "a relative URL"
        raise UrlRefused(f"only http and https URLs can be fetched, not {shown}")
    if not parsed.host:
        raise FetchError("the URL has no host name")
    return parsed


async def fetch_image(url: str, policy: FetchPolicy, resolve: Resolver = system_resolve) -> bytes:
    """The bytes of the image at ``url``, fetched under ``policy``.

    Raises:
        FetchError: refused, unreachable, too slow, too large, not an image (see subclasses).
    """
    backend = _CheckedBackend(policy, resolve)
    timeouts = {"connect": policy.timeout, "read": policy.timeout, "write": policy.timeout,
                "pool": policy.timeout}
    try:
        async with asyncio.timeout(policy.timeout), httpcore.AsyncConnectionPool(
            network_backend=backend, retries=0, max_connections=1
        ) as pool:
            for _ in range(policy.max_redirects + 1):
                target = parse_url(url)
                headers = [
                    (b"Host", target.netloc),
                    (b"User-Agent", USER_AGENT.encode()),
                    (b"Accept", b"image/png, image/jpeg, image/webp, image/gif"),
                    (b"Accept-Encoding", b"identity"),
                ]
                request_url = httpcore.URL(
                    scheme=target.raw_scheme, host=target.raw_host, port=target.port,
                    target=target.raw_path,
                )
                async with pool.stream(
                    "GET", request_url, headers=headers, extensions={"timeout": timeouts}
                ) as response:
                    if response.status in REDIRECTS:
                        location = _header(response, b"location")
                        if not location:
                            raise FetchError(f"the URL redirected (HTTP {response.status}) "
                                             "without saying where to")
                        url = urljoin(str(target), location)
                        continue
                    return await _read_image(response, policy)
            raise FetchError(f"the URL redirected more than {policy.max_redirects} times")
    except TimeoutError:
        raise FetchError(
            f"fetching the image took longer than {policy.timeout:g} s; try another URL"
        ) from None
    except httpcore.TimeoutException:
        raise FetchError(
            f"the image server did not respond within {policy.timeout:g} s"
        ) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as e:
        raise FetchError(f"the image could not be downloaded ({type(e).__name__}: {e})") from None


def _header(response: httpcore.Response, name: bytes) -> str:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return ""


async def _read_image(response: httpcore.Response, policy: FetchPolicy) -> bytes:
    if response.status != 200:
        raise FetchError(f"the URL answered HTTP {response.status} instead of an image")
    content_type = _header(response, b"content-type").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise RemoteNotImage(
            f"the URL returned {content_type or 'no content type'}, not an image; "
            "link directly to a PNG, JPEG, WebP or GIF file"
        )
    limit = policy.max_bytes
    declared = _header(response, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise RemoteTooLarge(
            f"the image at the URL is {int(declared):,} bytes; the limit is {limit:,} bytes"
        )
    chunks, size = [], 0
    async for chunk in response.aiter_stream():
        size += len(chunk)
        if size > limit:  # counted, because Content-Length can lie or be absent
            raise RemoteTooLarge(
                f"the image at the URL is larger than the limit of {limit:,} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)
