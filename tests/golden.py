"""Golden fixtures: an input file beside `<name>.expected.json`.

The expected file holds the extraction context, the format `auto` must
detect, and every field of every entry. With AGGREGATOR_UPDATE_GOLDEN=1 the
expected files are rewritten from the current output (read the diff before
committing it); otherwise any difference fails the test.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aggregator.core.model import ExtractContext, ExtractedEntry, Page

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UPDATE = os.environ.get("AGGREGATOR_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class GoldenCase:
    input: Path
    expected_path: Path
    expected: dict[str, Any]

    @property
    def body(self) -> bytes:
        return self.input.read_bytes()

    @property
    def format(self) -> str:
        return str(self.expected["format"])

    def context(self) -> ExtractContext:
        raw = self.expected["context"]
        return ExtractContext(
            source=raw.get("source", self.input.stem),
            page_url=raw["page_url"],
            fetched_at=datetime.fromisoformat(raw["fetched_at"]),
            timezone=ZoneInfo(raw.get("timezone", "UTC")),
            day=date.fromisoformat(raw["day"]) if raw.get("day") else None,
            start=datetime.fromisoformat(raw["start"]) if raw.get("start") else None,
            author=raw.get("author"),
            content_type=raw.get("content_type"),
            server_date=datetime.fromisoformat(raw["server_date"])
            if raw.get("server_date")
            else None,
            selectors=raw.get("selectors", {}),
        )


def cases(subdir: str) -> list[GoldenCase]:
    """Every fixture under tests/fixtures/<subdir> that has an expected file."""
    found = []
    for expected_path in sorted((FIXTURES / subdir).glob("*.expected.json")):
        stem = expected_path.name.removesuffix(".expected.json")
        inputs = [p for p in expected_path.parent.glob(f"{stem}.*") if p != expected_path]
        assert len(inputs) == 1, f"{expected_path}: expected exactly one input file, found {inputs}"
        found.append(
            GoldenCase(inputs[0], expected_path, json.loads(expected_path.read_text("utf-8")))
        )
    return found


def entry_json(entry: ExtractedEntry) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    return {
        "key": entry.key,
        "id": entry.id,
        "title": entry.title,
        "published": when(entry.published),
        "updated": when(entry.updated),
        "author": entry.author,
        "link": entry.link,
        "categories": list(entry.categories),
        "content_html": entry.content_html,
        "notes": list(entry.notes),
    }


def page_json(page: Page) -> dict[str, Any]:
    return {
        "page": {"title": page.title, "author": page.author, "notes": list(page.notes)},
        "entries": [entry_json(e) for e in page.entries],
    }


def check_golden(case: GoldenCase, page: Page) -> None:
    """Compare with the expected file, or rewrite it when updating goldens."""
    actual = page_json(page)
    if UPDATE:
        updated = {"format": case.format, "context": case.expected["context"], **actual}
        text = json.dumps(updated, ensure_ascii=False, indent=2) + "\n"
        case.expected_path.write_text(text, encoding="utf-8")
        return
    assert actual["page"] == case.expected["page"], case.input.name
    assert actual["entries"] == case.expected["entries"], case.input.name
