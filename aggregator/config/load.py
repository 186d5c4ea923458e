"""Reading a config file: bytes → TOML → the tables `schema` declares → `Settings`.

The keys themselves are read as `schema` declares them; this module reads
the file, the tables it must or may have, and what spans tables (the
environment overriding `storage.url`, source names unique across sources).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aggregator.config import keys
from aggregator.config.keys import Place
from aggregator.config.kinds import DatabaseUrl
from aggregator.config.schema import (
    FeedConfig,
    ServiceConfig,
    Settings,
    SourceConfig,
    StorageConfig,
)
from aggregator.core.errors import ConfigError

DEFAULT_CONFIG = "config/aggregator.toml"
CONFIG_ENV = "AGGREGATOR_CONFIG"
DATABASE_ENV = "AGGREGATOR_DATABASE_URL"
# The tables a config file may have, as the unknown-key check names them.
TABLES = {
    keys.section_of(cls).name: cls
    for cls in (StorageConfig, FeedConfig, SourceConfig, ServiceConfig)
}


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate a config file; `AGGREGATOR_DATABASE_URL` overrides storage.

    Whatever the file holds (binary junk, TOML nested thousands deep), the
    result is settings or a `ConfigError`: the command prints one line for it.
    """
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            where,
            None,
            "config file not found (expected a TOML file; --config or $AGGREGATOR_CONFIG "
            "names another)",
        ) from None
    except OSError as exc:
        raise ConfigError(
            where,
            None,
            f"cannot read config file: {exc.strerror or exc} (expected a readable TOML file)",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            where,
            None,
            f"not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start} "
            "(expected a TOML file in UTF-8)",
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, None, f"not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigError(
            where, None, "not valid TOML: arrays or tables nested too deeply"
        ) from None
    return settings_from(raw, path, environ)


def settings_from(
    raw: dict[str, Any], path: Path, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Validate an already parsed config as if it were the file at `path` (which is
    not read: relative paths resolve against its directory, errors name it).

    Tables are read in this order, so that is the order problems are found:
    storage, feed, sources, service.
    """
    top = Place(str(path), "", path.resolve().parent)
    if not raw:
        # Most likely the wrong file: say so rather than "missing [feed]".
        raise top.fail(
            "empty config file (expected a [feed] table and at least one [[sources]] table)"
        )
    tables = top.checked_table(raw, TABLES)
    database_url, database_key = _database(tables.get("storage", {}), top, environ)
    if "feed" not in tables:
        raise top.key("feed").fail("missing [feed] table (expected title, id, base_url)")
    feed = top.values["feed"] = keys.read(FeedConfig, tables["feed"], top.table("feed"))
    listed = tables.get("sources")
    if not isinstance(listed, list) or not listed:
        raise top.key("sources").fail("expected at least one [[sources]] table")
    sources = tuple(
        keys.read(SourceConfig, item, top.table(f"sources[{i}]")) for i, item in enumerate(listed)
    )
    _unique_names(sources, top)
    return Settings(
        path=path,
        database_url=database_url,
        feed=feed,
        sources=sources,
        service=keys.read(ServiceConfig, tables.get("service", {}), top.table("service")),
        database_key=database_key,
    )


def _database(storage: object, top: Place, environ: Mapping[str, str]) -> tuple[str, str]:
    """The database URL and the key it is reported against: `storage.url`, or
    the environment, whose URL is taken as given (not relative to the file)."""
    at = top.table("storage")
    if override := environ.get(DATABASE_ENV):
        at.checked_table(storage, keys.section_of(StorageConfig).names)
        key = f"storage.url (overridden by ${DATABASE_ENV})"
        return DatabaseUrl().check(override, top.key(key), resolve=False), key
    return keys.read(StorageConfig, storage, at).url, "storage.url"


def _unique_names(sources: tuple[SourceConfig, ...], top: Place) -> None:
    seen: dict[str, int] = {}
    for i, source in enumerate(sources):
        if source.name in seen:
            raise top.key(f"sources[{i}].name").fail(
                f"duplicate source name {source.name!r}, already used by "
                f"sources[{seen[source.name]}] (expected a unique name: it names files "
                "and URLs)"
            )
        seen[source.name] = i
