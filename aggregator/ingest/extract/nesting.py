"""HTML nested deeper than any page needs is flattened before anything walks it.

Real pages nest a few dozen elements deep. A page that nests 100,000 cost
33 s in the sanitiser (nh3's tree building is quadratic in depth), and
libxml2 stops building a tree at depth 256 and silently drops everything
after that point, so the rest of the page was lost. `flatten` removes the
tags of elements past `MAX_NESTING` levels and keeps their text, in one scan
of the markup; the caller notes what was cut.

Only elements that must be closed to end are counted: void elements (`br`,
`img`) and those whose end tag may be left out (`p`, `li`, `td`...) close by
themselves in every parser, so they never build depth on their own, and
counting them would take a page of unclosed paragraphs for a deep one.
Comments and the text of `script`, `style`, `textarea` and `title` are
passed over as a parser reads them. Every search moves forward from where
the last one stopped, so the scan is linear in the markup.
"""

from __future__ import annotations

import re

MAX_NESTING = 100

_OPENING = re.compile(r"<(?:(!--)|(/?)([A-Za-z][A-Za-z0-9:-]*))")
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "plaintext"})
_SELF_CLOSING = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr", "basefont", "bgsound", "frame", "keygen"}
)
_OPTIONAL_END = frozenset(
    {"html", "head", "body", "p", "li", "dt", "dd", "option", "optgroup", "rb", "rt", "rp"}
    | {"rtc", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "caption"}
)


def flatten(html: str, limit: int = MAX_NESTING) -> tuple[str, int]:
    """`html` without the tags of elements nested past `limit`, and how many were cut."""
    pieces: list[str] = []
    kept_from = 0  # html[kept_from:position] is still to be copied
    position, depth, excess, cut = 0, 0, 0, 0
    while (found := _OPENING.search(html, position)) is not None:
        if found[1]:  # a comment: to its end, or to the end of the page
            end = html.find("-->", found.end())
            if end < 0:
                break
            position = end + 3
            continue
        close = html.find(">", found.end())
        if close < 0:
            break
        position = close + 1
        closing, name = found[2] == "/", found[3].lower()
        if not closing and name in _RAW_TEXT:
            ended = re.compile(rf"</{name}[\s/>]", re.IGNORECASE).search(html, position)
            if ended is None:
                break
            position = ended.start()
            continue
        if name in _SELF_CLOSING or name in _OPTIONAL_END:
            continue
        if closing:
            if excess:
                excess -= 1
            else:
                depth = max(depth - 1, 0)
                continue
        elif depth < limit:
            depth += 1
            continue
        else:
            excess += 1
            cut += 1
        pieces.append(html[kept_from : found.start()])
        kept_from = position
    if not cut:
        return html, 0
    pieces.append(html[kept_from:])
    return "".join(pieces), cut


def flattened_note(cut: int, limit: int = MAX_NESTING) -> str:
    return (
        f"HTML nested more than {limit} elements deep: the tags of {cut} element(s) past "
        "that depth were removed, their text kept"
    )
