"""Writing an import into the config: appended atomically, and only if the
whole new file loads with the real config loader."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aggregator.cli.opml.errors import OpmlError
from aggregator.cli.opml.plan import ImportPlan
from aggregator.config import Settings, load_settings
from aggregator.config.append import append_checked
from aggregator.core.errors import ConfigError


def existing_sources(config: Path) -> tuple[bytes, list[Mapping[str, Any]]]:
    """The config's bytes and its raw `[[sources]]` tables (possibly none: an import
    may be what fills an empty config). A file that cannot be read as TOML is
    reported by the config loader, with its usual message."""
    try:
        data = config.read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        load_settings(config)  # raises the loader's one-line error for this file
        raise OpmlError(f"{config}: cannot read it as a TOML config") from None
    sources = raw.get("sources")
    tables: list[Mapping[str, Any]] = (
        [t for t in sources if isinstance(t, dict)] if isinstance(sources, list) else []
    )
    return data, tables


def apply_import(
    config: Path, before: bytes, tables: str, plan: ImportPlan, where: str, dry_run: bool
) -> Settings:
    """Append `tables` to the config if the whole new file loads (`config_append`);
    a dry run checks the same and writes nothing. Returns the settings it gives."""

    def counted(settings: Settings) -> None:
        if len(settings.sources) != plan.existing + len(plan.added):
            raise OpmlError(
                f"{config}: the import would give {len(settings.sources)} sources, expected "
                f"{plan.existing + len(plan.added)}; nothing was written"
            )

    try:
        return append_checked(
            config, before, tables, commit=not dry_run, check=counted, error=OpmlError
        )
    except ConfigError as exc:
        raise _invalid_result(exc, config, plan, where) from None


def _invalid_result(exc: ConfigError, config: Path, plan: ImportPlan, where: str) -> OpmlError:
    """The loader's complaint about the temporary file, told about the real one, and
    about the outline responsible when it is one of the new tables."""
    match = re.match(r"^sources\[(\d+)\]", exc.key or "")
    index = int(match.group(1)) - plan.existing if match else -1
    located = f"{config}: {exc.key}: {exc.problem}" if exc.key else f"{config}: {exc.problem}"
    if 0 <= index < len(plan.added):
        outline = plan.added[index].outline
        return OpmlError(
            f"{where}: {outline.label()}: would make an invalid config: {located}; "
            "nothing was written"
        )
    if exc.key is None and exc.problem.startswith("not valid TOML"):
        # The config parsed alone, so the tables are what broke it: it most
        # likely defines `sources` as an inline array, which cannot grow.
        return OpmlError(
            f"{config}: [[sources]] tables cannot be appended to it ({exc.problem}; "
            "is `sources` an inline array?); nothing was imported"
        )
    return OpmlError(f"{located} (nothing was imported)")
