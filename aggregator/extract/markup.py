"""What every HTML strategy shares: the draft of an update, and small readings of a tree."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml.html import HtmlElement

_WEB_SCHEMES = frozenset({"http", "https"})


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
