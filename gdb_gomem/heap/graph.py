"""The object graph: every pointer word of every scan object that points into an allocated
object, as compact CSR arrays.

Interior pointers count: the GC's ``findObject`` maps any address inside a slot to the slot, so
an edge goes to the object containing the pointer value. Pointers to free slots or outside the
heap are not edges (``verify`` reports the suspicious ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.heap import native
from gdb_gomem.heap.objects import ObjectTable, as_int64
from gdb_gomem.heap.pointers import PointerScan, pointer_words, span_bitmap_groups, typed_words
from gdb_gomem.target.process import GoProcess


@dataclass
class HeapGraph:
    """CSR: edges of object ``i`` are ``dst[indptr[i]:indptr[i+1]]``; ``offset`` is the byte
    offset of the pointer word within the source object (names the field on a path)."""

    indptr: np.ndarray  # int64, len(objects)+1
    dst: np.ndarray  # int32
    offset: np.ndarray  # uint32 (uint64 if an object is larger than 4 GiB)
    pointer_words: int = 0  # words the bitmaps call pointers (incl. nil and non-heap)
    bad_words: int = 0  # pointer words that could not be read
    scan: PointerScan = field(default_factory=PointerScan)

    @property
    def nedges(self) -> int:
        return len(self.dst)

    def out(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(dst objects, byte offsets) of object ``i``'s pointers."""
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.dst[a:b], self.offset[a:b]

    def predecessors(self) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, src) of the transposed graph, for root paths, computed on demand (a
        compiled counting sort where available, else :meth:`predecessors_np`). No offsets
        column: a path step's field comes from :meth:`edge_offset`."""
        fast = native.predecessors(self.indptr, self.dst)
        rptr, rsrc = fast if fast is not None else self.predecessors_np()
        # Kept for every later path query: int32 offsets where the edges allow (half of 8
        # bytes an object).
        return (rptr.astype(np.int32) if len(rptr) and int(rptr[-1]) < 1 << 31 else rptr), rsrc

    def predecessors_np(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predecessors` in numpy (a stable argsort by target), int64 offsets."""
        n = len(self.indptr) - 1
        src = np.repeat(np.arange(n, dtype=np.int32), np.diff(self.indptr))
        order = np.argsort(self.dst, kind="stable")
        rptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(self.dst, minlength=n), out=rptr[1:])
        return rptr, src[order]

    def edge_offset(self, src: int, dst: int) -> int:
        """Byte offset in ``src`` of its first pointer to ``dst`` (-1 if none)."""
        d, off = self.out(src)
        hit = np.flatnonzero(d == dst)
        return int(off[hit[0]]) if len(hit) else -1


def _runs(src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start index, length) of each run of equal values in a nondecreasing array."""
    if len(src) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    return starts, np.diff(np.append(starts, len(src)))


def _fused(proc: GoProcess, objs: ObjectTable, odt: type) -> bool:
    """Whether the compiled span-bitmap kernels apply: Go 1.22+ heap bits, a dense page
    table, 32-bit offsets, kernels loaded."""
    return (
        odt is np.uint32
        and objs._dense
        and native.kernels() is not None
        and not proc.dw.has_field("runtime.heapArena", "bitmap")
    )


def _build_streamed(proc: GoProcess, objs: ObjectTable, scan: PointerScan) -> HeapGraph | None:
    """The CSR written in place (:class:`.native.CsrWriter`): header and large-object edges
    first (few, sorted by source), then every group of small spans streams its edges into
    the final arrays with those merged in. Peak memory is the final arrays (and 25% room),
    not every edge chunk plus the final arrays."""
    image = objs.image
    assert image is not None
    total = bad = 0
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for src, waddr in typed_words(proc, objs, scan):
        got = native.resolve_edges(objs, src, waddr)
        if got is None:
            return None
        bs, bd, bo, nbad = got
        total += len(waddr)
        bad += nbad
        parts.append((bs, bd, bo))
        if len(waddr):
            image.release(int(waddr.min()), int(waddr.max()) + 8)
    if parts:
        bs = np.concatenate([p[0] for p in parts])
        order = np.argsort(bs, kind="stable")
        bs, bd, bo = (
            bs[order],
            np.concatenate([p[1] for p in parts])[order],
            np.concatenate([p[2] for p in parts])[order],
        )
    else:
        bs = bd = np.zeros(0, np.int32)
        bo = np.zeros(0, np.uint32)
    del parts
    writer = native.csr_writer(objs, len(objs), bs, bd, bo)
    if writer is None:
        return None
    for grp in span_bitmap_groups(proc, objs, scan):
        writer.add_group(grp)
        if len(grp.base):
            image.release(int(grp.base[0]), int(grp.base[-1]) + int(grp.nw[-1]) * 512)
    indptr, dst, offset, words, nbad = writer.finish()
    return HeapGraph(
        indptr=indptr,
        dst=dst,
        offset=offset,
        pointer_words=total + words,
        bad_words=bad + nbad,
        scan=scan,
    )


def _edge_chunks(
    proc: GoProcess,
    objs: ObjectTable,
    scan: PointerScan,
    odt: type,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int, int]]:
    """(sources, targets, offsets, pointer words read, unreadable words) per chunk.

    The path for what :func:`_build_streamed` does not cover (Go 1.21's arena bitmap, a
    sparse page table, objects of 4 GiB or more, no compiled kernels): each chunk of pointer
    words is resolved in one compiled pass (:func:`.native.resolve_edges`) or in numpy.
    """
    assert objs.image is not None
    image = objs.image
    chunks: Iterator[tuple[np.ndarray, np.ndarray]] = pointer_words(proc, objs, scan)
    for src, waddr in chunks:
        got = native.resolve_edges(objs, src, waddr) if odt is np.uint32 else None
        if got is not None:
            src, d, off, nbad = got
        else:
            vals, ok = image.words(waddr)
            nbad = int((~ok).sum())
            keep = vals != 0
            src, w, vals = src[keep], waddr[keep], vals[keep]
            d = objs.find(vals)
            keep = d >= 0
            src, d = src[keep], d[keep]
            off = (as_int64(w[keep]) - as_int64(objs.addr[src])).astype(odt)
        if len(waddr):
            image.release(int(waddr.min()), int(waddr.max()) + 8)
        yield src, d, off, len(waddr), nbad


def build_graph(proc: GoProcess, objs: ObjectTable) -> HeapGraph:
    """Read every pointer word and resolve its target object.

    With the compiled kernels and Go 1.22+ heap bits the CSR is written in place
    (:func:`_build_streamed`). Otherwise it is filled by a counting sort: edge chunks arrive
    with nondecreasing sources (spans and objects in address order), so each chunk's rows
    are scattered straight to their final place, with no global argsort.
    """
    assert objs.image is not None
    scan = PointerScan()
    n = len(objs)
    big = bool(n) and int(objs.size.max()) >= 1 << 32
    odt = np.uint64 if big else np.uint32
    if _fused(proc, objs, odt):
        streamed = _build_streamed(proc, objs, scan)
        if streamed is not None:
            return streamed
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # Per-object edge counts fit int32 (an object's pointer words are at most size/8).
    count_t = np.int64 if big else np.int32
    counts = np.zeros(n, count_t)
    total = bad = 0
    for src, d, off, words, nbad in _edge_chunks(proc, objs, scan, odt):
        total += words
        bad += nbad
        if len(src) > 1 and (src[1:] < src[:-1]).any():
            order = np.argsort(src, kind="stable")
            src, d, off = src[order], d[order], off[order]
        starts, lens = _runs(src)
        usrc = src[starts]
        counts[usrc] += lens
        # Sources as (object, run length): one int32 per edge less held until the fill.
        chunks.append((usrc, d, off, lens))
        del src, starts
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    nedges = int(indptr[-1])
    dst = np.empty(nedges, np.int32)
    offset = np.empty(nedges, odt)
    if int(indptr[-1]) < np.iinfo(count_t).max:
        fill = counts  # reused: the counts live on in indptr
        fill[:] = indptr[:-1]
    else:
        fill = indptr[:-1].copy()
    chunks.reverse()
    while chunks:
        usrc, d, off, lens = chunks.pop()
        starts = np.cumsum(lens) - lens
        pos = np.repeat(fill[usrc] - starts, lens) + np.arange(len(d), dtype=np.int64)
        dst[pos] = d
        offset[pos] = off
        fill[usrc] += lens
        del usrc, d, off, pos, starts, lens
    return HeapGraph(
        indptr=indptr, dst=dst, offset=offset, pointer_words=total, bad_words=bad, scan=scan
    )
