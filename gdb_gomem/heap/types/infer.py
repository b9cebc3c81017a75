"""A type for every heap object: malloc headers, ``largeType``, then DWARF propagation.

Sources, strongest first (each object keeps the strongest it was given):

1. **malloc header** (Go 1.22+, ``runtime/mbitmap.go``, ``heapSetType``): a pointerful small
   object larger than ``minSizeForMallocHeader`` (512 B) starts with the ``*abi.Type`` it was
   allocated with; for ``make([]T, n)`` that is the *element* type; the user data starts 8
   bytes further. **largeType** (1.22+): a large object's span holds the same in
   ``mspan.largeType`` and the data starts at the span base. In 1.22-1.23 a type with a GC
   program gets a synthetic type there; it does not decode and the object is left to the
   other sources.
2. **finalizer**: a ``specialfinalizer`` record (``mspan.specials``, kind
   ``_KindSpecialFinalizer``) keeps ``ot``, the ``*ptrtype`` of the object it finalizes.
3. **dwarf**: every DWARF-typed global is a root; values are followed through struct fields,
   pointers, slices (the backing array is ``[cap]T``), strings (``string data``), arrays,
   interfaces (the type word or itab's type -> ``DW_AT_go_runtime_type`` -> DWARF type),
   maps (:mod:`.gomaps`: buckets, directories, tables, group arrays, and what their slots
   point to), channels (``hchan.buf`` is ``[dataqsiz]T``, T from ``hchan.elemtype``),
   and func values (a closure is named after the function its code pointer enters). A
   pointer to the base of an object ``k`` times larger than its pointee types it as
   ``[k]T`` with less confidence than an exact match (a classic bucket array reached
   through ``*bucket``, a ``*T`` that really addresses an array).
4. **inferred**: what is left gets a signature ``<unknown SIZE ptrmask 0b...>`` from the
   span's pointer bitmap (Go 1.22+ objects up to 512 B keep one bit per word at the end of
   their span, ``heapBitsInSpan``) or ``<unknown SIZE noscan>``.

Storage is columnar: sorted numpy arrays ``addr``/``size``/``type_id`` over every allocated
object, and a small :class:`TypeEntry` table, so histograms are ``np.bincount`` calls.

Propagation runs in batches: all queued values of one DWARF type are scanned together, each
pointer slot as one gather over the heap image and one vectorised address -> object lookup;
interfaces, maps, channels and closures (few) are decoded one by one. Linked structures
(``Next *T`` in ``T``) are chased over per-type successor tables instead of one hop per
round (:meth:`_Inferrer.chase`). Values already scanned are remembered per object (the first
type scanned at its start), so memory stays proportional to the object count.

The object enumeration is this module's own (span walk + ``i < freeindex || allocBits[i]``,
as ``runtime/mbitmap.go`` defines "allocated"); when the heap model's table is the same list
(it is, on every fixture) its O(1) address lookup is used (:func:`object_table`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.heap import native
from gdb_gomem.heap.objects import HeapImage, heap_image
from gdb_gomem.runtime.gomaps import (
    MapError,
    classic_bucket_arrays,
    map_kind,
    swiss_groups,
    swiss_layout,
)
from gdb_gomem.runtime.rtype import RType, TypeError_, types
from gdb_gomem.runtime.spans import allocated_mask, cached_walk
from gdb_gomem.symbols.dwarf import GoType
from gdb_gomem.symbols.gonames import go_name, package_of
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

SRC_HEADER = "malloc header"
SRC_LARGE = "largeType"
SRC_FINALIZER = "finalizer"
SRC_DWARF = "dwarf"
SRC_INFERRED = "inferred"

#: Confidence of each way of typing an object; a stronger one replaces a weaker one.
P_NONE, P_GUESS, P_DWARF, P_FINALIZER, P_HEADER = 0, 1, 2, 3, 4

#: Bounds: elements followed per array value whose length comes from memory (a global's
#: array, a slice header's cap); an array *object* is bounded by its own size instead (up to
#: MAX_OBJECT_ELEMS); values scanned per process.
MAX_ARRAY_FOLLOW = 1 << 20
MAX_OBJECT_ELEMS = 1 << 27
MAX_WORK = 1 << 26
MAX_SPECIALS_PER_SPAN = 1 << 16
#: Rounds of one type's values before its self-pointers are chased as whole chains. A round
#: costs well under a millisecond of fixed overhead, a successor table a gather over every
#: object of a plausible size (seconds on a 20-million-object heap): lists and trees of up
#: to this depth are cheaper as plain rounds (on the 1 GiB benchmark heap, chasing 500-node
#: lists and a 4-million-node tree after 8 rounds cost 16 s; plain rounds cost under 2 s).
CHASE_AFTER = 512
#: Words gathered from a core's mapping between two releases of its pages (see words()).
RELEASE_EVERY = 1 << 22
#: Unrolled pointer slots per type before an array is followed element by element instead.
MAX_PLAN = 256
#: Words gathered per chunk of a batch (bounds the batch's word matrix to 32 MiB).
CHUNK_WORDS = 1 << 22
#: A chunk of at least this many words has its stretch of the core's pages handed back at
#: once. The page cache maps files in large folios, so a gather maps far more than the words
#: it reads; on the 1 GiB benchmark core this (with the sorted values) took histogram's max
#: RSS from 2.25 GB to 1.95 GB. Releasing after every chunk cost 3.5 s of re-faults.
RELEASE_CHUNK = 1 << 20
#: Words a slot reads besides its first: a string's length, a slice's capacity.
_EXTRA_WORDS = {"string": (8,), "slice": (16,)}


@dataclass(frozen=True)
class TypeEntry:
    """One row of the type table: objects of this name, typed the same way."""

    id: int
    name: str  # as Go prints it (see gonames)
    source: str  # SRC_*
    count: int = 1  # array length when the object is an array ([count]elem)
    elem: str = ""  # element type name of an array
    package: str = ""
    dwarf: int | None = None  # DWARF type of the object's (element) data

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "count": self.count,
            "package": self.package,
        }


class ObjectTable:
    """Every allocated heap object: sorted ``addr``, ``size`` (slot size), ``spanclass``."""

    def __init__(self, addr: np.ndarray, size: np.ndarray, spanclass: np.ndarray) -> None:
        self.addr = addr
        self.size = size
        self.spanclass = spanclass
        #: The heap model's table (objects.ObjectTable) when it is this same list: its O(1)
        #: page-table lookup, and the page tables the compiled passes read.
        self.model: Any = None
        #: With a model, per span of ``model.walk.spans``: its objects' size and its span
        #: class (the compiled passes read these instead of a column per object).
        self.span_osize = np.zeros(0, np.int64)
        self.span_class = np.zeros(0, np.uint16)

    def __len__(self) -> int:
        return len(self.addr)

    def index(self, p: int) -> int:
        """The object holding ``p``, or -1 (one binary search; scalar, for the propagation
        loop; no Python list of 20 million addresses is kept for it)."""
        if not 0 <= p < 1 << 64:
            return -1
        i = int(np.searchsorted(self.addr, np.uint64(p), side="right")) - 1
        if i >= 0 and p < int(self.addr[i]) + int(self.size[i]):
            return i
        return -1

    def find(self, addrs: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`index`: object index per address, -1 outside every object."""
        if self.model is not None:
            return self.model.find(addrs).astype(np.int64)
        a = np.asarray(addrs, dtype=np.uint64)
        i = np.searchsorted(self.addr, a, side="right").astype(np.int64) - 1
        ok = i >= 0
        ic = np.where(ok, i, 0)
        ok &= a < self.addr[ic] + self.size[ic]
        return np.where(ok, i, -1)


def _own_objects(proc: GoProcess) -> ObjectTable:
    """Allocated slots of every in-use span (``i < freeindex || allocBits[i]``)."""
    walk = cached_walk(proc)
    spans = [s for s in walk.in_use() if s.elemsize]
    raws = read_many(proc.mem, [(s.alloc_bits, (s.nelems + 7) // 8) for s in spans])
    addrs, sizes, classes = [], [], []
    for s, raw in zip(spans, raws, strict=True):
        if raw is None:
            continue
        idx = np.nonzero(allocated_mask(s, raw))[0].astype(np.uint64)
        if not len(idx):
            continue
        addrs.append(np.uint64(s.base) + idx * np.uint64(s.elemsize))
        size = s.elemsize if s.sizeclass else s.end - s.base
        sizes.append(np.full(len(idx), size, dtype=np.uint64))
        classes.append(np.full(len(idx), s.spanclass, dtype=np.uint16))
    if not addrs:
        e = np.zeros(0, dtype=np.uint64)
        return ObjectTable(e, e.copy(), np.zeros(0, dtype=np.uint16))
    a = np.concatenate(addrs)
    order = np.argsort(a, kind="stable")
    return ObjectTable(a[order], np.concatenate(sizes)[order], np.concatenate(classes)[order])


def object_table(proc: GoProcess) -> ObjectTable:
    """The process's object table (one per process), shared with the heap model.

    The heap model enumerates objects by the same rule; its table (and its O(1)
    arena/page/slot lookup) is used directly, so the heap is enumerated once. This module's
    own enumeration is the fallback when the model cannot be built.
    """
    return _TYPES_OBJECTS(proc)


def _build_object_table(proc: GoProcess) -> ObjectTable:
    table = _from_model(proc)
    return table if table is not None else _own_objects(proc)


_TYPES_OBJECTS: Lazy[ObjectTable] = Lazy("typed object table", _build_object_table)


def _from_model(proc: GoProcess) -> ObjectTable | None:
    try:
        from gdb_gomem.heap.objects import object_table as model_objects

        model = model_objects(proc)
    except (ImportError, GomemError):
        return None
    classes = np.array([s.spanclass for s in model.walk.spans], dtype=np.uint16)
    span = np.asarray(model.span)
    table = ObjectTable(
        np.asarray(model.addr, dtype=np.uint64),
        np.asarray(model.size, dtype=np.uint64),
        classes[span] if len(span) else np.zeros(0, dtype=np.uint16),
    )
    # A binary search over 20 million sorted addresses costs seconds per pass.
    table.model = model
    table.span_class = classes
    table.span_osize = np.zeros(len(classes), np.int64)
    if len(span):
        table.span_osize[span] = table.size.astype(np.int64)
    return table


# ---------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Slot:
    off: int
    action: str  # ptr slice string eface iface map chan func array
    arg: int = 0  # DWARF type id (pointee, element, header)
    n: int = 0  # array length for "array"


class _Plans:
    """Per DWARF type, the pointer-bearing slots to visit (flattened structs and arrays)."""

    def __init__(self, proc: GoProcess) -> None:
        self.dw = proc.dw
        self._cache: dict[int, tuple[Slot, ...]] = {}

    def plan(self, tid: int) -> tuple[Slot, ...]:
        hit = self._cache.get(tid)
        if hit is None:
            self._cache[tid] = ()  # recursion guard (self-referential types)
            hit = self._cache[tid] = tuple(self._build(tid, 0))
        return hit

    def _build(self, tid: int, depth: int) -> list[Slot]:
        dw = self.dw
        t = dw.resolve(tid)
        if depth > 12:
            return []
        if t.tag == "ptr":
            if t.target is None:
                return []  # unsafe.Pointer: no type to give
            tgt = dw.resolve(t.target)
            if tgt.tag == "struct" and map_kind(tgt):
                return [Slot(0, "map", tgt.id)]
            if tgt.tag == "struct" and (
                tgt.name.startswith("hchan<") or tgt.name == "runtime.hchan"
            ):
                return [Slot(0, "chan", tgt.id)]
            return [Slot(0, "ptr", t.target)]
        if t.tag == "func":
            return [Slot(0, "func")]
        if t.tag == "array":
            if not t.count or t.elem is None:
                return []
            sub = self.plan(t.elem)
            if not sub:
                return []
            es = dw.resolve(t.elem).size
            if t.count * len(sub) <= MAX_PLAN:
                return [
                    Slot(s.off + i * es, s.action, s.arg, s.n) for i in range(t.count) for s in sub
                ]
            return [Slot(0, "array", t.elem, t.count)]
        if t.tag != "struct":
            return []
        names = [f.name for f in t.fields]
        if t.kind == 24 or names == ["str", "len"]:
            return [Slot(0, "string")]
        if t.kind == 23 or names == ["array", "len", "cap"]:
            elem = t.elem if t.elem is not None else dw.resolve(t.fields[0].type).target
            return [Slot(0, "slice", elem or 0)]
        if names in (["_type", "data"], ["typ", "val"]):  # runtime.eface, sync.eface
            return [Slot(0, "eface")]
        if names == ["tab", "data"]:
            return [Slot(0, "iface")]
        out: list[Slot] = []
        for f in t.fields:
            hint = self._hint(t, f.name, f.offset)
            if hint is not None:
                out.append(hint)
                continue
            out.extend(Slot(s.off + f.offset, s.action, s.arg, s.n) for s in self.plan(f.type))
        return out

    def _hint(self, t: GoType, fname: str, off: int) -> Slot | None:
        """``unsafe.Pointer`` fields whose real type the source code states.

        - ``sync/atomic.Pointer[T]``: ``_ [0]*T`` then ``v unsafe.Pointer`` (a ``*T``);
        - ``sync.Pool.local``/``victim``: ``[localSize]poolLocal`` / ``[victimSize]...``
          (``sync/pool.go``: "actual type is [P]poolLocal"); the size field follows;
        - ``runtime.g.labels``: the ``*runtime/pprof.labelMap`` that
          ``pprof.SetGoroutineLabels`` stores with ``runtime_setProfLabel``.
        """
        dw = self.dw
        if fname == "v" and t.name.startswith("sync/atomic.Pointer["):
            for f in t.fields:
                a = dw.resolve(f.type)
                if f.name == "_" and a.tag == "array" and a.count == 0 and a.elem is not None:
                    pt = dw.resolve(a.elem)
                    if pt.tag == "ptr" and pt.target is not None:
                        return Slot(off, "ptr", pt.target)
            return None
        if t.name == "sync.Pool" and fname in ("local", "victim"):
            pl = dw.find("sync.poolLocal")
            size_field = "localSize" if fname == "local" else "victimSize"
            size_off = next((f.offset for f in t.fields if f.name == size_field), None)
            if pl is None or size_off is None:
                return None
            return Slot(off, "pool", pl.id, size_off - off)
        if t.name == "runtime.g" and fname == "labels":
            lm = dw.find("runtime/pprof.labelMap")
            return Slot(off, "ptr", lm.id) if lm is not None else None
        return None


# ---------------------------------------------------------------------------- inference


@dataclass
class HeapTypes:
    """The result: per object a type id into ``table``."""

    objects: ObjectTable
    type_id: np.ndarray  # int32, one per object
    table: list[TypeEntry]
    data_off: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # header
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def addr(self) -> np.ndarray:
        return self.objects.addr

    @property
    def size(self) -> np.ndarray:
        return self.objects.size

    def entry_of(self, i: int) -> TypeEntry:
        return self.table[int(self.type_id[i])]

    def typed_mask(self) -> np.ndarray:
        src = np.array([e.source != SRC_INFERRED for e in self.table], dtype=bool)
        return src[self.type_id] if len(self.type_id) else np.zeros(0, dtype=bool)

    def typed_fraction(self, mask: np.ndarray | None = None) -> tuple[int, int]:
        """(typed bytes, all bytes) over the objects selected by ``mask`` (all by default)."""
        sel = np.ones(len(self.type_id), dtype=bool) if mask is None else mask
        sizes = self.objects.size.astype(np.int64)
        return int(sizes[sel & self.typed_mask()].sum()), int(sizes[sel].sum())


class _Inferrer:
    def __init__(self, proc: GoProcess, objs: ObjectTable) -> None:
        self.proc = proc
        self.mem = proc.mem
        self.dw = proc.dw
        self.objs = objs
        self.tr = types(proc)
        self.plans = _Plans(proc)
        n = len(objs)
        self.tid = np.full(n, -1, dtype=np.int32)
        self.prio = np.zeros(n, dtype=np.int8)
        # User data offset (8 behind a malloc header, else 0): one byte per object.
        self.data_off = np.zeros(n, dtype=np.uint8)
        # Per span of the heap model: 1 where some object has a nonzero data_off (kept by
        # _set_data_off; the compiled passes read data_off only there).
        model = objs.model
        self.span_hdr = np.zeros(len(objs.span_class) if model is not None else 0, np.uint8)
        self.table: list[TypeEntry] = []
        self._entries: dict[tuple[str, str, int], int] = {}
        # Values still to scan, by DWARF type (batched: one numpy pass per type and round),
        # and those scanned already; ``special`` dedupes map headers and channels.
        self.pending: dict[int, list[np.ndarray]] = {}
        self.pending_arrays: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        # Per object, values of one DWARF type scanned from its data start: arr_tid that
        # type (-1 none), arr_count how many elements of an array of it (0: a single value;
        # at most MAX_OBJECT_ELEMS). A second type at the same start goes to ``done``.
        self.arr_tid = np.full(n, -1, dtype=np.int32)
        self.arr_count = np.zeros(n, dtype=np.int32)
        self._stamp: np.ndarray | None = None  # dedupe scratch of the numpy fresh() only
        # Arrays outside the heap already queued, per type: (start, count).
        self.ranges_done: dict[int, set[tuple[int, int]]] = {}
        self._keys: dict[int, int] = {}
        self.done: dict[int, set[int]] = {}
        self.special: set[tuple[int, int]] = set()
        self.scanned = 0
        self._nexts: dict[
            int, tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], list[np.ndarray]]
        ] = {}
        # Values already checked new by the compiled pointer pass (arr_tid marked there),
        # queued beside ``pending``'s entry for their type.
        self.pending_new: dict[int, list[np.ndarray]] = {}
        self.state = (
            native.TypeState(
                model,
                objs.span_osize,
                objs.span_class,
                self.span_hdr,
                self.data_off,
                self.prio,
                self.tid,
                self.arr_tid,
            )
            if model is not None
            else None
        )
        self._gathered = 0  # words gathered since the image's pages were last released
        self._reached: dict[int, np.ndarray] = {}
        self._batches: dict[int, int] = {}
        self.image = _image(proc)
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.rt_to_dwarf = self._runtime_type_index()
        self.tiny_class = self.dw.constants.get("runtime.tinySpanClass", 5)
        self._func_names: dict[int, str] = {}

    # ----------------------------------------------------------------- table

    def entry(
        self,
        name: str,
        source: str,
        count: int = 1,
        elem: str = "",
        dwarf: int | None = None,
        package: str = "",
    ) -> int:
        key = (name, source, count)
        hit = self._entries.get(key)
        if hit is None:
            hit = len(self.table)
            self.table.append(TypeEntry(hit, name, source, count, elem, package, dwarf))
            self._entries[key] = hit
        return hit

    def dwarf_name(self, tid: int) -> str:
        t = self.dw.types[tid]
        return go_name(t.name or self.dw.resolve(tid).name or "?")

    def dwarf_package(self, tid: int) -> str:
        t = self.dw.types[tid]
        return package_of(t.name or self.dw.resolve(tid).name)

    def _runtime_type_index(self) -> dict[int, int]:
        """``*abi.Type`` address -> DWARF type (``DW_AT_go_runtime_type`` is an offset from
        ``moduledata.types``); a named typedef wins over its anonymous definition."""
        lo = self.tr.types_lo
        out: dict[int, int] = {}
        for t in self.dw.types.values():
            if t.runtime_type:
                a = lo + t.runtime_type
                if a not in out or t.tag == "typedef":
                    out[a] = t.id
        return out

    def dwarf_of_rtype(self, rt_addr: int) -> int | None:
        hit = self.rt_to_dwarf.get(rt_addr)
        if hit is not None:
            return hit
        try:
            name = self.tr.type_at(rt_addr).name
        except TypeError_:
            return None
        return self.dw.by_name.get(name)

    # ----------------------------------------------------------------- assignment

    def assign(
        self, i: int, prio: int, entry: int, tid: int | None, count: int, data_off: int = 0
    ) -> None:
        """Give object ``i`` a type if stronger than what it has; follow its contents."""
        if prio <= self.prio[i]:
            return
        self.prio[i] = prio
        self.tid[i] = entry
        self._set_data_off(i, data_off)
        if tid is not None:
            self.push(int(self.objs.addr[i]) + data_off, tid, count, in_object=True)

    def _set_data_off(self, idx: np.ndarray | int, off: int) -> None:
        """Object(s) ``idx`` hold their data ``off`` bytes in (behind a malloc header)."""
        if not 0 <= off < 256:
            raise LayoutError(f"data offset {off} does not fit one byte")
        self.data_off[idx] = off
        if off and self.objs.model is not None:
            self.span_hdr[self.objs.model.span[idx]] = 1

    def key(self, tid: int) -> int:
        """The type values are queued and remembered under: a typedef and the type it names
        have one plan, so a map group array typed through the header's (named) type and
        through the map's (anonymous) one is scanned once."""
        hit = self._keys.get(tid)
        if hit is None:
            hit = self._keys[tid] = self.dw.resolve(tid).id
        return hit

    def push(self, addr: int, tid: int, count: int = 1, in_object: bool = False) -> None:
        """Queue ``count`` values of type ``tid`` at ``addr`` for scanning (if they hold
        pointers); ``in_object``: the count was derived from a heap object's size."""
        tid = self.key(tid)
        if not self.plans.plan(tid):
            return
        count = max(1, min(count, MAX_OBJECT_ELEMS if in_object else MAX_ARRAY_FOLLOW))
        if count == 1:
            self.pending.setdefault(tid, []).append(np.array([addr], dtype=np.uint64))
        else:
            self.push_arrays(np.array([addr], np.uint64), np.array([count], np.int64), tid)

    def push_many(self, addrs: np.ndarray, tid: int) -> None:
        tid = self.key(tid)
        if len(addrs) and self.plans.plan(tid):
            self.pending.setdefault(tid, []).append(np.asarray(addrs, dtype=np.uint64))

    def push_arrays(self, starts: np.ndarray, counts: np.ndarray, tid: int) -> None:
        """Queue arrays: ``counts[j]`` values of ``tid`` from ``starts[j]``. An array that
        is an object's whole data is remembered once per object (:meth:`fresh_arrays`), not
        once per element: a slice of 3 million elements costs one entry, not 3 million."""
        tid = self.key(tid)
        if len(starts) and self.plans.plan(tid):
            parts = self.pending_arrays.setdefault(tid, [])
            parts.append((np.asarray(starts, np.uint64), np.asarray(counts, np.int64)))

    def _elements(self, tid: int, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Addresses of every element of the arrays (``counts[j]`` from ``starts[j]``)."""
        tot = int(counts.sum())
        if not tot:
            return np.zeros(0, np.uint64)
        es = np.uint64(self.dw.resolve(tid).size)
        k = np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + k.astype(np.uint64) * es

    def fresh_arrays(self, tid: int, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Element addresses of the queued arrays not scanned yet, now marked scanned.

        An array starting at an object's data start is an *array unit*: ``arr_tid`` and
        ``arr_count`` per object record the longest array of one type scanned there, so a
        repeat (or a shorter one) is skipped and a longer one scans only its new tail. Other
        arrays (inside globals, interior sub-slices, a second type at one start) are checked
        element by element (:meth:`fresh`)."""
        objs = self.objs
        idx = objs.find(starts)
        ic = np.where(idx >= 0, idx, 0)
        unit = (idx >= 0) & (starts == objs.addr[ic] + self.data_off[ic].astype(np.uint64))
        ui, uc = idx[unit], counts[unit]
        # Arrays outside the heap (a global's, a stack's) are remembered whole: the runtime's
        # [1<<22]*heapArena costs one set entry, not four million.
        away = idx < 0
        if away.any():
            keys = list(zip(starts[away].tolist(), counts[away].tolist(), strict=True))
            seen = self.ranges_done.setdefault(tid, set())
            again = np.array([k in seen for k in keys], dtype=bool)
            seen.update(keys)
            out_away = self._elements(tid, starts[away][~again], counts[away][~again])
        else:
            out_away = np.zeros(0, np.uint64)
        inner = ~unit & ~away
        loose = [self._elements(tid, starts[inner], counts[inner])]
        if len(ui):
            # One entry per object, the longest array queued for it.
            ui, uc = self._longest_per_object(ui, uc)
            f, c = self.arr_tid[ui], self.arr_count[ui]
            mine = (f == -1) | (f == tid)
            grow = mine & (uc > np.where(f == tid, c, 0))
            gi, gc = ui[grow], uc[grow]
            done_n = np.where(self.arr_tid[gi] == tid, self.arr_count[gi], 0)
            self.arr_tid[gi] = tid
            self.arr_count[gi] = gc
            base = objs.addr[gi] + self.data_off[gi].astype(np.uint64)
            es = np.uint64(self.dw.resolve(tid).size)
            out = self._elements(tid, base + done_n.astype(np.uint64) * es, gc - done_n)
            oi = ui[~mine]
            if len(oi):
                ob = objs.addr[oi] + self.data_off[oi].astype(np.uint64)
                loose.append(self._elements(tid, ob, uc[~mine]))
        else:
            out = np.zeros(0, np.uint64)
        rest = np.concatenate(loose) if len(loose) > 1 else loose[0]
        if len(out_away):
            out = np.concatenate([out, out_away])
        if len(rest):
            out = np.concatenate([out, self.fresh(tid, rest)])
        return out

    def _longest_per_object(
        self,
        ui: np.ndarray,
        uc: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distinct objects of ``ui`` in increasing order, the largest count queued for
        each). Increasing object order is address order: the batch that scans the elements
        then gathers the heap nearly sequentially. Large batches go through a zeroed
        per-object column (a scatter-max and one scan) instead of a sort."""
        if len(ui) < 2:
            return ui, uc
        if len(ui) * 64 < len(self.objs):
            order = np.lexsort((-uc, ui))
            ui, uc = ui[order], uc[order]
            first = np.concatenate(([True], ui[1:] != ui[:-1]))
            return ui[first], uc[first]
        # Zero pages until written, and gone after the call: not part of the pass's peak.
        sc = np.zeros(len(self.objs), dtype=np.int32)
        np.maximum.at(sc, ui, uc.astype(np.int32))  # counts: 1 .. MAX_OBJECT_ELEMS
        out_i = np.flatnonzero(sc)
        return out_i.astype(ui.dtype), sc[out_i].astype(uc.dtype)

    def words(self, addrs: np.ndarray) -> np.ndarray:
        """The word at each address (0 where unreadable), one gather over the image."""
        return self.words_multi(addrs, [0])[0]

    def words_multi(self, addrs: np.ndarray, offs: list[int]) -> np.ndarray:
        """Row k: the word at each ``addrs + offs[k]`` (0 where unreadable), every value's
        words gathered together; what the image lacks is read from memory."""
        if not len(addrs) or not offs:
            return np.zeros((len(offs), len(addrs)), dtype=np.uint64)
        self._gathered += len(addrs) * len(offs)
        if self._gathered > RELEASE_EVERY:
            # Random gathers map core pages all over the heap; hand them back now and then
            # so the resident set stays the tables (the page cache keeps the pages).
            self.image.release(0, 1 << 62)
            self._gathered = 0
        w, ok = self.image.words_multi(addrs, offs)  # a new array: fixed up in place
        if not ok.all():
            for k, j in zip(*np.nonzero(~ok), strict=True):
                try:
                    w[k, j] = self.mem.u64(int(addrs[j]) + offs[k])
                except UnreadableMemory:
                    w[k, j] = 0
        return w

    def type_object_as(self, p: int, tid: int, prio: int = P_DWARF) -> None:
        """A pointer ``p`` whose pointee type is ``tid``: type the object it addresses."""
        i = self.objs.index(p)
        if i < 0:
            self.push(p, tid)  # a global or stack value: follow it anyway
            return
        t = self.dw.resolve(tid)
        if t.name.startswith("internal/sync.node["):
            tid = self._trie_node(p, t)
            t = self.dw.resolve(tid)
        base = int(self.objs.addr[i]) + int(self.data_off[i])
        osize = int(self.objs.size[i]) - int(self.data_off[i])
        if p != base or t.size == 0:
            if self.objs.spanclass[i] == self.tiny_class and t.size < 16 and prio > self.prio[i]:
                self.assign(i, P_GUESS, self.entry("tiny block", SRC_DWARF), None, 1)
            self.push(p, tid)
            return
        if self.objs.spanclass[i] == self.tiny_class and t.size < 16:
            self.assign(i, P_GUESS, self.entry("tiny block", SRC_DWARF), None, 1)
            self.push(p, tid)
            return
        k = osize // t.size
        if k >= 2 and t.size < 16:
            # A tiny pointee in a bigger object is an embedding, not an array: follow only.
            self.push(p, tid)
            return
        if k >= 2:
            name = self.dwarf_name(tid)
            e = self.entry(f"[{k}]{name}", SRC_DWARF, k, name, tid, self.dwarf_package(tid))
            self.assign(i, P_GUESS, e, tid, k, int(self.data_off[i]))
            self.push(p, tid, k, in_object=True)
        else:
            e = self.entry(self.dwarf_name(tid), SRC_DWARF, 1, "", tid, self.dwarf_package(tid))
            self.assign(i, prio, e, tid, 1, int(self.data_off[i]))
            self.push(p, tid)

    def _trie_node(self, p: int, node: GoType) -> int:
        """``internal/sync.HashTrieMap`` (``sync.Map`` from 1.24) links ``*node[K,V]``; the
        object is an ``entry`` or an ``indirect`` that embeds it, told by ``node.isEntry``
        (``internal/sync/hashtriemap.go``). Instantiations may exist only as shapes."""
        try:
            off = next(f.offset for f in node.fields if f.name == "isEntry")
            is_entry = self.mem.u8(p + off) != 0
        except (StopIteration, UnreadableMemory):
            return node.id
        args = node.name[len("internal/sync.node[") : -1]
        kind = "entry" if is_entry else "indirect"
        shaped = ",".join(
            a if a.startswith("go.shape.") else "go.shape." + a for a in _split_args(args)
        )
        for cand in (f"internal/sync.{kind}[{args}]", f"internal/sync.{kind}[{shaped}]"):
            hit = self.dw.by_name.get(cand)
            if hit is not None:
                return hit
        return node.id

    def type_array_at(self, p: int, elem: int, n: int, name: str | None = None) -> None:
        """A slice's, channel's or map's array of ``n`` elements at ``p``."""
        if n <= 0:
            return
        i = self.objs.index(p)
        if i >= 0:
            base = int(self.objs.addr[i]) + int(self.data_off[i])
            es = self.dw.resolve(elem).size
            ename = self.dwarf_name(elem)
            if p == base and n * es <= int(self.objs.size[i]) - int(self.data_off[i]):
                cur = self.table[self.tid[i]] if self.tid[i] >= 0 else None
                label = name or f"[{n}]{ename}"
                if cur is not None and cur.source in (SRC_HEADER, SRC_LARGE) and cur.elem == ename:
                    # The header knows the element type; the slice knows the length.
                    self.tid[i] = self.entry(
                        label, cur.source, n, ename, elem, self.dwarf_package(elem)
                    )
                else:
                    e = self.entry(label, SRC_DWARF, n, ename, elem, self.dwarf_package(elem))
                    self.assign(i, P_DWARF, e, None, n, int(self.data_off[i]))
            end = int(self.objs.addr[i]) + int(self.objs.size[i])
            if es:
                n = min(n, (end - p) // es)
        self.push(p, elem, n, in_object=i >= 0)

    # ----------------------------------------------------------------- values

    def run(self) -> None:
        """Scan queued values, one type at a time, until nothing new is queued."""
        while self.pending or self.pending_arrays:
            if self.pending_arrays:
                tid, arrs = self.pending_arrays.popitem()
                starts = np.concatenate([a for a, _ in arrs])
                counts = np.concatenate([c for _, c in arrs])
                new = self.fresh_arrays(tid, starts, counts)
            else:
                tid, parts = self.pending.popitem()
                known = self.pending_new.pop(tid, [])
                cand = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else None
                new = self.fresh(tid, cand) if cand is not None else np.zeros(0, np.uint64)
                if known:
                    new = np.concatenate([*known, new])
            if not len(new):
                continue
            self.scanned += len(new)
            if self.scanned > MAX_WORK:
                raise GomemError("type propagation exceeded its work bound")
            self.batch(tid, new)

    def fresh(self, tid: int, cand: np.ndarray) -> np.ndarray:
        """The values of ``cand`` (type ``tid``) not scanned yet, now marked scanned.

        Values at an object's data start (nearly all) are remembered in ``arr_tid`` (the
        first type scanned there, alone or as an array); the rest, and a second type at the
        same start, in a set per type. Memory stays O(objects), not O(values) of Python
        objects."""
        objs = self.objs
        got = native.fresh_values(self.state, cand, tid) if self.state is not None else None
        if got is not None:  # the same rule in one compiled pass (arr_tid updated there)
            return self._with_rest(tid, [got[0]], got[1])
        idx = objs.find(cand)
        ic = np.where(idx >= 0, idx, 0)
        at_base = (idx >= 0) & (cand == objs.addr[ic] + self.data_off[ic].astype(np.uint64))
        bi = idx[at_base]
        if len(bi) > 1:
            # Distinct objects without a sort: the last writer of each stamp wins.
            order = np.arange(len(bi), dtype=np.int32)
            if self._stamp is None:
                self._stamp = np.zeros(len(objs), dtype=np.int32)
            self._stamp[bi] = order
            bi = bi[self._stamp[bi] == order]
        f = self.arr_tid[bi]
        unseen = bi[f == -1]
        self.arr_tid[unseen] = tid
        other = bi[(f != -1) & (f != tid)]
        out = [objs.addr[unseen] + self.data_off[unseen].astype(np.uint64)]
        rest = cand[~at_base]
        if len(other):
            rest = np.concatenate([rest, objs.addr[other] + self.data_off[other].astype(np.uint64)])
        return self._with_rest(tid, out, rest)

    def _with_rest(self, tid: int, out: list[np.ndarray], rest: np.ndarray) -> np.ndarray:
        """``out`` plus the values of ``rest`` (off an object start, or a second type at
        one) not yet in ``tid``'s exact set, which they join."""
        if len(rest):
            done = self.done.setdefault(tid, set())
            new = [a for a in dict.fromkeys(rest.tolist()) if a not in done]
            done.update(new)
            out.append(np.array(new, dtype=np.uint64))
        return np.concatenate(out) if len(out) > 1 else out[0]

    def batch(self, tid: int, addrs: np.ndarray) -> None:
        """Every pointer slot of ``len(addrs)`` values of one type, each slot in bulk."""
        plan = self.plans.plan(tid)
        selfptr = tuple(s.off for s in plan if s.action == "ptr" and s.arg == tid)
        nb = self._batches[tid] = self._batches.get(tid, 0) + 1
        if selfptr and nb >= CHASE_AFTER:
            more = self.chase(tid, addrs, selfptr)
            if len(more):
                extra = self.objs.addr[more] + self.data_off[more].astype(np.uint64)
                addrs = np.concatenate([addrs, self.fresh(tid, extra)])
        # Every word the plan reads, gathered value by value (one value's fields share cache
        # lines), in address order and in chunks of at most CHUNK_WORDS words: each chunk
        # reads one stretch of the heap, whose pages of the core are handed back after it.
        offs = sorted(
            {
                s.off + e
                for s in plan
                if s.action != "array"
                for e in (0, *_EXTRA_WORDS.get(s.action, ()))
            }
        )
        row = {o: k for k, o in enumerate(offs)}
        step = max(1, CHUNK_WORDS // max(len(offs), 1))
        addrs = np.sort(addrs)
        for c0 in range(0, len(addrs), step):
            part = addrs[c0 : c0 + step]
            words = self.words_multi(part, offs) if offs else None
            if words is not None and len(part) * len(offs) >= RELEASE_CHUNK:
                self.image.release(int(part[0]), int(part[-1]) + offs[-1] + 8)
            for s in plan:
                try:
                    self._slot_batch(s, part, words, row)
                except (GomemError, struct.error, IndexError, KeyError) as exc:
                    if len(self.errors) < 20:
                        self.errors.append(f"values of {self.dwarf_name(tid)}: {exc}")

    def _slot_batch(
        self, s: Slot, addrs: np.ndarray, words: np.ndarray | None, row: dict[int, int]
    ) -> None:
        """Slot ``s`` of every value at ``addrs``; ``words[row[off]]``: their words at
        ``addrs + off``."""
        if s.action == "array":
            for x in (addrs + np.uint64(s.off)).tolist():
                self.push(x, s.arg, s.n)
            return
        assert words is not None
        w = words[row[s.off]]
        if s.action == "ptr":
            self.batch_ptr(w[w != 0], s.arg)
        elif s.action == "string":
            self.batch_string(w, words[row[s.off + 8]])
        elif s.action == "slice":
            self.batch_slice(w, words[row[s.off + 16]], s.arg)
        else:
            a = addrs + np.uint64(s.off)
            for x in a[w != 0].tolist():
                try:
                    self.slot(x, self.mem.read(x, 16 + max(s.n, 8)), 0, s)
                except UnreadableMemory:
                    continue

    def chase(self, tid: int, addrs: np.ndarray, offs: tuple[int, ...]) -> np.ndarray:
        """Linked structures (``Next *T`` inside ``T``): every node reachable from ``addrs``.

        Rounds of one pointer hop would discover one list node per round. Instead, per
        self-pointer field, one gather over every object of a plausible size gives each its
        successor (an exact ``T``-sized object start, else none); reachability over those
        tables is then breadth-first while the frontier is wide (trees) and by pointer
        doubling once it stays narrow (lists: O(log n) whole-table rounds). Sound: from a
        ``T``, the field's static type says the successor is a ``T``. Returns object indices
        reached for the first time."""
        cand, pos, tabs = self._next_tables(tid, offs)
        m = len(cand)
        reached = self._reached.get(tid)
        if reached is None:
            reached = self._reached[tid] = np.zeros(m + 1, dtype=bool)
        seeds = pos(self.objs.find(addrs))
        seeds = seeds[(seeds >= 0) & ~reached[np.where(seeds >= 0, seeds, m)]]
        if not len(seeds):
            return np.zeros(0, dtype=np.int64)
        before = reached.copy()
        reached[seeds] = True
        frontier = seeds
        narrow = 0
        rounds = 0
        while len(frontier) and rounds < MAX_WORK:
            rounds += 1
            nxt = np.concatenate([t[frontier] for t in tabs])
            nxt = nxt[~reached[nxt]]
            if len(nxt) > 1:
                nxt = np.unique(nxt)
            reached[nxt] = True
            reached[m] = False
            frontier = nxt
            narrow = narrow + 1 if len(frontier) < 64 else 0
            if narrow > 32 and len(frontier):
                prev = reached.copy()
                for t in tabs:
                    self._closure(reached, t, m)
                frontier = np.flatnonzero(reached & ~prev)
                narrow = 0
        return cand[np.flatnonzero(reached[:m] & ~before[:m])]

    @staticmethod
    def _closure(reached: np.ndarray, table: np.ndarray, m: int) -> None:
        """``reached`` closed under repeated ``table`` (pointer doubling: after round r, all
        nodes within 2**r hops); ``table[m] == m`` is the sink."""
        j = table.copy()
        for _ in range(max(1, int(m).bit_length() + 1)):
            src = np.flatnonzero(reached)
            reached[j[src]] = True
            reached[m] = False
            j = j[j]

    def _next_tables(
        self, tid: int, offs: tuple[int, ...]
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], list[np.ndarray]]:
        """(candidate object indices, object -> candidate position, successor tables)."""
        hit = self._nexts.get(tid)
        if hit is not None:
            return hit
        t = self.dw.resolve(tid)
        objs = self.objs
        sz = objs.size.astype(np.int64)
        cand = np.flatnonzero((sz >= t.size) & (sz < 2 * t.size + 8) & (objs.spanclass & 1 == 0))
        m = len(cand)

        def pos(idx: np.ndarray) -> np.ndarray:
            """Candidate position of each object index (-1 when not a candidate)."""
            if m == 0:
                return np.full(len(idx), -1, dtype=np.int64)
            jc = np.minimum(np.searchsorted(cand, idx), m - 1)
            return np.where((idx >= 0) & (cand[jc] == idx), jc, -1)

        base = objs.addr[cand] + self.data_off[cand].astype(np.uint64)
        tabs = []
        for off in offs:
            w = self.words(base + np.uint64(off))
            k = objs.find(w)
            kc = np.where(k >= 0, k, 0)
            pk = pos(k)
            good = (pk >= 0) & (w == objs.addr[kc] + self.data_off[kc].astype(np.uint64))
            tab = np.full(m + 1, m, dtype=np.int64)
            tab[np.flatnonzero(good)] = pk[good]
            tabs.append(tab)
        hit = self._nexts[tid] = (cand, pos, tabs)
        return hit

    def assign_many(self, idx: np.ndarray, prio: int, entry: int) -> None:
        """Bulk :meth:`assign` without follow-up (callers queue the contents themselves)."""
        if not len(idx):
            return
        m = self.prio[idx] < prio
        sel = idx[m]
        self.prio[sel] = prio
        self.tid[sel] = entry

    def batch_ptr(self, w: np.ndarray, tid: int) -> None:
        """Pointers of static type ``*T`` (``tid`` = T): type the objects they address."""
        if not len(w):
            return
        t = self.dw.resolve(tid)
        if t.name.startswith("internal/sync.node[") or t.size == 0:
            for p in w.tolist():
                self.type_object_as(p, tid)
            return
        objs = self.objs
        if self.state is not None:
            # The rule below, and fresh() of the values it queues, in one compiled pass.
            key = self.key(tid)
            follow = bool(self.plans.plan(key))
            e_tiny = self.entry("tiny block", SRC_DWARF) if t.size < 16 else -1
            e_one = self.entry(self.dwarf_name(tid), SRC_DWARF, 1, "", tid, self.dwarf_package(tid))
            got = native.ptr_batch(
                self.state, w, t.size, self.tiny_class, key, follow, e_tiny, e_one, P_GUESS, P_DWARF
            )
            if got is not None:
                guess, new, rest = got
                for p in guess.tolist():
                    self.type_object_as(p, tid)
                if follow and (len(new) or len(rest)):
                    # The type's place in ``pending`` (queue order) even with only new values.
                    parts = self.pending.setdefault(key, [])
                    if len(new):
                        self.pending_new.setdefault(key, []).append(new)
                    if len(rest):
                        parts.append(rest)
                return
        idx = objs.find(w)
        inside = idx >= 0
        self.push_many(w[~inside], tid)  # globals, stacks: follow their contents
        w, idx = w[inside], idx[inside]
        if not len(w):
            return
        off = self.data_off[idx]
        base = objs.addr[idx] + off.astype(np.uint64)
        osize = objs.size[idx].astype(np.int64) - off
        tiny = (objs.spanclass[idx] == self.tiny_class) & (t.size < 16)
        if tiny.any():
            self.assign_many(idx[tiny], P_GUESS, self.entry("tiny block", SRC_DWARF))
        k = osize // t.size
        exact = (w == base) & ~tiny
        single = exact & (k < 2)
        guess = exact & (k >= 2) & (t.size >= 16)
        if single.any():
            e = self.entry(self.dwarf_name(tid), SRC_DWARF, 1, "", tid, self.dwarf_package(tid))
            self.assign_many(idx[single], P_DWARF, e)
        for p in w[guess].tolist():
            self.type_object_as(p, tid)
        self.push_many(w[~guess], tid)

    def batch_string(self, p: np.ndarray, n: np.ndarray) -> None:
        if self.state is not None and native.string_batch(
            self.state,
            p,
            n,
            self.tiny_class,
            self.entry("tiny block", SRC_DWARF),
            self.entry("string data", SRC_DWARF),
            P_GUESS,
            P_DWARF,
        ):
            return
        ok = (p != 0) & (n > 0) & (n < np.uint64(1 << 40))
        p, n = p[ok], n[ok]
        if not len(p):
            return
        idx = self.objs.find(p)
        inside = idx >= 0
        p, n, idx = p[inside], n[inside], idx[inside]
        if not len(p):
            return
        tiny = (self.objs.spanclass[idx] == self.tiny_class) & (n < 16)
        exact = ~tiny & (p == self.objs.addr[idx])
        interior = ~tiny & ~exact & ((self.objs.spanclass[idx] & 1) == 1)
        self.assign_many(idx[tiny], P_GUESS, self.entry("tiny block", SRC_DWARF))
        self.assign_many(idx[exact], P_DWARF, self.entry("string data", SRC_DWARF))
        # A substring of a larger noscan buffer (strings.Split, runtime.Stack output sliced):
        # the bytes are string data, whatever their first user was.
        self.assign_many(idx[interior], P_GUESS, self.entry("string data", SRC_DWARF))

    def batch_slice(self, p: np.ndarray, cap: np.ndarray, elem: int) -> None:
        """Slices ``[]E``: the backing array is ``[cap]E``; its elements are scanned."""
        capi = cap.view(np.int64)
        ok = (p != 0) & (capi > 0) & (capi < 1 << 40)
        if not elem or not ok.any():
            return
        p, capi = p[ok], capi[ok]
        es = self.dw.resolve(elem).size
        objs = self.objs
        idx = objs.find(p)
        inside = idx >= 0
        ic = np.where(inside, idx, 0)
        off = self.data_off[ic]
        base = objs.addr[ic] + off.astype(np.uint64)
        room = objs.size[ic].astype(np.int64) - off
        exact = inside & (p == base) & (capi * es <= room)
        if exact.any():
            src = np.array([e.source in (SRC_HEADER, SRC_LARGE) for e in self.table] + [False])
            cur = self.tid[idx[exact]]
            hdr = src[np.where(cur >= 0, cur, len(self.table))]
            ename = self.dwarf_name(elem)
            pkg = self.dwarf_package(elem)
            for pp, c in zip(p[exact][hdr].tolist(), capi[exact][hdr].tolist(), strict=True):
                self.type_array_at(pp, elem, c)  # the header knows T, the slice the length
            ix, cx = idx[exact][~hdr], capi[exact][~hdr]
            for c in np.unique(cx).tolist():
                e = self.entry(f"[{c}]{ename}", SRC_DWARF, c, ename, elem, pkg)
                self.assign_many(ix[cx == c], P_DWARF, e)
        if not self.plans.plan(elem) or not es:
            return
        end = (objs.addr[ic] + objs.size[ic]).view(np.int64)
        n = np.where(inside, np.minimum(capi, (end - p.view(np.int64)) // es), capi)
        n = np.clip(n, 0, np.where(inside, MAX_OBJECT_ELEMS, MAX_ARRAY_FOLLOW))
        self.push_arrays(p[n > 0], n[n > 0], elem)

    def slot(self, a: int, blob: bytes, o: int, s: Slot) -> None:
        w0 = int.from_bytes(blob[o : o + 8], "little")
        act = s.action
        if act == "ptr":
            if w0:
                self.type_object_as(w0, s.arg)
        elif act == "string":
            n = int.from_bytes(blob[o + 8 : o + 16], "little")
            if w0 and 0 < n < 1 << 40:
                i = self.objs.index(w0)
                if i >= 0:
                    tiny = self.objs.spanclass[i] == self.tiny_class and n < 16
                    if tiny:
                        self.assign(i, P_GUESS, self.entry("tiny block", SRC_DWARF), None, 1)
                    elif w0 == int(self.objs.addr[i]):
                        self.assign(i, P_DWARF, self.entry("string data", SRC_DWARF), None, 1)
                    elif self.objs.spanclass[i] & 1:
                        # A substring of a larger noscan buffer (strings.Split, runtime.Stack
                        # output sliced): the bytes are string data, their first user unknown.
                        self.assign(i, P_GUESS, self.entry("string data", SRC_DWARF), None, 1)
        elif act == "slice":
            cap = int.from_bytes(blob[o + 16 : o + 24], "little", signed=True)
            if w0 and 0 < cap < 1 << 40 and s.arg:
                self.type_array_at(w0, s.arg, cap)
        elif act in ("eface", "iface"):
            data = int.from_bytes(blob[o + 8 : o + 16], "little")
            if w0:
                self.iface(w0, data, act == "iface")
        elif act == "map":
            if w0:
                self.map_header(w0, s.arg)
        elif act == "chan":
            if w0:
                self.chan(w0, s.arg)
        elif act == "func":
            if w0:
                self.closure(w0)
        elif act == "array":
            self.push(a, s.arg, s.n)
        elif act == "pool":
            n = int.from_bytes(blob[o + s.n : o + s.n + 8], "little")
            if w0 and 0 < n <= 1 << 16:
                self.type_array_at(w0, s.arg, n)

    def iface(self, word: int, data: int, itab: bool) -> None:
        try:
            rt = self.tr.itab_type(word) if itab else self.tr.type_at(word)
        except TypeError_:
            return
        if not data:
            return
        tid = self.dwarf_of_rtype(rt.addr)
        if rt.direct:
            if tid is None:
                return
            # Pointer-shaped: the data word is the value (a pointer, map, chan or func).
            for s in self.plans.plan(tid):
                if s.off == 0:
                    self.slot(0, data.to_bytes(8, "little") + bytes(16), 0, s)
            return
        if tid is not None:
            self.type_object_as(data, tid)
            return
        i = self.objs.index(data)
        if i >= 0 and data == int(self.objs.addr[i]):
            self.assign(i, P_DWARF, self.entry(go_name(rt.name), SRC_DWARF), None, 1)

    def map_header(self, p: int, hdr_tid: int) -> None:
        hdr_t = self.dw.resolve(hdr_tid)
        i = self.objs.index(p)
        if i >= 0 and p == int(self.objs.addr[i]):
            e = self.entry(
                self.dwarf_name(hdr_tid), SRC_DWARF, 1, "", hdr_tid, self.dwarf_package(hdr_tid)
            )
            self.assign(i, P_DWARF, e, None, 1)
        key = (p, hdr_tid)
        if key in self.special:
            return
        self.special.add(key)
        hdr = Val(self.mem, self.dw, p, hdr_t)
        try:
            if map_kind(hdr_t) == "classic":
                self.push(p, hdr_tid)  # extra (overflow lists) by the generic plan
                bt = self.dw.resolve(hdr["buckets"].type.id).target
                if bt is None:
                    return
                for base, nb in classic_bucket_arrays(hdr):
                    label = self.dwarf_name(bt) if nb == 1 else None
                    self.type_array_at(base, bt, nb, label)
            else:
                lay = swiss_layout(hdr)
                n = hdr["dirLen"].int()
                if n > 0:
                    ptr_table = self.dw.resolve(hdr["dirPtr"].type.id).target
                    if ptr_table is not None:
                        self.type_array_at(hdr["dirPtr"].ptr(), ptr_table, n)
                for base, ng in swiss_groups(hdr, lay):
                    label = self.dwarf_name(lay.group.id) if ng == 1 else None
                    self.type_array_at(base, lay.group.id, ng, label)
        except (MapError, UnreadableMemory, LayoutError) as exc:
            if len(self.errors) < 20:
                self.errors.append(f"map at {p:#x}: {exc}")

    def chan(self, p: int, hchan_tid: int) -> None:
        key = (p, hchan_tid)
        if key in self.special:
            return
        i = self.objs.index(p)
        if i >= 0 and p == int(self.objs.addr[i]):
            e = self.entry(
                self.dwarf_name(hchan_tid),
                SRC_DWARF,
                1,
                "",
                hchan_tid,
                self.dwarf_package(hchan_tid),
            )
            self.assign(i, P_DWARF, e, None, 1)
        self.push(p, hchan_tid)  # recvq/sendq sudogs, timer
        self.special.add(key)
        try:
            h = Val(self.mem, self.dw, p, self.dw.resolve(hchan_tid))
            n, buf = h["dataqsiz"].int(), h["buf"].ptr()
            et = h["elemtype"].ptr()
        except (UnreadableMemory, LayoutError):
            return
        if not n or not buf or not et or n > 1 << 32:
            return
        elem = self.dwarf_of_rtype(et)
        if elem is None or not self.dw.resolve(elem).size:
            return
        if i >= 0 and self.objs.index(buf) == i:
            self.push(buf, elem, n)  # buffer allocated with the hchan (pointer-free elements)
        else:
            self.type_array_at(buf, elem, n)

    def closure(self, p: int) -> None:
        i = self.objs.index(p)
        if i < 0 or p != int(self.objs.addr[i]) or self.prio[i] >= P_DWARF:
            return
        try:
            pc = self.mem.u64(p)
        except UnreadableMemory:
            return
        name = self._func_names.get(pc)
        if name is None:
            f = self.proc.pclntab.find_func(pc)
            name = self._func_names[pc] = f.name if f is not None else ""
        if name:
            self.assign(
                i,
                P_DWARF,
                self.entry(f"closure {name}", SRC_DWARF, package=package_of(name)),
                None,
                1,
            )
            recv = self._method_value_receiver(name)
            if recv is not None:
                self.push(p + 8, recv)

    def _method_value_receiver(self, name: str) -> int | None:
        """A method value ``x.M`` compiles to a closure ``T.M-fm`` / ``(*T).M-fm`` whose one
        captured variable, right after the code pointer, is the receiver (cmd/compile
        ``methodValueWrapper``): its DWARF type is the receiver type."""
        if not name.endswith("-fm"):
            return None
        head = name[: -len("-fm")]
        dot = head.rfind(".")
        if dot <= 0:
            return None
        recv = head[:dot]
        if recv.endswith(")") and "(*" in recv:
            pkg, _, rest = recv.partition("(*")
            recv = "*" + pkg + rest[:-1]
        return self.dw.by_name.get(recv)

    # ----------------------------------------------------------------- sources

    def headers(self) -> None:
        """Malloc headers and largeType (Go 1.22+), vectorised per span."""
        dw = self.dw
        limit = dw.constants.get("runtime.minSizeForMallocHeader")
        has_large = dw.has_field("runtime.mspan", "largeType")
        if limit is None and not has_large:
            self.notes.append("Go 1.21: no malloc headers; types come from DWARF propagation")
            return
        walk = cached_walk(self.proc)
        objs = self.objs
        # Every allocated object of a scan span with elemsize > limit: its first word.
        big = (objs.size > np.uint64(limit or 0)) & ((objs.spanclass & 1) == 0)
        big &= (objs.spanclass >> 1) != 0
        if limit is not None and big.any():
            idx = np.flatnonzero(big)
            words = self.words(objs.addr[idx])
            for taddr in np.unique(words).tolist():
                sel = idx[words == taddr]
                self._typed_many(sel, taddr, SRC_HEADER, 8)
        for s in walk.in_use():
            if s.sizeclass == 0 and not s.noscan and has_large and s.large_type:
                j = objs.index(s.base)
                if j >= 0:
                    self._typed_by(j, s.large_type, SRC_LARGE, 0)

    def _header_type(self, taddr: int) -> RType | None:
        """The runtime type a malloc header or largeType names, if it decodes to a sized type."""
        if not taddr:
            return None
        try:
            rt = self.tr.type_at(taddr)
        except TypeError_:
            return None
        return rt if rt.size else None

    def _typed_many(self, sel: np.ndarray, taddr: int, source: str, off: int) -> None:
        """Objects ``sel`` whose header says ``taddr``: one entry per array length, in bulk."""
        rt = self._header_type(taddr)
        if rt is None:
            return
        objs = self.objs
        tid = self.dwarf_of_rtype(taddr)
        elem = go_name(rt.name)
        pkg = self.dwarf_package(tid) if tid is not None else package_of(rt.name)
        data = objs.size[sel].astype(np.int64) - off
        ks = np.maximum(data // rt.size, 1)
        for k in np.unique(ks).tolist():
            part = sel[ks == k]
            name = elem if k == 1 else f"[{k}]{elem}"
            e = self.entry(name, source, k, elem if k > 1 else "", tid, pkg)
            m = self.prio[part] < P_HEADER
            part = part[m]
            self.prio[part] = P_HEADER
            self.tid[part] = e
            self._set_data_off(part, off)
            if tid is None or not self.plans.plan(tid) or not len(part):
                continue
            starts = objs.addr[part] + np.uint64(off)
            n = min(k, MAX_OBJECT_ELEMS)
            self.push_arrays(starts, np.full(len(starts), n, np.int64), tid)

    def _typed_by(self, j: int, taddr: int, source: str, off: int) -> None:
        rt = self._header_type(taddr)
        if rt is None:
            return
        data = int(self.objs.size[j]) - off
        k = max(data // rt.size, 1)
        elem = go_name(rt.name)
        tid = self.dwarf_of_rtype(taddr)
        pkg = self.dwarf_package(tid) if tid is not None else package_of(rt.name)
        name = elem if k == 1 else f"[{k}]{elem}"
        e = self.entry(name, source, k, elem if k > 1 else "", tid, pkg)
        self.assign(j, P_HEADER, e, tid, k, off)

    def finalizers(self) -> None:
        """Objects with a finalizer: ``specialfinalizer.ot`` is ``*T`` of the object."""
        dw = self.dw
        kind = dw.constants.get("runtime._KindSpecialFinalizer")
        if kind is None or dw.find("runtime.specialfinalizer") is None:
            return
        off_next = dw.offset("runtime.special", "next")
        off_off = dw.offset("runtime.special", "offset")
        off_kind = dw.offset("runtime.special", "kind")
        size_off = dw.resolve(dw.field("runtime.special", "offset").type).size
        off_ot = dw.offset("runtime.specialfinalizer", "ot")
        off_fn = dw.offset("runtime.specialfinalizer", "fn")
        for s in cached_walk(self.proc).in_use():
            sp = s.specials
            hops = 0
            while sp and hops < MAX_SPECIALS_PER_SPAN:
                hops += 1
                try:
                    k = self.mem.u8(sp + off_kind)
                    o = self.mem.uint(sp + off_off, size_off)
                    if k == kind:
                        obj = s.base + o
                        ot = self.mem.u64(sp + off_ot)
                        fn = self.mem.u64(sp + off_fn)
                        self._finalized(obj, ot)
                        if fn:
                            self.closure(fn)
                    sp = self.mem.u64(sp + off_next)
                except UnreadableMemory:
                    break

    def _finalized(self, obj: int, ot: int) -> None:
        try:
            elem = self.tr.elem(self.tr.type_at(ot))
        except TypeError_:
            return
        if elem is None:
            return
        i = self.objs.index(obj)
        if i < 0 or obj != int(self.objs.addr[i]):
            return
        tid = self.dwarf_of_rtype(elem.addr)
        e = self.entry(go_name(elem.name), SRC_FINALIZER, 1, "", tid, package_of(elem.name))
        self.assign(i, P_FINALIZER, e, tid, 1)

    def globals(self) -> None:
        for v in self.dw.globals.values():
            if v.type in self.dw.types:
                self.push(v.addr, v.type)

    # ----------------------------------------------------------------- leftovers

    def signatures(self) -> None:
        """Name every untyped object by size and pointer mask, in bulk per object size.

        Go 1.22+: objects of at most 512 B in a scan span have one heap bit per word at the
        end of their one-page span (``heapBitsInSpan``; from 1.26 just before the Green Tea
        inline mark bits). Bit ``k`` of the mask is word ``k`` of the object."""
        objs = self.objs
        # Work on the untyped objects only (usually a small fraction of the heap).
        untyped = np.flatnonzero(self.tid < 0)
        sizes = objs.size[untyped].astype(np.int64)
        noscan = (objs.spanclass[untyped] & 1) == 1
        for size in np.unique(sizes[noscan]).tolist():
            sel = untyped[noscan & (sizes == size)]
            self.tid[sel] = self.entry(f"<unknown {size}B noscan>", SRC_INFERRED)
        dw = self.dw
        limit = dw.constants.get("runtime.minSizeForMallocHeader")
        im = getattr(cached_walk(self.proc), "green_tea", None)
        page = dw.constant("runtime.pageSize")
        scan = ~noscan
        for size in np.unique(sizes[scan]).tolist():
            sel = untyped[scan & (sizes == size)]
            if limit is None or size > limit or size % 8:
                self.tid[sel] = self.entry(f"<unknown {size}B scan>", SRC_INFERRED)
                continue
            tail = im.size if im is not None and im.used_by(size) else 0
            nw = size // 8
            for lo in range(0, len(sel), 1 << 18):
                part = sel[lo : lo + (1 << 18)]
                a = objs.addr[part].astype(np.int64)
                pbase = a & ~(page - 1)
                bm = pbase + page - tail - page // 64
                wi = ((a - pbase) // 8)[:, None] + np.arange(nw, dtype=np.int64)[None, :]
                baddr = bm[:, None] + wi // 8
                words = self.words((baddr & ~7).astype(np.uint64).ravel()).reshape(baddr.shape)
                byte = (words >> ((baddr & 7) * 8).astype(np.uint64)) & np.uint64(0xFF)
                bits = (byte >> (wi % 8).astype(np.uint64)) & np.uint64(1)
                mask = (bits << np.arange(nw, dtype=np.uint64)[None, :]).sum(axis=1)
                for m in np.unique(mask).tolist():
                    name = f"<unknown {size}B ptrmask {bin(m)}>"
                    self.tid[part[mask == m]] = self.entry(name, SRC_INFERRED)


def _image(proc: GoProcess) -> HeapImage:
    """Words of the heap and the writable data sections, for gathers (the core's mmap itself
    on a core; one merged read of spans and sections on a live target)."""
    regions = [(sp.base, sp.end) for sp in cached_walk(proc).in_use()]
    for name in (".data", ".bss", ".noptrdata", ".noptrbss"):
        sec = proc.binary.sections.get(name)
        if sec is not None and sec.size:
            # Word-aligned (the image is viewed as uint64); sections end inside their page.
            regions.append((sec.addr & ~7, (sec.addr + sec.size + 7) & ~7))
    return heap_image(proc, regions)


def _split_args(s: str) -> list[str]:
    """Type arguments ``A,B`` split at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur]


def _infer(proc: GoProcess) -> HeapTypes:
    import time

    t0 = time.perf_counter()
    objs = object_table(proc)
    inf = _Inferrer(proc, objs)
    inf.headers()
    inf.finalizers()
    inf.run()
    inf.globals()
    inf.run()
    inf.signatures()
    # The pass gathered words all over the core's mapping: hand those pages back (the page
    # cache keeps them) so the resident set is the tables, not the core.
    inf.image.release(0, 1 << 62)
    ht = HeapTypes(objs, inf.tid, inf.table, inf.data_off, inf.notes, inf.errors)
    ht.seconds = time.perf_counter() - t0
    return ht


HEAP_TYPES: Lazy[HeapTypes] = Lazy("types", _infer)


def heap_types(proc: GoProcess) -> HeapTypes:
    """Types of every heap object of this process snapshot (computed once)."""
    return HEAP_TYPES(proc)
