"""The calls the compiler inlined at a PC, as the runtime's inline unwinder reads them
(runtime/symtabinl.go ``newInlineUnwinder``): a function's ``FUNCDATA_InlTree`` is an array of
``runtime.inlinedCall{funcID, nameOff, parentPc, startLine}``, and ``PCDATA_InlTreeIndex`` at a
PC names the innermost call in that array (-1: none); each call's ``parentPc`` is a PC of the
outer function at which the walk goes on.

One home for the expansion: the goroutine unwinder uses it for every frame, and the execution
trace's stack table (whose records hold return addresses) for every PC it symbolizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gdb_gomem.symbols.dwarf import DwarfTables
from gdb_gomem.symbols.pclntab import FUNCDATA_INLTREE, PCDATA_INLTREE_INDEX, Func, Pclntab

#: No inline tree nests deeper than this (the compiler's own limit is far below).
MAX_INLINE_DEPTH = 256


@dataclass(frozen=True)
class InlinedFrame:
    """One logical frame at a PC: an inlined call or, last, the physical function."""

    func: str
    file: str
    line: int
    inlined: bool
    #: The PC the runtime reports for this frame: the PC itself for the innermost one, the
    #: parent PC (a PC inside the outer function) for the frames around an inlined call.
    pc: int


class InlineTree:
    """Expands a PC into its inlined calls, with the ``inlinedCall`` layout from DWARF."""

    def __init__(self, tab: Pclntab, dw: DwarfTables, read: Callable[[int, int], bytes]) -> None:
        self.tab = tab
        self.read = read
        lay = dw.find("runtime.inlinedCall")
        self.size = dw.resolve(lay.id).size if lay else 16
        self.offsets = (
            {n: dw.offset("runtime.inlinedCall", n) for n in ("nameOff", "parentPc")}
            if lay
            else {"nameOff": 4, "parentPc": 8}
        )

    def frames(self, f: Func, tracepc: int) -> list[InlinedFrame]:
        """The inlined calls at tracepc (innermost first), then f's own frame."""
        out: list[InlinedFrame] = []
        tree = self.tab.funcdata(f, FUNCDATA_INLTREE)
        cur = tracepc
        if tree:
            for _ in range(MAX_INLINE_DEPTH):
                ix = self.tab.pcdata(f, PCDATA_INLTREE_INDEX, cur)
                if ix < 0:
                    break
                raw = self.read(tree + ix * self.size, self.size)
                name_off = int.from_bytes(raw[self.offsets["nameOff"] :][:4], "little", signed=True)
                parent = int.from_bytes(raw[self.offsets["parentPc"] :][:4], "little", signed=True)
                file, line = self.tab.line(f, cur)
                out.append(InlinedFrame(self.tab.name_at(name_off), file, line, True, cur))
                cur = f.entry + parent
        file, line = self.tab.line(f, cur)
        out.append(InlinedFrame(f.name, file, line, False, cur))
        return out


def callers_frames(
    pcs: list[int], find_func: Callable[[int], Func | None], tree: InlineTree
) -> list[tuple[int, InlinedFrame | None]]:
    """Logical frames of a PC list, as ``runtime.CallersFrames`` yields them: (pc, frame)
    innermost first; frame None for a PC outside Go code.

    A list from ``runtime.Callers`` or the heap profiler already holds a virtual PC (the
    outer function's PC + 1) for each frame around an inlined call: each PC gives its
    innermost frame, and an outer frame is added only when the next PC does not stand for it
    (runtime/symtab.go ``Frames.Next``), so no frame appears twice."""
    out: list[tuple[int, InlinedFrame | None]] = []
    for i, pc in enumerate(pcs):
        f = find_func(pc - 1) if pc else None
        if f is None:
            out.append((pc, None))
            continue
        frames = tree.frames(f, pc - 1)
        out.append((pc, frames[0]))
        nxt = pcs[i + 1] if i + 1 < len(pcs) else None
        for outer in frames[1:]:
            if nxt == outer.pc + 1:
                break
            out.append((pc, outer))
    return out
