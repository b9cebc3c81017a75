"""Goroutine documents for ``gomem goroutines`` / ``gomem goroutine``: the JSON contract.

``{"goroutines": [{"id", "status", "wait_reason", "labels", "start_func", "created_by",
"frames": [{"func", "file", "line"}], "defers": [...], "panics": [...]}]}``, one entry per
goroutine. Grouping (``--group-by``) collapses goroutines with the same creation site, stack or
wait reason into one row with a count: that is how a goroutine leak shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.goroutines.defers import defers_json
from gdb_gomem.goroutines.panics import panics_json
from gdb_gomem.goroutines.sched import walk_ms
from gdb_gomem.goroutines.unwind import goroutine_backtrace
from gdb_gomem.runtime.memstats import all_ps
from gdb_gomem.target.process import GoProcess

Doc = dict[str, Any]


def now_lower_bound(proc: GoProcess) -> tuple[int, str]:
    """A monotonic (nanotime) instant the dump is known to be at or after, and its source.

    The runtime keeps no "now"; the latest monotonic stamps it wrote are lower bounds: each P's
    ``sysmontick.schedwhen``, ``sched.lastpoll``, the last GC's ``last_gc_nanotime``, and the
    goroutines' own ``waitsince``.
    """
    best, src = 0, ""

    def consider(v: int, name: str) -> None:
        nonlocal best, src
        if 0 < v < 1 << 62 and v > best:
            best, src = v, name

    try:
        for p in all_ps(proc):
            consider(p["sysmontick.schedwhen"].int(), "P sysmontick.schedwhen")
    except (LayoutError, UnreadableMemory):
        pass
    for name, getter in (
        ("sched.lastpoll", lambda: proc.global_("runtime.sched")["lastpoll"].int()),
        (
            "memstats.last_gc_nanotime",
            lambda: proc.global_("runtime.memstats")["last_gc_nanotime"].int(),
        ),
    ):
        try:
            consider(getter(), name)
        except (LayoutError, UnreadableMemory):
            pass
    for g in goroutines(proc).all:
        consider(g.waitsince, "a goroutine's waitsince")
    return best, src


def _site(proc: GoProcess, pc: int, back: bool) -> Doc | None:
    """Function and file:line for a code address (``back``: a return address, look at pc-1)."""
    if not pc:
        return None
    where = proc.describe_pc(pc - 1 if back else pc)
    if where is None:
        return {"func": None, "file": None, "line": None, "pc": f"{pc:#x}"}
    return {**where, "pc": f"{pc:#x}"}


def goroutine_doc(
    proc: GoProcess,
    g: Goroutine,
    *,
    m_ids: dict[int, int],
    now: int,
    frames: bool = True,
    extras: bool = True,
) -> Doc:
    start = _site(proc, g.startpc, back=False)
    # As runtime.printcreatedby: the main goroutine has no creator worth naming.
    created = _site(proc, g.gopc, back=True) if g.goid != 1 else None
    if created is not None:
        created["goroutine"] = g.parent_goid or None
    d: Doc = {
        "id": g.goid,
        "status": g.status_name,
        "wait_reason": g.wait_reason or None,
        "waitsince": g.waitsince or None,
        # waitsince is set at the first GC stack scan after parking: a lower bound on the wait.
        "waited_at_least_ns": (now - g.waitsince) if g.waitsince and now > g.waitsince else None,
        "labels": dict(sorted(g.labels.items())),
        "start_func": start["func"] if start else None,
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
        d["frames"] = [f.as_json() for f in bt.frames]
        d["frames_error"] = bt.error
    if extras:
        d["defers"] = _optional(proc, g, defers_json)
        d["panics"] = _optional(proc, g, panics_json)
    return d


def _optional(
    proc: GoProcess, g: Goroutine, func: Callable[[GoProcess, Goroutine], list[Doc]]
) -> list[Doc]:
    """Defer/panic records of one goroutine; a decoding failure becomes an error entry."""
    try:
        return func(proc, g)
    except (GomemError, IndexError, ValueError) as exc:
        return [{"error": str(exc)}]


def select(
    proc: GoProcess,
    *,
    state: str | None = None,
    labels: dict[str, str] | None = None,
    ids: list[int] | None = None,
) -> list[Goroutine]:
    out = []
    for g in goroutines(proc).all:
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
) -> Doc:
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


def group_goroutines(proc: GoProcess, gs: list[Goroutine], by: str) -> Doc:
    """Group without building a document per goroutine (a leak can be millions of them)."""
    ms, merr = walk_ms(proc)
    m_ids = {m.addr: m.id for m in ms}
    now, now_src = now_lower_bound(proc)
    rows: dict[tuple[Any, ...], Doc] = {}
    for g in gs:
        if by == "wait":
            key: tuple[Any, ...] = (g.status_name, g.wait_reason)
        elif by == "creation":
            made = proc.describe_pc(g.gopc - 1) if g.gopc else None
            start = proc.describe_pc(g.startpc) if g.startpc else None
            key = (
                (made["func"], made["file"], made["line"]) if made else None,
                start["func"] if start else None,
            )
        else:
            bt = goroutine_backtrace(proc, g)
            key = tuple((f.func, f.file, f.line) for f in bt.frames)
        row = rows.get(key)
        if row is None:
            d = goroutine_doc(proc, g, m_ids=m_ids, now=now, frames=by == "stack", extras=False)
            rows[key] = row = {
                "count": 0,
                "ids": [],
                "status": d["status"],
                "wait_reason": d["wait_reason"],
                "created_by": d["created_by"],
                "start_func": d["start_func"],
                "frames": d.get("frames", []),
                "max_waited_at_least_ns": None,
            }
        row["count"] += 1
        row["ids"].append(g.goid)
        if (row["status"], row["wait_reason"]) != (g.status_name, g.wait_reason or None):
            row["status"], row["wait_reason"] = "mixed", "(mixed)"
        if g.waitsince and now > g.waitsince:
            w = now - g.waitsince
            if (row["max_waited_at_least_ns"] or 0) < w:
                row["max_waited_at_least_ns"] = w
    notes = list(goroutines(proc).errors) + ([merr] if merr else [])
    if now:
        notes.append(
            f"wait times are lower bounds (waitsince is set at a GC scan; 'now' from {now_src})"
        )
    return {
        "groups": sorted(rows.values(), key=lambda r: r["count"]),
        "group_by": by,
        "selected": len(gs),
        "total": len(goroutines(proc).all),
        "notes": notes,
    }
