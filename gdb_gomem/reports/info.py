"""``gomem info``: what a target is, in one screen.

Go version and build, threads, why it stopped (signal, crashing thread and goroutine), the heap
arena range, and the MemStats headline. Every value names its source in the runtime.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.goroutines.sched import m_for_thread, walk_ms
from gdb_gomem.runtime.memstats import read_memstats
from gdb_gomem.target.process import GoProcess

HEADLINE = (
    "HeapAlloc",
    "HeapInuse",
    "HeapSys",
    "HeapIdle",
    "HeapReleased",
    "HeapObjects",
    "TotalAlloc",
    "Mallocs",
    "Frees",
    "StackInuse",
    "Sys",
    "NumGC",
    "LastGC",
    "PauseTotalNs",
)


def hexaddr(addr: int | None) -> str | None:
    """Addresses are hex strings in JSON: readable, and exact beyond 2^53."""
    return None if addr is None else f"{addr:#x}"


def unix_ns_to_iso(ns: int) -> str | None:
    if ns <= 0:
        return None
    t = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def arena_range(proc: GoProcess) -> dict[str, Any]:
    """The heap arenas in use, from ``mheap_.allArenas`` (arena indices)."""
    from gdb_gomem.runtime.spans import heap_geometry

    geo = heap_geometry(proc.dw)
    arena_bytes = geo.arena_bytes
    mheap = proc.global_("runtime.mheap_")
    # Go 1.25 renamed allArenas to heapArenas when user arenas got their own list.
    arenas = mheap.get("heapArenas") or mheap["allArenas"]
    idxs = [v.int() for v in arenas.slice_items(1 << 22)]
    if not idxs:
        return {"arenas": 0, "arena_bytes": arena_bytes, "start": None, "end": None}
    starts = sorted(geo.arena_start(i) for i in idxs)
    return {
        "arenas": len(starts),
        "arena_bytes": arena_bytes,
        "start": hexaddr(starts[0]),
        "end": hexaddr(starts[-1] + arena_bytes),
    }


def collect_info(proc: GoProcess) -> dict[str, Any]:
    """The JSON document of ``gomem info`` (keys documented in README: a stable contract)."""
    b = proc.binary
    bi = b.build_info
    notes: list[str] = []
    ms, err = walk_ms(proc)
    if err:
        notes.append(err)
    threads = []
    for t in proc.threads:
        m = m_for_thread(ms, t.lwp)
        threads.append(
            {
                "lwp": t.lwp,
                "m": m.id if m else None,
                "goroutine": m.curg_goid if m else None,
                "pc": hexaddr(t.regs.get("rip")),
                "where": proc.describe_pc(t.regs.get("rip")),
            }
        )
    stop = proc.stop
    crash: dict[str, Any] | None = None
    if stop.crashed:
        m = m_for_thread(ms, stop.thread_lwp)
        crash = {
            "signal": stop.signal_name,
            "signo": stop.signal,
            "code": stop.code,
            "fault_addr": hexaddr(stop.fault_addr),
            "sender_pid": stop.sender_pid,
            "thread": stop.thread_lwp,
            "m": m.id if m else None,
            "goroutine": m.curg_goid if m else None,
            "where": threads[0]["where"] if threads else None,
        }
        if m is not None and m.curg_goid is None:
            notes.append("the crashing thread was not running a goroutine (on g0 or idle)")
    result: dict[str, Any] = {
        "go_version": proc.go_version,
        "goarch": b.goarch,
        "target": {
            "kind": stop.source,
            "name": proc.target_name,
            "binary": str(b.path),
        },
        "build": {
            "go_version": bi.go_version,
            "path": bi.path,
            "main_module": bi.main_module,
            "main_version": bi.main_version,
            "settings": bi.settings,
            "go_build_id": b.go_build_id,
        },
        "threads": len(proc.threads),
        "thread_list": threads,
        "ms": len(ms),
        "stopped": {
            "signal": stop.signal_name or None,
            "signo": stop.signal,
            "crashed": stop.crashed,
        },
        "crash": crash,
    }
    try:
        result["heap"] = arena_range(proc)
    except (LayoutError, UnreadableMemory) as exc:
        result["heap"] = None
        notes.append(f"heap arenas unreadable: {exc}")
    try:
        ms_res = read_memstats(proc)
        stats = {k: ms_res.stats[k] for k in HEADLINE}
        stats["last_gc_time"] = unix_ns_to_iso(stats["LastGC"])
        result["memstats"] = stats
        notes.extend(ms_res.notes)
    except (LayoutError, UnreadableMemory) as exc:
        result["memstats"] = None
        notes.append(f"memstats unreadable: {exc}")
    result["notes"] = notes
    return result
