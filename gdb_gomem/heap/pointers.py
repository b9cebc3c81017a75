"""Which words of each heap object hold pointers, per Go version, in bulk.

The GC's own pointer information (``mbitmap.go`` of each release):

- **1.21**: one bit per heap word in ``heapArena.bitmap`` (bit ``i`` of word ``j`` covers
  arena word ``64*j+i``). ``noMorePtrs`` only lets the scanner stop early; the bits after it
  are zero by invariant, and bits of free slots "can be junk" (filtered: only allocated
  objects count).
- **1.22+**, small scan objects of at most ``minSizeForMallocHeader`` (512) bytes: one bit
  per word of the span at the span's end (``heapBitsSlice``: the last ``spanSize/64`` bytes;
  Green Tea 1.26+ puts them just before the ``spanInlineMarkBits`` of 16..512-byte spans).
- **1.22+**, larger small objects: a malloc header, the ``*abi.Type`` in the object's first
  word; the type's pointer mask tiles the rest of the slot every ``Size_`` bytes
  (``typePointers.next``). Large objects: ``mspan.largeType``, tiled from the base. In
  1.22-1.23 a large type with a GC program gets a dummy type in a ``spanAllocPtrScalarBits``
  span whose GCData is the unrolled mask, so the same reader serves it. From 1.24 a type with
  ``TFlagGCMaskOnDemand`` has GCData pointing at a slot the runtime fills with the mask on
  first use; an unfilled slot means the GC never scanned such an object, so the whole
  ``PtrBytes`` prefix is taken as possible pointers (counted in ``notes``).

Output: chunks of (source object index, word address), gathered with numpy per span group or
per (type, slot size) group, never per object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.heap.objects import F_LARGE, F_NOSCAN, ObjectTable, as_int64
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

#: Word addresses produced per chunk (bounds transient memory on huge heaps).
CHUNK_WORDS = 1 << 23
#: Spans whose in-span bitmaps are decoded together.
SPAN_GROUP = 8192
#: A type's mask is read for at most this many pointer-bearing bytes (1 TiB of words).
MAX_PTRBYTES = 1 << 40


@dataclass
class TypeMask:
    """A runtime type's size and pointer word offsets (within one element)."""

    addr: int
    size: int
    ptr_offsets: np.ndarray  # int64 byte offsets of pointer words in one element
    exact: bool = True  # False: the mask was not built (on demand) and is a conservative guess


@dataclass
class PointerScan:
    """Where pointer words come from, with what could not be decoded."""

    notes: list[str] = field(default_factory=list)
    types: dict[int, TypeMask | None] = field(default_factory=dict)


def _type_mask(
    proc: GoProcess,
    lay: Layout,
    on_demand: int | None,
    tptr: int,
    cache: dict[int, TypeMask | None],
) -> TypeMask | None:
    """Decode one ``*abi.Type`` (cached): Size_, PtrBytes and the GCData mask."""
    if tptr in cache:
        return cache[tptr]
    out: TypeMask | None = None
    try:
        raw = proc.mem.read(tptr, lay.size)
        size = lay.get(raw, "Size_")
        ptrbytes = lay.get(raw, "PtrBytes")
        tflag = lay.get(raw, "TFlag")
        gcdata = lay.get(raw, "GCData")
        if size > 0 and 0 < ptrbytes <= min(size, MAX_PTRBYTES):
            nwords = ptrbytes // 8
            exact = True
            if on_demand is not None and tflag & on_demand:
                gcdata = proc.mem.u64(gcdata)
            if gcdata == 0:
                offs = np.arange(nwords, dtype=np.int64) * 8
                exact = False
            else:
                mask = proc.mem.read(gcdata, (nwords + 7) // 8)
                bits = np.unpackbits(np.frombuffer(mask, np.uint8), bitorder="little")
                offs = np.flatnonzero(bits[:nwords]).astype(np.int64) * 8
            out = TypeMask(tptr, size, offs, exact)
        elif size > 0:
            out = TypeMask(tptr, size, np.zeros(0, np.int64))
    except (UnreadableMemory, GomemError):
        out = None
    cache[tptr] = out
    return out


def _bitmap_words(
    packed: np.ndarray,
    byte_start: np.ndarray,
    word0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Set bits -> (group index, word address) for concatenated per-group bitmaps (packed,
    little-endian bit order; group ``k`` starts at byte ``byte_start[k]``)."""
    bits = np.unpackbits(packed, bitorder="little")
    pos = np.flatnonzero(bits)
    del bits
    # Set bits per group (popcount of the packed bytes, summed per group), then the group of
    # each set bit by repetition: cheaper than a binary search per bit.
    if len(byte_start) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    if hasattr(np, "bitwise_count"):
        per = np.add.reduceat(np.bitwise_count(packed), byte_start, dtype=np.int64)
    else:  # numpy < 2.0
        per = np.diff(np.append(np.searchsorted(pos, byte_start * 8), len(pos)))
    g = np.repeat(np.arange(len(byte_start)), per)
    return g, (word0[g] + (pos - byte_start[g] * 8) * 8).astype(np.uint64)


def _emit(
    objs: ObjectTable,
    waddr: np.ndarray,
    allowed: np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Keep the words that lie in allocated objects the bitmap is valid for."""
    for lo in range(0, len(waddr), CHUNK_WORDS):
        w = waddr[lo : lo + CHUNK_WORDS]
        o = objs.find(w)
        keep = o >= 0
        keep[keep] = allowed[o[keep]]
        yield o[keep], w[keep]


def _arena_bitmap_words(
    proc: GoProcess,
    objs: ObjectTable,
    scan: PointerScan,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Go 1.21: heapArena.bitmap of every arena holding scan objects."""
    geo = objs.walk.geometry
    off = proc.dw.offset("runtime.heapArena", "bitmap")
    nbytes = geo.arena_bytes // 64
    arenas = proc.global_("runtime.mheap_")["arenas"]
    allowed = (objs.flags & F_NOSCAN) == 0
    for aid in objs._arena_ids.tolist():
        l1, l2 = geo.split(int(aid))
        try:
            l2map = arenas.index(l1).deref()
            if l2map is None:
                continue
            ha = l2map.index(l2).ptr()
            raw = proc.mem.read(ha + off, nbytes)
        except (UnreadableMemory, GomemError, IndexError) as exc:
            scan.notes.append(f"heap bitmap of arena {aid} unreadable: {exc}")
            continue
        start = geo.arena_start(int(aid))
        _g, waddr = _bitmap_words(
            np.frombuffer(raw, np.uint8), np.zeros(1, np.int64), np.array([start], np.int64)
        )
        yield from _emit(objs, waddr, allowed)


@dataclass
class BitmapGroup:
    """Heap bitmaps of a group of small scan spans (Go 1.22+), gathered in one read.

    Span ``j`` (walk index ``widx[j]``, first byte ``base[j]``) has ``nw[j]`` bitmap words
    at ``words[wstart[j]:][:nw[j]]``; bit ``b`` of word ``k`` says word ``64k+b`` of the span
    holds a pointer."""

    base: np.ndarray  # int64
    widx: np.ndarray  # int64, index into walk.spans
    words: np.ndarray  # uint64
    wstart: np.ndarray  # int64
    nw: np.ndarray  # int64


def span_bitmap_groups(
    proc: GoProcess,
    objs: ObjectTable,
    scan: PointerScan,
) -> Iterator[BitmapGroup]:
    """Go 1.22+: the bitmap at the end of each small scan span of <= 512-byte objects, by
    groups of spans in address order (so sources come out sorted: the CSR build relies on
    runs). Every bitmap word of a group is one gather over the heap image (the bitmaps lie
    inside their spans), not one read per span."""
    walk = objs.walk
    page = walk.geometry.page_size
    dw = proc.dw
    maxsz = dw.constants.get(
        "internal/runtime/gc.MinSizeForMallocHeader",
        dw.constants.get("runtime.minSizeForMallocHeader", 512),
    )
    im = walk.green_tea
    index = {id(s): i for i, s in enumerate(walk.spans)}
    spans = sorted(
        (s for s in walk.in_use() if s.sizeclass != 0 and not s.noscan and s.elemsize <= maxsz),
        key=lambda s: s.base,
    )
    for g0 in range(0, len(spans), SPAN_GROUP):
        grp = spans[g0 : g0 + SPAN_GROUP]
        base = np.array([s.base for s in grp], np.int64)
        npg = np.array([s.npages for s in grp], np.int64)
        lens = npg * page // 64
        at = base + npg * page - lens
        if im is not None:
            gt = np.array([im.used_by(s.elemsize) for s in grp], dtype=bool)
            at -= np.where(gt, im.size, 0)
        nw = lens // 8
        wstart = np.cumsum(nw) - nw
        k = np.arange(int(nw.sum()), dtype=np.int64) - np.repeat(wstart, nw)
        image = objs.image
        assert image is not None  # build_objects gives every heap table its image
        words, ok = image.words((np.repeat(at, nw) + 8 * k).astype(np.uint64))
        if not ok.all():
            bad = int(np.unique(np.repeat(np.arange(len(grp)), nw)[~ok]).size)
            scan.notes.append(f"{bad} span heap bitmap(s) unreadable")
        widx = np.array([index[id(s)] for s in grp], np.int64)
        yield BitmapGroup(base, widx, words, wstart, nw)


def _span_bitmap_words(
    proc: GoProcess,
    objs: ObjectTable,
    scan: PointerScan,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(source object, pointer word address) from :func:`span_bitmap_groups`. The span of
    every set bit is known, so the slot is computed directly, not looked up."""
    for grp in span_bitmap_groups(proc, objs, scan):
        g, waddr = _bitmap_words(grp.words.view(np.uint8), grp.wstart * 8, grp.base)
        widx = grp.widx[g]
        off = as_int64(waddr) - grp.base[g]
        slot = off // objs._span_elem[widx]
        ok = slot < objs._span_nelems[widx]
        gs = objs._span_slot0[widx] + np.where(ok, slot, 0)
        o = objs._slot_obj[gs]
        keep = ok & (o >= 0)
        yield o[keep], waddr[keep]


def typed_words(
    proc: GoProcess,
    objs: ObjectTable,
    scan: PointerScan,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Go 1.22+: objects with a malloc header (> 512 B, small) and large objects."""
    dw = proc.dw
    maxsz = dw.constants.get(
        "internal/runtime/gc.MinSizeForMallocHeader",
        dw.constants.get("runtime.minSizeForMallocHeader", 512),
    )
    hdr_size = dw.constants.get("internal/runtime/gc.MallocHeaderSize", 8)
    lay = Layout(dw, "internal/abi.Type", ("Size_", "PtrBytes", "TFlag", "GCData"))
    on_demand = dw.constants.get("internal/abi.TFlagGCMaskOnDemand")
    scanobj = (objs.flags & F_NOSCAN) == 0
    large = (objs.flags & F_LARGE) != 0
    small_hdr = np.flatnonzero(scanobj & ~large & (objs.size > maxsz))
    big = np.flatnonzero(scanobj & large)
    assert objs.image is not None
    hdr_t, ok = objs.image.words(objs.addr[small_hdr])
    tptr = np.concatenate(
        [hdr_t, np.array([objs.span_record(int(i)).large_type for i in big], np.uint64)]
    )
    oidx = np.concatenate([small_hdr, big]).astype(np.int64)
    hdr = np.concatenate(
        [np.full(len(small_hdr), hdr_size, np.int64), np.zeros(len(big), np.int64)]
    )
    if (~ok).any():
        scan.notes.append(f"{int((~ok).sum())} malloc header(s) unreadable")
    nz = tptr != 0
    tptr, oidx, hdr = tptr[nz], oidx[nz], hdr[nz]
    if len(oidx) == 0:
        return
    esize = as_int64(objs.size[oidx])
    keys = np.stack([tptr.view(np.int64), esize, hdr], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    inexact = 0
    for k in range(len(uniq)):
        t, es, h = (int(x) for x in uniq[k])
        tm = _type_mask(proc, lay, on_demand, t & ((1 << 64) - 1), scan.types)
        members = oidx[order[bounds[k] : bounds[k + 1]]]
        if tm is None:
            scan.notes.append(
                f"type {t & ((1 << 64) - 1):#x} of {len(members)} object(s) unreadable"
            )
            continue
        if len(tm.ptr_offsets) == 0:
            continue
        if not tm.exact:
            inexact += len(members)
        nrep = max(0, (es - h + tm.size - 1) // tm.size)
        pat = (
            h + np.arange(nrep, dtype=np.int64)[:, None] * tm.size + tm.ptr_offsets[None, :]
        ).reshape(-1)
        pat = pat[pat + 8 <= es]
        if len(pat) == 0:
            continue
        per = max(1, CHUNK_WORDS // len(pat))
        for lo in range(0, len(members), per):
            m = members[lo : lo + per]
            w = (as_int64(objs.addr[m])[:, None] + pat[None, :]).reshape(-1).astype(np.uint64)
            yield np.repeat(m.astype(np.int32), len(pat)), w
    if inexact:
        scan.notes.append(
            f"{inexact} object(s) of types whose on-demand GC mask was never built: "
            "their whole pointer prefix was scanned conservatively"
        )


def pointer_words(
    proc: GoProcess,
    objs: ObjectTable,
    scan: PointerScan | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of (source object index int32, pointer word address uint64) for every scan
    object, in the representation this Go version's GC uses."""
    scan = scan if scan is not None else PointerScan()
    if proc.dw.has_field("runtime.heapArena", "bitmap"):
        yield from _arena_bitmap_words(proc, objs, scan)
        return
    yield from _span_bitmap_words(proc, objs, scan)
    yield from typed_words(proc, objs, scan)
