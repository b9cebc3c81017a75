"""Goroutine documents for ``gomem goroutines``, ``gomem goroutine`` and ``gomem threads``.

One entry per goroutine: state, wait, labels, creation site, frames, and its pending defers
and panics (:mod:`gdb_gomem.reports.schema.goroutines` has the shapes). Grouping
(``--group-by``, :mod:`gdb_gomem.goroutines.groups`) collapses goroutines with the same
creation site, stack or wait reason into one row with a count: that is how a goroutine leak
shows.
"""

from __future__ import annotations

import difflib
from typing import cast

from gdb_gomem.base.errors import GomemError
from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.goroutines.groups import GoroutineGroup, group_goroutines, now_lower_bound
from gdb_gomem.goroutines.sched import g_status_names, walk_ms
from gdb_gomem.goroutines.threads import threads_doc
from gdb_gomem.goroutines.unwind import goroutine_backtrace
from gdb_gomem.reports.casts import code_location, frame_doc, panic_entries, pending_defers
from gdb_gomem.reports.framelocals import frame_locals
from gdb_gomem.reports.schema.common import SiteDoc
from gdb_gomem.reports.schema.goroutines import (
    CreatedByDoc,
    DeferErrorDoc,
    GoroutineDoc,
    GoroutineGroupDoc,
    GoroutineGroupsDoc,
    GoroutinesDoc,
    PanicDoc,
    PanicErrorDoc,
    PendingDeferDoc,
    SingleGoroutineDoc,
    ThreadsDoc,
)
from gdb_gomem.target.process import GoProcess


def _site(proc: GoProcess, pc: int, back: bool) -> SiteDoc | None:
    """Function and file:line for a code address (``back``: a return address, look at pc-1)."""
    if not pc:
        return None
    where = code_location(proc, pc - 1 if back else pc)
    if where is None:
        return {"func": None, "file": None, "line": None, "pc": f"{pc:#x}"}
    return {**where, "pc": f"{pc:#x}"}


def _start_func(proc: GoProcess, g: Goroutine) -> str | None:
    start = _site(proc, g.startpc, back=False)
    return start["func"] if start else None


def _created_by(proc: GoProcess, g: Goroutine) -> CreatedByDoc | None:
    # As runtime.printcreatedby: the main goroutine has no creator worth naming.
    created = _site(proc, g.gopc, back=True) if g.goid != 1 else None
    if created is None:
        return None
    return {**created, "goroutine": g.parent_goid or None}


def goroutine_doc(
    proc: GoProcess,
    g: Goroutine,
    *,
    m_ids: dict[int, int],
    now: int,
    frames: bool = True,
    extras: bool = True,
) -> GoroutineDoc:
    start_func = _start_func(proc, g)
    created = _created_by(proc, g)
    d: GoroutineDoc = {
        "id": g.goid,
        "status": g.status_name,
        "wait_reason": g.wait_reason or None,
        "waitsince": g.waitsince or None,
        # waitsince is set at the first GC stack scan after parking: a lower bound on the wait.
        "waited_at_least_ns": (now - g.waitsince) if g.waitsince and now > g.waitsince else None,
        "labels": dict(sorted(g.labels.items())),
        "start_func": start_func,
        "created_by": created,
        "locked_to_thread": m_ids.get(g.lockedm) if g.lockedm else None,
        "m": m_ids.get(g.m) if g.m else None,
        "addr": f"{g.addr:#x}",
        "stack": {
            "lo": f"{g.stack_lo:#x}",
            "hi": f"{g.stack_hi:#x}",
            "size": g.stack_hi - g.stack_lo,
        },
    }
    if g.label_error:
        d["labels_error"] = g.label_error
    if frames:
        bt = goroutine_backtrace(proc, g)
        d["frames"] = [frame_doc(f) for f in bt.frames]
        d["frames_error"] = bt.error
    if extras:
        d["defers"] = _defers(proc, g)
        d["panics"] = _panics(proc, g)
    return d


def _defers(proc: GoProcess, g: Goroutine) -> list[PendingDeferDoc | DeferErrorDoc]:
    """Defer records of one goroutine; a decoding failure becomes an error entry."""
    try:
        return pending_defers(proc, g)
    except (GomemError, IndexError, ValueError) as exc:
        return [{"error": str(exc)}]


def _panics(proc: GoProcess, g: Goroutine) -> list[PanicDoc | PanicErrorDoc]:
    """Panic records of one goroutine; a decoding failure becomes an error entry."""
    try:
        return panic_entries(proc, g)
    except (GomemError, IndexError, ValueError) as exc:
        return [{"error": str(exc)}]


def select(
    proc: GoProcess,
    *,
    state: str | None = None,
    labels: dict[str, str] | None = None,
    ids: list[int] | None = None,
) -> list[Goroutine]:
    tab = goroutines(proc)
    if state:
        known = set(g_status_names(proc.dw.constants).values()) | set(tab.wait_reasons)
        if state not in known and not state.startswith("scan+"):
            near = difflib.get_close_matches(state, sorted(known), n=3, cutoff=0.6)
            raise GomemError(
                f"unknown goroutine state {state!r}"
                + (f"; did you mean {' or '.join(repr(x) for x in near)}?" if near else ""),
                "a status (running, runnable, waiting, syscall, ...) or a wait reason of this "
                "Go version ('chan receive', 'select', 'sleep', ...)",
            )
    out = []
    for g in tab.all:
        if ids is not None and g.goid not in ids:
            continue
        if state and state not in (g.status_name, g.wait_reason):
            continue
        if labels and any(g.labels.get(k) != v for k, v in labels.items()):
            continue
        out.append(g)
    return out


def goroutines_doc(
    proc: GoProcess,
    gs: list[Goroutine],
    *,
    frames: bool = True,
    extras: bool = True,
) -> GoroutinesDoc:
    ms, merr = walk_ms(proc)
    m_ids = {m.addr: m.id for m in ms}
    now, now_src = now_lower_bound(proc)
    tab = goroutines(proc)
    docs = [goroutine_doc(proc, g, m_ids=m_ids, now=now, frames=frames, extras=extras) for g in gs]
    notes = list(tab.errors)
    if merr:
        notes.append(merr)
    if now:
        notes.append(
            f"wait times are lower bounds: the runtime records waitsince at the first GC scan "
            f"after a goroutine parks; 'now' is at least the latest stamp ({now_src})"
        )
    return {
        "goroutines": docs,
        "total": len(tab.all),
        "now_lower_bound": now or None,
        "notes": notes,
    }


def single_goroutine_doc(proc: GoProcess, g: Goroutine) -> SingleGoroutineDoc:
    """``gomem goroutine ID``: the goroutine's entry of :func:`goroutines_doc`, its notes,
    and each physical frame's arguments and locals."""
    doc = goroutines_doc(proc, [g])
    one: SingleGoroutineDoc = {**doc["goroutines"][0], "notes": doc["notes"]}
    frames = one.get("frames")
    if frames:
        bt = goroutine_backtrace(proc, g)  # built once per goroutine: the same frames
        for i, (fd, fr) in enumerate(zip(frames, bt.frames, strict=False)):
            if not fr.inlined:
                try:
                    fd["locals"] = frame_locals(proc, fr, innermost=i == 0)
                except GomemError as exc:
                    fd["locals"] = [{"name": "?", "type": None, "addr": "0x0", "value": str(exc)}]
    return one


def _group_doc(proc: GoProcess, row: GoroutineGroup) -> GoroutineGroupDoc:
    return {
        "count": row.count,
        "ids": row.ids,
        "status": row.status,
        "wait_reason": row.wait_reason,
        "created_by": _created_by(proc, row.first),
        "start_func": _start_func(proc, row.first),
        "frames": [frame_doc(f) for f in row.frames],
        "max_waited_at_least_ns": row.max_waited_at_least_ns,
    }


def groups_doc(proc: GoProcess, gs: list[Goroutine], by: str) -> GoroutineGroupsDoc:
    """``--group-by``: one row per group, without a document per goroutine."""
    _ms, merr = walk_ms(proc)
    grouped = group_goroutines(proc, gs, by)
    notes = list(goroutines(proc).errors) + ([merr] if merr else [])
    if grouped.now:
        notes.append(
            "wait times are lower bounds (waitsince is set at a GC scan; "
            f"'now' from {grouped.now_source})"
        )
    return {
        "groups": [_group_doc(proc, row) for row in grouped.groups],
        "group_by": grouped.by,
        "selected": grouped.selected,
        "total": grouped.total,
        "notes": notes,
    }


def threads_report(proc: GoProcess, backtraces: str = "crash") -> ThreadsDoc:
    """``gomem threads``: the document :func:`.threads.threads_doc` builds, typed."""
    return cast(ThreadsDoc, threads_doc(proc, backtraces=backtraces))
