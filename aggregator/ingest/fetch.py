"""Fetching a source's bytes: `file://` offline, http(s) through httpx.

A fetch either returns a `FetchResult` or raises a `FetchError` subclass whose
message says, for a person, what went wrong and where. Validators are sent
back on every poll (ETag / Last-Modified for HTTP; a content digest for files)
so that an unchanged source costs one cheap request and no extraction.

Politeness and self-defence live here too: explicit connect and read
timeouts plus a deadline on the whole fetch (a server dripping one byte a
second never trips a read timeout), a body-size cap enforced while streaming
and while inflating, redirects followed by hand (at most 5, loops named,
each hop checked by `guard`), a descriptive User-Agent, and the server's own
pacing (`Retry-After` on an error, `Cache-Control: max-age` on a success)
passed back as `not_before` for the scheduler.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from aggregator import __version__
from aggregator.core.clock import utc_now
from aggregator.core.errors import (
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    SourceNotFound,
    SourceUnreadable,
)
from aggregator.ingest import guard

USER_AGENT = (
    f"aggregator/{__version__} (live-blog feed aggregator; +https://pypi.org/project/aggregator/)"
)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=10.0, pool=10.0)
DEFAULT_DEADLINE = 60.0
# Connections one client keeps; the engine asks for one per worker.
DEFAULT_CONNECTIONS = 10
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.I)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch returned. `body` is empty when `not_modified`.

    `not_before` is the end of the freshness lifetime the server gave the
    response (`Cache-Control: max-age`), before which polling again is waste.
    """

    url: str
    fetched_at: datetime
    body: bytes = b""
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    server_date: datetime | None = None
    not_before: datetime | None = None
    notes: tuple[str, ...] = ()


def sendable(value: str | None) -> bool:
    """Whether a validator can go back in a request header: printable ASCII.

    A server may send anything (an ETag in UTF-8, a control character); httpx
    refuses to send such a value back, so storing it would break every later
    poll of the source.
    """
    return value is None or (value.isascii() and value.isprintable())


def _validator(name: str, value: str | None, notes: list[str]) -> str | None:
    if sendable(value):
        return value
    notes.append(
        f"the server's {name} {value!r} cannot be sent back (not printable ASCII); not kept"
    )
    return None


class Fetcher:
    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], datetime] = utc_now,
        deadline: float = DEFAULT_DEADLINE,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT,
            # Bounded, and kept alive between polls: a service reuses its
            # connections round after round (polls at once are bounded alike).
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,  # followed by hand, each hop checked (see `guard`)
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": guard.ACCEPT_ENCODING},
        )
        self._max_bytes = max_bytes
        self._clock = clock
        self._deadline = deadline

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        scheme = urlsplit(url).scheme
        if scheme == "file":
            return self._fetch_file(url, etag)
        if scheme in ("http", "https"):
            return await self._fetch_http(url, etag, last_modified)
        raise FetchError(f"unsupported URL scheme in {url!r}")

    def _fetch_file(self, url: str, etag: str | None) -> FetchResult:
        path = Path(unquote(urlsplit(url).path))
        fetched_at = self._clock()
        try:
            with path.open("rb") as handle:
                body = handle.read(self._max_bytes + 1)
        except FileNotFoundError:
            raise SourceNotFound(f"file not found: {path}") from None
        except PermissionError:
            raise SourceUnreadable(f"permission denied reading {path}") from None
        except IsADirectoryError:
            raise SourceUnreadable(f"{path} is a directory, not a file") from None
        except OSError as exc:
            raise SourceUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(body) > self._max_bytes:
            raise BodyTooLarge(f"{path} is larger than the {self._max_bytes}-byte cap")
        digest = f'"sha256-{hashlib.sha256(body).hexdigest()}"'
        if digest == etag:
            return FetchResult(url=url, fetched_at=fetched_at, not_modified=True, etag=digest)
        return FetchResult(url=url, fetched_at=fetched_at, body=body, etag=digest)

    async def _fetch_http(
        self, url: str, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        headers = {}
        # A validator that cannot be sent (kept by an older version) is not sent.
        if etag and sendable(etag):
            headers["If-None-Match"] = etag
        if last_modified and sendable(last_modified):
            headers["If-Modified-Since"] = last_modified
        fetched_at = self._clock()
        try:
            async with asyncio.timeout(self._deadline):
                return await self._follow(url, headers, fetched_at, etag, last_modified)
        except TimeoutError:
            raise FetchTimeout(
                f"fetching {url} took longer than the {self._deadline:g}s deadline"
            ) from None
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"timed out fetching {url} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch {url}: {_what(exc)}") from None
        except httpx.InvalidURL as exc:
            # httpx parses a redirect's Location as the answer arrives.
            raise FetchError(
                f"could not fetch {url}: the server sent an invalid URL: {exc}"
            ) from None

    async def _follow(
        self,
        url: str,
        headers: dict[str, str],
        fetched_at: datetime,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        """GET `url`, following redirects hop by hop, each checked by `guard`."""
        target, previous, public = url, None, True
        visited: list[str] = []
        while True:
            if target in visited:
                raise FetchError(f"redirect loop fetching {url}: {' -> '.join([*visited, target])}")
            if len(visited) > MAX_REDIRECTS:
                raise FetchError(f"more than {MAX_REDIRECTS} redirects fetching {url}")
            visited.append(target)
            public = await guard.check_destination(target, previous, public)
            async with self._client.stream("GET", target, headers=headers) as response:
                guard.check_peer(response)
                location = response.headers.get("Location")
                if response.status_code in _REDIRECTS and location:
                    previous, target = target, urljoin(target, location)
                    continue
                return await self._answer(response, fetched_at, etag, last_modified)

    async def _answer(
        self,
        response: httpx.Response,
        fetched_at: datetime,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        not_before = _fresh_until(response.headers.get("Cache-Control"), fetched_at)
        if response.status_code == 304:
            # A 304 has no body, but the stream must be read to its end for
            # the connection to go back to the pool: a round of 304s then
            # reuses its connections instead of opening one per poll.
            await response.aread()
            return FetchResult(
                url=str(response.url),
                fetched_at=fetched_at,
                not_modified=True,
                etag=response.headers.get("ETag", etag),
                last_modified=response.headers.get("Last-Modified", last_modified),
                not_before=not_before,
            )
        _raise_for_status(response, fetched_at)
        notes: list[str] = []
        return FetchResult(
            url=str(response.url),
            fetched_at=fetched_at,
            body=await self._read_capped(response),
            etag=_validator("ETag", response.headers.get("ETag"), notes),
            last_modified=_validator("Last-Modified", response.headers.get("Last-Modified"), notes),
            content_type=response.headers.get("Content-Type"),
            server_date=_http_date(response.headers.get("Date")),
            not_before=not_before,
            notes=tuple(notes),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self._max_bytes:
            raise BodyTooLarge(
                f"{response.url} declares {declared} bytes, over the {self._max_bytes}-byte cap"
            )
        decoder = guard.BodyDecoder(
            response.headers.get("Content-Encoding", ""), self._max_bytes, str(response.url)
        )
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > self._max_bytes:
                raise BodyTooLarge(f"{response.url} sent more than the {self._max_bytes}-byte cap")
            chunks.append(decoder.feed(chunk))
        chunks.append(decoder.finish())
        return b"".join(chunks)


def _what(exc: httpx.HTTPError) -> str:
    """What went wrong, never empty: httpx's transport errors (a reset or
    closed connection) often carry no message of their own."""
    text = str(exc).strip()
    return text or f"{type(exc).__name__} (the connection was closed or reset before an answer)"


def _http_date(value: str | None) -> datetime | None:
    """The Date header as an aware UTC datetime; None when absent or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _fresh_until(cache_control: str | None, fetched_at: datetime) -> datetime | None:
    """`fetched_at + max-age` when the response says how long it stays fresh.

    `no-cache`/`no-store` mean "ask every time", so they set no bound.
    """
    if not cache_control or re.search(r"\bno-(?:cache|store)\b", cache_control, re.I):
        return None
    match = _MAX_AGE.search(cache_control)
    if match is None or int(match.group(1)) == 0:
        return None
    return fetched_at + timedelta(seconds=min(int(match.group(1)), 10**8))


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """RFC 9110 Retry-After, either delay-seconds or an HTTP-date, as a time."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), 10**8))
    when = _http_date(value)
    return when if when is not None and when > now else None


def _raise_for_status(response: httpx.Response, fetched_at: datetime) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"{response.url} answered HTTP {status} {response.reason_phrase}".rstrip()
    not_before = retry_after(response.headers.get("Retry-After"), fetched_at)
    if not_before is not None:
        reason += f" (Retry-After: {response.headers['Retry-After'].strip()[:64]})"
    if status in (404, 410):
        raise SourceNotFound(reason, not_before, status)
    raise HTTPStatusError(reason, not_before, status)
