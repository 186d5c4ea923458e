"""Bytes to text, one rule for every format: which charset, and the text it gives.

Every reader that needs text asks here, so the same bytes read the same
whether they arrive as an HTML page, a plain-text page or a feed. A parser
that must have bytes (libxml2's fast UTF-8 path for HTML, feedparser for XML
feeds) still gets them, but is told the charset chosen here; none derives
its own.

The charset is, in order:

1. the byte-order mark (UTF-8, UTF-16 or UTF-32), or in XML an opening
   `<?` written in UTF-16 without one (XML 1.0, appendix F): nothing
   overrides what the bytes themselves show;
2. the `charset` of the Content-Type header;
3. what the document declares inside itself: a `<meta>` charset in the first
   4 KB of a page (HTML), the `encoding` of the XML declaration (XML); plain
   text and JSON declare nothing;
4. else UTF-8, unless the bytes look like a legacy 8-bit document: more of
   their non-ASCII bytes fail to decode as UTF-8 than succeed. Such a
   document is read as windows-1252, the fallback browsers use, with a note;
   a UTF-8 document with a stray bad byte stays UTF-8.

The labels ISO-8859-1 and ASCII mean windows-1252, as browsers read them
(WHATWG Encoding) and pages rely on it. A label Python does not know is noted
and UTF-8 used. Bytes the chosen charset cannot decode become U+FFFD, with a
note.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["html", "xml", "json", "text"]
"""What the bytes are, which decides where a document may declare its charset."""

Source = Literal["bom", "content-type", "meta", "xml-declaration", "default", "guess"]
"""What decided the charset: `default` is UTF-8 for want of anything else, not yet checked."""

# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# An XML document without a mark opens with "<?xml", whose bytes show UTF-16.
_XML_OPENINGS = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_PRESCAN = 4096
_META = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(r"""<\?xml\b[^>]*?\bencoding\s*=\s*["']\s*([\w.:-]+)""")
_AS_WINDOWS_1252 = frozenset({"ascii", "iso8859-1"})
_LABELS = {
    "utf-8": "UTF-8",
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
    "utf-32-le": "UTF-32LE",
    "utf-32-be": "UTF-32BE",
    "cp1252": "windows-1252",
}
_NOUNS: dict[Kind, str] = {"html": "page", "text": "page", "xml": "feed", "json": "feed"}


@dataclass(frozen=True, slots=True)
class Charset:
    """How a document's bytes are read: the codec, where the text starts, and why."""

    encoding: str  # a Python codec name
    bom: int  # bytes of byte-order mark before the text
    source: Source
    kind: Kind
    notes: tuple[str, ...] = ()  # what was assumed in choosing it


@dataclass(frozen=True, slots=True)
class Decoded:
    """The text, the charset that gave it, and notes on the choice and any replaced bytes."""

    text: str
    charset: Charset
    notes: tuple[str, ...]


def sniff(body: bytes, content_type: str | None, kind: Kind) -> Charset:
    """The charset the bytes and the header state (rules 1 to 3), else UTF-8 by default.

    Cheap: only the first 4 KB are looked at. A `default` UTF-8 is provisional
    until the bytes are decoded (`decode_as`), so a parser that takes UTF-8
    bytes itself can try them first and fall back to `decode_as`.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return Charset(encoding, len(bom), "bom", kind)
    if kind == "xml":
        for opening, encoding in _XML_OPENINGS:
            if body.startswith(opening):
                return Charset(encoding, 0, "xml-declaration", kind)
    declared = _declared(body, content_type, kind)
    if declared is None:
        return Charset("utf-8", 0, "default", kind)
    return _labelled(declared[1], declared[0], kind)


def decode(body: bytes, content_type: str | None, kind: Kind) -> Decoded:
    """The document's text by the rules above."""
    return decode_as(body, sniff(body, content_type, kind))


def decode_as(body: bytes, charset: Charset) -> Decoded:
    """Decode by a charset from `sniff`; a default UTF-8 may turn out windows-1252 (rule 4)."""
    data = body[charset.bom :]
    if charset.source == "default":
        as_utf8 = data.decode("utf-8", errors="replace")
        replaced = as_utf8.count("\ufffd")
        if not replaced:
            return Decoded(as_utf8, charset, charset.notes)
        decoded = sum(1 for char in as_utf8 if char > "\x7f") - replaced
        if decoded < replaced:
            note = (
                f"the {_NOUNS[charset.kind]} declares no charset and is not UTF-8; "
                "read as windows-1252"
            )
            guessed = replace(charset, encoding="cp1252", source="guess", notes=(note,))
            return Decoded(data.decode("cp1252", errors="replace"), guessed, guessed.notes)
    try:
        return Decoded(data.decode(charset.encoding), charset, charset.notes)
    except UnicodeDecodeError:
        label = _LABELS.get(charset.encoding, charset.encoding)
        note = (
            f"the {_NOUNS[charset.kind]} is not valid {label}; "
            "undecodable bytes were replaced with U+FFFD"
        )
        text = data.decode(charset.encoding, errors="replace")
        return Decoded(text, charset, (*charset.notes, note))


def opening(body: bytes, size: int = _PRESCAN) -> str:
    """The first `size` bytes as text for spotting a format: by their byte-order mark,
    else one character per byte (every ASCII marker reads as itself)."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) : len(bom) + size].decode(encoding, errors="ignore")
    return body[:size].decode("latin-1")


def _declared(body: bytes, content_type: str | None, kind: Kind) -> tuple[Source, str] | None:
    """The strongest charset label stated for the document (rules 2 and 3), if any."""
    header = _CHARSET.search(content_type or "")
    if header is not None:
        return "content-type", header[1]
    head = body[:_PRESCAN].decode("latin-1") if kind in ("html", "xml") else ""
    if kind == "html":
        for meta in _META.findall(head):
            match = _CHARSET.search(meta)
            if match is not None:
                return "meta", match[1]
    declaration = _XML_ENCODING.match(head) if kind == "xml" else None
    return ("xml-declaration", declaration[1]) if declaration is not None else None


def _labelled(label: str, source: Source, kind: Kind) -> Charset:
    try:
        name = codecs.lookup(label).name
    except LookupError:
        note = f"the declared charset '{label}' is unknown; UTF-8 was used"
        return Charset("utf-8", 0, source, kind, (note,))
    return Charset("cp1252" if name in _AS_WINDOWS_1252 else name, 0, source, kind)
