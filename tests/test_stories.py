"""The "one story, many outlets" matcher (`aggregator.stories`) on labelled pairs.

The labelled set is `tests/fixtures/stories/pairs.toml`: the 46 entries the
project extracts from the two seed live blogs, two more outlets written for
the test (a wire rewriting seed updates in its own words, with hard negatives
of its own, and a channel of one-liners), and pairs labelled by reading the
texts: `same` (the same fact), `different`, `roundup` (one side is a roundup
that mentions the other's fact; left out of the figures) and `same-source`.

Two figures on it, printed by the test (`pytest -s`) and asserted:

* pairs: a pair is predicted the same when its exact score reaches the
  threshold: what the matcher decides for that pair alone;
* stories: a pair is predicted the same when both entries end up in one story
  after clustering everything in publication order: what a reader sees.

Measured: pairs precision 1.00, recall 0.925 (37 of 40); stories precision
1.00, recall 0.85 (34 of 40). Five of the story misses are by design: an
outlet that reports one fact twice (Al Jazeera's two "16 servicemen" updates
and its martial-law updates, the channel's repeated casualty line) can have
only one of the two in the story, so at most 35 of 40 are reachable. The
thresholds (precision 0.9, pairs recall 0.85, stories recall 0.8) leave room
for two or three pairs to change with a benign edit to the normaliser, and
fail a change that loses more. The thresholds of the matcher itself were
chosen on this same set (there is no held-out set; README), so these figures
are optimistic; the generated corpus below is the second check.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from aggregator.config import load_settings
from aggregator.follow.stories import (
    Assignment,
    MatchParams,
    StoryEntry,
    StoryIndex,
    candidate_pairs,
    cluster_stories,
    pair_score,
    story_id,
)
from aggregator.follow.stories.cluster import CANDIDATES, CHECKS
from aggregator.follow.stories.match import features, near_identical, score
from aggregator.follow.stories.minhash import BandIndex, MinHasher, candidate_probability
from aggregator.follow.stories.text import (
    NUMBER,
    PLAIN,
    PROPER,
    classes,
    plain_text,
    token_sequence,
)
from aggregator.ingest.extract import extract
from aggregator.ingest.poll import source_context
from bench.stories import boilerplate_entries, generate
from tests.support import REPO

PAIRS = REPO / "tests" / "fixtures" / "stories" / "pairs.toml"
CONFIG = REPO / "config" / "aggregator.toml"
FETCHED_AT = datetime(2020, 9, 28, tzinfo=UTC)
LABELS = {"same", "different", "roundup", "same-source"}

PAIR_PRECISION, PAIR_RECALL = 0.9, 0.85
STORY_PRECISION, STORY_RECALL = 0.9, 0.8

AJ_MUROVDAG = "aljazeera/20200927T154300Z-0"
DK_MUROVDAG = "dailyknight/20200927T185200Z-0"


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: str
    reason: str


def ref(entry: StoryEntry) -> str:
    return f"{entry.source}/{entry.key}"


@cache
def seed_entries() -> dict[str, StoryEntry]:
    """The entries `aggregator collect` appends for the seeds, read with the same extractor."""
    settings = load_settings(CONFIG, environ={})
    found: dict[str, StoryEntry] = {}
    for source in settings.sources:
        body = Path(url2pathname(urlparse(source.url).path)).read_bytes()
        page = extract(body, source_context(source, FETCHED_AT), source.format)
        for item in page.entries:
            entry = StoryEntry.from_html(
                source.name, item.key, item.title, item.content_html, item.published
            )
            found[ref(entry)] = entry
    return found


@cache
def fixture() -> tuple[dict[str, StoryEntry], tuple[Pair, ...]]:
    data = tomllib.loads(PAIRS.read_text(encoding="utf-8"))
    entries = dict(seed_entries())
    for item in data["entry"]:
        entry = StoryEntry(
            item["source"], item["key"], item["title"], item["text"], item["published"]
        )
        assert ref(entry) not in entries, ref(entry)
        entries[ref(entry)] = entry
    pairs = tuple(Pair(p["a"], p["b"], p["label"], p["reason"]) for p in data["pair"])
    return entries, pairs


def published_order(entries: Iterable[StoryEntry]) -> list[StoryEntry]:
    return sorted(entries, key=lambda e: e.order)


def story_map(entries: Sequence[StoryEntry]) -> dict[str, str]:
    """Entry reference to story id, clustering `entries` in the order given."""
    return {ref(e): ident for ident, members in cluster_stories(entries).items() for e in members}


def fixture_story_map() -> dict[str, str]:
    """What the subprocess of the determinism test prints."""
    entries, _ = fixture()
    return story_map(published_order(entries.values()))


def accepted_graph(entries: Sequence[StoryEntry]) -> dict[str, set[str]]:
    """Every cross-source pair the exact scorer accepts, as adjacency (no blocking)."""
    params = MatchParams()
    scored = [(e, features(e.title, e.text, params)) for e in entries]
    graph: dict[str, set[str]] = {ref(e): set() for e in entries}
    for (a, fa), (b, fb) in itertools.combinations(scored, 2):
        if a.source != b.source and score(fa, a.published, fb, b.published, params) >= (
            params.threshold
        ):
            graph[ref(a)].add(ref(b))
            graph[ref(b)].add(ref(a))
    return graph


def components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    seen: set[str] = set()
    found = []
    for start in graph:
        if start in seen:
            continue
        todo, part = [start], set()
        while todo:
            node = todo.pop()
            if node not in part:
                part.add(node)
                todo.extend(graph[node] - part)
        seen |= part
        found.append(frozenset(part))
    return found


def figures(tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / (tp + fn)


# ---------------------------------------------------------------- the fixture


def test_the_labelled_set_is_well_formed() -> None:
    entries, pairs = fixture()
    assert len(seed_entries()) == 46  # what `make smoke` waits for
    seen = set()
    for pair in pairs:
        assert pair.a in entries and pair.b in entries, pair
        assert pair.label in LABELS, pair
        assert pair.reason.strip(), pair
        key = frozenset((pair.a, pair.b))
        assert len(key) == 2 and key not in seen, pair
        seen.add(key)
        same_source = entries[pair.a].source == entries[pair.b].source
        assert same_source == (pair.label == "same-source"), pair
    labels = [p.label for p in pairs]
    assert labels.count("same") >= 20 and labels.count("different") >= 20
    assert labels.count("same") + labels.count("different") >= 40


# ----------------------------------------------------- precision and recall


def test_precision_and_recall_on_the_labelled_pairs() -> None:
    entries, pairs = fixture()
    params = MatchParams()
    stories = story_map(published_order(entries.values()))
    pair_counts = [0, 0, 0]
    story_counts = [0, 0, 0]
    for pair in pairs:
        if pair.label not in ("same", "different"):
            continue
        truth = pair.label == "same"
        by_score = pair_score(entries[pair.a], entries[pair.b]) >= params.threshold
        by_story = stories[pair.a] == stories[pair.b]
        for counts, said in ((pair_counts, by_score), (story_counts, by_story)):
            if said and truth:
                counts[0] += 1
            elif said:
                counts[1] += 1
            elif truth:
                counts[2] += 1
    pair_p, pair_r = figures(*pair_counts)
    story_p, story_r = figures(*story_counts)
    print(
        f"\nlabelled pairs: {sum(pair_counts[::2])} same, "
        f"{len([p for p in pairs if p.label == 'different'])} different"
        f"\n  pairs   precision {pair_p:.3f} recall {pair_r:.3f} (tp, fp, fn = {pair_counts})"
        f"\n  stories precision {story_p:.3f} recall {story_r:.3f} (tp, fp, fn = {story_counts})"
    )
    assert pair_p >= PAIR_PRECISION and pair_r >= PAIR_RECALL
    assert story_p >= STORY_PRECISION and story_r >= STORY_RECALL


def test_roundups_stay_apart_in_publication_order() -> None:
    """A roundup mentions many facts; joining it to one of them would make it that story."""
    entries, pairs = fixture()
    stories = story_map(published_order(entries.values()))
    for pair in pairs:
        if pair.label == "roundup":
            assert stories[pair.a] != stories[pair.b], pair


def test_the_murovdag_reports_are_one_story() -> None:
    """Al Jazeera at 15:43 GMT, the Daily Knight at 2:52pm Eastern: the same AFP report."""
    seeds = seed_entries()
    aj, dk = seeds[AJ_MUROVDAG], seeds[DK_MUROVDAG]
    assert aj.published == datetime(2020, 9, 27, 15, 43, tzinfo=UTC)
    assert dk.published == datetime(2020, 9, 27, 18, 52, tzinfo=UTC)
    stories = cluster_stories(published_order(seeds.values()))
    shared = {ident: members for ident, members in stories.items() if len(members) > 1}
    # The two seed blogs share exactly this one story, named after its earliest report.
    assert shared == {story_id(aj): (aj, dk)}

    entries, _ = fixture()
    everyone = story_map(published_order(entries.values()))
    murovdag = {name for name, ident in everyone.items() if ident == story_id(aj)}
    assert murovdag == {AJ_MUROVDAG, DK_MUROVDAG, "caucasuswire/cw-1558", "frontline/fl-1550"}


# ----------------------------------------------------------------- one source


def test_same_source_entries_are_never_candidates() -> None:
    entries, _ = fixture()
    ordered = published_order(entries.values())
    index = StoryIndex()
    for entry in ordered:
        assert all(c.source != entry.source for c in index.candidates(entry))
        index.add(entry)
    assert all(ordered[i].source != ordered[j].source for i, j in candidate_pairs(ordered))
    assert pair_score(entries[AJ_MUROVDAG], entries[AJ_MUROVDAG]) == 0.0


@pytest.mark.parametrize("shuffle", [None, *range(10)])
def test_same_source_updates_are_never_merged(shuffle: int | None) -> None:
    entries, pairs = fixture()
    ordered = published_order(entries.values())
    if shuffle is not None:
        random.Random(shuffle).shuffle(ordered)
    for members in cluster_stories(ordered).values():
        sources = [m.source for m in members]
        assert len(sources) == len(set(sources)), members  # no re-posts in the fixture
    stories = story_map(ordered)
    for pair in pairs:
        if pair.label == "same-source":
            assert stories[pair.a] != stories[pair.b], pair


def test_a_formulaic_line_posted_twice_stays_two_updates() -> None:
    """The same short line twice from one outlet is two alerts, even with a match for both."""
    at = datetime(2020, 9, 27, 10, tzinfo=UTC)
    line = "Sirens sounding in Stepanakert."
    entries = [
        StoryEntry("frontline", "a", line, line, at),
        StoryEntry("wire", "w", "Sirens sound in Stepanakert", "Air raid sirens sounding.", at),
        StoryEntry("frontline", "b", line, line, at + timedelta(hours=1)),
    ]
    assert pair_score(entries[0], entries[1]) >= MatchParams().threshold
    assert pair_score(entries[2], entries[1]) >= MatchParams().threshold
    stories = story_map(entries)
    assert stories["frontline/a"] == stories["wire/w"] != stories["frontline/b"]
    params = MatchParams()
    assert not near_identical(features(line, line, params), features(line, line, params), params)


def test_a_long_repost_may_share_the_story() -> None:
    """The exception to one entry per source: the same long text again, under a new key."""
    seeds = seed_entries()
    original = seeds[AJ_MUROVDAG]
    later = original.published + timedelta(hours=1)
    repost = StoryEntry("aljazeera", "repost", original.title, original.text, later)
    entries = [original, seeds[DK_MUROVDAG], repost]
    stories = story_map(entries)
    assert stories[ref(original)] == stories[ref(repost)] == stories[DK_MUROVDAG]


# -------------------------------------------------------------- determinism


def test_story_ids_are_the_same_in_another_process() -> None:
    """Nothing depends on Python's salted hash(): other hash seeds, the same ids."""
    expected = fixture_story_map()
    assert fixture_story_map() == expected
    code = (
        "import json; from tests.test_stories import fixture_story_map as f; print(json.dumps(f()))"
    )
    for hash_seed in ("0", "12345"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
        env["PYTHONHASHSEED"] = hash_seed
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected


def test_every_story_is_named_after_its_earliest_member() -> None:
    entries, _ = fixture()
    ordered = list(entries.values())
    random.Random(7).shuffle(ordered)
    for ident, members in cluster_stories(ordered).items():
        assert ident == story_id(min(members, key=lambda e: e.order))
        assert list(members) == published_order(members)


def orders(entries: Sequence[StoryEntry]) -> list[list[StoryEntry]]:
    """Publication order, its reverse, whole sources one after another, and shuffles."""
    ordered = published_order(entries)
    found = [ordered, ordered[::-1]]
    sources = sorted({e.source for e in ordered})
    for names in (sources, sources[::-1]):
        found.append([e for name in names for e in ordered if e.source == name])
    for seed in range(16):
        shuffled = ordered[:]
        random.Random(seed).shuffle(shuffled)
        found.append(shuffled)
    return found


def test_order_does_not_matter_where_nothing_is_ambiguous() -> None:
    """Stories whose members all match each other and nothing else come out the same,
    ids included, in any order; elsewhere the order may decide, but only among accepted
    partners and never putting two entries of one outlet together."""
    entries, _ = fixture()
    values = list(entries.values())
    graph = accepted_graph(values)
    clear: dict[frozenset[str], str] = {}
    for part in components(graph):
        group = [entries[name] for name in part]
        clique = all(b in graph[a] for a, b in itertools.combinations(part, 2))
        if clique and len({m.source for m in group}) == len(group):
            clear[part] = story_id(min(group, key=lambda e: e.order))
    ambiguous = len(values) - sum(len(part) for part in clear)
    print(f"\n{len(clear)} unambiguous stories; {ambiguous} entries in ambiguous groups")
    # Measured 15: Al Jazeera's and the channel's "16 servicemen" updates (5), Al Jazeera's
    # martial-law updates with the wire's (3), the family of five with Al Jazeera's toll
    # (a roundup, 3), and the Murovdag four, where the channel's one-liner and the wire's
    # rewrite fall just short of each other (4).
    assert ambiguous <= 15
    component_of = {name: part for part in components(graph) for name in part}
    for order in orders(values):
        stories = cluster_stories(order)
        found = {frozenset(ref(m) for m in kept): ident for ident, kept in stories.items()}
        for part, ident in clear.items():
            assert found.get(part) == ident, sorted(part)
        for names in found:
            assert names <= component_of[next(iter(names))]


# ------------------------------------------------------ incremental == batch


def poll_order(entries: Iterable[StoryEntry]) -> list[StoryEntry]:
    """As a service would see them: hourly polls, each source's new entries oldest first."""
    return sorted(
        entries, key=lambda e: (e.published.replace(minute=0, second=0), e.source, e.order)
    )


def test_incremental_gives_the_batch_result() -> None:
    entries, _ = fixture()
    order = poll_order(entries.values())
    index = StoryIndex()
    current: dict[str, str] = {}  # what a caller following the assignments would hold
    for entry in order:
        index.candidates(entry)  # queries change nothing
        assignment = index.add(entry)
        assert not assignment.known
        assert assignment.story == index.story_of(entry.source, entry.key)
        if assignment.renamed_from is not None:
            assert assignment.joined
            current = {
                k: assignment.story if v == assignment.renamed_from else v
                for k, v in current.items()
            }
        current[ref(entry)] = assignment.story
        index.stories()
    batch = cluster_stories(order)
    assert index.stories() == batch
    assert current == {ref(e): ident for ident, members in batch.items() for e in members}


def test_an_entry_added_again_keeps_its_story() -> None:
    entries, _ = fixture()
    order = published_order(entries.values())
    index = StoryIndex()
    for entry in order:
        index.add(entry)
    before = index.stories()
    aj = entries[AJ_MUROVDAG]
    revised = StoryEntry(
        aj.source, aj.key, "Something else entirely", "Nothing alike.", aj.published
    )
    again = index.add(revised)
    assert again.known and again.joined and again.story == story_id(aj)
    assert index.stories() == before


def test_an_earlier_report_arriving_late_renames_the_story() -> None:
    seeds = seed_entries()
    aj, dk = seeds[AJ_MUROVDAG], seeds[DK_MUROVDAG]
    index = StoryIndex()
    first = index.add(dk)
    assert first == Assignment(story_id(dk), joined=False)
    second = index.add(aj)
    assert second.joined and second.story == story_id(aj)
    assert second.renamed_from == story_id(dk)
    assert second.score >= MatchParams().threshold


# ------------------------------------------------------------ no chaining


def words(start: int, stop: int) -> str:
    """Distinct short words (never stop words, never stemmed): 'baba', 'babe', ..."""
    letters = "bdfgklmnprstvz"
    made = [
        c1 + v1 + c2 + v2 for c1 in letters for v1 in "aeiou" for c2 in letters for v2 in "aeiou"
    ]
    return " ".join(made[start:stop])


def test_a_bridge_never_chains_or_merges_stories() -> None:
    at = datetime(2021, 1, 1, tzinfo=UTC)

    def entry(source: str, text: str) -> StoryEntry:
        return StoryEntry(source, source, "", text, at)

    # A-B and B-C match, A-C share nothing: C matches half of {A, B} and joins;
    # D matches only C, a third of the story, and does not.
    chain = [
        entry("a", words(0, 10)),
        entry("b", words(0, 5) + " " + words(10, 15)),
        entry("c", words(10, 15) + " " + words(20, 25)),
        entry("d", words(20, 25) + " " + words(30, 35)),
    ]
    stories = story_map(chain)
    assert stories["a/a"] == stories["b/b"] == stories["c/c"] != stories["d/d"]

    # Two stories, and an entry that matches every member of both: it joins one of
    # them, and they stay two.
    two = [
        entry("a", words(100, 110)),
        entry("b", words(100, 110)),
        entry("c", words(200, 210)),
        entry("d", words(200, 210)),
        entry("e", words(100, 105) + " " + words(200, 205)),
    ]
    stories = story_map(two)
    assert stories["a/a"] == stories["b/b"] != stories["c/c"] == stories["d/d"]
    assert stories["e/e"] in (stories["a/a"], stories["c/c"])


# ---------------------------------------------------------------- blocking


def test_blocking_keeps_every_labelled_positive_the_scorer_accepts() -> None:
    entries, pairs = fixture()
    ordered = published_order(entries.values())
    position = {ref(e): n for n, e in enumerate(ordered)}
    kept = candidate_pairs(ordered)
    threshold = MatchParams().threshold
    positives = [p for p in pairs if p.label == "same"]
    lost = [p for p in positives if tuple(sorted((position[p.a], position[p.b]))) not in kept]
    scores = [(p.a, p.b, round(pair_score(entries[p.a], entries[p.b]), 3)) for p in lost]
    print(
        f"\nblocking kept {len(positives) - len(lost)} of {len(positives)} labelled positives; "
        f"lost, with their exact scores: {scores}"
    )
    for pair in lost:  # only pairs the exact scorer rejects anyway
        assert pair_score(entries[pair.a], entries[pair.b]) < threshold, pair


def test_blocking_prunes_generated_entries() -> None:
    entries = [g.entry for g in generate(3000)]
    total = len(entries) * (len(entries) - 1) // 2
    kept = candidate_pairs(entries)
    print(f"\nblocking: {len(kept):,} candidate pairs of {total:,} ({len(kept) / total:.2%})")
    assert len(kept) <= total // 20  # measured about 1%


def test_blocking_keeps_what_all_pairs_scoring_accepts_on_generated_entries() -> None:
    entries = [g.entry for g in generate(1000)]
    lsh, full = StoryIndex(), StoryIndex(blocking=False)
    for entry in entries:
        lsh.add(entry)
        full.add(entry)

    def accepted(index: StoryIndex) -> set[tuple[str, str]]:
        return {(ref(a), ref(b)) for a, b, _ in index.accepted_pairs()}

    everything = accepted(full)
    kept = accepted(lsh)
    assert kept <= everything
    recall = len(kept) / len(everything)
    print(f"\nblocking recall on {len(everything):,} accepted generated pairs: {recall:.4f}")
    assert recall >= 0.98  # measured 0.993 at 2,000 entries
    assert full.stats.candidates > 10 * lsh.stats.candidates


def test_an_entry_scores_a_bounded_number_of_pairs_whatever_the_texts() -> None:
    """2,000 updates of 20 outlets sharing one 300-word paragraph (the live blogs of one
    event): each is an LSH candidate of every earlier one, and an entry's work stays
    `CANDIDATES` candidates scored and `CHECKS` more scores checking stories."""
    entries = [
        StoryEntry.from_html(e.source, e.key, e.title, e.content_html, e.published)
        for e in boilerplate_entries(2000, shared=True)
    ]
    index = StoryIndex()
    most = 0
    for entry in entries:
        before = index.stats.scored
        index.add(entry)
        most = max(most, index.stats.scored - before)
    print(f"\nboilerplate: {index.stats.scored:,} pairs scored, at most {most} for one entry")
    assert CANDIDATES < most <= CANDIDATES + CHECKS  # the cap is reached, never passed
    later = StoryEntry(
        "blog-99", "later", entries[-1].title, entries[-1].text, entries[-1].published
    )
    assert len(index.candidates(later)) == CANDIDATES


def test_the_candidates_scored_are_those_sharing_most_bands() -> None:
    """Fifty later reports share 8 of an entry's 30 words (too few to match), an earlier
    one 27: that one is among the `CANDIDATES` scored, though the later ones that
    blocking proposes are more than that."""
    at = datetime(2021, 1, 1, tzinfo=UTC)
    partner = StoryEntry("wire", "partner", "", words(0, 30), at)
    index = StoryIndex()
    index.add(partner)
    for n in range(50):
        own = words(100 + 30 * n, 122 + 30 * n)
        index.add(StoryEntry(f"outlet-{n}", "decoy", "", f"{words(0, 8)} {own}", at))
    entry = StoryEntry("tv", "new", "", f"{words(0, 27)} {words(4000, 4003)}", at)
    before = index.stats.candidates
    chosen = index.candidates(entry)
    added = index.add(entry)
    assert index.stats.candidates - before > CANDIDATES
    assert len(chosen) == CANDIDATES and partner in chosen
    assert added.joined and added.matched == (partner,)


def test_a_bucket_keeps_its_newest_items() -> None:
    bands = BandIndex(4, 2, depth=3)
    keys = [b"same"] * 4
    found = [bands.add(n, keys) for n in range(10)]
    assert found[2] == Counter({0: 4, 1: 4})
    assert found[9] == Counter({6: 4, 7: 4, 8: 4})
    assert bands.query(keys) == Counter({7: 4, 8: 4, 9: 4})
    assert bands.query([b"same", b"other", b"other", b"same"]) == Counter({7: 2, 8: 2, 9: 2})


def test_generated_stories_are_recovered() -> None:
    """The second check: precision and recall against the generator's own stories."""
    made = generate(1500)
    truth = {ref(g.entry): g.story for g in made}
    stories = cluster_stories([g.entry for g in made])
    tp = fp = 0
    for members in stories.values():
        for a, b in itertools.combinations(members, 2):
            if a.source != b.source:
                if truth[ref(a)] == truth[ref(b)]:
                    tp += 1
                else:
                    fp += 1
    by_story: dict[int, list[StoryEntry]] = {}
    for g in made:
        by_story.setdefault(g.story, []).append(g.entry)
    positives = sum(
        1
        for group in by_story.values()
        for a, b in itertools.combinations(group, 2)
        if a.source != b.source
    )
    precision, recall = tp / (tp + fp), tp / positives
    print(f"\ngenerated stories: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.98 and recall >= 0.75  # measured 1.000 and 0.85


# ------------------------------------------------------------------ minhash


def test_a_signature_is_the_minimum_of_each_hash() -> None:
    hasher = MinHasher(64, "test")
    rng = random.Random(3)
    for size in (1, 2, 7, 40):
        tokens = [f"token{rng.randrange(10_000)}" for _ in range(size)]
        rows = [hasher.hashes(token) for token in tokens]
        assert hasher.signature(tokens) == tuple(map(min, zip(*rows, strict=True)))
    assert all(value < 2**31 for value in hasher.hashes("murovdag"))


def test_signatures_estimate_jaccard() -> None:
    hasher = MinHasher()
    agree = []
    for n in range(20):
        shared = [f"s{n}-{i}" for i in range(40)]
        a = hasher.signature(shared + [f"a{n}-{i}" for i in range(20)])
        b = hasher.signature(shared + [f"b{n}-{i}" for i in range(20)])
        agree.append(sum(x == y for x, y in zip(a, b, strict=True)) / len(a))
    assert abs(sum(agree) / len(agree) - 0.5) < 0.05  # Jaccard 40 / 80


def test_hashes_are_stable_and_seeded() -> None:
    assert MinHasher().hashes("murovdag")[:3] == MinHasher().hashes("murovdag")[:3]
    assert MinHasher().hashes("murovdag")[:3] == GOLDEN_HASHES
    assert MinHasher(seed="other").hashes("murovdag")[:3] != GOLDEN_HASHES
    assert candidate_probability(0.3, 64, 2) > 0.99 > 0.2 > candidate_probability(0.02, 64, 2)


GOLDEN_HASHES = (870756063, 1839813823, 1205000790)


# --------------------------------------------------------------------- text


def test_text_is_normalised() -> None:
    tokens = classes(
        token_sequence(
            "Azerbaijan\u2019s forces took the \u201cstrategic\u201d Murovdag, 3,000 metres"
        )
    )
    assert tokens == {
        "azerbaijan": PLAIN,
        "forc": PLAIN,
        "took": PLAIN,
        "strategic": PLAIN,
        "murovdag": PROPER,
        "3000": NUMBER,
        "metr": PLAIN,
    }
    # NFKC: full-width digits; casefold; spelled-out counts; stop words and reporting verbs.
    assert [t for t, _ in token_sequence("\uff13\uff10\uff10\uff10 SIXTEEN said the")] == [
        "3000",
        "16",
    ]
    # Inflections fold, acronyms survive the stop list.
    assert {t for t, _ in token_sequence("captured capture capturing")} == {"captur"}
    assert token_sequence("the US told us") == [("us", PROPER)]


def test_html_is_reduced_to_its_text() -> None:
    html = '<p>Mount <a href="x">Mrav</a> &amp; Murovdag</p><p>held</p>'
    assert plain_text(html).split() == ["Mount", "Mrav", "&", "Murovdag", "held"]
