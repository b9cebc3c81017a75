"""Address -> span: the arena geometry and the runtime's ``spanOf``, in one place.

The heap is a set of arenas (``heapArenaBytes`` each) indexed by ``mheap_.arenas[L1][L2]``;
each ``heapArena`` maps every page of its arena to the mspan covering it (``spans[page]``).
``spanOf(p)`` (``runtime/mheap.go``, unchanged in Go 1.21-1.27) is that two-level lookup, and
``findObject`` then takes the slot ``(p - base) / elemsize``. Both questions come here:

- :func:`span_of`: the whole story of one address for ``gomem span``/``object`` (which step
  failed, the span, its slot, allocated and marked bits), reading the descriptor afresh;
- :meth:`HeapMap.heap_span` / :meth:`HeapMap.object_of`: the quick answer for many words
  (defer closures and what they capture): the in-use span or its slot, else None.

Both walk the arena index with :meth:`HeapMap.entry`; the map is built once per process
(:data:`HEAP_MAP`) and caches the L2 map pointers and the spans it decoded, as the target is a
snapshot. Constants come from DWARF (``runtime.heapArenaBytes``, ``arenaL1Bits``/``arenaL2Bits``,
``arenaBaseOffset`` ...), span fields from ``runtime.mspan``'s DWARF layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.runtime.mspan import (
    M64,
    MSpanLayout,
    SpanRecord,
    allocated_mask,
    check_span,
    inline_mark_mask,
    inline_marks_layout,
    max_objs_per_span,
    read_span,
    span_layout,
)
from gdb_gomem.runtime.spanlists import wbuf_span_addrs
from gdb_gomem.symbols.dwarf import DwarfTables
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess


@dataclass(frozen=True)
class HeapGeometry:
    """Page and arena constants of this binary (``runtime/malloc.go``), all from DWARF."""

    page_size: int
    pages_per_arena: int
    arena_bytes: int
    arena_base: int  # arenaBaseOffset as an unsigned address
    l1_bits: int
    l2_bits: int
    l1_shift: int

    def arena_index(self, addr: int) -> int:
        """``arenaIndex``: (p - arenaBaseOffset) / heapArenaBytes, in uintptr arithmetic."""
        return ((addr - self.arena_base) & M64) // self.arena_bytes

    def arena_start(self, idx: int) -> int:
        return (idx * self.arena_bytes + self.arena_base) & M64

    def split(self, idx: int) -> tuple[int, int]:
        """(l1, l2) of an arena index (``arenaIdx.l1``/``l2``)."""
        if self.l1_bits == 0:
            return 0, idx
        return idx >> self.l1_shift, idx & ((1 << self.l2_bits) - 1)


def heap_geometry(dw: DwarfTables) -> HeapGeometry:
    return HeapGeometry(
        page_size=dw.constant("runtime.pageSize"),
        pages_per_arena=dw.constant("runtime.pagesPerArena"),
        arena_bytes=dw.constant("runtime.heapArenaBytes"),
        arena_base=dw.constant("runtime.arenaBaseOffsetUintptr") & M64,
        l1_bits=dw.constant("runtime.arenaL1Bits"),
        l2_bits=dw.constant("runtime.arenaL2Bits"),
        l1_shift=dw.constant("runtime.arenaL1Shift"),
    )


def slot_of(base: int, elemsize: int, addr: int) -> tuple[int, int]:
    """(index, object base) of the slot holding ``addr`` in a span of ``elemsize`` objects
    from ``base`` (``findObject``: ``(p - s.base()) / s.elemsize``)."""
    i = (addr - base) // elemsize
    return i, base + i * elemsize


# ---------------------------------------------------------------------------- the arena index


@dataclass
class ArenaEntry:
    """What ``mheap_.arenas`` says about one address, up to the span pointer."""

    arena_index: int
    heap_arena: int | None = None  # *heapArena, 0 when the arena is not mapped
    span_ptr: int | None = None  # heapArena.spans[page]; None when not reached
    note: str | None = None  # why the walk stopped before reading a span pointer


#: (descriptor address, startAddr, elemsize, limit) of an in-use span.
HeapSpan = tuple[int, int, int, int]


class HeapMap:
    """The arena index of one process: address -> span pointer -> in-use span -> slot."""

    def __init__(self, proc: GoProcess) -> None:
        dw = proc.dw
        self.proc = proc
        self.mem = proc.mem
        self.geo = heap_geometry(dw)
        self.spans_off = dw.offset("runtime.heapArena", "spans")
        self.span_lay: MSpanLayout = span_layout(dw)
        self.in_use = dw.constants.get("runtime.mSpanInUse", 1)
        # arenas [1 << arenaL1Bits]*[1 << arenaL2Bits]*heapArena: both lengths from its type.
        arenas = proc.global_("runtime.mheap_")["arenas"]
        self.arenas_addr = arenas.addr
        self.l1_len = len(arenas)
        l2_ptr = arenas.index(0).type
        if l2_ptr.tag != "ptr" or l2_ptr.target is None:
            raise LayoutError(f"{l2_ptr.name} is not a typed pointer", "")
        l2_arr = dw.resolve(l2_ptr.target)
        if l2_arr.tag != "array":
            raise LayoutError(f"{l2_arr.name} is not an array", "")
        self.l2_len = l2_arr.count or 0
        self._l2: dict[int, int] = {}
        self._spans: dict[int, HeapSpan | None] = {}

    def _l2_array(self, l1: int) -> int:
        a = self._l2.get(l1)
        if a is None:
            a = self.mem.u64(self.arenas_addr + 8 * l1)
            self._l2[l1] = a
        return a

    def entry(self, addr: int) -> ArenaEntry:
        """``mheap_.arenas[L1][L2].spans[(addr/pageSize) % pagesPerArena]``, step by step."""
        geo = self.geo
        idx = geo.arena_index(addr)
        ent = ArenaEntry(arena_index=idx)
        l1, l2 = geo.split(idx)
        if l1 >= self.l1_len:
            ent.note = "not a heap address (outside the arena index)"
            return ent
        try:
            l2_map = self._l2_array(l1)
            if not l2_map or l2 >= self.l2_len:
                ent.note = "not a heap address (no arena map there)"
                return ent
            ha = self.mem.u64(l2_map + 8 * l2)
            ent.heap_arena = ha
            if not ha:
                ent.note = "not in a heap arena the runtime has mapped"
                return ent
            page = (addr // geo.page_size) % geo.pages_per_arena
            ent.span_ptr = self.mem.u64(ha + self.spans_off + 8 * page)
        except UnreadableMemory as exc:
            ent.note = f"arena index unreadable: {exc}"
        return ent

    def heap_span(self, p: int) -> HeapSpan | None:
        """(span addr, startAddr, elemsize, limit) of the in-use span holding ``p``, or None.

        Like the runtime's callers of spanOf: the span must be in use and ``p`` below its
        limit (at least its first element); the descriptor is not otherwise checked.
        """
        s = self.entry(p).span_ptr
        if not s:
            return None
        if s in self._spans:
            info = self._spans[s]
        else:
            info = None
            try:
                lay = self.span_lay.lay
                raw = self.mem.read(s, lay.size)
                state = lay.get(raw, "state.s", lay.get(raw, "state", self.in_use))
                if state == self.in_use:
                    info = (
                        s,
                        lay.get(raw, "startAddr"),
                        lay.get(raw, "elemsize"),
                        lay.get(raw, "limit"),
                    )
            except UnreadableMemory:
                info = None
            self._spans[s] = info
        if info is None or info[2] <= 0 or not info[1] <= p < max(info[3], info[1] + info[2]):
            return None
        return info

    def object_of(self, p: int) -> tuple[int, int] | None:
        """(object base, element size) of the heap slot holding ``p``, or None."""
        sp = self.heap_span(p)
        if sp is None:
            return None
        _s, start, elem, _limit = sp
        return slot_of(start, elem, p)[1], elem


HEAP_MAP: Lazy[HeapMap] = Lazy("heap map", HeapMap)


def heap_map(proc: GoProcess) -> HeapMap:
    """The arena index of this process snapshot, built once (raises LayoutError if the
    binary's DWARF lacks what it needs)."""
    return HEAP_MAP(proc)


# ---------------------------------------------------------------------------- address -> span


@dataclass
class SpanLookup:
    """What ``spanOf(addr)`` finds: the arena, the span pointer and, for heap spans, the slot."""

    addr: int
    arena_index: int | None = None
    heap_arena: int | None = None  # *heapArena, 0 when the arena is not mapped
    span_ptr: int | None = None
    span: SpanRecord | None = None
    in_span: bool = False  # the span is in use/manual and covers addr
    object_index: int | None = None
    object_base: int | None = None
    allocated: bool | None = None
    marked: bool | None = None
    notes: list[str] = field(default_factory=list)


def span_of(proc: GoProcess, addr: int) -> SpanLookup:
    """``mheap_.arenas[L1][L2].spans[(addr/pageSize) % pagesPerArena]`` (``spanOf``), decoded.

    Then, like ``findObject``, the slot: index ``(addr - base) / elemsize`` below ``limit``.
    Unlike :meth:`HeapMap.heap_span`, the descriptor is checked and manual spans count.
    """
    dw = proc.dw
    hm = heap_map(proc)
    geo = hm.geo
    res = SpanLookup(addr=addr)
    ent = hm.entry(addr)
    res.arena_index = ent.arena_index
    res.heap_arena = ent.heap_arena
    res.span_ptr = ent.span_ptr
    if ent.note is not None:
        res.notes.append(ent.note)
        return res
    if res.span_ptr == 0:
        res.notes.append("in a heap arena, on a page no span has ever covered")
        return res
    assert res.span_ptr is not None
    try:
        s = read_span(proc, res.span_ptr)
    except UnreadableMemory as exc:
        res.notes.append(f"the span pointer {res.span_ptr:#x} is unreadable: {exc}")
        return res
    res.span = s
    s.error = check_span(s, geo.page_size, max_objs_per_span(dw))
    if s.error:
        res.notes.append(f"span descriptor is corrupt: {s.error}")
        return res
    if s.state not in (1, 2) or not s.base <= addr < s.end:
        res.notes.append(
            f"free page: the span pointer left there is stale ({s.state_name} span "
            f"{s.base:#x}-{s.end:#x}); spanOf callers check state and bounds, as here"
        )
        return res
    res.in_span = True
    _classify_one(proc, s)
    if s.state == 2:
        if s.elemsize:
            res.object_index, res.object_base = slot_of(s.base, s.elemsize, addr)
        return res
    if addr >= s.limit:
        res.notes.append(f"past the span's last object (limit {s.limit:#x})")
        return res
    i, res.object_base = slot_of(s.base, s.elemsize, addr)
    res.object_index = i
    try:
        mask = allocated_mask(s, proc.mem.read(s.alloc_bits, (s.nelems + 7) // 8))
        s.allocated = int(mask.sum())
        res.allocated = bool(mask[i])
        mraw = proc.mem.read(s.gcmark_bits + i // 8, 1)
        marked = bool(mraw[0] >> (i % 8) & 1)
        im = inline_marks_layout(dw)
        if im is not None and im.used_by(s.elemsize):
            imask = inline_mark_mask(
                im, s, proc.mem.read(s.base + geo.page_size - im.size, im.size)
            )
            s.inline_marks = int(imask.sum())
            marked = marked or bool(i < len(imask) and imask[i])
        res.marked = marked
    except UnreadableMemory as exc:
        res.notes.append(f"span bitmaps unreadable: {exc}")
    tiny = dw.constants.get("runtime.tinySpanClass")
    if tiny is not None and s.spanclass == tiny:
        res.notes.append("a tiny-allocator block: it may hold several tiny noscan objects")
    return res


def _classify_one(proc: GoProcess, s: SpanRecord) -> None:
    if s.state == 1:
        s.kind = "user arena" if s.user_arena else ("large" if s.sizeclass == 0 else "small")
        return
    try:
        wbufs = wbuf_span_addrs(proc)
    except (LayoutError, UnreadableMemory):
        wbufs = set()
    if s.addr in wbufs:
        s.kind = "workbuf"
    elif s.elemsize:
        s.kind = "stack"
    else:
        s.kind = "manual"
