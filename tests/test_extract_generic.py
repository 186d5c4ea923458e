"""One test per rule of the generic live-blog reading (`extract.blocks`, `stamps`,
`microdata`) and of the precedence between readings (`liveblog_html`).

Pages here are small and invented, each built to show one rule; the real
pages in tests/fixtures/realpages score the whole (tests/test_realpages.py).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregator.core.errors import NoUpdates
from aggregator.core.model import ExtractContext, Page
from aggregator.ingest.extract import detect_format
from aggregator.ingest.extract.liveblog_html import extract
from aggregator.ingest.extract.stamps import attribute_instant, day_heading, printed_stamp
from aggregator.ingest.extract.times import Ago, Stamp

PAGE_URL = "https://news.example/live/story"
FETCHED = datetime(2024, 7, 18, 12, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def ctx(zone: str = "Europe/London", **overrides: Any) -> ExtractContext:
    values: dict[str, Any] = {
        "source": "test",
        "page_url": PAGE_URL,
        "fetched_at": FETCHED,
        "timezone": ZoneInfo(zone),
    }
    values.update(overrides)
    return ExtractContext(**values)


def read(body: str, zone: str = "Europe/London", **overrides: Any) -> Page:
    page = f"<!doctype html><html><head><title>Live</title></head><body>{body}</body></html>"
    return extract(page.encode(), ctx(zone, **overrides))


def minutes(page: Page) -> list[str]:
    return sorted(f"{entry.published:%Y-%m-%dT%H:%M}" for entry in page.entries)


# --- printed stamps ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hour", "minute", "label"),
    [
        ("14:05", 14, 5, None),
        ("2:05pm", 14, 5, None),
        ("2.05 p.m. ET", 14, 5, "ET"),
        ("14.05 Uhr", 14, 5, None),
        ("14h05", 14, 5, None),
        ("21:06 (IST)", 21, 6, "IST"),
        ("14:05 BST", 14, 5, "BST"),
        ("Updated at 14:05", 14, 5, None),
        ("10 p.m.", 22, 0, None),
        ("12:30am", 0, 30, None),
    ],
)
def test_printed_stamps_in_the_forms_newsrooms_use(
    text: str, hour: int, minute: int, label: str | None
) -> None:
    printed = printed_stamp(text)
    assert printed is not None
    assert printed.when == Stamp(hour, minute, label)


@pytest.mark.parametrize("text", ["5 mins ago", "2h ago", "just now"])
def test_relative_stamps_are_read_as_relative(text: str) -> None:
    printed = printed_stamp(text)
    assert printed is not None and isinstance(printed.when, Ago)
    assert printed.shape == "relative"


@pytest.mark.parametrize(
    "text",
    [
        "57:33",  # a match clock
        "45+2'",  # stoppage time
        "7.612,52 points",  # an index level
        "12.5% of voters",
        "2024-07-18",
        "1692003712",  # an epoch printed as text
        "Updated 10:01 pm PST, Tuesday, November 19, 2019",  # the page's edit stamp
        "5:00PM GMT 31 Dec 2014",  # a byline date
        "14 August 2023",
        "25:10",
    ],
)
def test_what_is_not_an_update_stamp(text: str) -> None:
    assert printed_stamp(text) is None


def test_a_headline_after_the_stamp_is_split_off() -> None:
    assert printed_stamp("11.04 Uhr: Drohne trifft Auto").headline == "Drohne trifft Auto"  # type: ignore[union-attr]
    assert printed_stamp("9h05 - La Bourse ouvre").headline == "La Bourse ouvre"  # type: ignore[union-attr]
    assert printed_stamp("17.00 We are leaving").headline is None  # type: ignore[union-attr]


def test_a_word_in_capitals_after_a_stamp_is_not_a_zone() -> None:
    printed = printed_stamp("14.05 US stocks open higher")
    assert printed is not None and printed.when == Stamp(14, 5, None)


# --- attribute times --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("datetime", "2024-07-18T09:04:00Z", datetime(2024, 7, 18, 9, 4, tzinfo=UTC)),
        ("data-published-at", "1721293440", datetime(2024, 7, 18, 9, 4, tzinfo=UTC)),
        ("data-published-at", "1721293440.5123", datetime(2024, 7, 18, 9, 4, 0, 512300, UTC)),
        ("data-time", "1721293440000", datetime(2024, 7, 18, 9, 4, tzinfo=UTC)),
        ("title", "2024-07-18T10:04:00+01:00", datetime(2024, 7, 18, 9, 4, tzinfo=UTC)),
    ],
)
def test_attribute_times(name: str, value: str, expected: datetime) -> None:
    assert attribute_instant(name, value, LONDON, FETCHED) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("data-id", "1234567"),  # an id, not an epoch
        ("title", "1721293440"),  # a title is read only as ISO
        ("datetime", "2024-07-18"),  # a date is not an instant
        ("data-time", "2099-01-01T00:00:00Z"),  # after the fetch
        ("data-time", "0946684800"),  # 1999-12-31: fine
    ][:4],
)
def test_attribute_values_that_are_not_update_times(name: str, value: str) -> None:
    assert attribute_instant(name, value, LONDON, FETCHED) is None


# --- day headings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Donnerstag, 18. 7.", date(2024, 7, 18)),
        ("Tuesday 16 July", date(2024, 7, 16)),
        ("18 juillet 2024", date(2024, 7, 18)),
        ("July 18, 2024", date(2024, 7, 18)),
        ("2024-07-18", date(2024, 7, 18)),
        ("środa, 17 lipca", date(2024, 7, 17)),
        ("31 December", date(2023, 12, 31)),  # the latest such day not after the page
    ],
)
def test_day_headings(text: str, expected: date) -> None:
    assert day_heading(text, date(2024, 7, 18)) == expected


def test_a_long_line_mentioning_a_date_is_not_a_day_heading() -> None:
    assert day_heading("On 18 July 2024 the talks resumed in Doha", date(2024, 7, 18)) is None


# --- the series ---------------------------------------------------------------------


def _items(stamps: list[str], tag: str = "li") -> str:
    return "".join(
        f"<{tag}><time datetime='{stamp}'>x</time><h3>Update {n}</h3>"
        f"<p>Body of update number {n}.</p></{tag}>"
        for n, stamp in enumerate(stamps)
    )


def test_time_elements_in_sibling_items_are_the_updates() -> None:
    page = read(f"<ul>{_items(['2024-07-18T09:00:00Z', '2024-07-18T08:00:00Z'])}</ul>")
    assert page.strategy == "generic"
    assert minutes(page) == ["2024-07-18T08:00", "2024-07-18T09:00"]
    assert [entry.title for entry in page.entries] == ["Update 1", "Update 0"]
    assert "Body of update number 1." in page.entries[0].content_html
    assert "<time" not in page.entries[0].content_html


def test_data_epochs_are_read_when_nothing_else_states_a_time() -> None:
    items = "".join(
        f"<div data-published='{epoch}'><p>Update {n} text here.</p></div>"
        for n, epoch in enumerate([1721293200, 1721289600])
    )
    assert minutes(read(items)) == ["2024-07-18T08:00", "2024-07-18T09:00"]


def test_a_datetime_attribute_beats_a_creation_time_in_data() -> None:
    """The element that shows the time wins over data-sort-time (a scheduled post)."""
    items = "".join(
        f"<div data-sort-time='{1721260000000}'><time datetime='{shown}'>x</time>"
        f"<p>Update {n} text here.</p></div>"
        for n, shown in enumerate(["2024-07-18T09:00:00Z", "2024-07-18T08:00:00Z"])
    )
    assert minutes(read(items)) == ["2024-07-18T08:00", "2024-07-18T09:00"]


def test_printed_stamps_opening_paragraphs_split_the_page() -> None:
    body = (
        "<div><p><strong>11.30 </strong>Third update.</p><p>More of the third.</p>"
        "<p><strong>10.15 </strong>Second update.</p>"
        "<p><strong>09.05 </strong>First update, quoting 8.20 a.m. inside.</p></div>"
    )
    page = read(body, day=date(2024, 7, 18))
    assert minutes(page) == ["2024-07-18T08:05", "2024-07-18T09:15", "2024-07-18T10:30"]
    newest = page.entries[-1]
    assert "More of the third." in newest.content_html
    assert newest.title == "Third update."


def test_a_bare_clock_needs_three_blocks() -> None:
    body = "<div><p><b>11.30 </b>One.</p><p><b>10.15 </b>Two.</p></div>"
    with pytest.raises(NoUpdates):
        read(body, day=date(2024, 7, 18))


def test_day_headings_date_the_stamps_below_them() -> None:
    body = (
        "<article><h2>Donnerstag, 18. 7.</h2><h5>11.04 Uhr: Neueste Meldung</h5><p>Text.</p>"
        "<h2>Mittwoch, 17. 7.</h2><h5>15.32 Uhr: Ältere Meldung</h5><p>Text.</p>"
        "<h5>1.10 Uhr: Nachts</h5><p>Text.</p></article>"
        "<time datetime='2024-07-18T09:08:27Z'>18.07.2024</time>"
    )
    page = read(body, "Europe/Zurich")
    assert minutes(page) == ["2024-07-16T23:10", "2024-07-17T13:32", "2024-07-18T09:04"]
    assert {entry.title for entry in page.entries} >= {"Neueste Meldung", "Nachts"}


def test_page_metadata_dates_printed_stamps_and_midnight_is_found_from_order() -> None:
    body = (
        "<div><p><b>00.04 </b>After midnight.</p><p><b>23.46 </b>Late.</p>"
        "<p><b>23.45 </b>Later still.</p></div>"
    )
    meta = "<meta property='article:modified_time' content='2024-07-18T00:30:00+01:00'>"
    page = read(meta + body)
    assert minutes(page) == ["2024-07-17T22:45", "2024-07-17T22:46", "2024-07-17T23:04"]


def test_oldest_first_pages_are_detected() -> None:
    body = (
        "<div><p><b>09.00 </b>First.</p><p><b>10.00 </b>Second.</p><p><b>11.00 </b>Third.</p></div>"
    )
    page = read(body, "UTC", day=date(2024, 7, 18))
    assert [entry.title for entry in page.entries] == ["First.", "Second.", "Third."]


def test_relative_stamps_are_anchored_on_the_fetch_and_noted() -> None:
    body = (
        "<ul><li><span>5 mins ago</span> Newest item text.</li>"
        "<li><span>2h ago</span> Older item text.</li></ul>"
    )
    page = read(body)
    assert minutes(page) == ["2024-07-18T10:00", "2024-07-18T11:55"]
    assert all("fetch time" in " ".join(entry.notes) for entry in page.entries)


def test_relative_lists_lose_to_absolute_stamps() -> None:
    """A latest-articles list stamped "x ago" is not the live blog beside it."""
    latest = "".join(f"<li><span>{n} hours ago</span> Article {n}</li>" for n in range(1, 8))
    live = _items(["2024-07-18T09:00:00Z", "2024-07-18T08:00:00Z"], "div")
    page = read(f"<ul>{latest}</ul><section>{live}</section>")
    assert minutes(page) == ["2024-07-18T08:00", "2024-07-18T09:00"]


def test_a_key_events_summary_is_not_read_as_updates() -> None:
    summary = "".join(
        f"<li><a href='#post-{n}'><time datetime='2024-07-18T0{n}:00:00Z'>x</time> Key {n}</a></li>"
        for n in range(1, 5)
    )
    posts = "".join(
        f"<div id='post-{n}'><time datetime='2024-07-18T0{n}:00:00Z'>x</time>"
        f"<h3>Post {n}</h3><p>Full text of post {n}.</p></div>"
        for n in range(1, 4)
    )
    page = read(f"<ul>{summary}</ul><main>{posts}</main>")
    assert [entry.title for entry in page.entries] == ["Post 1", "Post 2", "Post 3"]
    assert page.entries[0].id == f"{PAGE_URL}#post-1"


def test_header_nav_and_footer_series_are_chrome() -> None:
    chrome = _items(["2024-07-18T07:00:00Z", "2024-07-18T06:00:00Z", "2024-07-18T05:00:00Z"])
    live = _items(["2024-07-18T09:00:00Z", "2024-07-18T08:00:00Z"], "div")
    page = read(
        f"<nav><ul>{chrome}</ul></nav><footer><ul>{chrome}</ul></footer><main>{live}</main>"
    )
    assert minutes(page) == ["2024-07-18T08:00", "2024-07-18T09:00"]


def test_a_sidebar_feed_is_read_only_when_the_page_has_no_other() -> None:
    side = _items(["2024-07-18T07:00:00Z", "2024-07-18T06:00:00Z", "2024-07-18T05:00:00Z"])
    live = _items(["2024-07-18T09:00:00Z", "2024-07-18T08:00:00Z"], "div")
    assert len(read(f"<main>{live}</main><aside><ul>{side}</ul></aside>").entries) == 2
    assert len(read(f"<main><p>An article.</p></main><aside><ul>{side}</ul></aside>").entries) == 3


def test_a_separator_ends_an_update() -> None:
    body = (
        "<div><p>10 p.m.</p><p>Newest text.</p><p>___</p><p>Not part of it.</p>"
        "<p>4:14 p.m.</p><p>Older text.</p></div>"
    )
    page = read(body, "America/Los_Angeles", day=date(2019, 11, 19))
    newest = page.entries[-1]
    assert "Newest text." in newest.content_html and "Not part" not in newest.content_html


def test_permalink_and_author_of_a_block() -> None:
    items = "".join(
        f"<li><a href='/live/story/entry-{n}'><time datetime='2024-07-18T0{n}:00:00Z'>x</time></a>"
        f"<span class='post-author'>By Ana Ruiz</span><p>Update {n} text.</p></li>"
        for n in (8, 9)
    )
    page = read(f"<ul>{items}</ul>")
    assert page.entries[0].id == "https://news.example/live/story/entry-8"
    assert page.entries[0].link == "https://news.example/live/story/entry-8"
    assert page.entries[0].author == "Ana Ruiz"


def test_a_printed_time_disagreeing_with_its_attribute_takes_the_day_only() -> None:
    items = "".join(
        f"<li data-published-at='{epoch}'><span>{shown}</span> Update text {n}.</li>"
        for n, (epoch, shown) in enumerate([(1721293200, "11:30"), (1721289600, "10:00")])
    )
    page = read(f"<ul>{items}</ul>")
    assert minutes(page) == ["2024-07-18T09:00", "2024-07-18T10:30"]
    assert any("the time shown was used" in " ".join(entry.notes) for entry in page.entries)


# --- microdata -------------------------------------------------------------------------


def test_microdata_updates_are_read_before_the_generic_blocks() -> None:
    items = "".join(
        f"<div itemprop='liveBlogUpdate' itemscope itemtype='https://schema.org/BlogPosting'>"
        f"<meta itemprop='datePublished' content='2024-07-18T0{n}:00:00Z'>"
        f"<h3 itemprop='headline'>Micro {n}</h3><div itemprop='articleBody'><p>Body {n}.</p></div>"
        f"<a itemprop='url' href='#u{n}'>link</a></div>"
        for n in (8, 9)
    )
    page = read(f"<div itemscope itemtype='https://schema.org/LiveBlogPosting'>{items}</div>")
    assert page.strategy == "microdata"
    assert [entry.title for entry in page.entries] == ["Micro 8", "Micro 9"]
    assert page.entries[0].id == f"{PAGE_URL}#u8"


def test_an_article_marked_up_as_microdata_is_not_a_live_blog() -> None:
    article = (
        "<article itemscope itemtype='https://schema.org/NewsArticle'>"
        "<meta itemprop='datePublished' content='2024-07-18T06:00:00Z'><p>Article.</p></article>"
    )
    live = _items(["2024-07-18T09:00:00Z", "2024-07-18T08:00:00Z"], "div")
    assert read(article + live).strategy == "generic"


# --- precedence and merging ----------------------------------------------------------


def _json_ld(updates: list[dict[str, str]]) -> str:
    blog = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": "Live",
        "liveBlogUpdate": [{"@type": "BlogPosting", **update} for update in updates],
    }
    return f"<script type='application/ld+json'>{json.dumps(blog)}</script>"


def test_json_ld_and_html_are_merged_by_identity_never_doubled() -> None:
    """JSON-LD lists the newest update only; the HTML shows two: three would be a double."""
    ld = _json_ld(
        [
            {
                "headline": "Second",
                "url": f"{PAGE_URL}#post-2",
                "datePublished": "2024-07-18T09:00:00Z",
                "articleBody": "Second text, long enough to be recognised by its words.",
            }
        ]
    )
    posts = "".join(
        f"<div id='post-{n}'><a href='#post-{n}'><time datetime='2024-07-18T0{7 + n}:00:00Z'>"
        f"x</time></a><h3>{title}</h3><p>{title} text, long enough to be recognised by its words."
        f"</p></div>"
        for n, title in ((2, "Second"), (1, "First"))
    )
    page = read(ld + posts)
    assert page.strategy == "json-ld"
    assert [entry.title for entry in page.entries] == ["First", "Second"]
    assert any("not in its JSON-LD" in note for note in page.notes)


def test_the_time_the_page_shows_wins_over_json_ld_creation_time() -> None:
    body = "Scheduled update text, long enough to be recognised by its words."
    ld = _json_ld([{"headline": "A", "datePublished": "2024-07-18T04:20:00Z", "articleBody": body}])
    posts = "".join(
        f"<div><time datetime='{shown}'>x</time><h3>{title}</h3><p>{text}</p></div>"
        for shown, title, text in (
            ("2024-07-18T09:01:00Z", "A", body),
            ("2024-07-18T08:01:00Z", "B", "Another update with quite different words in it."),
        )
    )
    page = read(ld + posts)
    first = next(entry for entry in page.entries if entry.title == "A")
    assert first.published == datetime(2024, 7, 18, 9, 1, tzinfo=UTC)
    assert any("the time shown was used" in note for note in first.notes)


def test_configured_selectors_come_before_the_generic_reading() -> None:
    body = (
        "<div class='post'><time datetime='2024-07-18T09:00:00Z'>x</time><p>Chosen.</p></div>"
        + _items(["2024-07-18T07:00:00Z", "2024-07-18T06:00:00Z", "2024-07-18T05:00:00Z"], "div")
    )
    page = read(body, selectors={"update": "div.post"})
    assert page.strategy == "selectors"
    assert minutes(page) == ["2024-07-18T09:00"]


def test_a_page_without_updates_says_what_was_looked_for() -> None:
    with pytest.raises(NoUpdates, match="no repeated timestamped blocks"):
        read("<main><h1>An article</h1><p>Nothing stamped here at all.</p></main>")


def test_leading_comments_do_not_hide_an_html_page() -> None:
    body = b"<!--[if IE ]>\n<!doctype html>\n<![endif]-->\n<!DOCTYPE html PUBLIC '-//W3C'>\n<html>"
    assert detect_format(body + b" " * 5000) == "liveblog-html"


def test_future_tolerance_is_kept() -> None:
    """An update stamped after the fetch is not taken as news from the future."""
    items = _items([(FETCHED + timedelta(hours=2)).isoformat(), "2024-07-18T08:00:00+00:00"])
    with pytest.raises(NoUpdates):
        read(f"<ul>{items}</ul>")


def test_a_newest_update_wrapped_apart_joins_the_run_beside_it() -> None:
    """ "Latest" above the newest update puts it in a container of its own."""
    body = (
        "<div><div class='top'><h3>Latest</h3><p><b>12.00 </b>Newest, set apart.</p></div>"
        "<div class='rest'><p><b>11.30 </b>Third.</p><p><b>10.15 </b>Second.</p>"
        "<p><b>09.05 </b>First.</p></div></div>"
    )
    page = read(body, "UTC", day=date(2024, 7, 18))
    assert [entry.title for entry in page.entries] == [
        "First.",
        "Second.",
        "Third.",
        "Newest, set apart.",
    ]


def test_an_update_that_is_only_an_embed_is_titled_by_its_fallback_text() -> None:
    body = (
        "<div><p><b>11.30 </b>Third.</p><p><b>10.15 </b></p>"
        "<p><iframe src='https://embed.example/1'>&lt;noframe&gt;Tweet: the mayor speaks"
        "&lt;/noframe&gt;</iframe></p><p><b>09.05 </b>First.</p></div>"
    )
    page = read(body, "UTC", day=date(2024, 7, 18))
    middle = page.entries[1]
    assert middle.title == "Tweet: the mayor speaks"
    assert "the mayor speaks" in middle.content_html and "<iframe" not in middle.content_html


def test_timestamped_blocks_unrelated_to_the_json_ld_are_left_out() -> None:
    """A list of other articles with times is not the live blog the JSON-LD describes."""
    ld = _json_ld(
        [
            {
                "headline": f"Live {n}",
                "datePublished": f"2024-07-18T0{n}:00:00Z",
                "articleBody": f"Live update {n} with words of its own, long enough to match.",
            }
            for n in (7, 8)
        ]
    )
    others = "".join(
        f"<li><time datetime='2024-07-1{n}T10:00:00Z'>x</time><p>Other article {n} teaser "
        "with a different text altogether.</p></li>"
        for n in range(1, 5)
    )
    page = read(f"{ld}<ul>{others}</ul>")
    assert [entry.title for entry in page.entries] == ["Live 7", "Live 8"]
    assert any("were left out" in note for note in page.notes)


def test_a_printed_time_never_overrides_a_json_ld_instant() -> None:
    """A printed "10.01" rests on the configured zone; the JSON-LD states the instant."""
    texts = [f"Update {n} with words of its own, long enough to be matched here." for n in (1, 2)]
    ld = _json_ld(
        [
            {"headline": "One", "datePublished": "2024-07-10T09:01:00Z", "articleBody": texts[0]},
            {"headline": "Two", "datePublished": "2024-07-10T08:00:00Z", "articleBody": texts[1]},
        ]
    )
    html = (
        f"<div><p><b>10.01 </b>{texts[0]}</p><p><b>09.00 </b>{texts[1]}</p>"
        f"<p><b>08.00 </b>Update 0, only on the page, with words of its own.</p></div>"
    )
    page = read(ld + html, "Europe/London")
    one = next(entry for entry in page.entries if entry.title == "One")
    assert one.published == datetime(2024, 7, 10, 9, 1, tzinfo=UTC)
    assert len(page.entries) == 3


@pytest.mark.parametrize(
    "named", ["class='comments'", "id='related-articles'", "class='promo box'"]
)
def test_series_that_the_page_names_comments_related_or_promotion_are_not_updates(
    named: str,
) -> None:
    furniture = _items([f"2024-07-18T0{n}:00:00Z" for n in range(1, 6)])
    live = _items(["2024-07-18T09:00:00Z", "2024-07-18T08:00:00Z"], "div")
    page = read(f"<main>{live}</main><div {named}><ul>{furniture}</ul></div>")
    assert minutes(page) == ["2024-07-18T08:00", "2024-07-18T09:00"]


def test_characters_xml_forbids_never_leave_the_page() -> None:
    """The tree is parsed from the page's own bytes; what it yields is made XML-legal."""
    items = "".join(
        f"<li><time datetime='2024-07-18T0{n}:00:00Z'>x</time><h3>Up\x01date {n}\x0b</h3>"
        f"<p>Body\x00 of {n} \ufffe.</p></li>"
        for n in (8, 9)
    )
    page = read(f"<ul>{items}</ul>")
    forbidden = {chr(c) for c in (0, 1, 0x0B)} | {"\ufffe"}
    for entry in page.entries:
        assert not forbidden & set(entry.title + entry.content_html + " ".join(entry.notes))
    assert [entry.title for entry in page.entries] == ["Update 8", "Update 9"]


def test_bytes_that_are_not_utf8_are_still_decoded_as_before() -> None:
    """libxml2 reports them, and the page is read through Python's decoding instead."""
    html_ = (
        b"<html><body><ul>"
        b"<li><time datetime='2024-07-18T08:00:00Z'>x</time><h3>Caf\xe9 8</h3></li>"
        b"<li><time datetime='2024-07-18T09:00:00Z'>x</time><h3>Caf\xe9 9</h3></li>"
        b"</ul></body></html>"
    )
    page = extract(html_, ctx())
    assert [entry.title for entry in page.entries] == ["Caf\u00e9 8", "Caf\u00e9 9"]
    assert any("windows-1252" in note for note in page.notes)
