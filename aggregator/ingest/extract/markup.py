"""What every HTML strategy shares: the draft of an update, what a reading returns,
and small readings of a tree."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement

from aggregator.core.model import Strategy, normalise_text
from aggregator.ingest.extract.liveblog_text import Header

_WEB_SCHEMES = frozenset({"http", "https"})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True, slots=True)
class Draft:
    """An update read from a page by one strategy, before its key is known."""

    title: str
    content_html: str
    published: datetime
    author: str | None
    notes: tuple[str, ...]
    identity: str | None
    link: str | None
    updated: datetime | None = None
    # How the time was read: "stated" in markup (or a printed time on a stated
    # day), "printed" (a time of day whose day was worked out), or "relative".
    basis: str = "stated"


@dataclass(frozen=True, slots=True)
class Found:
    """The updates a reading of the markup found (microdata, generic blocks).

    `notes` say what it passed over; `first` is the first update's element,
    above which the page's header is read.
    """

    blocks: tuple[Draft, ...]
    notes: tuple[str, ...]
    first: HtmlElement


@dataclass(frozen=True, slots=True)
class Reading:
    """The updates one strategy read from the page, before keys are given."""

    strategy: Strategy
    drafts: tuple[Draft, ...]
    notes: tuple[str, ...]
    title: str | None
    author: str | None
    header: Header | None = None  # the text above the updates, for a lead story


def web_url(base_url: str, reference: Any) -> str | None:
    """`reference` resolved against the page address, if that gives an http(s) URL."""
    if not isinstance(reference, str) or not reference.strip():
        return None
    url = urljoin(base_url, reference.strip())
    return url if urlsplit(url).scheme in _WEB_SCHEMES else None


def inner_html(element: HtmlElement) -> str:
    """The element's content as HTML, without its own tag."""
    text = html.escape(element.text or "", quote=False)
    return text + "".join(lxml.html.tostring(child, encoding="unicode") for child in element)


def text_or_none(value: Any) -> str | None:
    """A string value with white space folded, or None if it is not a string or is blank."""
    return (normalise_text(value) or None) if isinstance(value, str) else None


def matches(selector: CSSSelector, element: HtmlElement) -> list[HtmlElement]:
    """Elements matching `selector` inside `element` (never `element` itself)."""
    return [match for match in selector(element) if match is not element]


def first_match(selector: CSSSelector | None, element: HtmlElement) -> HtmlElement | None:
    """The first element inside `element` that matches `selector`, if any."""
    found = matches(selector, element) if selector is not None else []
    return found[0] if found else None
