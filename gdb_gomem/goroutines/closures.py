"""A deferred call's closure (its ``funcval``) and the memory its captured words point to.

A funcval is a pointer to a closure object whose first word is the code pointer and whose other
words are the captured variables. For a defer with arguments the compiler generates a wrapper
closure (``pkg.F.deferwrapN``, ``pkg.F.funcN`` in 1.21) with funcID ``wrapper``; gomem names
the function the wrapper calls (from its inline tree or its direct ``CALL`` instructions).

The closure's size comes from the frame's stack-object table when it is on the stack (exact,
with its pointer map: :mod:`~gdb_gomem.goroutines.stackobjects`), from the heap span's
element size when it is on the heap (inferred: the size class, at least the closure's size;
:meth:`~gdb_gomem.runtime.geometry.HeapMap.object_of`), and is one word for a static funcval
(a function without captures).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.stackobjects import StackObjects
from gdb_gomem.goroutines.unwind import Frame, unwinder
from gdb_gomem.runtime.geometry import HeapMap, heap_map
from gdb_gomem.symbols.pclntab import FUNCDATA_INLTREE, Func, PclntabError, func_id_name
from gdb_gomem.target.process import GoProcess

#: Captured words shown per closure.
MAX_CAPTURE_WORDS = 64

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


def heap_lookup(proc: GoProcess) -> HeapMap | None:
    """The process's arena index (address -> heap slot), or None when its DWARF lacks it:
    defers are still read then, without heap sizes."""
    try:
        return heap_map(proc)
    except (GomemError, KeyError):
        return None


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


# ---------------------------------------------------------------------- the decoder


class ClosureReader:
    """Decodes funcvals and classifies addresses for one process (tables read once)."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.mem = proc.mem
        self.tab = proc.pclntab
        self.heap = heap_lookup(proc)
        self.stack = StackObjects(proc)
        self._calls: dict[int, str | None] = {}
        self._symtab: tuple[list[int], list[tuple[int, int, str]]] | None = None
        self._static: dict[int, Closure] = {}

    def func_at(self, pc: int) -> Func | None:
        return self.stack.func_at(pc)

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
                u = unwinder(self.proc)
                for pc in range(f.entry, min(f.end, f.entry + 1024)):
                    fr = u.inl.frames(f, pc)
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
            so = self.stack.find(frames, fv)
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
