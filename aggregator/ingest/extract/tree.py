"""An HTML page's bytes as an lxml tree, read by the charset `decode` chooses.

A page that is (or says it is) UTF-8 goes to libxml2 as it came: libxml2
decodes it while parsing and reports bytes that are not UTF-8, so only such a
page, or one in another charset, is decoded in Python first and given to
libxml2 as UTF-8. On the 779 KB NYT page this saves decoding, re-encoding and
scanning the text (about 4 of 9.4 ms). Characters XML forbids are left in the
tree and removed from what the page yields (`liveblog_html`), instead of
from the whole document.

libxml2 stops building the tree at depth 256 and drops the rest of the page.
A page that makes it stop is flattened past `nesting.MAX_NESTING` levels and
parsed again, with a note; other pages cost nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext
from aggregator.ingest.extract.decode import decode_as, sniff
from aggregator.ingest.extract.nesting import flatten, flattened_note
from aggregator.ingest.extract.sanitize import strip_xml_illegal


def html_tree(body: bytes, ctx: ExtractContext) -> tuple[HtmlElement, tuple[str, ...]]:
    """The page's tree, and notes on how its bytes were read."""
    charset = sniff(body, ctx.content_type, "html")
    if charset.encoding == "utf-8":
        data = body[charset.bom :]
        parser = _parser()
        root = _parse(data, ctx, parser)
        if not _met(parser, "ERR_INVALID_ENCODING"):
            return _shallow(root, parser, lambda: data.decode("utf-8"), ctx, charset.notes)
    decoded = decode_as(body, charset)
    text = strip_xml_illegal(decoded.text)
    parser = _parser()
    root = _parse(text.encode("utf-8"), ctx, parser)
    return _shallow(root, parser, lambda: text, ctx, decoded.notes)


def _parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(encoding="utf-8")  # one per page: its error log is its own


def _met(parser: lxml.html.HTMLParser, error: str) -> bool:
    return any(entry.type_name == error for entry in parser.error_log)


def _shallow(
    root: HtmlElement,
    parser: lxml.html.HTMLParser,
    text: Callable[[], str],
    ctx: ExtractContext,
    notes: tuple[str, ...],
) -> tuple[HtmlElement, tuple[str, ...]]:
    """The tree, parsed again from flattened markup if libxml2 stopped at its depth limit."""
    if not _met(parser, "ERR_RESOURCE_LIMIT"):
        return root, notes
    flat, cut = flatten(text())
    if not cut:
        return root, notes
    return _parse(flat.encode("utf-8"), ctx), (*notes, flattened_note(cut))


def _parse(
    data: bytes, ctx: ExtractContext, parser: lxml.html.HTMLParser | None = None
) -> HtmlElement:
    try:
        return lxml.html.document_fromstring(
            data, parser=parser or lxml.html.HTMLParser(encoding="utf-8")
        )
    except lxml.etree.ParserError as error:
        raise ExtractError(f"{ctx.source}: {ctx.page_url} holds no HTML ({error})") from error
