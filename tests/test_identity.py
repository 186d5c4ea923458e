"""Issue 16: a source's entry ids are its own, and no document holds one id twice.

A source-given id is kept only when it is an absolute IRI that no other
source's entry holds; otherwise the entry takes an id in its source's
namespace, with a note. Real HTTP servers serve the feeds, the engine polls
them, and the merged feed is rendered through the catalog.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import feedparser
import pytest

from aggregator.config import Settings, load_settings
from aggregator.core.events import EntryAdded, SourcePolled
from aggregator.core.model import ExtractedEntry, Page, is_absolute_iri
from aggregator.ingest.fetch import FetchResult
from aggregator.ingest.plan import ID_LIMIT, given_ids, plan_poll
from aggregator.publish import catalog
from aggregator.publish.catalog import Address, View
from aggregator.publish.files import render_merged
from aggregator.store import open_store
from aggregator.store.catchup import catch_up
from aggregator.store.sql import SqlStore
from tests.atom_checks import atom_problems
from tests.http_fixture import Response, Route, serve
from tests.test_engine import polls

FEED_ID = "tag:example.org,2026:t"
T0 = datetime(2020, 9, 27, 8, tzinfo=UTC)


def rss(*items: tuple[str, str]) -> bytes:
    """An RSS 2.0 feed of (guid, title) items, an hour apart."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<description>&lt;p&gt;{title}&lt;/p&gt;</description>"
        f"<pubDate>Sun, 27 Sep 2020 {8 + n:02d}:00:00 GMT</pubDate></item>"
        for n, (guid, title) in enumerate(items)
    )
    channel = f"<channel><title>c</title>{body}</channel>"
    return f"<?xml version='1.0'?><rss version='2.0'>{channel}</rss>".encode()


def route(body: bytes) -> Route:
    def answer(handler: BaseHTTPRequestHandler) -> Response:
        return 200, {"Content-Type": "application/rss+xml"}, body

    return answer


def feeds_config(tmp_path: Path, **urls: str) -> Settings:
    sources = "".join(
        f'\n[[sources]]\nname = "{name}"\nurl = "{url}"\nformat = "feed"\n'
        for name, url in urls.items()
    )
    path = tmp_path / "agg.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "agg.db"}"\n\n'
        f'[feed]\ntitle = "T"\nid = "{FEED_ID}"\nbase_url = "http://127.0.0.1:8080"\n'
        f'output_dir = "{tmp_path / "feeds"}"\n{sources}',
        encoding="utf-8",
    )
    return load_settings(path, environ={})


def merged_ids(settings: Settings, store: SqlStore) -> tuple[list[str], list[str]]:
    """The entry ids of the merged Atom feed and of the merged JSON Feed."""
    atom = render_merged(settings, store.read_model)
    assert atom_problems(atom) == []
    address = Address(catalog.MERGED_JSON)
    document = address.row.render(View(settings, store.read_model), address)
    assert document is not None
    return (
        [entry.id for entry in feedparser.parse(atom).entries],
        [item["id"] for item in json.loads(document)["items"]],
    )


GOOD = (("https://good.example/live/1", "Talks resume"), ("urn:uuid:7b7e-0001", "Shelling stops"))


def test_a_feed_that_copies_anothers_ids_cannot_replace_or_shadow_its_entries(
    tmp_path: Path,
) -> None:
    spoofed = tuple((guid, "DEFACED") for guid, _ in GOOD)
    with serve({"/good": route(rss(*GOOD)), "/spoof": route(rss(*spoofed))}) as base:
        settings = feeds_config(tmp_path, good=f"{base}/good", spoof=f"{base}/spoof")
        store = open_store(settings.database_url)
        polls(settings, store, source=0)
        polls(settings, store, source=1)
    atom_ids, json_ids = merged_ids(settings, store)
    assert len(atom_ids) == len(set(atom_ids)) == 4
    assert sorted(json_ids) == sorted(atom_ids)
    by_id = {e.entry_id: e for e in store.read_model.entries()}
    # The good source's entries are intact: its ids, its titles.
    assert {guid: by_id[guid].title for guid, _ in GOOD} == dict(GOOD)
    assert {by_id[guid].source for guid, _ in GOOD} == {"good"}
    # The spoofer's are there too, under its own namespace.
    spoof_ids = {e.entry_id for e in store.read_model.entries(source="spoof")}
    assert spoof_ids == {
        f"{FEED_ID}/spoof/https%3A%2F%2Fgood.example%2Flive%2F1",
        f"{FEED_ID}/spoof/urn%3Auuid%3A7b7e-0001",
    }
    assert all(by_id[i].title == "DEFACED" and is_absolute_iri(i) for i in spoof_ids)
    events = [r.event() for r in store.log.read() if r.source == "spoof"]
    notes = [e.notes for e in events if isinstance(e, EntryAdded)]
    assert all(any("is the id of an entry of 'good'" in n for n in entry) for entry in notes)
    (poll,) = [e for e in events if isinstance(e, SourcePolled)]
    assert any("entries of 'good' hold" in note for note in poll.notes)
    store.close()


def test_two_outlets_whose_guids_are_both_123_are_both_kept_under_iris(tmp_path: Path) -> None:
    page = rss(("123", "first"), ("abc", "second"))
    with serve({"/a": route(page), "/b": route(page)}) as base:
        settings = feeds_config(tmp_path, a=f"{base}/a", b=f"{base}/b")
        store = open_store(settings.database_url)
        polls(settings, store, source=0)
        polls(settings, store, source=1)
    atom_ids, json_ids = merged_ids(settings, store)
    assert (
        sorted(atom_ids)
        == sorted(json_ids)
        == sorted(f"{FEED_ID}/{source}/{guid}" for source in "ab" for guid in ("123", "abc"))
    )
    assert all(is_absolute_iri(i) for i in atom_ids)
    for entry in store.read_model.entries():
        assert entry.entry_id == f"{FEED_ID}/{entry.source}/{entry.key}"
    added = [e for e in (r.event() for r in store.log.read()) if isinstance(e, EntryAdded)]
    assert all(any("is not an absolute IRI" in n for n in e.notes) for e in added)
    store.close()


def test_two_polls_that_raced_for_one_id_still_publish_it_once(tmp_path: Path) -> None:
    """Both planned before either appended: the log's order decides at the fold."""
    settings = feeds_config(tmp_path, good="http://127.0.0.1:9/good", spoof="http://127.0.0.1:9/s")
    store = open_store(settings.database_url)
    planned = []
    for source, title in zip(settings.sources, ("Talks resume", "DEFACED"), strict=True):
        item = ExtractedEntry(
            key="k", id="urn:uuid:7b7e-0001", title=title, content_html="", published=T0
        )
        fetched = FetchResult(url=source.url, fetched_at=T0)
        owners = store.read_model.owners(given_ids(Page(entries=(item,)), {}))
        planned.append(plan_poll(source, Page(entries=(item,)), {}, fetched, "p", owners))
    for events in planned:
        store.log.append(events)
    catch_up(store.log, store.read_model)
    atom_ids, _ = merged_ids(settings, store)
    assert sorted(atom_ids) == ["urn:uuid:7b7e-0001", "urn:uuid:7b7e-0001/spoof/2"]
    assert store.read_model.owners(["urn:uuid:7b7e-0001"]) == {"urn:uuid:7b7e-0001": "good"}
    store.close()


@pytest.mark.parametrize(
    ("text", "absolute"),
    [
        ("123", False),
        ("abc", False),
        ("//host/x", False),
        ("/relative/path", False),
        ("", False),
        ("http:", False),
        ("1http://x", False),
        ("a b:c", False),
        ("http://example.org/a b", False),
        ("http://example.org/\t", False),
        ("http://example.org/\x7f", False),
        ("http://example.org/\x85", False),
        ("http://example.org/\u00a0", False),
        ("http://example.org/\u2028", False),
        ("http://example.org/\u202e", False),
        ("http://example.org/<x>", False),
        ('http://example.org/"x"', False),
        ("http://example.org/{x}", False),
        ("http://example.org/a\\b", False),
        ("http://example.org/%zz", False),
        ("http://example.org/a#b#c", False),
        ("http://example.org/[x]", False),
        ("http://[x/feed", False),
        ("http://a[::1]/", False),
        ("http://example.org/\ue000", False),
        ("urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6", True),
        ("tag:example.org,2020:live/1", True),
        ("http://example.org/", True),
        ("https://example.org/a?b=c&d#e", True),
        ("http://[::1]:8080/x", True),
        ("http://user@[v1.fe80::a+en1]/", True),
        ("http://example.org/%20", True),
        ("https://ru.example/новости/1", True),
        ("http://example.org/?q=\ue000", True),
        ("mailto:desk@example.org", True),
        ("x-y.z+1:rest", True),
    ],
)
def test_the_absolute_iri_rule(text: str, absolute: bool) -> None:
    assert is_absolute_iri(text) is absolute


def plan(
    tmp_path: Path, item: ExtractedEntry, owners: dict[str, str] | None = None
) -> list[EntryAdded | SourcePolled]:
    source = feeds_config(tmp_path, mine="http://127.0.0.1:9/m").sources[0]
    fetched = FetchResult(url=source.url, fetched_at=T0)
    events = plan_poll(source, Page(entries=(item,)), {}, fetched, "p", owners or {})
    assert all(isinstance(e, EntryAdded | SourcePolled) for e in events)
    return events  # type: ignore[return-value]


ITEM = ExtractedEntry(key="k/1", title="t", content_html="", published=T0)
MINE = f"{FEED_ID}/mine/k%2F1"


@pytest.mark.parametrize(
    ("given", "owners", "expected", "note"),
    [
        (None, {}, MINE, None),
        ("urn:uuid:1", {}, "urn:uuid:1", None),
        ("urn:uuid:1", {"urn:uuid:1": "mine"}, "urn:uuid:1", None),
        ("urn:uuid:1", {"urn:uuid:1": "other"}, MINE, "is the id of an entry of 'other'"),
        ("123", {}, MINE, "is not an absolute IRI"),
        ("urn:x:" + "y" * ID_LIMIT, {}, MINE, f"is over {ID_LIMIT} characters"),
    ],
)
def test_the_plan_keeps_a_given_id_only_when_it_is_an_iri_no_one_else_holds(
    tmp_path: Path, given: str | None, owners: dict[str, str], expected: str, note: str | None
) -> None:
    added, polled = plan(tmp_path, replace(ITEM, id=given), owners)
    assert isinstance(added, EntryAdded) and isinstance(polled, SourcePolled)
    assert added.entry_id == expected
    assert [n for n in added.notes if note and note in n] == (
        [] if note is None else [added.notes[-1]]
    )
    assert any("hold" in n for n in polled.notes) is (owners.get(given or "") == "other")


def test_a_key_too_long_for_an_id_is_hashed_inside_the_namespace(tmp_path: Path) -> None:
    added, _ = plan(tmp_path, replace(ITEM, key="é" * 200))
    assert isinstance(added, EntryAdded)
    assert added.entry_id.startswith(f"{FEED_ID}/mine/sha256:")
    assert len(added.entry_id) <= ID_LIMIT and is_absolute_iri(added.entry_id)


def test_only_the_new_entries_fit_ids_are_asked_about() -> None:
    items = (
        replace(ITEM, key="old", id="urn:uuid:old"),
        replace(ITEM, key="new", id="urn:uuid:new"),
        replace(ITEM, key="plain", id="123"),
        replace(ITEM, key="none"),
    )
    current = {"old": object()}
    assert given_ids(Page(entries=items), current) == {"urn:uuid:new"}  # type: ignore[arg-type]
