"""The extractor on real live-blog pages meets its recall and precision targets.

The corpus is `tests/fixtures/realpages/` (provenance and SHA-256 sums in its
SOURCES.md); the scorer is `bench/realpages.py` (`python -m bench.realpages`
prints the same figures as a table). Each page is read as a user would
configure it without reading the HTML: format "auto", the page's timezone,
and a date only where expected.json gives one. Targets: recall and precision
of every page >= 0.9, and >= 0.95 over all pages (micro-averaged).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from functools import cache

import pytest

from bench.realpages import (
    FIXTURES,
    MINUTE,
    OVERALL_TARGET,
    PAGE_TARGET,
    Counts,
    PageCase,
    PageResult,
    differences,
    load_cases,
    overall,
    score,
    score_page,
)

CASES = load_cases()


@cache
def result_of(slug: str) -> PageResult:
    return score_page(next(case for case in CASES if case.slug == slug))


def _failure(result: PageResult) -> str:
    return "\n" + result.describe()


@pytest.mark.parametrize("case", CASES, ids=[case.slug for case in CASES])
def test_page_meets_target(case: PageCase) -> None:
    result = result_of(case.slug)
    counts = result.counts
    assert counts.recall >= PAGE_TARGET and counts.precision >= PAGE_TARGET, _failure(result)


def test_overall_meets_target() -> None:
    results = [result_of(case.slug) for case in CASES]
    total = overall(results)
    below = "\n".join(r.describe() for r in results if not r.counts.meets(OVERALL_TARGET))
    assert total.recall >= OVERALL_TARGET and total.precision >= OVERALL_TARGET, (
        f"overall recall {total.recall:.3f}, precision {total.precision:.3f} "
        f"({total.matched} matched of {total.expected} expected, {total.extracted} extracted)\n"
        + below
    )


# The scorer itself: pure, multiset, and able to fail.


def _shifted(minutes: list[str], hours: int) -> list[str]:
    return [
        (datetime.strptime(m, MINUTE) + timedelta(hours=hours)).strftime(MINUTE) for m in minutes
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.slug for case in CASES])
def test_scorer_fails_an_answer_wrong_by_one_hour(case: PageCase) -> None:
    counts = score(case.minutes, _shifted(case.minutes, 1))
    assert counts.recall < 1
    assert counts.precision < 1
    assert counts.expected == counts.extracted == len(case.updates)


def test_scorer_counts_the_whole_corpus_wrong_by_one_hour_as_not_met() -> None:
    expected = [m for case in CASES for m in case.minutes]
    counts = score(expected, _shifted(expected, 1))
    assert counts.recall < PAGE_TARGET
    assert not counts.meets(PAGE_TARGET)


def test_scorer_passes_the_expected_answer() -> None:
    for case in CASES:
        counts = score(case.minutes, list(reversed(case.minutes)))
        assert counts == Counts(len(case.updates), len(case.updates), len(case.updates))
        assert counts.recall == counts.precision == 1.0


def test_scorer_counts_multisets() -> None:
    # Two updates stamped 02.10 (as on the Telegraph page) need two entries at 02:10.
    expected = ["2014-12-31T02:10", "2014-12-31T02:10", "2014-12-31T02:50"]
    once = score(expected, ["2014-12-31T02:10", "2014-12-31T02:50"])
    assert once == Counts(expected=3, extracted=2, matched=2)
    assert once.recall == pytest.approx(2 / 3) and once.precision == 1.0
    thrice = score(expected, ["2014-12-31T02:10"] * 3)
    assert thrice == Counts(expected=3, extracted=3, matched=2)
    assert differences(expected, ["2014-12-31T02:10"] * 3) == (
        ["2014-12-31T02:50"],
        ["2014-12-31T02:10"],
    )


def test_scorer_gives_nothing_extracted_zero_precision() -> None:
    counts = score(["2020-01-01T00:00"], [])
    assert counts.recall == 0.0 and counts.precision == 0.0
    assert score([], []).precision == 1.0


def test_overall_is_micro_averaged() -> None:
    assert Counts(10, 10, 10) + Counts(2, 2, 0) == Counts(12, 12, 10)
    total = Counts(10, 10, 10) + Counts(2, 2, 0)
    assert total.recall == pytest.approx(10 / 12)  # not the mean of 1.0 and 0.0


# The fixtures are the ones SOURCES.md describes.


def _listed_sums() -> dict[str, str]:
    text = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    sums: dict[str, str] = {}
    for block in blocks:
        for line in block.splitlines():
            found = re.fullmatch(r"([0-9a-f]{64})\s+\*?(\S+)", line.strip())
            if found:
                sums[found[2]] = found[1]
    return sums


def test_fixture_files_match_the_sums_in_sources_md() -> None:
    sums = _listed_sums()
    pages = sorted(p.name for p in (FIXTURES / "pages").iterdir())
    assert sorted(sums) == pages, "SOURCES.md lists other files than pages/ holds"
    assert sorted(case.file for case in CASES) == pages, "expected.json names other files"
    for name, digest in sums.items():
        actual = hashlib.sha256((FIXTURES / "pages" / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} changed: sha256 {actual}, SOURCES.md says {digest}"


def test_expected_json_is_consistent() -> None:
    data = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
    for page in data["pages"]:
        assert page["n_updates"] == len(page["updates"]), page["file"]
        for update in page["updates"]:
            datetime.strptime(update["published_utc"], MINUTE)  # the format scored against
    assert sum(len(case.updates) for case in CASES) == 124  # "124 updates in all" (SOURCES.md)
