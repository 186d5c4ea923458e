"""Tests for HTML sanitising and XML-illegal character removal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aggregator.ingest.extract.nesting import MAX_NESTING, flatten
from aggregator.ingest.extract.sanitize import sanitize_html, sanitized, strip_xml_illegal

BASE = "https://example.org/live/page"


def test_script_style_and_iframe_removed_with_their_content() -> None:
    html = (
        "<p>kept</p><script>alert('x')</script><style>p { color: red }</style>"
        '<iframe src="https://evil.example/">frame text</iframe><noscript>ns</noscript>'
    )
    assert sanitize_html(html, BASE) == "<p>kept</p>"


def test_event_handler_attributes_removed() -> None:
    cleaned = sanitize_html('<p onclick="steal()" onmouseover="x()">hi</p>', BASE)
    assert cleaned == "<p>hi</p>"


def test_javascript_urls_removed() -> None:
    cleaned = sanitize_html(
        '<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(1)">b</a>', BASE
    )
    assert "javascript" not in cleaned.lower()
    assert "href" not in cleaned


def test_relative_links_made_absolute() -> None:
    cleaned = sanitize_html('<a href="/about?x=1">a</a><img src="pic.jpg" alt="p">', BASE)
    assert 'href="https://example.org/about?x=1"' in cleaned
    assert 'src="https://example.org/live/pic.jpg"' in cleaned
    assert 'rel="noopener noreferrer"' in cleaned


def test_relative_links_left_alone_without_base() -> None:
    assert 'href="/about"' in sanitize_html('<a href="/about">a</a>')


def test_absolute_links_kept() -> None:
    cleaned = sanitize_html('<a href="https://other.example/x">x</a>', BASE)
    assert 'href="https://other.example/x"' in cleaned


def test_figure_and_figcaption_allowed() -> None:
    html = "<figure><figcaption>Photo [AP]</figcaption></figure>"
    assert sanitize_html(html, BASE) == html


def test_control_characters_removed_including_character_references() -> None:
    cleaned = sanitize_html("<p>a\x00b\x01c\x0bd&#1;e&#xFFFE;f\ufffeg</p>", BASE)
    assert cleaned == "<p>abcdefg</p>"


def test_emoji_and_rtl_text_intact() -> None:
    text = "Breaking \U0001f6a8 \u0627\u0644\u062c\u0632\u064a\u0631\u0629 \u05e9\u05dc\u05d5\u05dd"
    assert sanitize_html(f"<p>{text}</p>", BASE) == f"<p>{text}</p>"


def test_strip_xml_illegal_keeps_tab_newline_cr() -> None:
    assert strip_xml_illegal("a\tb\nc\rd\x07e\x1ff\uffffg") == "a\tb\nc\rdefg"


def test_strip_xml_illegal_surrogates() -> None:
    assert strip_xml_illegal("a\ud800b\udfffc") == "abc"
    assert strip_xml_illegal("pair \ud83d\ude00 joined") == "pair \U0001f600 joined"


_ANY_CHARACTER = st.one_of(
    st.characters(),
    st.characters(categories=["Cs", "Cc"]),
    st.sampled_from("\ufffe\uffff\t\n\r"),
)


@given(st.text(alphabet=_ANY_CHARACTER))
def test_strip_xml_illegal_output_is_always_xml_text(text: str) -> None:
    cleaned = strip_xml_illegal(text)
    element = etree.Element("e")
    element.text = cleaned  # lxml refuses any character XML 1.0 does not allow
    assert etree.fromstring(etree.tostring(element)) is not None


def test_markup_nested_100_000_deep_is_flattened_past_the_bound_with_a_note() -> None:
    """nh3 took 33 s on this (its work grows with the square of the depth); the
    tags past `MAX_NESTING` go, their text and the markup after them stay."""
    deep = "<p>before</p>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "<p>after</p>"
    cleaned, notes = sanitized(deep)
    assert cleaned.count("<div>") == cleaned.count("</div>") == MAX_NESTING
    assert cleaned.startswith("<p>before</p><div>") and cleaned.endswith("</div><p>after</p>")
    assert "deep" in cleaned
    assert notes == (
        "HTML nested more than 100 elements deep: the tags of 99900 element(s) past that "
        "depth were removed, their text kept",
    )


def test_only_elements_that_must_be_closed_count_towards_the_depth() -> None:
    """Unclosed paragraphs and list items, void elements, comments and script
    text build no depth: a page of them is left exactly as it came."""
    page = (
        "<p>one<p>two<ul><li>a<li>b</ul><br><img src=x>" * 200
        + "<script>'<div><div><div>'</script><!-- <div><div> -->"
    )
    assert flatten(page, 2) == (page, 0)
    assert flatten("<div><b><i>x</i></b></div><b>y</b>", 2) == ("<div><b>x</b></div><b>y</b>", 1)
