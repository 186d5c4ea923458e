"""What a fetch refuses, whatever a server answers: forbidden addresses and bodies
that grow past the cap when decoded.

Addresses. A configured source may live anywhere the operator chose,
loopback and private networks included, but never at an address no web
page has a reason to be served from: link-local (169.254.0.0/16, fe80::/10,
home of the cloud metadata services at 169.254.169.254 and fd00:ec2::254),
multicast, unspecified or reserved. A *redirect* is the server's choice, not
the operator's, so it is held to more: it must stay on http or https, and a
page on a public address may not send us to a loopback or private one (the
classic server-side request forgery). Names are resolved and checked before
each request, and the address actually connected to is checked again when
the answer arrives, so a name that resolves differently the second time
(DNS rebinding) still never has its answer read.

Decoding. httpx would inflate gzip and deflate on its own, in chunks whose
output it does not bound: a few kilobytes of gzip can become gigabytes. We
ask for gzip or deflate only, read the raw bytes, and inflate them with an
output limit, so the size cap holds for what the body decodes to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import zlib
from urllib.parse import urlsplit

import httpx

from aggregator.core.errors import BodyTooLarge, FetchError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ACCEPT_ENCODING = "gzip, deflate"
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


def forbidden_reason(address: Address) -> str | None:
    """Why no source may be fetched from `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        # Before the ranges below: Python counts ::1 as reserved (::/8), but it
        # is this machine, as 127.0.0.1 is (loopback sources are allowed).
        return None
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_reserved:
        return "a reserved address"
    return None


async def check_destination(url: str, redirected_from: str | None, from_public: bool) -> bool:
    """Refuse `url` (raise `FetchError`) if it may not be fetched; else return
    whether every address it resolves to is public (for the next redirect)."""
    parts = urlsplit(url)
    via = f"{redirected_from} redirected to {url}" if redirected_from else url
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{via}: only http and https are followed")
    if not parts.hostname:
        raise FetchError(f"{via}: no host in the address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{via}: cannot resolve {parts.hostname}: {exc}") from None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found}
    for address in sorted(addresses, key=str):
        reason = forbidden_reason(address)
        if reason is not None:
            raise FetchError(f"{via}: {parts.hostname} is {address}, {reason}; refused")
    public = all(address.is_global for address in addresses)
    if redirected_from is not None and from_public and not public:
        raise FetchError(f"{via}: a public address may not redirect to a private one; refused")
    return public


def check_peer(response: httpx.Response) -> None:
    """Refuse an answer that came from a forbidden address after all."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%")[0])
    except ValueError:
        return
    reason = forbidden_reason(address)
    if reason is not None:
        raise FetchError(f"{response.url} was answered from {address}, {reason}; refused")


class BodyDecoder:
    """Inflates a response body chunk by chunk, never past `cap` bytes of output."""

    def __init__(self, content_encoding: str, cap: int, url: str) -> None:
        coding = content_encoding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            self._inflate: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._inflate = zlib.decompressobj()
        elif coding in ("", "identity"):
            self._inflate = None
        else:
            raise FetchError(
                f"{url} sent Content-Encoding {content_encoding!r}; only gzip and deflate"
                " are accepted"
            )
        self._raw_deflate = coding == "deflate"
        self._verb = "sent" if self._inflate is None else "decodes to"
        self._cap = cap
        self._url = url
        self._size = 0

    def feed(self, chunk: bytes) -> bytes:
        if self._inflate is None:
            return self._count(chunk)
        try:
            out = self._inflate.decompress(chunk, self._cap + 1 - self._size)
        except zlib.error:
            if not (self._raw_deflate and self._size == 0):
                raise FetchError(f"{self._url} sent a body that does not inflate") from None
            # Some servers send deflate without its zlib header (RFC 1951 alone).
            self._raw_deflate = False
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(chunk)
        self._raw_deflate = False
        return self._count(out)

    def finish(self) -> bytes:
        if self._inflate is None:
            return b""
        try:
            return self._count(self._inflate.flush())
        except zlib.error:
            raise FetchError(f"{self._url} sent a body that does not inflate") from None

    def _count(self, data: bytes) -> bytes:
        self._size += len(data)
        if self._size > self._cap:
            raise BodyTooLarge(f"{self._url} {self._verb} more than the {self._cap}-byte cap")
        return data
