"""Stories in the log: the linker records cross-outlet matches as `StoryLinked` events.

Against the real pipeline (SQLite files, the seed live blogs): the Murovdag
report of Al Jazeera and the Daily Knight is linked into one story, the link
is in the log, the merged feed shows it on both entries, and replay and
`feed --as-of` reproduce it without running the matcher. The linker is
idempotent across calls and processes, links an entry that arrives in a later
poll, and never links an outlet's own formulaic updates to each other. A new
linker with nothing past its start never reads the read model's entries or
runs the matcher; one with new entries indexes only their match window, and
a long catch-up keeps its index bounded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from aggregator.core.events import EntryAdded, SourceNotModified, StoryLinked
from aggregator.core.model import content_hash
from aggregator.core.states import EntryState
from aggregator.follow.runner import Stories
from aggregator.follow.stories import linker as linker_module
from aggregator.follow.stories.linker import StoryLinker
from aggregator.publish.files import render_merged
from aggregator.store import open_store
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryEventLog, MemoryReadModel
from tests.atom_checks import atom_problems
from tests.conftest import Project
from tests.session import PipelineSession
from tests.support import DK_SEED, ManualClock

ATOM = "{http://www.w3.org/2005/Atom}"
AJ_MUROVDAG = "20200927T154300Z-0"
DK_MUROVDAG = "20200927T185200Z-0"


def links_in(session: PipelineSession) -> list[StoryLinked]:
    found = []
    for record in session.events():
        event = record.event()
        if isinstance(event, StoryLinked):
            found.append(event)
    return found


def story_terms(document: bytes) -> dict[str, str]:
    """Entry id -> story term, for every entry of an Atom document in a story."""
    root = etree.fromstring(document)
    terms = {}
    for entry in root.iter(f"{ATOM}entry"):
        for category in entry.iter(f"{ATOM}category"):
            if category.get("term", "").startswith("story:"):
                terms[entry.findtext(f"{ATOM}id")] = category.get("term")
    return terms


def test_the_murovdag_reports_are_one_story_in_the_log_and_the_feed(
    project: Project, clock: ManualClock
) -> None:
    session = PipelineSession(project.settings(), clock)
    session.collect()
    links = links_in(session)
    assert {(link.source, link.key) for link in links} == {
        ("aljazeera", AJ_MUROVDAG),
        ("dailyknight", DK_MUROVDAG),
    }
    assert len({link.story for link in links}) == 1
    joiner = next(link for link in links if link.score > 0)
    assert joiner.score >= 0.33
    feed = session.feed_file()
    assert atom_problems(feed) == []
    terms = story_terms(feed)
    assert len(terms) == 2 and set(terms.values()) == {links[0].story}
    root = etree.fromstring(feed)
    related = [
        link.get("href") for link in root.iter(f"{ATOM}link") if link.get("rel") == "related"
    ]
    digest = links[0].story.removeprefix("story:")
    assert related == [f"http://127.0.0.1:8080/stories/{digest}.atom"] * 2
    session.close()


def test_replay_and_as_of_reproduce_the_story_without_the_matcher(
    project: Project, clock: ManualClock
) -> None:
    session = PipelineSession(project.settings(), clock)
    session.collect()
    written = session.feed_file()
    head = session.store.log.head()
    first_link = min(r.position for r in session.events() if r.type == "StoryLinked")
    session.store.read_model.reset()
    catch_up(session.store.log, session.store.read_model)
    assert session.rendered() == written
    before = MemoryReadModel()
    catch_up(session.store.log, before, upto=first_link - 1)
    assert story_terms(render_merged(session.settings, before)) == {}
    after = MemoryReadModel()
    catch_up(session.store.log, after, upto=head)
    assert render_merged(session.settings, after) == written
    session.close()


def test_linking_again_or_from_a_new_process_adds_nothing(
    project: Project, clock: ManualClock
) -> None:
    session = PipelineSession(project.settings(), clock)
    session.collect()
    head = session.store.log.head()
    assert session.linker.link(session.store.log, session.store.read_model) == []
    other = open_store(project.settings().database_url, clock=clock)
    try:
        assert StoryLinker().link(other.log, other.read_model) == []
    finally:
        other.close()
    clock.advance(minutes=5)
    session.collect()  # unchanged pages: poll events only
    assert [r.type for r in session.events(after=head)] == ["SourceNotModified"] * 2
    session.close()


def test_a_report_arriving_in_a_later_poll_joins_the_story(
    project: Project, clock: ManualClock
) -> None:
    daily_knight = project.seeds / DK_SEED
    text = daily_knight.read_text(encoding="utf-8")
    update = text[text.index("Update 2:52pm EST") : text.index("Update 3:03pm EST")]
    daily_knight.write_text(text.replace(update, ""), "utf-8")
    session = PipelineSession(project.settings(), clock)
    session.collect()
    assert links_in(session) == []
    head = session.store.log.head()
    daily_knight.write_text(text, "utf-8")
    clock.advance(minutes=5)
    session.collect()
    later = [r.event() for r in session.events(after=head) if r.type == "StoryLinked"]
    assert {(e.source, e.key) for e in later} == {  # type: ignore[attr-defined]
        ("aljazeera", AJ_MUROVDAG),
        ("dailyknight", DK_MUROVDAG),
    }
    assert story_terms(session.feed_file()) != {}
    session.close()


def test_two_linkers_racing_leave_one_link_per_entry(project: Project, clock: ManualClock) -> None:
    session = PipelineSession(project.settings(), clock)
    session.collect()
    count = len(links_in(session))
    # A second store on the same file that re-decides from scratch: its links
    # carry the same event keys, so the log keeps the first decision only.
    session.store.read_model.reset()
    catch_up(session.store.log, session.store.read_model)
    fresh = StoryLinker()
    fresh.link(session.store.log, session.store.read_model)
    assert len(links_in(session)) == count
    session.close()


def entry(source: str, key: str, title: str, when: datetime, body: str = "") -> EntryAdded:
    html = f"<p>{body or title}</p>"
    return EntryAdded(
        source=source,
        key=key,
        entry_id=f"urn:test:{source}:{key}",
        version=1,
        title=title,
        content_html=html,
        published=when,
        updated=when,
        link=None,
        author=None,
        content_hash=content_hash(title, html),
    )


def test_an_outlets_formulaic_updates_are_never_one_story() -> None:
    log, model = MemoryEventLog(), MemoryReadModel()
    noon = datetime(2020, 9, 27, 12, tzinfo=UTC)
    log.append(
        [
            entry("ministry", f"k{n}", "16 servicemen killed", noon + timedelta(minutes=n))
            for n in range(5)
        ]
    )
    catch_up(log, model)
    assert StoryLinker().link(log, model) == []
    assert all(e.story is None for e in model.entries())


def test_the_same_fact_from_two_outlets_is_linked_and_folded() -> None:
    log, model = MemoryEventLog(), MemoryReadModel()
    noon = datetime(2020, 9, 27, 12, tzinfo=UTC)
    fact = (
        "Azerbaijani forces have taken the 3,000-metre-high strategic Murovdag peak"
        " in Karabakh, presidency spokesman Hikmet Hajiyev said"
    )
    log.append([entry("wire", "a", "Murovdag peak taken", noon, fact)])
    catch_up(log, model)
    linker = StoryLinker()
    assert linker.link(log, model) == []
    log.append(
        [
            entry("tv", "b", "Murovdag captured", noon + timedelta(hours=1), fact),
            entry("tv", "c", "Ceasefire talks in Moscow", noon, "Foreign ministers met."),
        ]
    )
    catch_up(log, model)
    written = linker.link(log, model)
    assert [(r.source, r.event().key) for r in written] == [  # type: ignore[attr-defined]
        ("wire", "a"),
        ("tv", "b"),
    ]
    stories = {e.key: e.story for e in model.entries()}
    assert stories["a"] == stories["b"] is not None and stories["c"] is None


NOON = datetime(2020, 9, 27, 12, tzinfo=UTC)
FACT = (
    "Azerbaijani forces have taken the 3,000-metre-high strategic Murovdag peak"
    " in Karabakh, presidency spokesman Hikmet Hajiyev said"
)


class CountingModel(MemoryReadModel):
    """The in-memory read model, counting the entries read through `entries`."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def entries(
        self, source: str | None = None, limit: int | None = None, story: str | None = None
    ) -> list[EntryState]:
        found = super().entries(source, limit, story)
        self.read += len(found)
        return found


def test_a_collect_that_adds_nothing_never_runs_the_matcher() -> None:
    """A new process (its follower made before its polls) whose polls find unchanged
    pages reads the poll events past its start, and no entry, and scores nothing."""
    log, model = MemoryEventLog(), CountingModel()
    log.append([entry("wire", "a", "Murovdag peak taken", NOON, FACT)])
    log.append([entry("tv", "b", "Murovdag captured", NOON + timedelta(hours=1), FACT)])
    catch_up(log, model)
    assert len(StoryLinker().link(log, model)) == 2  # the earlier process
    assert Stories(log, model).position() == log.head()
    linker = StoryLinker(start=log.head())
    log.append([SourceNotModified(source=s, poll_id="p2", fetched_at=NOON) for s in ("wire", "tv")])
    catch_up(log, model)
    model.read = 0
    assert linker.link(log, model) == []
    assert linker.position == log.head()
    assert linker.index is None and model.read == 0


def test_a_new_linker_indexes_the_window_of_the_new_entries() -> None:
    """An entry of a later process joins its partner, recorded by an earlier one; what
    was published further than the match window from it is never read into the index."""
    log, model = MemoryEventLog(), CountingModel()
    log.append(
        [
            entry("wire", "old", "Ceasefire talks", NOON - timedelta(days=2), "Ministers met."),
            entry("wire", "a", "Murovdag peak taken", NOON, FACT),
        ]
    )
    catch_up(log, model)
    assert StoryLinker().link(log, model) == []
    linker = StoryLinker(start=log.head())
    log.append([entry("tv", "b", "Murovdag captured", NOON + timedelta(hours=1), FACT)])
    catch_up(log, model)
    written = linker.link(log, model)
    assert {(r.source, r.event().key) for r in written} == {  # type: ignore[attr-defined]
        ("wire", "a"),
        ("tv", "b"),
    }
    assert linker.index is not None and len(linker.index) == 2
    assert linker.index.story_of("wire", "old") is None


def test_a_long_catch_up_keeps_the_index_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `INDEX_LIMIT` entries the index is dropped between two batches and warmed
    again, and every pair is still linked (each fact's two reports are in one batch)."""
    monkeypatch.setattr(linker_module, "READ_BATCH", 4)
    monkeypatch.setattr(linker_module, "INDEX_LIMIT", 6)
    log, model = MemoryEventLog(), MemoryReadModel()
    for n in range(10):
        words = " ".join(f"{word}{n}" for word in FACT.split())
        when = NOON + timedelta(days=n)
        log.append([entry("wire", f"a{n}", words, when), entry("tv", f"b{n}", words, when)])
    catch_up(log, model)
    linker = StoryLinker()
    linker.link(log, model)
    stories = {e.key: e.story for e in model.entries()}
    assert all(stories[f"a{n}"] == stories[f"b{n}"] is not None for n in range(10))
    assert len(set(stories.values())) == 10
    assert linker.index is not None and len(linker.index) <= 6 + 4  # 20 without dropping
