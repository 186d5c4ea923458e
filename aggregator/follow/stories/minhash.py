"""MinHash signatures and LSH banding: the blocking step before exact scoring.

A signature holds, for each of `num_perm` hash functions, the smallest value
any of the entry's tokens hashes to; two signatures agree at a position with
probability equal to the Jaccard similarity of the two token sets. LSH cuts
the signature into `bands` bands of `rows` values: two entries become a
candidate pair when any whole band agrees, so a pair of Jaccard J is kept with
probability 1 - (1 - J^rows)^bands (with 64 bands of 2 rows: 0.47 at J = 0.1,
0.93 at 0.2, 0.998 at 0.3; 0.15 at 0.05 and 0.006 at 0.01).

The hash functions are fixed by a seed and stable across processes, machines
and Python versions: the i-th hash of a token is the low 31 bits of the i-th
little-endian 32-bit word of SHAKE-128(seed, token), an extendable-output
function, so one call yields every hash of a token and each behaves as an
independent random function. Python's `hash()` is never used (it is salted
per process).

Speed, in pure Python: a token's `num_perm` values stay packed in one integer,
as the digest left them (32-bit fields, the top bit of each cleared to serve
as a guard), and the element-wise minimum of two packed rows is five
big-integer operations (SWAR: subtract with the guard bits set, the surviving
guards say which side is smaller, spread them into a mask, select), each one
C loop over the whole row. `test_stories` checks it against the plain
definition, min over tokens of each hash.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
from collections.abc import Iterable, Sequence

_VALUE_BITS = 31  # each hash is 31 bits in a 32-bit field whose top bit is a guard
EMPTY = (1 << _VALUE_BITS) - 1  # every position of the signature of an empty set
_ROW_CACHE = 8192  # tokens whose packed hashes are kept (4 bytes a hash: 512 bytes at 128)
# Items a bucket keeps, the newest. On the generated corpus (bench.stories,
# 5,000 entries) 99.9% of buckets hold at most 8 items; the deepest, keys of
# common words in one-liners, 357. At 32 blocking recall is unchanged there,
# while 2,000 entries sharing one boilerplate paragraph gather at most
# 64 x 32 = 2,048 numbers each instead of every earlier entry 64 times.
BUCKET_DEPTH = 32


class MinHasher:
    """Signatures of token sets under `num_perm` seeded hash functions."""

    def __init__(self, num_perm: int = 128, seed: str = "aggregator.stories/1") -> None:
        if num_perm < 1:
            raise ValueError("num_perm must be at least 1")
        self.num_perm = num_perm
        self.seed = seed
        self._prefix = seed.encode("utf-8") + b"\x00"
        self._words = struct.Struct(f"<{num_perm}I")
        guard = 1 << _VALUE_BITS
        self._guards = int.from_bytes(guard.to_bytes(4, "little") * num_perm, "little")
        self._values = int.from_bytes(EMPTY.to_bytes(4, "little") * num_perm, "little")
        self._rows: dict[str, int] = {}

    def hashes(self, token: str) -> tuple[int, ...]:
        """The `num_perm` 31-bit hash values of one token."""
        return self._words.unpack(self._packed(token).to_bytes(4 * self.num_perm, "little"))

    def _packed(self, token: str) -> int:
        digest = hashlib.shake_128(self._prefix + token.encode("utf-8")).digest(4 * self.num_perm)
        return int.from_bytes(digest, "little") & self._values

    def signature(self, tokens: Iterable[str]) -> tuple[int, ...]:
        """The element-wise minimum of the tokens' hashes (all EMPTY for no tokens)."""
        return self._words.unpack(self.signature_bytes(tokens))

    def signature_bytes(self, tokens: Iterable[str]) -> bytes:
        """The signature as `num_perm` little-endian 32-bit words, ready to cut into bands."""
        guards, rows = self._guards, self._rows
        packed: int | None = None
        for token in tokens:
            row = rows.get(token)
            if row is None:
                if len(rows) >= _ROW_CACHE:  # a long-running service meets new words forever
                    rows.clear()
                row = rows[token] = self._packed(token)
            if packed is None:
                packed = row
                continue
            # Per field: the guard survives where packed >= row; spread it into
            # a mask over the value bits there and take row's value, else keep.
            survived = ((packed | guards) - row) & guards
            packed ^= (packed ^ row) & (survived - (survived >> _VALUE_BITS))
        return (self._values if packed is None else packed).to_bytes(4 * self.num_perm, "little")


def band_keys(signature: bytes, bands: int, rows: int) -> list[bytes]:
    """One key per band: the bytes of the band's `rows` hash values."""
    width = 4 * rows
    if bands * width > len(signature):
        raise ValueError(f"{bands} bands of {rows} rows need {bands * rows} hashes")
    return [signature[start : start + width] for start in range(0, bands * width, width)]


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """How likely LSH keeps a pair of this Jaccard similarity: 1 - (1 - J^rows)^bands."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


class BandIndex:
    """LSH buckets: for each band, the newest `depth` items whose key in that band was equal.

    Most buckets hold one item, so a bucket is the item's number until a
    second one arrives, and a list from then on: a fifth of the memory of a
    list each (about 100 bytes per entry and band in all).

    A bucket keeps only its newest `depth` items (`BUCKET_DEPTH`), so what
    one entry's query gathers is bounded, `bands * depth` numbers, whatever
    the texts: a band key shared by every entry (a boilerplate paragraph, a
    small vocabulary) would otherwise hand each new entry every earlier one.
    """

    def __init__(self, bands: int, rows: int, depth: int = BUCKET_DEPTH) -> None:
        if depth < 2:
            raise ValueError("a bucket must keep at least 2 items to pair any")
        self.bands = bands
        self.rows = rows
        self.depth = depth
        self._buckets: list[dict[bytes, int | list[int]]] = [{} for _ in range(bands)]

    def keys(self, signature: bytes) -> list[bytes]:
        return band_keys(signature, self.bands, self.rows)

    def query(self, keys: Sequence[bytes]) -> Counter[int]:
        """The items kept in a bucket of `keys`, each with how many bands it shares."""
        found: Counter[int] = Counter()
        for bucket, key in zip(self._buckets, keys, strict=True):
            items = bucket.get(key)
            if items is None:
                continue
            if isinstance(items, int):
                found[items] += 1
            else:
                found.update(items)
        return found

    def add(self, item: int, keys: Sequence[bytes]) -> Counter[int]:
        """File `item` (numbered above every item before it) under its keys; return
        what `query` would have before."""
        found: Counter[int] = Counter()
        for bucket, key in zip(self._buckets, keys, strict=True):
            items = bucket.get(key)
            if items is None:
                bucket[key] = item
            elif isinstance(items, int):
                found[items] += 1
                bucket[key] = [items, item]
            else:
                found.update(items)
                items.append(item)
                if len(items) > self.depth:
                    del items[0]
        return found
