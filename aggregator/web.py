"""The HTTP face of the aggregator: feeds for readers, health and metrics for operators.

    GET /                       a small page linking the feeds (with autodiscovery links)
    GET /feed.atom              the merged feed
    GET /feed.json              the merged feed as JSON Feed 1.1
    GET /sources/{name}.atom    one source's feed
    GET /sources/{name}.json    one source's feed as JSON Feed 1.1
    GET /healthz                JSON: store and scheduler state; 503 when unusable
    GET /metrics                Prometheus text exposition

Feed responses, Atom and JSON alike, carry a strong `ETag`, `Last-Modified`
and `Cache-Control`, and answer conditional requests with 304 (RFC 9110
section 13: when `If-None-Match` is present, `If-Modified-Since` is ignored).
A name is only ever looked up in the current edition's table of documents,
never joined to a filesystem path, so no request can reach a file outside
the feeds.
Handlers that may read the database are plain functions, which Starlette runs
in a worker thread, so those reads never block the event loop; the feed
handlers serve a cached edition on the loop itself and send only a refresh
to a thread (the hop to a thread was a quarter of a cached request's cost).

What a client can send and see is bounded too: request heads larger than any
reader sends are refused (`RequestLimits`), an error in a handler is a bare
"Internal Server Error" (the traceback goes to the log, never to the
client), and `/healthz` names what failed without the database URL or any
path of the machine (`public_text`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
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

from aggregator.config import Settings
from aggregator.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from aggregator.publish.jsonfeed import JSON_FEED_TYPE
from aggregator.publish.live import Document, Edition, Publisher

ATOM_TYPE = "application/atom+xml; charset=utf-8"
# A story id is `story:` and a hex digest (`stories.cluster.story_id`).
STORY_DIGEST = re.compile(r"[0-9a-f]{1,64}")

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

    The HTTP server's own bound (`webserver.MAX_INCOMPLETE_HEAD`) applies
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
    request: Request, document: Document, max_age: int, media_type: str = ATOM_TYPE
) -> Response:
    """A feed document, gzipped when the client accepts it, or 304 when its copy is current.

    The caching rules do not depend on the format; only `media_type` does.
    """
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
        return Response(document.gzipped, media_type=media_type, headers=headers)
    return Response(document.body, media_type=media_type, headers=headers)


def create_app(
    publisher: Publisher,
    health: Health,
    metrics: Callable[[], bytes],
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The app; settings are read from the publisher per request, so a reload shows."""

    def max_age() -> int:
        return int(publisher.settings.service.cache_max_age.total_seconds())

    async def edition() -> Edition:
        # The cached edition is served on the event loop; only a refresh (a
        # database read) goes to a worker thread.
        cached = publisher.cached()
        return cached if cached is not None else await run_in_threadpool(publisher.current)

    async def merged(request: Request) -> Response:
        return feed_response(request, (await edition()).merged, max_age())

    async def merged_json(request: Request) -> Response:
        document = (await edition()).merged_json
        return feed_response(request, document, max_age(), JSON_FEED_TYPE)

    async def source(request: Request) -> Response:
        name = request.path_params["name"]
        document = (await edition()).sources.get(name)
        if document is None:
            return PlainTextResponse(f"no source named {name!r}\n", status_code=404)
        return feed_response(request, document, max_age())

    async def source_json(request: Request) -> Response:
        name = request.path_params["name"]
        document = (await edition()).sources_json.get(name)
        if document is None:
            return PlainTextResponse(f"no source named {name!r}\n", status_code=404)
        return feed_response(request, document, max_age(), JSON_FEED_TYPE)

    async def story(request: Request) -> Response:
        """A story's feed, in the format its extension names (the route says which)."""
        digest, as_json = request.path_params["digest"], request.url.path.endswith(".json")
        found = None
        if STORY_DIGEST.fullmatch(digest):
            found = await run_in_threadpool(publisher.story, f"story:{digest}")
        if found is None:
            return PlainTextResponse(f"no story {digest!r}\n", status_code=404)
        if as_json:
            return feed_response(request, found[1], max_age(), JSON_FEED_TYPE)
        return feed_response(request, found[0], max_age())

    def healthz(request: Request) -> Response:
        healthy, body = health()
        return JSONResponse(_public(body), status_code=200 if healthy else 503)

    def prometheus(request: Request) -> Response:
        return Response(metrics(), media_type=METRICS_CONTENT_TYPE)

    def index(request: Request) -> Response:
        page = _index_page(publisher.settings)
        return Response(page, media_type="text/html; charset=utf-8")

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/feed.atom", merged, methods=["GET", "HEAD"]),
        Route("/feed.json", merged_json, methods=["GET", "HEAD"]),
        Route("/sources/{name}.atom", source, methods=["GET", "HEAD"]),
        Route("/sources/{name}.json", source_json, methods=["GET", "HEAD"]),
        Route("/stories/{digest}.atom", story, methods=["GET", "HEAD"]),
        Route("/stories/{digest}.json", story, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", prometheus, methods=["GET", "HEAD"]),
    ]
    # debug=False (the default, stated): an exception in a handler answers a
    # bare 500, never Starlette's traceback page.
    return Starlette(
        debug=False, routes=routes, middleware=[Middleware(RequestLimits)], lifespan=lifespan
    )


def _index_page(settings: Settings) -> str:
    """The page linking every feed, with an autodiscovery `<link>` for each.

    The Atom links come first: a reader that takes the first alternate link
    it finds gets Atom, as it did before the JSON documents existed; readers
    that prefer JSON Feed find theirs by type (`application/feed+json`).
    """
    feeds = [("feed", settings.feed.title)] + [
        (f"sources/{s.name}", s.title) for s in settings.sources
    ]
    atom_links = [
        f'<link rel="alternate" type="application/atom+xml" href="/{path}.atom"'
        f' title="{html.escape(title)}">'
        for path, title in feeds
    ]
    json_links = [
        f'<link rel="alternate" type="{JSON_FEED_TYPE}" href="/{path}.json"'
        f' title="{html.escape(title)} (JSON Feed)">'
        for path, title in feeds
    ]
    links = "\n".join(atom_links + json_links)
    items = "\n".join(
        f'<li><a href="/{path}.atom">{html.escape(title)}</a>'
        f' (<a href="/{path}.json">JSON Feed</a>)</li>'
        for path, title in feeds
    )
    title = html.escape(settings.feed.title)
    return (
        f"<!doctype html>\n<html lang=en><meta charset=utf-8><title>{title}</title>\n{links}\n"
        f"<h1>{title}</h1>\n<ul>\n{items}\n</ul>\n"
        '<p><a href="/healthz">health</a> · <a href="/metrics">metrics</a></p>\n'
    )
