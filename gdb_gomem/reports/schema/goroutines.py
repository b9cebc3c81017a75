"""The goroutine documents: ``goroutines`` (and ``--group-by``), ``goroutine``, ``threads``,
``defers`` and ``panics``.

The defer and panic entries are built in the goroutines layer
(:mod:`gdb_gomem.goroutines.defers`, :mod:`gdb_gomem.goroutines.panics`); their shapes are
written down here, with the documents that embed them. A field a Go version lacks is absent
(defer records) or null (panic flags).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, final

from gdb_gomem.reports.schema.common import CodeLocation, FrameDoc, SiteDoc, StackBounds

# ----------------------------------------------------------------------------- defer entries


class PointeeDoc(TypedDict):
    """Where a captured pointer word points: heap, stack, static or unknown."""

    where: str
    base: str | None
    size: int | None
    what: str | None


class CaptureDoc(TypedDict):
    offset: int
    word: str
    points_to: PointeeDoc | None


class ClosureDoc(TypedDict):
    """The funcval of a deferred call and what it keeps alive."""

    addr: str
    func: str
    calls: str | None  # the function a compiler-generated defer wrapper calls
    where: str  # static, heap, stack, unknown
    size: int | None
    size_source: str
    pointer_source: str | None
    captures: list[CaptureDoc]
    retained_heap_bytes: int


class _DeferRecordExtras(TypedDict, total=False):
    """``runtime._defer`` fields only some Go versions have."""

    heap: bool
    started: bool  # 1.21
    open_defer: bool  # 1.21
    panic: str | None  # 1.21
    varp: str  # 1.21 open-frame records
    framepc: str  # 1.21 open-frame records
    rangefunc: bool  # 1.23+
    head: str | None  # 1.23+ range-over-func records
    rangefunc_head: str  # a record queued on a range-over-func head


class DeferRecordDoc(_DeferRecordExtras):
    """One ``runtime._defer`` on ``g._defer``."""

    kind: str  # heap, stack, open-frame (1.21), rangefunc
    record: str
    record_size: int | None
    frame: str
    file: str
    line: int
    defer_file: str
    defer_line: int
    sp: str
    pc: str
    fn: str | None
    func: str | None
    deferred: str | None
    closure: ClosureDoc | None


class PendingDeferDoc(_DeferRecordExtras):
    """A deferred call still to run, next to run first: a ``_defer`` record (the record
    fields) or an open-coded slot (``slot``, ``slot_addr``)."""

    kind: str  # heap, stack, open, rangefunc
    frame: str
    file: str
    line: int
    sp: str
    func: str | None
    deferred: str | None
    closure: ClosureDoc | None
    record: NotRequired[str]
    record_size: NotRequired[int | None]
    defer_file: NotRequired[str]
    defer_line: NotRequired[int]
    pc: NotRequired[str]
    fn: NotRequired[str | None]
    slot: NotRequired[int]
    slot_addr: NotRequired[str]


class DeferErrorDoc(TypedDict):
    """A goroutine's defers that could not be read, in place of its entries."""

    kind: NotRequired[str]  # "error"
    error: str


class OpenSlotDoc(TypedDict):
    index: int
    addr: str
    state: str  # pending, ran, not reached
    inferred: bool
    func: str | None
    deferred: str | None
    closure: ClosureDoc | None


class OpenFrameDoc(TypedDict):
    """A frame of a function with open-coded defers."""

    func: str
    file: str
    line: int
    sp: str
    varp: str
    deferbits_addr: str
    deferbits: int
    ndefers: int | None  # 1.21 only
    slots: list[OpenSlotDoc]


class DeferCounts(TypedDict):
    heap: int
    stack: int
    open: int


class DeferFrameDoc(TypedDict):
    """Pending defers of one frame grouped by (kind, deferred function)."""

    func: str
    kind: str
    count: int
    deferred: str | None
    sp: str


class GoroutineMeta(TypedDict):
    status: str
    wait_reason: str | None
    labels: dict[str, str]


class GoroutineDefersFields(TypedDict):
    """One goroutine's defers as the goroutines layer reads them."""

    goroutine: int
    counts: DeferCounts
    frames: list[DeferFrameDoc]
    pending: list[PendingDeferDoc]
    records: list[DeferRecordDoc]
    open_frames: list[OpenFrameDoc]
    errors: list[str]


class GoroutineDefersDoc(GoroutineDefersFields, GoroutineMeta):
    """An entry of ``gomem defers``."""


class DeferTotals(TypedDict):
    goroutines: int
    heap: int
    stack: int
    open: int
    retained_heap_bytes: int


class PoolCountDoc(TypedDict):
    p: int
    records: int


# "global" is a Python keyword: the functional syntax names it.
DeferPoolsDoc = TypedDict(
    "DeferPoolsDoc",
    {
        "per_p": list[PoolCountDoc],
        "global": int,
        "total": int,
        "record_size": int | None,
        "bytes": int | None,
        "errors": list[str],
    },
)


class DefersDoc(TypedDict):
    go_version: str
    goroutines: list[GoroutineDefersDoc]
    totals: DeferTotals
    defer_pools: DeferPoolsDoc
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- panic entries


class GoValueDoc(TypedDict):
    """An interface value decoded as Go's panic printer would print it."""

    type: str | None  # null for a nil interface
    kind: str
    value: Any  # a JSON scalar when the value is one, else null
    text: str
    data: str
    type_addr: str | None
    is_error: bool
    wraps: NotRequired[list[GoValueDoc]]
    note: NotRequired[str]


class PanicFrameDoc(TypedDict):
    func: str
    file: str
    line: int
    pc: str
    sp: str


class RanDeferDoc(TypedDict):
    """An open-coded deferred call the panic already ran."""

    frame: str
    slot: int
    func: str
    deferred: str
    inferred_slot: bool


class PanicDoc(TypedDict):
    """One ``runtime._panic``; a flag the Go version does not have is null."""

    addr: str
    value: GoValueDoc
    text: str
    recovered: bool | None
    aborted: bool | None
    goexit: bool | None
    repanicked: bool | None
    deferreturn: bool | None
    fields: dict[str, str]  # the version's pointer fields, raw
    link: str | None
    panic_frame: PanicFrameDoc | None
    started_by: PanicFrameDoc | None
    origin: PanicFrameDoc | None
    start_source: str
    ran_defers: list[RanDeferDoc]


class PanicErrorDoc(TypedDict):
    """A goroutine's panics that could not be read, in place of its entries."""

    error: str


class GoroutinePanicsFields(TypedDict):
    """One goroutine's panics as the goroutines layer reads them."""

    goroutine: int
    panics: list[PanicDoc]
    errors: list[str]


class GoroutinePanicsDoc(GoroutinePanicsFields, GoroutineMeta):
    """An entry of ``gomem panics``."""

    crashing: bool


class PanicCrashDoc(TypedDict):
    goroutine: int | None
    panic_value: str | None


class PanicsDoc(TypedDict):
    go_version: str
    goroutines: list[GoroutinePanicsDoc]
    crash: PanicCrashDoc | None
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- goroutines


class CreatedByDoc(SiteDoc):
    """The ``go`` statement's site, and the goroutine that ran it (null when unknown)."""

    goroutine: int | None


class GoroutineStack(StackBounds):
    size: int


class GoroutineDoc(TypedDict):
    """One goroutine of ``gomem goroutines``."""

    id: int
    status: str
    wait_reason: str | None
    waitsince: int | None
    waited_at_least_ns: int | None  # a lower bound: waitsince is set at a GC scan
    labels: dict[str, str]
    start_func: str | None
    created_by: CreatedByDoc | None  # null for the main goroutine
    locked_to_thread: int | None
    m: int | None
    addr: str
    stack: GoroutineStack
    labels_error: NotRequired[str]
    frames: NotRequired[list[FrameDoc]]  # absent with --no-frames
    frames_error: NotRequired[str | None]
    defers: NotRequired[list[PendingDeferDoc | DeferErrorDoc]]
    panics: NotRequired[list[PanicDoc | PanicErrorDoc]]


@final
class LeakGroupDoc(TypedDict):
    """``goroutines --leaked``: leaked goroutines that block in one place and were made by one
    ``go`` statement, with what they cost."""

    ids: list[int]
    where: str
    wait_reason: str
    created_by: str
    stack_bytes: int
    retained_bytes: int | None  # heap only this group keeps; None when not computed


class GoroutinesDoc(TypedDict):
    goroutines: list[GoroutineDoc]
    total: int
    now_lower_bound: int | None
    notes: list[str]
    leak_groups: NotRequired[list[LeakGroupDoc]]  # with --leaked


class GoroutineGroupDoc(TypedDict):
    """Goroutines with the same key; the sites and frames are the first member's."""

    count: int
    ids: list[int]
    status: str  # "mixed" when the members differ
    wait_reason: str | None  # "(mixed)" when the members differ
    created_by: CreatedByDoc | None
    start_func: str | None
    frames: list[FrameDoc]  # empty unless grouped by stack
    max_waited_at_least_ns: int | None


@final
class GoroutineGroupsDoc(TypedDict):
    groups: list[GoroutineGroupDoc]  # fewest members first
    group_by: str
    selected: int
    total: int
    notes: list[str]


class SingleGoroutineDoc(GoroutineDoc):
    """``gomem goroutine ID``: the goroutine's entry and the notes."""

    notes: list[str]


# ----------------------------------------------------------------------------- threads


class ThreadFrameDoc(FrameDoc):
    stack: str | None  # g0, gsignal or "goroutine N": the stack the frame is on


class ThreadDoc(TypedDict):
    lwp: int
    crashed: bool
    m: int | None
    p: int | None
    curg: int | None
    pc: str
    sp: str
    where: CodeLocation | None
    g0_stack: NotRequired[StackBounds]  # absent for a thread with no M
    gsignal_stack: NotRequired[StackBounds | None]
    on_stack: str | None
    frames: NotRequired[list[ThreadFrameDoc]]  # threads that got a backtrace (--bt)
    frames_error: NotRequired[str | None]


class ThreadsDoc(TypedDict):
    threads: list[ThreadDoc]
    ms: int
    notes: list[str]
