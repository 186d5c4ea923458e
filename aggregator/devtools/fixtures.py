"""Serve the seed live blogs over HTTP as they grew during the day.

A saved live page is only its final state; the aggregator exists for the hours
before that, when updates land one by one and every poll must add the new ones
without disturbing the old. This module replays a saved page on an accelerated
virtual clock: each update appears at its own time, so pointing the scheduler
at the fixture shows the merged feed growing live, and end-to-end tests can
watch keys stay stable as the page grows.

A page is cut where the plain-text extractor cuts it (its own line helpers
decide which lines open an update), and each update's time is the one the real
extractor gives it on the complete page, so the fixture cannot disagree with
the aggregator about when something was posted. The raw lines are kept as
they are, so the complete page is the seed itself, byte for byte (less any
characters XML forbids, which the extractor drops anyway).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aggregator.config import Settings, SourceConfig
from aggregator.core.errors import AggregatorError
from aggregator.ingest.extract import detect_format, extract
from aggregator.ingest.extract.decode import decode
from aggregator.ingest.extract.liveblog_text import normalised_lines, parse_stamp_line
from aggregator.ingest.extract.sanitize import strip_xml_illegal
from aggregator.ingest.extract.times import Ago, Stamp, is_newest_first, page_day
from aggregator.ingest.poll import source_context
from aggregator.web import server as webserver
from aggregator.web.app import is_fresh

log = logging.getLogger(__name__)

# The complete page is read as if fetched long after everything on it happened,
# so the extractor's "not in the future" rule never hides an update from it.
_AFTER_EVERYTHING = datetime(9999, 1, 1, tzinfo=UTC)
_LEAD_KEY = "lead"
_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Section:
    """One update as printed (stamp line and everything up to the next one) and when it appears."""

    appears: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """A live page taken apart: the header, always shown, and its updates in page order.

    `header` is everything above the first update (title, key points and a
    lead story if the page has one); the lead is undated, so it is visible
    from the start, as it was on the real page.
    """

    name: str
    header: str
    sections: tuple[Section, ...]

    @classmethod
    def from_source(cls, source: SourceConfig) -> Timeline:
        """Read a `file://` source and time its updates; `AggregatorError` if it cannot be."""
        if urlsplit(source.url).scheme != "file":
            raise AggregatorError(
                f"{source.name}: the fixture replays saved pages, so it needs a file:// URL, "
                f"got {source.url!r}"
            )
        path = Path(unquote(urlsplit(source.url).path))
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise AggregatorError(
                f"{source.name}: cannot read {path}: {exc.strerror or exc}"
            ) from None
        return cls.from_body(source, body)

    @classmethod
    def from_body(cls, source: SourceConfig, body: bytes) -> Timeline:
        """Cut a text live page into header and updates, each timed by the real extractor."""
        served_as = detect_format(body, _CONTENT_TYPE) if source.format == "auto" else source.format
        if served_as != "liveblog-text":
            raise AggregatorError(
                f"{source.name}: the fixture replays plain-text live blogs only "
                f"(format liveblog-text), not {served_as}"
            )
        context = source_context(source, _AFTER_EVERYTHING, _CONTENT_TYPE)
        if page_day(context) is None:
            raise AggregatorError(
                f"{source.name}: set `date` for this source: without it the page's times "
                "would be dated from the fetch, and the fixture could not replay them"
            )
        text = strip_xml_illegal(decode(body, _CONTENT_TYPE, "text").text)
        header, pieces = _cut(source.name, text)
        page = extract(text.encode("utf-8"), context, "liveblog-text")
        updates = sorted(
            (entry for entry in page.entries if entry.key != _LEAD_KEY),
            key=lambda entry: entry.published,
        )
        if len(updates) != len(pieces):
            raise AggregatorError(
                f"{source.name}: the page has {len(pieces)} update lines but the extractor "
                f"returned {len(updates)} updates; cannot tell when each one appeared"
            )
        printed = [(stamp.hour, stamp.minute, stamp.label) for stamp, _ in pieces]
        chronological = list(range(len(pieces)))
        if is_newest_first(printed):
            chronological.reverse()
        appears: dict[int, datetime] = {}
        for index, update in zip(chronological, updates, strict=True):
            local = update.published.astimezone(source.timezone)
            hour, minute, _ = printed[index]
            if (local.hour, local.minute) != (hour, minute):
                raise AggregatorError(
                    f"{source.name}: update {index + 1} on the page says {hour:02d}:{minute:02d} "
                    f"but the extractor dated update {update.key!r} {local:%H:%M}; "
                    "cannot tell when each update appeared"
                )
            appears[index] = update.published
        return cls(
            name=source.name,
            header=header,
            sections=tuple(
                Section(appears[index], piece) for index, (_, piece) in enumerate(pieces)
            ),
        )

    @property
    def reveal_times(self) -> tuple[datetime, ...]:
        """The distinct moments at which the page changes, oldest first."""
        return tuple(sorted({section.appears for section in self.sections}))

    @property
    def first(self) -> datetime:
        return min(section.appears for section in self.sections)

    @property
    def last(self) -> datetime:
        return max(section.appears for section in self.sections)

    def visible_at(self, when: datetime) -> int:
        """How many updates the page shows at `when`."""
        _check_aware(when)
        return sum(1 for section in self.sections if section.appears <= when)

    def version_at(self, when: datetime) -> datetime | None:
        """The reveal time of the page as shown at `when`; None while only the header shows."""
        _check_aware(when)
        shown = [section.appears for section in self.sections if section.appears <= when]
        return max(shown, default=None)

    def page_at(self, when: datetime) -> bytes:
        """The page as it stood at `when`: the header and every update posted by then.

        Updates keep their page order, so a newest-first page grows at the top
        and an oldest-first one at the bottom, as the real page did.
        """
        _check_aware(when)
        shown = [section.text for section in self.sections if section.appears <= when]
        return "".join([self.header, *shown]).encode("utf-8")


def _cut(name: str, text: str) -> tuple[str, list[tuple[Stamp, str]]]:
    """Header text and (printed stamp, raw text) per update, cut where the extractor cuts.

    The raw lines are kept, with their own spacing and line ends, so that the
    complete page is the original text; the extractor's normalised lines only
    decide where each update starts.
    """
    raw = text.splitlines(keepends=True)
    lines = normalised_lines(text)
    if len(raw) != len(lines):  # pragma: no cover - both split the same string
        raise AggregatorError(f"{name}: the page's lines could not be matched up")
    header: list[str] = []
    pieces: list[tuple[Stamp, list[str]]] = []
    for original, line in zip(raw, lines, strict=True):
        stamp_line = parse_stamp_line(line) if line else None
        if stamp_line is not None:
            if isinstance(stamp_line.stamp, Ago):
                raise AggregatorError(
                    f"{name}: {line!r} is dated relative to the fetch, so it cannot be "
                    "replayed on a virtual clock"
                )
            pieces.append((stamp_line.stamp, [original]))
        elif pieces:
            pieces[-1][1].append(original)
        else:
            header.append(original)
    if not pieces:
        raise AggregatorError(f"{name}: no timestamped update line found; nothing to replay")
    return "".join(header), [(stamp, "".join(body)) for stamp, body in pieces]


def _check_aware(when: datetime) -> None:
    if when.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {when!r}")


class VirtualClock:
    """Virtual time running `speed` times faster than real time from `start`.

    `monotonic` measures elapsed real time (injectable, so tests move it by
    hand instead of sleeping); `wall` is read once, to turn virtual moments
    back into the wall-clock times HTTP validators need.
    """

    def __init__(
        self,
        start: datetime,
        speed: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        _check_aware(start)
        if not (math.isfinite(speed) and speed > 0):
            raise AggregatorError(f"fixture speed must be a positive number, got {speed!r}")
        self.start = start.astimezone(UTC)
        self.speed = float(speed)
        self._monotonic = monotonic
        self._real_start = monotonic()
        self._wall_start = wall()

    def now(self) -> datetime:
        """The virtual time now: start + elapsed real time * speed."""
        elapsed = self._monotonic() - self._real_start
        try:
            return self.start + timedelta(seconds=elapsed * self.speed)
        except OverflowError:  # a huge speed left running: every page is long complete
            return _AFTER_EVERYTHING

    def wall_time(self, virtual: datetime) -> float:
        """The wall-clock time (POSIX seconds) at which the virtual clock shows `virtual`."""
        return self._wall_start + (virtual - self.start).total_seconds() / self.speed


def default_start(timelines: Sequence[Timeline]) -> datetime:
    """One virtual minute before the earliest update of all, so the first poll sees headers."""
    if not timelines:
        raise AggregatorError("no fixture timelines to take a start time from")
    return min(timeline.first for timeline in timelines) - timedelta(minutes=1)


def fixture_app(timelines: Mapping[str, Timeline], clock: VirtualClock) -> Starlette:
    """`GET /{name}`: the page as of the virtual now; `GET /`: the clock and progress as JSON.

    Pages carry a strong ETag and the wall time their version first became
    visible as Last-Modified, and answer conditional requests with 304, so a
    poller sees "not modified" between reveals exactly as with a real site.
    Last-Modified has whole-second resolution: at high speeds several
    versions can share a second, and only the ETag tells them apart (the
    aggregator sends both, and If-None-Match takes precedence).
    """

    async def index(request: Request) -> Response:
        now = clock.now()
        return JSONResponse(
            {
                "virtual_now": _iso(now),
                "speed": clock.speed,
                "sources": {
                    name: {
                        "url": f"/{name}",
                        "visible": timeline.visible_at(now),
                        "total": len(timeline.sections),
                    }
                    for name, timeline in timelines.items()
                },
            }
        )

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        timeline = timelines.get(name)
        if timeline is None:
            known = ", ".join(sorted(timelines))
            return PlainTextResponse(f"no fixture named {name!r} (known: {known})\n", 404)
        now = clock.now()
        body = timeline.page_at(now)
        shown_since = max(timeline.version_at(now) or clock.start, clock.start)
        modified = math.floor(clock.wall_time(shown_since))
        headers = {
            "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
            "Last-Modified": formatdate(modified, usegmt=True),
            "Cache-Control": "no-cache",
        }
        if is_fresh(request, headers["ETag"], datetime.fromtimestamp(modified, UTC)):
            return Response(status_code=304, headers=headers)
        return Response(body, headers=headers, media_type=_CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/", index, methods=["GET", "HEAD"]),
            Route("/{name}", page, methods=["GET", "HEAD"]),
        ]
    )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load_timelines(settings: Settings) -> dict[str, Timeline]:
    """A timeline for every file:// source; others are skipped with a warning."""
    timelines: dict[str, Timeline] = {}
    for source in settings.sources:
        if urlsplit(source.url).scheme != "file":
            log.warning("fixture: skipping %s: not a file:// source (%s)", source.name, source.url)
            continue
        timelines[source.name] = Timeline.from_source(source)
    if not timelines:
        raise AggregatorError(
            f"{settings.path}: no file:// source to replay; the fixture serves saved pages only"
        )
    return timelines


def _span(timeline: Timeline) -> str:
    first, last = timeline.first, timeline.last
    if first.date() == last.date():
        return f"{first:%H:%M}-{last:%H:%M} UTC"
    return f"{first:%Y-%m-%d %H:%M}-{last:%Y-%m-%d %H:%M} UTC"


def serve_fixtures(
    settings: Settings, host: str, port: int, speed: float, start: datetime | None = None
) -> None:
    """Serve every file:// source of `settings` on a virtual clock until interrupted.

    `start` is the virtual time at launch (naive means UTC); by default one
    minute before the earliest update of all.
    """
    timelines = load_timelines(settings)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    sock = webserver.bind(host, port)
    base = webserver.address(sock)
    clock = VirtualClock(start or default_start(list(timelines.values())), speed)
    width = max(len(name) for name in timelines)
    for name, timeline in timelines.items():
        print(
            f"{name:<{width}}  {base}/{name}  ({len(timeline.sections)} updates, {_span(timeline)})"
        )
    print(f"fixture clock: {_iso(clock.start)} at {clock.speed:g}x; Ctrl-C to stop", flush=True)
    webserver.serve(fixture_app(timelines, clock), sock)
