"""Extract updates from a live blog served as HTML (`format = "liveblog-html"`).

Live pages offer their updates in several ways. This module reads them in
order of reliability and keeps the first reading of the markup that finds
updates; each reading is a module of its own:

1. JSON-LD `LiveBlogPosting` updates (`jsonld`);
2. configured selectors (`selectors`), for pages whose markup is known;
3. schema.org microdata or RDFa updates (`microdata`);
4. repeated timestamped blocks, on pages never seen before (`blocks`);
5. otherwise the page's main text (`<main>`, else `<body>`) read as lines
   (`lines`) by the text extractor: stamp lines, including relative labels
   ("12m ago") read against the fetch.

JSON-LD and one of the markup readings (2 to 4) are merged when both find
updates (`_merged`): the JSON-LD wins, the page's markup adds what it
leaves out and corrects its times. The meaning of a live page (stamp lines,
titles, the header and lead, identity) is the text extractor's, reused rather
than copied, so every route gives the same entries for the same page (the
tests prove it on the two seeds). The bytes become a tree in `tree`, by the
charset rule every format shares (`decode`).

Updates without an identity of their own are keyed like text updates: UTC time
to the second plus an ordinal among equal times counted oldest first, so new
updates never shift an old key; a second update with an identity already seen
is skipped with a page note. Entries come out oldest first. All content is
sanitised against the page address: relative links and images become
absolute, and scripts, frames, event handlers and `javascript:` URLs never
reach a feed; links and identities are only ever http(s) addresses. Nothing
is dropped silently: every skipped block or update leaves a page note, and a
page that yields nothing raises `ExtractError` with every reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import lxml.html
from lxml.html import HtmlElement

from aggregator.core.errors import ExtractError, NoUpdates
from aggregator.core.model import ExtractContext, ExtractedEntry, Page, Strategy, normalise_text
from aggregator.ingest.extract.blocks import read_blocks
from aggregator.ingest.extract.jsonld import json_ld_values, read_json_ld, stated_times
from aggregator.ingest.extract.lines import html_lines, main_element, page_header
from aggregator.ingest.extract.liveblog_text import extract_text, lead, time_keys, update_link
from aggregator.ingest.extract.markup import Draft, Reading
from aggregator.ingest.extract.microdata import read_microdata
from aggregator.ingest.extract.sanitize import strip_xml_illegal
from aggregator.ingest.extract.selectors import read_selectors
from aggregator.ingest.extract.times import mostly_descending
from aggregator.ingest.extract.tree import html_tree

# Blocks match the JSON-LD's live blog when half of them, or this many, match an update.
_SAME_BLOG = 3
# Letters and digits that must agree for two readings of one update's text to match,
_FINGERPRINT = 40
# within this many from the start of either (a heading may lead one of them).
_FINGERPRINT_WINDOW = 400


def extract(body: bytes, ctx: ExtractContext) -> Page:
    """Turn an HTML live page into its updates, oldest first (see the module rules)."""
    root, notes = html_tree(body, ctx)
    values, value_notes = json_ld_values(root)
    from_ld, ld_notes = read_json_ld(values, ctx)
    from_html, html_notes = _from_markup(root, ctx, lambda: stated_times(values))
    notes = (*notes, *value_notes, *ld_notes, *html_notes)
    readings = [reading for reading in (from_ld, from_html) if reading is not None]
    if not readings:
        return _from_text(root, ctx, notes)
    return _page(_merged(*readings) if len(readings) == 2 else readings[0], ctx, notes)


def _from_markup(
    root: HtmlElement, ctx: ExtractContext, stated: Callable[[], Sequence[str]]
) -> tuple[Reading | None, tuple[str, ...]]:
    """The first reading of the markup that finds updates: selectors, microdata, blocks.

    `stated` gives the times the page's JSON-LD states, for the generic reading.
    """
    selected, notes = read_selectors(root, ctx)
    if selected is not None:
        return selected, notes
    found = read_microdata(root, ctx)
    if found is None:
        found = read_blocks(root, ctx, stated)
        strategy: Strategy = "generic"
    else:
        strategy = "microdata"
    if found is None:
        return None, notes
    header = page_header(root, found.first)
    default_author = header.author or ctx.author
    drafts = tuple(replace(draft, author=draft.author or default_author) for draft in found.blocks)
    return Reading(
        strategy, drafts, found.notes, header.title or _page_title(root), header.author
    ), notes


def _page_title(root: HtmlElement) -> str | None:
    for element in (*root.iter("h1"), *root.iter("title")):
        text = normalise_text(element.text_content())
        if text:
            return text
    return None


def _merged(primary: Reading, secondary: Reading) -> Reading:
    """JSON-LD and the page's own blocks, merged by identity, never doubled.

    An update of the HTML matches a JSON-LD one by identity, else by the
    opening of its text, else by a title no other update has. The blocks are
    the same live blog only when at least half of them, or three, match;
    otherwise they are something else the page lists and are left out. A
    match keeps the JSON-LD update, with the time the page *shows* in its
    markup (`<time datetime>`, say) when the two disagree: JSON-LD often
    states when a scheduled post was written. Blocks the JSON-LD leaves out
    (it lists only the newest, say) are added.
    """
    by_identity = {draft.identity: draft for draft in primary.drafts if draft.identity}
    texts = [(_letters(draft.content_html), draft) for draft in primary.drafts]
    titles = Counter(normalise_text(draft.title).lower() for draft in primary.drafts)
    by_title = {normalise_text(draft.title).lower(): draft for draft in primary.drafts}
    matches: list[tuple[Draft, Draft]] = []
    unmatched: list[Draft] = []
    for block in secondary.drafts:
        title = normalise_text(block.title).lower()
        letters = _letters(block.content_html)
        match = (
            by_identity.get(block.identity or "")
            or next((draft for text, draft in texts if _same_text(text, letters)), None)
            or (by_title.get(title) if titles[title] == 1 else None)
        )
        if match is None:
            unmatched.append(block)
        else:
            matches.append((block, match))
    if len(matches) * 2 < len(secondary.drafts) and len(matches) < _SAME_BLOG:
        note = (
            f"the page's {len(secondary.drafts)} timestamped blocks share only {len(matches)} "
            "update(s) with its JSON-LD; they were left out"
        )
        return replace(primary, notes=(*primary.notes, note))
    replaced: dict[int, Draft] = {}
    for block, match in matches:
        shown = _shown_time(block)
        if shown is not None and _minute(shown) != _minute(match.published):
            note = (
                f"JSON-LD states {match.published:%Y-%m-%dT%H:%MZ}, the page shows "
                f"{shown:%Y-%m-%dT%H:%MZ}; the time shown was used"
            )
            replaced[id(match)] = replace(match, published=shown, notes=(*match.notes, note))
    drafts = tuple(replaced.get(id(draft), draft) for draft in primary.drafts)
    notes = primary.notes
    if unmatched:
        notes = (*notes, f"{len(unmatched)} update(s) on the page are not in its JSON-LD; added")
    return replace(primary, drafts=(*drafts, *unmatched), notes=notes)


def _shown_time(block: Draft) -> datetime | None:
    """The time a block states in its markup (see `_merged`), if it states one.

    A printed time of day is not used: it rests on the configured zone and a
    day worked out from the page, where the JSON-LD states the instant.
    """
    return block.published if block.basis == "stated" else None


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _letters(content_html: str) -> str:
    """The opening letters and digits of an update's text, to recognise it in two readings."""
    if not content_html:
        return ""
    text = lxml.html.fragment_fromstring(content_html, create_parent="div").text_content()
    letters = "".join(char for char in text[: _FINGERPRINT_WINDOW * 2].lower() if char.isalnum())
    return letters[:_FINGERPRINT_WINDOW]


def _same_text(one: str, other: str) -> bool:
    """Whether one text's opening stands near the start of the other (a heading may lead)."""
    if len(one) < _FINGERPRINT or len(other) < _FINGERPRINT:
        return False
    return one[:_FINGERPRINT] in other or other[:_FINGERPRINT] in one


# --- keys, order and the end of every path ------------------------------------------


def _page(reading: Reading, ctx: ExtractContext, notes: tuple[str, ...]) -> Page:
    entries, duplicates = _entries(reading.drafts, ctx.page_url)
    entries = [_legal(entry) for entry in entries]
    page_notes = tuple(map(strip_xml_illegal, (*notes, *reading.notes, *duplicates)))
    _require(entries, ctx, page_notes)
    lead_entry = (
        lead(reading.header, ctx, entries[0].published) if reading.header is not None else None
    )
    return Page(
        entries=(lead_entry, *entries) if lead_entry is not None else tuple(entries),
        title=_legal_text(reading.title),
        author=_legal_text(reading.author),
        notes=page_notes,
        strategy=reading.strategy,
    )


def _legal(entry: ExtractedEntry) -> ExtractedEntry:
    """The entry without characters XML forbids (the tree was parsed as the page came)."""
    return replace(
        entry,
        key=strip_xml_illegal(entry.key),
        title=strip_xml_illegal(entry.title),
        content_html=strip_xml_illegal(entry.content_html),
        link=_legal_text(entry.link),
        author=_legal_text(entry.author),
        notes=tuple(map(strip_xml_illegal, entry.notes)),
        id=_legal_text(entry.id),
    )


def _legal_text(text: str | None) -> str | None:
    return strip_xml_illegal(text) if text is not None else None


def _entries(drafts: Sequence[Draft], page_url: str) -> tuple[list[ExtractedEntry], list[str]]:
    """Entries oldest first, keyed by identity or by time and ordinal; repeats skipped."""
    newest_first = mostly_descending([draft.published.timestamp() for draft in drafts])
    in_time = sorted(reversed(drafts) if newest_first else drafts, key=lambda d: d.published)
    fallback = iter(time_keys(draft.published for draft in in_time if draft.identity is None))
    entries: list[ExtractedEntry] = []
    notes: list[str] = []
    seen: set[str] = set()
    for draft in in_time:
        key = draft.identity or next(fallback)
        if key in seen:
            notes.append(f"the update '{draft.title}' repeats the identity {key}; it was skipped")
            continue
        seen.add(key)
        entries.append(
            ExtractedEntry(
                key=key,
                title=draft.title,
                content_html=draft.content_html,
                published=draft.published,
                updated=draft.updated,
                link=draft.link or update_link(page_url, key),
                author=draft.author,
                notes=draft.notes,
                id=draft.identity,
            )
        )
    return entries, notes


def _require(entries: Sequence[ExtractedEntry], ctx: ExtractContext, notes: Sequence[str]) -> None:
    if not entries:
        details = "".join(f"; {note}" for note in notes)
        raise NoUpdates(f"{ctx.source}: no usable update in {ctx.page_url}{details}")


def _from_text(root: HtmlElement, ctx: ExtractContext, notes: tuple[str, ...]) -> Page:
    notes = tuple(map(strip_xml_illegal, notes))
    try:
        page = extract_text("\n".join(html_lines(main_element(root))), ctx, notes)
    except ExtractError as error:
        reasons = (NOTHING_FOUND, str(error), *notes)
        raise NoUpdates("; ".join(reasons)) from error
    return replace(page, strategy="text")


NOTHING_FOUND = (
    "no updates found: no JSON-LD live blog, no microdata, no repeated timestamped blocks, "
    "no printed stamps"
)
