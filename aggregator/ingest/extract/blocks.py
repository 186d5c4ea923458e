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

Rules 1 to 3 are `series`, rule 5 is `block_times`; this module reads each
block of the series (rules 4 and 6).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable, Iterable, Sequence

import lxml.html
from lxml.html import HtmlElement

from aggregator.core.model import ExtractContext, normalise_text
from aggregator.ingest.extract.block_times import When, block_times
from aggregator.ingest.extract.markup import HEADINGS, Draft, Found, inner_html, web_url
from aggregator.ingest.extract.sanitize import sanitize_html
from aggregator.ingest.extract.series import (
    MIN_SERIES,
    UNREAD,
    Candidate,
    best_series,
    by_head,
    find_candidates,
)
from aggregator.ingest.extract.stamps import Printed, printed_stamp
from aggregator.ingest.extract.titles import first_sentence_title

_SELF_CONTAINED = frozenset({"li", "article", "section", "tr", "dd"})
_PARAGRAPHS = frozenset({"p", "div", "blockquote", "figure", "ul", "ol", "table"})
_SEPARATOR_CHARACTERS = frozenset("_-*=\u2014\u2013\u2022~. ")
_AUTHOR_LIMIT = 60
_MEDIA = frozenset({"img", "picture", "video", "audio", "iframe", "embed", "object"})


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
    candidates = list(find_candidates(root, ctx))
    series = best_series(candidates)
    if series is None:
        return None
    heads = set(series.heads)
    contained = [_self_contained(head) for head in series.heads]
    segments = [
        [head] if whole else _segment(head, heads)
        for head, whole in zip(series.heads, contained, strict=True)
    ]
    by_element = by_head(candidates, series.heads)
    times = block_times(root, series, by_element, stated_times(), ctx)
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
    if len(blocks) < MIN_SERIES:
        return None
    return Found(tuple(blocks), tuple(notes), series.heads[0])


# --- 4. blocks ---------------------------------------------------------------------


def _self_contained(head: HtmlElement) -> bool:
    if head.tag in _SELF_CONTAINED:
        return True
    if any(node.tag in HEADINGS for node in head.iterdescendants()):
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
        if sibling.tag in HEADINGS or sibling.tag == "hr" or _is_separator(sibling):
            break
        if sibling.tag in UNREAD or sibling.tag in ("aside", "nav"):
            continue
        segment.append(sibling)
    return segment


def _is_separator(element: HtmlElement) -> bool:
    text = normalise_text(element.text_content())
    return bool(text) and len(text) <= 40 and set(text) <= _SEPARATOR_CHARACTERS


# --- 6. each update ------------------------------------------------------------------


def _block(
    head: HtmlElement,
    contained: bool,
    segment: Sequence[HtmlElement],
    own: Sequence[Candidate],
    when: When,
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
        if node.tag in HEADINGS or node.tag in _PARAGRAPHS or node.tag == "li" or node is head:
            return node
    return stamp


def _shown_time(own: Sequence[Candidate]) -> HtmlElement | None:
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
        if node.tag in HEADINGS:
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
    printed: Candidate | None,
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
