"""Small readings of an HTML tree that every HTML strategy shares."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml.html import HtmlElement

_WEB_SCHEMES = frozenset({"http", "https"})


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
