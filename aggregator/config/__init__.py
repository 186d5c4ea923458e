"""TOML configuration → typed, validated settings.

Every problem is reported as a `ConfigError` naming the file, the key (as a
path such as `sources[1].interval`) and what was expected, because the person
reading it is usually editing that file right now. Unknown keys are errors,
not warnings: a misspelt `intreval` silently ignored is a source polled at the
wrong rate for weeks.

Relative paths in the file (file sources, the SQLite database, the output
directory) are resolved against the config file's own directory, so the
service behaves the same whatever directory it is started from.

Each key is declared once, in `schema` (with the machinery in `keys` and the
kinds of value in `kinds`); `load` reads a file with it, and `reference`
writes the README's configuration reference from it.
"""

from aggregator.config.kinds import (
    FORMATS,
    LOOPBACK_HOSTS,
    MAX_INTERVAL,
    MIN_INTERVAL,
    MIN_LOCAL_INTERVAL,
    NAME_PATTERN,
    parse_duration,
)
from aggregator.config.load import (
    CONFIG_ENV,
    DATABASE_ENV,
    DEFAULT_CONFIG,
    config_path,
    load_settings,
    settings_from,
)
from aggregator.config.schema import (
    FeedConfig,
    ServiceConfig,
    Settings,
    SourceConfig,
    StorageConfig,
)

__all__ = [
    "CONFIG_ENV",
    "DATABASE_ENV",
    "DEFAULT_CONFIG",
    "FORMATS",
    "LOOPBACK_HOSTS",
    "MAX_INTERVAL",
    "MIN_INTERVAL",
    "MIN_LOCAL_INTERVAL",
    "NAME_PATTERN",
    "FeedConfig",
    "ServiceConfig",
    "Settings",
    "SourceConfig",
    "StorageConfig",
    "config_path",
    "load_settings",
    "parse_duration",
    "settings_from",
]
