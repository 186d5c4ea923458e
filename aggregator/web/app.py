"""The HTTP face of the aggregator: feeds for readers, health and metrics for operators.

Every document of the catalog (`publish.catalog`) is served at its URL path:

    GET /                       the timeline: the merged updates as a page, linking every feed
    GET /feed.atom              the merged feed (also .json, JSON Feed 1.1)
    GET /sources/{name}.atom    one source's feed (also .json)
    GET /archive/{n}.atom       page n (1 = oldest) of the merged feed's RFC 5005 archive
    GET /stories/{digest}.atom  one cross-outlet story: every outlet's report (also .json)

and beside them, for operators:

    GET /healthz                JSON: store and scheduler state; 503 when unusable
    GET /metrics                Prometheus text exposition

Document responses, whatever the format, carry a strong `ETag`,
`Last-Modified` and `Cache-Control`, and answer conditional requests with 304
(RFC 9110 section 13: when `If-None-Match` is present, `If-Modified-Since` is
ignored). With a WebSub hub configured, the topics (the merged and
per-source feeds) also carry `Link: <hub>; rel="hub", <self>; rel="self"`.
A name is only ever checked against what the catalog accepts and looked up
among the documents, never joined to a filesystem path, so no request can
reach a file outside the feeds.
Handlers that may read the database are plain functions, which Starlette runs
in a worker thread, so those reads never block the event loop; the document
handlers serve what is at hand on the loop itself and send only a render or
a refresh to a thread (the hop to a thread was a quarter of a cached
request's cost).

What a client can send and see is bounded too: request heads larger than any
reader sends are refused (`RequestLimits`), an error in a handler is a bare
"Internal Server Error" (the traceback goes to the log, never to the
client), and `/healthz` names what failed without the database URL or any
path of the machine (`public_text`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from aggregator.core.errors import StoreUnavailable
from aggregator.engine.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from aggregator.publish import catalog
from aggregator.publish.archive import FULL_PAGE_MAX_AGE
from aggregator.publish.catalog import CATALOG, Address, Kind, Row
from aggregator.publish.documents import Document
from aggregator.publish.live import Publisher
from aggregator.publish.websub import link_header

# What a 404 says, by kind of document, for a name with nothing behind it (the
# merged feed and the timeline are always there).
MISSING = {
    Kind.MERGED: "no feed {!r}\n",
    Kind.TIMELINE: "no page {!r}\n",
    Kind.SOURCE: "no source named {!r}\n",
    Kind.STORY: "no story {!r}\n",
    Kind.ARCHIVE: "no archive page {!r}\n",
}

# The largest request head accepted, as in common servers (nginx refuses a
# request line over 8 kB; Apache more than 100 header fields): a feed reader
# sends a few hundred bytes.
MAX_TARGET = 8 * 1024  # bytes of path and query string, else 414
MAX_HEADERS = 100  # header fields, else 431
MAX_HEADER_BYTES = 16 * 1024  # bytes of header fields as sent, else 431

Health = Callable[[], tuple[bool, Mapping[str, Any]]]


class RequestLimits:
    """ASGI middleware answering an oversized request head 414 or 431, and
    closing the connection, before any routing.

    The HTTP server's own bound (`web.server.MAX_INCOMPLETE_HEAD`) applies
    only while a head is still arriving, as h11 checks its buffer only then:
    a 200 kB URL that happens to arrive in one read would otherwise be routed
    (and echoed in the 404), so the answer to the same request would depend
    on how the network cut it up. These limits make it the same every time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _oversized(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _oversized(scope: Scope) -> Response | None:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
    target = len(raw_path) + len(scope.get("query_string", b""))
    close = {"Connection": "close"}
    if target > MAX_TARGET:
        return PlainTextResponse("request target too long\n", status_code=414, headers=close)
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    size = sum(len(name) + len(value) + 4 for name, value in headers)  # ": " and CRLF
    if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
        return PlainTextResponse(
            "request header fields too large\n", status_code=431, headers=close
        )
    return None


_DATABASE_URL = re.compile(r"\b(?:sqlite|postgres(?:ql)?)(?:\+\w+)?://\S*", re.IGNORECASE)
# A POSIX absolute path: a slash that starts a word (not one inside a URL or
# a fraction), and what follows up to a space, quote or closing bracket.
_ABSOLUTE_PATH = re.compile(r"""(?<![\w.~:/\\-])/[^\s'"`,;)\]}>]+""")


def public_text(text: str) -> str:
    """An error message fit for any client: its first line (SQLAlchemy adds
    the SQL statement and its parameters on the next ones), with database URLs
    and absolute paths replaced by placeholders."""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return _ABSOLUTE_PATH.sub("<path>", _DATABASE_URL.sub("<database>", first))


def _public(value: Any) -> Any:
    """A health report with `public_text` applied to every string in it."""
    if isinstance(value, str):
        return public_text(value)
    if isinstance(value, Mapping):
        return {key: _public(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_public(item) for item in value]
    return value


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


def feed_response(
    request: Request,
    document: Document,
    max_age: int,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A document, gzipped when the client accepts it, or 304 when its copy is current.

    The caching rules do not depend on the format; only `media_type` does.
    `headers` go with it, 304s included (a WebSub topic's `Link`, the page's CSP).
    """
    compressed = _accepts_gzip(request)
    etag = document.gzip_etag if compressed else document.etag
    sent = {
        "ETag": etag,
        "Last-Modified": format_datetime(document.last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
        **(headers or {}),
    }
    if is_fresh(request, etag, document.last_modified):
        return Response(status_code=304, headers=sent)
    if compressed:
        sent["Content-Encoding"] = "gzip"
        return Response(document.gzipped, media_type=media_type, headers=sent)
    return Response(document.body, media_type=media_type, headers=sent)


def create_app(
    publisher: Publisher,
    health: Health,
    metrics: Callable[[], bytes],
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The app; settings are read from the publisher per request, so a reload shows."""

    def serving(row: Row) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await _serve(request, publisher, row)

        return serve

    def healthz(request: Request) -> Response:
        healthy, body = health()
        return JSONResponse(_public(body), status_code=200 if healthy else 503)

    def prometheus(request: Request) -> Response:
        return Response(metrics(), media_type=METRICS_CONTENT_TYPE)

    routes = [Route(row.url, serving(row), methods=["GET", "HEAD"]) for row in CATALOG] + [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", prometheus, methods=["GET", "HEAD"]),
    ]
    # debug=False (the default, stated): an exception in a handler answers a
    # bare 500, never Starlette's traceback page.
    return Starlette(
        debug=False, routes=routes, middleware=[Middleware(RequestLimits)], lifespan=lifespan
    )


async def _serve(request: Request, publisher: Publisher, row: Row) -> Response:
    """A document of `row`: what is at hand on the loop, else rendered in a thread.

    A full archive page never changes its entries, so caches may keep it for a
    day. When the log cannot be read and nothing stands in, a row with a
    fallback (the timeline) answers it, kept by no cache: `/` links the feeds
    all the same, never an error.
    """
    name = request.path_params.get("name", "")
    settings = publisher.settings
    address = Address(row, name)
    valid = catalog.valid_name(row.kind, name)
    found = publisher.peek(address) if valid else None
    if found is None and valid:
        try:
            found = await run_in_threadpool(publisher.document, address)
        except StoreUnavailable:
            if row.fallback is None:
                raise
            headers = {**row.headers, "Cache-Control": "no-store"}
            body = row.fallback(settings)
            return Response(body, media_type=row.format.content_type, headers=headers)
    if found is None:
        return PlainTextResponse(MISSING[row.kind].format(name), status_code=404)
    headers = dict(row.headers)
    if row.topic and settings.feed.hub:
        headers["Link"] = link_header(settings.feed.hub, catalog.url(settings.feed, address))
    configured = int(settings.service.cache_max_age.total_seconds())
    max_age = FULL_PAGE_MAX_AGE if found.settled else configured
    return feed_response(request, found, max_age, row.format.content_type, headers)
