"""Collecting feeds over real HTTP on 127.0.0.1: auto-detected, conditional, valid."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import feedparser

from aggregator.config import load_settings
from tests.atom_checks import atom_problems
from tests.golden import FIXTURES
from tests.http_fixture import Response, serve
from tests.session import PipelineSession
from tests.support import ManualClock

RSS = FIXTURES / "feeds" / "rss20-northgate-courier.rss"
ATOM = FIXTURES / "feeds" / "atom10-lowland-wire.atom"


def static(path: Path, media: str, hits: list[str]) -> Callable[[BaseHTTPRequestHandler], Response]:
    def handler(request: BaseHTTPRequestHandler) -> Response:
        hits.append(request.headers.get("If-None-Match") or "")
        return (
            200,
            {"Content-Type": media, "ETag": f'"{path.stat().st_mtime_ns}"'},
            path.read_bytes(),
        )

    return handler


def config(tmp_path: Path, base: str) -> Path:
    path = tmp_path / "agg.toml"
    path.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "agg.db"}"
[feed]
title = "Feeds over HTTP"
id = "tag:example.org,2020:http"
base_url = "http://127.0.0.1:8080"
output_dir = "{tmp_path / "out"}"
[[sources]]
name = "northgate"
title = "Northgate Courier"
url = "{base}/rss"
timezone = "America/New_York"
[[sources]]
name = "lowland"
title = "Lowland Wire"
url = "{base}/atom"
""",
        encoding="utf-8",
    )
    return path


def test_feeds_over_http_are_collected_merged_and_re_polled_cheaply(
    tmp_path: Path, clock: ManualClock
) -> None:
    rss_hits: list[str] = []
    routes = {
        "/rss": static(RSS, "application/rss+xml", rss_hits),
        "/atom": static(ATOM, "text/html", []),  # mislabelled on purpose
    }
    with serve(routes) as base:
        settings = load_settings(config(tmp_path, base), environ={})
        session = PipelineSession(settings, clock)
        first = session.collect()
        clock.advance(minutes=5)
        second = session.collect()
    assert all(s.error is None and s.added > 0 for s in first), first
    assert all(s.not_modified for s in second), second
    assert rss_hits[0] == "" and rss_hits[1].startswith('"')
    document = session.feed_file()
    assert atom_problems(document) == []
    parsed = feedparser.parse(document)
    expected_ids = {e.id for e in feedparser.parse(RSS.read_bytes()).entries if "id" in e}
    assert expected_ids and expected_ids <= {e.id for e in parsed.entries}
    assert len(parsed.entries) == sum(s.added for s in first)
    for entry in parsed.entries:
        assert "<script" not in entry.content[0].value.lower()
        assert "javascript:" not in entry.content[0].value.lower()
    session.close()
