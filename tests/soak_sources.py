"""The sources of the soak test: one good outlet and the hostile crowd around it.

Each is a route of a real HTTP server on 127.0.0.1 (`tests.http_fixture`).
The good outlet has a server of its own, as a real outlet has a host of its
own; the hostile ones share another. What each does is what issue 16 saw
take the service down or push the good outlet out of its feed:

* `good`: an RSS feed that publishes a new item every `GOOD_EVERY` seconds
  and remembers when each first appeared, so the test can measure how long
  each took to reach `/feed.atom`;
* `slow<n>`: valid feeds that take `SLOW_SECONDS` to answer;
* `huge`: an RSS feed of 50,000 items;
* `wrapped`: JSON-LD inside 100,000 nested `<!--` (stripping them was quadratic);
* `deep`: 100,000 nested elements around one update;
* `churn<n>`: pages whose 20 items flip between two texts on every request;
* `spoof`: the good outlet's guids under "DEFACED" titles;
* `flood`: 10 new items on every request (300 a minute at a 2 s interval);
* `broken`: a JSON Feed with a NUL id, a lone surrogate and a year-9999 date.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape

from tests.http_fixture import Response, Route

GOOD_EVERY = 10.0
SLOW_SECONDS = 50.0
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def good_link(n: int) -> str:
    return f"https://good.example/live/{n}"


def rss(items: list[tuple[str, str, str, datetime]]) -> bytes:
    """An RSS 2.0 document of (guid, title, description, published) items."""
    body = "".join(
        f"<item><guid>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<description>{escape(text)}</description>"
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>"
        for guid, title, text, when in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>T</title><link>https://example.org/</link><description>d</description>"
        f"{body}</channel></rss>"
    ).encode()


class GoodOutlet:
    """A new update every `GOOD_EVERY` seconds from its start; `appeared[n]` is
    the monotonic time update n was first served."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.born = datetime.now(UTC)
        self.appeared: dict[int, float] = {}
        self._lock = threading.Lock()

    def count(self) -> int:
        return 1 + int((time.monotonic() - self.started) / GOOD_EVERY)

    def published(self) -> list[tuple[int, float]]:
        """(n, when first served) for every update served so far."""
        with self._lock:
            return sorted(self.appeared.items())

    def __call__(self, handler: BaseHTTPRequestHandler) -> Response:
        count = self.count()
        now = time.monotonic()
        with self._lock:
            for n in range(1, count + 1):
                self.appeared.setdefault(n, now)
        items = [
            (
                good_link(n),
                f"Good update {n}",
                f"What happened at step {n}.",
                self.born + timedelta(seconds=GOOD_EVERY * n),
            )
            for n in range(1, count + 1)
        ]
        return 200, RSS, rss(items)


def _slow(handler: BaseHTTPRequestHandler) -> Response:
    time.sleep(SLOW_SECONDS)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return 200, RSS, rss([("https://slow.example/1", "Slow", "Late.", when)])


def _huge() -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return rss(
        [
            (f"https://huge.example/{n}", f"Item {n}", f"Text {n}.", start + timedelta(minutes=n))
            for n in range(50_000)
        ]
    )


def _wrapped() -> bytes:
    block = (
        '{"@context": "https://schema.org", "@type": "LiveBlogPosting", "headline": "W",'
        ' "liveBlogUpdate": [{"@type": "BlogPosting", "headline": "Wrapped",'
        ' "articleBody": "Inside.", "datePublished": "2026-01-01T10:00:00Z"}]}'
    )
    wrapped = "<!--" * 100_000 + block + "-->" * 100_000
    return (
        f'<html><head><script type="application/ld+json">{wrapped}</script></head></html>'.encode()
    )


def _deep() -> bytes:
    update = '<article><time datetime="2026-01-01T10:00:00Z">10:00</time><p>Deep.</p></article>'
    return f"<html><body>{'<div>' * 100_000}{update}{'</div>' * 100_000}</body></html>".encode()


def _churn(name: str) -> Route:
    flips = itertools.count()
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def answer(handler: BaseHTTPRequestHandler) -> Response:
        version = next(flips) % 2
        items = [
            (
                f"https://{name}.example/{n}",
                f"Churn {n}",
                f"Version {version}.",
                start + timedelta(minutes=n),
            )
            for n in range(20)
        ]
        return 200, RSS, rss(items)

    return answer


def _spoof(good: GoodOutlet) -> Route:
    """The good outlet's guids, once the outlet has had 5 s to publish them
    first: the first to claim an id keeps it, so the race is not the point."""

    def answer(handler: BaseHTTPRequestHandler) -> Response:
        now = time.monotonic()
        items = [
            (
                good_link(n),
                "DEFACED",
                "Not the outlet's words.",
                good.born + timedelta(seconds=GOOD_EVERY * n),
            )
            for n, appeared in good.published()
            if now - appeared >= 5
        ]
        return 200, RSS, rss(items)

    return answer


def _flood() -> Route:
    batches = itertools.count()
    start = datetime.now(UTC)

    def answer(handler: BaseHTTPRequestHandler) -> Response:
        batch = next(batches)
        items = [
            (
                f"https://flood.example/{batch}/{n}",
                f"Flood {batch}.{n}",
                "More.",
                start + timedelta(seconds=batch),
            )
            for n in range(10)
        ]
        return 200, RSS, rss(items)

    return answer


_BROKEN = (
    b'{"version": "https://jsonfeed.org/version/1.1", "title": "B", "items": ['
    b'{"id": "x\\u0000y", "title": "Half \\ud800", "content_text": "a",'
    b' "date_published": "2026-01-01T10:00:00Z"},'
    b'{"id": "z", "title": "Late", "content_text": "b",'
    b' "date_published": "9999-12-31T23:00:00-05:00"}]}'
)


def hostile_routes(good: GoodOutlet, slow: int = 4, churn: int = 3) -> dict[str, Route]:
    """Every hostile route, by path; `formats` says how each is read."""
    huge, wrapped, deep = _huge(), _wrapped(), _deep()

    def fixed(body: bytes, headers: dict[str, str]) -> Route:
        return lambda handler: (200, headers, body)

    routes: dict[str, Route] = {f"/slow{n}": _slow for n in range(slow)}
    routes |= {f"/churn{n}": _churn(f"churn{n}") for n in range(churn)}
    routes |= {
        "/huge": fixed(huge, RSS),
        "/wrapped": fixed(wrapped, HTML),
        "/deep": fixed(deep, HTML),
        "/spoof": _spoof(good),
        "/flood": _flood(),
        "/broken": fixed(_BROKEN, {"Content-Type": "application/feed+json"}),
    }
    return routes


def formats(path: str) -> str:
    """The `format` a source at `path` is configured with."""
    return "liveblog-html" if path in ("/wrapped", "/deep") else "feed"
