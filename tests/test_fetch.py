"""The fetcher against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from aggregator.core.errors import (
    BodyTooLarge,
    FetchTimeout,
    HTTPStatusError,
    SourceNotFound,
    SourceUnreadable,
)
from aggregator.ingest.fetch import USER_AGENT, Fetcher, FetchResult
from tests.http_fixture import Response, serve

PAGE = b"19:50 GMT - US urges immediate halt to violence\n\nText.\n"


def fetch(url: str, **kwargs: object) -> FetchResult:
    async def go() -> FetchResult:
        fetcher = Fetcher(max_bytes=1000)
        try:
            return await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def page(handler: BaseHTTPRequestHandler) -> Response:
    return (
        200,
        {
            "ETag": '"v1"',
            "Last-Modified": "Sun, 27 Sep 2020 19:50:00 GMT",
            "Date": "Sun, 27 Sep 2020 20:00:00 GMT",
            "Content-Type": "text/plain; charset=utf-8",
            "X-Seen-Agent": handler.headers.get("User-Agent", ""),
        },
        PAGE,
    )


def test_http_fetch_returns_body_validators_and_server_date() -> None:
    with serve({"/live": page}) as base:
        result = fetch(f"{base}/live")
    assert result.body == PAGE and not result.not_modified
    assert result.etag == '"v1"'
    assert result.last_modified == "Sun, 27 Sep 2020 19:50:00 GMT"
    assert result.server_date == datetime(2020, 9, 27, 20, 0, tzinfo=UTC)
    assert result.content_type == "text/plain; charset=utf-8"


def test_http_conditional_get_gives_not_modified() -> None:
    with serve({"/live": page}) as base:
        result = fetch(f"{base}/live", etag='"v1"')
    assert result.not_modified and result.body == b""
    assert result.etag == '"v1"'


def test_http_sends_a_descriptive_user_agent() -> None:
    seen: list[str] = []

    def record(handler: BaseHTTPRequestHandler) -> Response:
        seen.append(handler.headers.get("User-Agent", ""))
        return 200, {}, PAGE

    with serve({"/live": record}) as base:
        fetch(f"{base}/live")
    assert seen == [USER_AGENT] and "aggregator/" in USER_AGENT


def test_http_errors_are_typed_with_readable_reasons() -> None:
    with serve({"/boom": lambda h: (500, {}, b"oops")}) as base:
        with pytest.raises(SourceNotFound, match="HTTP 404"):
            fetch(f"{base}/missing")
        with pytest.raises(HTTPStatusError, match="HTTP 500") as info:
            fetch(f"{base}/boom")
    assert info.value.status == 500


def test_body_cap_is_enforced_with_and_without_content_length() -> None:
    big = b"x" * 5000

    def declared(handler: BaseHTTPRequestHandler) -> Response:
        return 200, {}, big

    def undeclared(handler: BaseHTTPRequestHandler) -> Response:
        # Lie about nothing, declare nothing: the cap must hold while streaming.
        return 200, {"Content-Length": ""}, big

    with serve({"/declared": declared, "/undeclared": undeclared}) as base:
        with pytest.raises(BodyTooLarge, match="declares 5000 bytes"):
            fetch(f"{base}/declared")
        with pytest.raises(BodyTooLarge, match="more than the 1000-byte cap"):
            fetch(f"{base}/undeclared")


def test_redirects_are_followed(tmp_path: Path) -> None:
    with serve({"/old": lambda h: (301, {"Location": "/live"}, b""), "/live": page}) as base:
        result = fetch(f"{base}/old")
    assert result.url.endswith("/live") and result.body == PAGE


def test_file_fetch_uses_a_digest_as_validator(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(PAGE)
    first = fetch(path.as_uri())
    assert first.body == PAGE and first.etag and first.etag.startswith('"sha256-')
    again = fetch(path.as_uri(), etag=first.etag)
    assert again.not_modified
    path.write_bytes(PAGE + b"More.\n")
    assert not fetch(path.as_uri(), etag=first.etag).not_modified


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match="file not found"):
        fetch((tmp_path / "absent.txt").as_uri())
    with pytest.raises(SourceUnreadable, match="is a directory"):
        fetch(tmp_path.as_uri())
    (tmp_path / "big.txt").write_bytes(b"x" * 2000)
    with pytest.raises(BodyTooLarge):
        fetch((tmp_path / "big.txt").as_uri())


def test_retry_after_seconds_and_date_become_not_before() -> None:
    limited = {"Retry-After": "120"}
    dated = {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
    with serve(
        {
            "/limited": lambda h: (429, limited, b"slow down"),
            "/maintenance": lambda h: (503, dated, b"later"),
            "/junk": lambda h: (503, {"Retry-After": "soon-ish"}, b""),
        }
    ) as base:
        before = datetime.now(UTC)
        with pytest.raises(HTTPStatusError) as limited_error:
            fetch(f"{base}/limited")
        with pytest.raises(HTTPStatusError) as dated_error:
            fetch(f"{base}/maintenance")
        with pytest.raises(HTTPStatusError) as junk_error:
            fetch(f"{base}/junk")
    assert limited_error.value.status == 429
    wait = limited_error.value.not_before
    assert wait is not None and 119 <= (wait - before).total_seconds() <= 125
    assert "Retry-After: 120" in str(limited_error.value)
    assert dated_error.value.not_before == datetime(2099, 10, 21, 7, 28, tzinfo=UTC)
    assert junk_error.value.not_before is None


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        ("public, max-age=600", 600),
        ('max-age="90", must-revalidate', 90),
        ("s-maxage=5", None),
        ("max-age=600, no-cache", None),
        ("no-store", None),
        ("max-age=0", None),
        ("max-age=abc", None),
    ],
)
def test_cache_control_max_age_becomes_not_before(cache_control: str, seconds: int | None) -> None:
    def fresh(handler: BaseHTTPRequestHandler) -> Response:
        return 200, {"Cache-Control": cache_control}, PAGE

    with serve({"/live": fresh}) as base:
        result = fetch(f"{base}/live")
    if seconds is None:
        assert result.not_before is None
    else:
        assert result.not_before == result.fetched_at + timedelta(seconds=seconds)


def test_a_dripping_server_hits_the_whole_fetch_deadline() -> None:
    def drip(handler: BaseHTTPRequestHandler) -> Response:
        # Headers, then one byte every 0.2s: no single read ever times out.
        handler.send_response_only(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(100):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.2)
        raise ConnectionAbortedError

    async def go() -> FetchResult:
        fetcher = Fetcher(deadline=1.0)
        try:
            return await fetcher.fetch(f"{base}/drip")
        finally:
            await fetcher.aclose()

    with serve({"/drip": drip}) as base:
        started = time.monotonic()
        with pytest.raises(FetchTimeout) as info:
            asyncio.run(go())
        assert time.monotonic() - started < 5
    assert "longer than the 1s deadline" in str(info.value)
