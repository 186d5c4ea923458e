"""An HTML element as the lines of text a reader sees.

The text reading of a page (`liveblog_html`, rule 5), the header above the
first update (title, byline, lead) and the text of HTML bodies all read the
markup this way, so the text extractor's rules apply to it unchanged: block
elements end lines, list items become bullets, a heading right after a bare
stamp line ("3.27pm BST") becomes that update's headline, and head, script,
style, nav, aside, iframe and page-level header and footer (not those inside
an article) are dropped. White space is folded and empty lines vanish.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Sequence
from typing import NamedTuple

from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement

from aggregator.ingest.extract.liveblog_text import Header, parse_stamp_line, read_header
from aggregator.ingest.extract.markup import HEADINGS, first_match

_BLOCKS = HEADINGS | frozenset(
    [
        "address",
        "article",
        "blockquote",
        "br",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_DROPPED = frozenset(
    [
        "head",
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "aside",
        "iframe",
        "object",
        "svg",
        "button",
    ]
)
_PAGE_CHROME = frozenset({"header", "footer"})
_SPACES = re.compile(r"\s+")
_MAIN = CSSSelector("main, [role=main]")


class _Break(NamedTuple):
    """A line break while reading HTML as text; `heading` marks the line it opens."""

    heading: bool


class _Line(NamedTuple):
    text: str
    heading: bool


def page_header(root: HtmlElement, first_update: HtmlElement) -> Header:
    """What the text above the first update says: title, byline and any lead story.

    It is read in the main element if that holds the updates, else in the body.
    """
    main = main_element(root)
    inside = any(ancestor is main for ancestor in first_update.iterancestors())
    scope = main if inside else body_element(root)
    return read_header(html_lines(scope, stop=first_update))


def body_element(root: HtmlElement) -> HtmlElement:
    body = root.find("body")
    return body if body is not None else root


def main_element(root: HtmlElement) -> HtmlElement:
    main = first_match(_MAIN, root)
    return main if main is not None else body_element(root)


def html_lines(element: HtmlElement, stop: HtmlElement | None = None) -> list[str]:
    """The element's text as lines, up to `stop` if given (see the module rules)."""
    return _with_headlines(_fold(_tokens(element, stop)))


def _tokens(element: HtmlElement, stop: HtmlElement | None) -> Generator[str | _Break, None, bool]:
    """Text and line breaks in reading order; returns True once `stop` is reached."""
    if element is stop:
        return True
    if not isinstance(element.tag, str) or _dropped(element):
        return False
    block = element.tag in _BLOCKS
    if block:
        yield _Break(heading=element.tag in HEADINGS)
    if element.tag == "li":
        yield "\u2022 "
    if element.text:
        yield element.text
    for child in element:
        if (yield from _tokens(child, stop)):
            return True
        if child.tail:
            yield child.tail
    if block:
        yield _Break(heading=False)
    return False


def _dropped(element: HtmlElement) -> bool:
    """Code, navigation and page chrome; a header or footer inside an article is content."""
    if element.tag in _DROPPED:
        return True
    return element.tag in _PAGE_CHROME and not any(
        ancestor.tag == "article" for ancestor in element.iterancestors()
    )


def _fold(tokens: Iterable[str | _Break]) -> list[_Line]:
    """Join text between breaks into lines with white space folded; empty lines vanish."""
    lines: list[_Line] = []
    parts: list[str] = []
    heading = False
    for token in (*tokens, _Break(heading=False)):
        if isinstance(token, _Break):
            text = _SPACES.sub(" ", "".join(parts)).strip()
            if text:
                lines.append(_Line(text, heading))
            parts, heading = [], token.heading
        else:
            parts.append(token)
    return lines


def _with_headlines(lines: Sequence[_Line]) -> list[str]:
    """Join a heading to the bare stamp line just above it ("3.27pm BST" + "Headline")."""
    texts: list[str] = []
    bare_stamp_above = False
    for line in lines:
        if line.heading and bare_stamp_above:
            texts[-1] = f"{texts[-1]} \u2013 {line.text}"
            bare_stamp_above = False
            continue
        texts.append(line.text)
        stamp_line = parse_stamp_line(line.text)
        bare_stamp_above = stamp_line is not None and stamp_line.headline is None
    return texts
