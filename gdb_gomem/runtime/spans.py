"""The span walk: every ``mspan`` of ``mheap_.allspans`` as a plain record, read in bulk.

This is the base layer of every heap question (what is allocated, where, how big, swept or
not); the object enumeration builds on :class:`SpanWalk`. Sources, identical in substance in
Go 1.21-1.27 unless noted (``runtime/mheap.go``, ``mbitmap.go``, ``mgcsweep.go``):

- ``allspans`` holds every mspan descriptor ever carved from ``spanalloc``; recycled ones stay
  in it with state ``mSpanDead``. In use are ``mSpanInUse`` (heap) and ``mSpanManual``
  (stacks, GC work buffers, and in 1.22-1.23 unrolled GC-program bitmaps).
- Slot ``i`` of an in-use span is allocated iff ``i < freeindex`` or ``allocBits[i]``: the
  allocator only advances ``freeindex``; sweeping installs the mark bits as ``allocBits`` and
  resets ``freeindex`` to 0 (``sweepLocked.sweep``). ``allocCount`` is kept equal to that
  count, so recounting it checks the bitmap pointer and the span together.
- ``sweepgen`` against ``mheap_.sweepgen`` (sg): sg-2 unswept, sg-1 being swept, sg swept,
  sg+1 cached in an mcache before sweep, sg+3 swept then cached.
- Green Tea GC (``runtime.spanInlineMarkBits`` in the DWARF, default from 1.26): spans of
  16..512-byte objects keep their mark bits inline at the end of their one page until sweep
  ORs them into ``gcmarkBits`` (``mspan.moveInlineMarks``).

Descriptors are fetched with a few merged reads and decoded together as a numpy record array
(:mod:`~gdb_gomem.runtime.mspan`), never with a typed read per field. One address's span
(``spanOf``) and the arena geometry live in :mod:`~gdb_gomem.runtime.geometry`; both modules'
names are re-exported here, where the heap and report layers have always found them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.runtime.geometry import (
    HeapGeometry,
    HeapMap,
    heap_geometry,
)
from gdb_gomem.runtime.mspan import (
    InlineMarks,
    SpanRecord,
    check_span,
    inline_marks_layout,
    max_objs_per_span,
    span_layout,
)
from gdb_gomem.runtime.spanlists import wbuf_span_addrs
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

#: Bound on ``len(mheap_.allspans)``: 16M descriptors describe at least 128 GiB of heap.
MAX_SPANS = 1 << 24
#: allspans is read this many pointers at a time, so a corrupt length costs one bad chunk.
_PTR_CHUNK = 1 << 16

#: span sweepgen - mheap sweepgen -> meaning (mheap.go, the comment on mspan.sweepgen).
SWEEP_STATES = {
    -2: "unswept",
    -1: "sweeping",
    0: "swept",
    1: "cached unswept",
    3: "cached swept",
}


def sweep_state(span_sweepgen: int, heap_sweepgen: int) -> str:
    """The sweep state name of an in-use span; sweepgens are uint32 and may wrap."""
    d = ((span_sweepgen - heap_sweepgen + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return SWEEP_STATES.get(d, f"invalid (sg{d:+d})")


# ---------------------------------------------------------------------------- the walk


@dataclass
class SpanWalk:
    """Every descriptor of allspans, decoded and checked, plus what the walk could not read."""

    sweepgen: int
    geometry: HeapGeometry
    spans: list[SpanRecord] = field(default_factory=list)
    allspans_len: int = 0
    errors: list[str] = field(default_factory=list)
    green_tea: InlineMarks | None = None
    inline_checked: int = 0  # Green Tea spans whose inline mark bits were read
    _sorted: list[SpanRecord] | None = None
    _bases: list[int] | None = None

    def in_use(self) -> list[SpanRecord]:
        return [s for s in self.spans if s.state == 1 and s.error is None]

    def manual(self) -> list[SpanRecord]:
        return [s for s in self.spans if s.state == 2 and s.error is None]

    def live(self) -> list[SpanRecord]:
        """In-use and manual spans (those that own memory), by base address."""
        if self._sorted is None:
            self._sorted = sorted(
                (s for s in self.spans if s.state in (1, 2) and s.error is None),
                key=lambda s: s.base,
            )
            self._bases = [s.base for s in self._sorted]
        return self._sorted

    def find(self, addr: int) -> SpanRecord | None:
        """The in-use or manual span whose pages hold ``addr`` (binary search, no reads)."""
        spans = self.live()
        assert self._bases is not None
        i = bisect.bisect_right(self._bases, addr) - 1
        if i >= 0 and spans[i].base <= addr < spans[i].end:
            return spans[i]
        return None

    def by_addr(self) -> dict[int, SpanRecord]:
        """Descriptor address -> record (spanSets and mcaches hold descriptor pointers)."""
        return {s.addr: s for s in self.spans}


def _read_allspans(proc: GoProcess, walk: SpanWalk) -> list[int]:
    mheap = proc.global_("runtime.mheap_")
    arr, n, cap = mheap["allspans"].slice_header()
    walk.allspans_len = n
    if n < 0 or n > cap:
        walk.errors.append(f"mheap_.allspans is corrupt (len {n}, cap {cap}); read {min(n, cap)}")
        n = min(n, cap)
    if n > MAX_SPANS:
        walk.errors.append(
            f"mheap_.allspans has {n} entries, more than the bound {MAX_SPANS}; read the first "
            f"{MAX_SPANS}"
        )
        n = MAX_SPANS
    ptrs: list[int] = []
    for start in range(0, max(n, 0), _PTR_CHUNK):
        cnt = min(_PTR_CHUNK, n - start)
        try:
            raw = proc.mem.read(arr + 8 * start, 8 * cnt)
        except UnreadableMemory as exc:
            # Keep the readable prefix (a corrupt length runs off the end of the array).
            raw = _readable_prefix(proc, arr + 8 * start, 8 * cnt)
            walk.errors.append(
                f"allspans[{start + len(raw) // 8}:{start + cnt}] unreadable ({exc}); "
                "walk stopped there"
            )
            ptrs.extend(np.frombuffer(raw, dtype="<u8").tolist())
            break
        ptrs.extend(np.frombuffer(raw, dtype="<u8").tolist())
    return ptrs


def _readable_prefix(proc: GoProcess, addr: int, size: int, step: int = 4096) -> bytes:
    """The bytes of [addr, addr+size) up to the first unreadable page (at most size/step reads)."""
    out = bytearray()
    cur = addr
    end = addr + size
    while cur < end:
        n = min(step - cur % step, end - cur)
        try:
            out += proc.mem.read(cur, n)
        except UnreadableMemory:
            break
        cur += n
    return bytes(out[: len(out) // 8 * 8])


def walk_spans(proc: GoProcess, *, with_bits: bool = True) -> SpanWalk:
    """Decode every allspans descriptor; with ``with_bits``, recount allocated slots.

    Bounded: at most :data:`MAX_SPANS` descriptors; each bitmap read is sized by a checked
    ``nelems``; unreadable descriptors and bitmaps become error lines, never exceptions.
    """
    dw = proc.dw
    lay = span_layout(dw)
    geo = heap_geometry(dw)
    sweepgen = proc.global_("runtime.mheap_")["sweepgen"].int()
    walk = SpanWalk(sweepgen=sweepgen, geometry=geo, green_tea=inline_marks_layout(dw))
    ptrs = _read_allspans(proc, walk)
    seen: set[int] = set()
    uniq: list[int] = []
    dups = 0
    for p in ptrs:
        if p == 0:
            continue
        if p in seen:
            dups += 1
            continue
        seen.add(p)
        uniq.append(p)
    if dups:
        walk.errors.append(f"allspans lists {dups} descriptor(s) more than once")
    raws = read_many(proc.mem, [(p, lay.size) for p in uniq])
    good = [(p, raw) for p, raw in zip(uniq, raws, strict=True) if raw is not None]
    max_objs = max_objs_per_span(dw)
    bad = len(uniq) - len(good)
    decoded = lay.decode_many([r for _p, r in good], [p for p, _r in good])
    for s in decoded:
        s.error = check_span(s, geo.page_size, max_objs)
    _check_arenas(proc, geo, decoded)
    bad_spans = [s for s in decoded if s.error]
    for s in bad_spans[:MAX_SPAN_ERRORS]:
        walk.errors.append(f"mspan {s.addr:#x} (base {s.base:#x}): {s.error}")
    if len(bad_spans) > MAX_SPAN_ERRORS:
        walk.errors.append(
            f"... and {len(bad_spans) - MAX_SPAN_ERRORS} more corrupt span descriptor(s) "
            f"({len(bad_spans)} of {len(decoded)} skipped)"
        )
    unmapped = sum(1 for s in bad_spans if s.error and "heap arenas" in s.error)
    in_use = sum(1 for s in decoded if s.state != 0)
    if unmapped and unmapped >= in_use // 2:
        walk.errors.append(
            f"the arena index mheap_.arenas maps the pages of none of {unmapped} spans: it is "
            "damaged, so no heap object can be found"
        )
    walk.spans.extend(decoded)
    if bad:
        walk.errors.append(
            f"{bad} allspans entr{'y' if bad == 1 else 'ies'} point to unreadable memory"
        )
    _classify(proc, walk)
    if with_bits:
        _count_allocated(proc, walk)
    return walk


#: Corrupt descriptors named one per line; the rest are counted.
MAX_SPAN_ERRORS = 8

#: The highest user address on linux/amd64 (47-bit; 57-bit with 5-level paging, which Go's
#: heap hints never reach).
USER_TOP = 1 << 57


def _check_arenas(proc: GoProcess, geo: HeapGeometry, spans: list[SpanRecord]) -> None:
    """Mark corrupt every span in use whose pages leave the heap: its first and last page
    must lie in arenas ``mheap_.arenas`` maps, and it cannot have more pages than all of the
    heap's arenas (``mheap_.allArenas``) hold. Checked before any table sized by ``npages``
    is built: one bad descriptor must not make the object table grow without bound."""
    try:
        hm: HeapMap | None = HeapMap(proc)
    except (LayoutError, UnreadableMemory):
        hm = None
    # Every mapped arena: ``allArenas`` up to Go 1.24, ``heapArenas`` + ``userArenaArenas``
    # after.
    n_arenas = 0
    try:
        mh = proc.global_("runtime.mheap_")
        names = {f.name for f in proc.dw.resolve(mh.type.id).fields}
        for name in ("allArenas", "heapArenas", "userArenaArenas"):
            if name in names:
                n_arenas += mh[name].slice_header()[1]
    except (LayoutError, UnreadableMemory):
        n_arenas = 0
    max_pages = n_arenas * geo.pages_per_arena if 0 < n_arenas < 1 << 22 else 0
    ok_arena: dict[int, bool] = {}

    def mapped(addr: int) -> bool:
        idx = geo.arena_index(addr)
        if idx not in ok_arena:
            ok_arena[idx] = hm is None or bool(hm.entry(addr).heap_arena)
        return ok_arena[idx]

    for s in spans:
        if s.error or s.state == 0:
            continue
        end = s.base + s.npages * geo.page_size
        if end > USER_TOP:
            s.error = f"{s.npages} page(s) from base {s.base:#x} end past the address space"
        elif max_pages and s.npages > max_pages:
            s.error = f"npages {s.npages} is more than the heap's {n_arenas} arena(s) hold"
        elif not mapped(s.base) or not mapped(end - 1):
            s.error = (
                f"its pages {s.base:#x}-{end:#x} are not all in heap arenas the runtime mapped"
            )


def _classify(proc: GoProcess, walk: SpanWalk) -> None:
    """Name what each span is for: small, large, user arena, stack, workbuf, ptrscalar."""
    try:
        wbufs = wbuf_span_addrs(proc)
    except (LayoutError, UnreadableMemory) as exc:
        wbufs = set()
        walk.errors.append(f"work.wbufSpans unreadable ({exc}); workbuf spans not told apart")
    # 1.22-1.23: a large object whose type has a GC program points (largeType) at a dummy type
    # at the base of a manual spanAllocPtrScalarBits span (mbitmap_allocheaders.go).
    prog_bases = {s.large_type for s in walk.spans if s.state == 1 and s.large_type}
    for s in walk.spans:
        if s.state == 0:
            s.kind = "dead"
        elif s.state == 1:
            if s.user_arena:
                s.kind = "user arena"
            else:
                s.kind = "large" if s.sizeclass == 0 else "small"
        elif s.state == 2:
            if s.addr in wbufs:
                s.kind = "workbuf"
            elif s.base in prog_bases and s.elemsize == 0:
                s.kind = "ptrscalar"
            elif s.elemsize:
                s.kind = "stack"  # stackpoolalloc/stackalloc set elemsize (stack.go)
            else:
                s.kind = "manual"
        else:
            s.kind = "invalid"


def _bit_counts(
    raws: list[bytes | None], nbytes: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Per bitmap ``j``: set bits among bits ``[lo[j], hi[j])`` of ``raws[j]`` (missing
    bitmaps count 0). One unpack and one running sum over all bitmaps, no loop per span."""
    buf = b"".join(r if r is not None else bytes(int(n)) for r, n in zip(raws, nbytes, strict=True))
    bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
    # int32 running sums are several times faster than int64 ones (half the memory).
    run = np.zeros(len(bits) + 1, dtype=np.int32 if len(bits) < 1 << 31 else np.int64)
    np.cumsum(bits, dtype=run.dtype, out=run[1:])
    start = np.zeros(len(nbytes), dtype=np.int64)
    if len(nbytes):
        start[1:] = np.cumsum(nbytes[:-1] * 8)
    hi = np.minimum(hi, nbytes * 8)
    lo = np.minimum(lo, hi)
    return (run[start + hi] - run[start + lo]).astype(np.int64)


def _count_allocated(proc: GoProcess, walk: SpanWalk) -> None:
    """``allocated`` (``i < freeindex || allocBits[i]``) and Green Tea ``inline_marks`` per
    in-use span, counted over all spans' bitmaps at once."""
    spans = [s for s in walk.spans if s.state == 1 and s.error is None]
    nel = np.array([s.nelems for s in spans], dtype=np.int64)
    nbytes = (nel + 7) // 8
    raws = read_many(proc.mem, [(s.alloc_bits, int(n)) for s, n in zip(spans, nbytes, strict=True)])
    fidx = np.minimum(np.array([s.freeindex for s in spans], dtype=np.int64), nel)
    counts = (fidx + _bit_counts(raws, nbytes, fidx, nel)).tolist()
    bad = 0
    for s, raw, c in zip(spans, raws, counts, strict=True):
        if raw is None:
            bad += 1
            s.error = f"allocBits {s.alloc_bits:#x} unreadable"
            continue
        s.allocated = c
    if bad:
        walk.errors.append(f"{bad} span(s) with unreadable allocBits")
    im = walk.green_tea
    if im is None:
        return
    page = walk.geometry.page_size
    gt = [s for s in spans if s.error is None and im.used_by(s.elemsize)]
    raws = read_many(proc.mem, [(s.base + page - im.size, im.size) for s in gt])
    gnel = np.array([s.nelems for s in gt], dtype=np.int64)
    gbytes = np.minimum((gnel + 7) // 8, im.marks_len)  # only the bytes of real slots
    marks = [
        r[im.marks_off : im.marks_off + n] if r is not None else None
        for r, n in zip(raws, gbytes.tolist(), strict=True)
    ]
    inl = _bit_counts(marks, gbytes, np.zeros(len(gt), np.int64), gnel).tolist()
    for s, raw, c in zip(gt, raws, inl, strict=True):
        if raw is None:
            walk.errors.append(f"inline mark bits of span {s.base:#x} unreadable")
            continue
        s.inline_marks = c
        walk.inline_checked += 1
        # spanInlineMarkBits.init stores the span class in the last byte: a check that these
        # 128 bytes are the span's inline marks and not its objects.
        if raw[im.class_off] != s.spanclass:
            walk.errors.append(
                f"span {s.base:#x}: inline mark bits carry span class {raw[im.class_off]}, "
                f"the span has {s.spanclass}"
            )


SPAN_WALK: Lazy[SpanWalk] = Lazy("span walk", walk_spans, persist=True)


def cached_walk(proc: GoProcess) -> SpanWalk:
    """The walk of this process snapshot, computed once (gdb drops the process on resume)."""
    return SPAN_WALK(proc)
