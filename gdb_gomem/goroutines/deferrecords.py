"""The ``g._defer`` list: heap, stack and range-over-func ``runtime._defer`` records.

- **heap** records (``deferproc``: a defer in a loop, or too many defers); ``d.heap`` is true;
- **stack** records (``deferprocStack``: in the deferring frame), on the same list;
- **rangefunc** heads (1.23+: ``deferrangefunc``), followed by the defers the loop body
  queued on ``*d.head`` (``deferprocat``).

Record layouts come from DWARF (``runtime._defer`` lost ``started``/``openDefer``/``_panic``/
``fd``/``varp``/``framepc`` and gained ``rangefunc``/``head`` in 1.22). In Go 1.21 a panic
also inserts ``openDefer`` records for frames with open-coded defers (``addOneOpenDeferFrame``);
they describe a frame, not a defer, and are reported as kind ``open-frame``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.closures import Closure, ClosureReader
from gdb_gomem.goroutines.unwind import Frame
from gdb_gomem.symbols.dwarf import DwarfTables
from gdb_gomem.target.typed import Layout

#: Bound on one goroutine's _defer list (a defer in a loop can make long ones; a cycle or a
#: wild pointer must not make an endless one).
MAX_DEFERS = 1 << 20

_D_FIELDS = ("heap", "sp", "pc", "fn", "link")
_D_OPTIONAL = ("started", "openDefer", "_panic", "fd", "varp", "framepc", "rangefunc", "head")


def defer_layout(dw: DwarfTables) -> Layout:
    """The ``runtime._defer`` fields the reader decodes (LayoutError if one it needs is gone)."""
    return Layout(dw, "runtime._defer", _D_FIELDS, _D_OPTIONAL)


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


class DeferListReader:
    """Walks ``g._defer`` lists with one ``_defer`` layout (see :func:`defer_layout`)."""

    def __init__(self, closures: ClosureReader, layout: Layout) -> None:
        self.closures = closures
        self.proc = closures.proc
        self.mem = closures.mem
        self.layout = layout
        self.head_v_off = self._head_value_offset()

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
        cr = self.closures
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
        rec = DeferRecord(d, kind, sp, pc, fn, *cr.where(pc), extra=extra)
        if kind == "open-frame":
            # pc is the frame's deferreturn; the frame's function is at framepc.
            rec.frame_func, rec.defer_file, rec.defer_line = cr.where(lay.get(raw, "framepc") + 1)
        fr = next((f for f in frames if not f.inlined and f.sp == sp), None)
        if fr is not None:
            rec.frame_file, rec.frame_line = fr.file, fr.line
        if heap and cr.heap is not None:
            obj = cr.heap.object_of(d)
            rec.record_size = obj[1] if obj else None
        if fn:
            rec.closure = cr.closure(fn, g, frames)
        return rec
