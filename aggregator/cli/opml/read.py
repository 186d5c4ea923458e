"""Parsing an untrusted OPML file into the subscriptions it lists.

Nothing here trusts the file: the parser substitutes no entity, loads no DTD
and touches no network, and a DOCTYPE that could do any of that is refused
(the package docstring says why). What an outline may become is for `plan`
to decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from aggregator.cli.opml.errors import OpmlError
from aggregator.cli.opml.namespace import NAMESPACE

MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Outline:
    """One subscription as the file gives it, before any of it is trusted.

    `ours` holds our namespaced attributes by local name (`interval`,
    `selector-update`, …); `folders` the titles of the enclosing outlines.
    """

    line: int | None
    url: str
    title: str | None
    link: str | None
    folders: tuple[str, ...]
    ours: Mapping[str, str] = field(default_factory=dict)

    def label(self) -> str:
        """How a message points at this outline: its line, and its title or URL."""
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.title or self.url!r}"


@dataclass(frozen=True, slots=True)
class OpmlDocument:
    """The subscriptions of a file, and one note per outline that was not one."""

    outlines: tuple[Outline, ...]
    ignored: tuple[tuple[int, str], ...]
    folders: int


def read_opml(data: bytes, where: str) -> OpmlDocument:
    """Parse untrusted OPML bytes; an `OpmlError` names `where` and the line.

    Any encoding the XML declaration names is honoured (lxml decodes it).
    """
    if not data.strip():
        raise OpmlError(f"{where}: empty file (expected an OPML document)")
    if len(data) > MAX_BYTES:
        raise OpmlError(
            f"{where}: larger than {MAX_BYTES // (1024 * 1024)} MiB (expected an OPML "
            "subscription list)"
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # libxml2 stops an entity bomb itself ("amplification factor"); say what it was.
        if _find(data, "<!ENTITY") is not None:
            raise _refuse_doctype(where, _find(data, "<!DOCTYPE")) from None
        at = f"line {exc.lineno}: " if exc.lineno else ""
        message = re.sub(r", line \d+, column \d+$", "", str(exc.msg or exc)).strip()
        raise OpmlError(f"{where}: {at}not well-formed XML: {message}") from None
    info = root.getroottree().docinfo
    dtd = info.internalDTD
    if info.system_url or info.public_id or (dtd is not None and any(dtd.iterentities())):
        raise _refuse_doctype(where, _find(data, "<!DOCTYPE"))
    if etree.QName(root).localname != "opml":
        raise OpmlError(
            f"{where}: line {root.sourceline}: expected an <opml> document, "
            f"got <{etree.QName(root).localname}>"
        )
    body = next((child for child in root if _local(child) == "body"), None)
    if body is None:
        raise OpmlError(f"{where}: no <body> in the <opml> document (expected the outlines there)")
    outlines: list[Outline] = []
    ignored: list[tuple[int, str]] = []
    folders = 0
    # Depth first, in document order, without recursion: the nesting is the file's to choose.
    stack: list[tuple[Any, tuple[str, ...]]] = [(child, ()) for child in reversed(_outlines(body))]
    while stack:
        element, path = stack.pop()
        attrs = _attributes(element)
        title = _clean(attrs.get("title")) or _clean(attrs.get("text"))
        url = (attrs.get("xmlurl") or "").strip()
        nested = _outlines(element)
        if url:
            ours = {
                etree.QName(key).localname: value
                for key, value in element.attrib.items()
                if etree.QName(key).namespace == NAMESPACE
            }
            outlines.append(
                Outline(
                    line=element.sourceline,
                    url=url,
                    title=title,
                    link=(attrs.get("htmlurl") or "").strip() or None,
                    folders=path,
                    ours=ours,
                )
            )
        elif nested:
            folders += 1
        else:
            shown = f" {title!r}" if title else ""
            line = element.sourceline or 0
            ignored.append((line, f"line {line}: outline{shown} has no xmlUrl (not a feed)"))
        # A folder's outlines (and, rarely, a feed's) sit in it.
        inner = (*path, title or "(untitled)")
        stack.extend((child, inner) for child in reversed(nested))
    return OpmlDocument(tuple(outlines), tuple(ignored), folders)


def _outlines(element: Any) -> list[Any]:
    return [child for child in element if _local(child) == "outline"]


def _local(element: Any) -> str:
    """The local name of an element; comments and the like have none."""
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _attributes(element: Any) -> dict[str, str]:
    """Un-namespaced attributes by lowercased name: `xmlUrl`, `xmlurl` and `XMLURL` are one."""
    found: dict[str, str] = {}
    for key, value in element.attrib.items():
        if not key.startswith("{"):
            found.setdefault(key.lower(), value)
    return found


def _clean(value: str | None) -> str | None:
    """A title on one line: whitespace runs (newlines too) become one space."""
    if value is None:
        return None
    return one_line(value) or None


def _find(data: bytes, markup: str) -> int | None:
    """The line of `markup` in the bytes (UTF-8 or any ASCII-based encoding, or
    UTF-16 either way round), or None."""
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        at = data.find(markup.encode(encoding))
        if at >= 0:
            return data[:at].count("\n".encode(encoding)) + 1
    return None


def _refuse_doctype(where: str, line: int | None) -> OpmlError:
    at = f"line {line}: " if line else ""
    return OpmlError(
        f"{where}: {at}refused: its DOCTYPE declares entities or names an external DTD "
        "(OPML needs neither, and they could read local files or expand without bound)"
    )


def one_line(value: str) -> str:
    """Text on one line, with no control characters: a title as read, and text safe
    inside a TOML comment."""
    return " ".join("".join(c if unicodedata.category(c) != "Cc" else " " for c in value).split())
