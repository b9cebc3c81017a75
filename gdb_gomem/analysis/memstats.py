"""runtime.MemStats, reconstructed from a stopped process as ``ReadMemStats`` would report it.

``ReadMemStats`` (runtime/mstats.go, ``readmemstats_m``; unchanged in substance from 1.21 to
1.27) first flushes every P's mcache and then sums the three shards of the consistent
``memstats.heapStats``. A core is taken without that flush, so this module replays
``mcache.releaseAll``: objects allocated from a cached span since it was cached
(``allocCount - allocCountBeforeCache``) and the mcache's ``tinyAllocs`` are added back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import LayoutError, UnreadableMemory
from .process import GoProcess
from .typed import Val

#: Fields of heapStatsDelta summed by consistentHeapStats.unsafeRead.
_DELTA_SCALARS = (
    "committed", "released", "inHeap", "inStacks", "inWorkBufs", "inPtrScalarBits",
    "tinyAllocCount", "largeAlloc", "largeAllocCount", "largeFree", "largeFreeCount",
)  # fmt: skip

#: Upper bound on GOMAXPROCS we are willing to walk (the runtime caps it at 2^16... be safe).
MAX_PROCS = 1 << 14


@dataclass
class MemStatsResult:
    """The reconstructed user-visible MemStats and how it was derived."""

    stats: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pending_mcache_objects: int = 0
    pending_tiny_allocs: int = 0


def size_classes(proc: GoProcess) -> list[int]:
    """class_to_size: runtime.class_to_size up to 1.24, internal/runtime/gc after."""
    v = proc.find_global("runtime.class_to_size", "internal/runtime/gc.SizeClassToSize")
    if v is None:
        raise LayoutError(
            "no size-class table (runtime.class_to_size) in the DWARF",
            "this Go version renamed it; please report it",
        )
    return [v.index(i).int() for i in range(len(v))]


def _heap_stats_sum(proc: GoProcess, nclasses: int) -> tuple[dict[str, int], list[int], list[int]]:
    shards = proc.global_("runtime.memstats")["heapStats.stats"]
    scal: dict[str, int] = {}
    small_alloc = [0] * nclasses
    small_free = [0] * nclasses
    for i in range(len(shards)):
        d = shards.index(i)
        for name in _DELTA_SCALARS:
            if d.has(name):
                scal[name] = scal.get(name, 0) + d[name].int()
        sa, sf = d["smallAllocCount"], d["smallFreeCount"]
        raw_a = sa.raw()
        raw_f = sf.raw()
        for c in range(min(nclasses, len(sa))):
            small_alloc[c] += int.from_bytes(raw_a[8 * c : 8 * c + 8], "little")
            small_free[c] += int.from_bytes(raw_f[8 * c : 8 * c + 8], "little")
    return scal, small_alloc, small_free


def all_ps(proc: GoProcess) -> list[Val]:
    """Every P in ``allp`` (nil entries skipped), bounded."""
    out = []
    for pp in proc.global_("runtime.allp").slice_items(MAX_PROCS):
        p = pp.deref()
        if p is not None:
            out.append(p)
    return out


def _pending_mcache(proc: GoProcess, small_alloc: list[int]) -> tuple[int, int]:
    """Add what releaseAll would flush from every P's mcache; return (objects, tiny allocs)."""
    empty = proc.global_("runtime.emptymspan").addr
    nclasses = len(small_alloc)
    objects = 0
    tiny = 0
    for p in all_ps(proc):
        mc = p["mcache"].deref()
        if mc is None:
            continue
        alloc = mc["alloc"]
        ptrs = alloc.raw()
        for spc in range(len(alloc)):
            sp = int.from_bytes(ptrs[8 * spc : 8 * spc + 8], "little")
            if sp in (0, empty):
                continue
            s = alloc.index(spc).deref()
            assert s is not None
            used = s["allocCount"].int() - s["allocCountBeforeCache"].int()
            sizeclass = spc >> 1
            if 0 <= sizeclass < nclasses and used > 0:
                small_alloc[sizeclass] += used
                objects += used
        t = mc["tinyAllocs"].int()
        tiny += t
    return objects, tiny


def read_memstats(proc: GoProcess) -> MemStatsResult:
    """The MemStats fields ReadMemStats would have returned at the moment of the dump."""
    res = MemStatsResult()
    sizes = size_classes(proc)
    scal, small_alloc, small_free = _heap_stats_sum(proc, len(sizes))
    try:
        res.pending_mcache_objects, res.pending_tiny_allocs = _pending_mcache(proc, small_alloc)
    except (LayoutError, UnreadableMemory) as exc:
        res.notes.append(f"mcache contents not added ({exc}); counts may lag by cached spans")
    scal["tinyAllocCount"] = scal.get("tinyAllocCount", 0) + res.pending_tiny_allocs

    total_alloc = scal.get("largeAlloc", 0)
    n_malloc = scal.get("largeAllocCount", 0)
    total_free = scal.get("largeFree", 0)
    n_free = scal.get("largeFreeCount", 0)
    for c, size in enumerate(sizes):
        total_alloc += small_alloc[c] * size
        n_malloc += small_alloc[c]
        total_free += small_free[c] * size
        n_free += small_free[c]
    n_free += scal.get("tinyAllocCount", 0)
    n_malloc += scal.get("tinyAllocCount", 0)

    ms = proc.global_("runtime.memstats")
    gc = proc.global_("runtime.gcController")
    heap_inuse = gc["heapInUse"].int()
    heap_free = gc["heapFree"].int()
    heap_released = gc["heapReleased"].int()
    stack_inuse = scal.get("inStacks", 0)
    workbufs = scal.get("inWorkBufs", 0)
    ptrscalar = scal.get("inPtrScalarBits", 0)  # gone in 1.25 with GC programs
    sys_fields = ("stacks_sys", "mspan_sys", "mcache_sys", "buckhash_sys", "gcMiscSys", "other_sys")
    sysv = {f: ms[f].int() for f in sys_fields}
    mheap = proc.global_("runtime.mheap_")
    st = res.stats
    st["Alloc"] = total_alloc - total_free
    st["TotalAlloc"] = total_alloc
    st["Sys"] = (
        heap_inuse
        + heap_free
        + heap_released
        + sum(sysv.values())
        + stack_inuse
        + workbufs
        + ptrscalar
    )
    st["Mallocs"] = n_malloc
    st["Frees"] = n_free
    st["HeapAlloc"] = total_alloc - total_free
    st["HeapSys"] = heap_inuse + heap_free + heap_released
    st["HeapIdle"] = heap_free + heap_released
    st["HeapInuse"] = heap_inuse
    st["HeapReleased"] = heap_released
    st["HeapObjects"] = n_malloc - n_free
    st["StackInuse"] = stack_inuse
    st["StackSys"] = stack_inuse + sysv["stacks_sys"]
    st["MSpanInuse"] = mheap["spanalloc.inuse"].int()
    st["MSpanSys"] = sysv["mspan_sys"]
    st["MCacheInuse"] = mheap["cachealloc.inuse"].int()
    st["MCacheSys"] = sysv["mcache_sys"]
    st["BuckHashSys"] = sysv["buckhash_sys"]
    st["GCSys"] = sysv["gcMiscSys"] + workbufs + ptrscalar
    st["OtherSys"] = sysv["other_sys"]
    st["LastGC"] = ms["last_gc_unix"].int()
    st["PauseTotalNs"] = ms["pause_total_ns"].int()
    st["NumGC"] = ms["numgc"].int()
    st["NumForcedGC"] = ms["numforcedgc"].int()
    if res.pending_mcache_objects or res.pending_tiny_allocs:
        res.notes.append(
            f"includes {res.pending_mcache_objects} object(s) and {res.pending_tiny_allocs} tiny "
            "allocation(s) still counted only in P mcaches (ReadMemStats flushes them first)"
        )
    return res


def last_gc_pauses(proc: GoProcess, n: int) -> list[tuple[int, int]]:
    """The last ``n`` GC cycles as (pause end unix ns, pause ns), newest first."""
    ms = proc.global_("runtime.memstats")
    numgc = ms["numgc"].int()
    ends = ms["pause_end"]
    lens = ms["pause_ns"]
    out = []
    for k in range(min(n, numgc, len(ends))):
        i = (numgc - 1 - k) % len(ends)
        out.append((ends.index(i).int(), lens.index(i).int()))
    return out
