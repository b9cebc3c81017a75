"""Panics in flight: the ``g._panic`` chain of a goroutine (runtime/panic.go, runtime2.go).

A ``runtime._panic`` is a local variable of ``runtime.gopanic`` (or ``runtime.Goexit``), linked
from ``g._panic`` while its deferred calls run; ``link`` points to the panic it interrupted
(one raised inside a deferred call of an older panic). A *recovered* panic is unlinked by
``recovery``, so the chain holds only panics that are still unwinding (or, in a crash core,
that are killing the program: ``fatalpanic`` runs with the chain in place).

Fields differ per version, so the record is decoded through its DWARF layout and each flag is
reported only where the version has it:

- 1.21: ``argp, arg, link, pc, sp, recovered, aborted, goexit``; no record of where it
  started: gomem takes the frame holding the ``_panic`` itself (gopanic's) and its caller;
- 1.22-1.24: ``startPC/startSP`` (the gopanic frame: ``(*_panic).start`` records its caller's
  PC and SP), the frame being unwound (``sp, lr, fp``), ``retpc``, open-coded defer cursor
  (``deferBitsPtr, slotsPtr``), ``recovered, goexit, deferreturn``;
- 1.25: + ``repanicked`` (set by preprintpanics when a panic re-raises the value of the one it
  interrupted); 1.26: ``argp`` dropped, + ``gopanicFP``; 1.27: ``lr`` renamed ``pc``,
  ``gopanicFP`` dropped.

The value is ``arg`` (an ``any``), decoded by :mod:`.rtype`. On the fatal path
``preprintpanics`` has already replaced an error or Stringer value by its text, so a crash
core shows the string Go printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.defers import goroutine_defers
from gdb_gomem.goroutines.unwind import Frame, goroutine_backtrace
from gdb_gomem.runtime.rtype import GoValue, types
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

MAX_PANICS = 10_000

_FLAGS = ("recovered", "aborted", "goexit", "repanicked", "deferreturn")
_PTRS = (
    "argp",
    "pc",
    "sp",
    "startPC",
    "startSP",
    "lr",
    "fp",
    "retpc",
    "deferBitsPtr",
    "slotsPtr",
    "gopanicFP",
)


@dataclass
class PanicRecord:
    addr: int
    value: GoValue
    flags: dict[str, bool]  # only those this Go version has
    regs: dict[str, int]  # the version's pointer fields, raw
    link: int
    panic_frame: Frame | None = None  # runtime.gopanic / runtime.Goexit
    started_by: Frame | None = None  # the caller of gopanic (may be runtime.sigpanic)
    origin: Frame | None = None  # first frame outward that is not in package runtime
    start_source: str = ""
    ran_defers: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def fr(f: Frame | None) -> dict[str, Any] | None:
            if f is None:
                return None
            return {
                "func": f.func,
                "file": f.file,
                "line": f.line,
                "pc": f"{f.pc:#x}",
                "sp": f"{f.sp:#x}",
            }

        d: dict[str, Any] = {
            "addr": f"{self.addr:#x}",
            "value": self.value.as_json(),
            "text": self.value.text,
        }
        for k in _FLAGS:
            d[k] = self.flags.get(k)
        d["fields"] = {k: f"{v:#x}" for k, v in self.regs.items()}
        d["link"] = f"{self.link:#x}" if self.link else None
        d["panic_frame"] = fr(self.panic_frame)
        d["started_by"] = fr(self.started_by)
        d["origin"] = fr(self.origin)
        d["start_source"] = self.start_source
        d["ran_defers"] = self.ran_defers
        return d


@dataclass
class GoroutinePanics:
    goid: int
    panics: list[PanicRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "goroutine": self.goid,
            "panics": [p.as_json() for p in self.panics],
            "errors": self.errors,
        }


class PanicReader:
    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.layout = Layout(proc.dw, "runtime._panic", ("link",), (*_FLAGS, *_PTRS))
        self.arg_off = proc.dw.offset("runtime._panic", "arg")

    def for_goroutine(self, g: Goroutine) -> GoroutinePanics:
        res = GoroutinePanics(g.goid)
        if not g.panic_ptr:
            return res
        mem = self.proc.mem
        lay = self.layout
        tr = types(self.proc)
        seen: set[int] = set()
        p = g.panic_ptr
        while p:
            if p in seen:
                res.errors.append(
                    f"_panic chain of goroutine {g.goid} loops back to {p:#x} "
                    f"after {len(res.panics)} record(s); walk stopped"
                )
                break
            if len(seen) >= MAX_PANICS:
                res.errors.append(f"more than {MAX_PANICS} _panic records; walk stopped")
                break
            seen.add(p)
            try:
                raw = mem.read(p, lay.size)
            except UnreadableMemory as exc:
                res.errors.append(f"_panic record {p:#x} unreadable: {exc}")
                break
            flags = {k: lay.get(raw, k) != 0 for k in _FLAGS if lay.has(k)}
            regs = {k: lay.get(raw, k) for k in _PTRS if lay.has(k)}
            rec = PanicRecord(p, tr.read_eface(p + self.arg_off), flags, regs, lay.get(raw, "link"))
            res.panics.append(rec)
            p = rec.link
        if res.panics:
            self._locate(g, res)
        return res

    def _locate(self, g: Goroutine, res: GoroutinePanics) -> None:
        """Find each panic's gopanic frame and its caller on the goroutine's stack."""
        bt = goroutine_backtrace(self.proc, g)
        frames = bt.frames
        if not frames:
            res.errors.append(f"stack not unwound ({bt.error}); panic origins unknown")
            return
        phys = [i for i, f in enumerate(frames) if not f.inlined]
        for rec in res.panics:
            idx = None
            start_sp = rec.regs.get("startSP")
            if start_sp:
                idx = next((i for i in phys if frames[i].sp == start_sp), None)
                rec.start_source = "_panic.startSP (the gopanic frame)"
            if idx is None:
                # The _panic is a local of gopanic/Goexit: the frame that holds it.
                idx = next((i for i in phys if frames[i].sp <= rec.addr < frames[i].fp), None)
                rec.start_source = "the frame holding the _panic record (gopanic's)"
            if idx is None:
                rec.start_source = "not found on the stack"
                continue
            rec.panic_frame = frames[idx]
            # The caller: the innermost (logical) frame of the next physical frame outward.
            nxt = idx + 1
            if nxt < len(frames):
                rec.started_by = frames[nxt]
            for f in frames[nxt:]:
                if not f.func.startswith("runtime."):
                    rec.origin = f
                    break
        self._ran_defers(g, res)

    def _ran_defers(self, g: Goroutine, res: GoroutinePanics) -> None:
        """Open-coded defers already run in frames outward of each panic's start.

        Only open-coded calls leave a trace (a stored closure slot with its bit cleared);
        a heap or stack ``_defer`` that ran was unlinked and freed. A recovered panic's frames
        are gone, so what remains belongs to the panics still in flight: frames between a panic
        and the next older one are credited to it, the rest to the oldest.
        """
        try:
            gd = goroutine_defers(self.proc, g)
        except GomemError as exc:
            res.errors.append(f"defers not read: {exc}")
            return
        starts = [p.panic_frame.sp if p.panic_frame else None for p in res.panics]
        for i, rec in enumerate(res.panics):
            lo = starts[i]
            if lo is None:
                continue
            hi = next((s for s in starts[i + 1 :] if s is not None), None)
            for of in gd.open_frames:
                if of.sp <= lo or (hi is not None and of.sp >= hi):
                    continue
                for s in of.slots:
                    if s.state == "ran" and s.closure is not None:
                        rec.ran_defers.append(
                            {
                                "frame": of.func,
                                "slot": s.index,
                                "func": s.closure.func,
                                "deferred": s.closure.deferred,
                                "inferred_slot": s.inferred,
                            }
                        )


PANIC_READER: Lazy[PanicReader] = Lazy("panic reader", PanicReader)


def panic_reader(proc: GoProcess) -> PanicReader:
    return PANIC_READER(proc)


def goroutine_panics(proc: GoProcess, g: Goroutine) -> GoroutinePanics:
    """The panics in flight on one goroutine, innermost (most recent) first."""
    try:
        return panic_reader(proc).for_goroutine(g)
    except LayoutError as exc:
        return GoroutinePanics(g.goid, errors=[f"panics not decoded: {exc}"])


def panics_json(proc: GoProcess, g: Goroutine) -> list[dict[str, Any]]:
    """The ``g._panic`` chain for ``gomem goroutines --json``, innermost first.

    Each item: ``{addr, value, text, recovered, aborted, goexit, repanicked, deferreturn,
    fields, link, panic_frame, started_by, origin, start_source, ran_defers}``; a flag the Go
    version does not have is null. A problem is one item ``{"error": "..."}``.
    """
    gp = goroutine_panics(proc, g)
    return [p.as_json() for p in gp.panics] + [{"error": e} for e in gp.errors]
