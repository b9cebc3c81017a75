"""Goroutines grouped by where they were created, where they are blocked, or why they wait.

A goroutine leak shows as one group holding thousands of goroutines; grouping works on the
goroutine table directly, without a document per goroutine (a leak can be millions of them).
Wait times are bounded from below by :func:`now_lower_bound`: the runtime keeps no "now".

Used by ``gomem goroutines --group-by`` (the document is built in
:mod:`gdb_gomem.reports.goroutines`) and by the goroutine-group leak suspect
(:mod:`gdb_gomem.heap.retention`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.goroutines.unwind import Frame, goroutine_backtrace
from gdb_gomem.runtime.clock import crash_time
from gdb_gomem.target.process import GoProcess

#: What ``--group-by`` accepts: the creation site, the whole stack, or (status, wait reason).
GROUP_KEYS = ("creation", "stack", "wait")


def now_lower_bound(proc: GoProcess) -> tuple[int, str]:
    """A monotonic (nanotime) instant the dump is known to be at or after, and its source:
    the newest clock reading the runtime wrote (:func:`gdb_gomem.runtime.clock.crash_time`
    gathers them all); (0, "") when it left none."""
    readings = crash_time(proc).readings
    if not readings:
        return 0, ""
    return readings[0].nanotime, readings[0].source


@dataclass
class GoroutineGroup:
    """Goroutines that share a key; ``first`` (the first of them met) stands for them all.

    ``status``/``wait_reason`` are ``"mixed"``/``"(mixed)"`` when the members differ;
    ``frames`` is the first goroutine's backtrace when grouping by stack, else empty.
    """

    first: Goroutine
    status: str
    wait_reason: str | None
    frames: list[Frame]
    count: int = 0
    ids: list[int] = field(default_factory=list)
    max_waited_at_least_ns: int | None = None


@dataclass
class GoroutineGroups:
    """The groups, fewest members first, and what they were built from."""

    by: str
    groups: list[GoroutineGroup]
    selected: int  # goroutines grouped
    total: int  # goroutines in the table
    now: int  # :func:`now_lower_bound`, 0 when unknown
    now_source: str


def _key(proc: GoProcess, g: Goroutine, by: str) -> tuple[Hashable, list[Frame]]:
    """The grouping key of one goroutine and, by stack, the frames it was made of."""
    if by == "wait":
        return (g.status_name, g.wait_reason), []
    if by == "creation":
        made = proc.describe_pc(g.gopc - 1) if g.gopc else None
        start = proc.describe_pc(g.startpc) if g.startpc else None
        return (
            (made["func"], made["file"], made["line"]) if made else None,
            start["func"] if start else None,
        ), []
    bt = goroutine_backtrace(proc, g)
    return tuple((f.func, f.file, f.line) for f in bt.frames), bt.frames


def group_goroutines(proc: GoProcess, gs: list[Goroutine], by: str) -> GoroutineGroups:
    """Group ``gs`` by ``by`` (one of :data:`GROUP_KEYS`; anything else groups by stack)."""
    now, now_src = now_lower_bound(proc)
    rows: dict[Hashable, GoroutineGroup] = {}
    for g in gs:
        key, frames = _key(proc, g, by)
        row = rows.get(key)
        if row is None:
            rows[key] = row = GoroutineGroup(
                first=g,
                status=g.status_name,
                wait_reason=g.wait_reason or None,
                frames=frames if by == "stack" else [],
            )
        row.count += 1
        row.ids.append(g.goid)
        if (row.status, row.wait_reason) != (g.status_name, g.wait_reason or None):
            row.status, row.wait_reason = "mixed", "(mixed)"
        if g.waitsince and now > g.waitsince:
            w = now - g.waitsince
            if (row.max_waited_at_least_ns or 0) < w:
                row.max_waited_at_least_ns = w
    return GoroutineGroups(
        by=by,
        groups=sorted(rows.values(), key=lambda r: r.count),
        selected=len(gs),
        total=len(goroutines(proc).all),
        now=now,
        now_source=now_src,
    )
