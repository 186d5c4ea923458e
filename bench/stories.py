"""Stories: clustering 5,000 updates from 20 outlets by the fact they report.

Time to cluster N generated entries with `StoryIndex` (MinHash LSH blocking,
then exact scoring of the candidates), beside the all-pairs baseline: the
same index with blocking off, which scores every earlier entry of another
source within the time window. Same input, same order, in the same run.
Target: at least 1,000 entries/s with blocking, at least 5 times faster than
all pairs, and blocking keeping at least 98% of the pairs the exact scorer
accepts when it sees every pair (64 bands of 2 rows keep a pair of Jaccard
0.2 with probability 0.93, and one-liners make such pairs). The notes give
the pair counts of each step and whether the stories came out identical.

Warm-up: a new `StoryLinker` that finds 20 new entries past its position
indexes the read model's 2,000 newest entries first. Timed for entries of
20 sources that share a 300-word boilerplate paragraph and differ in five
words (the live blogs of one event), beside the same shape of entries
whose 305 words are each their own (varied texts); the target is within
1.5 times the varied case in time and in memory (the peak `tracemalloc`
sees during the link, one more run), with at most `CANDIDATES + CHECKS`
pairs scored an entry. The notes add the 2,000 items of 100 of
`bench.fanout`'s RSS feeds. Before the caps (issue 17) the boilerplate case
took 257 s, scoring 2.0 million pairs, and the feeds 30 s, 2.4 million.

The entries are generated (`generate`), seeded and deterministic, over 48
hours: each story belongs to one of 25 topics and has its own names, numbers
and words, a few of its topic's words and names, and common words drawn
Zipf-fashion from 20,000; one to eight of the 20 outlets report it, each
keeping about three quarters of the story's words and adding a few of its
own (a paraphrase), and one report in ten is a one-liner. Reports of one
topic share vocabulary, as one conflict's coverage does. The generator's
stories are the ground truth `tests/test_stories.py` measures against.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aggregator.core.events import EntryAdded
from aggregator.core.model import ExtractContext, content_hash
from aggregator.follow.stories import StoryEntry, StoryIndex
from aggregator.follow.stories.cluster import CANDIDATES, CHECKS
from aggregator.follow.stories.linker import StoryLinker
from aggregator.ingest.extract import extract
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryEventLog, MemoryReadModel
from bench.common import Figure, main, median, timed
from bench.fanout import feed_bytes

FIGURES = ["cluster", "warm-up"]
WARM_NEW = 20  # entries past the new linker's position

_START = datetime(2021, 3, 1, tzinfo=UTC)
_CONSONANTS = "bdfghklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True, slots=True)
class Generated:
    """A generated entry and the story it was generated from (the ground truth)."""

    entry: StoryEntry
    story: int


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables)) + (
        rng.choice(_CONSONANTS)
    )


def _vocabulary(rng: random.Random, size: int, syllables: tuple[int, int]) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        words[_word(rng, rng.randint(*syllables))] = None
    return list(words)


def generate(count: int, sources: int = 20, seed: int = 8) -> list[Generated]:
    """`count` entries from `sources` outlets, in publication order."""
    rng = random.Random(seed)
    common = _vocabulary(rng, 20_000, (2, 4))
    # Zipf-Mandelbrot: the commonest word is in about one entry in eight.
    common_weights = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(common))))
    topics = [_vocabulary(rng, 40, (2, 3)) for _ in range(25)]
    topic_names = [[w.capitalize() for w in _vocabulary(rng, 8, (2, 3))] for _ in topics]
    outlets = [f"outlet-{n:02d}" for n in range(sources)]
    made: list[Generated] = []
    story = 0
    while len(made) < count:
        topic = rng.randrange(len(topics))
        # The story as a whole: its own names, numbers and words, some of its
        # topic's, and common words. Each outlet keeps about three quarters of
        # it and adds words of its own: a paraphrase.
        facts = [w.capitalize() for w in _vocabulary(rng, 4, (2, 4))]
        facts += [str(rng.randint(2, 5000)) for _ in range(2)] + _vocabulary(rng, 3, (3, 4))
        core = facts + rng.sample(topic_names[topic], 2) + rng.sample(topics[topic], 3)
        core += rng.choices(common, cum_weights=common_weights, k=6)
        when = _START + timedelta(minutes=rng.uniform(0, 48 * 60))
        reporters = rng.sample(outlets, min(sources, 1 + int(rng.expovariate(1 / 1.6)) % 8))
        for outlet in reporters:
            if len(made) == count:
                break
            delay = timedelta(minutes=min(600.0, rng.expovariate(1 / 60)))
            if rng.random() < 0.1:  # a one-liner
                body = rng.sample(facts, 4) + rng.choices(common, cum_weights=common_weights, k=2)
            else:
                body = [w for w in core if rng.random() < 0.75]
                body += rng.sample(topics[topic], 1)
                body += rng.choices(common, cum_weights=common_weights, k=4)
            rng.shuffle(body)
            title = " ".join(body[:5]).capitalize()
            text = " ".join(body).capitalize() + "."
            key = f"{outlet}-{len(made)}"
            made.append(Generated(StoryEntry(outlet, key, title, text, when + delay), story))
        story += 1
    made.sort(key=lambda g: g.entry.order)
    return made


def cluster(entries: Sequence[StoryEntry], blocking: bool) -> StoryIndex:
    index = StoryIndex(blocking=blocking)
    for entry in entries:
        index.add(entry)
    return index


def _pairs(index: StoryIndex) -> set[tuple[str, str, str, str]]:
    return {(a.source, a.key, b.source, b.key) for a, b, _ in index.accepted_pairs()}


def boilerplate_entries(count: int, shared: bool, sources: int = 20) -> list[EntryAdded]:
    """`count` entries 20 s apart from `sources` outlets in turn: a 300-word paragraph,
    the same for all when `shared`, then five words of their own."""
    rng = random.Random(5)
    words = [_word(rng, 3) for _ in range(3000)]
    paragraph = " ".join(rng.choices(words, k=300))
    made = []
    for n in range(count):
        if not shared:
            paragraph = " ".join(rng.choices(words, k=300))
        text = f"<p>{paragraph} {' '.join(rng.choices(words, k=5))}</p>"
        when = _START + timedelta(seconds=20 * n)
        made.append(_added(f"blog-{n % sources:02d}", f"u{n}", f"Update {n}", text, when))
    return made


def feed_entries(feeds: int) -> list[EntryAdded]:
    """The items of `bench.fanout`'s first `feeds` RSS feeds, as a poll reads them."""
    made = []
    for number in range(feeds):
        context = ExtractContext(
            source=f"news-{number:04d}",
            page_url="https://example.org/",
            fetched_at=datetime(2026, 11, 21, tzinfo=UTC),
            timezone=ZoneInfo("UTC"),
        )
        for item in extract(feed_bytes(number), context, "feed").entries:
            made.append(
                _added(context.source, item.key, item.title, item.content_html, item.published)
            )
    return made


def _added(source: str, key: str, title: str, html: str, when: datetime) -> EntryAdded:
    return EntryAdded(
        source=source,
        key=key,
        entry_id=f"urn:bench:{source}:{key}",
        version=1,
        title=title,
        content_html=html,
        published=when,
        updated=when,
        link=None,
        author=None,
        content_hash=content_hash(title, html),
    )


@dataclass
class Warming:
    """One warm-up: a log and read model holding `events` (`setup`, not timed), and
    a new linker that finds the last `WARM_NEW` of them past its position (`link`)."""

    events: Sequence[EntryAdded]
    log: MemoryEventLog = field(default_factory=MemoryEventLog)
    model: MemoryReadModel = field(default_factory=MemoryReadModel)
    linker: StoryLinker | None = None
    links: int = 0

    def setup(self) -> None:
        self.log, self.model = MemoryEventLog(), MemoryReadModel()
        self.log.append(self.events)
        catch_up(self.log, self.model)
        self.linker = StoryLinker(start=self.log.head() - WARM_NEW)

    def link(self) -> None:
        assert self.linker is not None
        self.links = len(self.linker.link(self.log, self.model))

    def scored(self) -> tuple[int, int]:
        """Pairs scored, and entries indexed."""
        assert self.linker is not None and self.linker.index is not None
        return self.linker.index.stats.scored, len(self.linker.index)


def warm_up(quick: bool) -> Figure:
    count, runs = (200, 1) if quick else (2_000, 3)
    same = Warming(boilerplate_entries(count, shared=True))
    varied = Warming(boilerplate_entries(count, shared=False))
    feeds = Warming(feed_entries(count // 20))
    ours, baseline = timed(same.link, runs, same.setup), timed(varied.link, runs, varied.setup)
    feed_time = median(timed(feeds.link, 1, feeds.setup))
    peaks = []
    for case in (same, varied):
        case.setup()
        tracemalloc.start()
        case.link()
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    ratio, memory = median(ours) / median(baseline), peaks[0] / peaks[1]
    per_entry = [scored / indexed for scored, indexed in (c.scored() for c in (same, varied))]
    notes = [f"baseline samples: {baseline}"]
    for name, case in (("boilerplate", same), ("varied", varied), ("feeds", feeds)):
        scored, indexed = case.scored()
        notes.append(
            f"{name}: {indexed:,} entries indexed, {scored:,} pairs scored"
            f" ({scored / indexed:.1f} an entry), {case.links:,} links"
        )
    notes.append(f"feeds: {feed_time:.2f} s")
    notes.append(f"peak traced memory: boilerplate {peaks[0]:.1f} MB, varied {peaks[1]:.1f} MB")
    return Figure(
        benchmark="stories",
        name=f"warm-up of a new linker over {count:,} entries sharing a boilerplate paragraph",
        value=median(ours),
        unit="s",
        baseline_name="the same over varied texts, s",
        baseline=median(baseline),
        ratio=ratio,
        ratio_meaning="boilerplate time / varied time",
        target=f"time and memory ratios <= 1.5, <= {CANDIDATES + CHECKS} pairs scored an entry",
        met=None
        if quick
        else (ratio <= 1.5 and memory <= 1.5 and max(per_entry) <= CANDIDATES + CHECKS),
        runs=runs,
        command="python -m bench.stories",
        samples=ours,
        notes=notes,
    )


def run(quick: bool) -> list[Figure]:
    count, runs = (400, 1) if quick else (5_000, 3)
    entries = [g.entry for g in generate(count)]
    lsh = cluster(entries, True)
    full = cluster(entries, False)
    kept = _pairs(lsh) & _pairs(full)
    recall = len(kept) / max(1, len(_pairs(full)))
    same = lsh.stories() == full.stories()
    ours = timed(lambda: cluster(entries, True), runs)
    baseline = timed(lambda: cluster(entries, False), 1 if quick else 2)
    rate = count / median(ours)
    ratio = median(baseline) / median(ours)
    pairs = count * (count - 1) // 2
    return [
        Figure(
            benchmark="stories",
            name=f"cluster {count:,} generated entries from 20 sources into stories",
            value=rate,
            unit="entries/s",
            baseline_name="all-pairs exact scoring, entries/s",
            baseline=count / median(baseline),
            ratio=ratio,
            ratio_meaning="all-pairs time / LSH time",
            target=">= 1,000 entries/s, ratio >= 5, blocking keeps >= 98% of accepted pairs",
            met=None if quick else (rate >= 1_000 and ratio >= 5 and recall >= 0.98),
            runs=runs,
            command="python -m bench.stories",
            samples=ours,
            notes=[
                f"baseline samples: {baseline}",
                f"pairs: {pairs:,}; LSH candidates (other source): {lsh.stats.candidates:,}"
                f" ({lsh.stats.candidates / pairs:.2%}), scored: {lsh.stats.scored:,};"
                f" all pairs scored: {full.stats.scored:,}",
                f"accepted pairs: all pairs {len(_pairs(full)):,}, kept by blocking {len(kept):,}"
                f" ({recall:.2%})",
                f"stories: {len(lsh.stories()):,} (all pairs: {len(full.stories()):,});"
                f" identical: {same}",
            ],
        ),
        warm_up(quick),
    ]


if __name__ == "__main__":
    main(run, "stories")
