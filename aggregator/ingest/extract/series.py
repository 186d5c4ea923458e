"""Rules 1 to 3 of the generic reading (`blocks`): the run of timestamped blocks.

Every element that carries a time is a candidate of one kind (a date
attribute, microdata, a printed stamp); each climbs to its head, the largest
ancestor holding no other candidate of its kind; heads sharing a parent form a
series, and the best series that is not page furniture is the live blog.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import lxml.etree
from lxml.html import HtmlElement

from aggregator.core.model import ExtractContext, normalise_text
from aggregator.ingest.extract.stamps import Printed, attribute_instant, printed_stamp
from aggregator.ingest.extract.times import anchor_time

# Elements whose content is never read: code, forms, the document's head.
UNREAD = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "button", "form", "select"}
)
_ITEMPROPS = frozenset({"datepublished", "datecreated"})
_FURNITURE = frozenset(
    {
        "comment", "comments", "discussion", "replies", "related", "recommended", "promo",
        "promoted", "sponsored", "advert", "advertisement", "newsletter", "share", "sharing",
        "social", "trending", "popular", "mostread",
    }
)  # fmt: skip
_NAME_SPLIT = re.compile(r"[\s_-]+")
# Attributes that never hold a time: an element with only these is not asked.
_PLAIN_ATTRIBUTES = frozenset(
    {"class", "id", "href", "src", "style", "rel", "alt", "width", "height", "target", "lang"}
)
_INSIDE_UNREAD = " | ".join(f".//{tag}//*" for tag in sorted(UNREAD))
# What a printed stamp can open with: a digit, or "Updated", "Posted", "Published", "just".
_STAMP_OPENINGS = frozenset("0123456789UuPpJj")
# A series needs this many heads; bare 24-hour stamps ("14:52") need more.
MIN_SERIES = 2
_MIN_BARE_SERIES = 3


class Candidate(NamedTuple):
    """An element that carries a time: the kind of time and the time, stated or printed."""

    element: HtmlElement
    kind: str
    value: datetime | Printed


@dataclass(frozen=True, slots=True)
class Series:
    """Heads sharing a parent, each holding a candidate of one kind: a possible live blog."""

    kind: str
    heads: tuple[HtmlElement, ...]
    stamps: tuple[Candidate, ...]
    absolute: bool
    aside: bool

    def rank(self) -> tuple[bool, float]:
        """Absolute times first; then size, a sidebar's counting half."""
        return (self.absolute, len(self.heads) * (0.5 if self.aside else 1.0))


# --- 1. candidates ----------------------------------------------------------------


def find_candidates(root: HtmlElement, ctx: ExtractContext) -> Iterator[Candidate]:
    """Every element carrying a time, in document order (see the module rules)."""
    fetched = anchor_time(ctx)
    body = root.find("body")
    top = body if body is not None else root
    # Walking with lxml's iterator and skipping what lies inside unread elements
    # (found by one XPath query) is twice as fast as a walk that prunes in Python.
    inside = set(top.xpath(_INSIDE_UNREAD))
    for element in top.iter(lxml.etree.Element):  # elements only: no comments
        if element.tag in UNREAD or element in inside:
            continue
        names = element.keys()
        if names and not _PLAIN_ATTRIBUTES.issuperset(names):
            yield from _attribute_times(element, names, ctx, fetched)
        text = element.text
        if text and text.lstrip()[:1] in _STAMP_OPENINGS:
            printed = printed_stamp(normalise_text(text))
            if printed is not None:
                whole = printed_stamp(normalise_text(element.text_content())) or printed
                yield Candidate(element, f"printed:{printed.shape}", whole)


def _attribute_times(
    element: HtmlElement, names: Sequence[str], ctx: ExtractContext, fetched: datetime
) -> Iterator[Candidate]:
    itemprop = ""
    if "itemprop" in names or "property" in names:
        itemprop = (element.get("itemprop") or element.get("property") or "").lower()
    if itemprop and itemprop.rsplit(":", 1)[-1] in _ITEMPROPS:
        value = element.get("datetime") or element.get("content") or element.text_content()
        instant = attribute_instant("datetime", value, ctx.timezone, fetched)
        if instant is not None:
            yield Candidate(element, "@itemprop", instant)
            return
    for name in names:
        if name.startswith("data-") or name in ("datetime", "title", "content"):
            instant = attribute_instant(name, element.get(name), ctx.timezone, fetched)
            if instant is not None:
                yield Candidate(element, f"@{name}", instant)


# --- 2 and 3. heads and the series ---------------------------------------------------


def best_series(candidates: Sequence[Candidate]) -> Series | None:
    kinds: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        kinds.setdefault(candidate.kind, []).append(candidate)
    found: list[Series] = []
    for kind, members in kinds.items():
        found.extend(_series_of(kind, members))
    usable = [series for series in found if _usable(series)]
    return max(usable, key=Series.rank) if usable else None


def _series_of(kind: str, members: Sequence[Candidate]) -> Iterator[Series]:
    counts: Counter[HtmlElement] = Counter()
    for member in members:
        counts[member.element] += 1
        for ancestor in member.element.iterancestors():
            counts[ancestor] += 1
    groups: dict[HtmlElement, list[tuple[int, HtmlElement, Candidate]]] = {}
    for order, member in enumerate(members):
        head = _climb(member, counts)
        parent = head.getparent()
        if parent is not None and not _in_chrome(head):
            groups.setdefault(parent, []).append((order, head, member))
    least = _MIN_BARE_SERIES if kind == "printed:clock" else MIN_SERIES
    for parent, pairs in groups.items():
        if len({head for _, head, _ in pairs}) < least:
            continue
        pairs = sorted([*pairs, *_near_siblings(parent, pairs, groups)], key=lambda p: p[0])
        yield Series(
            kind=kind,
            heads=tuple(dict.fromkeys(head for _, head, _ in pairs)),
            stamps=tuple(member for _, _, member in pairs),
            absolute=kind != "printed:relative",
            aside=_inside(parent, frozenset({"aside"})),
        )


def _near_siblings(
    parent: HtmlElement,
    pairs: Sequence[tuple[int, HtmlElement, Candidate]],
    groups: dict[HtmlElement, list[tuple[int, HtmlElement, Candidate]]],
) -> list[tuple[int, HtmlElement, Candidate]]:
    """Heads of the same kind and tag in the containers beside this one, fewer than here.

    A page may wrap its newest update apart ("Latest" above it) or split its
    run across sibling containers; those heads are near-siblings of the run.
    """
    grandparent = parent.getparent()
    tags = {head.tag for _, head, _ in pairs}
    joined: list[tuple[int, HtmlElement, Candidate]] = []
    for other, others in groups.items():
        if other is parent or other.getparent() is not grandparent or len(others) >= len(pairs):
            continue
        heads = [head for _, head, _ in others]
        if all(head.tag in tags for head in heads) and not any(map(_only_local_links, heads)):
            joined.extend(others)
    return joined


def _climb(member: Candidate, counts: Counter[HtmlElement]) -> HtmlElement:
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


def _usable(series: Series) -> bool:
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


def by_head(
    candidates: Sequence[Candidate], heads: Sequence[HtmlElement]
) -> dict[HtmlElement, list[Candidate]]:
    """Every candidate inside each head, in document order."""
    owned: dict[HtmlElement, list[Candidate]] = {head: [] for head in heads}
    for candidate in candidates:
        for node in (candidate.element, *candidate.element.iterancestors()):
            if node in owned:
                owned[node].append(candidate)
                break
    return owned
