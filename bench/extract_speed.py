"""Figure realpages_speed: extracting the largest real page, beside parsing it with lxml.

The page is the largest file (by bytes) in `tests/fixtures/realpages/pages/`,
read with the config `bench.realpages` gives it (format "auto", its timezone,
its date where expected.json has one). Each run times
`aggregator.ingest.extract.extract(body, ctx, "auto")` and, in the same run,
`lxml.html.document_fromstring` of the same bytes: the cost of merely
parsing the page, which any HTML reading pays. The two are interleaved, one
of each per run, after one warm-up call of each. Target: extraction within 3
times the bare parse (median over median). An ExtractError still counts as
an extraction (a page that yields nothing is read as fully as one that does);
the notes say what the page gave.
"""

from __future__ import annotations

import time
from pathlib import Path

import lxml.html

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext
from aggregator.ingest.extract import extract
from bench.common import Figure, main, median
from bench.realpages import FIXTURES, context, load_cases

FIGURES = ("realpages_speed",)
TARGET_RATIO = 3.0


def largest_page(root: Path = FIXTURES) -> Path:
    return max((root / "pages").glob("*.html"), key=lambda path: (path.stat().st_size, path.name))


def _extract(body: bytes, ctx: ExtractContext) -> str:
    try:
        page = extract(body, ctx, "auto")
    except ExtractError as exc:
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return f"strategy {page.strategy}, {len(page.entries)} entries"


def run(quick: bool) -> list[Figure]:
    runs = 3 if quick else 51
    path = largest_page()
    case = next(case for case in load_cases() if case.file == path.name)
    ctx = context(case)
    body = path.read_bytes()
    outcome = _extract(body, ctx)  # warm-up (imports, compiled patterns), not timed
    lxml.html.document_fromstring(body)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        lxml.html.document_fromstring(body)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        _extract(body, ctx)
        ours.append(time.perf_counter() - started)
    ours_ms, bare_ms = median(ours) * 1000, median(bare) * 1000
    ratio = ours_ms / bare_ms
    return [
        Figure(
            benchmark="extract_speed",
            name=f"{FIGURES[0]}: extract(auto) of the largest real page "
            f"({path.name}, {len(body):,} bytes)",
            value=ours_ms,
            unit="ms",
            baseline_name="lxml.html.document_fromstring of the same bytes, ms",
            baseline=bare_ms,
            ratio=ratio,
            ratio_meaning="extract / lxml parse",
            target=f"ratio <= {TARGET_RATIO:g}",
            met=ratio <= TARGET_RATIO,
            runs=runs,
            command="python -m bench.extract_speed",
            samples=ours,
            notes=[f"page gave: {outcome}", f"lxml samples: {bare}"],
        )
    ]


if __name__ == "__main__":
    main(run, "extract_speed")
