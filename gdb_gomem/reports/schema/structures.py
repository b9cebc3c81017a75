"""The heap-structure documents: ``mheap``, ``spans``, ``span``, ``mcentral``, ``mcache``,
``spanlists`` and ``memstats``.

Every one carries ``go_version``, ``errors`` (what the target's data made impossible to read
or check; a broken walk stops with a line) and ``notes`` (what was inferred), except ``span``,
which has only ``notes``.
"""

from __future__ import annotations

from typing import Final, NotRequired, TypedDict

from gdb_gomem.reports.schema.common import AddrRange
from gdb_gomem.reports.schema.info import CrashTimeDoc, GcEpochDoc

# ----------------------------------------------------------------------------- shared


class SpanDoc(TypedDict):
    """One mspan; the class, slot and sweep fields are null unless the span is in use."""

    mspan: str
    base: str
    end: str
    npages: int
    state: str  # "in use", "manual", "dead"
    kind: str  # small, large, user arena, stack, workbuf, ...
    spanclass: int | None
    sizeclass: int | None
    noscan: bool | None
    elemsize: int
    nelems: int | None
    freeindex: int | None
    alloc_count: int
    allocated: int | None  # recounted from freeindex + allocBits
    alloc_count_ok: bool | None
    sweepgen: int
    sweep: str | None
    inline_marks: int | None  # Green Tea: marks still held inline
    specials: bool
    user_arena: bool
    large_type: str | None
    error: str | None


class SpanTally(TypedDict):
    """Spans, pages and bytes of a set of spans; objects only for heap (in-use) spans."""

    spans: int
    pages: int
    bytes: int
    objects: NotRequired[int]
    object_bytes: NotRequired[int]


class CheckDoc(TypedDict):
    """One consistency check and its outcome."""

    check: str
    ok: bool
    detail: str


# ----------------------------------------------------------------------------- mheap


class ArenasDoc(TypedDict):
    count: int
    arena_bytes: int
    start: str | None
    end: str | None
    list: list[str]
    user_arenas: list[str]


class DeadSpans(TypedDict):
    spans: int


ByKindDoc = TypedDict(
    "ByKindDoc",
    {
        "small": SpanTally,
        "large": SpanTally,
        "user arena": SpanTally,
        "stack": SpanTally,
        "workbuf": SpanTally,
        "ptrscalar": NotRequired[SpanTally],  # only while such spans exist (1.22-1.23)
        "manual": NotRequired[SpanTally],
    },
)


class MHeapSpans(TypedDict):
    descriptors: int
    allspans_len: int
    in_use: SpanTally
    manual: SpanTally
    dead: DeadSpans
    by_kind: ByKindDoc


# In-use spans per sweep state, then the page counters. A span whose sweepgen is none of the
# five states (a corrupt descriptor) adds a count under "invalid (sg+N)" after them.
SweepDoc = TypedDict(
    "SweepDoc",
    {
        "unswept": int,
        "sweeping": int,
        "swept": int,
        "cached unswept": int,
        "cached swept": int,
        "pages_in_use": int,
        "pages_swept": int,
        "drained": NotRequired[bool],  # absent when the sweeper's state is unreadable
        "active_sweepers": NotRequired[int],
    },
)

#: The per-span sweep states counted in :data:`SweepDoc`.
SWEEP_STATES: Final = ("unswept", "sweeping", "swept", "cached unswept", "cached swept")


class PageCacheDoc(TypedDict):
    ps: int
    free_pages: int
    scavenged_pages: int


class PageSummaryDoc(TypedDict):
    levels: int
    root_max_free_run: int | None
    leaves_checked: int
    mismatches: list[str]


class ScavengerIndexDoc(TypedDict):
    chunks_checked: int
    mismatches: list[str]


class PagesDoc(TypedDict):
    """The page allocator (``mheap_.pages``): bitmaps, P page caches, summaries."""

    ranges: list[AddrRange]
    chunks: int
    total_pages: int
    allocated_pages: int
    free_pages: int
    scavenged_pages: int
    padding_pages: int
    page_cache: PageCacheDoc
    idle_pages: int
    released_pages: int
    largest_free_run: int
    summary: PageSummaryDoc
    scavenger_index: ScavengerIndexDoc
    search_addr: str


class MHeapDoc(TypedDict):
    go_version: str
    sweepgen: int
    gc_phase: str | None
    page_size: int
    green_tea: bool
    arenas: ArenasDoc | None
    spans: MHeapSpans
    sweep: SweepDoc
    pages: PagesDoc | None
    checks: list[CheckDoc]
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- spans


# "class" is a Python keyword: the functional syntax names it.
SpansFilterDoc = TypedDict(
    "SpansFilterDoc",
    {"class": int | None, "states": list[str], "unswept": bool, "limit": int},
)


class SpansTotals(TypedDict):
    spans: int
    pages: int
    bytes: int
    objects: int
    object_bytes: int
    alloc_count_mismatches: int


class SpansDoc(TypedDict):
    go_version: str
    sweepgen: int
    green_tea: bool
    filter: SpansFilterDoc
    matched: int
    shown: int
    truncated: bool
    totals: SpansTotals
    spans: list[SpanDoc]
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- span ADDR


class SlotDoc(TypedDict):
    """The object slot (or, in a manual span, the element) holding the address."""

    index: int
    base: str
    offset: int
    size: int
    allocated: bool | None
    marked: bool | None


class PageBitsDoc(TypedDict):
    allocated: bool
    scavenged: bool


class SpanAddrDoc(TypedDict):
    go_version: str
    addr: str
    arena_index: int | None
    heap_arena: str | None
    span_ptr: str | None
    in_span: bool
    span: SpanDoc | None
    class_size: int | None
    object: SlotDoc | None
    page: PageBitsDoc | None
    notes: list[str]


# ----------------------------------------------------------------------------- mcentral

#: The four spanSets of an mcentral, as keys of :class:`CentralClassDoc`.
SPAN_SET_NAMES: Final = ("partial_swept", "partial_unswept", "full_swept", "full_unswept")


class SetSpanDoc(TypedDict):
    mspan: str
    base: str | None  # null: the descriptor is not in allspans
    allocated: int | None
    nelems: int | None


class SpanSetDoc(TypedDict):
    count: int
    head: int
    tail: int
    nils: int
    spans: list[SetSpanDoc]
    error: str | None


class CentralClassDoc(TypedDict):
    spanclass: int
    sizeclass: int
    noscan: bool
    elemsize: int | None
    count: int
    partial_swept: SpanSetDoc
    partial_unswept: SpanSetDoc
    full_swept: SpanSetDoc
    full_unswept: SpanSetDoc


class HomesCheckDoc(TypedDict):
    """Every in-use span is in exactly one spanSet or one P's mcache."""

    spans_checked: int
    in_span_sets: int
    in_mcaches: int
    stale_entries: list[str]
    violations: list[str]


ClassFilterDoc = TypedDict("ClassFilterDoc", {"class": int | None})


class MCentralDoc(TypedDict):
    go_version: str
    sweepgen: int
    swept_index: int
    filter: ClassFilterDoc
    classes: list[CentralClassDoc]
    check: HomesCheckDoc
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- mcache


class CachedSpanDoc(TypedDict):
    """A span cached in an mcache; only the class fields and an error when the descriptor is
    not in allspans."""

    spanclass: int
    sizeclass: int
    noscan: bool
    mspan: str
    error: NotRequired[str]
    base: NotRequired[str]
    elemsize: NotRequired[int]
    nelems: NotRequired[int]
    alloc_count: NotRequired[int]
    allocated_since_cached: NotRequired[int]
    free: NotRequired[int]
    sweep: NotRequired[str]


class StackCacheDoc(TypedDict):
    order: int
    bytes: int


class PCacheDoc(TypedDict):
    """One P's mcache."""

    p: int
    status: str
    mcache: str | None
    tiny: str | None
    tinyoffset: int
    tiny_allocs: int
    next_sample: int
    mem_prof_rate: int | None
    scan_alloc: int
    flush_gen: int
    flush_needed: bool
    spans: list[CachedSpanDoc]
    stackcache: list[StackCacheDoc]
    reusable_noscan: dict[str, str] | None  # span class -> free list head (1.26+)
    error: str | None


class MCacheDoc(TypedDict):
    go_version: str
    sweepgen: int
    ps: list[PCacheDoc]
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- spanlists


class ListedSpanDoc(TypedDict):
    mspan: str
    base: str
    npages: int
    state: str
    elemsize: int
    alloc_count: int
    free_stacks: int | None


class SpanListDoc(TypedDict):
    name: str
    head: str
    count: int
    pages: int
    bytes: int
    spans: list[ListedSpanDoc]
    error: str | None


class SpanListsDoc(TypedDict):
    go_version: str
    lists: list[SpanListDoc]
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- memstats


class MemStatsCounters(TypedDict):
    """Every ``runtime.MemStats`` scalar as ReadMemStats would report it at the stop."""

    Alloc: int
    TotalAlloc: int
    Sys: int
    Mallocs: int
    Frees: int
    HeapAlloc: int
    HeapSys: int
    HeapIdle: int
    HeapInuse: int
    HeapReleased: int
    HeapObjects: int
    StackInuse: int
    StackSys: int
    MSpanInuse: int
    MSpanSys: int
    MCacheInuse: int
    MCacheSys: int
    BuckHashSys: int
    GCSys: int
    OtherSys: int
    LastGC: int
    PauseTotalNs: int
    NumGC: int
    NumForcedGC: int
    NextGC: NotRequired[int]  # absent when the GC controller is unreadable


class MemStatsFields(MemStatsCounters):
    last_gc_time: str | None  # LastGC as ISO-8601 UTC, null before the first GC


class ComparisonRow(TypedDict):
    """One MemStats field beside the runtime's counters and what the span walk counts."""

    field: str
    readmemstats: int
    counters: int
    span_walk: int | None
    difference: int | None
    explanation: str


class GcCycleDoc(TypedDict):
    cycle: int
    end_unix_ns: int
    end_time: str | None
    pause_ns: int


class GcHistoryDoc(TypedDict):
    num_gc: int
    num_forced_gc: int
    pause_total_ns: int
    last_gc_time: str | None
    cycles: list[GcCycleDoc]


class MemStatsDoc(TypedDict):
    go_version: str
    memstats: MemStatsFields
    comparison: list[ComparisonRow]
    gc: GcHistoryDoc
    gc_epoch: GcEpochDoc | None  # as in ``gomem info``
    crash_time: CrashTimeDoc | None
    errors: list[str]
    notes: list[str]
