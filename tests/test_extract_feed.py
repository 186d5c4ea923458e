"""Golden and behavioural tests for the feed extractor (RSS, Atom, JSON Feed).

The goldens under tests/fixtures/feeds/ pin every field of every entry of
hand-written feeds in each format. The tests below them restate each rule of
`aggregator.extract.feed` on small inline feeds, so that a wrong golden cannot
hide a broken rule. To regenerate the goldens after a deliberate change, run
with AGGREGATOR_UPDATE_GOLDEN=1 and read every changed expected file.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext, ExtractedEntry, Page
from aggregator.ingest.extract.feed import extract
from tests.golden import GoldenCase, cases, check_golden

GOLDEN = cases("feeds")
PAGE_URL = "https://news.example.com/feeds/world.xml"
FETCHED_AT = datetime(2024, 10, 16, 16, 0, tzinfo=UTC)
RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
    "<channel><title>World desk</title><link>https://news.example.com/world/</link>\n"
)
ATOM_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
    "<title>World desk</title><id>urn:example:world</id><updated>2024-10-16T10:00:00Z</updated>\n"
)
NO_DATE = "no date in the feed; first-seen time used"
KEY_FROM_TITLE = (
    "the entry has no id or link, so its identity depends on its title and published time: "
    "a changed title will look like a new entry"
)


def context(**overrides: Any) -> ExtractContext:
    base = ExtractContext(
        source="test", page_url=PAGE_URL, fetched_at=FETCHED_AT, timezone=ZoneInfo("UTC")
    )
    return replace(base, **overrides)


def rss(items: str, channel: str = "", **overrides: Any) -> Page:
    body = f"{RSS_HEAD}{channel}{items}</channel></rss>"
    return extract(body.encode("utf-8"), context(**overrides))


def rss_item(item: str, **overrides: Any) -> ExtractedEntry:
    (entry,) = rss(f"<item>{item}</item>", **overrides).entries
    return entry


def atom(entries: str, head: str = "", **overrides: Any) -> Page:
    body = f"{ATOM_HEAD}{head}{entries}</feed>"
    return extract(body.encode("utf-8"), context(**overrides))


def atom_entry(entry: str, **overrides: Any) -> ExtractedEntry:
    (only,) = atom(f"<entry>{entry}</entry>", **overrides).entries
    return only


def json_feed(items: list[Any], version: str = "1.1", **top: Any) -> Page:
    document = {"version": f"https://jsonfeed.org/version/{version}", "title": "Desk", **top}
    document["items"] = items
    return extract(json.dumps(document).encode("utf-8"), context())


def json_item(**fields: Any) -> ExtractedEntry:
    (entry,) = json_feed([{"id": "urn:example:1", **fields}]).entries
    return entry


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def golden_pages() -> list[Page]:
    return [extract(case.body, case.context()) for case in GOLDEN]


# --- golden files -------------------------------------------------------------


@pytest.mark.parametrize("case", GOLDEN, ids=[case.input.name for case in GOLDEN])
def test_matches_golden(case: GoldenCase) -> None:
    assert case.format == "feed"
    check_golden(case, extract(case.body, case.context()))


def test_goldens_cover_every_xml_format_feedparser_knows() -> None:
    versions = {
        feedparser.parse(io.BytesIO(case.body)).version
        for case in GOLDEN
        if case.input.suffix != ".json"
    }
    assert {"rss091n", "rss10", "rss20", "atom03", "atom10"} <= versions
    json_versions = {json.loads(c.body)["version"] for c in GOLDEN if c.input.suffix == ".json"}
    assert json_versions == {"https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"}
    assert len(GOLDEN) >= 8


def test_golden_output_has_no_active_content_and_no_relative_urls() -> None:
    for page in golden_pages():
        for entry in page.entries:
            html = entry.content_html.lower()
            for banned in ("<script", "<iframe", "onclick", "onerror", "javascript:"):
                assert banned not in html, (entry.key, banned)
            for url in re.findall(r'(?:href|src)="([^"]*)"', entry.content_html):
                assert url.startswith(("https://", "http://")), (entry.key, url)
            assert entry.link is None or entry.link.startswith(("https://", "http://"))


def test_golden_entries_are_oldest_first() -> None:
    for page in golden_pages():
        order = [(entry.published, entry.key) for entry in page.entries]
        assert order == sorted(order)


def test_extract_does_no_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the extractor tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for case in GOLDEN:
        check_golden(case, extract(case.body, case.context()))


def test_body_that_names_a_file_is_not_read(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(f"{RSS_HEAD}<item><title>Secret</title></item></channel></rss>".encode())
    with pytest.raises(ExtractError, match="not a feed"):
        extract(str(feed).encode(), context())


# --- identity -----------------------------------------------------------------


def test_own_ids_are_kept_verbatim_and_used_as_keys() -> None:
    guid = rss_item('<title>A</title><guid isPermaLink="false">urn:uuid:1F2E-aa</guid>')
    atom_id = atom_entry("<id>tag:News.example.com,2024:/a?b=1&amp;c=%2F</id><title>A</title>")
    numeric = json_feed([{"id": 4711, "title": "A"}]).entries[0]
    assert (guid.id, guid.key) == ("urn:uuid:1F2E-aa", "urn:uuid:1F2E-aa")
    assert atom_id.id == atom_id.key == "tag:News.example.com,2024:/a?b=1&c=%2F"
    assert (numeric.id, numeric.key) == ("4711", "4711")


def test_relative_guid_is_not_resolved_against_the_page_url() -> None:
    entry = rss_item("<title>A</title><guid>12345</guid>")
    assert entry.id == entry.key == "12345"
    assert entry.link is None


def test_permalink_guid_is_the_link_when_the_item_has_none() -> None:
    entry = rss_item("<title>A</title><guid>https://news.example.com/a</guid>")
    assert entry.link == entry.id == "https://news.example.com/a"


def test_rdf_about_is_the_id_of_an_rss10_item() -> None:
    case = next(c for c in GOLDEN if c.input.name.startswith("rss10-"))
    entries = extract(case.body, case.context()).entries
    assert all(e.id is not None and e.id == e.link for e in entries)


def test_without_id_the_absolute_link_is_the_key() -> None:
    entry = rss_item("<title>A</title><link>/world/a.html</link>")
    assert entry.id is None
    assert entry.key == entry.link == "https://news.example.com/world/a.html"
    assert entry.notes == ("no date in the feed; first-seen time used",)


def test_without_id_or_link_the_key_hashes_title_and_published_time() -> None:
    item = "<title> Storm   warning </title><pubDate>Wed, 16 Oct 2024 09:00:00 GMT</pubDate>"
    entry = rss_item(item)
    assert entry.id is None and entry.link is None
    assert entry.key == sha256("Storm warning\n2024-10-16T09:00:00+00:00")
    assert entry.notes == (KEY_FROM_TITLE,)
    assert rss_item(item, fetched_at=FETCHED_AT + timedelta(days=3)).key == entry.key
    assert rss_item(item.replace("Storm", "Gale")).key != entry.key


def test_hashed_key_of_an_undated_entry_ignores_the_fetch_time() -> None:
    first = rss_item("<title>Notice</title>")
    later = rss_item("<title>Notice</title>", fetched_at=FETCHED_AT + timedelta(hours=5))
    assert first.key == later.key == sha256("Notice\n")
    assert first.published == FETCHED_AT
    assert later.published == FETCHED_AT + timedelta(hours=5)
    assert first.notes == (NO_DATE, KEY_FROM_TITLE)


def test_keys_over_400_characters_are_hashed_ids_stay_verbatim() -> None:
    long_id = "urn:example:" + "x" * 389
    at_limit = "urn:example:" + "x" * 388
    assert len(long_id) == 401 and len(at_limit) == 400
    entry = rss_item(f'<title>A</title><guid isPermaLink="false">{long_id}</guid>')
    assert entry.id == long_id
    assert entry.key == sha256(long_id)
    kept = rss_item(f'<title>A</title><guid isPermaLink="false">{at_limit}</guid>')
    assert kept.key == at_limit


def test_blank_id_counts_as_no_id() -> None:
    entry = rss_item('<title>A</title><guid isPermaLink="false">  </guid><link>/a</link>')
    assert entry.id is None
    assert entry.key == "https://news.example.com/a"


# --- times --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Tue, 15 Oct 2024 17:20:00 EDT", datetime(2024, 10, 15, 21, 20, tzinfo=UTC)),
        ("Tue, 15 Oct 2024 17:20:00 PST", datetime(2024, 10, 16, 1, 20, tzinfo=UTC)),
        ("Tue, 15 Oct 2024 10:45:00 -0500", datetime(2024, 10, 15, 15, 45, tzinfo=UTC)),
        ("Tue, 15 Oct 2024 10:45:00 +0530", datetime(2024, 10, 15, 5, 15, tzinfo=UTC)),
        ("Tue, 15 Oct 2024 10:45:00 GMT", datetime(2024, 10, 15, 10, 45, tzinfo=UTC)),
    ],
)
def test_rss_dates_with_offsets_and_known_zone_names(pub_date: str, expected: datetime) -> None:
    entry = rss_item(f"<title>A</title><link>/a</link><pubDate>{pub_date}</pubDate>")
    assert entry.published == expected
    assert entry.published.tzinfo is UTC
    assert entry.notes == ()


@pytest.mark.parametrize(
    ("pub_date", "read_as", "note"),
    [
        (
            "Tue, 15 Oct 2024 17:20:00 BST",
            datetime(2024, 10, 15, 17, 20, tzinfo=UTC),
            "published 'Tue, 15 Oct 2024 17:20:00 BST' names a zone feedparser does not know "
            "(BST); it was read as UTC",
        ),
        (
            "15 Oct 2024 17:20:00",
            datetime(2024, 10, 15, 17, 20, tzinfo=UTC),
            "published '15 Oct 2024 17:20:00' has no time zone; it was read as UTC",
        ),
        (
            "Tue, 15 Oct 2024",
            datetime(2024, 10, 15, tzinfo=UTC),
            "published 'Tue, 15 Oct 2024' has no time of day; it was read as 00:00 UTC",
        ),
    ],
)
def test_zones_feedparser_assumes_are_noted(pub_date: str, read_as: datetime, note: str) -> None:
    entry = rss_item(f"<title>A</title><link>/a</link><pubDate>{pub_date}</pubDate>")
    assert entry.published == read_as
    assert entry.notes == (note,)


def test_unreadable_date_is_noted_and_the_fetch_time_used() -> None:
    # feedparser cannot read a day-named RFC 822 date that has no zone at all.
    entry = rss_item("<title>A</title><link>/a</link><pubDate>Tue, 15 Oct 2024 17:20:00</pubDate>")
    assert entry.published == FETCHED_AT
    assert entry.notes == ("published 'Tue, 15 Oct 2024 17:20:00' could not be read", NO_DATE)


def test_published_falls_back_to_updated_then_to_the_fetch_time() -> None:
    both = atom_entry(
        "<id>urn:a</id><title>A</title><published>2024-10-16T08:00:00+02:00</published>"
        "<updated>2024-10-16T09:30:00Z</updated>"
    )
    assert both.published == datetime(2024, 10, 16, 6, 0, tzinfo=UTC)
    assert both.updated == datetime(2024, 10, 16, 9, 30, tzinfo=UTC)
    only_updated = atom_entry("<id>urn:a</id><title>A</title><updated>2024-10-16T09:30Z</updated>")
    assert (
        only_updated.published == only_updated.updated == datetime(2024, 10, 16, 9, 30, tzinfo=UTC)
    )
    assert only_updated.notes == ()
    neither = atom_entry("<id>urn:a</id><title>A</title>")
    assert (neither.published, neither.updated, neither.notes) == (FETCHED_AT, None, (NO_DATE,))


def test_updated_is_none_when_the_feed_gives_only_a_published_time() -> None:
    # feedparser's entry.get("updated") would answer with the published time.
    entry = rss_item(
        "<title>A</title><link>/a</link><pubDate>Wed, 16 Oct 2024 09:00:00 GMT</pubDate>"
    )
    assert entry.updated is None
    atom_only = atom_entry("<id>urn:a</id><title>A</title><published>2024-10-16T08:00Z</published>")
    assert atom_only.updated is None


def test_rss10_dc_date_is_published_and_updated() -> None:
    case = next(c for c in GOLDEN if c.input.name.startswith("rss10-"))
    entry = extract(case.body, case.context()).entries[-1]
    assert entry.published == entry.updated == datetime(2024, 5, 14, 19, 40, tzinfo=UTC)


def test_times_more_than_15_minutes_ahead_are_replaced_by_the_fetch_time() -> None:
    ahead = FETCHED_AT + timedelta(minutes=16)
    near = FETCHED_AT + timedelta(minutes=14)

    def stamp(when: datetime) -> str:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    future = atom_entry(
        f"<id>urn:a</id><title>A</title><published>{stamp(ahead)}</published>"
        f"<updated>{stamp(ahead)}</updated>"
    )
    assert future.published == future.updated == FETCHED_AT
    assert future.notes == (
        "published 2024-10-16T16:16:00Z is after the fetch at 2024-10-16T16:00:00Z; "
        "rejected as implausible, fetch time used",
        "updated 2024-10-16T16:16:00Z is after the fetch at 2024-10-16T16:00:00Z; "
        "rejected as implausible, fetch time used",
    )
    close = atom_entry(f"<id>urn:a</id><title>A</title><published>{stamp(near)}</published>")
    assert (close.published, close.notes) == (near, ())


def test_future_time_does_not_move_the_hashed_key() -> None:
    item = "<title>Soon</title><pubDate>Fri, 18 Oct 2024 09:00:00 GMT</pubDate>"
    entry = rss_item(item)
    assert entry.published == FETCHED_AT
    assert entry.key == sha256("Soon\n2024-10-18T09:00:00+00:00")


def test_json_feed_dates() -> None:
    aware = json_item(title="A", date_published="2024-10-16T19:00:00+11:00")
    assert aware.published == datetime(2024, 10, 16, 8, 0, tzinfo=UTC)
    naive = json_item(title="A", date_published="2024-10-16T08:00:00")
    assert naive.published == datetime(2024, 10, 16, 8, 0, tzinfo=UTC)
    assert naive.notes == ("published '2024-10-16T08:00:00' has no time zone; it was read as UTC",)
    modified = json_item(title="A", date_modified="2024-10-16T09:00:00Z")
    assert modified.published == modified.updated == datetime(2024, 10, 16, 9, 0, tzinfo=UTC)
    broken = json_item(title="A", date_published="yesterday")
    assert broken.published == FETCHED_AT
    assert broken.notes == ("published 'yesterday' could not be read", NO_DATE)


# --- titles -------------------------------------------------------------------


def test_html_title_becomes_plain_text() -> None:
    entry = atom_entry(
        '<id>urn:a</id><title type="html">&lt;em&gt;Live:&lt;/em&gt;\n  fish &amp;amp;'
        " chips &amp;#8211; &lt;script&gt;alert(1)&lt;/script&gt;prices</title>"
    )
    assert entry.title == "Live: fish & chips \u2013 prices"


def test_xhtml_title_becomes_plain_text() -> None:
    entry = atom_entry(
        '<id>urn:a</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        "Gritters on <strong>all</strong>   roads</div></title>"
    )
    assert entry.title == "Gritters on all roads"


def test_text_title_keeps_angle_brackets_as_text() -> None:
    entry = atom_entry('<id>urn:a</id><title type="text">Rates &lt;b&gt; up\n again</title>')
    assert entry.title == "Rates <b> up again"


def test_untitled_entry_takes_the_first_sentence_of_its_text() -> None:
    entry = rss_item(
        "<guid>urn:a</guid><description>&lt;p&gt;The U.S. embassy reopened on Monday after"
        " a week. Staff returned at 9 a.m.&lt;/p&gt;&lt;p&gt;More later.&lt;/p&gt;</description>"
    )
    assert entry.title == "The U.S. embassy reopened on Monday after a week."
    assert entry.notes == (
        "no date in the feed; first-seen time used",
        "no title in the feed; the first sentence of the text was used",
    )


def test_long_first_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    sentence = "Officials " + "said the bridge would reopen " * 8 + "soon."
    entry = json_item(content_text=sentence)
    assert len(entry.title) <= 120
    assert entry.title.endswith(" would\u2026")
    assert sentence.startswith(entry.title.removesuffix("\u2026") + " ")


def test_entry_with_no_title_and_no_text_is_untitled() -> None:
    entry = rss_item('<guid>urn:a</guid><description>&lt;img src="/a.jpg"&gt;</description>')
    assert entry.title == "(untitled)"
    assert "no title and no text in the feed; '(untitled)' was used" in entry.notes


# --- content ------------------------------------------------------------------


def test_content_encoded_is_preferred_to_description() -> None:
    entry = rss_item(
        "<title>A</title><link>/a</link><description>Short.</description>"
        "<content:encoded><![CDATA[<p>Full <b>story</b>.</p>]]></content:encoded>"
    )
    assert entry.content_html == "<p>Full <b>story</b>.</p>"


def test_atom_content_is_preferred_to_summary_and_text_is_escaped_into_paragraphs() -> None:
    entry = atom_entry(
        "<id>urn:a</id><title>A</title><summary>Short.</summary>"
        '<content type="text">Line &lt;one&gt; &amp; more.\n\nSecond   paragraph.</content>'
    )
    assert entry.content_html == "<p>Line &lt;one&gt; &amp; more.</p><p>Second paragraph.</p>"
    summary_only = atom_entry(
        '<id>urn:a</id><title>A</title><summary type="text">a &lt; b</summary>'
    )
    assert summary_only.content_html == "<p>a &lt; b</p>"


def test_json_feed_content_html_then_content_text_then_summary() -> None:
    assert json_item(content_html="<p>H</p>", content_text="T", summary="S").content_html == (
        "<p>H</p>"
    )
    assert json_item(content_text="T <b>", summary="S").content_html == "<p>T &lt;b&gt;</p>"
    assert json_item(title="A", summary="S").content_html == "<p>S</p>"
    assert json_item(title="A").content_html == ""


def test_scripts_frames_and_handlers_are_removed() -> None:
    html = (
        '<p onclick="steal()">Hello <a href="javascript:steal()">there</a></p>'
        "<script>steal()</script><iframe src='https://ads.example/x'>Fallback words</iframe>"
        "<style>p{}</style>"
    )
    for entry in (
        rss_item(f"<title>A</title><link>/a</link><description><![CDATA[{html}]]></description>"),
        json_item(title="A", content_html=html),
    ):
        assert entry.content_html == '<p>Hello <a rel="noopener noreferrer">there</a></p>'


def test_xml_base_resolves_relative_links_and_images() -> None:
    entry = atom_entry(
        '<id>urn:a</id><title>A</title><link href="story"/>'
        '<content type="xhtml" xml:base="https://news.example.com/world/2024/">'
        '<div xmlns="http://www.w3.org/1999/xhtml"><a href="../maps/">map</a>'
        '<img src="img/a.jpg" alt=""/></div></content>'
    )
    assert 'href="https://news.example.com/world/maps/"' in entry.content_html
    assert 'src="https://news.example.com/world/2024/img/a.jpg"' in entry.content_html
    assert entry.link == "https://news.example.com/feeds/story"


def test_without_xml_base_relative_urls_resolve_against_the_entry_link() -> None:
    entry = rss_item(
        "<title>A</title><link>https://news.example.com/world/2024/10/a.html</link>"
        '<description><![CDATA[<a href="b.html">b</a><img src="/i.png">]]></description>'
    )
    assert 'href="https://news.example.com/world/2024/10/b.html"' in entry.content_html
    assert 'src="https://news.example.com/i.png"' in entry.content_html
    unlinked = rss_item(
        '<guid>urn:a</guid><title>A</title><description><![CDATA[<a href="b.html">b</a>]]>'
        "</description>"
    )
    assert 'href="https://news.example.com/feeds/b.html"' in unlinked.content_html


def test_json_feed_relative_urls_resolve_against_the_item_url() -> None:
    entry = json_item(title="A", url="/episodes/42/", content_html='<img src="cover.jpg">')
    assert entry.link == "https://news.example.com/episodes/42/"
    assert entry.content_html == '<img src="https://news.example.com/episodes/42/cover.jpg">'


# --- authors, categories, links ---------------------------------------------------


def test_several_authors_are_joined_and_email_only_authors_are_not_invented() -> None:
    entry = atom_entry(
        "<id>urn:a</id><title>A</title>"
        "<author><name>Ann Lee</name><email>ann@news.example.com</email></author>"
        "<author><email>desk@news.example.com</email></author>"
        "<author><name>Bo Chan</name></author><author><name>Ann Lee</name></author>"
    )
    assert entry.author == "Ann Lee, Bo Chan"


def test_rss_author_and_dc_creator_are_merged() -> None:
    entry = rss_item(
        "<title>A</title><link>/a</link><dc:creator>Sam Whitfield</dc:creator>"
        "<author>metro@news.example.com (Lena Ortiz)</author>"
    )
    assert entry.author == "Sam Whitfield, Lena Ortiz"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("desk@paper.example (Jo Roe)", "Jo Roe"),
        ("Jo Roe (jo@paper.museum)", "Jo Roe"),
        ("desk@paper.example", None),
        ("jo@paper.info (Jo)", "Jo"),
    ],
)
def test_names_feedparser_cuts_at_long_top_level_domains_are_re_read(
    raw: str, name: str | None
) -> None:
    page = rss(
        f"<item><title>A</title><link>/a</link><author>{raw}</author></item>",
        channel=f"<managingEditor>{raw}</managingEditor>",
    )
    assert page.author == name
    assert page.entries[0].author == name


def test_author_falls_back_to_feed_then_configured_author() -> None:
    page = atom(
        "<entry><id>urn:a</id><title>A</title></entry>"
        "<entry><id>urn:b</id><title>B</title><author><name>Own</name></author></entry>",
        head="<author><name>Feed Desk</name></author>",
        author="Configured",
    )
    assert page.author == "Feed Desk"
    assert sorted(e.author or "" for e in page.entries) == ["Feed Desk", "Own"]
    bare = rss("<item><title>A</title><link>/a</link></item>", author="Configured")
    assert (bare.author, bare.entries[0].author) == (None, "Configured")
    nobody = rss("<item><title>A</title><link>/a</link></item>")
    assert nobody.entries[0].author is None


def test_json_feed_authors_1_1_and_author_1_0() -> None:
    eleven = json_feed(
        [{"id": "1", "title": "A"}, {"id": "2", "title": "B", "authors": [{"name": "Own"}]}],
        authors=[{"name": "Jo"}, {"name": "Rhys"}, {"url": "https://x.example/"}],
    )
    assert eleven.author == "Jo, Rhys"
    assert [e.author for e in eleven.entries] == ["Jo, Rhys", "Own"]
    one_oh = json_feed(
        [{"id": "1", "title": "A", "author": {"name": "Marta"}}],
        version="1",
        author={"name": "Coastal Office"},
    )
    assert (one_oh.author, one_oh.entries[0].author) == ("Coastal Office", "Marta")


def test_categories_are_terms_or_labels_deduplicated_in_order() -> None:
    entry = atom_entry(
        '<id>urn:a</id><title>A</title><category term="trams" label="Trams"/>'
        '<category label="Airport"/><category term="buses"/><category term="trams"/>'
    )
    assert entry.categories == ("trams", "Airport", "buses")
    rss_entry = rss_item(
        "<title>A</title><link>/a</link><category>City Hall</category>"
        "<category>Parks</category><category>City Hall</category>"
    )
    assert rss_entry.categories == ("City Hall", "Parks")
    assert json_item(title="A", tags=["b", "a", "b", 3]).categories == ("b", "a")


def test_link_is_the_alternate_link_made_absolute() -> None:
    entry = atom_entry(
        '<id>urn:a</id><title>A</title><link rel="enclosure" type="audio/mpeg" href="/a.mp3"/>'
        '<link rel="related" href="/other"/><link rel="alternate" href="/world/a"/>'
    )
    assert entry.link == "https://news.example.com/world/a"


def test_links_that_are_not_http_are_dropped() -> None:
    entry = rss_item("<title>A</title><guid>urn:a</guid><link>javascript:alert(1)</link>")
    assert entry.link is None
    assert json_item(title="A", url="mailto:desk@news.example.com").link is None


# --- page, errors -------------------------------------------------------------


def test_page_title_and_author_come_from_the_feed() -> None:
    page = atom(
        "<entry><id>urn:a</id><title>A</title></entry>",
        head="<author><name>World Desk</name></author>",
    )
    assert (page.title, page.author, page.notes) == ("World desk", "World Desk", ())


def test_broken_feed_with_entries_gets_a_page_note() -> None:
    page = rss("<item><title>Caf&eacute; opens</title><link>/a</link></item>")
    assert [e.title for e in page.entries] == ["Café opens"]
    assert page.notes == (
        "feedparser reported a problem (XML syntax error at line 4: undefined entity); "
        "the entries it recovered were used",
    )


def test_broken_feed_without_entries_raises_a_readable_error() -> None:
    body = b'<?xml version="1.0"?>\n<rss version="2.0">\n<channel><title>x</title>\n</rss>'
    with pytest.raises(ExtractError, match=r"^not a feed: XML syntax error at line 4: mismatched"):
        extract(body, context())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not a feed: the response body is empty"),
        (b"  \n", "not a feed: the response body is empty"),
        (b"<html><body><p>Hi</p></body></html>", "not a feed: no RSS, RDF or Atom root element"),
        (b'{"title": "x", "items": []}', "not a feed: JSON without a JSON Feed version"),
        (b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [}', "JSON syntax error"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}',
            "not a feed: the JSON Feed has no list of items",
        ),
    ],
)
def test_bodies_that_are_not_feeds_raise(body: bytes, reason: str) -> None:
    with pytest.raises(ExtractError, match=re.escape(reason)):
        extract(body, context())


def test_json_syntax_error_names_the_line() -> None:
    with pytest.raises(ExtractError, match=r"^not a feed: JSON syntax error at line 2: "):
        extract(b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [}', context())


def test_valid_feed_without_items_is_an_empty_page() -> None:
    page = rss("")
    assert (page.entries, page.title, page.notes) == ((), "World desk", ())
    assert json_feed([]).entries == ()


def test_json_items_that_are_not_objects_are_skipped_with_a_note() -> None:
    page = json_feed([{"id": "1", "title": "A"}, "junk", 3])
    assert [e.key for e in page.entries] == ["1"]
    assert page.notes == ("2 item(s) are not JSON objects and were skipped",)


def test_json_feed_in_a_legacy_charset_is_read_as_windows_1252_with_a_note() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1", "items": [{"id": "1", "title": "Caf\xe9"}]}'
    )
    page = extract(body, context())
    assert page.entries[0].title == "Caf\u00e9"
    assert page.notes == ("the feed declares no charset and is not UTF-8; read as windows-1252",)


def test_json_feed_with_a_stray_bad_byte_stays_utf8_with_a_note() -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1", "items": [{"id": "1", "title": "Caf\u00e9 '
    ).encode() + b'\xff"}]}'
    page = extract(body, context())
    assert page.entries[0].title == "Caf\u00e9 \ufffd"
    assert page.notes == (
        "the feed is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
    )


def test_feedparser_does_not_read_json_feed() -> None:
    case = next(c for c in GOLDEN if c.input.name.startswith("jsonfeed11-"))
    assert feedparser.parse(io.BytesIO(case.body)).entries == []
    assert len(extract(case.body, case.context()).entries) == 3


def test_content_type_charset_is_used_and_a_missing_type_is_not_a_problem() -> None:
    body = f"{RSS_HEAD.split(chr(10), 1)[1]}<item><title>Café</title><link>/a</link></item>"
    latin1 = (body + "</channel></rss>").encode("iso-8859-1")
    served = extract(latin1, context(content_type="application/rss+xml; charset=ISO-8859-1"))
    assert (served.entries[0].title, served.notes) == ("Café", ())
    utf8 = extract((body + "</channel></rss>").encode("utf-8"), context(content_type=None))
    assert (utf8.entries[0].title, utf8.notes) == ("Café", ())


def test_feedparser_is_told_the_charset_the_one_decoder_chose() -> None:
    """The XML declaration and a text/xml type without a charset no longer disagree."""
    body = f"{RSS_HEAD.split(chr(10), 1)[1]}<item><title>Caf\u00e9</title><link>/a</link></item>"
    utf8 = (RSS_HEAD.split(chr(10), 1)[0] + "\n" + body + "</channel></rss>").encode()
    served = extract(utf8, context(content_type="text/xml"))  # feedparser alone: us-ascii
    assert (served.entries[0].title, served.notes) == ("Caf\u00e9", ())
    declared = '<?xml version="1.0" encoding="windows-1252"?>\n' + body + "</channel></rss>"
    by_declaration = extract(declared.encode("cp1252"), context(content_type="text/xml"))
    assert (by_declaration.entries[0].title, by_declaration.notes) == ("Caf\u00e9", ())
    legacy = extract((body + "</channel></rss>").encode("cp1252"), context(content_type=None))
    assert (legacy.entries[0].title, legacy.notes) == (
        "Caf\u00e9",
        ("the feed declares no charset and is not UTF-8; read as windows-1252",),
    )


def test_xml_that_belies_its_charset_is_still_recovered_by_feedparser() -> None:
    """Declared UTF-8, written in windows-1252: feedparser's own fallback, noted as before."""
    body = f"{RSS_HEAD}<item><title>Caf\u00e9</title><link>/a</link></item></channel></rss>"
    page = extract(body.encode("cp1252"), context(content_type="application/rss+xml"))
    assert page.entries[0].title == "Caf\u00e9"
    assert page.notes == (
        "feedparser reported a problem (document declared as utf-8, but parsed as windows-1252);"
        " the entries it recovered were used",
    )


def test_entries_are_oldest_first_then_by_key() -> None:
    page = rss(
        "<item><title>B</title><link>/b</link><pubDate>Wed, 16 Oct 2024 09:00:00 GMT</pubDate>"
        "</item><item><title>C</title><link>/c</link>"
        "<pubDate>Wed, 16 Oct 2024 08:00:00 GMT</pubDate></item>"
        "<item><title>A</title><link>/a</link><pubDate>Wed, 16 Oct 2024 09:00:00 GMT</pubDate>"
        "</item>"
    )
    assert [e.title for e in page.entries] == ["C", "A", "B"]


def test_past_max_entries_only_the_newest_items_are_read() -> None:
    """Items are cut by their published time (else updated, else the fetch
    time), whatever their order in the document, before feedparser reads it."""
    dated = [
        ("c", "<published>2024-10-16T09:03:00Z</published>"),
        ("a", "<published>2024-10-16T09:01:00Z</published>"),
        ("none", ""),
        ("e", "<updated>2024-10-16T09:05:00Z</updated>"),
        ("b", "<published>2024-10-16T09:02:00Z</published><updated>2024-10-16T09:09:00Z</updated>"),
        ("d", "<published>2024-10-16T09:04:00Z</published>"),
    ]
    entries = "".join(
        f"<entry><id>urn:{name}</id><title>{name}</title>{when}</entry>" for name, when in dated
    )
    page = atom(entries, max_entries=3)
    assert [entry.title for entry in page.entries] == ["d", "e", "none"]
    assert page.notes == ("page holds 6 entries; the newest 3 kept",)


def test_past_max_entries_a_json_feed_keeps_its_newest_items() -> None:
    items = [
        {"id": f"urn:{n}", "title": f"T{n}", "date_published": f"2024-10-16T09:0{n}:00Z"}
        for n in (3, 1, 4, 2)
    ]
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "Desk", "items": items}
    page = extract(json.dumps(document).encode("utf-8"), context(max_entries=2))
    assert [entry.title for entry in page.entries] == ["T3", "T4"]
    assert page.notes == ("page holds 4 entries; the newest 2 kept",)


def test_content_nested_too_deep_is_flattened_with_a_note_on_the_entry() -> None:
    deep = "<div>" * 1_000 + "deep" + "</div>" * 1_000
    entry = rss_item(f"<title>A</title><description><![CDATA[{deep}]]></description>")
    assert entry.content_html.count("<div>") == 100 and "deep" in entry.content_html
    assert entry.notes[0].startswith("HTML nested more than 100 elements deep: the tags of 900")
