"""Checks a produced Atom document the way a strict consumer would.

RelaxNG (the RFC 4287 schema) cannot express two of the RFC's rules, so they
are checked here by hand: every entry must have an author or inherit one
from the feed (4.1.1 / 4.1.2), and an entry without content must have a
link rel="alternate" (4.1.2). feedparser must read the document without a
bozo error, as a feed reader would.
"""

from __future__ import annotations

import feedparser
import lxml.html
from lxml import etree

from tests.support import SCHEMA

NS = {"a": "http://www.w3.org/2005/Atom"}
_RELAXNG = etree.RelaxNG(etree.parse(str(SCHEMA)))


def atom_problems(document: bytes) -> list[str]:
    """Every way `document` falls short of RFC 4287; empty when it is valid."""
    problems: list[str] = []
    root = etree.fromstring(document)
    if not _RELAXNG.validate(etree.ElementTree(root)):
        problems.extend(
            f"schema: {error.message} (line {error.line})" for error in _RELAXNG.error_log
        )
    feed_has_author = bool(root.xpath("a:author", namespaces=NS))
    for entry in root.xpath("a:entry", namespaces=NS):
        entry_id = entry.findtext("a:id", namespaces=NS)
        has_author = bool(entry.xpath("a:author or a:source/a:author", namespaces=NS))
        if not (has_author or feed_has_author):
            problems.append(f"entry {entry_id}: no author and the feed has none")
        has_content = bool(entry.xpath("a:content", namespaces=NS))
        has_alternate = bool(entry.xpath("a:link[not(@rel) or @rel='alternate']", namespaces=NS))
        if not (has_content or has_alternate):
            problems.append(f"entry {entry_id}: neither content nor an alternate link")
    parsed = feedparser.parse(document)
    if parsed.bozo:
        problems.append(f"feedparser: {parsed.bozo_exception!r}")
    return problems


_DANGEROUS_ELEMENTS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
        "input", "button", "style", "link", "meta", "base", "svg", "math", "foreignobject",
    }
)  # fmt: skip
_URL_ATTRIBUTES = ("href", "src", "xlink:href", "action", "formaction", "data", "poster")
_SAFE_SCHEMES = ("http:", "https:", "mailto:")


def dangerous_markup(document: bytes) -> list[str]:
    """Markup in an Atom document's HTML content and links that could run or load
    something in a reader: script-capable elements, event-handler attributes,
    URLs of any scheme but http(s) and mailto, and CSS. Empty when clean."""
    found: list[str] = []
    root = etree.fromstring(document)
    for link in root.iter("{http://www.w3.org/2005/Atom}link"):
        href = (link.get("href") or "").strip().lower()
        if not href.startswith(_SAFE_SCHEMES):
            found.append(f"atom:link href {href[:60]!r}")
    for content in root.iter("{http://www.w3.org/2005/Atom}content"):
        text = content.text or ""
        if not text.strip():
            continue
        for element in lxml.html.fragment_fromstring(text, create_parent="div").iter():
            tag = str(element.tag).lower().rpartition("}")[2]
            if tag in _DANGEROUS_ELEMENTS:
                found.append(f"<{tag}> element")
            for name, value in element.attrib.items():
                lowered = name.lower()
                if lowered.startswith("on") or lowered == "style":
                    found.append(f"{lowered} attribute on <{tag}>")
                if lowered in _URL_ATTRIBUTES:
                    url = "".join(value.split()).lower()
                    if url and ":" in url.split("/")[0] and not url.startswith(_SAFE_SCHEMES):
                        found.append(f"{lowered}={value[:60]!r} on <{tag}>")
    return found
