"""Golden and rule-by-rule tests for the HTML live-blog extractor.

Every fixture in tests/fixtures/html is pinned field by field by its expected
file (regenerate with AGGREGATOR_UPDATE_GOLDEN=1 and read the diff). The
goldens alone could pin a wrong answer, so each rule of the module docstring
also has explicit assertions here, against the fixtures and small inline pages.
The two seed renderings must give the same entries as the plain-text seeds.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext, ExtractedEntry, Page, normalise_text
from aggregator.ingest.extract import detect_format, liveblog_text
from aggregator.ingest.extract import extract as extract_page
from aggregator.ingest.extract.liveblog_html import extract
from tests.golden import GoldenCase, cases, check_golden
from tests.support import SEEDS, extract_context

CASES = cases("html")
BY_NAME = {case.input.stem: case for case in CASES}

AJ_SEED = "aljazeera-armenia-azerbaijan-2020-09-27.txt"
DK_SEED = "dailyknight-azerbaijan-invasion-2020-09-27.txt"
PAGE_URL = "https://example.org/live/page"
BLOCK_TAG = re.compile(r"</?(?:p|figure|figcaption|ul|ol|li|div|h\d|blockquote|br)\b[^>]*>")
ANY_TAG = re.compile(r"<[^>]+>")


def fixture(name: str, **overrides: Any) -> Page:
    case = BY_NAME[name]
    return extract(case.body, replace(case.context(), **overrides))


def context(zone: str = "UTC", **overrides: Any) -> ExtractContext:
    return extract_context(PAGE_URL, zone, **overrides)


def extract_html(page: str, zone: str = "UTC", **overrides: Any) -> Page:
    return extract(page.encode("utf-8"), context(zone, **overrides))


def plain(content_html: str) -> str:
    """Content as a reader sees it: block tags become spaces, other tags vanish."""
    return normalise_text(html.unescape(ANY_TAG.sub("", BLOCK_TAG.sub(" ", content_html))))


def hhmm(entry: ExtractedEntry, zone: str = "UTC") -> str:
    return entry.published.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def ld_page(*updates: dict[str, Any], blog: dict[str, Any] | None = None) -> str:
    posting = {"@type": "LiveBlogPosting", "headline": "Test blog", **(blog or {})}
    posting["liveBlogUpdate"] = list(updates)
    script = json.dumps({"@context": "https://schema.org", **posting})
    return f'<html><head><script type="application/ld+json">{script}</script></head><body></body>'


def post(
    headline: str | None, published: str | None, body: str = "<p>Body.</p>", **more: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {"@type": "BlogPosting", "articleBody": body, **more}
    if headline is not None:
        item["headline"] = headline
    if published is not None:
        item["datePublished"] = published
    return item


# --- goldens ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.input.stem)
def test_matches_golden(case: GoldenCase) -> None:
    check_golden(case, extract(case.body, case.context()))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.input.stem)
def test_fixture_is_html_and_detected_as_such(case: GoldenCase) -> None:
    assert case.format == "liveblog-html"
    assert detect_format(case.body, case.context().content_type) == "liveblog-html"


def test_there_are_the_two_seed_renderings_and_at_least_eight_more() -> None:
    assert {"aljazeera-jsonld", "dailyknight-blocks"} <= BY_NAME.keys()
    assert len(BY_NAME) >= 10


# --- the seed renderings give the seed's entries ----------------------------------


def comparable(page: Page) -> list[tuple[str, str, datetime, str | None, str]]:
    return [(e.key, e.title, e.published, e.author, plain(e.content_html)) for e in page.entries]


@pytest.mark.parametrize(
    ("name", "seed"), [("aljazeera-jsonld", AJ_SEED), ("dailyknight-blocks", DK_SEED)]
)
def test_rendering_gives_the_same_entries_as_the_text_seed(name: str, seed: str) -> None:
    """Count, key, title, published, author and reader-visible text are all equal.

    Links differ on purpose and are not compared: the HTML pages give updates
    their own anchors (#update-1452), which the plain text cannot.
    """
    case = BY_NAME[name]
    from_html = extract(case.body, case.context())
    from_text = liveblog_text.extract((SEEDS / seed).read_bytes(), case.context())
    assert len(from_html.entries) == len(from_text.entries)
    assert comparable(from_html) == comparable(from_text)
    assert (from_html.title, from_html.author) == (from_text.title, from_text.author)


def test_aljazeera_rendering_is_read_from_its_json_ld() -> None:
    page = fixture("aljazeera-jsonld")
    assert len(page.entries) == 40
    # Only the JSON-LD articleBody carries images; the visible text has none.
    assert (
        sum(
            '<img src="https://www.aljazeera.example/wp-content/' in e.content_html
            for e in page.entries
        )
        == 13
    )
    assert all(e.id is None for e in page.entries)
    assert page.entries[-1].key == "20200927T195000Z-0"
    assert page.entries[-1].link == f"{BY_NAME['aljazeera-jsonld'].context().page_url}" + (
        "#update-20200927T195000Z-0"
    )
    by_time = {e.published.strftime("%H:%M"): e.author for e in page.entries}
    assert by_time["08:39"] == by_time["12:55"] == "Umut Uras"
    assert by_time["13:15"] == by_time["19:50"] == "Mersiha Gadzo"


def test_aljazeera_visible_html_alone_gives_the_seed_updates_through_the_generic_blocks() -> None:
    """Without its JSON-LD the page is read as repeated timestamped blocks: the same
    titles and times as the text seed, each keyed by the block's own anchor."""
    case = BY_NAME["aljazeera-jsonld"]
    without_ld = re.sub(
        rb'<script type="application/ld\+json">.*?</script>', b"", case.body, flags=re.S
    )
    assert b"LiveBlogPosting" not in without_ld
    from_html = extract(without_ld, case.context())
    from_text = liveblog_text.extract((SEEDS / AJ_SEED).read_bytes(), case.context())
    assert from_html.strategy == "generic"
    assert [(e.title, e.published) for e in from_html.entries] == [
        (e.title, e.published) for e in from_text.entries
    ]
    url = case.context().page_url
    assert all(e.key.startswith(f"{url}#update-") for e in from_html.entries)


def test_dailyknight_rendering_uses_selectors_with_anchors_as_links() -> None:
    page = fixture("dailyknight-blocks")
    lead, *updates = page.entries
    assert lead.key == "lead"
    assert lead.published == datetime(2020, 9, 27, 4, 0, tzinfo=UTC)
    assert lead.content_html.startswith("<ul><li>Azerbaijan awakens military tensions")
    assert "top of page" not in lead.content_html
    url = BY_NAME["dailyknight-blocks"].context().page_url
    assert [e.link for e in updates] == [
        f"{url}#update-{anchor}" for anchor in ("1452", "1503", "1746", "1824", "1909")
    ]
    assert all(e.id is None for e in updates)
    assert updates[0].notes == (
        "label 'EST' contradicts America/New_York, which was on EDT at 2020-09-27 14:52; "
        "the zone was used",
    )
    assert all("Update" not in e.content_html for e in updates)


# --- rule 1: JSON-LD ----------------------------------------------------------------


def test_json_ld_in_graph_with_type_lists_ids_milliseconds_and_a_bad_block() -> None:
    page = fixture("graph-storm")
    base = BY_NAME["graph-storm"].context().page_url
    assert page.title == "Storm Orla live: gusts of 90mph close bridges across northern England"
    assert page.author == "Priya Raman, Tom Hale"
    assert page.notes == (
        "JSON-LD block 2 is not valid JSON (Expecting property name enclosed in double quotes "
        "at line 1, column 117); it was skipped",
    )
    first, second, third = page.entries
    assert [e.key for e in page.entries] == [
        f"{base}#post-1031",
        f"{base}#post-1039",
        f"{base}#post-1046",
    ]
    assert [e.id for e in page.entries] == [e.key for e in page.entries]
    assert first.link == f"{base}#post-1031"  # no url: the @id is the link too
    assert third.link == f"{base}?page=with:post-1046#post-1046"
    assert third.published == datetime(2020, 2, 9, 14, 5, 12, 345000, tzinfo=UTC)
    assert third.updated == datetime(2020, 2, 9, 14, 20, tzinfo=UTC)
    assert second.updated is None
    assert first.author == "Priya Raman, Tom Hale"  # the blog's authors stand in
    assert third.author == "Tom Hale"


def test_json_ld_top_level_list_single_update_object_and_naive_time() -> None:
    page = fixture("toplevel-list-election")
    (entry,) = page.entries
    assert page.author == entry.author == "Dana Whitfield"
    assert (
        entry.key
        == entry.id
        == entry.link
        == ("https://prairieledger.example/2020/11/03/election-night-live#update-polls-close")
    )
    # 19:00 with no offset is read in America/Chicago, on CST after the clocks went back.
    assert entry.published == datetime(2020, 11, 4, 1, 0, tzinfo=UTC)
    assert entry.notes == ()
    assert "county clerk\u2019s office" in entry.content_html


def test_json_ld_nested_with_iri_types_and_html_body_sanitised() -> None:
    page = fixture("nested-council")
    assert page.title == "Live: Bayview council votes on the 2020-21 budget"
    assert [e.title for e in page.entries] == [
        "Meeting opens with a moment of silence",
        "Public comment runs past three hours",
        "Budget passes 6-3",
    ]
    assert_safe(page)
    comment = page.entries[1].content_html
    assert '<img src="https://bayview-courier.example/img/2020/06/council-chamber.jpg"' in comment
    vote = page.entries[2].content_html
    assert 'href="https://bayview-courier.example/documents/2020-21-budget.pdf"' in vote
    assert "<blockquote><p>\u201cThis budget" in page.entries[0].content_html


def test_json_ld_gaps_dates_and_identities() -> None:
    page = fixture("gaps-marathon")
    by_title = {e.title: e for e in page.entries}
    guide = by_title["Race-day guide: everything you need to know"]
    assert guide.published == datetime(2020, 9, 26, 14, 0, tzinfo=UTC)
    assert guide.notes == (
        "datePublished '2020-09-27' has no time of day; midnight in Australia/Sydney was used",
    )
    drinks = by_title["Drinks station at Pyrmont moved"]
    assert drinks.published == datetime(2020, 9, 27, 0, 55, tzinfo=UTC)
    assert drinks.notes == ("no datePublished; dateModified was used as its time",)
    untitled = by_title[
        "The wheelchair race was won by Sam Okoro in 1:24:09, a course record by almost two "
        "minutes."
    ]
    assert untitled.notes == ("no headline; the title is the body's first sentence",)
    assert untitled.content_html.count("<p>") == 2  # plain text became paragraphs
    ceremony = by_title["Medal ceremony under way at the Opera House forecourt"]
    assert ceremony.published == datetime(2020, 9, 27, 6, 0, tzinfo=UTC)  # the fetch time
    assert "rejected as implausible" in ceremony.notes[0]
    assert by_title["Elite field sets off"].key.endswith("#post-start")
    assert "Start delayed by ten minutes" not in by_title
    photo, confirmed = (
        by_title["Photo finish in the women\u2019s race"],
        by_title["Women\u2019s winner confirmed after photo review"],
    )
    assert (photo.key, confirmed.key) == ("20200927T024107Z-0", "20200927T024107Z-1")
    assert confirmed.author == "Mia Castellanos, Jack Oduya"
    assert photo.author == "Mia Castellanos"
    skipped = "\n".join(page.notes)
    for named in (
        "liveBlogUpdate 6 ('Road closures lifted in the CBD') has no usable datePublished",
        "liveBlogUpdate 7 ('Elite men pass halfway') has no usable datePublished or "
        "dateModified (datePublished 'Sunday morning' is not an ISO 8601 date",
        "liveBlogUpdate 8 is not a BlogPosting, NewsArticle or Article ('ImageObject')",
        "liveBlogUpdate 10 has neither a headline nor any text",
        "the update 'Start delayed by ten minutes' repeats the identity",
    ):
        assert named in skipped
    assert len(page.entries) + len(page.notes) == 12


def test_json_ld_wins_over_selectors() -> None:
    page = extract(
        BY_NAME["graph-storm"].body,
        replace(BY_NAME["graph-storm"].context(), selectors={"update": "div.block"}),
    )
    assert [e.id is not None for e in page.entries] == [True, True, True]


@pytest.mark.parametrize(
    "wrapped",
    [
        "<!--{json}-->",
        "<![CDATA[{json}]]>",
        "//<![CDATA[\n{json}\n//]]>",
        "\n  <!--\n{json}\n  -->\n",
    ],
)
def test_json_ld_wrappers_are_tolerated(wrapped: str) -> None:
    block = json.dumps({"@type": "LiveBlogPosting", "liveBlogUpdate": post("Head", "2020-09-27")})
    page_html = wrapped.replace("{json}", block)
    page = extract_html(f'<script type="application/ld+json">{page_html}</script>')
    assert [e.title for e in page.entries] == ["Head"]


def test_a_page_nested_100_000_deep_is_flattened_and_the_rest_of_it_read() -> None:
    """libxml2 stops building the tree at depth 256 and dropped the rest of the
    page (the second update here); the page is now flattened and parsed again."""
    deep = "<div>" * 100_000 + "Deep text." + "</div>" * 100_000
    page = extract_html(
        "<html><body><main><p>10:00 GMT – First update</p><p>Something happened.</p>"
        f"{deep}<p>11:00 GMT – Second update</p><p>More happened.</p></main></body></html>"
    )
    assert [e.title for e in page.entries] == ["First update", "Second update"]
    assert page.notes == (
        "HTML nested more than 100 elements deep: the tags of 99901 element(s) past that "
        "depth were removed, their text kept",
    )


def test_a_page_past_max_entries_keeps_its_newest_updates() -> None:
    """The rule every format shares (`extract.cap`), here on JSON-LD updates."""
    updates = [post(f"Update {n}", f"2020-09-27T1{n}:00:00Z") for n in (2, 0, 3, 1)]
    page = extract_page(ld_page(*updates).encode(), context(max_entries=2), "liveblog-html")
    assert [e.title for e in page.entries] == ["Update 2", "Update 3"]
    assert page.notes[-1] == "page holds 4 entries; the newest 2 kept"


@pytest.mark.parametrize(
    ("opening", "ending"), [("<!--", "-->"), ("//<![CDATA[", "//]]>"), ("<!--", "")]
)
def test_json_ld_under_100_000_wrappers_is_read(opening: str, ending: str) -> None:
    """Wrappers come off in time linear in the block (a layer at a time was
    quadratic: 156 s on a 210 KiB page), and the block inside is still read,
    also when the page never closes them."""
    block = json.dumps({"@type": "LiveBlogPosting", "liveBlogUpdate": post("Head", "2020-09-27")})
    wrapped = f"{opening}\n" * 100_000 + block + f"\n{ending}" * 100_000
    page = extract_html(f'<script type="application/ld+json">{wrapped}</script>')
    assert [e.title for e in page.entries] == ["Head"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-09-27T14:05:00+02:00", datetime(2020, 9, 27, 12, 5, tzinfo=UTC)),
        ("2020-09-27T14:05:00Z", datetime(2020, 9, 27, 14, 5, tzinfo=UTC)),
        ("2020-09-27T14:05:00.250Z", datetime(2020, 9, 27, 14, 5, 0, 250000, tzinfo=UTC)),
        ("2020-09-27T14:05:00", datetime(2020, 9, 27, 18, 5, tzinfo=UTC)),
        ("2020-09-27", datetime(2020, 9, 27, 4, 0, tzinfo=UTC)),
    ],
)
def test_json_ld_date_forms(value: str, expected: datetime) -> None:
    page = extract_html(ld_page(post("Head", value)), zone="America/New_York")
    assert page.entries[0].published == expected


def test_json_ld_type_may_be_a_list_and_updates_any_article_type() -> None:
    updates = [
        post("One", "2020-09-27T10:00:00Z", **{"@type": ["BlogPosting", "Thing"]}),
        post("Two", "2020-09-27T11:00:00Z", **{"@type": "NewsArticle"}),
        post("Three", "2020-09-27T12:00:00Z", **{"@type": "Article"}),
        post("Four", "2020-09-27T13:00:00Z", **{"@type": "Comment"}),
    ]
    page = extract_html(ld_page(*updates, blog={"@type": ["NewsArticle", "LiveBlogPosting"]}))
    assert [e.title for e in page.entries] == ["One", "Two", "Three"]
    assert page.notes == (
        "liveBlogUpdate 4 is not a BlogPosting, NewsArticle or Article ('Comment'); it was skipped",
    )


def test_json_ld_author_forms_and_defaults() -> None:
    updates = [
        post("A", "2020-09-27T10:00:00Z", author={"@type": "Person", "name": " Ann  Lee "}),
        post("B", "2020-09-27T11:00:00Z", author=[{"name": "Ann Lee"}, "Bo Ma"]),
        post("C", "2020-09-27T12:00:00Z", author="Cy Ng"),
        post("D", "2020-09-27T13:00:00Z"),
    ]
    page = extract_html(ld_page(*updates))
    assert [e.author for e in page.entries] == ["Ann Lee", "Ann Lee, Bo Ma", "Cy Ng", None]
    configured = extract(ld_page(*updates).encode(), context(author="Desk"))
    assert configured.entries[3].author == "Desk"
    blog_author = extract_html(ld_page(*updates, blog={"author": {"name": "Blog Author"}}))
    assert blog_author.author == blog_author.entries[3].author == "Blog Author"


def test_json_ld_identity_from_id_else_url_resolved_against_the_page() -> None:
    updates = [
        post("A", "2020-09-27T10:00:00Z", **{"@id": "#a", "url": "/live/page?a=1#a"}),
        post("B", "2020-09-27T11:00:00Z", url="https://example.org/live/b"),
        post("C", "2020-09-27T12:00:00Z", url="javascript:alert(1)"),
    ]
    a, b, c = extract_html(ld_page(*updates)).entries
    assert (a.key, a.id, a.link) == (
        f"{PAGE_URL}#a",
        f"{PAGE_URL}#a",
        "https://example.org/live/page?a=1#a",
    )
    assert b.key == b.id == b.link == "https://example.org/live/b"
    assert (c.key, c.id, c.link) == (
        "20200927T120000Z-0",
        None,
        f"{PAGE_URL}#update-20200927T120000Z-0",
    )


def test_json_ld_time_keys_stay_when_a_newer_update_arrives_on_top() -> None:
    older = [post("Second", "2020-09-27T10:00:00Z"), post("First", "2020-09-27T10:00:00Z")]
    before = {e.title: e.key for e in extract_html(ld_page(*older)).entries}
    after = {
        e.title: e.key
        for e in extract_html(ld_page(post("Third", "2020-09-27T10:00:00Z"), *older)).entries
    }
    assert before == {"First": "20200927T100000Z-0", "Second": "20200927T100000Z-1"}
    assert after == {**before, "Third": "20200927T100000Z-2"}


def test_json_ld_same_second_keys_ignore_milliseconds() -> None:
    page = extract_html(
        ld_page(post("B", "2020-09-27T10:00:00.900Z"), post("A", "2020-09-27T10:00:00.100Z"))
    )
    assert [(e.title, e.key) for e in page.entries] == [
        ("A", "20200927T100000Z-0"),
        ("B", "20200927T100000Z-1"),
    ]


def test_json_ld_blog_without_updates_falls_back_with_a_note() -> None:
    page = extract_html(
        '<script type="application/ld+json">{"@type": "LiveBlogPosting", "headline": "X"}'
        "</script><main><p>Page title for the test</p><p>10:00 GMT \u2013 Head</p><p>Body.</p>"
        "</main>"
    )
    assert [e.title for e in page.entries] == ["Head"]
    assert page.notes == (
        "a LiveBlogPosting was found but lists no liveBlogUpdate; the HTML was read instead",
    )


def test_json_ld_second_blog_with_updates_is_noted() -> None:
    one = ld_page(post("From the first", "2020-09-27T10:00:00Z"))
    two = ld_page(post("From the second", "2020-09-27T11:00:00Z"))
    page = extract_html(one.replace("<body></body>", "") + two)
    assert [e.title for e in page.entries] == ["From the first"]
    assert page.notes == (
        "1 more LiveBlogPosting object(s) with updates were ignored; the first was read",
    )


def test_json_ld_with_nothing_usable_raises_with_the_reasons() -> None:
    with pytest.raises(ExtractError, match=r"no updates found.*has no usable datePublished"):
        extract_html(ld_page(post("Undated", None)))


# --- rule 2: selectors ----------------------------------------------------------------


def test_selectors_newest_first_page_crossing_midnight() -> None:
    page = fixture("selectors-newyear")
    assert page.title == "New Year's Eve in Berlin: live"
    assert page.author == "Katrin Vogel"
    assert [hhmm(e, "Europe/Berlin") for e in page.entries] == [
        "2020-12-31 22:30",
        "2020-12-31 23:15",
        "2020-12-31 23:48",
        "2021-01-01 00:00",
        "2021-01-01 00:12",
        "2021-01-01 00:41",
    ]
    assert [e.link.rsplit("#", 1)[1] for e in page.entries if e.link] == [
        f"entry-{n}" for n in range(1, 7)
    ]
    assert all(e.id is None and e.key.startswith("20201231T") for e in page.entries)
    police = page.entries[4]
    assert police.title == (
        "Police have closed the avenue to the Brandenburg Gate to pedestrians after the fireworks."
    )
    assert police.notes == ("the title selector found no title; the first sentence was used",)
    for entry in page.entries:
        assert "<time" not in entry.content_html and "<h3" not in entry.content_html
        assert entry.title not in plain(entry.content_html) or entry is police
    assert 'src="https://spreepost.example/bilder/2020/12/tor.jpg"' in page.entries[2].content_html


def test_selectors_oldest_first_page_with_permalinks_and_stated_times() -> None:
    page = fixture("selectors-keynote")
    assert [hhmm(e, "America/New_York") for e in page.entries] == [
        "2021-04-20 09:02",
        "2021-04-20 09:15",
        "2021-04-20 09:15",
        "2021-04-20 10:05",
        "2021-04-20 14:00",
    ]
    first, second, third, fourth, fifth = page.entries
    assert (
        first.key
        == first.id
        == first.link
        == ("https://circuit-weekly.example/live/devcon-2021-keynote/p/101")
    )
    assert second.key.endswith("/p/102")
    assert (third.key, third.id) == ("20210420T131530Z-0", None)
    assert third.link == "https://circuit-weekly.example/live/devcon-2021-keynote-live#p103"
    assert fourth.key == "https://circuit-weekly.example/live/devcon-2021-keynote-live#p104"
    assert fourth.notes == ("datetime 'soon' is not an ISO 8601 time; the visible text was read",)
    assert fifth.published == datetime(2021, 4, 20, 18, 0, tzinfo=UTC)
    assert "rejected as implausible" in fifth.notes[0]
    assert page.notes == (
        "update 6 ('That\u2019s a wrap for the keynote.') has no time that could be read; "
        "it was skipped",
    )
    for entry in page.entries:
        assert "Ana Lima" not in entry.content_html  # the time selector's match is cut out
        assert "9:02 AM" not in entry.content_html


def test_selectors_datetime_attribute_is_preferred_over_visible_text() -> None:
    page = extract_html(
        '<div class="u"><time datetime="2020-09-27T08:00:00Z">Update 9:30am BST</time>'
        "<p>Something happened today in the town.</p></div>",
        zone="Europe/London",
        selectors={"update": ".u"},
    )
    assert page.entries[0].published == datetime(2020, 9, 27, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "published", "notes"),
    [
        ("2020-09-27T10:00", datetime(2020, 9, 27, 14, 0, tzinfo=UTC), ()),
        (
            "2020-09-27",
            datetime(2020, 9, 27, 4, 0, tzinfo=UTC),
            ("datetime '2020-09-27' has no time of day; midnight in America/New_York was used",),
        ),
    ],
)
def test_selectors_datetime_attribute_is_read_in_the_zone(
    value: str, published: datetime, notes: tuple[str, ...]
) -> None:
    page = extract_html(
        f'<div class="u"><time datetime="{value}">Sunday</time><p>Something happened.</p></div>',
        zone="America/New_York",
        selectors={"update": ".u"},
        author="Desk",
    )
    (entry,) = page.entries
    assert (entry.published, entry.notes) == (published, notes)
    assert entry.author == "Desk"  # no byline above the updates: the configured author


def test_selectors_page_without_a_usable_update_raises_with_the_reasons() -> None:
    with pytest.raises(ExtractError, match=r"no usable update.*has no time that could be read"):
        extract_html('<div class="u"><p>Undated.</p></div>', selectors={"update": ".u"})


def test_selectors_visible_time_uses_stamp_rules_and_resolve_stamps() -> None:
    page = extract_html(
        '<div class="u"><span class="t">00:05</span><p>After midnight.</p></div>'
        '<div class="u"><span class="t">23:50 GMT</span><p>Before midnight.</p></div>'
        '<div class="u"><span class="t">Update 11:30pm</span><p>Earlier still.</p></div>',
        selectors={"update": ".u", "time": ".t"},
    )
    assert [hhmm(e) for e in page.entries] == [
        "2020-09-27 23:30",
        "2020-09-27 23:50",
        "2020-09-28 00:05",
    ]


def test_selectors_title_body_and_permalink_wrapping_the_time() -> None:
    page = extract_html(
        '<article class="u" id="u1"><a href="/live/page/u1"><time datetime="10:00">10:00</time>'
        '</a><h2 class="t">The headline</h2><div class="b"><p>Only the body.</p></div>'
        '<p class="share">Share this</p></article>',
        selectors={"update": ".u", "title": ".t", "body": ".b"},
    )
    (entry,) = page.entries
    assert entry.title == "The headline"
    assert entry.content_html == "<p>Only the body.</p>"
    assert entry.key == entry.id == entry.link == "https://example.org/live/page/u1"


def test_selectors_body_defaults_to_the_update_without_time_and_title() -> None:
    page = extract_html(
        '<div class="u" id="x"><time datetime="10:00">10:00</time><h3>Head</h3>'
        '<p>Text <a href="more.html">more</a></p></div>',
        selectors={"update": ".u", "title": "h3", "body": ".missing"},
    )
    (entry,) = page.entries
    assert entry.content_html == (
        '<p>Text <a href="https://example.org/live/more.html" rel="noopener noreferrer">more</a>'
        "</p>"
    )
    assert entry.link == f"{PAGE_URL}#x"
    assert entry.notes == ("the body selector matched nothing; the whole update was used",)


def test_selectors_that_match_nothing_fall_back_to_text_with_a_note() -> None:
    page = extract_html(
        "<main><p>Page title for the test</p><p>10:00 GMT \u2013 Head</p><p>Body.</p></main>",
        selectors={"update": ".nothing"},
    )
    assert [e.title for e in page.entries] == ["Head"]
    assert page.notes == (
        "the update selector '.nothing' matched nothing; the page was read without it",
    )


@pytest.mark.parametrize(
    ("selectors", "message"),
    [
        ({"time": "time"}, "'update' is missing"),
        ({"update": "div["}, "selector update = 'div\\[' is not valid CSS"),
        ({"update": ".u", "title": "h2::nonsense"}, "selector title"),
    ],
)
def test_bad_selectors_raise(selectors: dict[str, str], message: str) -> None:
    with pytest.raises(ExtractError, match=message):
        extract_html("<div class='u'>x</div>", selectors=selectors)


def test_selectors_lead_from_the_article_before_the_updates() -> None:
    lead_paragraphs = "".join(
        f"<p>Paragraph number {n} of the lead story, long enough to count.</p>" for n in range(5)
    )
    page = extract_html(
        f"<main><article><h1>The page title here</h1><p>By Ann Lee | Desk</p>{lead_paragraphs}"
        '</article><div class="u"><time datetime="10:00">10:00</time><p>An update.</p></div>'
        "</main>",
        selectors={"update": ".u"},
    )
    lead, update = page.entries
    assert (page.title, page.author) == ("The page title here", "Ann Lee")
    assert lead.key == "lead" and lead.content_html.count("<p>") == 5
    assert "An update" not in lead.content_html
    assert update.author == "Ann Lee"


# --- rule 3: text fallback --------------------------------------------------------------


def test_text_fallback_with_bst_stamps_and_headings() -> None:
    page = fixture("text-bst-football")
    assert page.author == "Sam Pryce"
    assert [hhmm(e, "Europe/London")[11:] for e in page.entries] == [
        "14:45",
        "15:01",
        "15:27",
        "15:52",
        "16:21",
        "16:38",
        "17:04",
    ]
    assert page.entries[2].published == datetime(2020, 9, 27, 14, 27, tzinfo=UTC)
    assert page.entries[2].title == "GOAL! Rovers 1-0 Athletic (Daly, 26)"
    assert "GOAL!" not in page.entries[2].content_html  # the heading became the headline
    assert page.entries[1].title == "We\u2019re under way at the Embankment."
    assert all(e.notes == () for e in page.entries)
    everything = " ".join(e.content_html for e in page.entries)
    for dropped in ("Key events", "newsletter", "widgets.js", "guardianLike", "Fixtures"):
        assert dropped not in everything


def test_text_fallback_with_relative_labels() -> None:
    page = fixture("text-relative-outage")
    assert [e.published.strftime("%H:%M:%S") for e in page.entries] == [
        "12:30:00",
        "13:30:00",
        "14:30:00",
        "15:18:00",
        "15:30:00",
    ]
    assert page.entries[3].notes == (
        "'12m ago' was read against the fetch time (2020-09-27T15:30Z)",
    )
    assert page.entries[3].title == "Payments working again for most users"


def test_text_fallback_keeps_headers_inside_articles_and_drops_page_chrome() -> None:
    page = extract_html(
        "<header><p>10:00 GMT \u2013 Chrome</p></header><nav><p>10:05 GMT \u2013 Nav</p></nav>"
        "<article><header><h1>The article title</h1></header>"
        "<p>10:10 GMT \u2013 Kept</p><p>Body.</p>"
        "<footer><p>Article footer note</p></footer></article>"
        "<footer><p>10:20 GMT \u2013 Footer</p></footer>"
    )
    assert page.title == "The article title"
    assert [e.title for e in page.entries] == ["Kept"]
    assert "Article footer note" in page.entries[0].content_html


def test_text_fallback_headings_join_only_a_bare_stamp_line_above_them() -> None:
    page = extract_html(
        "<h1>Page title for the test</h1>"
        "<p>3.27pm BST</p><h2>The headline</h2><p>First paragraph of the update.</p>"
        "<h3>A subheading inside the update</h3><p>More text.</p>",
        zone="Europe/London",
    )
    (entry,) = page.entries
    assert entry.title == "The headline"
    assert page.title == "Page title for the test"
    assert "The headline" not in entry.content_html
    assert "<p>A subheading inside the update</p>" in entry.content_html


def test_text_fallback_lists_become_bullets() -> None:
    page = extract_html(
        "<p>Page title for the test</p><p>10:10 GMT \u2013 Head</p>"
        "<ul><li>One</li><li>Two</li></ul>"
    )
    assert page.entries[0].content_html == "<ul><li>One</li><li>Two</li></ul>"


def test_text_fallback_without_stamps_raises_with_every_reason() -> None:
    broken = '<script type="application/ld+json">{oops}</script>'
    with pytest.raises(ExtractError) as raised:
        extract_html(f"<html><head>{broken}</head><body><p>No times here.</p></body></html>")
    message = str(raised.value)
    assert "no timestamped update line" in message
    assert "no JSON-LD live blog" in message
    assert "JSON-LD block 1 is not valid JSON" in message


# --- rule 4: sanitising -------------------------------------------------------------------


UNSAFE = re.compile(
    r"<(?:script|style|iframe|noscript|object|embed)\b|<[^>]*\s(?:on\w+|style)\s*=|javascript:",
    re.IGNORECASE,
)
NOT_ABSOLUTE = re.compile(r'\s(?:src|href)="(?!https?://)')


def assert_safe(page: Page) -> None:
    """No scripts, styles, frames, handlers or javascript: URLs; every link absolute."""
    for entry in page.entries:
        assert UNSAFE.search(entry.content_html) is None, entry.title
        assert NOT_ABSOLUTE.search(entry.content_html) is None, entry.title


def test_selectors_page_with_unsafe_markup_is_sanitised() -> None:
    page = fixture("unsafe-selectors-floods")
    assert_safe(page)
    rescue = page.entries[-1]
    assert '<img src="https://keralanow.example/images/2020/09/kuttanad-boats.jpg"' in (
        rescue.content_html
    )
    assert rescue.link == "https://keralanow.example/news/kerala-floods-live/#e3"
    assert rescue.id is None  # a javascript: "permalink" is no permalink
    schools = page.entries[1].content_html
    assert 'href="https://keralanow.example/news/notices/school-closure.pdf"' in schools
    assert "Full order" in schools and "Helpline: 1077" in schools


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_fixture_is_safe(name: str) -> None:
    assert_safe(fixture(name))


# --- decoding ---------------------------------------------------------------------------


def test_iso_8859_1_is_read_as_windows_1252() -> None:
    page = fixture("charset-cp1252-hurricane")
    assert page.author == "Carla Benn\u00e9"
    assert "Delia\u2019s" in page.entries[0].title
    assert "\u201cuntil the water goes down\u201d" in page.entries[0].content_html
    assert page.notes == ()


STAMPED = "<p>Page title for the test</p><p>10:00 GMT \u2013 Caf\u00e9 news</p><p>Body.</p>"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xef\xbb\xbf" + STAMPED.encode(), None),
        (b"\xff\xfe" + STAMPED.encode("utf-16-le"), None),
        (b"\xfe\xff" + STAMPED.encode("utf-16-be"), None),
        (b'<meta charset="windows-1252">' + STAMPED.encode("cp1252"), None),
        (STAMPED.encode("cp1252"), "text/html; charset=ISO-8859-1"),
        (b'<meta charset="utf-8">' + STAMPED.encode("cp1252"), "text/html; charset=cp1252"),
    ],
)
def test_decoding_by_bom_header_and_meta(body: bytes, content_type: str | None) -> None:
    page = extract(body, context(content_type=content_type))
    assert page.entries[0].title == "Caf\u00e9 news"
    assert page.notes == ()


def test_invalid_utf8_is_replaced_with_a_note() -> None:
    page = extract(STAMPED.encode() + b"<p>\xff</p>", context())
    assert page.notes == (
        "the page is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
    )


def test_unknown_charset_is_noted_and_utf8_used() -> None:
    page = extract(b'<meta charset="klingon">' + STAMPED.encode(), context())
    assert page.entries[0].title == "Caf\u00e9 news"
    assert page.notes == ("the declared charset 'klingon' is unknown; UTF-8 was used",)


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_bytes_raise(body: bytes) -> None:
    with pytest.raises(ExtractError, match="holds no HTML"):
        extract(body, context())


def test_extraction_is_pure() -> None:
    case = BY_NAME["selectors-newyear"]
    assert extract(case.body, case.context()) == extract(case.body, case.context())
