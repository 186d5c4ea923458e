"""One bytes-to-text rule for every format (`aggregator.extract.decode`).

The same bytes must read the same as an HTML page (its markup, or its
JSON-LD), a plain-text page, a JSON Feed and an RSS feed: each case below
encodes one update in every format and checks that all of them give the same
title and the same notes on the decoding. The title has an accent, curly
quotes and a dash, whose windows-1252 bytes mean other characters (or none) in
ISO-8859-1. The unit tests after them pin the rule itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from aggregator.core.model import Format, Page
from aggregator.ingest.extract import extract
from aggregator.ingest.extract.decode import decode, opening, sniff
from tests.support import extract_context

TITLE = "Caf\u00e9 owners \u2018count the cost\u2019 \u2013 again"
PAGE_URL = "https://example.com/live"


@dataclass(frozen=True)
class Document:
    """One update written in one format, with the media type a server would give it."""

    name: str
    format: Format
    media: str
    text: str
    strategy: str


DOCUMENTS = (
    Document(
        "html",
        "liveblog-html",
        "text/html",
        "<html><body><p>Page title for the test</p>"
        f"<p>10:00 GMT - {TITLE}</p><p>Body.</p></body></html>",
        "text",
    ),
    Document(
        "json-ld",
        "liveblog-html",
        "text/html",
        '<html><head><script type="application/ld+json">'
        + json.dumps(
            {
                "@type": "LiveBlogPosting",
                "liveBlogUpdate": [
                    {
                        "@type": "BlogPosting",
                        "headline": TITLE,
                        "datePublished": "2020-09-27T10:00:00Z",
                        "articleBody": "Body.",
                    }
                ],
            },
            ensure_ascii=False,
        )
        + "</script></head><body><p>Body.</p></body></html>",
        "json-ld",
    ),
    Document(
        "text",
        "liveblog-text",
        "text/plain",
        f"Page title for the test\n\n10:00 GMT - {TITLE}\n\nBody.\n",
        "text",
    ),
    Document(
        "json-feed",
        "feed",
        "application/feed+json",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "items": [
                    {
                        "id": "1",
                        "title": TITLE,
                        "content_text": "Body.",
                        "date_published": "2020-09-27T10:00:00Z",
                    }
                ],
            },
            ensure_ascii=False,
        ),
        "feed",
    ),
    Document(
        "rss",
        "feed",
        "application/rss+xml",
        '<rss version="2.0"><channel><title>Wire</title><item><guid>1</guid>'
        f"<title>{TITLE}</title><pubDate>Sun, 27 Sep 2020 10:00:00 GMT</pubDate>"
        "<description>Body.</description></item></channel></rss>",
        "feed",
    ),
)


def read(document: Document, body: bytes, content_type: str | None, fmt: Format) -> Page:
    page = extract(body, extract_context(PAGE_URL, content_type=content_type), fmt)
    assert page.strategy == document.strategy
    return page


def decoding_notes(page: Page) -> tuple[str, ...]:
    """The page's notes on its bytes, with the noun ("page", "feed") made one."""
    return tuple(
        note.replace("the feed ", "the document ").replace("the page ", "the document ")
        for note in page.notes
        if "charset" in note or "U+FFFD" in note
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("encode", "header", "title", "notes"),
    [
        pytest.param(
            lambda text: text.encode("cp1252"),
            None,
            TITLE,
            ("the document declares no charset and is not UTF-8; read as windows-1252",),
            id="cp1252-undeclared",
        ),
        pytest.param(
            lambda text: text.encode("cp1252"),
            "charset=ISO-8859-1",
            TITLE,
            (),
            id="cp1252-declared-latin-1",
        ),
        pytest.param(
            lambda text: b"\xff\xfe" + text.encode("utf-16-le"), None, TITLE, (), id="utf-16le-bom"
        ),
        pytest.param(
            lambda text: b"\xfe\xff" + text.encode("utf-16-be"), None, TITLE, (), id="utf-16be-bom"
        ),
        pytest.param(
            lambda text: b"\xef\xbb\xbf" + text.encode(),
            "charset=windows-1252",
            TITLE,
            (),
            id="bom-wins",
        ),
        # The declaration is believed in every format, as browsers believe it:
        # UTF-8 declared as ISO-8859-1 reads as windows-1252, the same everywhere.
        pytest.param(
            lambda text: text.encode(),
            "charset=ISO-8859-1",
            TITLE.encode().decode("cp1252"),
            (),
            id="utf-8-declared-latin-1",
        ),
    ],
)
def test_the_same_bytes_read_the_same_in_every_format(
    document: Document,
    encode: object,
    header: str | None,
    title: str,
    notes: tuple[str, ...],
) -> None:
    body = encode(document.text)  # type: ignore[operator]
    content_type = f"{document.media}; {header}" if header else None
    page = read(document, body, content_type, document.format)
    updates = [entry for entry in page.entries if entry.key != "lead"]
    assert [entry.title for entry in updates] == [title]
    assert decoding_notes(page) == notes
    # The format is told apart on these bytes too (a UTF-16 page, say).
    assert read(document, body, content_type, "auto").entries == page.entries


@pytest.mark.parametrize("document", DOCUMENTS[:4], ids=lambda d: d.name)
def test_a_stray_bad_byte_in_utf8_becomes_u_fffd_with_a_note(document: Document) -> None:
    """Not RSS: feedparser recovers XML that belies its charset its own way (see `feed`)."""
    body = document.text.replace("Body.", "Body \x00.").encode().replace(b"\x00", b"\xff")
    page = read(document, body, None, document.format)
    assert page.entries[-1].title == TITLE
    assert "Body \ufffd." in page.entries[-1].content_html
    assert decoding_notes(page) == (
        "the document is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
    )


# --- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "kind", "expected"),
    [
        (b"\xef\xbb\xbf<p>", "text/html; charset=latin-1", "html", ("utf-8", 3, "bom")),
        (b"\xff\xfe\x00\x00<\x00\x00\x00", None, "xml", ("utf-32-le", 4, "bom")),
        (b"\xff\xfe<\x00", None, "text", ("utf-16-le", 2, "bom")),
        (
            b'<meta charset="koi8-r">',
            "text/html; charset=cp1251",
            "html",
            ("cp1251", 0, "content-type"),
        ),
        (b'<meta charset="koi8-r">', None, "html", ("koi8-r", 0, "meta")),
        (b'<meta charset="koi8-r">', None, "text", ("utf-8", 0, "default")),
        (
            b'<?xml version="1.0" encoding="ISO-8859-2"?><rss/>',
            None,
            "xml",
            ("iso8859-2", 0, "xml-declaration"),
        ),
        (
            b'<?xml version="1.0" encoding="ISO-8859-2"?><rss/>',
            None,
            "html",
            ("utf-8", 0, "default"),
        ),
        (b"<\x00?\x00x\x00m\x00l\x00", None, "xml", ("utf-16-le", 0, "xml-declaration")),
        (b"{}", "application/json; charset=US-ASCII", "json", ("cp1252", 0, "content-type")),
        (b"{}", None, "json", ("utf-8", 0, "default")),
    ],
)
def test_sniff_takes_the_mark_then_the_header_then_what_the_kind_declares(
    body: bytes, content_type: str | None, kind: str, expected: tuple[str, int, str]
) -> None:
    charset = sniff(body, content_type, kind)  # type: ignore[arg-type]
    assert (charset.encoding, charset.bom, charset.source) == expected
    assert charset.notes == ()


def test_an_unknown_label_is_noted_and_utf8_used_without_guessing() -> None:
    decoded = decode("Caf\u00e9".encode("cp1252"), "text/plain; charset=klingon", "text")
    assert decoded.charset.encoding == "utf-8"
    assert decoded.text == "Caf\ufffd"
    assert decoded.notes == (
        "the declared charset 'klingon' is unknown; UTF-8 was used",
        "the page is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
    )


def test_the_guess_is_recorded_in_the_charset_it_returns() -> None:
    decoded = decode("Caf\u00e9 \u2013".encode("cp1252"), None, "xml")
    assert (decoded.text, decoded.charset.encoding, decoded.charset.source) == (
        "Caf\u00e9 \u2013",
        "cp1252",
        "guess",
    )
    assert decoded.charset.notes == decoded.notes


def test_mostly_utf8_stays_utf8() -> None:
    decoded = decode("Caf\u00e9 na\u00efve".encode() + b"\xff", None, "html")
    assert (decoded.text, decoded.charset.source) == ("Caf\u00e9 na\u00efve\ufffd", "default")


def test_opening_reads_past_the_mark_and_keeps_other_bytes_as_they_are() -> None:
    assert opening(b"\xff\xfe" + "<html>".encode("utf-16-le")) == "<html>"
    assert opening(b"<p>\xe9</p>") == "<p>\u00e9</p>"
    assert opening(b"x" * 5000) == "x" * 4096
