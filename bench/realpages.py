"""Score the extractor on real live-blog pages: `python -m bench.realpages [-v PAGE]`.

The development corpus is `tests/fixtures/realpages/` (eight pages from eight
newsrooms, `expected.json` beside them, provenance in `SOURCES.md`). Every page
is read as a user would configure it without reading its HTML: `format =
"auto"`, the page's `timezone`, and `date` only where `expected.json` gives
one (it is null where the page carries its own days). The fetch time is a
fixed moment after every page, 2026-01-01T00:00Z, as for someone trying the
page today. An `ExtractError` counts as zero entries.

The score compares multisets of UTC minutes ("%Y-%m-%dT%H:%M", seconds
truncated): each extracted entry's `published` against each expected
`published_utc`. matched = the size of their multiset intersection; recall =
matched / expected; precision = matched / extracted (0.0 when nothing was
extracted but something was expected, 1.0 when neither). Per page, and
overall as sums over the pages (micro-averaged). Targets: overall recall and
precision >= 0.95, and each page >= 0.9.

This is a report: the command always exits 0. `tests/test_realpages.py`
asserts the targets through the same functions (`load_cases`, `score_page`,
`overall`); `score` is the pure part (minutes in, counts out).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext
from aggregator.ingest.extract import extract

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "realpages"
FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = "%Y-%m-%dT%H:%M"
PAGE_TARGET = 0.9  # recall and precision of every page
OVERALL_TARGET = 0.95  # recall and precision over all pages (micro-averaged)


@dataclass(frozen=True, slots=True)
class Counts:
    """How many minutes were expected, extracted, and matched (multiset intersection)."""

    expected: int
    extracted: int
    matched: int

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        if self.extracted:
            return self.matched / self.extracted
        return 0.0 if self.expected else 1.0

    def meets(self, target: float) -> bool:
        return self.recall >= target and self.precision >= target

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.expected + other.expected,
            self.extracted + other.extracted,
            self.matched + other.matched,
        )


def score(expected: Iterable[str], extracted: Iterable[str]) -> Counts:
    """Pure: expected minutes and extracted minutes (multisets) to counts."""
    want, got = Counter(expected), Counter(extracted)
    return Counts(
        expected=sum(want.values()),
        extracted=sum(got.values()),
        matched=sum((want & got).values()),
    )


def differences(expected: Iterable[str], extracted: Iterable[str]) -> tuple[list[str], list[str]]:
    """Pure: (missing, extra) minutes, sorted, each repeated as often as it is short or over."""
    want, got = Counter(expected), Counter(extracted)
    return sorted((want - got).elements()), sorted((got - want).elements())


@dataclass(frozen=True, slots=True)
class Expected:
    """One update a reader would count, as expected.json gives it."""

    minute: str
    shown: str
    title: str


@dataclass(frozen=True, slots=True)
class PageCase:
    """One page of the corpus and the config a user would write for it."""

    file: str
    slug: str
    kind: str
    url: str
    timezone: str
    day: date | None
    updates: tuple[Expected, ...]

    @property
    def minutes(self) -> list[str]:
        return [update.minute for update in self.updates]


@dataclass(frozen=True, slots=True)
class Extracted:
    minute: str
    title: str


@dataclass(frozen=True, slots=True)
class PageResult:
    case: PageCase
    strategy: str | None  # None when extraction failed
    error: str | None  # "ExtractError: ..." (or a crash, from the CLI) when it failed
    entries: tuple[Extracted, ...]

    @property
    def minutes(self) -> list[str]:
        return [entry.minute for entry in self.entries]

    @property
    def counts(self) -> Counts:
        return score(self.case.minutes, self.minutes)

    @property
    def missing(self) -> list[str]:
        return differences(self.case.minutes, self.minutes)[0]

    @property
    def extra(self) -> list[str]:
        return differences(self.case.minutes, self.minutes)[1]

    def describe(self) -> str:
        """The missing and extra minutes, with what the page shows and what was extracted."""
        shown: dict[str, list[Expected]] = {}
        for update in self.case.updates:
            shown.setdefault(update.minute, []).append(update)
        titles: dict[str, list[str]] = {}
        for entry in self.entries:
            titles.setdefault(entry.minute, []).append(entry.title)
        c = self.counts
        lines = [
            f"{self.case.file}: strategy {self.strategy or '-'}, expected {c.expected}, "
            f"extracted {c.extracted}, matched {c.matched}, recall {c.recall:.2f}, "
            f"precision {c.precision:.2f}"
        ]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines.append(f"  missing ({len(self.missing)}):")
        for minute in self.missing:
            update = shown[minute][0]
            lines.append(f"    {minute}Z  shown {update.shown!r}  {_short(update.title)}")
        lines.append(f"  extra ({len(self.extra)}):")
        for minute in self.extra:
            lines.append(f"    {minute}Z  {_short(titles[minute][0])}")
        return "\n".join(lines)


def slug(file_name: str) -> str:
    """A source name from a file name: its stem, lower case, [a-z0-9-] only."""
    return re.sub(r"[^a-z0-9]+", "-", Path(file_name).stem.lower()).strip("-")


def load_cases(root: Path = FIXTURES) -> list[PageCase]:
    """Every page of `root/expected.json`, in its order."""
    data = json.loads((root / "expected.json").read_text(encoding="utf-8"))
    return [
        PageCase(
            file=page["file"],
            slug=slug(page["file"]),
            kind=page.get("kind", ""),
            url=page["url"],
            timezone=page["timezone"],
            day=date.fromisoformat(page["date"]) if page.get("date") else None,
            updates=tuple(
                Expected(
                    minute=update["published_utc"],
                    shown=update.get("shown", ""),
                    title=update.get("title_or_first_words", ""),
                )
                for update in page["updates"]
            ),
        )
        for page in data["pages"]
    ]


def context(case: PageCase) -> ExtractContext:
    """The ExtractContext of the config a user would write for the page."""
    return ExtractContext(
        source=case.slug,
        page_url=case.url,
        fetched_at=FETCHED_AT,
        timezone=ZoneInfo(case.timezone),
        day=case.day,
    )


def minute(moment: datetime) -> str:
    """A time truncated to its UTC minute, in the expected.json format."""
    return moment.astimezone(UTC).strftime(MINUTE)


def score_page(case: PageCase, root: Path = FIXTURES, catch_crashes: bool = False) -> PageResult:
    """Extract one page as configured by `context` and keep what the score needs.

    An ExtractError is zero entries. Any other exception propagates, unless
    `catch_crashes` (the CLI's report), when it is zero entries too.
    """
    body = (root / "pages" / case.file).read_bytes()
    try:
        page = extract(body, context(case), "auto")
    except ExtractError as exc:
        return PageResult(case, None, f"{type(exc).__name__}: {exc}", ())
    except Exception as exc:
        if not catch_crashes:
            raise
        traceback.print_exc()
        return PageResult(case, None, f"crash, {type(exc).__name__}: {exc}", ())
    entries = tuple(Extracted(minute(entry.published), entry.title) for entry in page.entries)
    return PageResult(case, page.strategy, None, entries)


def score_all(root: Path = FIXTURES, catch_crashes: bool = False) -> list[PageResult]:
    return [score_page(case, root, catch_crashes) for case in load_cases(root)]


def overall(results: Iterable[PageResult]) -> Counts:
    """Sums over the pages (micro-averaged)."""
    total = Counts(0, 0, 0)
    for result in results:
        total += result.counts
    return total


def table(results: Sequence[PageResult]) -> str:
    """The report, as Markdown: one row per page, the overall row, the verdict."""
    lines = [
        "| page | kind | strategy | expected | extracted | matched | recall | precision "
        "| target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        c = result.counts
        strategy = result.strategy or f"none ({(result.error or '').split(':')[0]})"
        lines.append(
            f"| {result.case.slug} | {result.case.kind} | {strategy} | {c.expected} "
            f"| {c.extracted} | {c.matched} | {c.recall:.2f} | {c.precision:.2f} "
            f"| ≥ {PAGE_TARGET} | {_met(c.meets(PAGE_TARGET))} |"
        )
    total = overall(results)
    lines.append(
        f"| **overall** | | | {total.expected} | {total.extracted} | {total.matched} "
        f"| {total.recall:.2f} | {total.precision:.2f} | ≥ {OVERALL_TARGET} "
        f"| {_met(total.meets(OVERALL_TARGET))} |"
    )
    below = [r.case.slug for r in results if not r.counts.meets(PAGE_TARGET)]
    met = total.meets(OVERALL_TARGET) and not below
    lines += [
        "",
        f"Targets (recall and precision ≥ {OVERALL_TARGET} overall, ≥ {PAGE_TARGET} on each "
        f"page): {_met(met)}"
        + (f"; {len(below)} of {len(results)} pages below target" if below else "")
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realpages",
        description="Score aggregator.ingest.extract on the real pages of tests/fixtures/realpages",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        metavar="PAGE",
        action="append",
        default=[],
        help="show the missing and extra minutes of PAGE (its file name, slug or a unique "
        "start of either; 'all' for every page); may be repeated",
    )
    args = parser.parse_args(argv)
    results = score_all(catch_crashes=True)
    print(table(results), end="")
    for wanted in args.verbose:
        chosen = _choose(results, wanted)
        if not chosen:
            print(f"\nno single page matches {wanted!r}", file=sys.stderr)
        for result in chosen:
            print()
            print(result.describe())
    return 0


def _choose(results: Sequence[PageResult], wanted: str) -> list[PageResult]:
    if wanted == "all":
        return list(results)
    for exact in (True, False):
        found = [
            r
            for r in results
            if any(
                (name == wanted) if exact else name.startswith(wanted)
                for name in (r.case.file, r.case.slug)
            )
        ]
        if found:
            return found if len(found) == 1 else []
    return []


def _met(met: bool) -> str:
    return "met" if met else "not met"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
