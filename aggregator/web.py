"""The HTTP face of the aggregator: feeds for readers, health and metrics for operators.

    GET /                       a small page linking the feeds (with autodiscovery links)
    GET /feed.atom              the merged feed
    GET /sources/{name}.atom    one source's feed
    GET /healthz                JSON: store and scheduler state; 503 when unusable
    GET /metrics                Prometheus text exposition

Feed responses carry a strong `ETag`, `Last-Modified` and `Cache-Control`,
and answer conditional requests with 304 (RFC 9110 section 13: when
`If-None-Match` is present, `If-Modified-Since` is ignored). A name is only
ever looked up in the current edition's table of documents, never joined to
a filesystem path, so no request can reach a file outside the feeds.
Handlers are plain functions, which Starlette runs in a worker thread: the
database reads they may trigger never block the event loop.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Lifespan

from aggregator.config import Settings
from aggregator.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from aggregator.publish.live import Document, Publisher

ATOM_TYPE = "application/atom+xml; charset=utf-8"

Health = Callable[[], tuple[bool, Mapping[str, Any]]]


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires: W/ prefixes do not matter."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


def is_fresh(request: Request, etag: str, last_modified: datetime) -> bool:
    """Whether the client's copy is current: If-None-Match decides when present
    (RFC 9110 13.2.2), else If-Modified-Since."""
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        return _etag_matches(none_match, etag)
    since = request.headers.get("if-modified-since")
    return since is not None and _not_modified_since(since, last_modified)


def _accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding admits gzip (listed without q=0)."""
    for coding in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip() in ("gzip", "x-gzip"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def feed_response(request: Request, document: Document, max_age: int) -> Response:
    """A feed document, gzipped when the client accepts it, or 304 when its copy is current."""
    compressed = _accepts_gzip(request)
    etag = document.gzip_etag if compressed else document.etag
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(document.last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    if is_fresh(request, etag, document.last_modified):
        return Response(status_code=304, headers=headers)
    if compressed:
        headers["Content-Encoding"] = "gzip"
        return Response(document.gzipped, media_type=ATOM_TYPE, headers=headers)
    return Response(document.body, media_type=ATOM_TYPE, headers=headers)


def create_app(
    publisher: Publisher,
    health: Health,
    metrics: Callable[[], bytes],
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The app; settings are read from the publisher per request, so a reload shows."""

    def max_age() -> int:
        return int(publisher.settings.service.cache_max_age.total_seconds())

    def merged(request: Request) -> Response:
        return feed_response(request, publisher.current().merged, max_age())

    def source(request: Request) -> Response:
        name = request.path_params["name"]
        document = publisher.current().sources.get(name)
        if document is None:
            return PlainTextResponse(f"no source named {name!r}\n", status_code=404)
        return feed_response(request, document, max_age())

    def healthz(request: Request) -> Response:
        healthy, body = health()
        return JSONResponse(dict(body), status_code=200 if healthy else 503)

    def prometheus(request: Request) -> Response:
        return Response(metrics(), media_type=METRICS_CONTENT_TYPE)

    def index(request: Request) -> Response:
        page = _index_page(publisher.settings)
        return Response(page, media_type="text/html; charset=utf-8")

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/feed.atom", merged, methods=["GET", "HEAD"]),
        Route("/sources/{name}.atom", source, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", prometheus, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _index_page(settings: Settings) -> str:
    feeds = [("feed.atom", settings.feed.title)] + [
        (f"sources/{s.name}.atom", s.title) for s in settings.sources
    ]
    links = "\n".join(
        f'<link rel="alternate" type="application/atom+xml" href="/{href}"'
        f' title="{html.escape(title)}">'
        for href, title in feeds
    )
    items = "\n".join(
        f'<li><a href="/{href}">{html.escape(title)}</a></li>' for href, title in feeds
    )
    title = html.escape(settings.feed.title)
    return (
        f"<!doctype html>\n<html lang=en><meta charset=utf-8><title>{title}</title>\n{links}\n"
        f"<h1>{title}</h1>\n<ul>\n{items}\n</ul>\n"
        '<p><a href="/healthz">health</a> · <a href="/metrics">metrics</a></p>\n'
    )
