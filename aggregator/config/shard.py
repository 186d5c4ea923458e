"""Splitting the configured sources between several collectors without coordination."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

from aggregator.config import Settings


@dataclass(frozen=True, slots=True)
class Shard:
    """The sources one of `count` collectors polls: those whose name hashes to `index`.

    A static split needs no coordination: every collector given the same
    count agrees on each source's owner. crc32 is the same in every process
    and on every machine (Python's `hash` of a str is not). Two collectors
    that do poll one source (overlapping shards, a changed count) still
    append each entry event once: the log's unique event key sees to that.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, _, count = text.partition("/")
        if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count) <= 1024):
            raise ValueError(f"expected I/N with 1 <= I <= N <= 1024, such as 2/4, got {text!r}")
        return cls(int(index), int(count))

    def owns(self, name: str) -> bool:
        return zlib.crc32(name.encode("utf-8")) % self.count == self.index - 1

    def select(self, settings: Settings) -> Settings:
        return replace(settings, sources=tuple(s for s in settings.sources if self.owns(s.name)))
