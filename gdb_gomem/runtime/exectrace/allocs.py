"""The heap allocations the execution trace in a core times exactly: the core's trace
(:mod:`.coretrace`: the flight recorder's ring and what the runtime still held in its own
buffers) parsed (:mod:`.parse`), its ``HeapObjectAlloc``/``HeapObjectFree`` events
(``GODEBUG=traceallocfree=1``) turned into addresses with the heap base the runtime used for
their ids (``runtime.trace.minPageHeapAddr``: a flight recorder never holds the trace's own
copy) and into wall-clock times through each generation's clock snapshot, or, for a generation
without one (before Go 1.25, or rebuilt from the runtime's buffers), through the core's last
GC's wall/monotonic pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import GomemError
from gdb_gomem.runtime.clock import CRASH_TIME
from gdb_gomem.runtime.exectrace.coretrace import CORE_TRACE
from gdb_gomem.runtime.exectrace.parse import (
    EV_HEAP_OBJECT_ALLOC,
    HeapObjects,
    Trace,
    heap_object_allocs,
    read_trace,
)
from gdb_gomem.runtime.exectrace.ring import NoFlightRecorder, read_flight_ring
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess


@dataclass
class TraceAllocs:
    """What the core's execution trace says about heap allocations (``heap`` None: nothing)."""

    trace: Trace | None
    heap: HeapObjects | None
    why: str = ""  # why there is no usable trace
    source: str = ""  # CoreTrace.source: "flight recorder", "runtime buffers (trace.Start)"...
    notes: list[str] = field(default_factory=list)
    #: Every allocation between the first and the last event is in the trace: every
    #: generation read whole, no batch the recorder rejected (FlightRecorder.err).
    gapless: bool = False

    @property
    def usable(self) -> bool:
        return self.heap is not None and self.heap.addr_known and self.heap.clock == "wall"

    def covered(self) -> tuple[int, int] | None:
        return self.heap.covered_unix_ns if self.heap is not None else None

    def summary(self) -> str:
        """One line for a report's sources."""
        tr = self.trace
        if tr is None:
            return f"execution trace: none in this core ({self.why})"
        n_alloc = int((tr.mem.kind == EV_HEAP_OBJECT_ALLOC).sum()) if len(tr.mem) else 0
        text = (
            f"execution trace: {self.source}, {len(tr.generations)} generation(s), "
            f"{tr.seconds():.2f} s of trace clock, {n_alloc} heap allocation event(s)"
        )
        if self.why:
            text += f" ({self.why})"
        return text


def _min_heap_addr(proc: GoProcess) -> int | None:
    try:
        t = proc.find_global("runtime.trace")
        if t is None:
            return None
        v = t.get("minPageHeapAddr")
        return None if v is None else v.int()
    except GomemError:
        return None


def _why_none(proc: GoProcess) -> str:
    """Why the core holds no trace, in the flight recorder's words where it has any."""
    try:
        read_flight_ring(proc)
    except NoFlightRecorder as exc:
        return exc.why
    except GomemError as exc:
        return f"the flight recorder cannot be read ({exc})"
    return "the flight recorder holds no complete generation yet"


def build_trace_allocs(proc: GoProcess) -> TraceAllocs:
    try:
        ct = CORE_TRACE(proc)
    except GomemError as exc:
        return TraceAllocs(None, None, why=f"the execution trace cannot be read ({exc})")
    if ct is None:
        return TraceAllocs(None, None, why=_why_none(proc))
    try:
        tr = read_trace(ct.data, wall_anchor=CRASH_TIME(proc).pair)
    except GomemError as exc:
        return TraceAllocs(None, None, why=f"the core's trace bytes are not a trace ({exc})")
    notes = [f"execution trace: {n}" for n in ct.notes + tr.notes]
    base = _min_heap_addr(proc)
    heap = heap_object_allocs(tr, min_heap_addr=base)
    notes += [f"execution trace: {n}" for n in heap.notes]
    partial = [g.gen for g in ct.generations if g.partial]
    if partial:
        notes.append(
            f"execution trace: generation(s) {', '.join(map(str, partial))} lost their first "
            "batches to the trace's writer before the crash (trace.Start): allocations in "
            "them may have no event"
        )
    made = [g.gen for g in ct.generations if any("clock snapshot from" in x for x in g.synthesized)]
    if made:
        notes.append(
            f"execution trace: generation(s) {', '.join(map(str, made))} lost their sync batch "
            "to the trace's writer: their clock snapshot is made from the core's last GC's "
            "wall/monotonic pair (the trace clock is nanotime()/64), microseconds apart"
        )
    why = ""
    if not len(heap.allocs):
        why = (
            "no heap allocation events: the program ran without GODEBUG=traceallocfree=1 "
            "(Go 1.23+), which records every heap allocation and free in the trace"
        )
    elif not heap.addr_known:
        why = "the heap base the allocation events are relative to is unknown"
    elif heap.clock != "wall":
        why = "the trace has no wall clock (no clock snapshot, no GC's wall/monotonic pair)"
    ring = ct.ring
    # The recorder's own batch reader (runtime/trace/batch.go, 1.25-1.27) skips the experiment
    # byte of an experimental batch header and takes its timestamp for the size: it rejects
    # every AllocFree info/type batch, which hold no events. Any other rejection may have
    # dropped events.
    err = ring.error if ring is not None else None
    exp_only = err is not None and err.startswith("invalid batch size")
    if err and not exp_only:
        notes.append(
            f"execution trace: the flight recorder rejected a batch ({err}): it may "
            "miss allocation events"
        )
    gapless = (
        not why
        and not tr.notes
        and not partial
        and (err is None or exp_only)
        and all(g.complete and g.clock is not None for g in tr.generations)
    )
    return TraceAllocs(tr, heap, why=why, source=ct.source, notes=notes, gapless=gapless)


#: The core's execution trace allocations, read once per target.
TRACE_ALLOCS: Lazy[TraceAllocs] = Lazy("execution trace", build_trace_allocs)
