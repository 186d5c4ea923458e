"""The JSON Feed 1.1 documents: valid by every rule of the spec that can be
checked mechanically, and the twins of the Atom documents written beside them.

Each JSON document is compared with its Atom twin parsed by lxml, item by
entry: the same ids (the Atom id is the JSON id) in the same order, from the
same `max_entries` window, with the same links, titles, content, dates,
authors, categories and outlet. The aggregator's own JSON Feed reader
(`aggregator.extract.feed`) then reads the documents back, as a subscriber
would. The HTTP side (validators, 304s, gzip, a real feed reader) is in
tests/test_web.py.

The golden file tests/golden/jsonfeed/dailyknight.json pins the exact bytes of
one source's document; after a deliberate change, regenerate it with
AGGREGATOR_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from lxml import etree

from aggregator.config import FeedConfig, SourceConfig, load_settings
from aggregator.core.model import ExtractContext
from aggregator.core.states import EntryState
from aggregator.ingest.extract import feed as feed_extractor
from aggregator.publish import atom, catalog, jsonfeed
from aggregator.publish.catalog import Address
from aggregator.publish.files import regenerate
from aggregator.store import open_store
from tests.conftest import Project, seed_config_text
from tests.documents import rendered, written
from tests.golden import UPDATE
from tests.session import PipelineSession
from tests.support import ManualClock

GOLDEN = Path(__file__).resolve().parent / "golden" / "jsonfeed"
A = "{http://www.w3.org/2005/Atom}"
SEED_COUNTS = {"feed": 46, "aljazeera": 40, "dailyknight": 6}

# --- what JSON Feed 1.1 allows ------------------------------------------------------

# RFC 3339 section 5.6 date-time (the T and Z may be lower case).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_EXTENSION = re.compile(r"^_[A-Za-z]")
_FEED_STRINGS = frozenset(
    {"title", "home_page_url", "feed_url", "description", "user_comment", "next_url", "icon",
     "favicon", "language"}
)  # fmt: skip
_FEED_KEYS = _FEED_STRINGS | {"version", "authors", "author", "expired", "hubs", "items"}
_ITEM_STRINGS = frozenset(
    {"url", "external_url", "title", "content_html", "content_text", "summary", "image",
     "banner_image", "date_published", "date_modified", "language"}
)  # fmt: skip
_ITEM_KEYS = _ITEM_STRINGS | {"id", "authors", "author", "tags", "attachments"}
_URLS = frozenset({"home_page_url", "feed_url", "next_url", "icon", "favicon", "url"})
_AUTHOR_KEYS = frozenset({"name", "url", "avatar"})


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def _is_absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _author_problems(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        return [f"{where}: authors must be a non-empty array"]
    problems = []
    for index, author in enumerate(value):
        if not isinstance(author, dict):
            problems.append(f"{where}: authors[{index}] is not an object")
            continue
        known = {key: item for key, item in author.items() if key in _AUTHOR_KEYS}
        if not known:
            problems.append(f"{where}: authors[{index}] has none of name, url, avatar")
        problems.extend(
            f"{where}: authors[{index}].{key} is not a non-empty string"
            for key, item in known.items()
            if not isinstance(item, str) or not item
        )
        problems.extend(
            f"{where}: authors[{index}] has unknown key {key!r}"
            for key in author
            if key not in _AUTHOR_KEYS and not _EXTENSION.match(key)
        )
    return problems


def _keys_problems(where: str, holder: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    problems = [
        f"{where}: unknown key {key!r} (extensions start with _ and a letter)"
        for key in holder
        if key not in allowed and not _EXTENSION.match(key)
    ]
    if "author" in holder:
        problems.append(f"{where}: the deprecated 1.0 `author` (1.1 uses `authors`)")
    return problems


def _item_problems(index: int, item: Any) -> list[str]:
    if not isinstance(item, dict):
        return [f"items[{index}] is not an object"]
    item_id = item.get("id")
    where = f"items[{index}] ({item_id!r})"
    problems = _keys_problems(where, item, _ITEM_KEYS)
    if not isinstance(item_id, str) or not item_id.strip():
        problems.append(f"{where}: id must be a non-empty string")
    for key in _ITEM_STRINGS & item.keys():
        if not isinstance(item[key], str):
            problems.append(f"{where}: {key} is not a string")
        elif key in _URLS and not _is_absolute_url(item[key]):
            problems.append(f"{where}: {key} is not an absolute http(s) URL: {item[key]!r}")
    if "content_html" not in item and "content_text" not in item:
        problems.append(f"{where}: neither content_html nor content_text")
    for key in ("date_published", "date_modified"):
        value = item.get(key)
        if isinstance(value, str) and not _RFC3339.match(value):
            problems.append(f"{where}: {key} is not RFC 3339: {value!r}")
    if "authors" in item:
        problems.extend(_author_problems(where, item["authors"]))
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append(f"{where}: tags must be an array of strings")
    return problems


def json_feed_problems(document: bytes) -> list[str]:
    """Every way `document` falls short of JSON Feed 1.1; empty when it is valid.

    Checked: UTF-8 JSON with no duplicate keys; the version URL; the required
    title and items; the type of every member the spec defines; absolute
    http(s) URLs; `authors` as 1.1 defines it and never the deprecated
    `author`; every item with a unique non-empty string id and some content;
    dates in RFC 3339; anything else only as an `_extension`.
    """
    try:
        feed = json.loads(document.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as error:
        return [f"not UTF-8 JSON: {error}"]
    if not isinstance(feed, dict):
        return ["the document is not a JSON object"]
    problems = _keys_problems("feed", feed, _FEED_KEYS)
    if feed.get("version") != jsonfeed.VERSION:
        problems.append(f"feed: version is {feed.get('version')!r}, not {jsonfeed.VERSION!r}")
    if not isinstance(feed.get("title"), str):
        problems.append("feed: title is missing or not a string")
    for key in _FEED_STRINGS & feed.keys():
        if not isinstance(feed[key], str):
            problems.append(f"feed: {key} is not a string")
        elif key in _URLS and not _is_absolute_url(feed[key]):
            problems.append(f"feed: {key} is not an absolute http(s) URL: {feed[key]!r}")
    if "authors" in feed:
        problems.extend(_author_problems("feed", feed["authors"]))
    if "expired" in feed and not isinstance(feed["expired"], bool):
        problems.append("feed: expired is not a boolean")
    items = feed.get("items")
    if not isinstance(items, list):
        return [*problems, "feed: items is missing or not an array"]
    for index, item in enumerate(items):
        problems.extend(_item_problems(index, item))
    ids = [item.get("id") for item in items if isinstance(item, dict)]
    repeated = sorted({str(i) for i in ids if ids.count(i) > 1})
    if repeated:
        problems.append(f"items: ids not unique: {repeated}")
    return problems


# --- the Atom twin --------------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def atom_ids(document: bytes) -> list[str]:
    return [str(e.findtext(f"{A}id")) for e in etree.fromstring(document).iter(f"{A}entry")]


def json_ids(document: bytes) -> list[str]:
    return [item["id"] for item in json.loads(document)["items"]]


def atom_view(document: bytes) -> dict[str, Any]:
    """The Atom document reduced to what its JSON twin must carry, in JSON's terms."""
    root = etree.fromstring(document)
    alternate = root.find(f"{A}link[@rel='alternate']")
    items = []
    for entry in root.findall(f"{A}entry"):
        link = entry.find(f"{A}link[@rel='alternate']")
        origin = entry.find(f"{A}source")
        assert origin is not None
        origin_link = origin.find(f"{A}link[@rel='alternate']")
        items.append(
            {
                "id": entry.findtext(f"{A}id"),
                "url": link.get("href") if link is not None else None,
                "title": entry.findtext(f"{A}title") or None,
                "content_html": entry.findtext(f"{A}content"),
                "date_published": _when(entry.findtext(f"{A}published")),
                "date_modified": _when(entry.findtext(f"{A}updated")),
                "authors": [a.findtext(f"{A}name") for a in entry.findall(f"{A}author")],
                # The entry's own categories, then its story's (the one with a scheme).
                "tags": [c.get("term") for c in entry.findall(f"{A}category")],
                "story_feed": next(
                    (
                        link.get("href")
                        for link in entry.findall(f"{A}link")
                        if link.get("rel") == "related"
                    ),
                    None,
                ),
                "source": {
                    "id": origin.findtext(f"{A}id"),
                    "title": origin.findtext(f"{A}title"),
                    "home_page_url": origin_link.get("href") if origin_link is not None else None,
                },
            }
        )
    return {
        "title": root.findtext(f"{A}title"),
        "description": root.findtext(f"{A}subtitle"),
        "home_page_url": alternate.get("href") if alternate is not None else None,
        "authors": [a.findtext(f"{A}name") for a in root.findall(f"{A}author")],
        "items": items,
    }


def json_view(document: bytes) -> dict[str, Any]:
    """The JSON document in the shape of `atom_view`."""
    feed = json.loads(document)
    return {
        "title": feed["title"],
        "description": feed.get("description"),
        "home_page_url": feed.get("home_page_url"),
        "authors": [a["name"] for a in feed["authors"]],
        "items": [
            {
                "id": item["id"],
                "url": item.get("url"),
                "title": item.get("title"),
                "content_html": item["content_html"],
                "date_published": _when(item["date_published"]),
                "date_modified": _when(item["date_modified"]),
                "authors": [a["name"] for a in item["authors"]],
                "tags": item.get("tags", []),
                "story_feed": item["_story"]["feed_url"] if "_story" in item else None,
                "source": {
                    "id": item["_source"]["id"],
                    "title": item["_source"]["title"],
                    "home_page_url": item["_source"].get("home_page_url"),
                },
            }
            for item in feed["items"]
        ],
    }


def document_pairs(settings_output: Path) -> dict[str, tuple[bytes, bytes]]:
    """Every Atom document written to the output directory, with its JSON twin."""
    pairs = {"feed": ((settings_output / "feed.atom"), (settings_output / "feed.json"))}
    for path in sorted((settings_output / "sources").glob("*.atom")):
        pairs[path.stem] = (path, path.with_suffix(".json"))
    return {name: (a.read_bytes(), j.read_bytes()) for name, (a, j) in pairs.items()}


def check_twins(atom_document: bytes, json_document: bytes) -> None:
    assert json_feed_problems(json_document) == []
    assert json_ids(json_document) == atom_ids(atom_document)
    assert json_view(json_document) == atom_view(atom_document)


# --- the seed day -----------------------------------------------------------------------


def test_seed_documents_are_valid_twins_of_the_atom_documents(
    project: Project, clock: ManualClock
) -> None:
    session = PipelineSession(project.settings(), clock)
    try:
        session.collect()
    finally:
        session.close()
    pairs = document_pairs(project.output)
    assert set(pairs) == set(SEED_COUNTS)
    for name, (atom_document, json_document) in pairs.items():
        check_twins(atom_document, json_document)
        assert len(json_ids(json_document)) == SEED_COUNTS[name], name
    base = "http://127.0.0.1:8080"
    merged = json.loads(pairs["feed"][1])
    assert merged["feed_url"] == f"{base}/feed.json"
    assert merged["home_page_url"] == f"{base}/"
    assert merged["title"] == "Test feed" and merged["authors"] == [{"name": "Test feed"}]
    aj = json.loads(pairs["aljazeera"][1])
    assert aj["feed_url"] == f"{base}/sources/aljazeera.json"
    assert aj["title"] == "Al Jazeera"
    assert aj["home_page_url"] == "https://example.org/aljazeera-live"
    # The merged feed interleaves the outlets, newest first, as Atom does.
    assert {item["_source"]["title"] for item in merged["items"]} == {
        "Al Jazeera",
        "The Daily Knight",
    }
    published = [datetime.fromisoformat(item["date_published"]) for item in merged["items"]]
    assert published == sorted(published, reverse=True)


def test_the_window_is_the_atom_window(project: Project, clock: ManualClock) -> None:
    project.config.write_text(
        seed_config_text(project.seeds, project.database, project.output, max_entries=5),
        encoding="utf-8",
    )
    session = PipelineSession(project.settings(), clock)
    try:
        session.collect()
    finally:
        session.close()
    for atom_document, json_document in document_pairs(project.output).values():
        check_twins(atom_document, json_document)
        assert len(json_ids(json_document)) == 5


def test_feeds_without_entries_are_valid(project: Project, clock: ManualClock) -> None:
    settings = project.settings()
    store = open_store(settings.database_url, clock=clock)
    try:
        regenerate(settings, store.log, store.read_model)
    finally:
        store.close()
    pairs = document_pairs(project.output)
    assert set(pairs) == set(SEED_COUNTS)
    for atom_document, json_document in pairs.values():
        check_twins(atom_document, json_document)
        assert json.loads(json_document)["items"] == []
    assert b'"items": []\n}\n' in pairs["feed"][1]


def test_unchanged_content_gives_the_same_bytes_and_leaves_the_files_alone(
    project: Project, clock: ManualClock
) -> None:
    session = PipelineSession(project.settings(), clock)
    try:
        session.collect()
        settings = session.settings
        names = [source.name for source in settings.sources]
        paths = [written(settings, catalog.MERGED_JSON)]
        paths += [written(settings, catalog.SOURCE_JSON, n) for n in names]
        before = {path: path.read_bytes() for path in paths}
        for path in paths:
            os.utime(path, ns=(1_000_000_000, 1_000_000_000))
        # Polled again later with nothing new: new events, same documents.
        clock.advance(minutes=10)
        session.collect()
        model = session.store.read_model
        assert rendered(settings, model, catalog.MERGED_JSON) == before[paths[0]]
        assert {
            written(settings, catalog.SOURCE_JSON, n): rendered(
                settings, model, catalog.SOURCE_JSON, n
            )
            for n in names
        } == {path: before[path] for path in paths[1:]}
    finally:
        session.close()
    for path in paths:
        assert path.read_bytes() == before[path]
        assert path.stat().st_mtime_ns == 1_000_000_000, f"{path.name} was written again"
        # One layout: what json.dumps(indent=2, ensure_ascii=False) gives for the
        # same value, UTF-8, a final newline, and no \u escapes of real text.
        text = before[path].decode("utf-8")
        assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2) + "\n"
        assert "\\u" not in text
    assert "’".encode() in before[paths[0]] or "–".encode() in before[paths[0]]


def test_the_golden_source_document(project: Project, clock: ManualClock) -> None:
    session = PipelineSession(project.settings(), clock)
    try:
        session.collect()
    finally:
        session.close()
    actual = written(session.settings, catalog.SOURCE_JSON, "dailyknight").read_bytes()
    golden = GOLDEN / "dailyknight.json"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(actual)
        return
    assert actual == golden.read_bytes(), "run with AGGREGATOR_UPDATE_GOLDEN=1 and read the diff"


def test_the_aggregator_reads_its_own_json_feed_back(project: Project, clock: ManualClock) -> None:
    """A subscriber to feed.json keeps every item's id, as RFC 4287 4.2.6 asks of an
    aggregator: our own feed extractor, pointed at our JSON, gives back the Atom ids."""
    session = PipelineSession(project.settings(), clock)
    try:
        session.collect()
        settings = session.settings
    finally:
        session.close()
    context = ExtractContext(
        source="self",
        page_url=f"{settings.feed.base_url}/feed.json",
        fetched_at=clock(),
        timezone=ZoneInfo("UTC"),
    )
    merged_json = written(settings, catalog.MERGED_JSON).read_bytes()
    page = feed_extractor.extract(merged_json, context)
    assert page.notes == ()
    assert page.title == "Test feed"
    ids = atom_ids(written(settings, catalog.MERGED_ATOM).read_bytes())
    assert sorted(entry.id or "" for entry in page.entries) == sorted(ids)
    assert {entry.id: entry.content_html for entry in page.entries} == {
        item["id"]: item["content_html"] for item in json.loads(merged_json)["items"]
    }
    by_id = {entry.id: entry for entry in page.entries}
    aj = written(settings, catalog.SOURCE_ATOM, "aljazeera").read_bytes()
    for item in atom_view(aj)["items"]:
        entry = by_id[item["id"]]
        assert (entry.title, entry.link, entry.published) == (
            item["title"],
            item["url"],
            item["date_published"],
        )


# --- every field, on entries made for it ------------------------------------------------------


def _entry(source: str, key: str, **fields: Any) -> EntryState:
    values: dict[str, Any] = {
        "source": source,
        "key": key,
        "entry_id": f"tag:example.org,2020:t/{source}/{key}",
        "version": 1,
        "title": f"Update {key}",
        "content_html": f"<p>Update {key}</p>",
        "published": datetime(2020, 9, 27, 12, 0, tzinfo=UTC),
        "updated": datetime(2020, 9, 27, 12, 0, tzinfo=UTC),
        "link": f"https://example.org/{source}#{key}",
        "author": "A. Reporter",
        "content_hash": key,
        "position": 1,
    }
    values.update(fields)
    return EntryState(**values)


def test_every_field_carries_over_as_in_atom() -> None:
    feed = FeedConfig(
        title="Clashes – every update",
        id="tag:example.org,2020:t",
        base_url="https://feeds.example.org",
        max_entries=100,
        output_dir=Path("unused"),
        author="Desk",
        subtitle="Über alles: “quoted”",
    )
    source = SourceConfig(
        name="outlet",
        url="https://outlet.example/live",
        format="liveblog-html",
        interval=timedelta(minutes=5),
        timezone=ZoneInfo("UTC"),
        title="The Outlet",
        link="https://outlet.example/live",
        id="tag:example.org,2020:t/outlet",
    )
    sources = {"outlet": source}
    entries = [
        _entry(
            "outlet",
            "tagged",
            categories=("Politics", "Südkaukasus"),
            published=datetime(2020, 9, 27, 13, 0, 0, 250000, tzinfo=UTC),
            updated=datetime(2020, 9, 27, 14, 30, tzinfo=UTC),
        ),
        # No author: the outlet; no link: the source's page.
        _entry("outlet", "bare", author=None, link=None),
        # Characters XML cannot carry, and a lone surrogate UTF-8 cannot encode.
        _entry("outlet", "odd", title="Bell\x07 and \ud800 – fine", content_html="<p>a\x01b</p>"),
        # An entry of a source no longer configured: named by its source name.
        _entry("gone", "orphan"),
        _entry("outlet", "untitled", title=""),
    ]
    for atom_head, head in (
        (
            catalog.merged_head(feed, Address(catalog.MERGED_ATOM)),
            catalog.merged_head(feed, Address(catalog.MERGED_JSON)),
        ),
        (
            catalog.source_head(feed, source, Address(catalog.SOURCE_ATOM, "outlet")),
            catalog.source_head(feed, source, Address(catalog.SOURCE_JSON, "outlet")),
        ),
    ):
        atom_document = atom.render_feed(atom_head, entries, sources, None)
        json_document = jsonfeed.render_json_feed(head, entries, sources)
        check_twins(atom_document, json_document)
    merged_head = catalog.merged_head(feed, Address(catalog.MERGED_JSON))
    merged = json.loads(jsonfeed.render_json_feed(merged_head, entries, sources))
    assert merged["feed_url"] == "https://feeds.example.org/feed.json"
    assert merged["description"] == "Über alles: “quoted”"
    tagged, bare, odd, orphan, untitled = merged["items"]
    assert tagged["tags"] == ["Politics", "Südkaukasus"]
    assert tagged["date_published"] == "2020-09-27T13:00:00.250000Z"
    assert tagged["date_modified"] == "2020-09-27T14:30:00Z"
    assert "tags" not in bare and "summary" not in bare
    assert bare["authors"] == [{"name": "The Outlet"}]
    assert bare["url"] == "https://outlet.example/live"
    assert odd["title"] == "Bell and  – fine" and odd["content_html"] == "<p>ab</p>"
    assert orphan["_source"] == {"id": "gone", "title": "gone"}
    assert orphan["authors"] == [{"name": "A. Reporter"}]
    assert "title" not in untitled
    outlet = json.loads(
        jsonfeed.render_json_feed(
            catalog.source_head(feed, source, Address(catalog.SOURCE_JSON, "outlet")),
            entries[:1],
            sources,
        )
    )
    assert outlet["title"] == "The Outlet"
    assert outlet["home_page_url"] == "https://outlet.example/live"
    assert outlet["feed_url"] == "https://feeds.example.org/sources/outlet.json"
    assert "description" not in outlet


def test_the_validator_catches_what_it_claims_to() -> None:
    """A validator that passes everything proves nothing: each rule, broken once."""
    good = {
        "version": jsonfeed.VERSION,
        "title": "t",
        "items": [{"id": "1", "content_html": "<p>x</p>"}],
    }
    assert json_feed_problems(json.dumps(good).encode()) == []
    broken: list[tuple[dict[str, Any], str]] = [
        ({**good, "version": "https://jsonfeed.org/version/1"}, "version"),
        ({k: v for k, v in good.items() if k != "title"}, "title"),
        ({k: v for k, v in good.items() if k != "items"}, "items"),
        ({**good, "author": {"name": "x"}}, "deprecated"),
        ({**good, "authors": [{}]}, "none of name"),
        ({**good, "feed_url": "/feed.json"}, "absolute"),
        ({**good, "surprise": 1}, "unknown key"),
        ({**good, "items": [{"id": 1, "content_html": ""}]}, "non-empty string"),
        ({**good, "items": [{"id": "1"}]}, "neither content_html"),
        ({**good, "items": [{"id": "1", "content_text": "", "tags": "x"}]}, "tags"),
        (
            {**good, "items": [{"id": "1", "content_text": "", "date_published": "2020-09-27"}]},
            "RFC 3339",
        ),
        ({**good, "items": [good["items"][0], good["items"][0]]}, "not unique"),
    ]
    for document, expected in broken:
        problems = json_feed_problems(json.dumps(document).encode())
        assert any(expected in problem for problem in problems), (document, problems)
    assert json_feed_problems(b'{"version": 1, "version": 2}') != []
    assert json_feed_problems(b"\xff") != []
    assert json_feed_problems(b'{"_ok": {}, "version": "' + jsonfeed.VERSION.encode() + b'"}') == [
        "feed: title is missing or not a string",
        "feed: items is missing or not an array",
    ]


def test_the_json_files_sit_beside_the_atom_files(project: Project) -> None:
    """The JSON documents need no configuration of their own."""
    settings = load_settings(project.config, environ={})
    assert written(settings, catalog.MERGED_JSON) == project.output / "feed.json"
    aj = written(settings, catalog.SOURCE_JSON, "aljazeera")
    assert aj == project.output / "sources/aljazeera.json"
