"""Exact allocation times from the execution trace held in the core, per heap object.

Where the core holds a flight recorder's trace with ``traceallocfree`` events
(:mod:`gdb_gomem.runtime.exectrace.allocs`), an object whose slot has a ``HeapObjectAlloc``
event gets that event's wall time and goroutine. The alloc event names the pointer
``mallocgc`` returned (past a malloc header, inside a tiny block), the free event the slot's
base, so both are matched by slot; per slot the earliest allocation since its last free
counts. An event outside the object's GC-epoch bound (:mod:`.epochs`) belongs to an earlier
occupant whose free the trace missed and is ignored. In a trace without gaps, an object
allocated after a GC that ended once the trace ran, yet without an event, came after the
trace's last event (an inference, said so wherever it is used).
"""

from __future__ import annotations

import numpy as np

from gdb_gomem.heap.epochs import AllocEpochs, alloc_epochs
from gdb_gomem.runtime.exectrace.allocs import TRACE_ALLOCS, TraceAllocs
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

#: A trace time may precede the end of the GC the object was allocated after (or follow the
#: end of the GC it survived) by this much before it is taken for a stale event: the two wall
#: clocks come from different snapshots of nanotime.
TRACE_EPOCH_SLACK_NS = 1_000_000
#: A GC end this long after the trace's first event is taken as inside the trace (wall clocks
#: of the GC's and of the trace's clock snapshot, both from nanotime).
TRACE_START_SLACK_NS = 20_000


class TraceTimes:
    """Per object of the epochs' table: the time (Unix ns, 0: none) and goroutine (-1: none)
    of its allocation event in the execution trace."""

    def __init__(self, ep: AllocEpochs, ta: TraceAllocs) -> None:
        n = len(ep.objects)
        self.unix_ns = np.zeros(n, np.int64)
        self.goroutine = np.full(n, -1, np.int64)
        #: Objects allocated after the trace's last event: allocated after a GC that ended
        #: once the trace ran, yet without an event in a trace without gaps.
        self.after_end = np.zeros(n, bool)
        self.end_unix_ns = 0
        self.notes: list[str] = []
        if not ta.usable or ta.heap is None or n == 0:
            return
        ot = ep.objects
        allocs, frees = ta.heap.allocs, ta.heap.frees
        if not len(allocs):
            return
        # The alloc event names the pointer mallocgc returns (past a malloc header, at an
        # offset of a tiny block), the free event the slot's base: match both by slot.
        ai = ot.find(allocs.addr)
        fi = ot.find(frees.addr) if len(frees) else np.zeros(0, np.int64)
        last_free = np.full(n, np.iinfo(np.int64).min, np.int64)
        ok = fi >= 0
        np.maximum.at(last_free, fi[ok], frees.ticks[ok])
        cand = np.flatnonzero(ai >= 0)
        cand = cand[allocs.ticks[cand] > last_free[ai[cand]]]
        # The earliest allocation since the last free: the slot's object (a tiny block's
        # first value; its later values are allocated inside it).
        order = np.lexsort((allocs.ticks[cand], ai[cand]))
        cand = cand[order]
        objs = ai[cand]
        first = np.ones(len(cand), bool)
        first[1:] = objs[1:] != objs[:-1]
        cand, objs = cand[first], objs[first]
        t = allocs.unix_ns[cand]
        # An event older than the GC end the object was allocated after (or newer than the
        # end of the GC it survived) is an earlier occupant's whose free the trace missed.
        ea = ep.after_unix_ns()[objs]
        eb = ep.before_unix_ns()[objs]
        stale = ((ea > 0) & (t < ea - TRACE_EPOCH_SLACK_NS)) | (
            (eb > 0) & (t > eb + TRACE_EPOCH_SLACK_NS)
        )
        if stale.any():
            self.notes.append(
                f"{int(stale.sum())} allocation event(s) of the execution trace disagree with "
                "their object's GC-epoch bound (an earlier occupant of the slot, freed after "
                "the trace ended): the epoch bound is kept for those objects"
            )
        keep = ~stale
        self.unix_ns[objs[keep]] = t[keep]
        self.goroutine[objs[keep]] = allocs.goroutine[cand[keep]]
        cov = ta.covered()
        if ta.gapless and cov is not None and ta.trace is not None:
            # The trace's first generation is whole from its first event when tracing began
            # there (generation 1: StartTrace stops the world); a later one may begin while
            # a thread still writes an event of the generation before it.
            margin = TRACE_START_SLACK_NS
            if ta.trace.generations[0].gen != 1:
                margin += TRACE_EPOCH_SLACK_NS
            ea_all = ep.after_unix_ns()
            self.after_end = (self.unix_ns == 0) & (ea_all > 0) & (ea_all >= cov[0] + margin)
            self.end_unix_ns = cov[1]

    @property
    def mask(self) -> np.ndarray:
        return self.unix_ns > 0


TRACE_TIMES: Lazy[TraceTimes] = Lazy(
    "trace times", lambda proc: TraceTimes(alloc_epochs(proc), TRACE_ALLOCS(proc))
)


def trace_times(proc: GoProcess) -> TraceTimes:
    """The execution trace's allocation time and goroutine of every object, built once."""
    return TRACE_TIMES(proc)
