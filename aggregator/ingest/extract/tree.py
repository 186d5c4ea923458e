"""An HTML page's bytes as an lxml tree, read by the charset `decode` chooses.

A page that is (or says it is) UTF-8 goes to libxml2 as it came: libxml2
decodes it while parsing and reports bytes that are not UTF-8, so only such a
page, or one in another charset, is decoded in Python first and given to
libxml2 as UTF-8. On the 779 KB NYT page this saves decoding, re-encoding and
scanning the text (about 4 of 9.4 ms). Characters XML forbids are left in the
tree and removed from what the page yields (`liveblog_html`), instead of
from the whole document.
"""

from __future__ import annotations

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext
from aggregator.ingest.extract.decode import decode_as, sniff
from aggregator.ingest.extract.sanitize import strip_xml_illegal


def html_tree(body: bytes, ctx: ExtractContext) -> tuple[HtmlElement, tuple[str, ...]]:
    """The page's tree, and notes on how its bytes were read."""
    charset = sniff(body, ctx.content_type, "html")
    if charset.encoding == "utf-8":
        parsed = _parse_utf8(body[charset.bom :], ctx)
        if parsed is not None:
            return parsed, charset.notes
    decoded = decode_as(body, charset)
    return _parse(strip_xml_illegal(decoded.text).encode("utf-8"), ctx), decoded.notes


def _parse_utf8(data: bytes, ctx: ExtractContext) -> HtmlElement | None:
    """The tree of UTF-8 bytes, or None if libxml2 met bytes that are not UTF-8."""
    parser = lxml.html.HTMLParser(encoding="utf-8")  # one per page: its error log is its own
    root = _parse(data, ctx, parser)
    if any(error.type_name == "ERR_INVALID_ENCODING" for error in parser.error_log):
        return None
    return root


def _parse(
    data: bytes, ctx: ExtractContext, parser: lxml.html.HTMLParser | None = None
) -> HtmlElement:
    try:
        return lxml.html.document_fromstring(
            data, parser=parser or lxml.html.HTMLParser(encoding="utf-8")
        )
    except lxml.etree.ParserError as error:
        raise ExtractError(f"{ctx.source}: {ctx.page_url} holds no HTML ({error})") from error
