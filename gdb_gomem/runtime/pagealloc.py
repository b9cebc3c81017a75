"""The page allocator (``mheap_.pages``, a ``runtime.pageAlloc``): which heap pages are free.

Layout and meaning from ``runtime/mpagealloc.go``, ``mpagealloc_64bit.go``, ``mpallocbits.go``
and ``mpagecache.go`` (the same in 1.21-1.27; 1.26 adds random base padding):

- ``inUse`` lists the address ranges the heap has grown into (chunk aligned, 4 MiB chunks);
- ``chunks[l1][l2]`` is a ``pallocData`` per chunk: ``pallocBits`` (1 = page allocated) and
  ``scavenged`` (1 = page returned to the OS), 512 bits each;
- ``summary[level]`` is a radix tree of packed (start, max, end) free-run counts; the leaf
  level has one entry per chunk and must equal ``pallocBits.summarize()``;
- each P's ``pcache`` (``pageCache``) owns up to 64 pages marked allocated in the bitmap but
  free for the heap (``cache`` bit 1 = free, ``scav`` = scavenged among them);
- from 1.26 the first grow marks a random number of pages allocated *and* scavenged
  (``pageAlloc.markRandomPaddingPages``) to randomise the heap base: they belong to no span
  and count in ``HeapReleased``/``HeapIdle``.

So HeapIdle = (free bits + P cache pages + padding) x pageSize and HeapReleased = (scavenged
bits + scavenged P cache pages) x pageSize, which the tests check against ``ReadMemStats``.
All chunk bitmaps of one L2 block are read in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.runtime.memstats import all_ps
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

M64 = (1 << 64) - 1
#: At most this many chunks (4 MiB each: a 4 TiB heap) are read.
MAX_CHUNKS = 1 << 20
#: At most this many inUse ranges.
MAX_RANGES = 1 << 16


@dataclass
class PageAllocSummary:
    """Page counts over the whole heap address space the page allocator manages."""

    page_size: int
    ranges: list[tuple[int, int]] = field(default_factory=list)
    chunks: int = 0
    total_pages: int = 0
    allocated_pages: int = 0  # bitmap ones (spans, P page caches, random-base padding)
    free_pages: int = 0  # bitmap zeros
    scavenged_pages: int = 0  # scavenged bits (free pages, and the padding)
    padding_pages: int = 0  # allocated and scavenged: 1.26+ random heap-base padding
    cache_ps: int = 0
    cache_free_pages: int = 0
    cache_scavenged_pages: int = 0
    largest_free_run: int = 0  # pages, free in the bitmaps, across adjacent chunks
    levels: int = 0
    root_max_free_run: int | None = None  # what summary[0] says
    leaf_checked: int = 0
    leaf_mismatches: list[str] = field(default_factory=list)
    root_mismatches: list[str] = field(default_factory=list)
    scav_index_checked: int = 0
    scav_index_mismatches: list[str] = field(default_factory=list)
    search_addr: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def idle_pages(self) -> int:
        """Pages ReadMemStats calls HeapIdle (free to the heap, released or not)."""
        return self.free_pages + self.cache_free_pages + self.padding_pages

    @property
    def released_pages(self) -> int:
        return self.scavenged_pages + self.cache_scavenged_pages


def unpack_sum(v: int, log_max: int) -> tuple[int, int, int]:
    """``pallocSum.unpack``: three 21-bit counts, or all = 2^21 when bit 63 is set."""
    if v >> 63:
        m = 1 << log_max
        return m, m, m
    mask = (1 << log_max) - 1
    return v & mask, (v >> log_max) & mask, (v >> (2 * log_max)) & mask


def free_runs(free: np.ndarray) -> tuple[int, int, int]:
    """(start, max, end) free-run lengths of a boolean page array, as ``summarize`` counts."""
    n = len(free)
    if n == 0:
        return 0, 0, 0
    if free.all():
        return n, n, n
    used = np.flatnonzero(~free)
    start = int(used[0])
    end = int(n - 1 - used[-1])
    gaps = np.diff(used) - 1
    inner = int(gaps.max()) if len(gaps) else 0
    return start, max(start, end, inner), end


def read_page_alloc(proc: GoProcess) -> PageAllocSummary:
    """Count pages by state from the chunk bitmaps, P page caches and summaries (bounded)."""
    dw = proc.dw
    page = dw.constant("runtime.pageSize")
    res = PageAllocSummary(page_size=page)
    base_off = dw.constant("runtime.arenaBaseOffsetUintptr") & M64
    chunk_bytes = dw.constant("runtime.pallocChunkBytes")
    chunk_pages = dw.constant("runtime.pallocChunkPages")
    l1_shift = dw.constant("runtime.pallocChunksL1Shift")
    l1_bits = dw.constant("runtime.pallocChunksL1Bits")
    l2_bits = dw.constant("runtime.pallocChunksL2Bits")
    levels = dw.constant("runtime.summaryLevels")
    level_bits = dw.constant("runtime.summaryLevelBits")
    log_max = dw.constant("runtime.logMaxPackedValue")
    res.levels = levels
    pd_size = dw.size("runtime.pallocData")
    alloc_off = dw.offset("runtime.pallocData", "pallocBits")
    scav_off = dw.offset("runtime.pallocData", "scavenged")
    nbytes = chunk_pages // 8

    pa = proc.global_("runtime.mheap_")["pages"]
    res.search_addr = pa["searchAddr.a"].int()
    for r in pa["inUse.ranges"].slice_items(MAX_RANGES):
        res.ranges.append((r["base.a"].int(), r["limit.a"].int()))

    def chunk_index(addr: int) -> int:
        return ((addr - base_off) & M64) // chunk_bytes

    wanted: list[int] = []
    for lo, hi in res.ranges:
        if hi <= lo:
            res.errors.append(f"inUse range {lo:#x}-{hi:#x} is empty or reversed")
            continue
        c0, c1 = chunk_index(lo), chunk_index(hi - 1) + 1
        if len(wanted) + (c1 - c0) > MAX_CHUNKS:
            res.errors.append(f"more than {MAX_CHUNKS} chunks in use; counted the first ones")
            c1 = c0 + max(0, MAX_CHUNKS - len(wanted))
        wanted.extend(range(c0, c1))
    chunks_arr = pa["chunks"]
    alloc_rows: dict[int, np.ndarray] = {}
    scav_rows: dict[int, np.ndarray] = {}
    # Group consecutive chunk indices within one L2 block: one read per group.
    i = 0
    while i < len(wanted):
        ci = wanted[i]
        l1 = ci >> l1_shift if l1_bits else 0
        j = i + 1
        while (
            j < len(wanted)
            and wanted[j] == wanted[j - 1] + 1
            and ((wanted[j] >> l1_shift if l1_bits else 0) == l1)
        ):
            j += 1
        try:
            if l1 >= len(chunks_arr):
                raise LayoutError(f"chunk {ci} is outside pageAlloc.chunks", "")
            l2_base = chunks_arr.index(l1).ptr()
            if l2_base == 0:
                raise UnreadableMemory(0, pd_size, f"pageAlloc.chunks[{l1}] is nil")
            l2 = ci & ((1 << l2_bits) - 1)
            raw = proc.mem.read(l2_base + l2 * pd_size, (j - i) * pd_size)
        except (LayoutError, UnreadableMemory) as exc:
            res.errors.append(f"chunks {wanted[i]}..{wanted[j - 1]} unreadable: {exc}")
            i = j
            continue
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(j - i, pd_size)
        a = np.unpackbits(rows[:, alloc_off : alloc_off + nbytes], axis=1, bitorder="little")
        s = np.unpackbits(rows[:, scav_off : scav_off + nbytes], axis=1, bitorder="little")
        for k in range(j - i):
            alloc_rows[wanted[i + k]] = a[k].astype(bool)
            scav_rows[wanted[i + k]] = s[k].astype(bool)
        i = j

    res.chunks = len(alloc_rows)
    for ci, a in alloc_rows.items():
        sc = scav_rows[ci]
        res.total_pages += len(a)
        res.allocated_pages += int(a.sum())
        res.scavenged_pages += int(sc.sum())
        res.padding_pages += int((a & sc).sum())
    res.free_pages = res.total_pages - res.allocated_pages

    # Largest free run across adjacent chunks.
    run = best = 0
    prev_ci = None
    for ci in sorted(alloc_rows):
        a = alloc_rows[ci]
        if prev_ci is not None and ci != prev_ci + 1:
            run = 0
        start, mx, end = free_runs(~a)
        best = max(best, mx, run + start)
        run = run + len(a) if start == len(a) else end
        prev_ci = ci
    res.largest_free_run = best

    _check_summaries(proc, pa, res, alloc_rows, levels, level_bits, log_max)
    _check_scav_index(proc, pa, res, alloc_rows)
    _page_caches(proc, res)
    return res


def _check_scav_index(
    proc: GoProcess, pa: Val, res: PageAllocSummary, alloc_rows: dict[int, np.ndarray]
) -> None:
    """The scavenger's per-chunk ``inUse`` page count must equal the chunk's allocated bits.

    ``scav.index.chunks`` is indexed by chunk; each entry is a packed ``scavChunkData`` whose
    low 16 bits are ``inUse`` (``unpackScavChunkData``, mgcscavenge.go, 1.21-1.27), kept in
    step with the bitmap by ``scavengeIndex.alloc``/``free`` (padding pages included).
    """
    if not alloc_rows:
        return
    lo_c, hi_c = min(alloc_rows), max(alloc_rows) + 1
    try:
        arr, n, _cap = pa["scav.index.chunks"].slice_header()
        if hi_c > n:
            res.errors.append(f"scav.index.chunks has {n} entries, chunk {hi_c - 1} needs more")
            return
        vals = np.frombuffer(proc.mem.read(arr + 8 * lo_c, 8 * (hi_c - lo_c)), dtype="<u8")
    except (LayoutError, UnreadableMemory) as exc:
        res.errors.append(f"scavenger index unreadable: {exc}")
        return
    for ci, a in sorted(alloc_rows.items()):
        in_use = int(vals[ci - lo_c]) & 0xFFFF
        res.scav_index_checked += 1
        if in_use != int(a.sum()):
            res.scav_index_mismatches.append(
                f"chunk {ci}: scavenger index says {in_use} pages in use, the bitmap {int(a.sum())}"
            )


def _check_summaries(
    proc: GoProcess,
    pa: Val,
    res: PageAllocSummary,
    alloc_rows: dict[int, np.ndarray],
    levels: int,
    level_bits: int,
    log_max: int,
) -> None:
    """Leaf summaries must equal each chunk's bitmap summary; the root's max its subtree's."""
    if not alloc_rows:
        return
    lo_c, hi_c = min(alloc_rows), max(alloc_rows) + 1
    summary = pa["summary"]
    try:
        leaf = summary.index(levels - 1)
        arr, n, _cap = leaf.slice_header()
        if hi_c > n:
            res.errors.append(f"summary[{levels - 1}] has {n} entries, chunk {hi_c - 1} needs more")
            return
        raw = proc.mem.read(arr + 8 * lo_c, 8 * (hi_c - lo_c))
        leaves = np.frombuffer(raw, dtype="<u8").tolist()
        for ci, a in sorted(alloc_rows.items()):
            got = unpack_sum(leaves[ci - lo_c], log_max)
            want = free_runs(~a)
            res.leaf_checked += 1
            if got != want:
                res.leaf_mismatches.append(
                    f"chunk {ci}: summary (start,max,end)={got}, bitmap says {want}"
                )
        shift = (levels - 1) * level_bits
        root = summary.index(0)
        arr, n, _cap = root.slice_header()
        r0, r1 = lo_c >> shift, ((hi_c - 1) >> shift) + 1
        if r1 > n:
            res.errors.append(f"summary[0] has {n} entries, root {r1 - 1} needs more")
            return
        raw = proc.mem.read(arr + 8 * r0, 8 * (r1 - r0))
        roots = np.frombuffer(raw, dtype="<u8").tolist()
        res.root_max_free_run = max(unpack_sum(v, log_max)[1] for v in roots)
        for ri in range(r0, r1):
            got_max = unpack_sum(roots[ri - r0], log_max)[1]
            # Under one root entry, chunks the heap never grew into count as allocated.
            span = [alloc_rows.get(ci) for ci in range(ri << shift, (ri + 1) << shift)]
            best = run = 0
            for row in span:
                if row is None:
                    run = 0
                    continue
                start, mx, end = free_runs(~row)
                best = max(best, mx, run + start)
                run = run + len(row) if start == len(row) else end
            if got_max != min(best, 1 << log_max):
                res.root_mismatches.append(
                    f"root summary {ri}: max free run {got_max}, the bitmaps say {best}"
                )
    except (LayoutError, UnreadableMemory) as exc:
        res.errors.append(f"summaries unreadable: {exc}")


def _page_caches(proc: GoProcess, res: PageAllocSummary) -> None:
    """Each P's pageCache: free pages it owns (cache bits) and which are scavenged."""
    try:
        for p in all_ps(proc):
            pc = p["pcache"]
            cache = pc["cache"].int()
            scav = pc["scav"].int()
            res.cache_ps += 1
            res.cache_free_pages += cache.bit_count()
            # allocToCache copies the scavenged block of 64 pages, padding included;
            # only pages still cached matter (pageCache.flush frees just those).
            res.cache_scavenged_pages += (scav & cache).bit_count()
    except (LayoutError, UnreadableMemory) as exc:
        res.errors.append(f"P page caches unreadable: {exc}")


def page_state(proc: GoProcess, addr: int) -> tuple[bool, bool] | None:
    """(allocated, scavenged) bits of the page holding ``addr``; None outside the heap."""
    dw = proc.dw
    page = dw.constant("runtime.pageSize")
    base_off = dw.constant("runtime.arenaBaseOffsetUintptr") & M64
    chunk_bytes = dw.constant("runtime.pallocChunkBytes")
    l1_shift = dw.constant("runtime.pallocChunksL1Shift")
    l1_bits = dw.constant("runtime.pallocChunksL1Bits")
    l2_bits = dw.constant("runtime.pallocChunksL2Bits")
    pa = proc.global_("runtime.mheap_")["pages"]
    if not any(
        lo <= addr < hi
        for lo, hi in (
            (r["base.a"].int(), r["limit.a"].int())
            for r in pa["inUse.ranges"].slice_items(MAX_RANGES)
        )
    ):
        return None
    ci = ((addr - base_off) & M64) // chunk_bytes
    l1 = ci >> l1_shift if l1_bits else 0
    chunks = pa["chunks"]
    if l1 >= len(chunks):
        return None
    l2_base = chunks.index(l1).ptr()
    if l2_base == 0:
        return None
    pd = l2_base + (ci & ((1 << l2_bits) - 1)) * dw.size("runtime.pallocData")
    i = (addr % chunk_bytes) // page
    a = proc.mem.read(pd + dw.offset("runtime.pallocData", "pallocBits") + i // 8, 1)[0]
    s = proc.mem.read(pd + dw.offset("runtime.pallocData", "scavenged") + i // 8, 1)[0]
    return bool(a >> (i % 8) & 1), bool(s >> (i % 8) & 1)
