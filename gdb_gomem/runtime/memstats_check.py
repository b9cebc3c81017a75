"""MemStats next to what the heap structures themselves hold, each difference explained.

``ReadMemStats`` sums counters the allocator maintains; the span walk, the page allocator and
the mcaches are the memory those counters describe. On a quiescent heap they agree exactly
(the fixtures prove it); where they do not, the reason is usually one the runtime documents:

- allocations from a span cached in a P's mcache reach ``memstats.heapStats`` only when the
  span is uncached (``mcache.refill``/``releaseAll``); ``ReadMemStats`` flushes every mcache
  first, a core does not, so "counters now" lag and "ReadMemStats" (this tool adds the
  pending counts) does not;
- a 16-byte tiny block is one heap object however many tiny allocations share it;
- dead mspan descriptors parked in P ``mspancache``s are still allocated from
  ``mheap_.spanalloc`` (``MSpanInuse``);
- pages owned by P page caches, and from 1.26 the random heap-base padding, are idle heap.
"""

from __future__ import annotations

from dataclasses import dataclass

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.runtime.mcache import MCacheInfo
from gdb_gomem.runtime.memstats import MemStatsResult, all_ps
from gdb_gomem.runtime.pagealloc import PageAllocSummary
from gdb_gomem.runtime.spans import SpanWalk
from gdb_gomem.target.process import GoProcess


@dataclass
class Row:
    """One compared quantity."""

    field: str
    readmemstats: int  # what ReadMemStats would report at the stop
    counters: int  # the runtime's counters as they sit in memory (no mcache flush)
    walk: int | None  # what the structures hold
    explanation: str

    @property
    def difference(self) -> int | None:
        return None if self.walk is None else self.walk - self.readmemstats


def _bytes(spans: list, kind: str) -> int:
    return sum(s.nbytes for s in spans if s.kind == kind)


def compare(
    proc: GoProcess,
    ms: MemStatsResult,
    walk: SpanWalk,
    pages: PageAllocSummary | None,
    caches: list[MCacheInfo],
) -> list[Row]:
    """Rows for HeapInuse, HeapAlloc, HeapObjects, StackInuse, work buffers, MSpanInuse,
    MCacheInuse, HeapIdle, HeapReleased and HeapSys."""
    st = ms.stats
    rows: list[Row] = []
    in_use = walk.in_use()
    manual = walk.manual()
    page = walk.geometry.page_size
    pend_o, pend_b = ms.pending_mcache_objects, ms.pending_mcache_bytes
    lag = (
        f"; counters lag by {pend_o} object(s), {pend_b} B allocated from P-cached spans "
        "(mcache.releaseAll adds them; ReadMemStats flushes first)"
        if pend_o
        else ""
    )
    corrupt = sum(1 for s in walk.spans if s.state == 1 and s.error)
    skipped = f"; {corrupt} corrupt span(s) left out" if corrupt else ""

    heap_pages = sum(s.npages for s in in_use)
    rows.append(
        Row(
            "HeapInuse",
            st["HeapInuse"],
            st["HeapInuse"],
            heap_pages * page,
            f"{len(in_use)} in-use spans x their pages{skipped}",
        )
    )
    alloc_bytes = sum((s.allocated or 0) * s.elemsize for s in in_use)
    objects = sum(s.allocated or 0 for s in in_use)
    rows.append(
        Row(
            "HeapAlloc",
            st["HeapAlloc"],
            st["HeapAlloc"] - pend_b,
            alloc_bytes,
            f"allocated slots (i < freeindex or allocBits[i]) x elemsize{lag}{skipped}",
        )
    )
    rows.append(
        Row(
            "HeapObjects",
            st["HeapObjects"],
            st["HeapObjects"] - pend_o,
            objects,
            "allocated slots; a 16-byte tiny block is one object however many tiny "
            f"allocations share it{lag}{skipped}",
        )
    )
    stacks = [s for s in manual if s.kind == "stack"]
    rows.append(
        Row(
            "StackInuse",
            st["StackInuse"],
            st["StackInuse"],
            _bytes(manual, "stack"),
            f"{len(stacks)} manual spans holding stacks (stackpool and large stacks)",
        )
    )
    wb_count = ms.consistent.get("inWorkBufs", 0)
    rows.append(
        Row(
            "GCSys work bufs",
            wb_count,
            wb_count,
            _bytes(manual, "workbuf"),
            "manual spans on work.wbufSpans (the part of GCSys that is heap pages)",
        )
    )
    try:
        spancache = sum(p["mspancache.len"].int() for p in all_ps(proc))
    except (LayoutError, UnreadableMemory):
        spancache = 0
    live = len(in_use) + len(manual)
    msize = proc.dw.size("runtime.mspan")
    rows.append(
        Row(
            "MSpanInuse",
            st["MSpanInuse"],
            st["MSpanInuse"],
            (live + spancache) * msize,
            f"({len(in_use)} in-use + {len(manual)} manual + {spancache} dead descriptors "
            f"parked in P mspancaches) x {msize} B; dead ones returned to spanalloc do not "
            "count",
        )
    )
    nmc = sum(1 for c in caches if c.mcache)
    csize = proc.dw.size("runtime.mcache")
    rows.append(
        Row(
            "MCacheInuse",
            st["MCacheInuse"],
            st["MCacheInuse"],
            nmc * csize,
            f"{nmc} P mcache(s) x {csize} B",
        )
    )
    if pages is not None:
        pad = (
            f" + {pages.padding_pages} random heap-base padding pages (1.26+)"
            if pages.padding_pages
            else ""
        )
        rows.append(
            Row(
                "HeapIdle",
                st["HeapIdle"],
                st["HeapIdle"],
                pages.idle_pages * page,
                f"{pages.free_pages} free bitmap pages + {pages.cache_free_pages} pages "
                f"owned by P page caches{pad}",
            )
        )
        rows.append(
            Row(
                "HeapReleased",
                st["HeapReleased"],
                st["HeapReleased"],
                pages.released_pages * page,
                f"{pages.scavenged_pages} scavenged bitmap pages + "
                f"{pages.cache_scavenged_pages} scavenged pages in P page caches",
            )
        )
        manual_bytes = sum(s.nbytes for s in manual)
        rows.append(
            Row(
                "HeapSys",
                st["HeapSys"],
                st["HeapSys"],
                pages.total_pages * page - manual_bytes,
                f"{pages.total_pages} pages the page allocator manages, less the "
                f"{sum(s.npages for s in manual)} pages of manual spans (stacks, work "
                "bufs), which MemStats counts outside HeapSys",
            )
        )
    return rows
