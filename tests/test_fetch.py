"""The fetcher against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from aggregator.errors import BodyTooLarge, HTTPStatusError, SourceNotFound, SourceUnreadable
from aggregator.fetch import USER_AGENT, Fetcher, FetchResult
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
