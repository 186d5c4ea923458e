"""Deciding what each outline of a file becomes: a new source with a unique
valid name, or a note saying why it was skipped or changed."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from aggregator.cli.opml.namespace import PREFIX
from aggregator.cli.opml.read import OpmlDocument, Outline
from aggregator.config import NAME_PATTERN
from aggregator.config.schema import SELECTORS

# Our attributes and the config keys they carry; `name` is handled apart (it
# must be unique, so it is a wish, not a value).
_SETTING_KEYS = ("format", "interval", "timezone", "date", "author", "id")
_SELECTOR_KEYS = tuple(spec.name for spec in SELECTORS.keys)  # the schema's order
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class NewSource:
    """A `[[sources]]` table to append, and the outline it came from."""

    outline: Outline
    name: str
    url: str
    link: str | None
    settings: tuple[tuple[str, str], ...]
    selectors: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import adds, and a line for everything it skipped or changed."""

    added: tuple[NewSource, ...]
    notes: tuple[str, ...]
    existing: int


def plan_import(
    document: OpmlDocument,
    where: str,
    config: Path,
    existing: list[Mapping[str, Any]],
    allow_files: bool,
    base: Path,
) -> ImportPlan:
    """Decide each outline: a new source with a unique valid name, or a note why not.

    `existing` is the config's raw `[[sources]]` tables, `base` the directory a
    relative path in the OPML file is read against. URLs are compared
    normalised (scheme and host in lower case, default port dropped), and the
    config's own are resolved the way the config loader does.
    """
    config_dir = config.resolve().parent
    taken_names = {str(t["name"]) for t in existing if isinstance(t.get("name"), str)}
    configured: dict[str, str] = {}
    for table in existing:
        url = table.get("url")
        if isinstance(url, str) and url.strip():
            key = url_key(_resolve_config_url(url.strip(), config_dir))
            configured.setdefault(key, str(table.get("name", "?")))
    seen: dict[str, Outline] = {}
    added: list[NewSource] = []
    notes = [(line, f"{where}: ignored {note}") for line, note in document.ignored]
    for outline in document.outlines:
        line = outline.line or 0
        url, problem = _feed_url(outline.url, allow_files, base)
        if url is None:
            notes.append((line, f"{where}: skipped {outline.label()}: {problem}"))
            continue
        key = url_key(url)
        if key in configured:
            notes.append(
                (
                    line,
                    f"{where}: skipped {outline.label()}: {url} is already configured "
                    f"(source {configured[key]!r})",
                )
            )
            continue
        if key in seen:
            notes.append(
                (line, f"{where}: skipped {outline.label()}: duplicate of line {seen[key].line}")
            )
            continue
        seen[key] = outline
        wish = outline.ours.get("name", "")
        name = _unique_name(
            wish if NAME_PATTERN.match(wish) else _slug(wish or outline.title or "", url),
            taken_names,
        )
        if wish and name != wish:
            why = "is taken" if NAME_PATTERN.match(wish) else "is not a valid source name"
            notes.append(
                (line, f"{where}: {outline.label()}: named {name!r}, since {wish!r} {why}")
            )
        taken_names.add(name)
        added.append(
            NewSource(
                outline=outline,
                name=name,
                url=url,
                link=_link(outline.link, url, allow_files),
                settings=tuple((k, outline.ours[k]) for k in _SETTING_KEYS if k in outline.ours),
                selectors=tuple(
                    (k, outline.ours[f"selector-{k}"])
                    for k in _SELECTOR_KEYS
                    if f"selector-{k}" in outline.ours
                ),
            )
        )
        known = {"name", *_SETTING_KEYS, *(f"selector-{k}" for k in _SELECTOR_KEYS)}
        for unknown in sorted(set(outline.ours) - known):
            notes.append(
                (line, f"{where}: {outline.label()}: ignored unknown attribute {PREFIX}:{unknown}")
            )
    ordered = tuple(note for _, note in sorted(notes, key=lambda item: item[0]))
    return ImportPlan(tuple(added), ordered, len(existing))


def _feed_url(raw: str, allow_files: bool, base: Path) -> tuple[str | None, str]:
    """The URL to poll for an `xmlUrl`, or None and why it cannot be one.

    `feed://host/x` and `feed:https://host/x` (an old convention for "open in
    a feed reader") become the http(s) URL they wrap.
    """
    value = raw.strip()
    if any(unicodedata.category(c) == "Cc" for c in value):
        return None, "the URL holds control characters"
    if value.lower().startswith("feed:"):
        rest = value[5:]
        value = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return None, f"not a usable URL ({exc}): {value!r}"
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            return None, f"no host in {value!r}"
        return value, ""
    if scheme == "" and parts.netloc:
        return None, f"no scheme in {value!r} (expected http or https)"
    if scheme in ("", "file"):
        if not allow_files:
            return None, (
                f"{value} is a local file (not imported without --allow-files: the feed "
                "would publish what it reads)"
            )
        return urljoin(base.resolve().as_uri() + "/", value), ""
    return None, f"unsupported URL scheme {parts.scheme!r} in {value!r} (expected http or https)"


def _link(raw: str | None, url: str, allow_files: bool) -> str | None:
    """`htmlUrl` as the source's page: only a web address (or a file, when files are
    allowed), and only when it says more than the default (the URL itself)."""
    if not raw or raw == url:
        return None
    try:
        scheme = urlsplit(raw).scheme.lower()
    except ValueError:
        return None
    if scheme in ("http", "https") or (scheme == "file" and allow_files):
        return raw
    return None


def _resolve_config_url(value: str, config_dir: Path) -> str:
    """What the config loader makes of a `url`: http(s) as is, anything else a file
    URL resolved against the config's directory."""
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return value
    if scheme in ("http", "https"):
        return value
    return urljoin(config_dir.as_uri() + "/", value)


def url_key(url: str) -> str:
    """A URL for comparing: `HTTP://Example.org:80/x#top` and `http://example.org/x` are one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _slug(text: str, url: str) -> str:
    """A source name from a title, else from the URL's host: ASCII, lowercase, dashes."""
    for candidate in (text, _host(url)):
        folded = unicodedata.normalize("NFKD", candidate).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:64].strip("-")
        if slug:
            return slug
    return "source"


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return host.removeprefix("www.")


def _unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, … cut to fit the 64 characters a name may have."""
    if name not in taken:
        return name
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = name[: 64 - len(suffix)].rstrip("-_") + suffix
        if candidate not in taken:
            return candidate
        number += 1
