"""The config schema: each key declared once, and everything derived from it agrees.

The loader, the constructors' defaults, the unknown-key check, the error
messages and the README's reference all come from `aggregator.config.schema`;
these tests fail when one of them is written by hand again, or drifts.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.config import (
    FeedConfig,
    ServiceConfig,
    Settings,
    SourceConfig,
    load_settings,
    settings_from,
)
from aggregator.config.keys import Key, key, section, section_of
from aggregator.config.kinds import Integer
from aggregator.config.load import TABLES
from aggregator.config.reference import BEGIN, END, reference_markdown
from aggregator.core.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"
FEED = {"title": '"T"', "id": '"tag:example.org,2020:t"', "base_url": '"http://127.0.0.1:8080/"'}
SOURCE = {"name": '"one"', "url": '"pages/one.txt"'}


def config(
    feed: dict[str, str] | None = None, source: dict[str, str] | None = None, before: str = ""
) -> str:
    """A small valid config, with `feed` and `source` keys set (TOML values) and `before` it."""
    tables = [("[feed]", {**FEED, **(feed or {})}), ("[[sources]]", {**SOURCE, **(source or {})})]
    return before + "".join(
        f"{heading}\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n"
        for heading, keys in tables
    )


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "agg.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def problem(tmp_path: Path, text: str) -> tuple[str | None, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.path == str(tmp_path / "agg.toml")
    return info.value.key, info.value.problem


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end] + "\n"


def test_the_readme_reference_is_the_generated_one() -> None:
    assert readme_block() == reference_markdown(), (
        "README.md's configuration reference differs from the schema: replace the block "
        "between its markers with the output of `python -m aggregator.config`"
    )


def test_the_readme_example_is_a_config_the_loader_accepts(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration reference") : text.index(BEGIN)]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    path = tmp_path / "config" / "aggregator.toml"
    settings = settings_from(tomllib.loads(example.group(1)), path, environ={})
    assert [s.name for s in settings.sources] == ["aljazeera", "outlet"]
    assert settings.sources[1].selectors["update"] == "div.update"


def test_every_field_of_a_table_is_a_declared_key() -> None:
    """A field without `key(...)` would be a setting the loader never reads."""
    for cls in TABLES.values():
        table = section_of(cls)
        assert [spec.field for spec in table.keys] == [f.name for f in dataclasses.fields(cls)]
        assert all(spec.doc and spec.kind.expected for spec in table.keys), cls


def test_unknown_keys_are_checked_against_the_declared_ones(tmp_path: Path) -> None:
    for cls, text in [
        (FeedConfig, config(feed={"colour": '"red"'})),
        (SourceConfig, config(source={"colour": '"red"'})),
        (ServiceConfig, config(before='[service]\ncolour = "red"\n')),
    ]:
        expected = ", ".join(sorted(section_of(cls).names))
        assert problem(tmp_path, text)[1] == f"unknown key (expected one of: {expected})"


def test_constructor_defaults_are_the_loaded_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, config())
    assert settings.service == ServiceConfig()
    source = settings.sources[0]
    constructed = SourceConfig(
        name=source.name, url=source.url, link=source.link, id=source.id, title=source.title
    )
    assert constructed == source
    feed = settings.feed
    assert feed == FeedConfig(
        id=feed.id,
        base_url=feed.base_url,
        title=feed.title,
        output_dir=feed.output_dir,
        author=feed.author,
    )
    assert ServiceConfig().max_backoff == timedelta(hours=1)


def test_a_default_its_own_kind_refuses_fails_at_declaration() -> None:
    with pytest.raises(ConfigError, match="expected an integer from 1 to 5, got 9"):

        @section("broken", "never loaded")
        class Broken:
            size: int = key(Integer(1, 5), "a size", default=9)


def test_a_key_without_default_factory_or_fallback_is_required() -> None:
    spec = Key("update", Integer(1, 5), "x")
    assert spec.required and spec.shown_default == "required"
    assert not Key("time", Integer(1, 5), "x", default=None).required


# Whole messages, one or more for each kind of value: the tests beside this
# one pin parts of them; these pin every word.
MESSAGES = [
    ("[feed]\n", "feed.id", "missing (expected a string)"),
    (
        config(feed={"id": '"not a uri"'}),
        "feed.id",
        "expected a URI such as tag:example.org,2020:event, got 'not a uri'",
    ),
    (
        config(feed={"base_url": '"/feeds"'}),
        "feed.base_url",
        "expected an absolute http(s) URL, got '/feeds'",
    ),
    (
        config(feed={"max_entries": "true"}),
        "feed.max_entries",
        "expected an integer from 1 to 10000, got true",
    ),
    (config(feed={"title": '"  "'}), "feed.title", "expected a non-empty string, got '  '"),
    (
        config(feed={"hub": '"ftp://h/"'}),
        "feed.hub",
        "expected an absolute http(s) URL such as https://hub.example.org/, got 'ftp://h/'",
    ),
    (
        config(feed={"hub": '"http://h:x/"'}),
        "feed.hub",
        "expected a port from 0 to 65535 after the host, got 'http://h:x/'",
    ),
    (
        config(source={"name": '"A"'}),
        "sources[0].name",
        "expected 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit "
        "(it names files and URLs), got 'A'",
    ),
    (
        config(source={"format": '"pdf"'}),
        "sources[0] (one).format",
        "expected one of auto, feed, liveblog-html, liveblog-text, got 'pdf'",
    ),
    (
        config(source={"timezone": "5"}),
        "sources[0] (one).timezone",
        "expected an IANA time zone name such as 'Europe/London', got 5",
    ),
    (
        config(source={"timezone": '"Mars/X"'}),
        "sources[0] (one).timezone",
        "unknown time zone 'Mars/X' (expected an IANA name such as 'America/New_York')",
    ),
    (
        config(source={"date": '"soon"'}),
        "sources[0] (one).date",
        "expected a date such as 2020-09-27 or a date-time, got 'soon'",
    ),
    (
        config(source={"date": "10:30:00"}),
        "sources[0] (one).date",
        "expected a date such as 2020-09-27, got 10:30:00",
    ),
    (config(source={"id": '"a b"'}), "sources[0] (one).id", "expected a URI, got 'a b'"),
    (
        config(source={"interval": '"soon"'}),
        "sources[0] (one).interval",
        "expected a duration such as '90s', '5m', '1h30m' or a number of seconds, "
        "from 1s to 7 days, got 'soon'",
    ),
    (
        config(source={"selectors": '{ time = "t" }'}),
        "sources[0] (one).selectors.update",
        "missing (expected the CSS selector of one update)",
    ),
    (
        config(source={"selectors": "{ update = 3 }"}),
        "sources[0] (one).selectors.update",
        "expected a CSS selector, got 3",
    ),
    (
        config(source={"intervall": '"5m"'}),
        "sources[0].intervall",
        "unknown key, did you mean 'interval'? (expected one of: author, date, format, id, "
        "interval, link, max_entries_per_poll, name, revise_every, selectors, timezone, title,"
        " url)",
    ),
    (
        config(before='[service]\njitter = "2h"\n'),
        "service.jitter",
        "expected a duration such as '30s' or '5m', from 0s to 1h, got '2h'",
    ),
    (
        config(before="[service]\nworkers = 65\n"),
        "service.workers",
        "expected an integer from 1 to 64, got 65",
    ),
    (
        config(before='[storage]\nurl = "mysql://u:pw@h/db"\n'),
        "storage.url",
        "expected sqlite:/// or postgresql:// (driver psycopg), got 'mysql://u:***@h/db'",
    ),
    (config(before="[storage]\nurl = 1\n"), "storage.url", "expected a non-empty string, got 1"),
]


@pytest.mark.parametrize(("text", "key_path", "message"), MESSAGES)
def test_whole_messages(tmp_path: Path, text: str, key_path: str, message: str) -> None:
    assert problem(tmp_path, text) == (key_path, message)


def test_selectors_are_checked_in_the_order_the_file_gives_them(tmp_path: Path) -> None:
    bad = config(source={"selectors": '{ title = "[[[", update = "{{{" }'})
    assert problem(tmp_path, bad)[0] == "sources[0] (one).selectors.title"
    ok = load(tmp_path, config(source={"selectors": '{ body = "p", update = " div " }'}))
    assert list(ok.sources[0].selectors.items()) == [("body", "p"), ("update", "div")]
