"""The README's configuration reference, written from the schema.

`python -m aggregator.config` prints it; a test fails while the README's
copy differs, so the documentation cannot drift from what the loader reads.
"""

from __future__ import annotations

from collections.abc import Iterator

from aggregator.config import keys
from aggregator.config.keys import Section
from aggregator.config.load import TABLES

BEGIN = "<!-- The tables below are generated: python -m aggregator.config -->"
END = "<!-- End of the generated tables -->"


def reference_markdown() -> str:
    """The generated block of the README, markers included, ending in a newline."""
    lines = [BEGIN]
    for cls in TABLES.values():
        lines.extend(_table(keys.section_of(cls)))
    return "\n".join([*lines, "", END]) + "\n"


def _table(table: Section) -> Iterator[str]:
    """One table's heading, purpose and keys, then the tables inside it."""
    yield from ("", f"### `{table.heading}`", "", table.doc, "")
    yield "| key | expected | default | meaning |"
    yield "| --- | --- | --- | --- |"
    shown: set[str] = set()
    for spec in table.keys:
        if spec.name not in shown:  # a second field filled from one key is not a second key
            shown.add(spec.name)
            cells = (f"`{spec.name}`", spec.kind.expected, spec.shown_default, spec.doc)
            yield "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
    for spec in table.keys:
        for inner in spec.kind.tables:
            yield from _table(inner)
