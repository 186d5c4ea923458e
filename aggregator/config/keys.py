"""How a config key is declared, and how a table of declared keys is read.

A key is declared once, as a field of the dataclass its table loads into:
`port: int = key(Integer(0, 65535), "what it is for", default=8080)`. The
field's name is the key, its `Kind` says what a value may be (and how errors
and the README word it), its default is written as the file would write it.
From those fields come the loader, the constructor defaults, the unknown-key
check, the error messages and the README's configuration reference, so none
of them can disagree with another.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, dataclass_transform, overload

from aggregator.core.errors import ConfigError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
C = TypeVar("C")

_SPEC = "aggregator.config"  # the field metadata entry that holds a key's declaration


class _Required:
    """The default of a key that has none. Not `dataclasses.MISSING`: as the
    default of `Key.default`, a field of a dataclass, that would mean "no default"."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Place:
    """Where a value is being read: the file, the key path errors name, the
    directory relative paths mean, and the values read before it (this table's
    by field name, then the enclosing tables'), for keys whose meaning depends
    on another (an interval's floor on the source's URL)."""

    file: str
    path: str
    base: Path
    values: dict[str, object] = dataclasses.field(default_factory=dict)
    outer: Place | None = None

    def fail(self, problem: str) -> ConfigError:
        return ConfigError(self.file, self.path, problem)

    def key(self, name: str) -> Place:
        """The place of one key of this table (it sees the same values)."""
        path = f"{self.path}.{name}" if self.path else name
        return dataclasses.replace(self, path=path)

    def table(self, path: str) -> Place:
        """The place of a table inside this one, with values of its own."""
        return Place(self.file, path, self.base, {}, self)

    def find(self, name: str, kind: type[T]) -> T | None:
        """The value read as `name` before now, here or in an enclosing table."""
        place: Place | None = self
        while place is not None:
            value = place.values.get(name)
            if isinstance(value, kind):
                return value
            place = place.outer
        return None

    def earlier(self, name: str, kind: type[T]) -> T:
        """`find`, for a key declared after `name`: not finding it is a bug in the schema."""
        value = self.find(name, kind)
        if value is None:
            raise LookupError(f"{self.path} is read before {name}")
        return value

    def checked_table(self, value: object, names: Collection[str]) -> dict[str, Any]:
        """`value` as a table whose every key is in `names`, or the error naming the first not."""
        if not isinstance(value, dict):
            raise self.fail(f"expected a table, got {got(value)}")
        for name in value:
            if name not in names:
                expected = ", ".join(sorted(names))
                close = difflib.get_close_matches(name, names, n=1)
                hint = f", did you mean {close[0]!r}?" if close else ""
                raise self.key(name).fail(f"unknown key{hint} (expected one of: {expected})")
        return cast(dict[str, Any], value)


class Kind(ABC, Generic[T_co]):
    """What one key's value may be: how it is read, and how it is worded.

    `expected` completes "expected …" in errors and fills the README's
    "expected" column; `missing` completes "missing (expected …)" for a
    required key.
    """

    expected: str

    @property
    def missing(self) -> str:
        return self.expected

    @property
    def tables(self) -> tuple[Section, ...]:
        """The tables a value of this kind is made of (the README documents them too)."""
        return ()

    @abstractmethod
    def read(self, value: object, at: Place) -> T_co:
        """The value as the program uses it, or `at.fail(...)` saying what was expected."""


@dataclass(frozen=True)
class Fallback:
    """What a missing key is read as when that depends on the file: a path to
    resolve against it, or another key's value. `shown` is the README's wording."""

    shown: str
    raw: Callable[[Place], object]


def toml(value: object) -> Fallback:
    """A default written as the file would write it, read in the file's place."""
    return Fallback(f"`{literal(value)}`", lambda at: value)


def same_as(name: str) -> Fallback:
    """The value of another key of the table, declared before this one."""
    return Fallback(f"`{name}`", lambda at: at.earlier(name, object))


@dataclass(frozen=True)
class Key:
    """One key of a table: its name, its kind, what it is for (the README's
    words) and what its absence means.

    `default` is a TOML value (or None: the key is optional and absent means
    None); `factory` makes the value of an absent key; `fallback` reads an
    absent key from the file's context. A key with none of them is required.
    `field` is the dataclass field `key(...)` declared it on, if any.
    """

    name: str
    kind: Kind[object]
    doc: str
    default: object = REQUIRED
    factory: Callable[[], object] | None = None
    fallback: Fallback | None = None
    field: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and self.factory is None and not self.fallback

    @property
    def shown_default(self) -> str:
        """The default as the README states it."""
        if self.fallback is not None:
            return self.fallback.shown
        if self.required:
            return "required"
        if self.default is None or self.factory is not None:
            return "not set"
        return f"`{literal(self.default)}`"

    def read(self, table: Mapping[str, object], at: Place) -> object:
        """This key's value in `table`, or what its absence means."""
        if self.name in table:
            return self.kind.read(table[self.name], at)
        if self.fallback is not None:
            return self.kind.read(self.fallback.raw(at), at)
        if self.factory is not None:
            return self.factory()
        if self.default is None:
            return None
        if self.default is REQUIRED:
            raise self.missing_error(at)
        return self.kind.read(self.default, at)

    def missing_error(self, at: Place) -> ConfigError:
        """The error for this required key absent at `at`."""
        return at.fail(f"missing (expected {self.kind.missing})")


@overload
def key(kind: Kind[T], doc: str, *, default: object, name: str | None = None) -> T: ...
@overload
def key(kind: Kind[T], doc: str, *, factory: Callable[[], T]) -> T: ...
@overload
def key(kind: Kind[T], doc: str, *, fallback: Fallback | None = None) -> T: ...
def key(
    kind: Kind[Any],
    doc: str,
    *,
    default: object = REQUIRED,
    factory: Callable[[], Any] | None = None,
    fallback: Fallback | None = None,
    name: str | None = None,
) -> Any:
    """Declare the field as a config key (see the module docstring).

    A `default` is read now, as the file's text would be, to become the
    constructor's default too: a default its own kind refuses fails at import.
    `name` is the key when it is not the field's name (two fields filled from
    one key).
    """
    spec = Key(name or "", kind, doc, default, factory, fallback)
    metadata = {_SPEC: spec}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if default is None:
        return dataclasses.field(default=None, metadata=metadata)
    declared = Place("<schema>", "default", Path())
    return dataclasses.field(default=kind.read(default, declared), metadata=metadata)


@dataclass(frozen=True)
class Section:
    """A table of keys: its name in the file (`feed`, `sources.selectors`),
    whether the file has an array of them (`[[sources]]`), what it is for (the
    README's words), and its keys in the order they are read.

    `label` is the field whose value names the table in later messages
    (`sources[1] (dailyknight).interval`).
    """

    name: str
    doc: str
    keys: tuple[Key, ...]
    array: bool = False
    label: str | None = None

    @property
    def heading(self) -> str:
        return f"[[{self.name}]]" if self.array else f"[{self.name}]"

    @property
    def names(self) -> frozenset[str]:
        return frozenset(spec.name for spec in self.keys)

    def read_into(self, build: Callable[..., C], raw: object, at: Place) -> C:
        """The table `raw` at `at`, read key by key into `build(**fields)`.

        Keys are read in declared order, so the first problem reported is the
        first in that order, and a key may depend on one declared before it.
        """
        table = at.checked_table(raw, self.names)
        fields: dict[str, object] = {}
        for spec in self.keys:
            value = spec.read(table, at.key(spec.name))
            fields[spec.field] = at.values[spec.field] = value
            if spec.field == self.label:
                at = dataclasses.replace(at, path=f"{at.path} ({value})")
        return build(**fields)


_SECTIONS: dict[type, Section] = {}


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(key,))
def section(
    name: str, doc: str, *, array: bool = False, label: str | None = None
) -> Callable[[type[C]], type[C]]:
    """Make the class a frozen dataclass whose `key(...)` fields are a table's keys."""

    def make(cls: type[C]) -> type[C]:
        made = dataclass(frozen=True, slots=True, kw_only=True)(cls)
        keys = tuple(
            dataclasses.replace(spec, name=spec.name or f.name, field=f.name)
            for f in dataclasses.fields(made)  # type: ignore[arg-type]
            if isinstance(spec := f.metadata.get(_SPEC), Key)
        )
        _SECTIONS[made] = Section(name, doc, keys, array, label)
        return made

    return make


def section_of(cls: type) -> Section:
    return _SECTIONS[cls]


def read(cls: type[C], raw: object, at: Place) -> C:
    """The table `raw` as a `cls`, a class `section` made."""
    return section_of(cls).read_into(cls, raw, at)


def got(value: object) -> str:
    """A value as the config file spells it, for the "got …" of a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, date | time):  # datetime is a date
        return value.isoformat()
    return repr(value)


def literal(value: object) -> str:
    """A default as TOML writes it (defaults are strings and integers)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
