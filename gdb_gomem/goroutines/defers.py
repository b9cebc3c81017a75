"""Pending defers of a goroutine and the memory their closures keep alive.

A Go function's defers live in one of three places (runtime/panic.go, cmd/compile ssagen),
each read by its own module:

- **heap** and **stack** ``_defer`` records (``deferproc``/``deferprocStack``), linked from
  ``g._defer``, and the range-over-func heads with their queued defers:
  :mod:`~gdb_gomem.goroutines.deferrecords`;
- **open-coded** defers (at most 8 per function, none in loops): no record at all, a
  ``deferBits`` byte and closure slots in the frame, located by
  ``FUNCDATA_OpenCodedDeferInfo``: :mod:`~gdb_gomem.goroutines.opendefers`.

Every deferred call is a ``funcval``; :mod:`~gdb_gomem.goroutines.closures` names the
function it runs and sizes the closure and what its captured words point to (stack objects
from :mod:`~gdb_gomem.goroutines.stackobjects`, heap slots from the runtime layer's arena
index). The runtime's free ``_defer`` pools are in :mod:`~gdb_gomem.goroutines.deferpools`.

This module puts them together per goroutine (:class:`DeferReader`, :func:`goroutine_defers`)
and builds each goroutine's view from the parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import LayoutError
from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.closures import (
    Closure,
    ClosureReader,
)
from gdb_gomem.goroutines.deferrecords import (
    DeferListReader,
    DeferRecord,
    defer_layout,
)
from gdb_gomem.goroutines.opendefers import (
    OpenDeferReader,
    OpenFrame,
)
from gdb_gomem.goroutines.stackobjects import (
    StackObjects,
)
from gdb_gomem.goroutines.unwind import Frame, goroutine_backtrace
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess


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


# ---------------------------------------------------------------------- the reader


class DeferReader:
    """Decodes defers for one process (layouts read once); see :func:`defer_reader`.

    The parts: :attr:`closures` (funcvals, address classes, stack objects), :attr:`chain`
    (the ``_defer`` records) and :attr:`open` (open-coded defers).
    """

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        layout = defer_layout(proc.dw)  # first: a missing _defer field is the error reported
        self.closures = ClosureReader(proc)
        self.chain = DeferListReader(self.closures, layout)
        self.open = OpenDeferReader(self.closures, v121=layout.has("openDefer"))

    @property
    def stack(self) -> StackObjects:
        """Stack-object records and physical frames (shared with the closure reader)."""
        return self.closures.stack

    def closure(self, fv: int, g: Goroutine, frames: list[Frame]) -> Closure:
        """Describe the funcval at ``fv`` and what it captured."""
        return self.closures.closure(fv, g, frames)

    def records(self, g: Goroutine, frames: list[Frame], errors: list[str]) -> list[DeferRecord]:
        return self.chain.records(g, frames, errors)

    def open_frames(self, g: Goroutine, frames: list[Frame], errors: list[str]) -> list[OpenFrame]:
        return self.open.open_frames(g, frames, errors)

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
