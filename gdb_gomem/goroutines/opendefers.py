"""Open-coded defers: the frame's ``deferBits`` and closure slots, no ``_defer`` record at all.

At most 8 per function, none in loops (cmd/compile ssagen). The frame holds a ``deferBits``
byte (bit *i* set: defer statement *i* ran and its call is pending) and one closure slot per
defer statement. ``FUNCDATA_OpenCodedDeferInfo`` says where, as offsets below the frame's
``varp`` (``fp - 16`` on amd64: return address, saved BP):

- Go 1.21 (``emitOpenDeferInfo`` writes ``dvarint``s): deferBitsOffset, nDefers, then the
  closure offset of each defer, *last defer first* (``runOpenDeferFrame`` reads them for
  ``i = nDefers-1 .. 0``);
- Go 1.22+: deferBitsOffset, slotsOffset (uvarints); slot *i* is at
  ``varp - slotsOffset + 8*i`` (``(*_panic).initOpenCodedDefers``). The count is not
  recorded: pending ones are exactly the set bits.

Slots are zeroed on function entry (``openDeferSave`` sets ``Needzero``), so a non-zero slot
whose bit is clear was reached and has already run (by a panic or ``runtime.Goexit``, since
the frame is still on the stack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.closures import Closure, ClosureReader
from gdb_gomem.goroutines.stackobjects import frame_varp
from gdb_gomem.goroutines.unwind import Frame
from gdb_gomem.symbols.pclntab import FUNCDATA_OPEN_CODED_DEFER_INFO, PclntabError
from gdb_gomem.target.memory import Memory

#: At most 8 open-coded defers per function (cmd/compile: maxOpenDefers).
MAX_OPEN_DEFERS = 8

#: (deferBitsOffset, nDefers or None, offsets) of one FUNCDATA_OpenCodedDeferInfo.
OpenDeferInfo = tuple[int, int | None, list[int]]


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


class OpenDeferReader:
    """Reads the open-coded defers of a goroutine's frames (info decoded once per function).

    ``v121``: the binary uses Go 1.21's info format (its ``_defer`` still has ``openDefer``).
    """

    def __init__(self, closures: ClosureReader, *, v121: bool) -> None:
        self.closures = closures
        self.mem = closures.mem
        self.tab = closures.tab
        self.v121 = v121
        self._odi: dict[int, OpenDeferInfo] = {}

    def open_frames(self, g: Goroutine, frames: list[Frame], errors: list[str]) -> list[OpenFrame]:
        out: list[OpenFrame] = []
        mem = self.mem
        for fr, f in self.closures.stack.physical_frames(frames):
            try:
                fd = self.tab.funcdata(f, FUNCDATA_OPEN_CODED_DEFER_INFO)
            except PclntabError:
                fd = None
            if not fd:
                continue
            varp = frame_varp(fr)
            try:
                bits_off, ndefers, offs = self.open_info(fd)
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
                closure = self.closures.closure(w, g, frames) if w else None
                of.slots.append(OpenSlot(i, sa, pending, closure, inferred))
            out.append(of)
        return out

    def open_info(self, fd: int) -> OpenDeferInfo:
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
            res: OpenDeferInfo = (bits_off, ndefers, offs)
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
        f = self.closures.func_at(code)
        return f is not None and f.entry == code
