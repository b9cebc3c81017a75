"""A goroutine's physical frames as the defer and root readers see them: ``varp``, stack objects.

- ``varp`` (``runtime/traceback.go``): the frame's locals end below the return address and, on
  amd64 with frame pointers, the saved BP: ``fp - 8``, minus 8 more when the frame has room.
- ``FUNCDATA_StackObjects`` (``runtime/stack.go``, ``stkobjinit``): a uintptr count, then
  ``runtime.stackObjectRecord``s ``{off, size, ptrBytes (_ptrdata in 1.21), gcdataoff}`` of
  the function's address-taken locals; ``off`` is from varp when negative, from argp (= fp on
  amd64) otherwise, and ``gcdataoff`` is the pointer mask's offset from ``moduledata.rodata``.
  These give a stack-allocated closure's exact size and pointer map.
"""

from __future__ import annotations

from collections.abc import Iterator

from gdb_gomem.base.errors import GomemError
from gdb_gomem.goroutines.unwind import Frame
from gdb_gomem.symbols.pclntab import FUNCDATA_STACK_OBJECTS, Func, PclntabError
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

#: Stack objects per frame read at most.
MAX_STACK_OBJECTS = 4096

#: (off, size, pointer bytes, gcdata address): one record; gcdata is 0 without a simple mask.
StackObjectRecord = tuple[int, int, int, int]


def frame_varp(fr: Frame) -> int:
    """runtime/traceback.go: varp = fp - PtrSize (return address) - PtrSize (saved BP)."""
    varp = fr.fp - 8
    if varp > fr.sp:
        varp -= 8
    return varp


class StackObjects:
    """Functions and stack-object records of one process, each decoded once."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.mem = proc.mem
        self.tab = proc.pclntab
        so = proc.dw.find("runtime.stackObjectRecord")
        self.layout = (
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
        self._records: dict[int, list[StackObjectRecord]] = {}

    def func_at(self, pc: int) -> Func | None:
        try:
            return self.tab.find_func(pc)
        except PclntabError:
            return None

    def physical_frames(self, frames: list[Frame]) -> Iterator[tuple[Frame, Func]]:
        """(frame, its function) for frames with a stack frame of their own (inlined calls
        have none: their funcdata belongs to the enclosing function)."""
        for fr in frames:
            if fr.inlined:
                continue
            f = self.func_at(fr.pc)
            if f is not None:
                yield fr, f

    def find(self, frames: list[Frame], addr: int) -> tuple[int, int, int, int] | None:
        """(base, size, ptrbytes, gcdata) of the stack object holding ``addr`` (exact sizes)."""
        if self.layout is None:
            return None
        for fr, f in self.physical_frames(frames):
            for off, size, ptrbytes, gcdata in self.records(f):
                base = (frame_varp(fr) + off) if off < 0 else (fr.fp + off)
                if base <= addr < base + size:
                    return base, size, ptrbytes, gcdata
        return None

    def records(self, f: Func) -> list[StackObjectRecord]:
        """The function's stack-object records (empty when it has none or they are bad)."""
        hit = self._records.get(f.entry)
        if hit is not None:
            return hit
        out: list[StackObjectRecord] = []
        try:
            p = self.tab.funcdata(f, FUNCDATA_STACK_OBJECTS)
            if p:
                n = self.mem.u64(p)
                lay = self.layout
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
        self._records[f.entry] = out
        return out
