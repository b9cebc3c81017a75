"""Every heap object allocated at the stop, as numpy arrays sorted by address.

Built on the span walk (:func:`.spans.cached_walk`). The runtime's rule for "allocated"
(``mbitmap.go``, ``mgcsweep.go``, Go 1.21-1.27): slot ``i`` of an in-use span holds an object
iff ``i < freeindex`` or ``allocBits[i]``. Sweeping installs the mark bits as the new
``allocBits``, so in a span the sweeper has not reached yet (sweepgen ``sg-2``, or ``sg+1``
cached before sweep) an allocated slot whose mark bit is clear is garbage the runtime will free
on sweep: it is enumerated but flagged :data:`F_UNSWEPT_GARBAGE`. Green Tea (1.26+) spans of
16..512-byte objects keep their marks inline at the end of the page until sweep ORs them into
``gcmarkBits`` (``mspan.moveInlineMarks``), so both are ORed here.

Tiny-allocator blocks (span class ``tinySpanClass``, 16-byte noscan slots) are one object each:
the allocator packs several tiny noscan values into a block and the GC frees the block as a
whole, so the block is the unit of liveness (flag :data:`F_TINY`).

Everything is vectorised over all slots of all spans: a Python loop runs per span (to gather
bitmap reads), never per object. :class:`HeapImage` turns word addresses into word values in
one gather; on a core it is a zero-copy view of the core file (:meth:`Memory.mapped_view`).

This is the one object table of a process: the heap model, the type pass and the reports
all index objects by their position in it (:func:`object_table`).
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from gdb_gomem.runtime.mspan import SpanRecord
from gdb_gomem.runtime.spans import SpanWalk, cached_walk
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.memory import MappedView
from gdb_gomem.target.process import GoProcess

#: Object flags (bits of :attr:`ObjectTable.flags`).
F_TINY = 1  # a tiny-allocator block: may hold several tiny noscan objects
F_UNSWEPT_GARBAGE = 2  # allocated in an unswept span but unmarked: freed by the next sweep
F_NOSCAN = 4  # the span class says the object holds no pointers
F_LARGE = 8  # the only object of a large (size class 0) span

_U64 = np.uint64
#: The address -> span table is one dense array when the arenas in use span at most this many
#: pages (4M pages = 32 GiB of address range, a 16 MiB table); else one row per arena.
DENSE_MAX_PAGES = 1 << 22


def as_int64(a: np.ndarray) -> np.ndarray:
    """``a`` as int64 for index and offset arithmetic: a view of uint64 columns (addresses,
    sizes; heap addresses are far below 2**63, so no value changes), a copy of any other."""
    return a.view(np.int64) if a.dtype == np.uint64 else a.astype(np.int64)


# ---------------------------------------------------------------------------- memory image


@dataclass
class HeapImage:
    """Words of the target by address, gathered in bulk: ``words(addrs)`` is one numpy gather.

    ``buf`` is a uint64 view of a byte buffer (the core file itself when the target is a core:
    no copy of the heap is made) and ``seg_vaddr``/``seg_off``/``seg_len`` map address ranges
    to byte offsets in it. Addresses outside every range read as 0 with ``ok`` False.
    """

    buf: np.ndarray
    seg_vaddr: np.ndarray
    seg_off: np.ndarray
    seg_len: np.ndarray
    view: MappedView | None = None  # the backend's mapping, when ``buf`` is a view of it

    def release(self, lo: int, hi: int) -> None:
        """Drop this process's mapping of the pages behind [lo, hi) (core-backed images).

        Whole-heap passes sweep the heap once; pages already gathered need not stay in the
        resident set (the kernel's page cache keeps them, a later read maps them again). This
        keeps peak RSS near the model's own arrays instead of model + heap.
        """
        if self.view is None or hi <= lo:
            return
        page = mmap.PAGESIZE
        j0 = max(int(np.searchsorted(self.seg_vaddr, lo, side="right")) - 1, 0)
        j1 = int(np.searchsorted(self.seg_vaddr, hi, side="left"))
        for j in range(j0, min(j1, len(self.seg_vaddr))):
            v, o, n = int(self.seg_vaddr[j]), int(self.seg_off[j]), int(self.seg_len[j])
            a, b = max(lo, v), min(hi, v + n)
            if a >= b:
                continue
            fa = (o + a - v) // page * page
            fb = o + b - v
            if not self.view.release(fa, fb - fa):
                return

    def offsets(self, addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word index into ``buf``, readable mask) of each 8-aligned address."""
        a = as_int64(np.asarray(addrs, dtype=np.uint64))
        if len(a):
            # Fast path: the whole batch inside one range (heap words usually are).
            lo, hi = int(a.min()), int(a.max())
            k = int(np.searchsorted(self.seg_vaddr, lo, side="right")) - 1
            if k >= 0 and hi + 8 <= int(self.seg_vaddr[k]) + int(self.seg_len[k]):
                rel = a - int(self.seg_vaddr[k])
                return (int(self.seg_off[k]) + rel) >> 3, (a & 7) == 0
        j = np.searchsorted(self.seg_vaddr, a, side="right") - 1
        jc = np.clip(j, 0, max(len(self.seg_vaddr) - 1, 0))
        rel = a - self.seg_vaddr[jc]
        ok = (j >= 0) & (rel >= 0) & (rel + 8 <= self.seg_len[jc]) & (a % 8 == 0)
        idx = np.where(ok, (self.seg_off[jc] + rel) // 8, 0)
        return idx, ok

    def words(self, addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The uint64 at each address and whether it was readable (unreadable read as 0)."""
        w, ok = self.words_multi(addrs, [0])
        return w[0], ok[0]

    def words_multi(self, addrs: np.ndarray, offs: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`words` at ``addrs + offs[k]`` as rows k of a (len(offs), len(addrs))
        matrix. In one compiled pass where :mod:`.native` is available (each address's words
        read together), else :meth:`words_np` per offset."""
        from gdb_gomem.heap import native

        fast = native.image_words(self, addrs, offs)
        if fast is not None:
            return fast
        a = np.asarray(addrs, dtype=np.uint64)
        w = np.empty((len(offs), len(a)), np.uint64)
        ok = np.empty((len(offs), len(a)), bool)
        for k, o in enumerate(offs):
            w[k], ok[k] = self.words_np(a + np.uint64(o))
        return w, ok

    def words_np(self, addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`words` in numpy."""
        if len(self.seg_vaddr) == 0:
            return np.zeros(len(addrs), np.uint64), np.zeros(len(addrs), bool)
        idx, ok = self.offsets(addrs)
        out = self.buf[idx]
        out[~ok] = 0
        return out, ok

    def bytes_at(self, addr: int, size: int) -> np.ndarray | None:
        """A zero-copy uint8 view of [addr, addr+size) when it lies in one range, else None."""
        if len(self.seg_vaddr) == 0 or size <= 0:
            return None
        j = int(np.searchsorted(self.seg_vaddr, addr, side="right")) - 1
        if j < 0 or addr + size > int(self.seg_vaddr[j]) + int(self.seg_len[j]):
            return None
        off = int(self.seg_off[j]) + addr - int(self.seg_vaddr[j])
        return self.buf.view(np.uint8)[off : off + size]


def heap_image(proc: GoProcess, regions: list[tuple[int, int]]) -> HeapImage:
    """An image covering ``regions`` ([lo, hi) address ranges, usually the in-use spans).

    Where the memory backend lends a mapping (:meth:`Memory.mapped_view`: a core file) the
    image is that mapping viewed as uint64, all of it: dumped segments are page-aligned in
    the file, so every 8-aligned address maps to a whole word. Elsewhere (a live gdb
    inferior) the regions are read once with merged reads.
    """
    view = proc.mem.mapped_view()
    if view is not None:
        usable = [r for r in view.ranges if r.offset % 8 == 0 and r.vaddr < 1 << 62]
        buf = np.frombuffer(view.buffer, dtype=np.uint8)
        nwords = len(buf) // 8
        return HeapImage(
            buf=buf[: nwords * 8].view(np.uint64),
            seg_vaddr=np.array([r.vaddr for r in usable], dtype=np.int64),
            seg_off=np.array([r.offset for r in usable], dtype=np.int64),
            seg_len=np.array([min(r.size, nwords * 8 - r.offset) for r in usable], dtype=np.int64),
            view=view,
        )
    merged: list[list[int]] = []
    for lo, hi in sorted(regions):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    raws = read_many(proc.mem, [(lo, hi - lo) for lo, hi in merged], max_gap=0)
    parts: list[bytes] = []
    vaddr: list[int] = []
    off: list[int] = []
    ln: list[int] = []
    pos = 0
    for (lo, hi), raw in zip(merged, raws, strict=True):
        if raw is None:
            continue
        vaddr.append(lo)
        off.append(pos)
        ln.append(hi - lo)
        parts.append(raw)
        pos += hi - lo
    data = b"".join(parts)
    return HeapImage(
        buf=np.frombuffer(data, dtype=np.uint64) if data else np.zeros(0, np.uint64),
        seg_vaddr=np.array(vaddr, dtype=np.int64),
        seg_off=np.array(off, dtype=np.int64),
        seg_len=np.array(ln, dtype=np.int64),
    )


# ---------------------------------------------------------------------------- the table


@dataclass
class ObjectTable:
    """All allocated heap objects, sorted by address (index = object id everywhere).

    ``addr``/``size`` (uint64, size is the slot size), ``span`` (int32 index into
    ``walk.spans``), ``flags`` (uint8, ``F_*``). ``find`` maps any address (interior
    pointers included) to the object holding it in O(1) per address: arena -> page -> span ->
    slot -> object, all numpy gathers.
    """

    walk: SpanWalk
    addr: np.ndarray
    size: np.ndarray
    span: np.ndarray
    flags: np.ndarray
    errors: list[str] = field(default_factory=list)
    # address -> object machinery
    _arena_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _page_span: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    _span_base: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _span_elem: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _span_nelems: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _span_slot0: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _slot_obj: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    _page_shift: int = 13
    _gp0: int = 0  # first page number the table covers
    _dense: bool = True  # one table over [first arena, last arena] (else rows per arena)
    #: The words of the in-use spans, built on first use (:attr:`image`): on a live target
    #: that is a copy of the whole heap, which the allocation state alone never needs.
    _image: HeapImage | None = None
    _image_source: Callable[[], HeapImage] | None = None
    _image_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def image(self) -> HeapImage | None:
        if self._image is None and self._image_source is not None:
            with self._image_lock:
                if self._image is None and self._image_source is not None:
                    self._image = self._image_source()
                    self._image_source = None
        return self._image

    @image.setter
    def image(self, value: HeapImage | None) -> None:
        self._image = value

    def attach(self, proc: GoProcess) -> None:
        """Build the image from proc on first use (after the table was read from disk)."""
        regions = [(s.base, s.end) for s in self.walk.in_use()]
        self._image_source = lambda: heap_image(proc, regions)

    def __getstate__(self) -> dict[str, object]:
        # The image maps or copies the target: it is rebuilt, never stored.
        state = dict(self.__dict__)
        state["_image"] = None
        state["_image_source"] = None
        state.pop("_image_lock", None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._image_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.addr)

    @property
    def tiny(self) -> np.ndarray:
        return (self.flags & F_TINY) != 0

    @property
    def unswept_garbage(self) -> np.ndarray:
        return (self.flags & F_UNSWEPT_GARBAGE) != 0

    @property
    def noscan(self) -> np.ndarray:
        return (self.flags & F_NOSCAN) != 0

    @cached_property
    def span_classes(self) -> np.ndarray:
        """uint16 span class of every span of ``walk.spans`` (per span, not per object: the
        typing kernels look an object's class up through its span)."""
        return np.array([s.spanclass for s in self.walk.spans], dtype=np.uint16)

    @property
    def spanclass(self) -> np.ndarray:
        """The span class of every object (one uint16 column, gathered on each access; the
        ``F_*`` flags answer tiny/noscan/large without it)."""
        return self.span_classes[self.span]

    def span_record(self, i: int) -> SpanRecord:
        return self.walk.spans[int(self.span[i])]

    def span_index(self, addrs: np.ndarray) -> np.ndarray:
        """Index into ``walk.spans`` of the in-use span whose pages hold each address, or -1."""
        a = np.asarray(addrs, dtype=np.uint64)
        if len(self._page_span) == 0:
            return np.full(len(a), -1, np.int32)
        geo = self.walk.geometry
        # Page number counted from arenaBaseOffset, in uintptr (wrapping) arithmetic, then
        # relative to the first page the table covers; everything else is out of range.
        gp = ((a - _U64(geo.arena_base)) >> _U64(self._page_shift)).view(np.int64) - self._gp0
        if self._dense:
            ok = (gp >= 0) & (gp < len(self._page_span))
            return np.where(ok, self._page_span[np.where(ok, gp, 0)], -1).astype(np.int32)
        ppa = geo.pages_per_arena
        arena = (gp + self._gp0) // ppa
        row = np.searchsorted(self._arena_ids, arena)
        rowc = np.minimum(row, len(self._arena_ids) - 1)
        hit = self._arena_ids[rowc] == arena
        sp = self._page_span[rowc * ppa + (gp + self._gp0) % ppa]
        return np.where(hit, sp, -1).astype(np.int32)

    def find(self, addrs: np.ndarray) -> np.ndarray:
        """Object index holding each address (any byte of the slot), or -1: free slot, past
        the span's last slot, not an in-use heap span. In one compiled pass where
        :mod:`.native` is available (2.5x faster on 20 million lookups), else numpy."""
        from gdb_gomem.heap import native

        fast = native.find_objects(self, addrs)
        return fast if fast is not None else self.find_np(addrs)

    def find_np(self, addrs: np.ndarray) -> np.ndarray:
        """:meth:`find` in numpy."""
        a = np.asarray(addrs, dtype=np.uint64).view(np.int64)
        s = self.span_index(a.view(np.uint64))
        ok = s >= 0
        s[~ok] = 0
        off = a - self._span_base[s]
        slot = off // np.maximum(self._span_elem[s], 1)
        ok &= (off >= 0) & (slot < self._span_nelems[s])
        g = self._span_slot0[s] + slot
        g[~ok] = 0
        obj = self._slot_obj[g] if len(self._slot_obj) else np.zeros(len(a), np.int32)
        obj[~ok] = -1
        return obj

    def find_one(self, addr: int) -> int:
        """Object index holding ``addr``, or -1 (also for a value no address can have).

        :meth:`find` for one address, as a binary search over ``addr``: objects are disjoint
        slots sorted by address, so only the last one starting at or below ``addr`` can hold
        it, and the answer is the page-table lookup's. One search costs a few microseconds;
        one address through the compiled lookup costs several times that in call overhead,
        and the type pass looks up addresses one at a time by the thousand.
        """
        if not 0 <= addr < 1 << 64:
            return -1
        i = int(np.searchsorted(self.addr, np.uint64(addr), side="right")) - 1
        if i >= 0 and addr < int(self.addr[i]) + int(self.size[i]):
            return i
        return -1

    def slot_state(self, addrs: np.ndarray) -> np.ndarray:
        """Per address: 0 not in an in-use span, 1 in a free slot (or past the last slot),
        2 in an allocated object (what ``verify`` reports pointers by)."""
        s = self.span_index(addrs)
        o = self.find(addrs)
        return np.where(o >= 0, 2, np.where(s >= 0, 1, 0)).astype(np.int8)


def _packed_bits(
    proc: GoProcess, addrs: list[int], nbits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read one gcBits bitmap per span: (packed bytes of all spans concatenated, first byte
    of each, readable mask). Each span's bitmap is ``ceil(nbits/8)`` bytes (``newMarkBits``)."""
    nbytes = (nbits + 7) // 8
    raws = read_many(proc.mem, [(a, int(n)) for a, n in zip(addrs, nbytes, strict=True)])
    ok = np.array([r is not None for r in raws], dtype=bool)
    parts = [r if r is not None else bytes(int(n)) for r, n in zip(raws, nbytes, strict=True)]
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    start = np.zeros(len(addrs), np.int64)
    if len(addrs):
        start[1:] = np.cumsum(nbytes[:-1])
    return buf, start, ok


def _with_marks_of_spans_being_swept(
    proc: GoProcess,
    spans: list[SpanRecord],
    d: np.ndarray,
    nelems: np.ndarray,
    packed: np.ndarray,
    abyte: np.ndarray,
) -> np.ndarray:
    """``packed`` with the mark bits ORed into the allocation bits of every span the stop
    caught being swept (sweepgen ``sg-1``).

    ``mspan.sweep`` (mgcsweep.go) stores ``freeindex = 0`` a few instructions before it
    installs ``gcmarkBits`` as the new ``allocBits``: stopped in between, an object allocated
    since the span's last sweep is below no ``freeindex`` and in neither bitmap the rule
    reads, and would vanish from the heap. Every object the sweep keeps is marked, in
    ``gcmarkBits`` until the swap and in ``allocBits`` after it (Green Tea's inline marks are
    moved into ``gcmarkBits`` before either store), so the union holds it at any instant."""
    rows = np.flatnonzero(d == -1)
    if not len(rows):
        return packed
    mbits, mstart, mok = _packed_bits(proc, [spans[i].gcmark_bits for i in rows], nelems[rows])
    out = packed.copy()
    for k, i in enumerate(rows.tolist()):
        if not mok[k]:
            continue
        nb = (int(nelems[i]) + 7) // 8
        a0, m0 = int(abyte[i]), int(mstart[k])
        out[a0 : a0 + nb] |= mbits[m0 : m0 + nb]
    return out


def _bit_table(
    proc: GoProcess, addrs: list[int], nbits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_packed_bits` unpacked: (bits of all spans, first bit of each, readable)."""
    buf, start, ok = _packed_bits(proc, addrs, nbits)
    return np.unpackbits(buf, bitorder="little").astype(bool), start * 8, ok


def _allocated_np(
    abits: np.ndarray,
    astart: np.ndarray,
    aok: np.ndarray,
    base: np.ndarray,
    nelems: np.ndarray,
    elem: np.ndarray,
    freeidx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(slot -> object, object addresses, sizes, span of each) in numpy; see
    ``gomem_alloc_objects`` for the compiled version of the same rule."""
    n = len(base)
    slot0 = np.zeros(n, np.int64)
    if n:
        slot0[1:] = np.cumsum(nelems[:-1])
    total = int(nelems.sum()) if n else 0
    # Per-slot values by repetition (sequential), not by gathering through a span index.
    row_span = np.repeat(np.arange(n, dtype=np.int32), nelems)
    sdt = np.int32 if total < 1 << 31 else np.int64
    slot = np.arange(total, dtype=sdt) - np.repeat(slot0.astype(sdt), nelems)
    alloc = abits[np.repeat(astart - slot0, nelems) + np.arange(total, dtype=np.int64)]
    alloc |= slot < np.repeat(freeidx.astype(sdt), nelems)
    if not aok.all():
        alloc &= np.repeat(aok, nelems)
    keep = np.flatnonzero(alloc)
    ospan_local = row_span[keep]
    size = elem.astype(np.uint64)[ospan_local]
    addr = base.astype(np.uint64)[ospan_local]
    addr += slot[keep].astype(np.uint64) * size
    slot_obj = np.full(total, -1, np.int32)
    slot_obj[keep] = np.arange(len(keep), dtype=np.int32)
    return slot_obj, addr, size, ospan_local


def build_objects(proc: GoProcess, walk: SpanWalk | None = None) -> ObjectTable:
    """Enumerate every allocated object (see the module docstring for the rules)."""
    walk = walk or cached_walk(proc)
    geo = walk.geometry
    sg = walk.sweepgen
    # The walk's complaints (a corrupt descriptor is skipped there) travel with the table, so
    # every command built on it says what it left out.
    errors: list[str] = list(walk.errors)
    idx = [i for i, s in enumerate(walk.spans) if s.state == 1 and s.error is None]
    idx.sort(key=lambda i: walk.spans[i].base)
    spans = [walk.spans[i] for i in idx]
    n = len(spans)
    sidx = np.array(idx, dtype=np.int32)
    base = np.array([s.base for s in spans], dtype=np.int64)
    nelems = np.array([s.nelems for s in spans], dtype=np.int64)
    elem = np.array([s.elemsize for s in spans], dtype=np.int64)
    freeidx = np.array([s.freeindex for s in spans], dtype=np.int64)
    spc = np.array([s.spanclass for s in spans], dtype=np.int64)
    d = np.array(
        [((s.sweepgen - sg + (1 << 31)) & 0xFFFFFFFF) - (1 << 31) for s in spans], dtype=np.int64
    )
    unswept = (d == -2) | (d == 1)

    packed, abyte, aok = _packed_bits(proc, [s.alloc_bits for s in spans], nelems)
    for s, ok in zip(spans, aok, strict=True):
        if not ok:
            errors.append(f"span {s.base:#x}: allocBits {s.alloc_bits:#x} unreadable")
    packed = _with_marks_of_spans_being_swept(proc, spans, d, nelems, packed, abyte)
    slot0 = np.zeros(n, np.int64)
    if n:
        slot0[1:] = np.cumsum(nelems[:-1])

    from gdb_gomem.heap import native

    got = native.alloc_objects(
        base, nelems, elem, freeidx, abyte, aok, packed, sum(s.allocated or 0 for s in spans)
    )
    if got is None:
        abits = np.unpackbits(packed, bitorder="little").astype(bool)
        got = _allocated_np(abits, abyte * 8, aok, base, nelems, elem, freeidx)
        del abits
    slot_obj, addr, size, ospan_local = got

    # Marks, only where they decide anything: objects of unswept spans.
    garbage = np.zeros(len(addr), dtype=bool)
    uidx = np.flatnonzero(unswept)
    if len(uidx):
        mbits, mstart, mok = _bit_table(proc, [spans[i].gcmark_bits for i in uidx], nelems[uidx])
        where = np.full(n, -1, np.int64)
        where[uidx] = np.arange(len(uidx))
        rows = np.flatnonzero(unswept[ospan_local])  # objects in unswept spans
        sp = ospan_local[rows]
        oslot = (as_int64(addr[rows]) - base[sp]) // np.maximum(elem[sp], 1)
        w = where[sp]
        marked = mbits[mstart[w] + oslot]
        im = walk.green_tea
        if im is not None:
            gt = [k for k, i in enumerate(uidx) if im.used_by(spans[i].elemsize)]
            raws = read_many(
                proc.mem, [(spans[uidx[k]].base + geo.page_size - im.size, im.size) for k in gt]
            )
            inl = np.zeros((len(uidx), im.marks_len * 8), dtype=bool)
            for k, raw in zip(gt, raws, strict=True):
                if raw is not None:
                    inl[k] = np.unpackbits(
                        np.frombuffer(raw[im.marks_off : im.marks_off + im.marks_len], np.uint8),
                        bitorder="little",
                    ).astype(bool)
            s_in = np.minimum(oslot, inl.shape[1] - 1)
            marked = marked | (inl[w, s_in] & (oslot < inl.shape[1]))
        marked |= ~mok[w]  # unreadable mark bits: do not call anything garbage
        garbage[rows] = ~marked

    tiny_cls = proc.dw.constants.get("runtime.tinySpanClass", 5)
    sflags = (
        np.where(spc == tiny_cls, F_TINY, 0)
        | np.where((spc & 1) == 1, F_NOSCAN, 0)
        | np.where((spc >> 1) == 0, F_LARGE, 0)
    ).astype(np.uint8)
    flags = sflags[ospan_local]
    if len(uidx):
        flags[garbage] |= F_UNSWEPT_GARBAGE

    # Page table over the arenas that hold in-use spans: page -> walk span index.
    nw = len(walk.spans)
    sb = np.zeros(nw, np.int64)
    se = np.zeros(nw, np.int64)
    sn = np.zeros(nw, np.int64)
    s0 = np.zeros(nw, np.int64)
    sb[sidx], se[sidx], sn[sidx], s0[sidx] = base, elem, nelems, slot0
    npages = np.array([s.npages for s in spans], dtype=np.int64)
    page_addr = (
        np.repeat(base, npages)
        + (
            np.arange(int(npages.sum()) if n else 0, dtype=np.int64)
            - np.repeat(np.cumsum(npages) - npages, npages)
        )
        * geo.page_size
    )
    arena = as_int64((page_addr.view(np.uint64) - _U64(geo.arena_base)) // _U64(geo.arena_bytes))
    arena_ids = np.unique(arena)
    ppa = geo.pages_per_arena
    shift = geo.page_size.bit_length() - 1
    dense = (
        len(arena_ids) == 0 or (int(arena_ids[-1]) - int(arena_ids[0]) + 1) * ppa <= DENSE_MAX_PAGES
    )
    if dense:
        gp0 = int(arena_ids[0]) * ppa if len(arena_ids) else 0
        span_pages = (int(arena_ids[-1]) - int(arena_ids[0]) + 1) * ppa if len(arena_ids) else 0
        page_span = np.full(span_pages, -1, np.int32)
        gp = arena * ppa + (page_addr // geo.page_size) % ppa - gp0
        page_span[gp] = np.repeat(sidx, npages)
    else:
        gp0 = 0
        page_span = np.full(len(arena_ids) * ppa, -1, np.int32)
        row = np.searchsorted(arena_ids, arena)
        page_span[row * ppa + (page_addr // geo.page_size) % ppa] = np.repeat(sidx, npages)
    ospan = sidx[ospan_local]
    table = ObjectTable(
        walk=walk,
        addr=addr,
        size=size,
        span=ospan,
        flags=flags,
        errors=errors,
        _arena_ids=arena_ids,
        _page_span=page_span,
        _span_base=sb,
        _span_elem=se,
        _span_nelems=sn,
        _span_slot0=s0,
        _slot_obj=slot_obj,
        _page_shift=shift,
        _gp0=gp0,
        _dense=dense,
    )
    table.attach(proc)
    return table


OBJECT_TABLE: Lazy[ObjectTable] = Lazy(
    "objects", build_objects, phase=True, persist=True, restore=lambda t, proc: t.attach(proc)
)


def object_table(proc: GoProcess) -> ObjectTable:
    """The object table of this process snapshot, built once."""
    return OBJECT_TABLE(proc)
