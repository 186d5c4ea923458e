"""The generic live-blog reading: repeated timestamped blocks, on pages never seen before.

Live blogs without JSON-LD still share one shape: a run of sibling blocks
(or a run of paragraphs, each opened by a stamp) that all carry a time. This
module finds that run without knowing the outlet; no rule names a site, a
domain or a site's class names.

1. **Candidates.** Every element that carries a time is a candidate, of one
   *kind*: an attribute holding an ISO 8601 date-time or an epoch
   (`datetime`, any `data-*`, `title`, `content`; see `stamps`), microdata or
   RDFa `datePublished`/`dateCreated`, or a printed stamp opening the
   element's text ("11.04 Uhr: …", "9h05 - …", "4:53 pm", "10 p.m.",
   "5 mins ago"). Script, style and form content is never read.
2. **Heads.** From each candidate we climb to the largest ancestor that holds
   no other candidate of its kind (and, for a printed stamp, whose text still
   opens with it). Heads sharing a parent form a *series*.
3. **The series.** Series of fewer than two heads (three for bare 24-hour
   stamps without a meridiem, zone or "Uhr") are not a live blog. Series in
   the page's `nav`, `header` or `footer`, and series whose every link points
   into the page (a key-events summary repeating the updates) are dropped.
   The best series has absolute times (relative "x ago" labels only when
   nothing else is stamped), stands outside an `aside` (a sidebar feed is
   read only when the page has no other), and has the most heads.
4. **Blocks.** A head that is self-contained (a list item, an article, or
   one holding its own heading or several paragraphs) is one update. A head
   that is a single line (a paragraph or heading opened by the stamp) opens an
   update that runs over the following siblings up to the next head, a
   separator (`<hr>`, "___") or a heading.
5. **Times**, per block, from what the block itself offers: a `datetime`
   attribute (the element that shows the time), microdata, then the printed
   stamp, then other date attributes. A printed time of day takes its day
   from the block's own attributes, else the day heading above it
   ("Donnerstag, 18. 7."), else the page's metadata (its latest stated
   modification time bounds the newest update), the URL or the configured
   date, else the fetch; midnights are found from page order (`times`).
6. **Each update** gets its heading (else the stamp line's headline, else the
   first sentence), a sanitised body, the author a byline element names, and
   its permalink: a link wrapping the stamp or marked `rel=bookmark`, else the
   block's `id` when the block is self-contained or something links to it.
"""

from __future__ import annotations

import copy
import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import NamedTuple

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from aggregator.extract.markup import Draft, Found, inner_html, web_url
from aggregator.extract.sanitize import sanitize_html
from aggregator.extract.stamps import (
    Printed,
    attribute_instant,
    day_heading,
    metadata_instant,
    printed_stamp,
)
from aggregator.extract.times import (
    Ago,
    Stamp,
    anchor_time,
    label_note,
    page_day,
    resolve_stamps,
)
from aggregator.extract.titles import first_sentence_title
from aggregator.model import ExtractContext, normalise_text

_UNREAD = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "button", "form", "select"}
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SELF_CONTAINED = frozenset({"li", "article", "section", "tr", "dd"})
_PARAGRAPHS = frozenset({"p", "div", "blockquote", "figure", "ul", "ol", "table"})
_ITEMPROPS = frozenset({"datepublished", "datecreated"})
_NOT_PUBLICATION = ("modif", "updat", "edit", "since", "before", "expir", "sort")
_META_NAMES = frozenset(
    {
        "article:modified_time",
        "article:published_time",
        "og:updated_time",
        "last-modified",
        "date",
        "dc.date",
        "dc.date.issued",
        "dc.date.modified",
        "dcterms.modified",
        "dcterms.created",
        "dcterms.date",
        "datepublished",
        "datemodified",
        "pubdate",
        "publishdate",
    }
)
_FURNITURE = frozenset(
    {
        "comment", "comments", "discussion", "replies", "related", "recommended", "promo",
        "promoted", "sponsored", "advert", "advertisement", "newsletter", "share", "sharing",
        "social", "trending", "popular", "mostread",
    }
)  # fmt: skip
_NAME_SPLIT = re.compile(r"[\s_-]+")
_SEPARATOR_CHARACTERS = frozenset("_-*=\u2014\u2013\u2022~. ")
# Attributes that never hold a time: an element with only these is not asked.
_PLAIN_ATTRIBUTES = frozenset(
    {"class", "id", "href", "src", "style", "rel", "alt", "width", "height", "target", "lang"}
)
_INSIDE_UNREAD = " | ".join(f".//{tag}//*" for tag in sorted(_UNREAD))
# What a printed stamp can open with: a digit, or "Updated", "Posted", "Published", "just".
_STAMP_OPENINGS = frozenset("0123456789UuPpJj")
_MIN_SERIES = 2
_MIN_BARE_SERIES = 3
_AUTHOR_LIMIT = 60
_MEDIA = frozenset({"img", "picture", "video", "audio", "iframe", "embed", "object"})


class _Candidate(NamedTuple):
    element: HtmlElement
    kind: str
    value: datetime | Printed


@dataclass(frozen=True, slots=True)
class _Series:
    kind: str
    heads: tuple[HtmlElement, ...]
    stamps: tuple[_Candidate, ...]
    absolute: bool
    aside: bool

    def rank(self) -> tuple[bool, float]:
        """Absolute times first; then size, a sidebar's counting half."""
        return (self.absolute, len(self.heads) * (0.5 if self.aside else 1.0))


def read_blocks(
    root: HtmlElement,
    ctx: ExtractContext,
    stated_times: Callable[[], Iterable[str]] = tuple,
) -> Found | None:
    """The page's updates as repeated timestamped blocks, or None if it has no such series.

    `stated_times` gives further times the page states about itself (JSON-LD
    `dateModified`, say), read with its metadata to date printed stamps; it
    is asked only when the page has a series.
    """
    candidates = list(_candidates(root, ctx))
    series = _best_series(candidates)
    if series is None:
        return None
    heads = set(series.heads)
    contained = [_self_contained(head) for head in series.heads]
    segments = [
        [head] if whole else _segment(head, heads)
        for head, whole in zip(series.heads, contained, strict=True)
    ]
    by_element = _by_head(candidates, series.heads)
    anchor, anchor_label = _page_anchor(root, ctx, heads, stated_times())
    days = _heading_days(series.heads, anchor or anchor_time(ctx), ctx)
    times = _block_times(series, by_element, days, anchor, anchor_label, ctx)
    blocks: list[Draft] = []
    notes: list[str] = []
    for number, (head, whole, segment, when) in enumerate(
        zip(series.heads, contained, segments, times, strict=True), 1
    ):
        block = _block(head, whole, segment, by_element[head], when, ctx)
        if isinstance(block, str):
            notes.append(f"block {number} {block}; it was skipped")
        else:
            blocks.append(block)
    if len(blocks) < _MIN_SERIES:
        return None
    return Found(tuple(blocks), tuple(notes), series.heads[0])


# --- 1. candidates ----------------------------------------------------------------


def _candidates(root: HtmlElement, ctx: ExtractContext) -> Iterator[_Candidate]:
    """Every element carrying a time, in document order (see the module rules)."""
    fetched = anchor_time(ctx)
    body = root.find("body")
    top = body if body is not None else root
    # Walking with lxml's iterator and skipping what lies inside unread elements
    # (found by one XPath query) is twice as fast as a walk that prunes in Python.
    inside = set(top.xpath(_INSIDE_UNREAD))
    for element in top.iter(lxml.etree.Element):  # elements only: no comments
        if element.tag in _UNREAD or element in inside:
            continue
        names = element.keys()
        if names and not _PLAIN_ATTRIBUTES.issuperset(names):
            yield from _attribute_times(element, names, ctx, fetched)
        text = element.text
        if text and text.lstrip()[:1] in _STAMP_OPENINGS:
            printed = printed_stamp(normalise_text(text))
            if printed is not None:
                whole = printed_stamp(normalise_text(element.text_content())) or printed
                yield _Candidate(element, f"printed:{printed.shape}", whole)


def _attribute_times(
    element: HtmlElement, names: Sequence[str], ctx: ExtractContext, fetched: datetime
) -> Iterator[_Candidate]:
    itemprop = ""
    if "itemprop" in names or "property" in names:
        itemprop = (element.get("itemprop") or element.get("property") or "").lower()
    if itemprop and itemprop.rsplit(":", 1)[-1] in _ITEMPROPS:
        value = element.get("datetime") or element.get("content") or element.text_content()
        instant = attribute_instant("datetime", value, ctx.timezone, fetched)
        if instant is not None:
            yield _Candidate(element, "@itemprop", instant)
            return
    for name in names:
        if name.startswith("data-") or name in ("datetime", "title", "content"):
            instant = attribute_instant(name, element.get(name), ctx.timezone, fetched)
            if instant is not None:
                yield _Candidate(element, f"@{name}", instant)


# --- 2 and 3. heads and the series ---------------------------------------------------


def _best_series(candidates: Sequence[_Candidate]) -> _Series | None:
    kinds: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        kinds.setdefault(candidate.kind, []).append(candidate)
    found: list[_Series] = []
    for kind, members in kinds.items():
        found.extend(_series_of(kind, members))
    usable = [series for series in found if _usable(series)]
    return max(usable, key=_Series.rank) if usable else None


def _series_of(kind: str, members: Sequence[_Candidate]) -> Iterator[_Series]:
    counts: Counter[HtmlElement] = Counter()
    for member in members:
        counts[member.element] += 1
        for ancestor in member.element.iterancestors():
            counts[ancestor] += 1
    groups: dict[HtmlElement, list[tuple[int, HtmlElement, _Candidate]]] = {}
    for order, member in enumerate(members):
        head = _climb(member, counts)
        parent = head.getparent()
        if parent is not None and not _in_chrome(head):
            groups.setdefault(parent, []).append((order, head, member))
    least = _MIN_BARE_SERIES if kind == "printed:clock" else _MIN_SERIES
    for parent, pairs in groups.items():
        if len({head for _, head, _ in pairs}) < least:
            continue
        pairs = sorted([*pairs, *_near_siblings(parent, pairs, groups)], key=lambda p: p[0])
        yield _Series(
            kind=kind,
            heads=tuple(dict.fromkeys(head for _, head, _ in pairs)),
            stamps=tuple(member for _, _, member in pairs),
            absolute=kind != "printed:relative",
            aside=_inside(parent, frozenset({"aside"})),
        )


def _near_siblings(
    parent: HtmlElement,
    pairs: Sequence[tuple[int, HtmlElement, _Candidate]],
    groups: dict[HtmlElement, list[tuple[int, HtmlElement, _Candidate]]],
) -> list[tuple[int, HtmlElement, _Candidate]]:
    """Heads of the same kind and tag in the containers beside this one, fewer than here.

    A page may wrap its newest update apart ("Latest" above it) or split its
    run across sibling containers; those heads are near-siblings of the run.
    """
    grandparent = parent.getparent()
    tags = {head.tag for _, head, _ in pairs}
    joined: list[tuple[int, HtmlElement, _Candidate]] = []
    for other, others in groups.items():
        if other is parent or other.getparent() is not grandparent or len(others) >= len(pairs):
            continue
        heads = [head for _, head, _ in others]
        if all(head.tag in tags for head in heads) and not any(map(_only_local_links, heads)):
            joined.extend(others)
    return joined


def _climb(member: _Candidate, counts: Counter[HtmlElement]) -> HtmlElement:
    """The largest ancestor holding only this candidate of its kind (see rule 2)."""
    head = member.element
    opening = _opening(head) if isinstance(member.value, Printed) else None
    while True:
        parent = head.getparent()
        if parent is None or parent.tag in ("body", "html") or counts[parent] > 1:
            return head
        if opening is not None and not _opening(parent).startswith(opening):
            return head
        head = parent


def _opening(element: HtmlElement) -> str:
    """The first characters of an element's text, to tell what it opens with."""
    parts: list[str] = []
    size = 0
    for piece in element.itertext():
        parts.append(piece)
        size += len(piece)
        if size > 40:
            break
    return normalise_text("".join(parts))[:12]


def _inside(element: HtmlElement, tags: frozenset[str]) -> bool:
    return element.tag in tags or any(ancestor.tag in tags for ancestor in element.iterancestors())


def _usable(series: _Series) -> bool:
    parent = series.heads[0].getparent()
    if parent is None or _in_chrome(parent) or _named_not_news(parent):
        return False
    return not all(_only_local_links(head) for head in series.heads)


def _named_not_news(container: HtmlElement) -> bool:
    """A container whose own markup calls it comments, related links, promotion or sharing.

    These are the words of page furniture on any site (`class="comments"`,
    `id="related-articles"`), read as whole words of the class and id of the
    container and its three nearest ancestors; no site's names are listed.
    """
    for node in (container, *list(container.iterancestors())[:3]):
        words = _NAME_SPLIT.split(f"{node.get('class') or ''} {node.get('id') or ''}".lower())
        if _FURNITURE.intersection(words):
            return True
    return False


def _in_chrome(element: HtmlElement) -> bool:
    """In navigation, a header (the page's or an article's byline) or the page's footer."""
    for node in (element, *element.iterancestors()):
        if node.tag in ("nav", "header"):
            return True
        if node.tag == "footer" and not any(a.tag == "article" for a in node.iterancestors()):
            return True
    return False


def _only_local_links(head: HtmlElement) -> bool:
    """A summary entry: short, and every link in it points into this page."""
    links = [link.get("href") or "" for link in head.iter("a")]
    return (
        bool(links)
        and all(href.startswith("#") for href in links)
        and len(normalise_text(head.text_content())) < 300
        and _link_share(head) > 0.5
    )


def _link_share(element: HtmlElement) -> float:
    text = len(normalise_text(element.text_content()))
    linked = sum(len(normalise_text(link.text_content())) for link in element.iter("a"))
    return linked / text if text else 0.0


# --- 4. blocks ---------------------------------------------------------------------


def _self_contained(head: HtmlElement) -> bool:
    if head.tag in _SELF_CONTAINED:
        return True
    if any(node.tag in _HEADINGS for node in head.iterdescendants()):
        return True
    return sum(1 for child in head if child.tag in _PARAGRAPHS) >= 2


def _segment(head: HtmlElement, heads: set[HtmlElement]) -> list[HtmlElement]:
    """A one-line head and the siblings that continue its update."""
    segment = [head]
    for sibling in head.itersiblings():
        if sibling in heads or not isinstance(sibling.tag, str):
            if sibling in heads:
                break
            continue
        if sibling.tag in _HEADINGS or sibling.tag == "hr" or _is_separator(sibling):
            break
        if sibling.tag in _UNREAD or sibling.tag in ("aside", "nav"):
            continue
        segment.append(sibling)
    return segment


def _is_separator(element: HtmlElement) -> bool:
    text = normalise_text(element.text_content())
    return bool(text) and len(text) <= 40 and set(text) <= _SEPARATOR_CHARACTERS


def _by_head(
    candidates: Sequence[_Candidate], heads: Sequence[HtmlElement]
) -> dict[HtmlElement, list[_Candidate]]:
    """Every candidate inside each head, in document order."""
    owned: dict[HtmlElement, list[_Candidate]] = {head: [] for head in heads}
    for candidate in candidates:
        for node in (candidate.element, *candidate.element.iterancestors()):
            if node in owned:
                owned[node].append(candidate)
                break
    return owned


# --- 5. times ------------------------------------------------------------------------


class _When(NamedTuple):
    instant: datetime | None
    notes: tuple[str, ...]
    basis: str = "stated"  # see Draft.basis


def _block_times(
    series: _Series,
    by_element: dict[HtmlElement, list[_Candidate]],
    days: Sequence[tuple[date, str] | None],
    anchor: datetime | None,
    anchor_label: str,
    ctx: ExtractContext,
) -> list[_When]:
    """Each head's time (rule 5); printed stamps without a day are walked together."""
    whens: list[_When | None] = []
    walk: list[tuple[int, Stamp | Ago]] = []
    for index, head in enumerate(series.heads):
        own = by_element[head]
        machine = _machine_time(own)
        printed = next((c.value for c in own if isinstance(c.value, Printed)), None)
        heading = days[index]
        if machine is not None and printed is None:
            whens.append(_When(machine, ()))
        elif machine is not None and printed is not None:
            whens.append(_combined(machine, printed, ctx))
        elif printed is not None and isinstance(printed.when, Stamp) and heading is not None:
            whens.append(_on_day(printed.when, heading, ctx))
        elif printed is not None:
            whens.append(None)
            walk.append((index, printed.when))
        else:
            whens.append(_When(None, ("has no time that could be read",)))
    if walk:
        day = None if anchor is not None else page_day(ctx)
        bound = anchor if anchor is not None else anchor_time(ctx)
        label = anchor_label if anchor is not None else "the fetch time"
        resolved = resolve_stamps([stamp for _, stamp in walk], ctx.timezone, day, bound, label)
        for (index, stamp), instant, notes in zip(
            walk, resolved.instants, resolved.notes, strict=True
        ):
            whens[index] = _When(
                instant, notes, "relative" if isinstance(stamp, Ago) else "printed"
            )
    return [when if when is not None else _When(None, ()) for when in whens]


def _machine_time(own: Sequence[_Candidate]) -> datetime | None:
    """The block's stated time: a `datetime` attribute, microdata, then other attributes
    (publication-like names before modification-like ones), first in page order."""
    stated = [c for c in own if isinstance(c.value, datetime)]
    if not stated:
        return None
    best = min(stated, key=_stated_rank).value
    assert isinstance(best, datetime)
    return best


def _stated_rank(candidate: _Candidate) -> tuple[int, bool, bool]:
    order = {"@datetime": 0, "@itemprop": 1}.get(candidate.kind, 2)
    later = any(word in candidate.kind for word in _NOT_PUBLICATION)
    return order, later, candidate.kind in ("@title", "@content")


def _combined(machine: datetime, printed: Printed, ctx: ExtractContext) -> _When:
    """A printed time with a stated one: the stated instant when they agree, else the
    printed time on the stated instant's local day (what a reader sees wins)."""
    if not isinstance(printed.when, Stamp):
        return _When(machine, ())
    local = machine.astimezone(ctx.timezone)
    if (local.hour, local.minute) == (printed.when.hour, printed.when.minute):
        return _When(machine, ())
    shown = datetime.combine(
        local.date(), time(printed.when.hour, printed.when.minute), tzinfo=ctx.timezone
    ).astimezone(UTC)
    note = (
        f"the page shows {printed.when.hour:02d}:{printed.when.minute:02d} where its markup "
        f"states {machine:%Y-%m-%dT%H:%MZ}; the time shown was used"
    )
    return _When(shown, (note,))


def _on_day(stamp: Stamp, heading: tuple[date, str], ctx: ExtractContext) -> _When:
    day, text = heading
    local = datetime.combine(day, time(stamp.hour, stamp.minute), tzinfo=ctx.timezone)
    notes = [f"the day ({day.isoformat()}) came from the heading '{text}'"]
    contradiction = label_note(stamp.label, local, ctx.timezone)
    if contradiction:
        notes.append(contradiction)
    return _When(local.astimezone(UTC), tuple(notes), "printed")


def _heading_days(
    heads: Sequence[HtmlElement], anchor: datetime, ctx: ExtractContext
) -> list[tuple[date, str] | None]:
    """The day heading above each head, within the series' container, if there is one."""
    container = heads[0].getparent()
    assert container is not None
    head_set = set(heads)
    bound = anchor.astimezone(ctx.timezone).date()
    current: tuple[date, str] | None = None
    found: dict[HtmlElement, tuple[date, str] | None] = {}
    stack: list[HtmlElement] = [container]
    while stack:
        element = stack.pop()
        if element in head_set:
            found[element] = current
            continue
        if not isinstance(element.tag, str) or element.tag in _UNREAD:
            continue
        if element.tag in _HEADINGS or element.getparent() is container:
            text = normalise_text(element.text_content())
            day = day_heading(text, bound) if text else None
            if day is not None:
                current = (day, text)
                continue
        stack.extend(reversed(element))
    return [found.get(head) for head in heads]


def _page_anchor(
    root: HtmlElement, ctx: ExtractContext, heads: set[HtmlElement], stated: Iterable[str]
) -> tuple[datetime | None, str]:
    """The latest time the page states about itself (metadata), bounded by the fetch."""
    fetched = anchor_time(ctx)
    values: list[str] = list(stated)
    for meta in root.iter("meta"):
        name = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if name in _META_NAMES and meta.get("content"):
            values.append(meta.get("content") or "")
    for element in root.iter("time"):
        if element.get("datetime") and not any(a in heads for a in element.iterancestors()):
            values.append(element.get("datetime") or "")
    instants = [
        instant
        for instant in (metadata_instant(value, ctx.timezone, fetched) for value in values)
        if instant is not None
    ]
    if not instants:
        return None, ""
    latest = max(instants)
    return latest, f"the page's own time ({latest:%Y-%m-%dT%H:%MZ})"


# --- 6. each update ------------------------------------------------------------------


def _block(
    head: HtmlElement,
    contained: bool,
    segment: Sequence[HtmlElement],
    own: Sequence[_Candidate],
    when: _When,
    ctx: ExtractContext,
) -> Draft | str:
    if when.instant is None:
        return when.notes[0] if when.notes else "has no time that could be read"
    printed = next((c for c in own if isinstance(c.value, Printed)), None)
    stamp_element = printed.element if printed is not None else _shown_time(own)
    permalink = _permalink(head, stamp_element, ctx.page_url)
    headline = None
    if printed is not None:
        line = _stamp_line(printed.element, head)
        opened = printed_stamp(normalise_text(line.text_content()))
        if opened is not None and opened.headline:
            headline, stamp_element = opened.headline, line
    title_element = _heading(head, stamp_element) if contained else None
    author = _author(head)
    pieces = _content(
        head, contained, segment, stamp_element, printed, title_element, headline is not None
    )
    content = sanitize_html(pieces, ctx.page_url).strip()
    text_title = (
        (normalise_text(title_element.text_content()) if title_element is not None else None)
        or headline
        or _first_sentence(content)
    )
    if not text_title:
        embedded = _embed_text(segment)
        if embedded is None:
            return "has neither a title nor any text"
        text_title = first_sentence_title(embedded)
        content = f"{content}<p>{html.escape(embedded, quote=False)}</p>"
    identity = web_url(ctx.page_url, permalink.get("href")) if permalink is not None else None
    anchor = head.get("id")
    if identity is None and anchor and (contained or _linked(head, anchor)):
        identity = web_url(ctx.page_url, f"#{anchor}")
    return Draft(
        title=text_title,
        content_html=content,
        published=when.instant,
        author=author,
        notes=when.notes,
        identity=identity,
        link=identity,
        basis=when.basis,
    )


def _embed_text(segment: Sequence[HtmlElement]) -> str | None:
    """The fallback text of a frame the update is made of (a tweet shown in an iframe),
    which browsers never show and the sanitiser drops with the frame."""
    for node in segment:
        for frame in node.iter("iframe", "object"):
            # libxml2 keeps a frame's content raw: entities and tags arrive as text.
            inner = html.unescape(normalise_text(frame.text_content()))
            if inner:
                text = lxml.html.fragment_fromstring(inner, create_parent="div").text_content()
                return normalise_text(text) or None
    return None


def _stamp_line(stamp: HtmlElement, head: HtmlElement) -> HtmlElement:
    """The line a printed stamp opens: its nearest block ancestor within the head
    ("<h2><span>08:39 GMT</span> – Headline</h2>")."""
    for node in (stamp, *stamp.iterancestors()):
        if node.tag in _HEADINGS or node.tag in _PARAGRAPHS or node.tag == "li" or node is head:
            return node
    return stamp


def _shown_time(own: Sequence[_Candidate]) -> HtmlElement | None:
    for candidate in own:
        if candidate.kind in ("@datetime", "@itemprop"):
            return candidate.element
    return None


def _permalink(head: HtmlElement, stamp: HtmlElement | None, page_url: str) -> HtmlElement | None:
    for link in head.iter("a"):
        href = link.get("href")
        if web_url(page_url, href) is None:
            continue
        wraps = stamp is not None and (
            link is stamp or any(a is link for a in stamp.iterancestors())
        )
        marked = (
            "bookmark" in (link.get("rel") or "").lower().split()
            or "permalink" in (link.get("class") or "").lower()
        )
        if wraps or marked:
            return link
    return None


def _linked(head: HtmlElement, anchor: str) -> bool:
    """Whether a link on the page points at this anchor (asked of libxml2, not in Python)."""
    return bool(head.getroottree().xpath("boolean(//a[@href=$target])", target=f"#{anchor}"))


def _heading(head: HtmlElement, stamp: HtmlElement | None) -> HtmlElement | None:
    for node in head.iterdescendants():
        if node.tag in _HEADINGS:
            holds_stamp = stamp is not None and (
                node is stamp or any(a is node for a in stamp.iterancestors())
            )
            if not holds_stamp and normalise_text(node.text_content()):
                return node
    return None


def _author(head: HtmlElement) -> str | None:
    for node in head.iterdescendants():
        if not isinstance(node.tag, str):
            continue
        marks = " ".join(
            (node.get("rel") or "", node.get("itemprop") or "", node.get("class") or "")
        ).lower()
        if "author" in marks or "byline" in marks:
            name = normalise_text(node.text_content())
            if name.lower().startswith("by "):
                name = name[3:].strip()
            if name and len(name) <= _AUTHOR_LIMIT and not any(ch.isdigit() for ch in name):
                return name
    return None


def _content(
    head: HtmlElement,
    contained: bool,
    segment: Sequence[HtmlElement],
    stamp: HtmlElement | None,
    printed: _Candidate | None,
    title: HtmlElement | None,
    headline: bool,
) -> str:
    """The update's HTML without its stamp, its title and a permalink that only wraps the stamp."""
    clone = copy.deepcopy(head)
    stamp_path, title_path = _path(head, stamp), _path(head, title)
    found = _follow(clone, stamp_path) if stamp_path is not None else None
    located = _follow(clone, title_path) if title_path is not None else None
    if located is not None:
        _remove(located)
    if found is not None and found is not located:
        if headline or printed is None:
            _remove(found)
        else:
            opened = printed_stamp(normalise_text(found.text or ""))
            found.text = opened.rest + " " if opened is not None else found.text
            if not normalise_text(found.text_content()):
                _remove(found)
    whole = "" if _empty(clone) else inner_html(clone) if contained else _outer_html(clone)
    parts = [whole]
    parts.extend(_outer_html(node) for node in segment[1:])
    return "".join(parts)


def _outer_html(element: HtmlElement) -> str:
    return str(lxml.html.tostring(element, encoding="unicode", with_tail=False))


def _path(top: HtmlElement, node: HtmlElement | None) -> list[int] | None:
    """Child indexes from `top` down to `node`, to find its twin in a copy."""
    if node is None:
        return None
    path: list[int] = []
    current = node
    while current is not top:
        parent = current.getparent()
        if parent is None:
            return None
        path.append(parent.index(current))
        current = parent
    return list(reversed(path))


def _follow(top: HtmlElement, path: Sequence[int]) -> HtmlElement | None:
    current = top
    for index in path:
        if index >= len(current):
            return None
        current = current[index]
    return current if current is not top else None


def _remove(element: HtmlElement) -> None:
    """Remove an element and the wrappers it leaves empty (a link, a `<p>` around a time)."""
    parent = element.getparent()
    element.drop_tree()
    while parent is not None and parent.getparent() is not None and _empty(parent):
        above = parent.getparent()
        parent.drop_tree()
        parent = above


def _empty(element: HtmlElement) -> bool:
    if normalise_text(element.text_content()):
        return False
    return not any(node.tag in _MEDIA for node in element.iter())


def _first_sentence(content: str) -> str | None:
    if not content:
        return None
    fragment = lxml.html.fragment_fromstring(content, create_parent="div")
    for node in fragment.iter():
        if node.tag in ("p", "li", "blockquote", "figcaption") or node is fragment:
            text = normalise_text(node.text_content())
            if text and node is not fragment:
                return first_sentence_title(text)
    text = normalise_text(fragment.text_content())
    return first_sentence_title(text) if text else None
