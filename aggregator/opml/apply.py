"""Writing an import into the config: appended atomically, and only if the
whole new file loads with the real config loader."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aggregator.config import Settings, load_settings
from aggregator.errors import ConfigError
from aggregator.opml.errors import OpmlError
from aggregator.opml.plan import ImportPlan


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
    """Append `tables` to the config, atomically, if the result loads.

    The new text (the old bytes untouched, then the tables) is written to a
    temporary file beside the config, so relative paths in it mean what they
    mean in the config, and loaded with `load_settings`, the loader every
    command uses. Only then is it renamed over the config, and only if the
    config did not change meanwhile. A dry run checks the same and removes the
    temporary file. Returns the settings the new file gives.
    """
    target = config.resolve()  # a symlinked config is written through, not replaced
    newline = "\r\n" if b"\r\n" in before else "\n"
    prefix = b"" if not before or before.endswith(b"\n") else newline.encode()
    data = before + prefix + tables.replace("\n", newline).encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OpmlError(
            f"{config}: cannot write a file beside it to check the result "
            f"({exc.strerror or exc}); nothing was written"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            settings = load_settings(Path(tmp))
        except ConfigError as exc:
            raise _invalid_result(exc, config, plan, where) from None
        if len(settings.sources) != plan.existing + len(plan.added):
            raise OpmlError(
                f"{config}: the import would give {len(settings.sources)} sources, expected "
                f"{plan.existing + len(plan.added)}; nothing was written"
            )
        if not dry_run:
            if target.read_bytes() != before:
                raise OpmlError(
                    f"{config}: changed while importing; nothing was written, try again"
                )
            _keep_owner_and_mode(target, tmp)
            os.replace(tmp, target)
            _sync_directory(target.parent)
        return settings
    finally:
        Path(tmp).unlink(missing_ok=True)


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


def _keep_owner_and_mode(original: Path, replacement: str) -> None:
    """The new file gets the old one's permissions (mkstemp makes 0600), and its
    owner where we may set it."""
    info = original.stat()
    os.chmod(replacement, stat.S_IMODE(info.st_mode))
    with contextlib.suppress(OSError):
        os.chown(replacement, info.st_uid, info.st_gid)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; a system that cannot sync a directory still renamed."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
