"""Iterate Go maps in target memory, by the layout the binary's DWARF gives.

Two implementations exist across Go 1.21-1.27, told apart by the header's DWARF fields:

Classic hash maps (``hash<K,V>`` / ``bucket<K,V>``; Go 1.21-1.23, and 1.24-1.25 built with
``GOEXPERIMENT=noswissmap``; ``runtime/map.go``): ``2^B`` buckets of 8 slots with a tophash
byte each (``emptyRest=0, emptyOne=1, evacuated*=2..4, minTopHash=5``) and overflow chains;
during growth, entries not yet evacuated still live in ``oldbuckets``.

Swiss tables (``map<K,V>``, ``table<K,V>``, ``noalg.map.group[K]V``; Go 1.24+,
``internal/runtime/maps``): the header's ``dirPtr``/``dirLen`` is a directory of
``*table``; each table's ``groups.data`` is ``lengthMask+1`` groups of 8 slots with one
control byte per slot in a 64-bit word (a byte with the high bit clear is a full slot;
``ctrlEmpty=0x80``, ``ctrlDeleted=0xfe``). A *small* map (``dirLen == 0``) has no
directory: ``dirPtr`` points straight at one group. Several directory entries may share one
table (``localDepth < globalDepth``), so tables are de-duplicated. Groups are either
interleaved (``slots[i].key/.elem``) or, with ``GOEXPERIMENT=mapsplitgroup`` (1.27),
split (``keys[i]``, ``elems[i]``); both are read from the group's DWARF fields, exactly as
Go's own ``runtime/runtime-gdb.py`` (``MapTypePrinter``) does. Keys and values larger than
128 bytes are stored indirectly; then the slot's DWARF type is a pointer and so is the Val.

Every count and chain is bounded: a corrupt map ends the iteration with MapError, never a
hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.symbols.dwarf import GoType
from gdb_gomem.target.typed import Val

MIN_TOPHASH = 5
MAX_BUCKET_SHIFT = 40
MAX_ENTRIES = 1 << 26
#: abi.MapGroupSlots (8 in every Swiss-table release).
GROUP_SLOTS = 8
#: Bound on a directory's length and a table's group count (a table holds <= 1024 slots).
MAX_DIR = 1 << 24
MAX_GROUPS_PER_TABLE = 1 << 16


class MapError(GomemError):
    """A map whose header or buckets do not make sense."""


def map_header(v: Val) -> Val | None:
    """The header struct of a map value (``map[K]V`` is a pointer to it); None for a nil map."""
    t = v.type
    if t.tag == "ptr":
        return v.deref()
    return v


def map_kind(hdr: GoType) -> str:
    """``"classic"``, ``"swiss"`` or ``""``: which runtime implementation this header is."""
    names = {f.name for f in hdr.fields}
    if {"buckets", "B", "count"} <= names:
        return "classic"
    if {"dirPtr", "dirLen", "used"} <= names:
        return "swiss"
    return ""


def map_len(hdr: Val) -> int:
    """``len(m)``: ``hmap.count`` or ``Map.used``."""
    kind = map_kind(hdr.type)
    if kind == "classic":
        return hdr["count"].int()
    if kind == "swiss":
        return hdr["used"].int()
    raise LayoutError(f"{hdr.type.name} is not a map header", "")


def map_entries(m: Val, limit: int = MAX_ENTRIES) -> Iterator[tuple[Val, Val]]:
    """(key, value) Vals of any Go map: a ``map[K]V`` value or its header struct."""
    hdr = map_header(m)
    if hdr is None:
        return
    kind = map_kind(hdr.type)
    if kind == "classic":
        yield from classic_map_entries(hdr, limit)
    elif kind == "swiss":
        yield from swiss_map_entries(hdr, limit)
    else:
        raise LayoutError(f"{hdr.type.name or hdr.type.tag} is not a map header", "")


# ---------------------------------------------------------------------------- classic


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
    hops = 0
    for base, nb in classic_bucket_arrays(hmap):
        for i in range(nb):
            bucket: Val | None = Val(hmap.mem, hmap.dw, base + i * bt.size, bt)
            while bucket is not None:
                hops += 1
                if hops > (count + 8) + (1 << b) * 2 + 64:
                    raise MapError(f"overflow chains of map at {hmap.addr:#x} do not end")
                tophash = bucket["tophash"].raw()
                keys, vals = bucket["keys"], bucket["values"]
                for slot in range(len(tophash)):
                    if tophash[slot] >= MIN_TOPHASH:
                        yield keys.index(slot), vals.index(slot)
                        seen += 1
                        if seen >= limit or seen > count + 8:
                            return
                bucket = bucket["overflow"].deref()


def classic_bucket_arrays(hmap: Val) -> list[tuple[int, int]]:
    """(address, bucket count) of ``buckets`` and, while growing, ``oldbuckets``.

    A grow is "same size" when ``flags & sameSizeGrow`` (8); else the old array had half as
    many buckets (``hashGrow``).
    """
    b = hmap["B"].int()
    if b > MAX_BUCKET_SHIFT:
        raise MapError(f"corrupt map header at {hmap.addr:#x} (B {b})")
    out = []
    cur = hmap["buckets"].ptr()
    if cur:
        out.append((cur, 1 << b))
    old = hmap["oldbuckets"].ptr()
    if old:
        same_size = hmap["flags"].int() & 8
        out.append((old, 1 << b if same_size else 1 << max(b - 1, 0)))
    return out


# ---------------------------------------------------------------------------- swiss


@dataclass(frozen=True)
class SwissLayout:
    """The DWARF types of one Swiss map instantiation: table, group and slot access."""

    table: GoType  # table<K,V>
    group: GoType  # noalg.map.group[K]V
    keys_off: int
    key_stride: int
    key_type: int
    elems_off: int
    elem_stride: int
    elem_type: int


def swiss_layout(hdr: Val) -> SwissLayout:
    """Find table and group types through ``dirPtr`` (``**table``) and ``groups.data``."""
    dw = hdr.dw
    pp = dw.resolve(hdr["dirPtr"].type.id)
    if pp.tag != "ptr" or pp.target is None:
        raise LayoutError(f"{hdr.type.name}.dirPtr is not a pointer", "")
    tp = dw.resolve(pp.target)
    table = dw.resolve(tp.target or 0)
    groups = next((f for f in table.fields if f.name == "groups"), None)
    if groups is None:
        raise LayoutError(f"{table.name} has no groups field", "")
    gref = dw.resolve(groups.type)
    data = next((f for f in gref.fields if f.name == "data"), None)
    if data is None:
        raise LayoutError(f"{gref.name} has no data field", "")
    group = dw.resolve(dw.resolve(data.type).target or 0)
    fields = {f.name: f for f in group.fields}
    if "slots" in fields:  # interleaved: slots [8]struct{key K; elem V}
        arr = dw.resolve(fields["slots"].type)
        slot = dw.resolve(arr.elem or 0)
        sf = {f.name: f for f in slot.fields}
        base = fields["slots"].offset
        return SwissLayout(
            table,
            group,
            base + sf["key"].offset,
            slot.size,
            sf["key"].type,
            base + sf["elem"].offset,
            slot.size,
            sf["elem"].type,
        )
    if "keys" in fields and "elems" in fields:  # GOEXPERIMENT=mapsplitgroup
        ka, ea = dw.resolve(fields["keys"].type), dw.resolve(fields["elems"].type)
        kt, et = dw.resolve(ka.elem or 0), dw.resolve(ea.elem or 0)
        return SwissLayout(
            table,
            group,
            fields["keys"].offset,
            kt.size,
            kt.id,
            fields["elems"].offset,
            et.size,
            et.id,
        )
    raise LayoutError(f"{group.name}: neither slots nor keys/elems", "")


def swiss_tables(hdr: Val) -> list[int]:
    """Distinct table addresses of a full-size Swiss map's directory (bounded)."""
    n = hdr["dirLen"].int()
    if n <= 0:
        return []
    if n > MAX_DIR:
        raise MapError(f"corrupt map header at {hdr.addr:#x} (dirLen {n})")
    raw = hdr.mem.read(hdr["dirPtr"].ptr(), 8 * n)
    out: list[int] = []
    seen: set[int] = set()
    for i in range(n):
        t = int.from_bytes(raw[8 * i : 8 * i + 8], "little")
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def swiss_groups(hdr: Val, lay: SwissLayout | None = None) -> list[tuple[int, int]]:
    """(address, group count) of every group array: one group for a small map, else each
    table's ``groups.data`` with ``lengthMask + 1`` groups."""
    lay = lay or swiss_layout(hdr)
    n = hdr["dirLen"].int()
    if n <= 0:
        p = hdr["dirPtr"].ptr()
        return [(p, 1)] if p else []
    out = []
    for taddr in swiss_tables(hdr):
        t = Val(hdr.mem, hdr.dw, taddr, lay.table)
        data = t["groups.data"].ptr()
        ng = t["groups.lengthMask"].int() + 1
        if ng <= 0 or ng > MAX_GROUPS_PER_TABLE:
            raise MapError(f"map table at {taddr:#x}: implausible group count {ng}")
        if data:
            out.append((data, ng))
    return out


def swiss_map_entries(hdr: Val, limit: int = MAX_ENTRIES) -> Iterator[tuple[Val, Val]]:
    """(key, value) Vals of a Swiss-table map, given its ``map<K,V>`` header."""
    used = hdr["used"].int()
    if used < 0 or used > MAX_ENTRIES:
        raise MapError(f"corrupt map header at {hdr.addr:#x} (used {used})")
    lay = swiss_layout(hdr)
    dw, mem = hdr.dw, hdr.mem
    kt, et = dw.types[lay.key_type], dw.types[lay.elem_type]
    seen = 0
    for base, ng in swiss_groups(hdr, lay):
        for g in range(ng):
            gaddr = base + g * lay.group.size
            try:
                ctrl = mem.u64(gaddr)
            except UnreadableMemory as exc:
                raise MapError(f"map group at {gaddr:#x} unreadable: {exc}") from None
            for i in range(GROUP_SLOTS):
                if (ctrl >> (8 * i)) & 0x80:
                    continue  # empty or deleted
                yield (
                    Val(mem, dw, gaddr + lay.keys_off + i * lay.key_stride, kt),
                    Val(mem, dw, gaddr + lay.elems_off + i * lay.elem_stride, et),
                )
                seen += 1
                if seen >= limit:
                    return
                if seen > used + 8:
                    raise MapError(f"map at {hdr.addr:#x} holds more full slots than used={used}")
