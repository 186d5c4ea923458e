"""Make extracted HTML safe to republish and legal inside an XML (Atom) document.

Every byte of content comes from pages we do not control and ends up in a feed
that readers open, so markup is cut down to an allow-list before it is stored:
no scripts, styles, frames, event handlers or `javascript:` links. Relative
links are made absolute against the page's address, because inside a feed they
would otherwise resolve against the feed's address and point nowhere.

XML 1.0 forbids most C0 control characters, U+FFFE/U+FFFF and unpaired
surrogates; one of them anywhere makes the whole feed unparseable, so they are
removed from text before it can reach the serializer.

Markup nested deeper than `nesting.MAX_NESTING` is flattened first: nh3's
work grows with the square of the depth (33 s for 100,000 nested elements).
Only markup with more tags than that can be so deep, so only it is scanned.
"""

from __future__ import annotations

import re

import nh3

from aggregator.ingest.extract.nesting import MAX_NESTING, flatten, flattened_note

_ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"figure", "figcaption"}
# Tags whose *content* is dropped too: the text inside them is code or an
# embedded document, never something a reader should see as prose.
_DROPPED_WITH_CONTENT = {"script", "style", "iframe", "noscript"}

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def strip_xml_illegal(text: str) -> str:
    """Remove characters that XML 1.0 does not allow, keeping everything else.

    Tab, newline and carriage return stay. A surrogate pair that arrived as two
    code points is first joined into the character it encodes; surrogates left
    unpaired after that are dropped.
    """
    if _XML_ILLEGAL.search(text) is None:
        return text  # nearly every page: one scan instead of a round trip through UTF-16
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _XML_ILLEGAL.sub("", joined)


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Return `html` reduced to safe, XML-legal markup (see `sanitized`)."""
    return sanitized(html, base_url)[0]


def sanitized(html: str, base_url: str | None = None) -> tuple[str, tuple[str, ...]]:
    """`html` reduced to safe, XML-legal markup, and a note if its nesting was cut.

    Relative `href`/`src` values are resolved against `base_url` when one is
    given and left as they are otherwise. Illegal characters are stripped
    before parsing (so they cannot turn into replacement characters) and again
    after it (character references such as `&#1;` decode to them).
    """
    cut = 0
    if html.count("<") > MAX_NESTING:
        html, cut = flatten(html)
    cleaned = nh3.clean(
        strip_xml_illegal(html),
        tags=_ALLOWED_TAGS,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        link_rel="noopener noreferrer",
        url_relative=None if base_url is None else ("rewrite_with_base", base_url),
    )
    return strip_xml_illegal(cleaned), (flattened_note(cut),) if cut else ()
