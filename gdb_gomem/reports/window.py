"""The document of ``gomem window DURATION``: the heap objects allocated in the last DURATION
before the crash, as far as the core proves it, and the allocation bound of one object (for
``gomem obj``).

Each object's allocation time is bounded by GC epochs (:mod:`gdb_gomem.heap.epochs`): after
the end of the cycle it was allocated after, before the end of the cycle it survived or before
the crash. The window ``[crash - DURATION, crash]`` is placed on the crash time estimate
(:func:`gdb_gomem.runtime.clock.crash_time`). An object is listed when its bound proves it was
allocated in the window; when the window reaches back before a GC's end, objects that survived
that GC may or may not be in it (allocated at an unknown time before it): they are counted,
not listed. When the window is narrower than the time since the last GC's end, the core cannot
resolve it: everything allocated since that GC's end is listed and the bound says so.

When the core holds an execution trace with allocation events (a Go 1.25+ flight recorder run
with ``GODEBUG=traceallocfree=1``, :mod:`gdb_gomem.runtime.exectrace.allocs`), an object whose
slot has an allocation event in it (the earliest since the slot's last free event, and within
the object's GC-epoch bound) is placed at that event's time, exactly (source ``trace``), and
attributed to the goroutine that ran the allocation. An object allocated after a GC that ended
inside a gapless trace, yet without an event, came after the trace's last event (source
``trace-end``: allocated after that event).
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np

from gdb_gomem.base.errors import GomemError
from gdb_gomem.heap.alloctimes import trace_times
from gdb_gomem.heap.epochs import AllocEpochs, alloc_epochs
from gdb_gomem.heap.objects import F_TINY, as_int64
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.reports.objects import (
    MAX_STACK,
    bound_doc,
    crash_end,
    live_mask,
    stack_frames,
    trace_bound,
    trace_end_bound,
)
from gdb_gomem.reports.schema.objects import AllocFrameDoc, CountBytes
from gdb_gomem.reports.schema.window import (
    CrashTimeDoc,
    WindowBoundDoc,
    WindowDoc,
    WindowObject,
    WindowRow,
)
from gdb_gomem.reports.typematch import names_mask
from gdb_gomem.runtime import clock
from gdb_gomem.runtime.exectrace.allocs import TRACE_ALLOCS, TraceAllocs
from gdb_gomem.runtime.memprof import (
    HOW_TO_SAMPLE,
    MEM_PROFILE,
    bucket_pcs,
    profile_specials,
)
from gdb_gomem.target.process import GoProcess

NO_TRACE = "unknown (no execution trace in this core)"
NOT_TRACED = "unknown (no allocation event in the execution trace)"
AFTER_TRACE = "unknown (allocated after the execution trace's last event)"
NO_GOROUTINE = "no goroutine (the runtime, on a system stack)"
NOT_SAMPLED = "(not sampled)"

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """A Go-style duration (``1.7s``, ``250ms``, ``2m``, ``1m30s``) in nanoseconds."""
    t = text.strip()
    pos, total = 0, 0.0
    while pos < len(t):
        m = _PART.match(t, pos)
        if m is None:
            break
        total += float(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if not t or pos != len(t) or total <= 0:
        raise GomemError(
            f"bad duration {text!r}",
            "give a positive number with a unit: 1.7s, 250ms, 2m, 1m30s (units ns us ms s m h)",
        )
    return round(total)


def clock_text(ns: int | None) -> str:
    """``HH:MM:SS.mmm`` (UTC) of a Unix time in nanoseconds."""
    if not ns:
        return "?"
    t = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.UTC)
    return t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def span_text(ns: int) -> str:
    """A duration for prose: ``2.0 s``, ``350 ms``, ``12 µs``."""
    a = abs(ns)
    if a >= 60_000_000_000:
        return f"{ns / 60e9:.1f} min"
    if a >= 1_000_000_000:
        return f"{ns / 1e9:.1f} s"
    if a >= 1_000_000:
        return f"{ns / 1e6:.0f} ms"
    if a >= 1_000:
        return f"{ns / 1e3:.0f} µs"
    return f"{ns} ns"


def _crash_doc(ct: clock.CrashTime) -> CrashTimeDoc:
    return {
        "unix_ns": ct.unix_ns,
        "lo_unix_ns": ct.lo_unix_ns,
        "hi_unix_ns": ct.hi_unix_ns,
        "source": ct.source,
    }


# ---------------------------------------------------------------------------- stacks


def _stack_label(frames: list[AllocFrameDoc]) -> str:
    """The allocating function first (the runtime's allocation frames dropped), then two
    callers: ``main.fill (main.go:88) <- main.main <- runtime.main``."""
    k = 0
    while k < len(frames) - 1 and str(frames[k].get("func", "")).startswith("runtime."):
        k += 1
    rest = frames[k:]
    if not rest:
        return "(empty stack)"
    f0 = rest[0]
    file = str(f0.get("file", "")).rsplit("/", 1)[-1]
    head = f"{f0.get('func', f0['pc'])} ({file}:{f0.get('line', '?')})"
    return " <- ".join([head] + [str(f.get("func", f["pc"])) for f in rest[1:3]])


class _Stacks:
    """Sampled allocation stacks of objects, read once per span and once per bucket."""

    def __init__(self, proc: GoProcess, ep: AllocEpochs, idx: np.ndarray) -> None:
        self.proc = proc
        ot = ep.objects
        spans = ot.walk.spans
        sidx = np.unique(ot.span[idx]) if len(idx) else np.zeros(0, np.int32)
        pairs = [(spans[s].base, spans[s].specials) for s in sidx.tolist() if spans[s].specials]
        by_addr = profile_specials(proc, pairs)
        self.bucket: dict[int, int] = {}  # object index -> bucket
        if by_addr:
            addrs = np.array(sorted(by_addr), dtype=np.uint64)
            objs = ot.find(addrs)
            for a, o in zip(addrs.tolist(), objs.tolist(), strict=True):
                if o >= 0 and o not in self.bucket:  # a tiny block: its first sampled value
                    self.bucket[o] = by_addr[a]
        self._frames: dict[int, list[AllocFrameDoc] | None] = {}

    def frames(self, i: int) -> list[AllocFrameDoc] | None:
        b = self.bucket.get(i)
        if b is None:
            return None
        if b not in self._frames:
            pcs = bucket_pcs(self.proc, b, MAX_STACK)
            self._frames[b] = None if pcs is None else stack_frames(self.proc, pcs)
        return self._frames[b]

    def label(self, i: int) -> str:
        fr = self.frames(i)
        return NOT_SAMPLED if fr is None else _stack_label(fr)


# ---------------------------------------------------------------------------- the window


def _sources(proc: GoProcess, ep: AllocEpochs, ta: TraceAllocs, ntraced: int) -> list[str]:
    out: list[str] = []
    s = ep.sweep_cycle
    if s >= 1:
        ends = [f"cycle {s} ended {clock_text(ep.cycle_end(s))}"]
        if s >= 2 and ep.cycle_end(s - 1):
            ends.append(f"cycle {s - 1} ended {clock_text(ep.cycle_end(s - 1))}")
        out.append(f"gc epochs: {'; '.join(ends)} (UTC)")
    else:
        out.append("gc epochs: no GC has completed: no allocation can be placed in time")
    out.append(MEM_PROFILE(proc).summary())
    line = ta.summary()
    cov = ta.covered()
    if ta.trace is not None and cov is not None:
        line += f", from {clock_text(cov[0])} to {clock_text(cov[1])} (UTC)"
    if ta.usable:
        line += f"; {ntraced} listed object(s) timed by it"
    out.append(line)
    return out


def _profile_notes(proc: GoProcess, by: str) -> list[str]:
    mp = MEM_PROFILE(proc)
    notes = list(mp.notes)
    if mp.disabled_by_linker:
        notes.append(
            "heap profiling was disabled by the linker (runtime.disableMemoryProfiling: the "
            "program never references the heap profiler): no allocation stacks; " + HOW_TO_SAMPLE
        )
    elif not mp.rate:
        notes.append(
            "heap profiling was off (MemProfileRate 0): no allocation stacks; " + HOW_TO_SAMPLE
        )
    elif mp.rate != 1 and by == "stack":
        notes.append(
            f"MemProfileRate is {mp.rate}: about one allocation per {mp.rate} bytes has a "
            "stack, the rest are '(not sampled)'; " + HOW_TO_SAMPLE
        )
    return notes


def _resolved(start: int, text: str) -> WindowBoundDoc:
    """The bound of a window the core resolves exactly: it starts at ``start``."""
    return {
        "kind": "window",
        "since_unix_ns": start,
        "since_gc": None,
        "window_start_unix_ns": start,
        "text": text,
    }


def window_doc(
    proc: GoProcess,
    duration_ns: int,
    type_rx: str | None = None,
    by: str = "type",
    limit: int | None = None,
    which: str = "all",
) -> WindowDoc:
    """The objects allocated within ``duration_ns`` before the crash time estimate."""
    if by not in ("type", "stack", "goroutine"):
        raise GomemError(f"unknown --by {by!r}", "use type, stack or goroutine")
    if duration_ns <= 0:
        raise GomemError("the duration must be positive", "e.g. gomem window 1.7s")
    ht = heap_types(proc)
    ep = alloc_epochs(proc)
    ot = ep.objects
    if len(ht.addr) != len(ot.addr):
        raise GomemError(
            "the type pass and the object table disagree", "please report this with the core"
        )
    ct = clock.crash_time(proc)
    notes: list[str] = list(ep.notes)
    errors: list[str] = list(ep.errors)
    ta = TRACE_ALLOCS(proc)
    tr = trace_times(proc)
    traced = tr.mask
    notes += ta.notes + tr.notes
    sel = np.ones(len(ot), dtype=bool)
    if which == "live":
        lm = live_mask(proc, ht)
        if lm is None:
            raise GomemError("--live needs reachability, which is not available", "omit --live")
        sel &= lm
        notes.append("reachable objects only (--live)")
    else:
        notes.append(
            "every object allocated at the stop, reachable or not (--live: reachable ones only)"
        )
    if type_rx:
        ok = names_mask([e.name for e in ht.table], type_rx)
        sel &= ok[ht.type_id] if len(ht.type_id) else np.zeros(0, dtype=bool)

    est = ct.unix_ns
    end = crash_end(ct)

    def reach(since: int) -> str:
        """How long before the crash an object allocated after ``since`` can be at most."""
        if ct.hi_unix_ns:
            return f"at most {span_text(ct.hi_unix_ns - since)} before the crash"
        return (
            f"at most {span_text((est or since) - since)} before the crash estimate (the "
            "crash may have come later: nothing bounds it from above)"
        )

    # GC-epoch bounds, replaced by the exact time where the trace has one.
    ep_after_ns = ep.after_unix_ns()
    after_ns = np.where(traced, tr.unix_ns, ep_after_ns)
    if tr.after_end.any():
        after_ns = np.where(tr.after_end, np.maximum(after_ns, tr.end_unix_ns), after_ns)
    before_ns = np.where(traced, tr.unix_ns, ep.before_unix_ns())
    size = as_int64(ot.size)
    s = ep.sweep_cycle
    t_last = ep.cycle_end(s)
    if est is None:
        start = None
        listed = np.zeros(len(ot), dtype=bool)
        undecided = sel.copy()
        bound: WindowBoundDoc = {
            "kind": "unresolved",
            "since_unix_ns": None,
            "since_gc": None,
            "window_start_unix_ns": None,
            "text": "the core holds no clock (no GC has completed): no allocation can be placed "
            "in time",
        }
        older = None
    else:
        start = est - duration_ns
        proven_in = (after_ns > 0) & (after_ns >= start)
        proven_out = (before_ns > 0) & (before_ns < start)
        if t_last is not None and start > t_last:
            # Narrower than the time since the last GC's end: widen to that end, except for
            # the objects the execution trace times.
            since_last = sel & (ep.after_cycle == s)
            proven = sel & (after_ns > 0) & (after_ns >= start)
            untimed = since_last & ~traced & ~proven
            listed = untimed | proven
            undecided = np.zeros(len(ot), dtype=bool)
            older = None
            if ta.usable and since_last.any() and not untimed.any():
                bound = _resolved(
                    start,
                    f"every object allocated in the last {span_text(duration_ns)} "
                    f"(after {clock_text(start)}) is listed: the execution trace times each "
                    f"allocation since GC #{s} ended"
                    + (
                        f", or shows it came after its last event ({clock_text(tr.end_unix_ns)}"
                        f"; {int((since_last & tr.after_end).sum())} object(s))"
                        if (since_last & tr.after_end).any()
                        else ""
                    ),
                )
            else:
                why = (
                    "the execution trace places "
                    f"{int((since_last & ~untimed).sum())} of the objects allocated since then, "
                    f"not the other {int(untimed.sum())}"
                    if ta.usable
                    else "no trace in this core"
                )
                bound = {
                    "kind": "epoch",
                    "since_unix_ns": t_last,
                    "since_gc": s,
                    "window_start_unix_ns": start,
                    "text": f"allocated after {clock_text(t_last)} (GC #{s} ended), "
                    f"{reach(t_last)}; {why}: the last "
                    f"{span_text(duration_ns)} cannot be told apart from the "
                    f"{span_text(start - t_last)} before them, so everything allocated since "
                    f"GC #{s} ended{' without a trace time' if ta.usable else ''} is listed",
                }
        else:
            listed = sel & proven_in
            undecided = sel & ~proven_in & ~proven_out
            by_epoch = listed & ~traced & ~tr.after_end
            ends = ep_after_ns[by_epoch]
            since = int(ends.min()) if len(ends) else t_last
            since_gc = int(ep.after_cycle[by_epoch].min()) if by_epoch.any() else (s or None)
            # What the undecided objects are older than (the earliest GC end they precede).
            ob = before_ns[undecided]
            older = int(ob[ob > 0].min()) if (ob > 0).any() else None
            if not undecided.any():
                bound = _resolved(
                    start,
                    f"every object allocated in the last {span_text(duration_ns)} "
                    f"(after {clock_text(start)}) is listed",
                )
            elif since is None:
                bound = {
                    "kind": "epoch",
                    "since_unix_ns": None,
                    "since_gc": None,
                    "window_start_unix_ns": start,
                    "text": "no GC end bounds any allocation in this core: nothing can be "
                    "proven allocated in the window (not listed)",
                }
            else:
                nund = int(undecided.sum())
                bound = {
                    "kind": "epoch",
                    "since_unix_ns": since,
                    "since_gc": since_gc,
                    "window_start_unix_ns": start,
                    "text": f"allocated after {clock_text(since)} (GC #{since_gc} ended), "
                    f"{reach(since)}; the window reaches back to {clock_text(start)}, before "
                    "that GC "
                    f"ended: {nund} object(s) that survived it were allocated at an unknown "
                    f"time before {clock_text(older)} and may or may not be in the window "
                    "(not listed)",
                }
    idx = np.flatnonzero(listed)
    # Oldest bound first; within a span in allocation order; then by address.
    if len(idx):
        key = np.lexsort((as_int64(ot.addr[idx]), ep.order[idx], after_ns[idx]))
        idx = idx[key]

    stacks: _Stacks | None = None
    mp = MEM_PROFILE(proc)
    emit = idx if limit is None else idx[: max(limit, 0)]
    if mp.sampling or by == "stack":
        stacks = _Stacks(proc, ep, idx if by == "stack" else emit)

    # Rows.
    rows: list[WindowRow] = []
    if by == "type":
        tid = ht.type_id[idx]
        counts = np.bincount(tid, minlength=len(ht.table)) if len(idx) else np.zeros(0, int)
        nbytes = (
            np.bincount(tid, weights=size[idx], minlength=len(ht.table))
            if len(idx)
            else np.zeros(0)
        )
        merged: dict[str, list[int]] = {}
        for t in np.flatnonzero(counts).tolist():
            r = merged.setdefault(ht.table[t].name, [0, 0])
            r[0] += int(counts[t])
            r[1] += round(float(nbytes[t]))
        rows = [{"type": k, "count": c, "bytes": b} for k, (c, b) in merged.items()]
    elif by == "stack":
        assert stacks is not None
        groups: dict[str, list[int]] = {}
        for i in idx.tolist():
            r = groups.setdefault(stacks.label(i), [0, 0])
            r[0] += 1
            r[1] += int(size[i])
        rows = [{"type": k, "count": c, "bytes": b} for k, (c, b) in groups.items()]
    elif not ta.usable:
        label = NO_TRACE if ta.trace is None else NOT_TRACED
        if len(idx):
            rows = [{"type": label, "count": len(idx), "bytes": int(size[idx].sum())}]
        notes.append(
            "--by goroutine needs an execution trace with allocation events (which goroutine "
            "allocated what is not in the heap)"
            + (f"; this core's: {ta.why}" if ta.trace is not None and ta.why else "")
            + ": every object is grouped under one row"
        )
    else:
        gsets: dict[str, list[int]] = {}
        for i in idx.tolist():
            if tr.after_end[i]:
                label = AFTER_TRACE
            elif not traced[i]:
                label = NOT_TRACED
            elif tr.goroutine[i] < 0:
                label = NO_GOROUTINE
            else:
                label = f"goroutine {int(tr.goroutine[i])}"
            r = gsets.setdefault(label, [0, 0])
            r[0] += 1
            r[1] += int(size[i])
        rows = [{"type": k, "count": c, "bytes": b} for k, (c, b) in gsets.items()]
        if NOT_TRACED in gsets or AFTER_TRACE in gsets:
            notes.append(
                "objects without an allocation event in the execution trace (allocated before "
                "its first generation or after its last) have no goroutine: grouped as "
                f"{AFTER_TRACE!r} where the GC epochs prove they came after the trace, else "
                f"{NOT_TRACED!r}"
            )
    rows.sort(key=lambda r: (r["bytes"], r["count"], r["type"]))

    objects: list[WindowObject] = []
    tiny = (ot.flags & F_TINY) != 0
    for i in emit.tolist():
        o: WindowObject = {
            "addr": f"{int(ot.addr[i]):#x}",
            "size": int(size[i]),
            "type": ht.entry_of(i).name,
            "allocated": trace_bound(int(tr.unix_ns[i])) if traced[i] else bound_doc(ep, i, end),
        }
        if tr.after_end[i]:
            o["allocated"] = trace_end_bound(o["allocated"], tr.end_unix_ns)
        if stacks is not None:
            o["stack"] = stacks.frames(i)
        if traced[i]:
            g = int(tr.goroutine[i])
            o["goroutine"] = g if g >= 0 else None
        elif by == "goroutine":
            o["goroutine"] = None
        objects.append(o)
    if tiny[idx].any():
        notes.append(
            "a 'tiny block' is one 16-byte slot of the tiny allocator: it holds several small "
            "pointer-free values, all allocated while it was its P's current block"
        )
    notes += _profile_notes(proc, by)
    if mp.sampling and stacks is not None and stacks.bucket and mp.rate != 1:
        notes.append(f"stacks are samples (MemProfileRate {mp.rate})")
    notes += list(ct.notes)
    total: CountBytes = {"count": len(idx), "bytes": int(size[idx].sum()) if len(idx) else 0}
    return {
        "go_version": proc.go_version,
        "duration_ns": duration_ns,
        "selection": which,
        "by": by,
        "rows": rows,
        "total": total,
        "objects": objects,
        "shown": len(objects),
        "crash_time": _crash_doc(ct),
        "bound": bound,
        "undecided": {
            "count": int(undecided.sum()),
            "bytes": int(size[undecided].sum()) if undecided.any() else 0,
            "older_than_unix_ns": older,
        },
        "sources": _sources(proc, ep, ta, int(traced[idx].sum()) if len(idx) else 0),
        "errors": errors + list(ht.errors),
        "notes": notes,
    }
