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

Field offsets come from the binary's DWARF through the typed layer (:class:`MSpanLayout`);
descriptors are fetched with a few merged reads and decoded together as a numpy record
array, never with a typed read per field.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.symbols.dwarf import DwarfTables
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

M64 = (1 << 64) - 1

#: Bound on ``len(mheap_.allspans)``: 16M descriptors describe at least 128 GiB of heap.
MAX_SPANS = 1 << 24
#: allspans is read this many pointers at a time, so a corrupt length costs one bad chunk.
_PTR_CHUNK = 1 << 16

STATE_NAMES = {0: "dead", 1: "in use", 2: "manual"}

#: span sweepgen - mheap sweepgen -> meaning (mheap.go, the comment on mspan.sweepgen).
SWEEP_STATES = {
    -2: "unswept",
    -1: "sweeping",
    0: "swept",
    1: "cached unswept",
    3: "cached swept",
}

#: The mspan fields the walk reads (all present in 1.21-1.27).
_FIELDS = (
    "next",
    "prev",
    "list",
    "startAddr",
    "npages",
    "manualFreeList",
    "freeindex",
    "nelems",
    "allocBits",
    "gcmarkBits",
    "pinnerBits",
    "sweepgen",
    "allocCount",
    "spanclass",
    "state.s",
    "needzero",
    "isUserArenaChunk",
    "allocCountBeforeCache",
    "elemsize",
    "limit",
    "specials",
)
#: Fields some versions lack: largeType appears in 1.22; freeIndexForScan is in all of them.
_OPTIONAL = ("largeType", "freeIndexForScan")


def sweep_state(span_sweepgen: int, heap_sweepgen: int) -> str:
    """The sweep state name of an in-use span; sweepgens are uint32 and may wrap."""
    d = ((span_sweepgen - heap_sweepgen + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return SWEEP_STATES.get(d, f"invalid (sg{d:+d})")


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


class SpanClassMixin:
    """``spanClass`` is ``sizeclass << 1 | noscan`` (runtime/mheap.go ``makeSpanClass``)."""

    spanclass: int

    @property
    def sizeclass(self) -> int:
        return self.spanclass >> 1

    @property
    def noscan(self) -> bool:
        return bool(self.spanclass & 1)


@dataclass(slots=True)
class SpanRecord(SpanClassMixin):
    """One mspan descriptor, decoded; walk-derived fields are filled after decoding."""

    addr: int  # the descriptor itself
    base: int
    npages: int
    end: int  # base + npages * pageSize
    state: int
    spanclass: int
    elemsize: int
    nelems: int
    freeindex: int
    alloc_count: int
    alloc_count_before_cache: int
    alloc_bits: int
    gcmark_bits: int
    pinner_bits: int
    sweepgen: int
    limit: int
    needzero: int
    user_arena: bool
    specials: int
    large_type: int
    next: int
    prev: int
    list: int
    manual_free_list: int
    freeindex_for_scan: int
    # Filled by the walk:
    kind: str = ""
    allocated: int | None = None  # recount from freeindex + allocBits
    inline_marks: int | None = None  # Green Tea: marks still held inline (None: not used)
    error: str | None = None

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, f"state {self.state}")

    @property
    def nbytes(self) -> int:
        return self.end - self.base


class MSpanLayout:
    """The mspan fields the walk reads (offsets and sizes from DWARF) and their decoder."""

    def __init__(self, dw: DwarfTables) -> None:
        self.lay = Layout(dw, "runtime.mspan", _FIELDS, _OPTIONAL)
        self.size = self.lay.size
        self.page_size = dw.constant("runtime.pageSize")

        # The same fields as one numpy record type, to decode thousands of descriptors at once.
        names = list(self.lay.fields)
        self.dtype = np.dtype(
            {
                "names": names,
                "formats": [
                    ("<i" if sg else "<u") + str(sz) for _o, sz, sg in self.lay.fields.values()
                ],
                "offsets": [o for o, _sz, _sg in self.lay.fields.values()],
                "itemsize": self.size,
            }
        )

    def decode(self, raw: bytes, addr: int) -> SpanRecord:
        return self.decode_many([raw], [addr])[0]

    def decode_many(self, raws: list[bytes], addrs: list[int]) -> list[SpanRecord]:
        """Decode descriptors (each ``size`` bytes) in one numpy pass over their fields."""
        if not raws:
            return []
        arr = np.frombuffer(b"".join(raws), dtype=self.dtype)
        n = len(raws)

        def col(name: str) -> list[int]:
            if name in self.lay.fields:
                return arr[name].tolist()
            return [0] * n

        base, npages = col("startAddr"), col("npages")
        page = self.page_size
        return [
            SpanRecord(
                addr=a,
                base=b,
                npages=np_,
                end=(b + np_ * page) & M64,
                state=st,
                spanclass=spc,
                elemsize=es,
                nelems=ne,
                freeindex=fi,
                alloc_count=ac,
                alloc_count_before_cache=acb,
                alloc_bits=ab,
                gcmark_bits=gb,
                pinner_bits=pb,
                sweepgen=sg,
                limit=lim,
                needzero=nz,
                user_arena=bool(ua),
                specials=sp,
                large_type=lt,
                next=nx,
                prev=pv,
                list=ls,
                manual_free_list=mf,
                freeindex_for_scan=fs,
            )
            for (
                a,
                b,
                np_,
                st,
                spc,
                es,
                ne,
                fi,
                ac,
                acb,
                ab,
                gb,
                pb,
                sg,
                lim,
                nz,
                ua,
                sp,
                lt,
                nx,
                pv,
                ls,
                mf,
                fs,
            ) in zip(
                addrs,
                base,
                npages,
                col("state.s"),
                col("spanclass"),
                col("elemsize"),
                col("nelems"),
                col("freeindex"),
                col("allocCount"),
                col("allocCountBeforeCache"),
                col("allocBits"),
                col("gcmarkBits"),
                col("pinnerBits"),
                col("sweepgen"),
                col("limit"),
                col("needzero"),
                col("isUserArenaChunk"),
                col("specials"),
                col("largeType"),
                col("next"),
                col("prev"),
                col("list"),
                col("manualFreeList"),
                col("freeIndexForScan"),
                strict=True,
            )
        ]


#: One layout per DWARF table (keyed by identity; the table is kept so the id stays unique).
_layouts: dict[int, tuple[DwarfTables, MSpanLayout]] = {}


def span_layout(dw: DwarfTables) -> MSpanLayout:
    hit = _layouts.get(id(dw))
    if hit is None or hit[0] is not dw:
        hit = _layouts[id(dw)] = (dw, MSpanLayout(dw))
    return hit[1]


def read_span(proc: GoProcess, addr: int) -> SpanRecord:
    """One descriptor (for lists and lookups; the walk reads them in bulk)."""
    lay = span_layout(proc.dw)
    return lay.decode(proc.mem.read(addr, lay.size), addr)


# ---------------------------------------------------------------------------- Green Tea


@dataclass(frozen=True)
class InlineMarks:
    """Where Green Tea keeps a small span's mark bits (``mgcmark_greenteagc.go``)."""

    size: int  # sizeof(spanInlineMarkBits), at base + pageSize - size
    marks_off: int
    marks_len: int
    class_off: int
    max_size: int  # gc.MinSizeForMallocHeader: heapBitsInSpan(size) is size <= this

    def used_by(self, elemsize: int) -> bool:
        """``gcUsesSpanInlineMarkBits``: heapBitsInSpan(size) && size >= 16."""
        return 16 <= elemsize <= self.max_size


def inline_marks_layout(dw: DwarfTables) -> InlineMarks | None:
    """The Green Tea inline mark layout, or None when this binary does not use Green Tea.

    Without the experiment the type is absent (1.25 default) or an empty struct.
    """
    t = dw.find("runtime.spanInlineMarkBits")
    if t is None or dw.resolve(t.id).size == 0:
        return None
    name = "runtime.spanInlineMarkBits"
    marks = dw.field(name, "marks")
    return InlineMarks(
        size=dw.size(name),
        marks_off=marks.offset,
        marks_len=dw.resolve(marks.type).count or 0,
        class_off=dw.offset(name, "class"),
        max_size=dw.constant(
            "internal/runtime/gc.MinSizeForMallocHeader",
            dw.constants.get("runtime.minSizeForMallocHeader"),
        ),
    )


# ---------------------------------------------------------------------------- bits


def bits_array(raw: bytes, nbits: int) -> np.ndarray:
    """A gcBits bitmap as booleans, object ``i`` = bit ``i % 8`` of byte ``i / 8``."""
    a = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    return a[:nbits].astype(bool)


def allocated_mask(span: SpanRecord, alloc_raw: bytes) -> np.ndarray:
    """Which slots of an in-use span hold an object now (``i < freeindex || allocBits[i]``)."""
    mask = bits_array(alloc_raw, span.nelems)
    mask[: min(span.freeindex, span.nelems)] = True
    return mask


def inline_mark_mask(im: InlineMarks, span: SpanRecord, imb_raw: bytes) -> np.ndarray:
    """The marks a Green Tea span still holds inline (the class byte is not a mark)."""
    return bits_array(imb_raw[im.marks_off : im.marks_off + im.marks_len], span.nelems)


def max_objs_per_span(dw: DwarfTables) -> int:
    """``maxObjsPerSpan`` (runtime up to 1.24, ``internal/runtime/gc`` from 1.25)."""
    for name in ("internal/runtime/gc.MaxObjsPerSpan", "runtime.maxObjsPerSpan"):
        if name in dw.constants:
            return dw.constants[name]
    return dw.constant("runtime.pageSize") // 8  # 8-byte objects in one page: the same 1024


def _check(span: SpanRecord, page: int, max_objs: int) -> str | None:
    """Why a descriptor cannot be trusted, or None (lengths bound every later read)."""
    if span.state not in STATE_NAMES:
        return f"invalid state {span.state}"
    if span.state == 0:
        return None
    if span.npages == 0 or span.npages > (1 << 48) // page:
        return f"implausible npages {span.npages}"
    if span.base % page:
        return f"base {span.base:#x} is not page-aligned"
    if span.state != 1:
        return None
    nbytes = span.npages * page
    if span.elemsize == 0 or span.nelems == 0 or span.nelems * span.elemsize > nbytes:
        return (
            f"nelems {span.nelems} x elemsize {span.elemsize} does not fit its "
            f"{span.npages} page(s)"
        )
    if span.nelems > (1 if span.sizeclass == 0 else max_objs):
        return f"nelems {span.nelems} is more than a span of class {span.sizeclass} can hold"
    if span.freeindex > span.nelems:
        return f"freeindex {span.freeindex} > nelems {span.nelems}"
    if span.alloc_count > span.nelems:
        return f"allocCount {span.alloc_count} > nelems {span.nelems}"
    return None


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
    for s in lay.decode_many([r for _p, r in good], [p for p, _r in good]):
        s.error = _check(s, geo.page_size, max_objs)
        if s.error:
            walk.errors.append(f"mspan {s.addr:#x} (base {s.base:#x}): {s.error}")
        walk.spans.append(s)
    if bad:
        walk.errors.append(
            f"{bad} allspans entr{'y' if bad == 1 else 'ies'} point to unreadable memory"
        )
    _classify(proc, walk)
    if with_bits:
        _count_allocated(proc, walk)
    return walk


def _wbuf_span_addrs(proc: GoProcess) -> set[int]:
    """Descriptors on ``work.wbufSpans.free``/``busy`` (the only homes of workbuf spans)."""
    from gdb_gomem.runtime.spanlists import walk_list

    out: set[int] = set()
    wb = proc.global_("runtime.work")["wbufSpans"]
    for name in ("free", "busy"):
        res = walk_list(proc, wb[name].addr, f"work.wbufSpans.{name}")
        out.update(s.addr for s in res.spans)
    return out


def _classify(proc: GoProcess, walk: SpanWalk) -> None:
    """Name what each span is for: small, large, user arena, stack, workbuf, ptrscalar."""
    try:
        wbufs = _wbuf_span_addrs(proc)
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


SPAN_WALK: Lazy[SpanWalk] = Lazy("span walk", walk_spans)


def cached_walk(proc: GoProcess) -> SpanWalk:
    """The walk of this process snapshot, computed once (gdb drops the process on resume)."""
    return SPAN_WALK(proc)


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
    """
    dw = proc.dw
    geo = heap_geometry(dw)
    res = SpanLookup(addr=addr)
    idx = geo.arena_index(addr)
    res.arena_index = idx
    l1, l2 = geo.split(idx)
    arenas = proc.global_("runtime.mheap_")["arenas"]
    if l1 >= len(arenas):
        res.notes.append("not a heap address (outside the arena index)")
        return res
    try:
        l2_map = arenas.index(l1).deref()
        if l2_map is None or l2 >= len(l2_map):
            res.notes.append("not a heap address (no arena map there)")
            return res
        ha = l2_map.index(l2).deref()
        res.heap_arena = ha.addr if ha is not None else 0
        if ha is None:
            res.notes.append("not in a heap arena the runtime has mapped")
            return res
        slot = (addr // geo.page_size) % geo.pages_per_arena
        res.span_ptr = ha["spans"].index(slot).ptr()
    except UnreadableMemory as exc:
        res.notes.append(f"arena index unreadable: {exc}")
        return res
    if res.span_ptr == 0:
        res.notes.append("in a heap arena, on a page no span has ever covered")
        return res
    try:
        s = read_span(proc, res.span_ptr)
    except UnreadableMemory as exc:
        res.notes.append(f"the span pointer {res.span_ptr:#x} is unreadable: {exc}")
        return res
    res.span = s
    s.error = _check(s, geo.page_size, max_objs_per_span(dw))
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
            res.object_index = (addr - s.base) // s.elemsize
            res.object_base = s.base + res.object_index * s.elemsize
        return res
    if addr >= s.limit:
        res.notes.append(f"past the span's last object (limit {s.limit:#x})")
        return res
    i = (addr - s.base) // s.elemsize
    res.object_index = i
    res.object_base = s.base + i * s.elemsize
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
        wbufs = _wbuf_span_addrs(proc)
    except (LayoutError, UnreadableMemory):
        wbufs = set()
    if s.addr in wbufs:
        s.kind = "workbuf"
    elif s.elemsize:
        s.kind = "stack"
    else:
        s.kind = "manual"
