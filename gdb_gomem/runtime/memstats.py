"""runtime.MemStats, reconstructed from a stopped process as ``ReadMemStats`` would report it.

``ReadMemStats`` (runtime/mstats.go, ``readmemstats_m``; unchanged in substance from 1.21 to
1.27) first flushes every P's mcache and then sums the three shards of the consistent
``memstats.heapStats``. A core is taken without that flush, so this module replays
``mcache.releaseAll``: objects allocated from a cached span since it was cached
(``allocCount - allocCountBeforeCache``) and the mcache's ``tinyAllocs`` are added back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

#: Fields of heapStatsDelta summed by consistentHeapStats.unsafeRead.
_DELTA_SCALARS = (
    "committed",
    "released",
    "inHeap",
    "inStacks",
    "inWorkBufs",
    "inPtrScalarBits",
    "tinyAllocCount",
    "largeAlloc",
    "largeAllocCount",
    "largeFree",
    "largeFreeCount",
)

#: Upper bound on GOMAXPROCS we are willing to walk (the runtime caps it at 2^16... be safe).
MAX_PROCS = 1 << 14


@dataclass
class MemStatsResult:
    """The reconstructed user-visible MemStats and how it was derived."""

    stats: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pending_mcache_objects: int = 0
    pending_mcache_bytes: int = 0  # pending_mcache_objects times their spans' elemsize
    pending_tiny_allocs: int = 0
    #: The summed heapStats scalars (inStacks, inWorkBufs, ...) as ReadMemStats reads them.
    consistent: dict[str, int] = field(default_factory=dict)


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


def _pending_mcache(proc: GoProcess, small_alloc: list[int]) -> tuple[int, int, int]:
    """Add what releaseAll would flush from every P's mcache; return (objects, bytes, tiny)."""
    empty = proc.global_("runtime.emptymspan").addr
    nclasses = len(small_alloc)
    objects = 0
    nbytes = 0
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
                nbytes += used * s["elemsize"].int()
        t = mc["tinyAllocs"].int()
        tiny += t
    return objects, nbytes, tiny


def read_memstats(proc: GoProcess) -> MemStatsResult:
    """The MemStats fields ReadMemStats would have returned at the moment of the dump."""
    res = MemStatsResult()
    sizes = size_classes(proc)
    scal, small_alloc, small_free = _heap_stats_sum(proc, len(sizes))
    try:
        pending = _pending_mcache(proc, small_alloc)
        res.pending_mcache_objects, res.pending_mcache_bytes, res.pending_tiny_allocs = pending
    except (LayoutError, UnreadableMemory) as exc:
        res.notes.append(f"mcache contents not added ({exc}); counts may lag by cached spans")
    scal["tinyAllocCount"] = scal.get("tinyAllocCount", 0) + res.pending_tiny_allocs
    res.consistent = dict(scal)

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
    try:
        st["NextGC"] = next_gc(proc, res.pending_mcache_bytes)
    except (LayoutError, UnreadableMemory) as exc:
        res.notes.append(f"NextGC not computed ({exc})")
    if res.pending_mcache_objects or res.pending_tiny_allocs:
        res.notes.append(
            f"includes {res.pending_mcache_objects} object(s) and {res.pending_tiny_allocs} tiny "
            "allocation(s) still counted only in P mcaches (ReadMemStats flushes them first)"
        )
    return res


#: heapGoalInternal's local ``const minRunway = 64 << 10`` (mgcpacer.go; a function-local
#: constant, so not in the DWARF).
MIN_RUNWAY = 64 << 10
U64 = (1 << 64) - 1


def next_gc(proc: GoProcess, pending_bytes: int = 0) -> int:
    """``gcController.heapGoal()`` as ReadMemStats computes NextGC (mgcpacer.go, 1.21-1.27).

    The smaller of the GOGC goal and the memory-limit goal; otherwise the GOGC goal pushed
    up to the sweep-distance trigger and to ``triggered + minRunway``. ``totalAlloc`` is
    taken after the mcache flush ReadMemStats does first (``pending_bytes``). Everything is
    uint64 arithmetic, as in the runtime.
    """
    gc = proc.global_("runtime.gcController")
    dw = proc.dw
    goal = gc["gcPercentHeapGoal"].int()
    heap_free = gc["heapFree"].int()
    heap_alloc = (gc["totalAlloc"].int() + pending_bytes - gc["totalFree"].int()) & U64
    mapped_ready = gc["mappedReady"].int()
    memory_limit = gc["memoryLimit"].int() & U64
    heap_marked = gc["heapMarked"].int()
    non_heap = (mapped_ready - heap_free - heap_alloc) & U64
    overage = mapped_ready - memory_limit if mapped_ready > memory_limit else 0
    if non_heap + overage >= memory_limit:
        limit_goal = heap_marked
    else:
        limit_goal = memory_limit - (non_heap + overage)
        pct = dw.constant("runtime.memoryLimitHeapGoalHeadroomPercent")
        headroom = max(
            limit_goal // 100 * pct, dw.constant("runtime.memoryLimitMinHeapGoalHeadroom")
        )
        if limit_goal < headroom or limit_goal - headroom < headroom:
            limit_goal = headroom
        else:
            limit_goal -= headroom
        limit_goal = max(limit_goal, heap_marked)
    if limit_goal < goal:
        return limit_goal
    goal = max(goal, gc["sweepDistMinTrigger"].int())
    triggered = gc["triggered"].int()
    if triggered != U64 and goal < triggered + MIN_RUNWAY:
        goal = triggered + MIN_RUNWAY
    return goal


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


@dataclass
class GcCycle:
    """One GC cycle's stop-the-world pause as ``memstats`` keeps it (a 256-entry ring)."""

    cycle: int  # 1-based, as NumGC counts
    end_unix_ns: int  # pause_end: wall clock when the pause ended
    pause_ns: int  # pause_ns: total stop-the-world time of the cycle


def gc_history(proc: GoProcess, n: int) -> list[GcCycle]:
    """The last ``n`` cycles, newest first (``memstats.pause_end``/``pause_ns``).

    ``gcMarkTermination`` writes both at ``memstats.numgc % len(pause_ns)`` before numgc
    is incremented, so cycle k (1-based) sits at index (k-1) % 256; only the last 256 remain.
    The two arrays are read in one read each.
    """
    ms = proc.global_("runtime.memstats")
    numgc = ms["numgc"].int()
    ends_v, lens_v = ms["pause_end"], ms["pause_ns"]
    ring = len(ends_v)
    ends = ends_v.raw()
    lens = lens_v.raw()
    out = []
    for k in range(min(max(n, 0), numgc, ring)):
        i = (numgc - 1 - k) % ring
        out.append(
            GcCycle(
                cycle=numgc - k,
                end_unix_ns=int.from_bytes(ends[8 * i : 8 * i + 8], "little"),
                pause_ns=int.from_bytes(lens[8 * i : 8 * i + 8], "little"),
            )
        )
    return out
