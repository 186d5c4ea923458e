"""Fetching a source's bytes: `file://` offline, http(s) through httpx.

A fetch either returns a `FetchResult` or raises a `FetchError` subclass whose
message says, for a person, what went wrong and where. Validators are sent
back on every poll (ETag / Last-Modified for HTTP; a content digest for files)
so that an unchanged source costs one cheap request and no extraction.
The body-size cap is enforced while streaming, not after, so a hostile server
cannot make us buffer more than the cap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from aggregator import __version__
from aggregator.errors import (
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    SourceNotFound,
    SourceUnreadable,
)
from aggregator.store.memory import utc_now

USER_AGENT = (
    f"aggregator/{__version__} (live-blog feed aggregator; +https://pypi.org/project/aggregator/)"
)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=10.0, pool=10.0)
MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch returned. `body` is empty when `not_modified`."""

    url: str
    fetched_at: datetime
    body: bytes = b""
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    server_date: datetime | None = None


class Fetcher:
    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT},
        )
        self._max_bytes = max_bytes
        self._clock = clock

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
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        fetched_at = self._clock()
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return FetchResult(
                        url=str(response.url),
                        fetched_at=fetched_at,
                        not_modified=True,
                        etag=response.headers.get("ETag", etag),
                        last_modified=response.headers.get("Last-Modified", last_modified),
                    )
                _raise_for_status(response)
                body = await self._read_capped(response)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"timed out fetching {url} ({type(exc).__name__})") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects fetching {url}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch {url}: {exc}") from None
        return FetchResult(
            url=str(response.url),
            fetched_at=fetched_at,
            body=body,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type"),
            server_date=_http_date(response.headers.get("Date")),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self._max_bytes:
            raise BodyTooLarge(
                f"{response.url} declares {declared} bytes, over the {self._max_bytes}-byte cap"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise BodyTooLarge(f"{response.url} sent more than the {self._max_bytes}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)


def _http_date(value: str | None) -> datetime | None:
    """The Date header as an aware UTC datetime; None when absent or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"{response.url} answered HTTP {status} {response.reason_phrase}".rstrip()
    if status in (404, 410):
        raise SourceNotFound(reason)
    raise HTTPStatusError(reason, status)
