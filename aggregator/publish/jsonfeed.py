"""JSON Feed 1.1 documents (https://www.jsonfeed.org/version/1.1/) from a read model.

Each JSON document is the twin of an Atom document (`aggregator.publish.atom`):
the same entries, in the same order, from the same window of the read model,
and each item's `id` is the entry's Atom id, so a reader that moves from one
format to the other (or follows both) sees the same items, not new ones.

Like the Atom feed, the output depends only on the configuration and the read
model, never on the wall clock, and the bytes are produced in one fixed layout
(keys in a fixed order, two-space indentation, UTF-8 without escaping
non-ASCII): unchanged content gives identical bytes, so the atomic writer
leaves the file alone and the ETag stays put.

Every string goes through `strip_xml_illegal`, as in Atom: the JSON then
carries exactly the text the Atom feed carries (ids compare equal), and a lone
surrogate, which UTF-8 cannot encode, never reaches the encoder.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from aggregator.config import SourceConfig
from aggregator.core.states import EntryState
from aggregator.ingest.extract.sanitize import strip_xml_illegal
from aggregator.publish.atom import FeedHead, StoryLinks, rfc3339

VERSION = "https://jsonfeed.org/version/1.1"
# JSON is UTF-8 by definition (RFC 8259 8.1) and the type defines no charset
# parameter, so none is sent.
JSON_FEED_TYPE = "application/feed+json"


def render_json_feed(
    head: FeedHead, entries: Iterable[EntryState], sources: dict[str, SourceConfig]
) -> bytes:
    """One JSON Feed document, items in the order given (newest first).

    The head is serialised here, each item by `_item_json`, which remembers
    what it rendered for the same reason `atom._entry_xml` does: an entry
    version always renders the same, so regenerating after one new entry
    serialises one item, not the whole window.
    """
    document: dict[str, Any] = {
        "version": VERSION,
        "title": _clean(head.title),
        "home_page_url": _clean(head.alternate_url),
        "feed_url": _clean(head.self_url),
    }
    if head.subtitle:
        document["description"] = _clean(head.subtitle)
    document["authors"] = [{"name": _clean(head.author)}]
    if head.hub:
        # JSON Feed 1.1's `hubs`: the WebSub hub this document's topic is published to.
        document["hubs"] = [{"type": "WebSub", "url": _clean(head.hub)}]
    opening = _dumps(document).removesuffix("\n}")
    items = []
    for entry in entries:
        source = sources.get(entry.source)
        items.append(
            _item_json(
                entry,
                source.title if source else entry.source,
                source.id if source else entry.source,
                source.link if source else None,
                _story_feed(head.stories, entry),
            )
        )
    if not items:
        return (opening + ',\n  "items": []\n}\n').encode("utf-8")
    body = ",".join("\n    " + item for item in items)
    return (opening + ',\n  "items": [' + body + "\n  ]\n}\n").encode("utf-8")


@functools.lru_cache(maxsize=8192)
def _item_json(
    entry: EntryState, outlet: str, source_id: str, source_link: str | None, story_feed: str
) -> str:
    """One item, indented as the third level of a feed, without leading whitespace.

    Fields mirror the Atom entry: the alternate link is `url`, the entry's
    author (else the outlet) is `authors`, categories are `tags`. The Atom
    entry's `atom:source` has no JSON Feed counterpart, so it travels as the
    custom object `_source` (the spec's extension mechanism, which readers
    that do not know it ignore), to keep the merged feed telling who reported
    what. An entry in a cross-outlet story has the story id among its `tags`
    (the Atom category's term) and a `_story` object with the story feed's URL.
    """
    item: dict[str, Any] = {"id": _clean(entry.entry_id)}
    link = entry.link or source_link
    if link:
        item["url"] = _clean(link)
    if entry.title:
        item["title"] = _clean(entry.title)
    item["content_html"] = _clean(entry.content_html)
    item["date_published"] = rfc3339(entry.published)
    item["date_modified"] = rfc3339(entry.updated)
    item["authors"] = [{"name": _clean(entry.author or outlet)}]
    tags = [_clean(term) for term in entry.categories]
    if entry.story is not None and story_feed:
        tags.append(entry.story)
    if tags:
        item["tags"] = tags
    origin: dict[str, str] = {"id": _clean(source_id), "title": _clean(outlet)}
    if source_link is not None:
        origin["home_page_url"] = _clean(source_link)
    item["_source"] = origin
    if entry.story is not None and story_feed:
        item["_story"] = {"id": entry.story, "feed_url": story_feed}
    return _dumps(item).replace("\n", "\n    ")


def _story_feed(stories: StoryLinks | None, entry: EntryState) -> str:
    """The URL of the entry's story feed (the Atom one, as in the Atom entry's
    `related` link); "" without a story."""
    if stories is None or entry.story is None:
        return ""
    return stories.feed_url(entry.story)


def _dumps(value: dict[str, Any]) -> str:
    """The one layout every document uses. Newlines inside strings are escaped
    by the encoder, so every newline in the result is layout and re-indenting
    by replacing them is safe."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def _clean(text: str) -> str:
    return strip_xml_illegal(text)
