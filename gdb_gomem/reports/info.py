"""``gomem info``: what a target is, in one screen.

Go version and build, threads, why it stopped (signal, crashing thread and goroutine), the heap
arena range, the MemStats headline, the GC epoch and when the target stopped (from the runtime's
own clocks, :mod:`gdb_gomem.runtime.clock`). Every value names its source in the runtime.
"""

from __future__ import annotations

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.base.fmt import hexaddr, unix_ns_to_iso
from gdb_gomem.goroutines.sched import m_for_thread, walk_ms
from gdb_gomem.reports.casts import code_location
from gdb_gomem.reports.schema.info import (
    ArenaRange,
    CrashDoc,
    CrashTimeDoc,
    GcEpochDoc,
    HeadlineMemStats,
    InfoDoc,
    ThreadRow,
)
from gdb_gomem.runtime.clock import CRASH_TIME, GC_EPOCH
from gdb_gomem.runtime.memstats import read_memstats
from gdb_gomem.target.process import GoProcess


def headline_memstats(stats: dict[str, int]) -> HeadlineMemStats:
    """The MemStats headline of ``gomem info`` out of every field ``read_memstats`` gives."""
    return {
        "HeapAlloc": stats["HeapAlloc"],
        "HeapInuse": stats["HeapInuse"],
        "HeapSys": stats["HeapSys"],
        "HeapIdle": stats["HeapIdle"],
        "HeapReleased": stats["HeapReleased"],
        "HeapObjects": stats["HeapObjects"],
        "TotalAlloc": stats["TotalAlloc"],
        "Mallocs": stats["Mallocs"],
        "Frees": stats["Frees"],
        "StackInuse": stats["StackInuse"],
        "Sys": stats["Sys"],
        "NumGC": stats["NumGC"],
        "LastGC": stats["LastGC"],
        "PauseTotalNs": stats["PauseTotalNs"],
        "last_gc_time": unix_ns_to_iso(stats["LastGC"]),
    }


def gc_epoch_doc(proc: GoProcess, notes: list[str]) -> GcEpochDoc | None:
    """The GC epoch (cycles, last GC end, phase); None (and a note) when unreadable."""
    try:
        ep = GC_EPOCH(proc)
    except (LayoutError, UnreadableMemory) as exc:
        notes.append(f"GC epoch unreadable: {exc}")
        return None
    last = ep.last_gc_unix_ns
    return {
        "num_gc": ep.num_gc,
        "last_gc_unix_ns": last,
        "last_gc_time": unix_ns_to_iso(last) if last else None,
        "gc_phase": ep.gc_phase,
    }


def crash_time_doc(proc: GoProcess, notes: list[str]) -> CrashTimeDoc | None:
    """When the target stopped, from the runtime's clocks; None (and a note) when unreadable."""
    try:
        ct = CRASH_TIME(proc)
    except (LayoutError, UnreadableMemory) as exc:
        notes.append(f"crash time unreadable: {exc}")
        return None
    return {
        "unix_ns": ct.unix_ns,
        "lo_unix_ns": ct.lo_unix_ns,
        "hi_unix_ns": ct.hi_unix_ns,
        "source": ct.source,
        "notes": list(ct.notes),
        "time": unix_ns_to_iso(ct.unix_ns) if ct.unix_ns else None,
    }


def arena_range(proc: GoProcess) -> ArenaRange:
    """The heap arenas in use, from ``mheap_.allArenas`` (arena indices)."""
    from gdb_gomem.runtime.geometry import heap_geometry

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


def collect_info(proc: GoProcess) -> InfoDoc:
    """The JSON document of ``gomem info`` (keys documented in README: a stable contract)."""
    b = proc.binary
    bi = b.build_info
    notes: list[str] = []
    ms, err = walk_ms(proc)
    if err:
        notes.append(err)
    threads: list[ThreadRow] = []
    for t in proc.threads:
        m = m_for_thread(ms, t.lwp)
        threads.append(
            {
                "lwp": t.lwp,
                "m": m.id if m else None,
                "goroutine": m.curg_goid if m else None,
                "pc": hexaddr(t.regs.get("rip")),
                "where": code_location(proc, t.regs.get("rip")),
            }
        )
    stop = proc.stop
    crash: CrashDoc | None = None
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
    heap: ArenaRange | None
    try:
        heap = arena_range(proc)
    except (LayoutError, UnreadableMemory) as exc:
        heap = None
        notes.append(f"heap arenas unreadable: {exc}")
    memstats: HeadlineMemStats | None
    try:
        ms_res = read_memstats(proc)
        memstats = headline_memstats(ms_res.stats)
        notes.extend(ms_res.notes)
    except (LayoutError, UnreadableMemory) as exc:
        memstats = None
        notes.append(f"memstats unreadable: {exc}")
    return {
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
        "heap": heap,
        "memstats": memstats,
        "gc_epoch": gc_epoch_doc(proc, notes),
        "crash_time": crash_time_doc(proc, notes),
        "notes": notes,
    }
