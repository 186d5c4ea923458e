"""Property tests: random poll histories keep the log's invariants.

A synthetic source is polled many times; between polls, updates appear,
change their text, or change only in white space. Through `plan_poll`, the
in-memory log and the fold, the invariants must hold whatever the history:
one entry per update, a revision exactly when the normalised text changed,
versions counting up from 1, and a fresh replay equal to the live state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.config import SourceConfig
from aggregator.core.model import ExtractedEntry, Page, content_hash, normalise_text
from aggregator.ingest.fetch import FetchResult
from aggregator.ingest.plan import plan_poll
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryEventLog, MemoryReadModel

SOURCE = SourceConfig(
    name="synthetic",
    url="file:///synthetic.txt",
    format="liveblog-text",
    interval=timedelta(minutes=5),
    timezone=ZoneInfo("UTC"),
    title="Synthetic",
    link="https://example.org/live",
    id="tag:example.org,2020:synthetic",
)
T0 = datetime(2020, 9, 27, 8, 0, tzinfo=UTC)
WORDS = st.sampled_from(["ceasefire", "talks", "shelling", "Baku", "Yerevan", "  ", "\u00a0", "\n"])
TEXT = st.lists(WORDS, min_size=1, max_size=4).map(" ".join)
# One poll: for each of up to 6 update slots, absent (None) or its current text.
POLL = st.lists(st.one_of(st.none(), TEXT), min_size=6, max_size=6)


def page_of(poll: list[str | None]) -> Page:
    entries = tuple(
        ExtractedEntry(
            key=f"k{slot}",
            title=f"Update {slot}",
            content_html=f"<p>{body}</p>",
            published=T0 + timedelta(minutes=slot),
        )
        for slot, body in enumerate(poll)
        if body is not None
    )
    return Page(entries=entries)


@settings(max_examples=150, deadline=None)
@given(st.lists(POLL, min_size=1, max_size=8))
def test_random_histories_keep_the_invariants(history: list[list[str | None]]) -> None:
    log = MemoryEventLog(clock=lambda: T0)
    live = MemoryReadModel()
    expected_versions: dict[str, int] = {}
    last_text: dict[str, str] = {}
    for n, poll in enumerate(history):
        current = {e.key: e for e in live.entries()}
        fetched = FetchResult(url=SOURCE.url, fetched_at=T0 + timedelta(hours=n))
        log.append(plan_poll(SOURCE, page_of(poll), current, fetched, f"p{n}", owners={}))
        catch_up(log, live)
        for slot, body in enumerate(poll):
            if body is None:
                continue
            key, text = f"k{slot}", normalise_text(f"<p>{body}</p>")
            if last_text.get(key) != text:
                expected_versions[key] = expected_versions.get(key, 0) + 1
                last_text[key] = text

    entries = live.entries()
    assert sorted(e.key for e in entries) == sorted(expected_versions)
    assert {e.key: e.version for e in entries} == expected_versions
    for entry in entries:
        assert entry.content_hash == content_hash(entry.title, entry.content_html)
    records = list(log.read())
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    assert len({r.event_key for r in records}) == len(records)
    versions_seen: dict[str, list[int]] = {}
    for record in records:
        if record.type.startswith("Entry"):
            payload = record.event()
            versions_seen.setdefault(payload.key, []).append(payload.version)  # type: ignore[attr-defined]
    assert all(v == list(range(1, len(v) + 1)) for v in versions_seen.values())
    replayed = MemoryReadModel()
    catch_up(log, replayed)
    assert replayed.entries() == entries
    assert replayed.sources() == live.sources()
    # Newest first, always.
    assert [e.published for e in entries] == sorted((e.published for e in entries), reverse=True)


@given(TEXT, TEXT)
def test_content_hash_ignores_white_space_only(a: str, b: str) -> None:
    same = normalise_text(a) == normalise_text(b)
    assert (content_hash("t", a) == content_hash("t", b)) == same
    assert content_hash("t", a).startswith("v1:")
