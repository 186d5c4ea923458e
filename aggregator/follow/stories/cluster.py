"""Stories: groups of entries from different sources that report the same fact.

`StoryIndex.add` takes one entry at a time, as the service sees them poll by
poll, and says which story it joins; `cluster_stories` is the same fold over
a batch, so the two agree on the same input order by construction.

For each new entry:

1. Blocking: the entries sharing an LSH band with it (`minhash`), from other
   sources (an outlet's entries are never compared with each other), published
   within `window` of it.
2. Scoring: the exact score (`match.score`) of each; a pair at or above
   `threshold` is accepted.
3. Joining: every story holding an accepted partner is a candidate. It is
   admissible when the entry matches at least `min_support` of its members
   (scored exactly against every member, not only the LSH candidates), and
   when it holds no entry of the entry's own source, unless the entry is a
   near-identical re-post of that one (`match.near_identical`: long and
   almost word for word). The entry joins the admissible story it scores
   best against on average (ties: the smaller story id), or starts one.

Stories never merge, and an entry never moves. So a bridge cannot join two
stories: an entry close to both joins one of them. And because an entry must
match at least half the members of the story it joins, a chain where only
neighbours match (A-B, B-C, C-D) stops early: C may join {A, B}, D, matching
one member of three, may not. The price is order: when an entry is
ambiguous between two stories, or a story's reports arrive so that the
closest pair comes last, what arrived first decides. Replaying the log in
its order gives the same stories every time, and a story whose members all
match each other and nothing else comes out the same in any order.

A story's id is `story:` plus a BLAKE2b digest of its earliest member's
(source, key), earliest by (published, source, key). It depends on the
members only, not on arrival order; when a member published earlier than
all others joins late, the id changes and `Assignment.renamed_from` says from
what.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aggregator.core.states import EntryState
from aggregator.follow.stories.match import Features, MatchParams, features, near_identical, score
from aggregator.follow.stories.minhash import BandIndex, MinHasher
from aggregator.follow.stories.text import plain_text


@dataclass(frozen=True, slots=True)
class StoryEntry:
    """One update as the matcher sees it: plain values, no HTML, an aware time."""

    source: str
    key: str
    title: str
    text: str
    published: datetime

    def __post_init__(self) -> None:
        if self.published.utcoffset() is None:
            raise ValueError(f"published must be an aware datetime, got {self.published!r}")

    @classmethod
    def from_html(
        cls, source: str, key: str, title: str, content_html: str, published: datetime
    ) -> StoryEntry:
        """An entry from stored content, its HTML reduced to text."""
        return cls(source, key, title, plain_text(content_html), published)

    @classmethod
    def from_state(cls, state: EntryState) -> StoryEntry:
        """An entry of the read model (`ReadModel.entries`), keyed by its source and key."""
        return cls.from_html(
            state.source, state.key, state.title, state.content_html, state.published
        )

    @property
    def order(self) -> tuple[datetime, str, str]:
        """The total order that decides a story's earliest member."""
        return (self.published, self.source, self.key)


def story_id(entry: StoryEntry) -> str:
    """The id of a story whose earliest member is `entry`."""
    digest = hashlib.blake2b(f"{entry.source}\x1f{entry.key}".encode(), digest_size=10)
    return f"story:{digest.hexdigest()}"


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where an added entry went.

    `joined` is False when it started a story of its own; `score` is its mean
    score against the story's other members (0.0 for a new story);
    `renamed_from` is the story's previous id when this entry became its
    earliest member. `known` is True when the (source, key) had been added
    before: nothing is rescored and the entry keeps its story (a revision
    never moves an entry); `joined` then says whether that story has others.
    """

    story: str
    joined: bool
    score: float = 0.0
    renamed_from: str | None = None
    known: bool = False


@dataclass
class BlockingStats:
    """Counts of pairs at each step, for the benchmark and the tests."""

    candidates: int = 0  # cross-source pairs proposed by blocking (or all of them, without)
    scored: int = 0  # of those, within the time window, scored exactly
    accepted: int = 0  # of those, at or above the threshold


@dataclass(slots=True)
class _Item:
    entry: StoryEntry
    features: Features
    story: int = -1


@dataclass(slots=True)
class _Story:
    members: list[int] = field(default_factory=list)
    earliest: int = -1


class StoryIndex:
    """The incremental matcher: entries go in one at a time, stories come out.

    With `blocking=False` every earlier entry is a candidate: the all-pairs
    baseline the benchmark compares with, and the reference the tests check
    blocking against.
    """

    def __init__(self, params: MatchParams | None = None, *, blocking: bool = True) -> None:
        self.params = params or MatchParams()
        self.blocking = blocking
        self.stats = BlockingStats()
        self._hasher = MinHasher(self.params.num_perm, self.params.seed)
        self._bands = BandIndex(self.params.bands, self.params.rows)
        self._items: list[_Item] = []
        self._by_key: dict[tuple[str, str], int] = {}
        self._stories: dict[int, _Story] = {}
        self._accepted: list[tuple[int, int, float]] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, entry: StoryEntry) -> Assignment:
        known = self._by_key.get((entry.source, entry.key))
        if known is not None:
            story = self._stories[self._items[known].story]
            return Assignment(self._id(story), joined=len(story.members) > 1, known=True)
        params = self.params
        item = _Item(entry, features(entry.title, entry.text, params))
        number = len(self._items)
        accepted: dict[int, float] = {}
        for other in self._candidates(item, number):
            self.stats.candidates += 1
            partner = self._items[other]
            if abs(partner.entry.published - entry.published) > params.window:
                continue
            self.stats.scored += 1
            value = self._score(item, partner)
            if value >= params.threshold:
                self.stats.accepted += 1
                accepted[other] = value
                self._accepted.append((other, number, value))
        options: list[tuple[float, str, int]] = []
        for handle in {self._items[other].story for other in accepted}:
            story = self._stories[handle]
            mean = self._admissible(item, story, accepted)
            if mean is not None:
                options.append((-mean, self._id(story), handle))
        self._items.append(item)
        self._by_key[(entry.source, entry.key)] = number
        if not options:
            item.story = number
            self._stories[number] = _Story([number], number)
            return Assignment(story_id(entry), joined=False)
        negative_mean, previous, handle = min(options)
        story = self._stories[handle]
        story.members.append(number)
        item.story = handle
        renamed = None
        if entry.order < self._items[story.earliest].entry.order:
            story.earliest = number
            renamed = previous
        return Assignment(self._id(story), joined=True, score=-negative_mean, renamed_from=renamed)

    def story_of(self, source: str, key: str) -> str | None:
        number = self._by_key.get((source, key))
        return None if number is None else self._id(self._stories[self._items[number].story])

    def members(self, source: str, key: str) -> tuple[StoryEntry, ...]:
        """The members of the story holding (source, key), oldest first; () if not indexed."""
        number = self._by_key.get((source, key))
        if number is None:
            return ()
        story = self._stories[self._items[number].story]
        return tuple(sorted((self._items[n].entry for n in story.members), key=lambda e: e.order))

    def stories(self) -> dict[str, tuple[StoryEntry, ...]]:
        """Every story by id, members oldest first; stories in order of their earliest member."""
        found = []
        for story in self._stories.values():
            members = sorted((self._items[n].entry for n in story.members), key=lambda e: e.order)
            found.append((members[0].order, self._id(story), tuple(members)))
        return {ident: members for _, ident, members in sorted(found)}

    def accepted_pairs(self) -> list[tuple[StoryEntry, StoryEntry, float]]:
        """Every pair scored at or above the threshold (earlier entry first), with its score:
        what explains a story, and what blocking is measured by."""
        return [(self._items[a].entry, self._items[b].entry, v) for a, b, v in self._accepted]

    def candidates(self, entry: StoryEntry) -> list[StoryEntry]:
        """What blocking proposes for `entry` among the indexed entries (other sources only)."""
        item = _Item(entry, features(entry.title, entry.text, self.params))
        return [self._items[n].entry for n in self._candidates(item, None)]

    def _candidates(self, item: _Item, number: int | None) -> list[int]:
        """Earlier entries of other sources worth scoring, in the order they were added.

        With a `number`, the item is filed in the LSH buckets under it too (in
        the same pass over the bands).
        """
        if not item.features.tokens:
            return []
        if self.blocking:
            keys = self._bands.keys(self._hasher.signature_bytes(item.features.tokens))
            found = self._bands.query(keys) if number is None else self._bands.add(number, keys)
            proposed: Iterable[int] = sorted(found)
        else:
            proposed = range(len(self._items))
        source = item.entry.source
        return [n for n in proposed if self._items[n].entry.source != source]

    def _score(self, a: _Item, b: _Item) -> float:
        return score(a.features, a.entry.published, b.features, b.entry.published, self.params)

    def _admissible(self, item: _Item, story: _Story, accepted: dict[int, float]) -> float | None:
        """The mean score against the story's members when the item may join it, else None."""
        supported = 0
        scores: list[float] = []
        for member in story.members:
            other = self._items[member]
            if other.entry.source == item.entry.source:
                if not near_identical(item.features, other.features, self.params):
                    return None
                supported += 1
                continue
            value = accepted.get(member)
            if value is None:
                value = self._score(item, other)
            scores.append(value)
            if value >= self.params.threshold:
                supported += 1
        if supported < self.params.min_support * len(story.members):
            return None
        return sum(scores) / len(scores) if scores else 1.0

    def _id(self, story: _Story) -> str:
        return story_id(self._items[story.earliest].entry)


def cluster_stories(
    entries: Iterable[StoryEntry], params: MatchParams | None = None, *, blocking: bool = True
) -> dict[str, tuple[StoryEntry, ...]]:
    """The stories of a batch: `StoryIndex.add` over `entries` in the order given."""
    index = StoryIndex(params, blocking=blocking)
    for entry in entries:
        index.add(entry)
    return index.stories()


def pair_score(a: StoryEntry, b: StoryEntry, params: MatchParams | None = None) -> float:
    """The exact score of one pair (0.0 for two entries of one source)."""
    chosen = params or MatchParams()
    if a.source == b.source:
        return 0.0
    return score(
        features(a.title, a.text, chosen),
        a.published,
        features(b.title, b.text, chosen),
        b.published,
        chosen,
    )


def candidate_pairs(
    entries: Sequence[StoryEntry], params: MatchParams | None = None
) -> set[tuple[int, int]]:
    """The blocking step alone over a batch: index pairs (i < j) of different sources that
    share an LSH band, with no time window applied."""
    chosen = params or MatchParams()
    hasher = MinHasher(chosen.num_perm, chosen.seed)
    bands = BandIndex(chosen.bands, chosen.rows)
    pairs: set[tuple[int, int]] = set()
    for j, entry in enumerate(entries):
        tokens = features(entry.title, entry.text, chosen).tokens
        if not tokens:
            continue
        for i in bands.add(j, bands.keys(hasher.signature_bytes(tokens))):
            if entries[i].source != entry.source:
                pairs.add((i, j))
    return pairs
