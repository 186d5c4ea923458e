"""The TOML an import appends to the config: one `[[sources]]` table per new
source, every value from the file escaped so that none of it becomes syntax."""

from __future__ import annotations

import re

from aggregator.cli.opml.plan import ImportPlan
from aggregator.cli.opml.read import one_line

_NUMBER = re.compile(r"^\d{1,9}(?:\.\d{1,6})?$")


def render_tables(plan: ImportPlan, source_name: str) -> str:
    """The TOML appended to the config: a comment saying where it came from, then
    one `[[sources]]` table per new source (its folder as a comment).

    Every value from the file is written as an escaped TOML string (an interval
    that is a plain number as a number), so nothing in it can become TOML
    syntax; the config loader then checks what the values mean.
    """
    lines = ["", f"# Imported from {one_line(source_name)} (aggregator opml import)."]
    for new in plan.added:
        lines.append("")
        if new.outline.folders:
            lines.append(f"# Folder: {one_line(' / '.join(new.outline.folders))}")
        lines.append("[[sources]]")
        lines.append(f"name = {_toml(new.name)}")
        if new.outline.title:
            lines.append(f"title = {_toml(new.outline.title)}")
        lines.append(f"url = {_toml(new.url)}")
        if new.link:
            lines.append(f"link = {_toml(new.link)}")
        for key, value in new.settings:
            shown = value.strip() if key == "interval" and _NUMBER.match(value.strip()) else None
            lines.append(f"{key} = {shown or _toml(value)}")
        if new.selectors:
            lines.append("")
            lines.append("[sources.selectors]")
            lines.extend(f"{key} = {_toml(value)}" for key, value in new.selectors)
    return "\n".join(lines) + "\n"


def _toml(value: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
