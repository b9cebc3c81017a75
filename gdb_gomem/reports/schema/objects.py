"""The heap-object documents: ``histogram``, ``objects`` and ``obj``."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# ----------------------------------------------------------------------------- histogram


class HistogramRow(TypedDict):
    """One row: a type name, or with ``--by`` a size, size class or package."""

    type: str
    count: int
    bytes: int
    source: NotRequired[str]  # --by type: which type sources named the objects


class CountBytes(TypedDict):
    count: int
    bytes: int


class TypedShare(TypedDict):
    """Bytes of the selection typed by a source better than inference."""

    bytes: int
    of: int
    percent: float


class HistogramDoc(TypedDict):
    go_version: str
    selection: str  # live, garbage or all
    by: str  # type, size, class or package
    rows: list[HistogramRow]  # smallest first
    total: CountBytes
    rows_total: int
    typed: TypedShare
    seconds: float  # the type pass's wall time
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- objects


class ObjectRow(TypedDict):
    addr: str
    size: int
    type: str
    source: str
    live: NotRequired[bool]  # absent while reachability is unknown


class ObjectsDoc(TypedDict):
    go_version: str
    objects: list[ObjectRow]
    count: int
    bytes: int
    shown: int
    errors: list[str]
    notes: list[str]


# ----------------------------------------------------------------------------- obj


class ObjectRef(TypedDict):
    """The heap object a pointer points into."""

    base: str
    offset: int
    type: str


class PointeeRef(TypedDict):
    addr: str
    object: NotRequired[ObjectRef]  # absent: not a heap object


class MapEntryDoc(TypedDict):
    key: ValueDoc
    value: ValueDoc


class ValueDoc(TypedDict, total=False):
    """A decoded value; which keys are present depends on its kind.

    Scalars have ``value``; pointers ``addr`` (and ``object``) or a null ``value``; maps
    ``len`` and ``entries``; strings ``len``, ``value`` and ``data``; slices ``len``, ``cap``,
    ``array`` and ``elems``; arrays ``len`` and ``elems``; interfaces ``dynamic_type``,
    ``value`` and ``data``; structs ``fields``; funcs ``value`` and ``func``.
    """

    type: str
    value: Any
    len: int
    cap: int
    entries: list[MapEntryDoc]
    elems: list[ValueDoc]
    fields: list[FieldValueDoc]
    addr: str
    object: ObjectRef
    array: PointeeRef | None
    data: PointeeRef
    func: str | None
    dynamic_type: str | None
    error: str


class FieldValueDoc(ValueDoc, total=False):
    """A struct field: its name and offset, then its value's keys."""

    name: str
    offset: int


class ObjSpanDoc(TypedDict):
    base: str
    end: str
    mspan: str
    sizeclass: int
    noscan: bool
    elemsize: int
    kind: str


class AllocFrameDoc(TypedDict):
    """A frame of the sampled allocation stack; no location outside Go code."""

    pc: str
    func: NotRequired[str]
    file: NotRequired[str]
    line: NotRequired[int]


class AllocBoundDoc(TypedDict):
    """When an object was allocated, as far as the core proves it (Unix ns; null: unbounded).

    ``source`` ``gc-epoch``: from the GC's sweep state (``after_unix_ns`` the end of GC
    ``after_gc``, ``before_unix_ns`` the end of GC ``before_gc`` or, when that is null, the
    crash time's upper bound or estimate); ``trace``: the allocation event of the execution
    trace held in the core (both times equal; ``goroutine`` the goroutine that allocated it,
    in ``gomem obj``); ``trace-end``: an epoch bound raised to the trace's last event (no
    event for an object allocated after a GC that ended inside a gapless trace).
    """

    after_unix_ns: int | None
    before_unix_ns: int | None
    source: str
    after_gc: NotRequired[int | None]  # the GC cycle it was allocated after
    before_gc: NotRequired[int | None]  # the GC cycle it was allocated before (null: the stop)
    goroutine: NotRequired[int]  # source trace, in gomem obj: the allocating goroutine


class HeapObjectDoc(TypedDict):
    base: str
    size: int
    offset: int  # of the address asked about
    type: str
    source: str  # which type source named it
    count: int  # elements, for arrays of the type
    data_offset: int
    marked: bool | None
    live: bool | None
    elems: NotRequired[list[ValueDoc]]  # arrays (count > 1)
    value: NotRequired[ValueDoc]
    bytes: NotRequired[str]  # untyped: the first bytes, hex
    text: NotRequired[str]  # string data
    alloc_stack: NotRequired[list[AllocFrameDoc] | None]  # null: no sampled record
    allocated: NotRequired[AllocBoundDoc]  # the allocation time bound (gomem window)


class ObjDoc(TypedDict):
    go_version: str
    addr: str
    errors: list[str]
    notes: list[str]
    span: NotRequired[ObjSpanDoc]  # absent: no in-use span holds the address
    object: HeapObjectDoc | None
