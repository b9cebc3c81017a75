"""Documents of ``gomem defers`` and ``gomem panics``: pending deferred calls and panics in
flight, per goroutine, with the process-wide parts (the runtime's free ``_defer`` pools, the
crash). The records are read in :mod:`gdb_gomem.goroutines.defers` and
:mod:`gdb_gomem.goroutines.panics`.
"""

from __future__ import annotations

from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.goroutines.deferpools import defer_pools
from gdb_gomem.goroutines.defers import goroutine_defers
from gdb_gomem.goroutines.panics import goroutine_panics
from gdb_gomem.goroutines.sched import m_for_thread, walk_ms
from gdb_gomem.reports.casts import (
    defer_pools_doc,
    goroutine_defers_fields,
    goroutine_panics_fields,
)
from gdb_gomem.reports.schema.goroutines import (
    DefersDoc,
    DeferTotals,
    GoroutineDefersDoc,
    GoroutineMeta,
    GoroutinePanicsDoc,
    PanicCrashDoc,
    PanicsDoc,
)
from gdb_gomem.target.process import GoProcess


def crash_goroutine(proc: GoProcess) -> int | None:
    """The goroutine the crashing thread was running; None without a crash or goroutine."""
    if not proc.stop.crashed:
        return None
    ms, _err = walk_ms(proc)
    m = m_for_thread(ms, proc.stop.thread_lwp)
    return m.curg_goid if m else None


def _gmeta(g: Goroutine) -> GoroutineMeta:
    return {"status": g.status_name, "wait_reason": g.wait_reason or None, "labels": g.labels}


def defers_doc(proc: GoProcess, gs: list[Goroutine], *, show_all: bool = False) -> DefersDoc:
    """Pending defers of ``gs``; goroutines with none only with ``show_all``."""
    out: list[GoroutineDefersDoc] = []
    totals: DeferTotals = {
        "goroutines": 0,
        "heap": 0,
        "stack": 0,
        "open": 0,
        "retained_heap_bytes": 0,
    }
    for g in gs:
        gd = goroutine_defers(proc, g)
        show = show_all or gd.any
        if not show:
            continue
        doc: GoroutineDefersDoc = {**goroutine_defers_fields(gd), **_gmeta(g)}
        out.append(doc)
        if gd.any:
            totals["goroutines"] += 1
        for k in ("heap", "stack", "open"):
            totals[k] += gd.counts[k]
        totals["retained_heap_bytes"] += sum(
            cl["retained_heap_bytes"] for d in doc["pending"] if (cl := d["closure"])
        )
    pools = defer_pools(proc)
    notes = [
        "heap/stack counts are runtime._defer records on g._defer; open counts are set "
        "deferBits bits of frames with FUNCDATA_OpenCodedDeferInfo",
        "a closure's size is exact for stack closures (the frame's stack-object record) and "
        "inferred for heap ones (the span's element size: the closure's size class)",
    ]
    if any(f.get("kind") == "open-frame" for d in out for f in d["records"]):
        notes.append(
            "Go 1.21 keeps one 'open-frame' _defer per frame a panic is unwinding; "
            "it describes the frame, its calls are counted under 'open'"
        )
    return {
        "go_version": proc.go_version,
        "goroutines": out,
        "totals": totals,
        "defer_pools": defer_pools_doc(pools),
        "errors": list(goroutines(proc).errors),
        "notes": notes,
    }


def panics_doc(proc: GoProcess, gs: list[Goroutine], *, show_all: bool = False) -> PanicsDoc:
    """Panics in flight on ``gs``; goroutines with none only with ``show_all``."""
    crash_g = crash_goroutine(proc)
    out: list[GoroutinePanicsDoc] = []
    for g in gs:
        gp = goroutine_panics(proc, g)
        if not (show_all or gp.panics or gp.errors):
            continue
        out.append({**goroutine_panics_fields(gp), **_gmeta(g), "crashing": g.goid == crash_g})
    crash: PanicCrashDoc | None = None
    if proc.stop.crashed:
        crash = {"goroutine": crash_g, "panic_value": None}
        for d in out:
            if d["goroutine"] == crash_g and d["panics"]:
                crash["panic_value"] = d["panics"][0]["text"]
    return {
        "go_version": proc.go_version,
        "goroutines": out,
        "crash": crash,
        "errors": list(goroutines(proc).errors),
        "notes": [
            "a recovered panic is unlinked from g._panic, so only panics still unwinding "
            "(or killing the program) are listed",
            "on the fatal path runtime.preprintpanics has replaced error/Stringer values by "
            "their text",
        ],
    }
