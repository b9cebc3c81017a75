"""Pending defers of a goroutine and the memory their closures keep alive.

A Go function's defers live in one of three places (runtime/panic.go, cmd/compile ssagen):

- **heap** ``_defer`` records (``deferproc``: a defer in a loop, or too many defers), linked
  from ``g._defer``; ``d.heap`` is true;
- **stack** ``_defer`` records (``deferprocStack``: in the deferring frame), on the same list;
- **open-coded** defers (at most 8 per function, none in loops): no record at all. The frame
  holds a ``deferBits`` byte (bit *i* set: defer statement *i* ran and its call is pending)
  and one closure slot per defer statement. ``FUNCDATA_OpenCodedDeferInfo`` says where, as
  offsets below the frame's ``varp`` (``fp - 16`` on amd64: return address, saved BP):

  - Go 1.21 (``emitOpenDeferInfo`` writes ``dvarint``s): deferBitsOffset, nDefers, then the
    closure offset of each defer, *last defer first* (``runOpenDeferFrame`` reads them for
    ``i = nDefers-1 .. 0``);
  - Go 1.22+: deferBitsOffset, slotsOffset (uvarints); slot *i* is at
    ``varp - slotsOffset + 8*i`` (``(*_panic).initOpenCodedDefers``). The count is not
    recorded: pending ones are exactly the set bits.

  Slots are zeroed on function entry (``openDeferSave`` sets ``Needzero``), so a non-zero slot
  whose bit is clear was reached and has already run (by a panic or ``runtime.Goexit``, since
  the frame is still on the stack).

Record layouts come from DWARF (``runtime._defer`` lost ``started``/``openDefer``/``_panic``/
``fd``/``varp``/``framepc`` and gained ``rangefunc``/``head`` in 1.22). In Go 1.21 a panic
also inserts ``openDefer`` records for frames with open-coded defers (``addOneOpenDeferFrame``);
they describe a frame, not a defer, and are reported as kind ``open-frame``.

A deferred call is a ``funcval``: a pointer to a closure object whose first word is the code
pointer and whose other words are the captured variables. For a defer with arguments the
compiler generates a wrapper closure (``pkg.F.deferwrapN``, ``pkg.F.funcN`` in 1.21) with
funcID ``wrapper``; gomem names the function the wrapper calls (from its inline tree or
its direct ``CALL`` instructions). The closure's size comes from the frame's stack-object
table when it is on the stack (exact, with its pointer map), from the heap span's element size
when it is on the heap (inferred: the size class, at least the closure's size), and is one word
for a static funcval (a function without captures).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.unwind import Frame, goroutine_backtrace
from gdb_gomem.runtime.spans import heap_geometry
from gdb_gomem.symbols.pclntab import (
    FUNCDATA_INLTREE,
    FUNCDATA_OPEN_CODED_DEFER_INFO,
    FUNCDATA_STACK_OBJECTS,
    Func,
    PclntabError,
    func_id_name,
)
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.memory import Memory
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

#: Bound on one goroutine's _defer list (a defer in a loop can make long ones; a cycle or a
#: wild pointer must not make an endless one).
MAX_DEFERS = 1 << 20
#: At most 8 open-coded defers per function (cmd/compile: maxOpenDefers).
MAX_OPEN_DEFERS = 8
#: Captured words shown per closure.
MAX_CAPTURE_WORDS = 64
#: Stack objects per frame read at most.
MAX_STACK_OBJECTS = 4096

_D_FIELDS = ("heap", "sp", "pc", "fn", "link")
_D_OPTIONAL = ("started", "openDefer", "_panic", "fd", "varp", "framepc", "rangefunc", "head")

#: Runtime helpers a defer wrapper calls besides the deferred function.
_HELPER_PREFIXES = (
    "runtime.morestack",
    "runtime.gcWriteBarrier",
    "runtime.panic",
    "runtime.goPanic",
    "runtime.wbZero",
    "runtime.wbMove",
    "runtime.racefunc",
    "runtime.duff",
)


def read_varint(mem: Memory, addr: int, limit: int = 5) -> tuple[int, int]:
    """runtime.readvarintUnsafe: a uvarint at ``addr``; returns (value, next address)."""
    v = 0
    shift = 0
    for i in range(limit):
        b = mem.u8(addr + i)
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, addr + i + 1
        shift += 7
    raise GomemError(f"bad varint in open-coded defer info at {addr:#x}")


# ---------------------------------------------------------------------- heap spans


class HeapLookup:
    """Address -> heap span (``mheap_.arenas[l1][l2].spans[page]``), as runtime.spanOf does.

    Constants come from DWARF (``runtime.heapArenaBytes``, ``arenaL1Bits``/``arenaL2Bits``,
    ``arenaBaseOffset`` ...); span fields from ``runtime.mspan``'s DWARF layout.
    """

    def __init__(self, proc: GoProcess) -> None:
        dw = proc.dw
        self.proc = proc
        self.mem = proc.mem
        c = dw.constants
        self.geo = heap_geometry(dw)
        self.spans_off = dw.offset("runtime.heapArena", "spans")
        self.span = Layout(
            dw,
            "runtime.mspan",
            ("startAddr", "npages", "elemsize", "limit"),
            ("state.s", "state", "spanclass", "nelems"),
        )
        self.in_use = c.get("runtime.mSpanInUse", 1)
        mh = proc.global_("runtime.mheap_")
        self.arenas_addr = mh["arenas"].addr
        self._l2: dict[int, int] = {}
        self._spans: dict[int, tuple[int, int, int, int] | None] = {}

    def _l2_array(self, l1: int) -> int:
        a = self._l2.get(l1)
        if a is None:
            a = self.mem.u64(self.arenas_addr + 8 * l1)
            self._l2[l1] = a
        return a

    def span_of(self, p: int) -> tuple[int, int, int, int] | None:
        """(span addr, startAddr, elemsize, limit) of the in-use span holding ``p``, or None."""
        geo = self.geo
        ri = geo.arena_index(p)
        if ri >> (geo.l1_bits + geo.l2_bits):
            return None
        l1, l2 = geo.split(ri)
        try:
            l2arr = self._l2_array(l1)
            if not l2arr:
                return None
            ha = self.mem.u64(l2arr + 8 * l2)
            if not ha:
                return None
            page = (p // geo.page_size) % geo.pages_per_arena
            s = self.mem.u64(ha + self.spans_off + 8 * page)
        except UnreadableMemory:
            return None
        if not s:
            return None
        if s in self._spans:
            info = self._spans[s]
        else:
            info = None
            try:
                raw = self.mem.read(s, self.span.size)
                lay = self.span
                state = lay.get(raw, "state.s", lay.get(raw, "state", self.in_use))
                if state == self.in_use:
                    info = (
                        s,
                        lay.get(raw, "startAddr"),
                        lay.get(raw, "elemsize"),
                        lay.get(raw, "limit"),
                    )
            except UnreadableMemory:
                info = None
            self._spans[s] = info
        if info is None or info[2] <= 0 or not info[1] <= p < max(info[3], info[1] + info[2]):
            return None
        return info

    def object_of(self, p: int) -> tuple[int, int] | None:
        """(object base, element size) of the heap slot holding ``p``, or None."""
        sp = self.span_of(p)
        if sp is None:
            return None
        _s, start, elem, _limit = sp
        return start + (p - start) // elem * elem, elem


def _build_heap_lookup(proc: GoProcess) -> HeapLookup | None:
    try:
        return HeapLookup(proc)
    except (GomemError, KeyError):
        return None


HEAP_LOOKUP: Lazy[HeapLookup | None] = Lazy("heap lookup", _build_heap_lookup)


def heap_lookup(proc: GoProcess) -> HeapLookup | None:
    return HEAP_LOOKUP(proc)


# ---------------------------------------------------------------------- results


@dataclass
class Pointee:
    """Where a captured pointer word points."""

    where: str  # heap, stack, static, unknown
    base: int = 0
    size: int | None = None
    what: str = ""  # e.g. the function of a code pointer, the frame of a stack address

    def as_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "base": f"{self.base:#x}" if self.base else None,
            "size": self.size,
            "what": self.what or None,
        }


@dataclass
class Capture:
    offset: int
    word: int
    points_to: Pointee | None

    def as_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "word": f"{self.word:#x}",
            "points_to": self.points_to.as_json() if self.points_to else None,
        }


@dataclass
class Closure:
    """The funcval of a deferred call and what it keeps alive."""

    addr: int
    func: str  # the code pointer's function
    where: str  # static, heap, stack, unknown
    size: int | None = None
    size_source: str = ""  # how size was found (exact or inferred)
    pointer_source: str = ""  # how the captured pointer words were told from scalars
    captures: list[Capture] = field(default_factory=list)
    calls: str | None = None  # the function a compiler-generated defer wrapper calls

    @property
    def deferred(self) -> str:
        """The function the defer statement names, as far as gomem can tell."""
        return self.calls or self.func

    @property
    def retained(self) -> int:
        """Bytes kept alive: the closure object plus distinct heap objects it points to."""
        total = self.size if self.where == "heap" and self.size else 0
        seen = set()
        for c in self.captures:
            p = c.points_to
            if p and p.where == "heap" and p.size and p.base not in seen:
                seen.add(p.base)
                total += p.size
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "addr": f"{self.addr:#x}",
            "func": self.func,
            "calls": self.calls,
            "where": self.where,
            "size": self.size,
            "size_source": self.size_source,
            "pointer_source": self.pointer_source or None,
            "captures": [c.as_json() for c in self.captures],
            "retained_heap_bytes": self.retained,
        }


@dataclass
class DeferRecord:
    """One ``runtime._defer`` on ``g._defer``."""

    addr: int
    kind: str  # heap, stack, open-frame (1.21 openDefer), rangefunc
    sp: int
    pc: int
    fn: int
    frame_func: str  # the function whose defer this is (from pc)
    defer_file: str = ""  # the defer statement (pc is deferproc's return address)
    defer_line: int = 0
    frame_file: str = ""  # where the deferring frame is now (from the backtrace)
    frame_line: int = 0
    closure: Closure | None = None
    record_size: int | None = None  # heap records: the span's element size
    extra: dict[str, Any] = field(default_factory=dict)  # version-specific fields

    def as_json(self) -> dict[str, Any]:
        d = {
            "kind": self.kind,
            "record": f"{self.addr:#x}",
            "record_size": self.record_size,
            "frame": self.frame_func,
            "file": self.frame_file,
            "line": self.frame_line,
            "defer_file": self.defer_file,
            "defer_line": self.defer_line,
            "sp": f"{self.sp:#x}",
            "pc": f"{self.pc:#x}",
            "fn": f"{self.fn:#x}" if self.fn else None,
            "func": self.closure.func if self.closure else None,
            "deferred": self.closure.deferred if self.closure else None,
            "closure": self.closure.as_json() if self.closure else None,
        }
        d.update(self.extra)
        return d


@dataclass
class OpenSlot:
    index: int
    addr: int
    pending: bool
    closure: Closure | None
    inferred: bool = False  # a slot index past the highest pending one, found by its value

    @property
    def state(self) -> str:
        if self.pending:
            return "pending"
        return "ran" if self.closure else "not reached"


@dataclass
class OpenFrame:
    """A frame of a function with open-coded defers."""

    func: str
    file: str
    line: int
    sp: int
    fp: int
    varp: int
    deferbits_addr: int
    deferbits: int
    ndefers: int | None  # known in 1.21 only
    slots: list[OpenSlot] = field(default_factory=list)

    @property
    def pending(self) -> list[OpenSlot]:
        return [s for s in self.slots if s.pending]

    def as_json(self) -> dict[str, Any]:
        return {
            "func": self.func,
            "file": self.file,
            "line": self.line,
            "sp": f"{self.sp:#x}",
            "varp": f"{self.varp:#x}",
            "deferbits_addr": f"{self.deferbits_addr:#x}",
            "deferbits": self.deferbits,
            "ndefers": self.ndefers,
            "slots": [
                {
                    "index": s.index,
                    "addr": f"{s.addr:#x}",
                    "state": s.state,
                    "inferred": s.inferred,
                    "func": s.closure.func if s.closure else None,
                    "deferred": s.closure.deferred if s.closure else None,
                    "closure": s.closure.as_json() if s.closure else None,
                }
                for s in self.slots
            ],
        }


@dataclass
class GoroutineDefers:
    goid: int
    records: list[DeferRecord] = field(default_factory=list)
    open_frames: list[OpenFrame] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = {"heap": 0, "stack": 0, "open": 0}
        for r in self.records:
            if r.kind in c:
                c[r.kind] += 1
        c["open"] = sum(len(f.pending) for f in self.open_frames)
        return c

    @property
    def any(self) -> bool:
        return bool(self.records or any(f.pending for f in self.open_frames) or self.errors)

    def pending(self) -> list[dict[str, Any]]:
        """Every pending deferred call, innermost (next to run) first."""
        items: list[tuple[int, int, dict[str, Any]]] = []
        for i, r in enumerate(self.records):
            if r.kind == "open-frame":
                continue
            items.append((r.sp, i, r.as_json()))
        for f in self.open_frames:
            # Within a frame the runtime runs the highest set bit first.
            for s in sorted(f.pending, key=lambda s: -s.index):
                items.append(
                    (
                        f.sp,
                        -1 - s.index,
                        {
                            "kind": "open",
                            "frame": f.func,
                            "file": f.file,
                            "line": f.line,
                            "sp": f"{f.sp:#x}",
                            "slot": s.index,
                            "slot_addr": f"{s.addr:#x}",
                            "func": s.closure.func if s.closure else None,
                            "deferred": s.closure.deferred if s.closure else None,
                            "closure": s.closure.as_json() if s.closure else None,
                        },
                    )
                )
        items.sort(key=lambda t: (t[0], t[1]))
        return [d for _sp, _i, d in items]

    def frames(self) -> list[dict[str, Any]]:
        """Pending defers grouped as the manifest groups them: (frame, kind, deferred)."""
        out: list[dict[str, Any]] = []
        for d in self.pending():
            key = (d["frame"], d["kind"], d["deferred"], d["sp"])
            if out and out[-1]["_key"] == key:
                out[-1]["count"] += 1
                continue
            out.append(
                {
                    "_key": key,
                    "func": d["frame"],
                    "kind": d["kind"],
                    "count": 1,
                    "deferred": d["deferred"],
                    "sp": d["sp"],
                }
            )
        for o in out:
            del o["_key"]
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "goroutine": self.goid,
            "counts": self.counts,
            "frames": self.frames(),
            "pending": self.pending(),
            "records": [r.as_json() for r in self.records],
            "open_frames": [f.as_json() for f in self.open_frames],
            "errors": self.errors,
        }


# ---------------------------------------------------------------------- the walker


class DeferReader:
    """Decodes defers for one process (layouts read once); see :func:`defer_reader`."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.mem = proc.mem
        self.tab = proc.pclntab
        self.layout = Layout(proc.dw, "runtime._defer", _D_FIELDS, _D_OPTIONAL)
        self.heap = heap_lookup(proc)
        self.v121 = self.layout.has("openDefer")  # Go 1.21's layout (the 1.21 info format)
        so = proc.dw.find("runtime.stackObjectRecord")
        self.so_layout = (
            Layout(
                proc.dw,
                "runtime.stackObjectRecord",
                ("off", "size", "gcdataoff"),
                ("ptrBytes", "_ptrdata"),
            )
            if so
            else None
        )
        md = proc.global_("runtime.firstmoduledata")
        self.rodata = md["rodata"].ptr() if md.has("rodata") else 0
        self._calls: dict[int, str | None] = {}
        self._stack_objs: dict[int, list[tuple[int, int, int, int]]] = {}
        self._symtab: tuple[list[int], list[tuple[int, int, str]]] | None = None
        self._odi: dict[int, tuple[int, int | None, list[int]]] = {}
        self.head_v_off = self._head_value_offset()
        self._static: dict[int, Closure] = {}

    # ------------------------------------------------------------------ helpers

    def _head_value_offset(self) -> int | None:
        """Offset of ``v`` in the ``atomic.Pointer[_defer]`` that ``_defer.head`` points to."""
        dw = self.proc.dw
        if not dw.has_field("runtime._defer", "head"):
            return None
        t = dw.resolve(dw.field("runtime._defer", "head").type)
        target = dw.resolve(t.target) if t.target is not None else None
        if target is not None:
            for f in target.fields:
                if f.name == "v":
                    return f.offset
        return 0

    def func_at(self, pc: int) -> Func | None:
        try:
            return self.tab.find_func(pc)
        except PclntabError:
            return None

    def _physical_frames(self, frames: list[Frame]) -> Iterator[tuple[Frame, Func]]:
        """(frame, its function) for frames with a stack frame of their own (inlined calls
        have none: their funcdata belongs to the enclosing function)."""
        for fr in frames:
            if fr.inlined:
                continue
            f = self.func_at(fr.pc)
            if f is not None:
                yield fr, f

    def where(self, pc: int) -> tuple[str, str, int]:
        """(function, file, line) of a return address (looked up at pc-1, as tracebacks do)."""
        f = self.func_at(pc)
        if f is None:
            return (f"{pc:#x}" if pc else "?"), "", 0
        try:
            file, line = self.tab.line(f, pc - 1 if pc > f.entry else pc)
        except PclntabError:
            file, line = "?", 0
        return f.name, file, line

    def wrapper_calls(self, f: Func) -> str | None:
        """The function a compiler-generated defer wrapper (funcID wrapper) calls.

        From the wrapper's inline tree (the deferred function inlined into it) or else its
        direct ``CALL rel32`` instructions whose target is a function entry, runtime helpers
        (morestack, write barriers) excluded. None when it is not exactly one function.
        """
        if f.entry in self._calls:
            return self._calls[f.entry]
        found: list[str] = []
        try:
            if self.tab.funcdata(f, FUNCDATA_INLTREE):
                from gdb_gomem.goroutines.unwind import unwinder

                u = unwinder(self.proc)
                for pc in range(f.entry, min(f.end, f.entry + 1024)):
                    fr = u._expand(f, pc, pc, 0, 0)
                    if len(fr) > 1 and fr[-2].func not in found:
                        found.append(fr[-2].func)
                        break
            if not found:
                code = self.mem.read(f.entry, min(f.end - f.entry, 4096))
                for i in range(len(code) - 4):
                    if code[i] != 0xE8:
                        continue
                    tgt = (
                        f.entry + i + 5 + int.from_bytes(code[i + 1 : i + 5], "little", signed=True)
                    )
                    g = self.func_at(tgt)
                    if g is None or g.entry != tgt or g.name.startswith(_HELPER_PREFIXES):
                        continue
                    if g.name not in found:
                        found.append(g.name)
        except (GomemError, PclntabError):
            found = []
        res = found[0] if len(found) == 1 else None
        self._calls[f.entry] = res
        return res

    def classify(self, addr: int, g: Goroutine, frames: list[Frame]) -> Pointee | None:
        """Where an address points: this goroutine's stack, the heap, the binary, or nowhere."""
        if addr == 0:
            return None
        if g.stack_lo <= addr < g.stack_hi:
            fr = next((f for f in frames if not f.inlined and f.sp <= addr < f.fp), None)
            return Pointee("stack", addr, None, f"frame of {fr.func}" if fr else "stack")
        if self.heap is not None:
            obj = self.heap.object_of(addr)
            if obj is not None:
                return Pointee("heap", obj[0], obj[1])
        seg = self.proc.binary.segment_for(addr)
        if seg is not None:
            f = self.func_at(addr) if not seg.writable else None
            if f is not None and f.entry == addr:
                return Pointee("static", addr, None, f.name)
            sym = self.static_symbol(addr)
            if sym is not None:
                return Pointee("static", sym[1], sym[2], sym[0])
            return Pointee("static", addr)
        return None

    def static_symbol(self, addr: int) -> tuple[str, int, int] | None:
        """(name, start, size) of the ELF data symbol holding ``addr`` (None if stripped)."""
        if self._symtab is None:
            syms = sorted((a, sz, n) for n, (a, sz) in self.proc.binary.symbols.items() if sz)
            self._symtab = ([a for a, _sz, _n in syms], syms)
        starts, syms = self._symtab
        i = bisect_right(starts, addr) - 1
        if i >= 0 and addr < syms[i][0] + syms[i][1]:
            a, sz, n = syms[i]
            return n, a, sz
        return None

    def stack_object(self, frames: list[Frame], addr: int) -> tuple[int, int, int, int] | None:
        """(base, size, ptrbytes, gcdata) of the stack object holding ``addr`` (exact sizes).

        From the frame's FUNCDATA_StackObjects: a uintptr count, then stackObjectRecords whose
        ``off`` is from varp when negative, from argp (= fp on amd64) otherwise.
        """
        if self.so_layout is None:
            return None
        for fr, f in self._physical_frames(frames):
            for off, size, ptrbytes, gcdata in self._records(f):
                base = (self._varp(fr) + off) if off < 0 else (fr.fp + off)
                if base <= addr < base + size:
                    return base, size, ptrbytes, gcdata
        return None

    def _records(self, f: Func) -> list[tuple[int, int, int, int]]:
        hit = self._stack_objs.get(f.entry)
        if hit is not None:
            return hit
        out: list[tuple[int, int, int, int]] = []
        try:
            p = self.tab.funcdata(f, FUNCDATA_STACK_OBJECTS)
            if p:
                n = self.mem.u64(p)
                lay = self.so_layout
                assert lay is not None
                if 0 < n <= MAX_STACK_OBJECTS:
                    raw = self.mem.read(p + 8, n * lay.size)
                    for i in range(n):
                        rec = raw[i * lay.size : (i + 1) * lay.size]
                        pb = lay.get(rec, "ptrBytes", lay.get(rec, "_ptrdata", 0))
                        # A negative _ptrdata (1.21) means a GC program: no simple mask.
                        gcdata = self.rodata + lay.get(rec, "gcdataoff") if pb > 0 else 0
                        out.append((lay.get(rec, "off"), lay.get(rec, "size"), abs(pb), gcdata))
        except (GomemError, PclntabError):
            out = []
        self._stack_objs[f.entry] = out
        return out

    @staticmethod
    def _varp(fr: Frame) -> int:
        """runtime/traceback.go: varp = fp - PtrSize (return address) - PtrSize (saved BP)."""
        varp = fr.fp - 8
        if varp > fr.sp:
            varp -= 8
        return varp

    def closure(self, fv: int, g: Goroutine, frames: list[Frame]) -> Closure:
        """Describe the funcval at ``fv`` and what it captured."""
        hit = self._static.get(fv)
        if hit is not None:
            return hit
        mem = self.mem
        try:
            code = mem.u64(fv)
        except UnreadableMemory:
            return Closure(fv, "<unreadable funcval>", "unknown")
        f = self.func_at(code)
        name = f.name if f is not None else f"{code:#x}"
        if f is not None and f.entry != code:
            name += f"+{code - f.entry:#x}"
        c = Closure(fv, name, "unknown")
        if f is not None and f.entry == code:
            try:
                if func_id_name(f.func_id, self.proc.go_version) == "wrapper":
                    c.calls = self.wrapper_calls(f)
            except ValueError:
                pass
        mask: int | None = None
        end = fv  # end of the closure object, when known
        if g.stack_lo <= fv < g.stack_hi:
            c.where = "stack"
            so = self.stack_object(frames, fv)
            if so is not None and so[0] == fv:
                c.size, c.size_source = so[1], "exact: the frame's stack-object record"
                end = fv + so[1]
                if so[3] and so[2]:
                    try:
                        nbytes = (so[2] // 8 + 7) // 8
                        mask = int.from_bytes(mem.read(so[3], nbytes), "little")
                        c.pointer_source = "the stack object's pointer map"
                    except UnreadableMemory:
                        mask = None
            else:
                c.size_source = "unknown: no stack-object record starts at the closure"
        elif self.heap is not None and (obj := self.heap.object_of(fv)) is not None:
            c.where = "heap"
            c.size = obj[1]
            c.size_source = "inferred: the heap span's element size, the closure's size class"
            end = obj[0] + obj[1]
            if obj[0] != fv:
                c.size_source += f"; the closure is at +{fv - obj[0]:#x} in that object"
        elif self.proc.binary.segment_for(fv) is not None:
            c.where = "static"
            c.size = 8
            c.size_source = "a static funcval in the binary: a function without captures"
            self._static[fv] = c
            return c
        if end - fv > 8:
            n = min((end - fv) // 8, MAX_CAPTURE_WORDS)
            try:
                raw = mem.read(fv, 8 * n)
            except UnreadableMemory:
                return c
            if mask is None:
                c.pointer_source = "judged by value (words that point into heap, stack or binary)"
            for i in range(1, n):
                w = int.from_bytes(raw[8 * i : 8 * i + 8], "little")
                if mask is not None and not mask >> i & 1:
                    continue
                if w == 0:
                    if mask is not None:
                        c.captures.append(Capture(8 * i, 0, None))
                    continue
                pt = self.classify(w, g, frames)
                if pt is None and mask is None:
                    continue
                c.captures.append(Capture(8 * i, w, pt))
        return c

    # ------------------------------------------------------------------ the list

    def records(self, g: Goroutine, frames: list[Frame], errors: list[str]) -> list[DeferRecord]:
        """The ``g._defer`` list, bounded and cycle-checked.

        A range-over-func head record (1.23+: ``deferrangefunc``) is followed by the defers its
        loop body queued on ``*d.head`` (``deferprocat``: heap records, newest first, whose
        sp/pc the runtime fills in only when ``deferconvert`` splices them into the list).
        """
        out: list[DeferRecord] = []
        seen: set[int] = set()
        d = g.defer_ptr
        while d:
            raw = self._read_record(d, g, seen, len(out), errors)
            if raw is None:
                break
            rec = self._record(d, raw, g, frames)
            out.append(rec)
            if rec.kind == "rangefunc":
                self._queued(rec, g, frames, seen, out, errors)
            d = self.layout.get(raw, "link")
        return out

    def _read_record(
        self, d: int, g: Goroutine, seen: set[int], n: int, errors: list[str]
    ) -> bytes | None:
        if d in seen:
            errors.append(
                f"_defer list of goroutine {g.goid} loops back to {d:#x} after "
                f"{n} record(s); walk stopped"
            )
            return None
        if n >= MAX_DEFERS:
            errors.append(f"more than {MAX_DEFERS} _defer records; walk stopped")
            return None
        seen.add(d)
        try:
            return self.mem.read(d, self.layout.size)
        except UnreadableMemory as exc:
            errors.append(f"_defer record {d:#x} unreadable: {exc}")
            return None

    def _queued(
        self,
        head: DeferRecord,
        g: Goroutine,
        frames: list[Frame],
        seen: set[int],
        out: list[DeferRecord],
        errors: list[str],
    ) -> None:
        if not head.extra["head"] or self.head_v_off is None:
            return
        try:
            d = self.mem.u64(int(head.extra["head"], 16) + self.head_v_off)
        except UnreadableMemory as exc:
            errors.append(f"range-over-func defer head unreadable: {exc}")
            return
        while d and d != 1:  # badDefer() == 1: the list was already spliced in
            raw = self._read_record(d, g, seen, len(out), errors)
            if raw is None:
                return
            rec = self._record(d, raw, g, frames)
            rec.sp, rec.pc, rec.frame_func = head.sp, head.pc, head.frame_func
            rec.frame_file, rec.frame_line = head.frame_file, head.frame_line
            rec.extra["rangefunc_head"] = f"{head.addr:#x}"
            out.append(rec)
            d = self.layout.get(raw, "link")

    def _record(self, d: int, raw: bytes, g: Goroutine, frames: list[Frame]) -> DeferRecord:
        lay = self.layout
        heap = lay.get(raw, "heap") != 0
        kind = "heap" if heap else "stack"
        extra: dict[str, Any] = {}
        if lay.has("openDefer"):
            extra["started"] = lay.get(raw, "started") != 0
            extra["open_defer"] = lay.get(raw, "openDefer") != 0
            p = lay.get(raw, "_panic")
            extra["panic"] = f"{p:#x}" if p else None
            if extra["open_defer"]:
                kind = "open-frame"
                extra["varp"] = f"{lay.get(raw, 'varp'):#x}"
                extra["framepc"] = f"{lay.get(raw, 'framepc'):#x}"
        if lay.has("rangefunc"):
            extra["rangefunc"] = lay.get(raw, "rangefunc") != 0
            if extra["rangefunc"]:
                kind = "rangefunc"
                h = lay.get(raw, "head")
                extra["head"] = f"{h:#x}" if h else None
        extra["heap"] = heap
        sp, pc, fn = lay.get(raw, "sp"), lay.get(raw, "pc"), lay.get(raw, "fn")
        rec = DeferRecord(d, kind, sp, pc, fn, *self.where(pc), extra=extra)
        if kind == "open-frame":
            # pc is the frame's deferreturn; the frame's function is at framepc.
            rec.frame_func, rec.defer_file, rec.defer_line = self.where(lay.get(raw, "framepc") + 1)
        fr = next((f for f in frames if not f.inlined and f.sp == sp), None)
        if fr is not None:
            rec.frame_file, rec.frame_line = fr.file, fr.line
        if heap and self.heap is not None:
            obj = self.heap.object_of(d)
            rec.record_size = obj[1] if obj else None
        if fn:
            rec.closure = self.closure(fn, g, frames)
        return rec

    # ------------------------------------------------------------------ open-coded

    def open_frames(self, g: Goroutine, frames: list[Frame], errors: list[str]) -> list[OpenFrame]:
        out: list[OpenFrame] = []
        mem = self.mem
        for fr, f in self._physical_frames(frames):
            try:
                fd = self.tab.funcdata(f, FUNCDATA_OPEN_CODED_DEFER_INFO)
            except PclntabError:
                fd = None
            if not fd:
                continue
            varp = self._varp(fr)
            try:
                bits_off, ndefers, offs = self._open_info(fd)
                if ndefers is not None:
                    slot_addrs = [varp - o for o in offs]
                else:
                    slot_addrs = [varp - offs[0] + 8 * i for i in range(MAX_OPEN_DEFERS)]
                bits_addr = varp - bits_off
                if not fr.sp <= bits_addr < fr.fp:
                    raise GomemError(f"deferBits at {bits_addr:#x} is outside the frame")
                bits = mem.u8(bits_addr)
            except (GomemError, UnreadableMemory) as exc:
                errors.append(f"open-coded defers of {f.name} (sp {fr.sp:#x}): {exc}")
                continue
            of = OpenFrame(f.name, fr.file, fr.line, fr.sp, fr.fp, varp, bits_addr, bits, ndefers)
            top = bits.bit_length()  # slots below the highest set bit are defer slots
            for i, sa in enumerate(slot_addrs):
                pending = bool(bits >> i & 1)
                inferred = ndefers is None and i >= top
                if not fr.sp <= sa < fr.fp:
                    break
                try:
                    w = mem.u64(sa)
                except UnreadableMemory:
                    break
                # Past the last pending slot the count is unknown (1.22+): keep a slot only if
                # it holds a funcval whose code pointer is a function entry.
                if inferred and not (w and self._is_funcval(w)):
                    break
                closure = self.closure(w, g, frames) if w else None
                of.slots.append(OpenSlot(i, sa, pending, closure, inferred))
            out.append(of)
        return out

    def _open_info(self, fd: int) -> tuple[int, int | None, list[int]]:
        """Decode FUNCDATA_OpenCodedDeferInfo at ``fd`` (cached per funcdata address).

        Returns (deferBitsOffset, nDefers or None, offsets): in 1.21 the closure offset of
        each defer in statement order, from 1.22 ``[slotsOffset]``.
        """
        hit = self._odi.get(fd)
        if hit is not None:
            return hit
        mem = self.mem
        bits_off, p = read_varint(mem, fd)
        if self.v121:
            ndefers, p = read_varint(mem, p)
            if ndefers > MAX_OPEN_DEFERS:
                raise GomemError(f"{ndefers} open-coded defers (max {MAX_OPEN_DEFERS})")
            offs = []
            for _ in range(ndefers):
                o, p = read_varint(mem, p)
                offs.append(o)
            offs.reverse()  # emitOpenDeferInfo writes the last defer first
            res: tuple[int, int | None, list[int]] = (bits_off, ndefers, offs)
        else:
            slots_off, p = read_varint(mem, p)
            res = (bits_off, None, [slots_off])
        self._odi[fd] = res
        return res

    def _is_funcval(self, w: int) -> bool:
        try:
            code = self.mem.u64(w)
        except UnreadableMemory:
            return False
        f = self.func_at(code)
        return f is not None and f.entry == code

    # ------------------------------------------------------------------ per goroutine

    def for_goroutine(self, g: Goroutine) -> GoroutineDefers:
        res = GoroutineDefers(g.goid)
        bt = goroutine_backtrace(self.proc, g)
        frames = bt.frames
        if bt.error and not frames:
            res.errors.append(f"stack not unwound ({bt.error}); open-coded defers not read")
        res.records = self.records(g, frames, res.errors)
        res.open_frames = self.open_frames(g, frames, res.errors)
        if bt.error and frames and res.open_frames is not None:
            # Open-coded defers in frames past the point the unwinder reached are unseen.
            outer = frames[-1].func
            res.errors.append(
                f"stack walk stopped after {outer} ({bt.error}); open-coded "
                "defers of outer frames not read"
            )
        return res


DEFER_READER: Lazy[DeferReader] = Lazy("defer reader", DeferReader)


def defer_reader(proc: GoProcess) -> DeferReader:
    return DEFER_READER(proc)


def goroutine_defers(proc: GoProcess, g: Goroutine) -> GoroutineDefers:
    """All defers of one goroutine: the _defer list and the open-coded ones in its frames."""
    try:
        return defer_reader(proc).for_goroutine(g)
    except LayoutError as exc:
        return GoroutineDefers(g.goid, errors=[f"defers not decoded: {exc}"])


def defers_json(proc: GoProcess, g: Goroutine) -> list[dict[str, Any]]:
    """Pending deferred calls of ``g`` for ``gomem goroutines --json``, next to run first.

    Each item: ``{kind: heap|stack|open, frame, file, line, sp, func, deferred, closure, ...}``
    (see README). A problem reading them is one item ``{kind: "error", error: "..."}``.
    """
    gd = goroutine_defers(proc, g)
    return gd.pending() + [{"kind": "error", "error": e} for e in gd.errors]


# ---------------------------------------------------------------------- free pools


@dataclass
class DeferPools:
    """Free ``_defer`` records cached by the runtime (``p.deferpool``, ``sched.deferpool``).

    ``newdefer`` takes heap records from these lists and ``freedefer`` returns them, so they
    are allocated heap memory that no goroutine's defer list references.
    """

    per_p: list[tuple[int, int]] = field(default_factory=list)  # (P id, records)
    global_: int = 0
    record_size: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.global_ + sum(n for _id, n in self.per_p)

    def as_json(self) -> dict[str, Any]:
        return {
            "per_p": [{"p": i, "records": n} for i, n in self.per_p],
            "global": self.global_,
            "total": self.total,
            "record_size": self.record_size,
            "bytes": self.total * self.record_size if self.record_size else None,
            "errors": self.errors,
        }


def defer_pools(proc: GoProcess) -> DeferPools:
    """Count the free _defer records in every P's pool and in the global one (bounded)."""
    res = DeferPools()
    try:
        allp = proc.global_("runtime.allp")
        for pv in allp.slice_items(1 << 16):
            pp = pv.deref()
            if pp is None:
                continue
            _arr, n, cap = pp["deferpool"].slice_header()
            if not 0 <= n <= cap:
                res.errors.append(f"P {pp['id'].int()}: corrupt deferpool length {n}")
                continue
            res.per_p.append((pp["id"].int(), n))
            if n and res.record_size is None:
                first = pp["deferpool"].slice_items(1)[0].ptr()
                h = heap_lookup(proc)
                obj = h.object_of(first) if h else None
                res.record_size = obj[1] if obj else None
        link_off = proc.dw.offset("runtime._defer", "link")
        d = proc.global_("runtime.sched")["deferpool"].ptr()
        seen: set[int] = set()
        while d:
            if d in seen or len(seen) >= MAX_DEFERS:
                res.errors.append(f"global defer pool list loops or is too long at {d:#x}")
                break
            seen.add(d)
            d = proc.mem.u64(d + link_off)
        res.global_ = len(seen)
    except (GomemError, IndexError) as exc:
        res.errors.append(f"defer pools unreadable: {exc}")
    return res
