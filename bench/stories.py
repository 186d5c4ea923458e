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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.core.events import EntryAdded
from aggregator.core.model import content_hash
from aggregator.follow.stories import StoryEntry, StoryIndex
from bench.common import Figure, main, median, timed

FIGURES = ["cluster"]

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
        )
    ]


if __name__ == "__main__":
    main(run, "stories")
