"""Stories: groups of entries from different sources that report the same fact.

`StoryIndex.add` takes one entry at a time, as the service sees them poll by
poll, and says which story it joins; `cluster_stories` is the same fold over
a batch, so the two agree on the same input order by construction.

For each new entry:

1. Blocking: the entries sharing an LSH band with it (`minhash`, whose
   buckets keep their newest `BUCKET_DEPTH`), from other sources (an
   outlet's entries are never compared with each other), published within
   `window` of it; the `CANDIDATES` sharing the most bands are kept.
2. Scoring: the exact score (`match.score`) of each; a pair at or above
   `threshold` is accepted.
3. Joining: every story holding an accepted partner is a candidate, best
   partner first. It is admissible when the entry matches at least
   `min_support` of its sample (its earliest member and its newest, at most
   `STORY_SAMPLE`: every member of a story that small, scored exactly
   whether or not blocking proposed them), and when it holds no entry of
   the entry's own source, unless the entry is a near-identical re-post of
   the newest one (`match.near_identical`: long and almost word for word).
   Checking spends at most `CHECKS` more exact scores. The entry joins the
   admissible story it scores best against on average (ties: the smaller
   story id), or starts one.

So an entry costs at most `CANDIDATES + CHECKS` exact scores and gathers at
most `bands * BUCKET_DEPTH` candidates, whatever the texts. With 2,000
updates of 20 outlets sharing one boilerplate paragraph (bench.stories) an
entry used to score every earlier one (2.0 million pairs, 257 s); now about
33, within 1.5 times the time and memory of as many varied texts. On the
generated corpus and the labelled set the caps change nothing measured: the
same stories, ids included, and blocking keeps 99.1% of the pairs all-pairs
scoring accepts, as before.

Stories never merge, and an entry never moves. So a bridge cannot join two
stories: an entry close to both joins one of them. And because an entry must
match at least half the members (the sample) of the story it joins, a chain
where only neighbours match (A-B, B-C, C-D) stops early: C may join {A, B},
D, matching one member of three, may not. The price is order: when an entry is
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
import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregator.core.states import EntryState
from aggregator.follow.stories.match import Features, MatchParams, features, near_identical, score
from aggregator.follow.stories.minhash import BandIndex, MinHasher
from aggregator.follow.stories.text import plain_text

# Candidates scored exactly per new entry, the best by shared LSH bands. On the
# generated corpus (bench.stories, 5,000 entries) half the entries have at
# most 4 candidates within the window and 90% at most 34; keeping 32 leaves
# blocking recall where it was, while 2,000 entries sharing a boilerplate
# paragraph score 32 pairs each instead of every earlier entry.
CANDIDATES = 32
# Members of a story a new entry is checked against: its earliest and newest.
# Stories of the generated corpus have at most 8 members (one per outlet), so
# there the check is against every member, as before the cap.
STORY_SAMPLE = 8
# Exact scores a new entry may spend checking stories, beyond its candidates:
# four stories' samples. Per entry, at most CANDIDATES + CHECKS scores.
CHECKS = 32


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
    score against the members it was checked against, `matched` (at most
    `STORY_SAMPLE` of the story's other members, oldest first; 0.0 and () for
    a new story); `renamed_from` is the story's previous id when this entry
    became its earliest member. `known` is True when the (source, key) had
    been added before: nothing is rescored and the entry keeps its story (a
    revision never moves an entry); `joined` then says whether that story has
    others.
    """

    story: str
    joined: bool
    score: float = 0.0
    renamed_from: str | None = None
    known: bool = False
    matched: tuple[StoryEntry, ...] = ()


@dataclass
class BlockingStats:
    """Counts of pairs at each step, for the benchmark and the tests."""

    candidates: int = 0  # cross-source pairs proposed by blocking (or all of them, without)
    scored: int = 0  # exact scores computed: the chosen candidates, then the story checks
    accepted: int = 0  # candidates scored at or above the threshold


@dataclass(slots=True)
class _Item:
    entry: StoryEntry
    features: Features
    story: int = -1


@dataclass(slots=True)
class _Story:
    members: list[int]  # in the order they were added
    earliest: int
    latest: dict[str, int]  # each source's newest member

    def sample(self) -> list[int]:
        """The members a new entry is checked against: the earliest, and the newest up
        to `STORY_SAMPLE` in all."""
        if len(self.members) <= STORY_SAMPLE:
            return self.members[:]
        newest = self.members[1 - STORY_SAMPLE :]
        return newest if self.earliest in newest else [self.earliest, *newest]


class StoryIndex:
    """The incremental matcher: entries go in one at a time, stories come out.

    With `blocking=False` every earlier entry is a candidate: the all-pairs
    baseline the benchmark compares with, and the reference the tests check
    blocking against. Either way a story is checked against its `sample`
    within `CHECKS` exact scores.
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
        proposed, chosen = self._candidates(item, number)
        self.stats.candidates += proposed
        scored: dict[int, float] = {}
        for other in chosen:
            value = scored[other] = self._score(item, self._items[other])
            if value >= params.threshold:
                self.stats.accepted += 1
                self._accepted.append((other, number, value))
        options = self._options(item, scored)
        self._items.append(item)
        self._by_key[(entry.source, entry.key)] = number
        if not options:
            item.story = number
            self._stories[number] = _Story([number], number, {entry.source: number})
            return Assignment(story_id(entry), joined=False)
        negative_mean, previous, handle, checked = min(options)
        story = self._stories[handle]
        story.members.append(number)
        story.latest[entry.source] = number
        item.story = handle
        renamed = None
        if entry.order < self._items[story.earliest].entry.order:
            story.earliest = number
            renamed = previous
        matched = tuple(sorted((self._items[n].entry for n in checked), key=lambda e: e.order))
        return Assignment(
            self._id(story),
            joined=True,
            score=-negative_mean,
            renamed_from=renamed,
            matched=matched,
        )

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
        """What `add` would score for `entry` among the indexed entries: other sources,
        within the window, at most `CANDIDATES` with blocking."""
        item = _Item(entry, features(entry.title, entry.text, self.params))
        return [self._items[n].entry for n in self._candidates(item, None)[1]]

    def _candidates(self, item: _Item, number: int | None) -> tuple[int, list[int]]:
        """How many earlier entries of other sources blocking proposes, and those of them
        worth scoring, in the order they were added.

        With blocking, the proposed entries within the window are ranked by how
        many LSH bands they share with the item (an estimate of their Jaccard
        similarity), then by how near in time, then the newest, and the best
        `CANDIDATES` are kept. With a `number`, the item is filed in the LSH
        buckets under it too (in the same pass over the bands).
        """
        if not item.features.tokens:
            return 0, []
        shared: Counter[int] | None = None
        if self.blocking:
            keys = self._bands.keys(self._hasher.signature_bytes(item.features.tokens))
            shared = self._bands.query(keys) if number is None else self._bands.add(number, keys)
        items, source, published = self._items, item.entry.source, item.entry.published
        proposed: Iterable[int] = range(len(items)) if shared is None else shared
        others = [n for n in proposed if items[n].entry.source != source]
        near = [
            n for n in others if abs(items[n].entry.published - published) <= self.params.window
        ]
        if shared is not None and len(near) > CANDIDATES:
            ranked = [(-shared[n], abs(items[n].entry.published - published), -n) for n in near]
            near = [-n for _, _, n in heapq.nsmallest(CANDIDATES, ranked)]
        return len(others), sorted(near)

    def _score(self, a: _Item, b: _Item) -> float:
        self.stats.scored += 1
        return score(a.features, a.entry.published, b.features, b.entry.published, self.params)

    def _options(
        self, item: _Item, scored: dict[int, float]
    ) -> list[tuple[float, str, int, list[int]]]:
        """The stories the item may join: (minus its mean score, story id, handle, the
        members it was checked against), for each story holding an accepted partner.

        Stories are checked best partner first, and a check scores the sample's
        members not scored yet; a story whose check would take the item past
        `CHECKS` such scores is left out.
        """
        threshold = self.params.threshold
        best: dict[int, float] = {}
        for other, value in scored.items():
            if value >= threshold:
                handle = self._items[other].story
                best[handle] = max(best.get(handle, 0.0), value)
        budget = CHECKS
        options = []
        for handle in sorted(best, key=lambda h: (-best[h], self._id(self._stories[h]))):
            story = self._stories[handle]
            checked = self._admissible(item, story, scored, budget)
            if checked is None:
                continue
            mean, sample, spent = checked
            budget -= spent
            if mean is not None:
                options.append((-mean, self._id(story), handle, sample))
        return options

    def _admissible(
        self, item: _Item, story: _Story, scored: dict[int, float], budget: int
    ) -> tuple[float | None, list[int], int] | None:
        """Check the item against the story's sample: (its mean score there when it may
        join, else None; the sample; the exact scores spent), or None when the
        check needs more than `budget` scores.

        The item may join when it matches at least `min_support` of the sample,
        and when the story's newest entry of the item's own source, if any, is
        one it re-posts near-identically. Every score goes into `scored`.
        """
        params, source = self.params, item.entry.source
        sample = story.sample()
        missing = [m for m in sample if m not in scored and self._items[m].entry.source != source]
        if len(missing) > budget:
            return None
        same = story.latest.get(source)
        if same is not None and not self._reposts(item, self._items[same]):
            return None, sample, 0
        for member in missing:
            scored[member] = self._score(item, self._items[member])
        scores = [scored[m] for m in sample if self._items[m].entry.source != source]
        supported = len(sample) - len(scores) + sum(v >= params.threshold for v in scores)
        if supported < params.min_support * len(sample):
            return None, sample, len(missing)
        return (sum(scores) / len(scores) if scores else 1.0), sample, len(missing)

    def _reposts(self, item: _Item, other: _Item) -> bool:
        return near_identical(item.features, other.features, self.params)

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
