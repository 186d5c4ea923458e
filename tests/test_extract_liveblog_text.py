"""Golden and behavioural tests for the plain-text live-blog extractor.

The goldens pin every field of every entry for the two seed pages. To
regenerate them after a deliberate change, run with AGGREGATOR_UPDATE_GOLDEN=1
and read the diff of tests/golden/liveblog_text/ before committing it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregator.core.errors import NoUpdates
from aggregator.core.model import ExtractContext, ExtractedEntry, Page
from aggregator.ingest.extract import liveblog_text
from aggregator.ingest.extract.liveblog_text import (
    extract,
    parse_stamp_line,
    time_keys,
    title_from_lines,
    update_link,
)
from aggregator.ingest.extract.times import Ago, Stamp
from tests.support import EXTRACT_DAY, extract_context

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLDEN = Path(__file__).resolve().parent / "golden" / "liveblog_text"
PAGE_URL = "https://example.org/live"

AJ = "aljazeera-armenia-azerbaijan-2020-09-27"
DK = "dailyknight-azerbaijan-invasion-2020-09-27"
SEED_ZONES = {AJ: "UTC", DK: "America/New_York"}


def context(zone: str = "UTC", **overrides: Any) -> ExtractContext:
    return extract_context(PAGE_URL, zone, **overrides)


def seed_bytes(name: str) -> bytes:
    return (SEEDS / f"{name}.txt").read_bytes()


def extract_seed(name: str, **overrides: Any) -> Page:
    return extract(seed_bytes(name), context(SEED_ZONES[name], **overrides))


def extract_text(text: str, zone: str = "UTC", **overrides: Any) -> Page:
    return extract(text.encode("utf-8"), context(zone, **overrides))


def updates(page: Page) -> list[ExtractedEntry]:
    return [entry for entry in page.entries if entry.key != "lead"]


def as_json(page: Page) -> dict[str, Any]:
    return {
        "page": {"title": page.title, "author": page.author, "notes": list(page.notes)},
        "entries": [
            {
                "key": entry.key,
                "title": entry.title,
                "published": entry.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated": entry.updated,
                "author": entry.author,
                "link": entry.link,
                "content_html": entry.content_html,
                "notes": list(entry.notes),
            }
            for entry in page.entries
        ],
    }


# --- golden files -------------------------------------------------------------


@pytest.mark.parametrize("name", [AJ, DK])
def test_matches_golden(name: str) -> None:
    actual = as_json(extract_seed(name))
    path = GOLDEN / f"{name}.expected.json"
    if os.environ.get("AGGREGATOR_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(actual, ensure_ascii=False, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected


# --- Al Jazeera seed ------------------------------------------------------------


def test_aljazeera_has_forty_updates_from_0839_to_1950_gmt() -> None:
    page = extract_seed(AJ)
    entries = updates(page)
    assert len(page.entries) == len(entries) == 40
    assert entries[0].published == datetime(2020, 9, 27, 8, 39, tzinfo=UTC)
    assert entries[-1].published == datetime(2020, 9, 27, 19, 50, tzinfo=UTC)
    assert [e.published for e in entries] == sorted(e.published for e in entries)
    assert all(e.published.date() == EXTRACT_DAY for e in entries)


def test_aljazeera_page_metadata_and_no_lead() -> None:
    page = extract_seed(AJ)
    assert page.title == "Armenia-Azerbaijan clashes: Live news"
    assert page.author is None
    assert page.notes == ()
    assert all(entry.key != "lead" for entry in page.entries)


def test_aljazeera_newest_update_time_key_and_link() -> None:
    newest = extract_seed(AJ).entries[-1]
    assert newest.title == "US urges immediate halt to violence"
    assert newest.published.isoformat() == "2020-09-27T19:50:00+00:00"
    assert newest.key == "20200927T195000Z-0"
    assert newest.link == f"{PAGE_URL}#update-20200927T195000Z-0"
    assert newest.updated is None
    assert newest.notes == ()


def test_aljazeera_captions_are_figcaptions_not_paragraphs() -> None:
    by_title = {e.title: e for e in extract_seed(AJ).entries}
    guterres = by_title["UN chief calls for immediate end to fighting"].content_html
    assert "<figcaption>United Nations Secretary-General" in guterres
    assert "[Mike Segar/Reuters]</figcaption></figure>" in guterres
    assert "<p>United Nations Secretary-General" not in guterres
    pashinyan = by_title["Pashinyan: \u2018Get ready to defend our sacred homeland\u2019"]
    assert "martial law[File: Reuters]</figcaption>" in pashinyan.content_html
    html = "".join(e.content_html for e in extract_seed(AJ).entries)
    assert html.count("<figure>") == 13


def test_aljazeera_bracketed_words_inside_paragraphs_are_not_captions() -> None:
    by_title = {e.title: e for e in extract_seed(AJ).entries}
    nato = by_title["NATO urges immediate end to clashes"].content_html
    assert "<p>\u201cThe parties should resume negotiations" in nato
    assert "[OSCE] Minsk Group.\u201d</p>" in nato


def test_aljazeera_handover_lines_are_in_no_body() -> None:
    for entry in extract_seed(AJ).entries:
        assert "Hello" not in entry.content_html
        assert "taking over" not in entry.content_html
        assert "Umut Uras" not in entry.content_html


def test_aljazeera_editors_credited_from_handover_lines() -> None:
    entries = updates(extract_seed(AJ))
    split = datetime(2020, 9, 27, 13, 0, tzinfo=UTC)
    assert {e.author for e in entries if e.published < split} == {"Umut Uras"}
    assert {e.author for e in entries if e.published > split} == {"Mersiha Gadzo"}
    by_time = {e.published.strftime("%H:%M"): e.author for e in entries}
    assert by_time["08:39"] == by_time["12:55"] == "Umut Uras"
    assert by_time["13:15"] == by_time["19:50"] == "Mersiha Gadzo"


def test_aljazeera_titles_non_empty_and_distinct() -> None:
    titles = [entry.title for entry in extract_seed(AJ).entries]
    assert all(title.strip() for title in titles)
    assert len(set(titles)) == len(titles)


def test_aljazeera_content_is_paragraphs_with_escaped_text() -> None:
    for entry in extract_seed(AJ).entries:
        assert entry.content_html.startswith("<p>")
        assert "\u00a0" not in entry.content_html
        assert "  " not in entry.content_html


# --- Daily Knight seed ----------------------------------------------------------


def test_dailyknight_has_lead_and_five_updates() -> None:
    page = extract_seed(DK)
    assert page.entries[0].key == "lead"
    assert len(page.entries) == 6
    assert len(updates(page)) == 5
    assert page.title == "Live Updates: Azerbaijan launches invasion against Armenia"
    assert page.author == "Justin Haggerty"


def test_dailyknight_lead() -> None:
    lead = extract_seed(DK).entries[0]
    assert lead.title == "Live Updates: Azerbaijan launches invasion against Armenia"
    assert lead.author == "Justin Haggerty"
    assert lead.link == PAGE_URL
    assert lead.published == datetime(2020, 9, 27, 4, 0, tzinfo=UTC)
    assert lead.content_html.startswith("<ul><li>Azerbaijan awakens military tensions")
    assert lead.content_html.count("<li>") == 4
    assert "<p>YEREVAN, ARMENIA - Reuters reports" in lead.content_html
    assert "top of page" not in lead.content_html
    assert "The Daily Knight" not in lead.content_html
    assert len(lead.notes) == 1
    assert "no time for the lead" in lead.notes[0]
    assert "2020-09-27" in lead.notes[0]


def test_dailyknight_lead_time_ignores_fetched_at() -> None:
    early = extract_seed(DK).entries[0]
    late = extract_seed(DK, fetched_at=datetime(2021, 3, 1, 12, 0, tzinfo=UTC)).entries[0]
    assert early.published == late.published == datetime(2020, 9, 27, 4, 0, tzinfo=UTC)
    assert early.key == late.key == "lead"


def test_lead_uses_configured_start_when_given() -> None:
    start = datetime(2020, 9, 27, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    lead = extract_seed(DK, start=start).entries[0]
    assert lead.published == datetime(2020, 9, 27, 13, 30, tzinfo=UTC)
    assert "configured start" in lead.notes[0]


def test_lead_without_day_or_start_uses_oldest_update() -> None:
    page = extract_seed(DK, day=None)
    lead, oldest = page.entries[0], page.entries[1]
    assert lead.published == oldest.published
    assert "oldest update" in lead.notes[0]


def test_dailyknight_est_label_resolved_as_edt_with_note() -> None:
    first = updates(extract_seed(DK))[0]
    assert first.published.isoformat() == "2020-09-27T18:52:00+00:00"
    assert first.key == "20200927T185200Z-0"
    assert first.notes == (
        "label 'EST' contradicts America/New_York, which was on EDT at 2020-09-27 14:52; "
        "the zone was used",
    )


def test_dailyknight_last_update_and_order() -> None:
    entries = updates(extract_seed(DK))
    assert [e.published.strftime("%H:%M") for e in entries] == [
        "18:52",
        "19:03",
        "21:46",
        "22:24",
        "23:09",
    ]
    assert entries[-1].published == datetime(2020, 9, 27, 23, 9, tzinfo=UTC)


def test_dailyknight_headline_less_titles_come_from_first_sentence() -> None:
    titles = [e.title for e in updates(extract_seed(DK))]
    assert titles[1] == (
        "The Azerbaijani Armed Forces tried to capture Mount Mrav, but the attempt was repulsed."
    )
    assert titles[4].endswith("\u2026")
    assert all(len(title) <= 120 for title in titles)
    assert all(e.author == "Justin Haggerty" for e in updates(extract_seed(DK)))


# --- synthetic pages ------------------------------------------------------------

HEADER = "Example live page for tests\n\n"


# A page showing updates after midnight was necessarily fetched after them.
AFTER_MIDNIGHT = datetime(2020, 9, 28, 6, 0, tzinfo=UTC)


def test_newest_first_page_crossing_midnight_gets_next_day() -> None:
    page = extract_text(
        HEADER
        + "00:20 GMT \u2013 Third\n\nThird body.\n\n"
        + "23:50 GMT \u2013 Second\n\nSecond body.\n\n"
        + "23:10 GMT \u2013 First\n\nFirst body.\n",
        fetched_at=AFTER_MIDNIGHT,
    )
    assert [(e.title, e.published.isoformat()) for e in page.entries] == [
        ("First", "2020-09-27T23:10:00+00:00"),
        ("Second", "2020-09-27T23:50:00+00:00"),
        ("Third", "2020-09-28T00:20:00+00:00"),
    ]


def test_oldest_first_page_crossing_midnight_gets_next_day() -> None:
    page = extract_text(
        HEADER
        + "Update 11:20pm EDT\n\nOpening body text here.\n\n"
        + "Update 11:40pm EDT\n\nFirst body text here.\n\n"
        + "Update 11:55pm EDT\n\nSecond body text here.\n\n"
        + "Update 12:10am EDT\n\nThird body text here.\n",
        zone="America/New_York",
        fetched_at=AFTER_MIDNIGHT,
    )
    assert [e.published.isoformat() for e in page.entries] == [
        "2020-09-28T03:20:00+00:00",
        "2020-09-28T03:40:00+00:00",
        "2020-09-28T03:55:00+00:00",
        "2020-09-28T04:10:00+00:00",
    ]
    assert all(e.notes == () for e in page.entries)


def test_same_minute_updates_get_ordinals_oldest_first() -> None:
    page = extract_text(
        HEADER
        + "14:05 GMT \u2013 Later\n\nBody.\n\n"
        + "14:05 GMT \u2013 Earlier\n\nBody.\n\n"
        + "13:00 GMT \u2013 Opening\n\nBody.\n"
    )
    assert [(e.key, e.title) for e in page.entries] == [
        ("20200927T130000Z-0", "Opening"),
        ("20200927T140500Z-0", "Earlier"),
        ("20200927T140500Z-1", "Later"),
    ]


def _with_new_top_update(headline_line: str) -> bytes:
    text = seed_bytes(AJ).decode("utf-8")
    marker = "Here are the latest updates:\n\n"
    assert marker in text
    return text.replace(marker, f"{marker}{headline_line}\n\nA brand new update.\n\n").encode()


@pytest.mark.parametrize("stamp", ["20:15 GMT \u2013 Something new", "19:50 GMT - Same minute"])
def test_new_update_on_top_leaves_existing_keys_unchanged(stamp: str) -> None:
    before = {e.key: e.title for e in extract_seed(AJ).entries}
    after_page = extract(_with_new_top_update(stamp), context())
    after = {e.key: e.title for e in after_page.entries}
    assert len(after) == len(before) + 1
    assert before.items() <= after.items()
    assert after_page.entries[-1].title == stamp.split(" ", 3)[3]


def test_dash_variants_and_spacing_in_stamp_lines() -> None:
    page = extract_text(
        HEADER
        + "09:30\u00a0GMT\u00a0\u2014\u00a0Em dash\n\nBody.\n\n"
        + "09:20 GMT  -  Hyphen\n\nBody.\n\n"
        + "09:10 GMT \u00a0\u2013  En dash\n\nBody.\n"
    )
    assert [e.title for e in page.entries] == ["En dash", "Hyphen", "Em dash"]


@pytest.mark.parametrize(
    ("line", "zone", "expected"),
    [
        ("Update 3.27pm BST", "Europe/London", "2020-09-27T14:27:00+00:00"),
        ("Update 12:05 p.m. EDT", "America/New_York", "2020-09-27T16:05:00+00:00"),
        ("Update 12:05am EDT", "America/New_York", "2020-09-27T04:05:00+00:00"),
        ("Update 9:15 AM EDT", "America/New_York", "2020-09-27T13:15:00+00:00"),
        ("UPDATED: 9:15 AM ET", "America/New_York", "2020-09-27T13:15:00+00:00"),
    ],
)
def test_update_stamp_styles(line: str, zone: str, expected: str) -> None:
    page = extract_text(f"{HEADER}{line}\n\nSomething happened in the region today.\n", zone)
    (entry,) = page.entries
    assert entry.published.isoformat() == expected
    assert entry.notes == ()


def test_lines_that_only_look_like_times_are_body_text() -> None:
    page = extract_text(
        HEADER
        + "10:00 GMT \u2013 Real update\n\n"
        + "25:61 GMT \u2013 not a time\n\n"
        + "13:00 GMT without a dash is prose\n\n"
        + "Update 13:30pm EDT\n"
    )
    (entry,) = page.entries
    assert entry.content_html.count("<p>") == 3


def test_caption_detection() -> None:
    page = extract_text(
        HEADER
        + "10:00 GMT \u2013 Captions\n\n"
        + "A photo of something [Jane Doe/AP Photo]\n\n"
        + "Another photo[File: Reuters]\n\n"
        + "He said the [OSCE] Minsk Group would meet.\n\n"
        + "\u201cWe will meet the [OSCE] group,\u201d\n\n"
        + "Officials met at the [sic] headquarters [in the capital]\n"
    )
    html = page.entries[0].content_html
    assert html.count("<figcaption>") == 2
    assert "<figcaption>A photo of something [Jane Doe/AP Photo]</figcaption>" in html
    assert "<figcaption>Another photo[File: Reuters]</figcaption>" in html
    assert html.count("<p>") == 3


def test_headline_less_title_first_sentence_rules() -> None:
    long_sentence = "word " * 40
    page = extract_text(
        HEADER
        + "Update 1:00pm EDT\n\n"
        + "U.S. officials said on Sunday that talks would resume. More later.\n\n"
        + "Update 1:10pm EDT\n\n"
        + "Officials said the talks would resume on Monday. Another sentence follows here.\n\n"
        + f"Update 1:20pm EDT\n\n{long_sentence.strip()}.\n\n"
        + "Update 1:30pm EDT\n",
        zone="America/New_York",
    )
    titles = [e.title for e in page.entries]
    assert titles[0] == "U.S. officials said on Sunday that talks would resume. More later."
    assert titles[1] == "Officials said the talks would resume on Monday."
    assert len(titles[2]) <= 120
    assert titles[2].endswith("word\u2026")
    assert titles[3] == "Update 1:30pm EDT"


def test_handover_credits_following_updates_on_oldest_first_page() -> None:
    page = extract_text(
        "Hello and welcome to our coverage. I\u2019m Ann Smith in London.\n\n"
        + "Update 9:00am BST\n\nFirst body text.\n\n"
        + "Hello, this is Bob Jones taking over from my colleague Ann Smith.\n\n"
        + "Update 10:00am BST\n\nSecond body text.\n",
        zone="Europe/London",
        author="Configured Author",
    )
    assert [e.author for e in page.entries] == ["Ann Smith", "Bob Jones"]
    assert all("Hello" not in e.content_html for e in page.entries)


def test_updates_without_editor_or_byline_get_configured_author() -> None:
    page = extract_text(HEADER + "10:00 GMT \u2013 Headline\n\nBody.\n", author="Desk")
    assert page.entries[0].author == "Desk"


def test_no_timestamp_line_raises() -> None:
    with pytest.raises(NoUpdates, match="no timestamped update line"):
        extract_text("Just a page\n\nWith some text but no updates at all.\n")


def test_a_lead_story_without_updates_yet_is_the_first_entry() -> None:
    story = "Title of a live page that has only just opened\n\n" + "".join(
        f"Paragraph {n} of the lead story, which the page gives no time.\n\n" for n in range(4)
    )
    page = extract(story.encode(), context())
    assert [e.key for e in page.entries] == ["lead"]
    assert page.entries[0].published == datetime(2020, 9, 27, tzinfo=UTC)
    assert "no timestamped update yet" in page.notes[-1]
    # Without a configured date nothing dates the lead, so it is still an error.
    with pytest.raises(NoUpdates, match="no timestamped update line"):
        extract(story.encode(), context(day=None))


def test_bom_is_stripped_and_invalid_utf8_is_noted() -> None:
    bom = b"\xef\xbb\xbf"
    clean = extract(bom + (HEADER + "10:00 GMT \u2013 Head\n\nBody.\n").encode(), context())
    assert clean.title == "Example live page for tests"
    assert clean.notes == ()
    stamp_line = "10:00 GMT \u2013 Caf\u00e9 news\n\nBody ".encode()
    broken = extract(bom + HEADER.encode() + stamp_line + b"\xff.\n", context())
    assert broken.entries[0].title == "Caf\u00e9 news"
    assert "<p>Body \ufffd.</p>" in broken.entries[0].content_html
    assert broken.notes == (
        "the page is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
    )


def test_without_configured_day_the_fetch_time_decides_and_is_noted() -> None:
    page = extract_seed(AJ, day=None, fetched_at=datetime(2020, 9, 27, 21, 0, tzinfo=UTC))
    assert page.entries[-1].published == datetime(2020, 9, 27, 19, 50, tzinfo=UTC)
    assert all(
        e.notes == ("the day (2020-09-27) was inferred from the fetch time",) for e in page.entries
    )


# --- shared with the HTML extractor: stamp lines, titles, identity ------------------


@pytest.mark.parametrize(
    ("line", "stamp", "headline"),
    [
        ("3.27pm BST", Stamp(15, 27, "BST"), None),
        ("19:50 GMT", Stamp(19, 50, "GMT"), None),
        ("11.05am", Stamp(11, 5, None), None),
        ("19:50 GMT \u2013 Headline", Stamp(19, 50, "GMT"), "Headline"),
        ("Update 2:52pm EST", Stamp(14, 52, "EST"), None),
        ("12m ago", Ago(timedelta(minutes=12), "12m ago"), None),
        ("2h ago \u2013 Headline", Ago(timedelta(hours=2), "2h ago"), "Headline"),
        ("Updated 1 hour ago", Ago(timedelta(hours=1), "1 hour ago"), None),
        ("just now", Ago(timedelta(0), "just now"), None),
    ],
)
def test_stamp_line_forms(line: str, stamp: Stamp | Ago, headline: str | None) -> None:
    parsed = parse_stamp_line(line)
    assert parsed is not None
    assert (parsed.stamp, parsed.headline, parsed.text) == (stamp, headline, line)


@pytest.mark.parametrize("line", ["10:30", "10.30", "in 12m ago", "2 weeks ago", "just now."])
def test_lines_that_are_not_stamp_lines(line: str) -> None:
    assert parse_stamp_line(line) is None


def test_a_bare_clock_time_is_a_stamp_only_when_known_to_be_alone() -> None:
    parsed = parse_stamp_line("14:52", alone=True)
    assert parsed is not None and parsed.stamp == Stamp(14, 52, None)
    assert parse_stamp_line("25:00", alone=True) is None


def test_bare_stamp_lines_split_a_page() -> None:
    page = liveblog_text.extract_text(
        HEADER
        + "4.38pm BST\n\nOkafor curls it into the far corner from the left.\n\n"
        + "3.27pm BST\n\nDaly meets a low cross at the near post.\n",
        context("Europe/London"),
    )
    assert [(e.published.strftime("%H:%M"), e.title) for e in page.entries] == [
        ("14:27", "Daly meets a low cross at the near post."),
        ("15:38", "Okafor curls it into the far corner from the left."),
    ]


def test_relative_label_page_uses_the_fetch_time() -> None:
    page = liveblog_text.extract_text(
        HEADER
        + "just now \u2013 Newest\n\nBody.\n\n"
        + "12m ago \u2013 Older\n\nBody.\n\n"
        + "2h ago\n\nThe oldest of the three updates on this page.\n",
        context(fetched_at=datetime(2020, 9, 27, 15, 30, 40, tzinfo=UTC)),
    )
    assert [(e.key, e.title) for e in page.entries] == [
        ("20200927T133000Z-0", "The oldest of the three updates on this page."),
        ("20200927T151800Z-0", "Older"),
        ("20200927T153000Z-0", "Newest"),
    ]
    assert page.entries[1].notes == (
        "'12m ago' was read against the fetch time (2020-09-27T15:30Z)",
    )


def test_extract_text_is_extract_without_decoding() -> None:
    text = seed_bytes(AJ).decode("utf-8")
    assert liveblog_text.extract_text(text, context()) == extract_seed(AJ)
    assert liveblog_text.extract_text(text, context(), ("a note",)).notes == ("a note",)


def test_time_keys_count_equal_seconds_oldest_first() -> None:
    instants = [
        datetime(2020, 9, 27, 10, 0, 0, 100000, tzinfo=UTC),
        datetime(2020, 9, 27, 12, 0, 0, 900000, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2020, 9, 27, 10, 0, 1, tzinfo=UTC),
    ]
    assert time_keys(instants) == ["20200927T100000Z-0", "20200927T100000Z-1", "20200927T100001Z-0"]
    assert update_link(PAGE_URL, "k") == f"{PAGE_URL}#update-k"


def test_title_from_lines_skips_bylines_captions_and_bullets() -> None:
    lines = [
        "By Ann Lee | Desk",
        "A photo of the scene [Jane Doe/AP Photo]",
        "\u2022 A bullet point line",
        "Officials said the talks would resume on Monday. Another sentence follows here.",
    ]
    assert title_from_lines(lines) == "Officials said the talks would resume on Monday."
    assert title_from_lines(lines[:3]) is None


def test_updates_dated_after_the_fetch_are_skipped_with_a_reason() -> None:
    """A wrong configured day puts stamps in the future; taking the fetch time
    instead would give the update a new key on every poll, so it is skipped."""
    page = extract_text(
        HEADER
        + "09:00 GMT \u2013 Later\n\nLater body.\n\n"
        + "08:00 GMT \u2013 Earlier\n\nEarlier body.\n",
        fetched_at=datetime(2020, 9, 27, 8, 30, tzinfo=UTC),
    )
    assert [e.title for e in updates(page)] == ["Earlier"]
    assert any("'Later'" in n and "rejected as implausible" in n for n in page.notes)
    with pytest.raises(NoUpdates, match="dated in the future"):
        extract_text(
            HEADER + "09:00 GMT \u2013 Later\n\nBody.\n",
            fetched_at=datetime(2020, 9, 26, tzinfo=UTC),
        )


def test_rendered_lines_need_no_sanitiser() -> None:
    """render_lines skips nh3 because its output would be the same bytes; keep it so."""
    from aggregator.ingest.extract.liveblog_text import normalised_lines, render_lines
    from aggregator.ingest.extract.sanitize import sanitize_html

    hostile = (
        '<script>alert("x")</script> & <b onclick=x>bold</b> \u00a0 \u202eRTL\u202c 👩🏽‍🚒\n'
        "\u2022 a bullet with <iframe src=x>\n"
        "Protesters in the capital [Reuters/Someone]\n"
        "caf\u00e9 &amp; \"quotes\" 'single' > < \x01\x0b control\n"
    )
    lines = [line for line in normalised_lines(hostile) if line]
    rendered = render_lines(lines)
    assert rendered == sanitize_html(rendered, "https://example.org/live")
    assert "<script" not in rendered and "&lt;script&gt;" in rendered
