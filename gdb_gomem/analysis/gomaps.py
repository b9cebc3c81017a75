"""Iterate Go maps in target memory, by the layout the binary's DWARF gives.

Classic hash maps (``hash<K,V>`` / ``bucket<K,V>``, Go 1.21 - 1.23): buckets of 8 slots with a
tophash byte each (``emptyRest=0, emptyOne=1, evacuated*=2..4, minTopHash=5``) and overflow
chains; during growth, entries not yet evacuated still live in ``oldbuckets``. Every count and
chain is bounded: a corrupt map ends the iteration with MapError, never a hang.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import GomemError, LayoutError
from .typed import Val

MIN_TOPHASH = 5
MAX_BUCKET_SHIFT = 40
MAX_ENTRIES = 1 << 26


class MapError(GomemError):
    """A map whose header or buckets do not make sense."""


def classic_map_entries(hmap: Val, limit: int = MAX_ENTRIES) -> Iterator[tuple[Val, Val]]:
    """(key, value) Vals of a classic Go map, given its ``hash<K,V>`` header."""
    if hmap.type.tag != "struct" or not hmap.has("buckets"):
        raise LayoutError(f"{hmap.type.name} is not a classic map header", "")
    count = hmap["count"].int()
    b = hmap["B"].int()
    if count < 0 or count > MAX_ENTRIES or b > MAX_BUCKET_SHIFT:
        raise MapError(f"corrupt map header at {hmap.addr:#x} (count {count}, B {b})")
    bucket_ptr = hmap["buckets"]
    bt = hmap.dw.resolve(bucket_ptr.type.target or 0)
    seen = 0
    sources = [(bucket_ptr.ptr(), 1 << b)]
    old = hmap["oldbuckets"].ptr()
    if old:
        # Growing: the old array had half as many buckets unless growing "same size".
        same_size = hmap["flags"].int() & 8
        sources.append((old, 1 << b if same_size else 1 << max(b - 1, 0)))
    for base, nb in sources:
        if not base:
            continue
        for i in range(nb):
            bucket: Val | None = Val(hmap.mem, hmap.dw, base + i * bt.size, bt)
            hops = 0
            while bucket is not None:
                hops += 1
                if hops > MAX_ENTRIES // 8:
                    raise MapError(f"overflow chain of map at {hmap.addr:#x} does not end")
                tophash = bucket["tophash"].raw()
                keys, vals = bucket["keys"], bucket["values"]
                for slot in range(len(tophash)):
                    if tophash[slot] >= MIN_TOPHASH:
                        yield keys.index(slot), vals.index(slot)
                        seen += 1
                        if seen >= limit or seen > count + 8:
                            return
                bucket = bucket["overflow"].deref()
