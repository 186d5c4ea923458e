"""Exact scoring of one pair of reports: do they state the same fact?

The score is a pure function of the two entries, never of what else has been
seen (no corpus statistics), which is what lets the stories be rebuilt the
same in any order:

    score = cosine(tokens of a, tokens of b) / (1 + (hours apart / tau)^2)

The cosine is the Ochiai coefficient of the two token sets, w(A ∩ B) /
sqrt(w(A) w(B)), where a number weighs `number_weight` and a name
`name_weight` (a word 1). It sits between Jaccard, which punishes a one-line
report of a long update, and the overlap coefficient, which lets a long
roundup contain every short update of the day. Numbers weigh more because a
count or a height is the part of a fact every outlet copies exactly. Names
weigh the same as words by default: in one story's coverage the commonest
names ("Armenia", "Karabakh") are in every entry, and weighing names double
cost precision on the labelled pairs (README); they are kept, never
stop-listed, and the weight stays a parameter.

The time factor halves the score at `tau_hours` apart: the same fact reaches
the outlets within hours, while the same formula ("calls for an immediate end
to the fighting") recurs all day from different speakers. Pairs more than
`window` apart, or sharing fewer than `min_shared` tokens, score 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.follow.stories.text import NUMBER, PROPER, classes, shingles, token_sequence


@dataclass(frozen=True, slots=True)
class MatchParams:
    """Every threshold of the matcher; the defaults are the measured ones (README)."""

    threshold: float = 0.33
    window: timedelta = timedelta(hours=12)
    tau_hours: float = 6.0
    number_weight: float = 1.5
    name_weight: float = 1.0
    min_shared: int = 2
    # Blocking: MinHash LSH over the token sets, `bands` bands of `rows` hashes.
    num_perm: int = 128
    bands: int = 64
    rows: int = 2
    seed: str = "aggregator.stories/1"
    # Two entries of one source share a story only when near-identical (a
    # re-post under a new key): 3-word shingle Jaccard at least
    # `near_identical`, both at least `near_identical_tokens` tokens long, so
    # that short formulaic lines ("16 servicemen killed") never qualify.
    near_identical: float = 0.8
    near_identical_tokens: int = 20
    # A new entry joins a story only if it matches at least this share of the
    # story's members (see `cluster`).
    min_support: float = 0.5

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"{self.bands} bands of {self.rows} rows need more hashes")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Features:
    """What scoring needs of one entry, computed once."""

    tokens: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]
    weight: float
    # The tokens in order, repeats included: what a re-post check compares. A
    # reference each (8 bytes a token), so that the check never reads the texts
    # again: that took 3.7 of the 8.9 s of warming a linker over 2,000 items of
    # bench.fanout's RSS feeds (profiled), five checks an entry.
    sequence: tuple[str, ...]


def features(title: str, text: str, params: MatchParams) -> Features:
    sequence = token_sequence(f"{title}\n{text}")
    kinds = classes(sequence)
    numbers = frozenset(token for token, kind in kinds.items() if kind == NUMBER)
    names = frozenset(token for token, kind in kinds.items() if kind == PROPER)
    weight = (
        len(kinds)
        + (params.number_weight - 1) * len(numbers)
        + (params.name_weight - 1) * len(names)
    )
    return Features(frozenset(kinds), numbers, names, weight, tuple(token for token, _ in sequence))


def cosine(a: Features, b: Features, params: MatchParams) -> float:
    """The weighted Ochiai coefficient of the two token sets (0 when they share too little).

    A shared token weighs what it weighs on both sides (a name on one side
    and a sentence-initial word on the other weighs as a word), so the value
    never exceeds 1.
    """
    shared = a.tokens & b.tokens
    if len(shared) < max(1, params.min_shared):
        return 0.0
    weight = (
        len(shared)
        + (params.number_weight - 1) * len(shared & a.numbers & b.numbers)
        + (params.name_weight - 1) * len(shared & a.names & b.names)
    )
    return weight / math.sqrt(a.weight * b.weight)


def time_factor(a: datetime, b: datetime, params: MatchParams) -> float:
    """1 for simultaneous reports, 0.5 at `tau_hours` apart, 0 beyond the window."""
    apart = abs(a - b)
    if apart > params.window:
        return 0.0
    hours = apart.total_seconds() / 3600
    return 1.0 / (1.0 + (hours / params.tau_hours) ** 2)


def score(
    a: Features, a_published: datetime, b: Features, b_published: datetime, params: MatchParams
) -> float:
    factor = time_factor(a_published, b_published, params)
    return 0.0 if factor == 0.0 else cosine(a, b, params) * factor


def near_identical(a: Features, b: Features, params: MatchParams) -> bool:
    """A re-post: long enough not to be a formula, and almost word for word the same.

    The 3-word shingles of the two token sequences are compared only here,
    which is rare (a story already holding an entry of the same source), so
    they are not kept.
    """
    if min(len(a.sequence), len(b.sequence)) < params.near_identical_tokens:
        return False
    a_shingles = shingles(a.sequence, 3)
    b_shingles = shingles(b.sequence, 3)
    union = len(a_shingles | b_shingles)
    return union > 0 and len(a_shingles & b_shingles) / union >= params.near_identical
