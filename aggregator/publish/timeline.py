"""The merged live blog as one readable HTML page: the timeline served at `/`.

A feed needs a feed reader; this page needs nothing but a browser, including
one without JavaScript, a screen reader or a 320-pixel-wide phone. It shows
what `/feed.atom` holds (the same `max_entries` window, newest first) and
links every feed, with the autodiscovery `<link>`s feed readers look for.

`render_timeline` is a pure function of the settings and the entries, like
the feeds, so the same log gives the same bytes and `TimelinePages` can keep
them per edition and answer revalidations with 304.

What comes from outside is treated as it deserves:

* titles, outlet names and authors are text, escaped here;
* `content_html` was reduced to an allow-list by nh3 when it was stored
  (`ingest.extract.sanitize`) and is exactly what the Atom feed carries, so it is
  inserted as it is (escaping it again would show readers its tags);
* links are only ever http(s): anything else (`javascript:`, `file:`, a
  seed's local path) gives no link at all;
* the page's one script and one style sheet are inline and named by their
  hashes in `CONTENT_SECURITY_POLICY`, so nothing else, had anything slipped
  through, could run or load a script or style.

Times: the server cannot know the reader's zone, so each time is a `<time>`
with its RFC 3339 UTC value and a readable UTC text, and the page says the
times are UTC. A small inline script (progressive enhancement: no network,
no external code) rewrites each into the reader's own zone with
`Intl.DateTimeFormat`; without it the page is complete as it is.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlsplit

from aggregator.config import Settings, SourceConfig
from aggregator.core.states import EntryState
from aggregator.publish.atom import rfc3339

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The colours, as (light, dark) pairs, kept here rather than only in the CSS
# so that a test can check every text colour against every background it is
# drawn on (WCAG 2.2 AA: 4.5:1 for text, 3:1 for the focus outline).
PALETTE: dict[str, tuple[str, str]] = {
    "fg": ("#1b1b1b", "#ececec"),
    "bg": ("#ffffff", "#121212"),
    "muted": ("#4d4d4d", "#bdbdbd"),
    "link": ("#0b50b8", "#9cc3ff"),
    "rule": ("#c8c8c8", "#4a4a4a"),
    "story": ("#eef3fb", "#1b2330"),
    "focus": ("#b3261e", "#ffb4ab"),
}


def _variables(index: int) -> str:
    return ";".join(f"--{name}:{pair[index]}" for name, pair in PALETTE.items())


STYLE = (
    f":root{{color-scheme:light dark;{_variables(0)}}}"
    f"@media (prefers-color-scheme:dark){{:root{{{_variables(1)}}}}}"
    "*{box-sizing:border-box}"
    "body{margin:0 auto;max-width:46rem;padding:0 1rem 2rem;color:var(--fg);"
    "background:var(--bg);font:1rem/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "overflow-wrap:anywhere}"
    "a{color:var(--link)}"
    "a:focus-visible{outline:3px solid var(--focus);outline-offset:2px}"
    ".skip{position:absolute;left:-9999px;top:.5rem;padding:.5rem 1rem;background:var(--bg)}"
    ".skip:focus{left:.5rem;z-index:1}"
    ".vh{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;"
    "clip-path:inset(50%);white-space:nowrap}"
    "header{border-bottom:2px solid var(--rule)}"
    "h1{font-size:1.75rem;line-height:1.2;margin:1.25rem 0 .5rem}"
    "h2{font-size:1.25rem;margin:1.25rem 0 .5rem}"
    "nav ul{padding-left:1.25rem}"
    ".update{border-top:1px solid var(--rule);padding:.75rem 0}"
    ".update h3,.update h4{font-size:1.1rem;line-height:1.35;margin:0 0 .25rem}"
    ".meta,.original,.story-links{color:var(--muted);font-size:.9rem;margin:.25rem 0}"
    ".story{background:var(--story);border-left:4px solid var(--link);margin:1rem 0;"
    "padding:.25rem 1rem}"
    ".story>h3{font-size:1.15rem;line-height:1.35;margin:.5rem 0 .25rem}"
    ".label{display:block;color:var(--muted);font-size:.9rem;font-weight:normal}"
    "img,video{max-width:100%;height:auto}"
    "pre{white-space:pre-wrap}"
    "blockquote{margin:.5rem 0;padding-left:1rem;border-left:3px solid var(--rule)}"
    "footer{border-top:2px solid var(--rule);margin-top:1.5rem;color:var(--muted);"
    "font-size:.9rem}"
)

# Rewrites each <time> into the reader's zone; it reads only the page itself.
SCRIPT = """(function () {
  "use strict";
  if (typeof Intl !== "object" || !Intl.DateTimeFormat) return;
  var format = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var when = new Date(times[i].getAttribute("datetime"));
    if (isNaN(when.getTime())) continue;
    times[i].title = times[i].textContent;
    times[i].textContent = format.format(when);
  }
  var note = document.getElementById("time-note");
  var zone = format.resolvedOptions().timeZone;
  if (note) {
    note.textContent = "Times are in your time zone" + (zone ? " (" + zone + ")" : "") + ".";
  }
})();"""


def _csp_hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


# Images in updates come from the outlets (as in any feed reader); nothing
# else may load, and only this page's own script and style may apply.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; "
    "img-src http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}

UTC_NOTE = "All times are in UTC (Coordinated Universal Time)."


def readable_utc(value: datetime) -> str:
    """`27 Sep 2020, 15:43 UTC`: the same in every locale the server may run in."""
    when = value.astimezone(UTC)
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year}, {when:%H:%M} UTC"


def web_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL, else None: a link the page may carry.

    Extracted links come from pages we do not control, and a source's page
    defaults to its polled URL, which may be a local file.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def _text(value: str) -> str:
    return escape(value, quote=True)


@dataclass(frozen=True, slots=True)
class _Story:
    """The reports of one story in the window, newest first."""

    id: str
    reports: tuple[EntryState, ...]
    outlets: int


def _items(entries: Sequence[EntryState]) -> list[EntryState | _Story]:
    """The entries in page order, a story's reports gathered at its newest one.

    Only a story reported by two or more outlets within the window is
    gathered; one whose other reports fell out of the window stays a plain
    update (with a link to the story feed, which holds them all).
    """
    members: dict[str, list[EntryState]] = {}
    for entry in entries:
        if entry.story is not None:
            members.setdefault(entry.story, []).append(entry)
    items: list[EntryState | _Story] = []
    shown: set[str] = set()
    for entry in entries:
        story = entry.story
        if story is None or len({e.source for e in members[story]}) < 2:
            items.append(entry)
        elif story not in shown:
            shown.add(story)
            reports = members[story]
            items.append(_Story(story, tuple(reports), len({e.source for e in reports})))
    return items


@dataclass(frozen=True, slots=True)
class Alternate:
    """One format of a feed as the page links it: the format's name, its media
    type (for autodiscovery) and where it is served."""

    name: str
    media_type: str
    href: str


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """A feed as the page lists it: its title, what its link says, and its
    formats, the one a reader should take first first."""

    title: str
    label: str
    alternates: tuple[Alternate, ...]


@dataclass(frozen=True, slots=True)
class PageLinks:
    """Every link the page makes to another document, from the catalog
    (`publish.catalog`): the feeds, and for a story id its anchor on this
    page and its feed's formats."""

    feeds: tuple[FeedLinks, ...]
    story: Callable[[str], tuple[str, tuple[Alternate, ...]]]


def render_timeline(settings: Settings, entries: Iterable[EntryState], links: PageLinks) -> bytes:
    """The page for `entries` (the merged feed's window, newest first), as UTF-8."""
    entries = list(entries)
    sources = {source.name: source for source in settings.sources}
    outlets = len({entry.source for entry in entries})
    if not entries:
        return _page(
            settings,
            links,
            "No updates yet.",
            "<p>Nothing has been collected yet: come back after the first poll.</p>\n",
        )
    summary = (
        f"The latest {len(entries)} update{'s' if len(entries) != 1 else ''} from "
        f"{outlets} outlet{'s' if outlets != 1 else ''}, newest first. "
        f'<span id="time-note">{UTC_NOTE}</span>'
    )
    parts: list[str] = []
    stories_anchored: set[str] = set()
    for item in _items(entries):
        if isinstance(item, _Story):
            parts.append(_story_html(item, sources, links))
        else:
            anchor = None
            if item.story is not None and item.story not in stories_anchored:
                stories_anchored.add(item.story)
                anchor = links.story(item.story)[0]
            parts.append(_update_html(item, sources, links, in_story=False, anchor=anchor))
    return _page(settings, links, summary, "".join(parts))


def render_unavailable(settings: Settings, links: PageLinks) -> bytes:
    """The page when the log cannot be read and no timeline was rendered yet.

    It still does what the page did before it showed updates, link every
    feed, so `/` never answers an error; the caller marks it uncacheable.
    """
    return _page(
        settings,
        links,
        "The updates cannot be shown right now.",
        "<p>The aggregator cannot read its log at the moment: try again in a minute, "
        "or subscribe to one of the feeds above.</p>\n",
    )


def _page(settings: Settings, links: PageLinks, summary: str, updates: str) -> bytes:
    """The page around its updates; `summary` is markup, `updates` the main's content."""
    title = _text(settings.feed.title)
    subtitle = f"<p>{_text(settings.feed.subtitle)}</p>\n" if settings.feed.subtitle else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        f"{_autodiscovery(links.feeds)}"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        '<a class="skip" href="#main">Skip to the updates</a>\n'
        f"<header>\n<h1>{title}</h1>\n{subtitle}<p>{summary}</p>\n</header>\n"
        f"{_feeds_nav(links.feeds)}"
        f'<main id="main">\n<h2>Latest updates</h2>\n{updates}</main>\n'
        "<footer>\n"
        '<p>For operators: <a href="/healthz">service health (JSON)</a> · '
        '<a href="/metrics">service metrics (Prometheus)</a></p>\n'
        "</footer>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    ).encode()


def _autodiscovery(feeds: Sequence[FeedLinks]) -> str:
    """The `<link rel="alternate">`s, a format at a time in the feeds' order of
    formats: a reader that takes the first one it finds gets Atom, as before the
    JSON documents existed; readers that prefer another format find theirs by
    type. Past the first format, a title names its format."""
    count = max((len(feed.alternates) for feed in feeds), default=0)
    tags = []
    for index in range(count):
        for feed in feeds:
            if index >= len(feed.alternates):
                continue
            alternate = feed.alternates[index]
            title = feed.title + (f" ({alternate.name})" if index else "")
            tags.append(
                f'<link rel="alternate" type="{alternate.media_type}"'
                f' href="{_text(alternate.href)}" title="{_text(title)}">\n'
            )
    return "".join(tags)


def _also_as(alternates: Sequence[Alternate]) -> str:
    """` (also as <a>JSON Feed</a>)`: the formats past the first, linked."""
    if not alternates:
        return ""
    listed = ", ".join(f'<a href="{_text(a.href)}">{_text(a.name)}</a>' for a in alternates)
    return f" (also as {listed})"


def _feeds_nav(feeds: Sequence[FeedLinks]) -> str:
    items = "".join(
        f'<li><a href="{_text(feed.alternates[0].href)}">{_text(feed.label)}: '
        f"{_text(feed.alternates[0].name)} feed</a>{_also_as(feed.alternates[1:])}</li>\n"
        for feed in feeds
    )
    return (
        '<nav aria-labelledby="feeds">\n<h2 id="feeds">Subscribe in a feed reader</h2>\n'
        f"<ul>\n{items}</ul>\n</nav>\n"
    )


def _outlet(entry: EntryState, sources: dict[str, SourceConfig]) -> tuple[str, str | None]:
    """The outlet's name and public page (None when it has no web page)."""
    source = sources.get(entry.source)
    if source is None:
        return entry.source, None
    return source.title, web_url(source.link)


def _heading(entry: EntryState, outlet: str) -> str:
    return entry.title.strip() or f"Update from {outlet} at {readable_utc(entry.published)}"


def _story_feed_links(links: PageLinks, story: str, name: str) -> str:
    first, *rest = links.story(story)[1]
    return (
        f'<a href="{_text(first.href)}">Story feed<span class="vh">: {_text(name)}</span>'
        f" ({_text(first.name)})</a>{_also_as(rest)}"
    )


def _update_html(
    entry: EntryState,
    sources: dict[str, SourceConfig],
    links: PageLinks,
    in_story: bool,
    anchor: str | None,
) -> str:
    """One update as an `<article>`: under an `<h3>`, or an `<h4>` inside its
    story's section (which then links the story feed once for all its reports).

    The link to the original carries the update's title (visually hidden),
    so that it still says where it goes in a screen reader's list of links.
    """
    level = 4 if in_story else 3
    outlet, page = _outlet(entry, sources)
    heading = _heading(entry, outlet)
    name = f'<a href="{_text(page)}">{_text(outlet)}</a>' if page else _text(outlet)
    time = f'<time datetime="{rfc3339(entry.published)}">{readable_utc(entry.published)}</time>'
    byline = f" · by {_text(entry.author)}" if entry.author and entry.author != outlet else ""
    ident = f' id="{_text(anchor)}"' if anchor else ""
    parts = [
        f'<article class="update"{ident}>\n<h{level}>{_text(heading)}</h{level}>\n',
        f'<p class="meta">{name} · {time}{byline}</p>\n',
        f'<div class="content">{entry.content_html}</div>\n',
    ]
    original = web_url(entry.link)
    told = []
    if original:
        told.append(
            f'<a href="{_text(original)}">Read this update on {_text(outlet)}'
            f'<span class="vh">: {_text(heading)}</span></a>'
        )
    if entry.story is not None and not in_story:
        told.append(
            "Also reported by other outlets: " + _story_feed_links(links, entry.story, heading)
        )
    if told:
        parts.append(f'<p class="original">{" · ".join(told)}</p>\n')
    parts.append("</article>\n")
    return "".join(parts)


def _story_html(story: _Story, sources: dict[str, SourceConfig], links: PageLinks) -> str:
    """A story's reports in one `<section>`, named by its first report (as the
    story feed is) and anchored at its digest (the story feed's alternate link)."""
    first = min(story.reports, key=lambda e: (e.published, e.source, e.key))
    name = _heading(first, _outlet(first, sources)[0])
    path = links.story(story.id)[0]
    names = [_outlet(entry, sources)[0] for entry in story.reports]
    outlets = list(dict.fromkeys(names))
    listed = ", ".join(outlets[:-1]) + f" and {outlets[-1]}"
    reports = "".join(
        _update_html(entry, sources, links, in_story=True, anchor=None) for entry in story.reports
    )
    return (
        f'<section class="story" id="{_text(path)}" aria-labelledby="story-{_text(path)}">\n'
        f'<h3 id="story-{_text(path)}"><span class="label">Reported by {story.outlets}'
        f" outlets</span> {_text(name)}</h3>\n"
        f'<p class="story-links">{_text(listed)} reported the same fact. '
        f"{_story_feed_links(links, story.id, name)}</p>\n"
        f"{reports}</section>\n"
    )
