"""The JSON documents of the heap commands: mheap, spans, span, mcentral, mcache, spanlists,
memstats. Keys are a stable contract (README); addresses are hex strings.

Each document carries ``errors`` (what the target's data made impossible to read or check:
corrupt pointers, cycles, bounds hit) and ``notes`` (what was inferred). A walk that meets
corrupt data stops with an error line and returns what it had; it never raises for bad data.
"""

from __future__ import annotations

from typing import cast

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.base.fmt import hexaddr, unix_ns_to_iso
from gdb_gomem.reports.info import crash_time_doc, gc_epoch_doc
from gdb_gomem.reports.schema.structures import (
    SWEEP_STATES,
    ArenasDoc,
    ByKindDoc,
    CachedSpanDoc,
    CentralClassDoc,
    CheckDoc,
    MCacheDoc,
    MCentralDoc,
    MemStatsCounters,
    MemStatsDoc,
    MemStatsFields,
    MHeapDoc,
    PageBitsDoc,
    PagesDoc,
    PCacheDoc,
    SetSpanDoc,
    SlotDoc,
    SpanAddrDoc,
    SpanDoc,
    SpanListDoc,
    SpanListsDoc,
    SpansDoc,
    SpanSetDoc,
    SpanTally,
    SweepDoc,
)
from gdb_gomem.runtime.geometry import span_of
from gdb_gomem.runtime.mcache import MCacheInfo, p_status_names, read_mcaches
from gdb_gomem.runtime.mcentral import CentralClass, check_homes, walk_mcentral
from gdb_gomem.runtime.memstats import gc_history, read_memstats, size_classes
from gdb_gomem.runtime.memstats_check import compare
from gdb_gomem.runtime.mspan import SpanRecord
from gdb_gomem.runtime.pagealloc import PageAllocSummary, page_state, read_page_alloc
from gdb_gomem.runtime.spanlists import all_span_lists
from gdb_gomem.runtime.spans import SpanWalk, cached_walk, sweep_state
from gdb_gomem.target.process import GoProcess

#: Bound on the arena index list read from mheap_.heapArenas (4M arenas = the whole 48-bit space).
MAX_ARENAS = 1 << 22
UNSWEPT = ("unswept", "sweeping", "cached unswept")


def span_doc(s: SpanRecord, sweepgen: int) -> SpanDoc:
    """One span as JSON; in-use fields are meaningful only for in-use spans."""
    in_use = s.state == 1
    return {
        "mspan": hexaddr(s.addr),
        "base": hexaddr(s.base),
        "end": hexaddr(s.end),
        "npages": s.npages,
        "state": s.state_name,
        "kind": s.kind,
        "spanclass": s.spanclass if in_use else None,
        "sizeclass": s.sizeclass if in_use else None,
        "noscan": s.noscan if in_use else None,
        "elemsize": s.elemsize,
        "nelems": s.nelems if in_use else None,
        "freeindex": s.freeindex if in_use else None,
        "alloc_count": s.alloc_count,
        "allocated": s.allocated,
        "alloc_count_ok": None if s.allocated is None else s.allocated == s.alloc_count,
        "sweepgen": s.sweepgen,
        "sweep": sweep_state(s.sweepgen, sweepgen) if in_use else None,
        "inline_marks": s.inline_marks,
        "specials": bool(s.specials),
        "user_arena": s.user_arena,
        "large_type": hexaddr(s.large_type) if s.large_type else None,
        "error": s.error,
    }


def _tally(spans: list[SpanRecord]) -> SpanTally:
    return {
        "spans": len(spans),
        "pages": sum(s.npages for s in spans),
        "bytes": sum(s.nbytes for s in spans),
    }


def _objects(spans: list[SpanRecord]) -> SpanTally:
    d = _tally(spans)
    d["objects"] = sum(s.allocated or 0 for s in spans)
    d["object_bytes"] = sum((s.allocated or 0) * s.elemsize for s in spans)
    return d


def _names(proc: GoProcess, prefix: str) -> dict[int, str]:
    """Constant value -> name for a family of runtime constants (``runtime._GC``...)."""
    out = {}
    for k, v in proc.dw.constants.items():
        rest = k[len(prefix) :]
        if k.startswith(prefix) and rest.isalpha() and rest.islower():
            out[v] = rest
    return out


def _arenas(proc: GoProcess, walk: SpanWalk) -> ArenasDoc:
    geo = walk.geometry
    mheap = proc.global_("runtime.mheap_")
    # Go 1.25 renamed allArenas to heapArenas when user arenas got their own list.
    heap = mheap.get("heapArenas") or mheap["allArenas"]
    idxs = [v.int() for v in heap.slice_items(MAX_ARENAS)]
    starts = sorted(geo.arena_start(i) for i in idxs)
    user = mheap.get("userArenaArenas")
    ustarts = (
        sorted(geo.arena_start(v.int()) for v in user.slice_items(MAX_ARENAS))
        if user is not None
        else []
    )
    return {
        "count": len(starts),
        "arena_bytes": geo.arena_bytes,
        "start": hexaddr(starts[0]) if starts else None,
        "end": hexaddr(starts[-1] + geo.arena_bytes) if starts else None,
        "list": [hexaddr(a) for a in starts],
        "user_arenas": [hexaddr(a) for a in ustarts],
    }


def pages_doc(pa: PageAllocSummary) -> PagesDoc:
    return {
        "ranges": [{"start": hexaddr(a), "end": hexaddr(b)} for a, b in pa.ranges],
        "chunks": pa.chunks,
        "total_pages": pa.total_pages,
        "allocated_pages": pa.allocated_pages,
        "free_pages": pa.free_pages,
        "scavenged_pages": pa.scavenged_pages,
        "padding_pages": pa.padding_pages,
        "page_cache": {
            "ps": pa.cache_ps,
            "free_pages": pa.cache_free_pages,
            "scavenged_pages": pa.cache_scavenged_pages,
        },
        "idle_pages": pa.idle_pages,
        "released_pages": pa.released_pages,
        "largest_free_run": pa.largest_free_run,
        "summary": {
            "levels": pa.levels,
            "root_max_free_run": pa.root_max_free_run,
            "leaves_checked": pa.leaf_checked,
            "mismatches": pa.leaf_mismatches + pa.root_mismatches,
        },
        "scavenger_index": {
            "chunks_checked": pa.scav_index_checked,
            "mismatches": pa.scav_index_mismatches,
        },
        "search_addr": hexaddr(pa.search_addr),
    }


def mheap_doc(proc: GoProcess) -> MHeapDoc:
    """``gomem mheap``: arenas, spans and pages by state, sweep, the page allocator."""
    walk = cached_walk(proc)
    mheap = proc.global_("runtime.mheap_")
    errors = list(walk.errors)
    notes: list[str] = []
    in_use, manual = walk.in_use(), walk.manual()
    dead = [s for s in walk.spans if s.state == 0]
    kinds: ByKindDoc = {
        "small": _objects([s for s in in_use if s.kind == "small"]),
        "large": _objects([s for s in in_use if s.kind == "large"]),
        "user arena": _objects([s for s in in_use if s.kind == "user arena"]),
        "stack": _tally([s for s in manual if s.kind == "stack"]),
        "workbuf": _tally([s for s in manual if s.kind == "workbuf"]),
    }
    for k in ("ptrscalar", "manual"):
        sp = [s for s in manual if s.kind == k]
        if sp:
            kinds[k] = _tally(sp)
    states = dict.fromkeys(SWEEP_STATES, 0)
    for s in in_use:
        st = sweep_state(s.sweepgen, walk.sweepgen)
        states[st] = states.get(st, 0) + 1
    pages_in_use = mheap["pagesInUse"].int()
    # A corrupt descriptor's sweepgen counts under a key of its own ("invalid (sg+5)"),
    # which a TypedDict cannot name: the one cast of this module.
    sweep = cast(
        SweepDoc,
        {**states, "pages_in_use": pages_in_use, "pages_swept": mheap["pagesSwept"].int()},
    )
    try:
        active = proc.global_("runtime.sweep")["active.state"].int()
        drained = proc.dw.constant("runtime.sweepDrainedMask")
        sweep["drained"] = bool(active & drained)
        sweep["active_sweepers"] = active & ~drained
    except (LayoutError, UnreadableMemory) as exc:
        notes.append(f"sweeper state unreadable: {exc}")
    try:
        phase = proc.global_("runtime.gcphase").int()
        gc_phase = _names(proc, "runtime._GC").get(phase, str(phase))
    except (LayoutError, UnreadableMemory):
        gc_phase = None
    checks: list[CheckDoc] = []
    span_pages = sum(s.npages for s in in_use)
    checks.append(
        {
            "check": "mheap_.pagesInUse equals the pages of in-use spans",
            "ok": pages_in_use == span_pages,
            "detail": f"{pages_in_use} vs {span_pages}",
        }
    )
    bad_counts = [s for s in in_use if s.allocated is not None and s.allocated != s.alloc_count]
    checks.append(
        {
            "check": "allocCount equals the recount (freeindex + allocBits) in every in-use span",
            "ok": not bad_counts,
            "detail": f"{len(bad_counts)} span(s) differ"
            + "".join(f"; {s.base:#x}: {s.alloc_count} vs {s.allocated}" for s in bad_counts[:5]),
        }
    )
    if walk.green_tea is not None:
        bad_class = [e for e in walk.errors if "inline mark bits carry" in e]
        checks.append(
            {
                "check": "Green Tea inline mark bits end with their span's class",
                "ok": not bad_class,
                "detail": f"{walk.inline_checked} span(s) checked, {len(bad_class)} differ",
            }
        )
    pages: PagesDoc | None = None
    try:
        pa = read_page_alloc(proc)
        errors.extend(pa.errors)
        pages = pages_doc(pa)
        owned = span_pages + sum(s.npages for s in manual)
        expect = owned + pa.cache_free_pages + pa.padding_pages
        checks.append(
            {
                "check": "allocated bitmap pages = span pages + P page-cache pages + padding",
                "ok": pa.allocated_pages == expect,
                "detail": f"{pa.allocated_pages} vs {owned} + {pa.cache_free_pages} + "
                f"{pa.padding_pages}",
            }
        )
        checks.append(
            {
                "check": "page summaries agree with the chunk bitmaps",
                "ok": not (pa.leaf_mismatches or pa.root_mismatches),
                "detail": "; ".join((pa.leaf_mismatches + pa.root_mismatches)[:5])
                or f"{pa.leaf_checked} leaf summaries and the root checked",
            }
        )
        checks.append(
            {
                "check": "the scavenger index counts the same in-use pages as the bitmaps",
                "ok": not pa.scav_index_mismatches,
                "detail": "; ".join(pa.scav_index_mismatches[:5])
                or f"{pa.scav_index_checked} chunk(s) checked",
            }
        )
        if pa.padding_pages:
            notes.append(
                f"{pa.padding_pages} pages are allocated and scavenged without a span: the "
                "random heap-base padding of Go 1.26+ (pageAlloc.markRandomPaddingPages)"
            )
    except (LayoutError, UnreadableMemory) as exc:
        errors.append(f"page allocator unreadable: {exc}")
    try:
        arenas: ArenasDoc | None = _arenas(proc, walk)
    except (LayoutError, UnreadableMemory) as exc:
        arenas = None
        errors.append(f"arena list unreadable: {exc}")
    return {
        "go_version": proc.go_version,
        "sweepgen": walk.sweepgen,
        "gc_phase": gc_phase,
        "page_size": walk.geometry.page_size,
        "green_tea": walk.green_tea is not None,
        "arenas": arenas,
        "spans": {
            "descriptors": len(walk.spans),
            "allspans_len": walk.allspans_len,
            "in_use": _objects(in_use),
            "manual": _tally(manual),
            "dead": {"spans": len(dead)},
            "by_kind": kinds,
        },
        "sweep": sweep,
        "pages": pages,
        "checks": checks,
        "errors": errors,
        "notes": notes,
    }


def spans_doc(
    proc: GoProcess,
    *,
    sizeclass: int | None = None,
    states: tuple[str, ...] = ("in use", "manual"),
    unswept: bool = False,
    limit: int = 100,
) -> SpansDoc:
    """``gomem spans``: one entry per span, filtered, by base address; ``limit`` 0 = all."""
    walk = cached_walk(proc)
    sg = walk.sweepgen
    if sizeclass is not None or unswept:
        states = tuple(x for x in states if x == "in use")  # only heap spans have these
    sel = []
    for s in walk.spans:
        if s.state_name not in states:
            continue
        if sizeclass is not None and (s.state != 1 or s.sizeclass != sizeclass):
            continue
        if unswept and (s.state != 1 or sweep_state(s.sweepgen, sg) not in UNSWEPT):
            continue
        sel.append(s)
    sel.sort(key=lambda s: (s.base, s.addr))
    shown = sel if limit <= 0 else sel[:limit]
    heap = [s for s in sel if s.state == 1]
    return {
        "go_version": proc.go_version,
        "sweepgen": sg,
        "green_tea": walk.green_tea is not None,
        "filter": {"class": sizeclass, "states": list(states), "unswept": unswept, "limit": limit},
        "matched": len(sel),
        "shown": len(shown),
        "truncated": len(shown) < len(sel),
        "totals": {
            **_tally(sel),
            "objects": sum(s.allocated or 0 for s in heap),
            "object_bytes": sum((s.allocated or 0) * s.elemsize for s in heap),
            "alloc_count_mismatches": sum(
                1 for s in heap if s.allocated is not None and s.allocated != s.alloc_count
            ),
        },
        "spans": [span_doc(s, sg) for s in shown],
        "errors": list(walk.errors),
        "notes": [],
    }


def span_addr_doc(proc: GoProcess, addr: int) -> SpanAddrDoc:
    """``gomem span ADDR``: the span holding an address, and the object slot."""
    res = span_of(proc, addr)
    sg = proc.global_("runtime.mheap_")["sweepgen"].int()
    s = res.span
    obj: SlotDoc | None = None
    if res.in_span and s is not None and res.object_index is not None:
        assert res.object_base is not None
        obj = {
            "index": res.object_index,
            "base": hexaddr(res.object_base),
            "offset": addr - res.object_base,
            "size": s.elemsize,
            "allocated": res.allocated,
            "marked": res.marked,
        }
    page: PageBitsDoc | None = None
    try:
        ps = page_state(proc, addr)
        if ps is not None:
            page = {"allocated": ps[0], "scavenged": ps[1]}
    except (LayoutError, UnreadableMemory) as exc:
        res.notes.append(f"page allocator bit unreadable: {exc}")
    geo_sizes = None
    if s is not None and res.in_span and s.state == 1 and s.sizeclass:
        try:
            geo_sizes = size_classes(proc)[s.sizeclass]
        except (LayoutError, UnreadableMemory, IndexError):
            geo_sizes = None
    return {
        "go_version": proc.go_version,
        "addr": hexaddr(addr),
        "arena_index": res.arena_index,
        "heap_arena": hexaddr(res.heap_arena) if res.heap_arena else None,
        "span_ptr": hexaddr(res.span_ptr) if res.span_ptr else None,
        "in_span": res.in_span,
        "span": span_doc(s, sg) if s is not None and res.in_span else None,
        "class_size": geo_sizes,
        "object": obj,
        "page": page,
        "notes": res.notes,
    }


def _cached_span_doc(spc: int, rec: SpanRecord | None, p: int, sg: int) -> CachedSpanDoc:
    d: CachedSpanDoc = {
        "spanclass": spc,
        "sizeclass": spc >> 1,
        "noscan": bool(spc & 1),
        "mspan": hexaddr(p),
    }
    if rec is None:
        d["error"] = "descriptor not in allspans"
        return d
    d["base"] = hexaddr(rec.base)
    d["elemsize"] = rec.elemsize
    d["nelems"] = rec.nelems
    d["alloc_count"] = rec.alloc_count
    d["allocated_since_cached"] = rec.alloc_count - rec.alloc_count_before_cache
    d["free"] = rec.nelems - rec.alloc_count
    d["sweep"] = sweep_state(rec.sweepgen, sg)
    return d


def mcache_doc(proc: GoProcess) -> MCacheDoc:
    """``gomem mcache``: each P's cached spans, tiny block, sampling point, stack cache."""
    walk = cached_walk(proc)
    caches, errors = read_mcaches(proc)
    by_addr = walk.by_addr()
    status = p_status_names(proc)
    ps: list[PCacheDoc] = []
    for c in caches:
        ps.append(
            {
                "p": c.p_id,
                "status": status.get(c.status, str(c.status)),
                "mcache": hexaddr(c.mcache) if c.mcache else None,
                "tiny": hexaddr(c.tiny) if c.tiny else None,
                "tinyoffset": c.tinyoffset,
                "tiny_allocs": c.tiny_allocs,
                "next_sample": c.next_sample,
                "mem_prof_rate": c.mem_prof_rate,
                "scan_alloc": c.scan_alloc,
                "flush_gen": c.flush_gen,
                "flush_needed": bool(c.mcache) and c.flush_gen != walk.sweepgen,
                "spans": [
                    _cached_span_doc(spc, by_addr.get(p), p, walk.sweepgen)
                    for spc, p in sorted(c.spans.items())
                ],
                "stackcache": [{"order": o, "bytes": b} for o, b in c.stackcache],
                "reusable_noscan": (
                    None
                    if c.reusable_noscan is None
                    else {str(k): hexaddr(v) for k, v in c.reusable_noscan.items()}
                ),
                "error": c.error,
            }
        )
    return {
        "go_version": proc.go_version,
        "sweepgen": walk.sweepgen,
        "ps": ps,
        "errors": errors + list(walk.errors),
        "notes": [],
    }


def _span_set_doc(cls: CentralClass, name: str, by_addr: dict[int, SpanRecord]) -> SpanSetDoc:
    """One of a class's four spanSets, each entry with its descriptor's slots."""
    ss = cls.sets[name]
    ents: list[SetSpanDoc] = []
    for p in ss.spans:
        rec = by_addr.get(p)
        ents.append(
            {
                "mspan": hexaddr(p),
                "base": hexaddr(rec.base) if rec else None,
                "allocated": rec.allocated if rec else None,
                "nelems": rec.nelems if rec else None,
            }
        )
    return {
        "count": len(ss.spans),
        "head": ss.head,
        "tail": ss.tail,
        "nils": ss.nils,
        "spans": ents,
        "error": ss.error,
    }


def mcentral_doc(proc: GoProcess, sizeclass: int | None = None) -> MCentralDoc:
    """``gomem mcentral``: spanSets per span class, and where every in-use span lives."""
    walk = cached_walk(proc)
    central = walk_mcentral(proc, sizeclass)
    caches, cerr = read_mcaches(proc)
    homes = check_homes(walk, central, caches, sizeclass)
    by_addr = walk.by_addr()
    try:
        sizes = size_classes(proc)
    except (LayoutError, UnreadableMemory):
        sizes = []
    classes: list[CentralClassDoc] = []
    for cls in central.classes:
        if not cls.count() and not any(ss.error for ss in cls.sets.values()):
            continue
        classes.append(
            {
                "spanclass": cls.spanclass,
                "sizeclass": cls.sizeclass,
                "noscan": cls.noscan,
                "elemsize": sizes[cls.sizeclass] if cls.sizeclass < len(sizes) else None,
                "count": cls.count(),
                "partial_swept": _span_set_doc(cls, "partial_swept", by_addr),
                "partial_unswept": _span_set_doc(cls, "partial_unswept", by_addr),
                "full_swept": _span_set_doc(cls, "full_swept", by_addr),
                "full_unswept": _span_set_doc(cls, "full_unswept", by_addr),
            }
        )
    return {
        "go_version": proc.go_version,
        "sweepgen": central.sweepgen,
        "swept_index": central.swept_index,
        "filter": {"class": sizeclass},
        "classes": classes,
        "check": {
            "spans_checked": homes.checked,
            "in_span_sets": homes.in_sets,
            "in_mcaches": homes.in_mcaches,
            "stale_entries": homes.stale,
            "violations": homes.violations,
        },
        "errors": central.errors + cerr + list(walk.errors),
        "notes": [],
    }


def spanlists_doc(proc: GoProcess) -> SpanListsDoc:
    """``gomem spanlists``: stack pools, large stack free lists, work buffers, user arenas."""
    lists = all_span_lists(proc)
    out: list[SpanListDoc] = []
    for r in lists:
        out.append(
            {
                "name": r.name,
                "head": hexaddr(r.addr),
                "count": len(r.spans),
                "pages": r.pages,
                "bytes": sum(s.nbytes for s in r.spans),
                "spans": [
                    {
                        "mspan": hexaddr(s.addr),
                        "base": hexaddr(s.base),
                        "npages": s.npages,
                        "state": s.state_name,
                        "elemsize": s.elemsize,
                        "alloc_count": s.alloc_count,
                        "free_stacks": r.free_slots.get(s.addr),
                    }
                    for s in r.spans
                ],
                "error": r.error,
            }
        )
    return {
        "go_version": proc.go_version,
        "lists": out,
        "errors": [f"{r.name}: {r.error}" for r in lists if r.error],
        "notes": [],
    }


def memstats_fields(stats: dict[str, int]) -> MemStatsFields:
    """Every MemStats field ``read_memstats`` gives, in its order, and ``last_gc_time``."""
    counters: MemStatsCounters = {
        "Alloc": stats["Alloc"],
        "TotalAlloc": stats["TotalAlloc"],
        "Sys": stats["Sys"],
        "Mallocs": stats["Mallocs"],
        "Frees": stats["Frees"],
        "HeapAlloc": stats["HeapAlloc"],
        "HeapSys": stats["HeapSys"],
        "HeapIdle": stats["HeapIdle"],
        "HeapInuse": stats["HeapInuse"],
        "HeapReleased": stats["HeapReleased"],
        "HeapObjects": stats["HeapObjects"],
        "StackInuse": stats["StackInuse"],
        "StackSys": stats["StackSys"],
        "MSpanInuse": stats["MSpanInuse"],
        "MSpanSys": stats["MSpanSys"],
        "MCacheInuse": stats["MCacheInuse"],
        "MCacheSys": stats["MCacheSys"],
        "BuckHashSys": stats["BuckHashSys"],
        "GCSys": stats["GCSys"],
        "OtherSys": stats["OtherSys"],
        "LastGC": stats["LastGC"],
        "PauseTotalNs": stats["PauseTotalNs"],
        "NumGC": stats["NumGC"],
        "NumForcedGC": stats["NumForcedGC"],
    }
    if "NextGC" in stats:
        counters["NextGC"] = stats["NextGC"]
    return {**counters, "last_gc_time": unix_ns_to_iso(stats["LastGC"])}


def memstats_doc(proc: GoProcess, ngc: int = 10) -> MemStatsDoc:
    """``gomem memstats``: MemStats beside the span walk, and the last GC cycles."""
    ms = read_memstats(proc)
    walk = cached_walk(proc)
    errors = list(walk.errors)
    notes = list(ms.notes)
    try:
        pa: PageAllocSummary | None = read_page_alloc(proc)
        assert pa is not None
        errors.extend(pa.errors)
    except (LayoutError, UnreadableMemory) as exc:
        pa = None
        errors.append(f"page allocator unreadable: {exc}")
    caches: list[MCacheInfo]
    caches, cerr = read_mcaches(proc)
    errors.extend(cerr)
    rows = compare(proc, ms, walk, pa, caches)
    cycles = gc_history(proc, ngc)
    st = ms.stats
    stats = memstats_fields(st)
    return {
        "go_version": proc.go_version,
        "memstats": stats,
        "comparison": [
            {
                "field": r.field,
                "readmemstats": r.readmemstats,
                "counters": r.counters,
                "span_walk": r.walk,
                "difference": r.difference,
                "explanation": r.explanation,
            }
            for r in rows
        ],
        "gc": {
            "num_gc": st["NumGC"],
            "num_forced_gc": st["NumForcedGC"],
            "pause_total_ns": st["PauseTotalNs"],
            "last_gc_time": stats["last_gc_time"],
            "cycles": [
                {
                    "cycle": c.cycle,
                    "end_unix_ns": c.end_unix_ns,
                    "end_time": unix_ns_to_iso(c.end_unix_ns),
                    "pause_ns": c.pause_ns,
                }
                for c in cycles
            ],
        },
        "gc_epoch": gc_epoch_doc(proc, notes),
        "crash_time": crash_time_doc(proc, notes),
        "errors": errors,
        "notes": notes,
    }
