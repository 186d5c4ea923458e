"""A page that yields nothing is a recorded failure of its own kind (issue 14).

Real parts only: the page is served over HTTP on 127.0.0.1, `aggregator run`
polls it into a real SQLite log, and what an operator looks at is read as
they would read it: `/healthz`, `/metrics`, the feeds, `aggregator events`,
`aggregator sources` and `aggregator collect`. The page first has two
updates, then is replaced by one with no timestamped line at all (a holding
notice, the wrong page): that poll is `SourceFailed` with kind `no-updates`,
never an empty success, and the two entries the log holds stay in the feed.
The same story is told for a plain-text page (`liveblog-text`) and an HTML
one (`liveblog-html`, where every reading comes up empty).
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.http_fixture import Response, serve
from tests.service_process import atom_ids, cli, events, get, start_run, wait_for

UPDATES = (
    "A test live page\n\n"
    "10:00 GMT – First update\n\nSomething happened.\n\n"
    "09:00 GMT – Opening update\n\nThe page opened.\n"
).encode()
NOTHING = b"A test live page\n\nThe page is being updated. Please check back later.\n"
HTML_UPDATES = (
    "<!doctype html><html><head><title>A test live page</title></head><body><main>"
    "<h1>A test live page</h1>"
    "<p>10:00 GMT – First update</p><p>Something happened.</p>"
    "<p>09:00 GMT – Opening update</p><p>The page opened.</p>"
    "</main></body></html>"
).encode()
HTML_NOTHING = (
    b"<!doctype html><html><head><title>A test live page</title></head><body><main>"
    b"<h1>A test live page</h1><p>The page is being updated. Please check back later.</p>"
    b"</main></body></html>"
)
ENTRY_IDS = [
    "tag:example.org,2026:live/20200927T100000Z-0",
    "tag:example.org,2026:live/20200927T090000Z-0",
]
NO_UPDATES_LINE = "no timestamped update line"


@dataclass(frozen=True)
class Kind:
    """A format, its media type, a page of two updates and its emptied successor."""

    format: str
    media: str
    updates: bytes
    nothing: bytes


KINDS = [
    Kind("liveblog-text", "text/plain", UPDATES, NOTHING),
    Kind("liveblog-html", "text/html", HTML_UPDATES, HTML_NOTHING),
]


class Page:
    """One route whose body a test swaps; the ETag follows the bytes, so 304s are real."""

    def __init__(self, body: bytes, media: str = "text/plain") -> None:
        self.body = body
        self.media = media
        self.lock = threading.Lock()

    def __call__(self, _request: BaseHTTPRequestHandler) -> Response:
        with self.lock:
            body = self.body
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        return 200, {"ETag": etag, "Content-Type": f"{self.media}; charset=utf-8"}, body

    def replace(self, body: bytes) -> None:
        with self.lock:
            self.body = body


def write_config(tmp_path: Path, url: str, fmt: str = "liveblog-text") -> Path:
    config = tmp_path / "agg.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "agg.db"}"

[feed]
title = "T"
id = "tag:example.org,2026:t"
base_url = "http://127.0.0.1:8080"
output_dir = "{tmp_path / "feeds"}"

[service]
jitter = "0s"

[[sources]]
name = "live"
id = "tag:example.org,2026:live"
url = "{url}"
link = "https://example.org/live"
format = "{fmt}"
interval = "1s"
timezone = "UTC"
date = 2020-09-27
""",
        encoding="utf-8",
    )
    return config


def metric(exposition: str, series: str) -> float | None:
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize("kind", KINDS, ids=[kind.format for kind in KINDS])
def test_a_page_that_yields_nothing_is_a_no_updates_failure_and_the_log_keeps_its_entries(
    tmp_path: Path, kind: Kind
) -> None:
    page = Page(kind.updates, kind.media)
    with serve({"/live": page}) as base:
        config = write_config(tmp_path, f"{base}/live", kind.format)
        stderr = _run_until_the_emptied_page_failed(config, page, kind.nothing, tmp_path)
        assert "kind=no-updates" in stderr

        # The log: one success with two entries, then failures of kind
        # no-updates: never a `SourcePolled` of nothing, and no entry event.
        records = events(config)
        assert [r["type"] for r in records[:3]] == ["EntryAdded", "EntryAdded", "SourcePolled"]
        assert records[2]["payload"]["added"] == 2
        later = records[3:]
        assert later and {r["type"] for r in later} <= {"SourceFailed", "SourceNotModified"}
        failures = [r["payload"] for r in later if r["type"] == "SourceFailed"]
        assert failures and all(p["kind"] == "no-updates" for p in failures)
        assert NO_UPDATES_LINE in failures[0]["reason"]

        listed = cli(config, "sources", "--json")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert (row["outcome"], row["error_kind"], row["entries"]) == ("failed", "no-updates", 2)
        assert row["error"].startswith("no-updates: ") and NO_UPDATES_LINE in row["error"]
        table = cli(config, "sources")
        assert table.returncode == 0, table.stderr
        header, line = table.stdout.splitlines()
        assert line[header.index("OUTCOME") :].startswith("failed (no-updates)"), table.stdout

        # A one-shot collect of the same page says so too, exits 1, and
        # writes a merged feed that still holds the two entries.
        collected = cli(config, "collect")
        assert collected.returncode == 1, collected.stderr
        (line,) = [x for x in collected.stdout.splitlines() if x.startswith("live ")]
        assert "  error (no-updates): " in line and NO_UPDATES_LINE in line, collected.stdout
        assert atom_ids((tmp_path / "feeds" / "feed.atom").read_bytes()) == ENTRY_IDS
        assert events(config)[-1]["payload"]["kind"] == "no-updates"


def _run_until_the_emptied_page_failed(
    config: Path, page: Page, nothing: bytes, tmp_path: Path
) -> str:
    """`aggregator run` until the page, emptied after its first poll, is a failed
    poll; checks /healthz, /metrics and the feeds, stops; returns the stderr."""
    service, base = start_run(config, tmp_path)
    try:

        def health(outcome: str) -> dict[str, Any] | None:
            response = get(f"{base}/healthz")
            if response is None or response.status_code != 200:
                return None
            state: dict[str, Any] = response.json()["sources"]["live"]
            return state if state["last_outcome"] == outcome else None

        def exposition() -> str:
            response = get(f"{base}/metrics")
            assert response is not None and response.status_code == 200
            return response.text

        first = wait_for(lambda: health("ok"), 30, "the first poll of the page")
        assert (first["entries"], first["last_error_kind"]) == (2, None)
        failing = 'aggregator_source_failing{kind="no-updates",source="live"}'
        assert metric(exposition(), failing) is None

        page.replace(nothing)
        failed = wait_for(lambda: health("failed"), 30, "a poll of the emptied page")
        assert failed["last_error_kind"] == "no-updates"
        assert failed["entries"] == 2 and failed["consecutive_failures"] >= 1

        scraped = exposition()
        assert metric(scraped, failing) == 1
        counted = 'aggregator_poll_failures_total{kind="no-updates",source="live"}'
        assert (metric(scraped, counted) or 0) >= 1
        assert (metric(scraped, 'aggregator_polls_total{outcome="failed",source="live"}') or 0) >= 1
        assert metric(scraped, 'aggregator_source_entries{source="live"}') == 2

        # The entries the log already holds stay in the merged feed, both formats.
        feed = get(f"{base}/feed.atom")
        assert feed is not None and atom_ids(feed.content) == ENTRY_IDS
        document = get(f"{base}/feed.json")
        assert document is not None
        assert [item["id"] for item in document.json()["items"]] == ENTRY_IDS
        assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
    finally:
        service.kill()
    return service.stderr()
