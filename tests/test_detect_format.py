"""`format = "auto"` must pick the right extractor for every fixture we ship."""

from __future__ import annotations

import pytest

from aggregator.ingest.extract import detect_format
from tests.golden import cases
from tests.support import SEEDS

ALL_CASES = cases("feeds") + cases("html")


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.input.name)
def test_auto_detects_each_fixture(case: object) -> None:
    body, fmt, content_type = case.body, case.format, case.context().content_type  # type: ignore[attr-defined]
    assert detect_format(body, content_type) == fmt
    # Without the Content-Type header, the bytes alone must still decide.
    assert detect_format(body, None) == fmt


@pytest.mark.parametrize("seed", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_auto_detects_the_text_seeds(seed: object) -> None:
    assert detect_format(seed.read_bytes()) == "liveblog-text"  # type: ignore[attr-defined]


def test_there_are_fixtures_of_every_kind() -> None:
    formats = {case.format for case in ALL_CASES}
    assert {"feed"} <= formats


def test_minified_json_feed_and_mislabelled_content() -> None:
    minified = b'{"version":"https://jsonfeed.org/version/1.1","title":"x","items":[]}'
    assert detect_format(minified) == "feed"
    atom = b'\xef\xbb\xbf<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"/>'
    assert detect_format(atom, "text/html; charset=utf-8") == "feed"
    page = b"<!DOCTYPE html><html><body><p>12:00 GMT - x</p></body></html>"
    assert detect_format(page, "application/rss+xml") == "liveblog-html"
    assert detect_format(b"19:50 GMT - Headline\n\nBody.\n", "text/plain") == "liveblog-text"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_page_or_feed_in_utf16_or_utf32_is_told_apart_by_its_byte_order_mark(
    codec: str,
) -> None:
    def encoded(text: str) -> bytes:
        return "\ufeff".encode(codec) + text.encode(codec)  # the mark, then the text

    assert detect_format(encoded("<!doctype html><html><body></body></html>")) == "liveblog-html"
    assert detect_format(encoded('{"version": "https://jsonfeed.org/version/1.1"}')) == "feed"
    assert detect_format(encoded("<rss version='2.0'></rss>")) == "feed"
    assert detect_format(encoded("19:50 GMT - Headline\n\nBody.\n")) == "liveblog-text"
