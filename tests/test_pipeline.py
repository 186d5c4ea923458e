"""The whole pipeline on the seed live blogs: real files, real SQLite, real feed.

Covers the log's behaviour across polls (nothing appended for unchanged
seeds, one revision per edited update) and the merged feed's shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import feedparser
import pytest
from lxml import etree

from aggregator.core.events import EntryRevised
from aggregator.publish.files import render_merged
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from tests.atom_checks import NS, atom_problems
from tests.conftest import Project
from tests.session import PipelineSession
from tests.support import AJ_SEED, DK_SEED, ManualClock


@pytest.fixture
def session(project: Project, clock: ManualClock) -> Iterator[PipelineSession]:
    live = PipelineSession(project.settings(), clock)
    yield live
    live.close()


def entry_events(records: list) -> list:  # type: ignore[type-arg]
    return [r for r in records if r.type.startswith("Entry")]


def test_seeds_make_a_merged_feed_of_46_entries_newest_first(session: PipelineSession) -> None:
    summaries = session.collect()
    assert [(s.source, s.added, s.error) for s in summaries] == [
        ("aljazeera", 40, None),
        ("dailyknight", 6, None),
    ]
    parsed = feedparser.parse(session.feed_file())
    assert len(parsed.entries) == 46
    published = [e.published_parsed for e in parsed.entries]
    assert published == sorted(published, reverse=True)
    assert parsed.entries[0].title.startswith("Officials and local media has confirmed")
    assert parsed.entries[-1].title == "Live Updates: Azerbaijan launches invasion against Armenia"
    assert len({e.id for e in parsed.entries}) == 46


def test_merged_feed_meets_rfc_4287_and_carries_every_entry_field(
    session: PipelineSession,
) -> None:
    session.collect()
    document = session.feed_file()
    assert atom_problems(document) == []
    root = etree.fromstring(document)
    self_link = root.xpath("a:link[@rel='self']/@href", namespaces=NS)
    assert self_link == ["http://127.0.0.1:8080/feed.atom"]
    entries = root.xpath("a:entry", namespaces=NS)
    assert len(entries) == 46
    for entry in entries:
        entry_id = entry.findtext("a:id", namespaces=NS)
        assert entry_id.startswith("tag:example.org,2020:test/")
        for field in ("a:published", "a:updated", "a:author/a:name", "a:title"):
            assert entry.findtext(field, namespaces=NS), (entry_id, field)
        assert entry.xpath("a:link[@rel='alternate']/@href", namespaces=NS), entry_id
        content = entry.find("a:content", namespaces=NS)
        assert content.get("type") == "html"
        assert "<script" not in content.text.lower()
        source_title = entry.findtext("a:source/a:title", namespaces=NS)
        assert source_title in ("Al Jazeera", "The Daily Knight")
        assert entry.findtext("a:source/a:id", namespaces=NS)
        assert entry.findtext("a:source/a:updated", namespaces=NS)


def test_an_entry_renders_the_same_bytes_as_its_source_grows(session: PipelineSession) -> None:
    """Feed readers compare an entry with what they stored: if its XML changed
    whenever a later update of the same source arrived (as an `atom:source`
    `updated` taken from the source's latest change did), every old entry
    would be reported modified at every poll."""

    def entries(document: bytes) -> dict[str, bytes]:
        root = etree.fromstring(document)
        return {
            entry.findtext("a:id", namespaces=NS): etree.tostring(entry, with_tail=False)
            for entry in root.xpath("a:entry", namespaces=NS)
        }

    session.collect()
    partial = MemoryReadModel()
    catch_up(session.store.log, partial, upto=20)
    before = entries(render_merged(session.settings, partial))
    after = entries(session.rendered())
    assert 0 < len(before) < len(after) == 46
    # An entry that joined a cross-outlet story since links to it, as it should;
    # the polls append in the order they finish, so which entries came first varies.
    unlinked = {e.entry_id for e in session.store.read_model.entries() if e.story is None}
    compared = {entry_id: bytes_ for entry_id, bytes_ in before.items() if entry_id in unlinked}
    assert compared
    assert {entry_id: after[entry_id] for entry_id in compared} == compared


def test_feed_updated_is_the_latest_entry_change_not_the_render_time(
    session: PipelineSession, clock: ManualClock
) -> None:
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    session.collect()
    root = etree.fromstring(session.feed_file())
    # 7:09pm Eastern (EDT) is the last update of the day.
    assert root.findtext("a:updated", namespaces=NS) == "2020-09-27T23:09:00Z"


def test_second_collect_over_unchanged_seeds_appends_no_entry_event(
    session: PipelineSession, project: Project, clock: ManualClock
) -> None:
    session.collect()
    head = session.store.log.head()
    clock.advance(minutes=5)
    summaries = session.collect()
    assert all(s.not_modified for s in summaries)
    later = session.events(after=head)
    assert [r.type for r in later] == ["SourceNotModified", "SourceNotModified"]
    # Bytes that differ only in white space are re-extracted, and still unchanged.
    path = project.seeds / AJ_SEED
    path.write_text(path.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    head = session.store.log.head()
    clock.advance(minutes=5)
    summaries = session.collect()
    assert (summaries[0].added, summaries[0].revised, summaries[0].unchanged) == (0, 0, 40)
    assert entry_events(session.events(after=head)) == []


def test_editing_seeds_appends_one_revision_per_changed_update(
    session: PipelineSession, project: Project, clock: ManualClock
) -> None:
    session.collect()
    head = session.store.log.head()
    aj, dk = project.seeds / AJ_SEED, project.seeds / DK_SEED
    aj_text = aj.read_text(encoding="utf-8")
    aj.write_text(
        aj_text.replace(
            "US urges immediate halt to violence", "US urges an immediate halt to violence"
        ),
        encoding="utf-8",
    )
    dk_text = dk.read_text(encoding="utf-8")
    edited = dk_text.replace(
        "Futhermore, Azerbaijani military", "Furthermore, Azerbaijani military"
    )
    edited = edited.replace(
        "according to the Artsakh Defense army (@Liveuamap via Twitter)\n",
        "according to the Artsakh Defense army (@Liveuamap via Twitter)\n\n"
        "Azerbaijan has not commented on the claim.\n",
    )
    assert edited != dk_text
    dk.write_text(edited, encoding="utf-8")
    second_poll = clock.advance(minutes=30)
    session.collect()

    revisions = [r.event() for r in entry_events(session.events(after=head))]
    assert all(isinstance(e, EntryRevised) for e in revisions)
    assert sorted((e.source, e.key, e.version) for e in revisions) == [
        ("aljazeera", "20200927T195000Z-0", 2),
        ("dailyknight", "20200927T190300Z-0", 2),
        ("dailyknight", "lead", 2),
    ]
    parsed = feedparser.parse(session.feed_file())
    assert len(parsed.entries) == 46
    assert len({e.id for e in parsed.entries}) == 46
    revised = {e.title: e for e in parsed.entries}["US urges an immediate halt to violence"]
    assert revised.updated == "2020-09-28T00:30:00Z" == second_poll.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert revised.published == "2020-09-27T19:50:00Z"
    assert parsed.feed.updated == "2020-09-28T00:30:00Z"
    assert atom_problems(session.feed_file()) == []


def test_a_failing_source_is_recorded_and_the_rest_still_collected(
    session: PipelineSession, project: Project, clock: ManualClock
) -> None:
    session.collect()
    before = session.events()
    (project.seeds / DK_SEED).unlink()
    clock.advance(minutes=5)
    summaries = session.collect()
    assert summaries[1].error is not None and DK_SEED in summaries[1].error
    assert session.events()[: len(before)] == before
    # Polls append in the order they finish: the failure is the source's own last event.
    failure = [e for e in session.events() if e.source == "dailyknight"][-1]
    assert failure.type == "SourceFailed"
    state = session.store.read_model.sources()["dailyknight"]
    assert (state.last_outcome, state.consecutive_failures, state.entry_count) == ("failed", 1, 6)
    assert len(feedparser.parse(session.feed_file()).entries) == 46
    assert atom_problems(session.feed_file()) == []


def test_per_source_feeds_are_written_and_valid(session: PipelineSession, project: Project) -> None:
    session.collect()
    for name, count in (("aljazeera", 40), ("dailyknight", 6)):
        document = (project.output / "sources" / f"{name}.atom").read_bytes()
        assert atom_problems(document) == []
        assert len(feedparser.parse(document).entries) == count


def test_own_ids_and_categories_survive_the_log_and_reach_the_feed(
    project: Project, clock: ManualClock
) -> None:
    """A source's own entry id is our Atom id (RFC 4287 4.2.6); categories are kept."""
    from aggregator.core.model import ExtractedEntry, Page
    from aggregator.ingest.fetch import FetchResult
    from aggregator.ingest.plan import plan_poll
    from aggregator.publish.files import render_merged
    from aggregator.store.catchup import catch_up

    settings = project.settings()
    session = PipelineSession(settings, clock)
    item = ExtractedEntry(
        key="https://example.org/live/1",
        id="urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6",
        title="Ceasefire talks",
        content_html="<p>Talks resume.</p>",
        published=datetime(2020, 9, 27, 12, tzinfo=UTC),
        categories=("Armenia", "Azerbaijan"),
    )
    fetched = FetchResult(url="https://example.org/live", fetched_at=clock.now)
    events = plan_poll(settings.sources[0], Page(entries=(item,)), {}, fetched, "p1", {})
    session.store.log.append(events)
    catch_up(session.store.log, session.store.read_model)
    (entry,) = session.store.read_model.entries()
    assert entry.entry_id == item.id and entry.categories == ("Armenia", "Azerbaijan")
    document = render_merged(settings, session.store.read_model)
    assert atom_problems(document) == []
    parsed = feedparser.parse(document).entries[0]
    assert parsed.id == item.id
    assert [t.term for t in parsed.tags] == ["Armenia", "Azerbaijan"]
    session.close()
