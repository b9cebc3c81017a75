"""``gomem info``: the target at a glance (README, "JSON contract", has the key table)."""

from __future__ import annotations

from typing import TypedDict

from gdb_gomem.reports.schema.common import CodeLocation


class TargetDoc(TypedDict):
    kind: str  # "kernel core", "gcore snapshot" or "live process"
    name: str
    binary: str


class BuildDoc(TypedDict):
    """The build info (``go version -m``) and the Go build ID."""

    go_version: str
    path: str
    main_module: str
    main_version: str
    settings: dict[str, str]
    go_build_id: str


class ThreadRow(TypedDict):
    """One OS thread; the crashing thread first on a core."""

    lwp: int
    m: int | None
    goroutine: int | None
    pc: str | None
    where: CodeLocation | None


class StoppedDoc(TypedDict):
    """The stop signal, also when it is not a crash (SIGTRAP at a breakpoint)."""

    signal: str | None
    signo: int
    crashed: bool


class CrashDoc(TypedDict):
    """The fatal signal and who took it."""

    signal: str
    signo: int
    code: int
    fault_addr: str | None
    sender_pid: int | None
    thread: int | None
    m: int | None
    goroutine: int | None
    where: CodeLocation | None


class ArenaRange(TypedDict):
    """The heap arenas in use (``mheap_.allArenas``/``heapArenas``)."""

    arenas: int
    arena_bytes: int
    start: str | None
    end: str | None


class HeadlineMemStats(TypedDict):
    """The MemStats headline as ``runtime.ReadMemStats`` would report it at the stop."""

    HeapAlloc: int
    HeapInuse: int
    HeapSys: int
    HeapIdle: int
    HeapReleased: int
    HeapObjects: int
    TotalAlloc: int
    Mallocs: int
    Frees: int
    StackInuse: int
    Sys: int
    NumGC: int
    LastGC: int  # Unix ns
    PauseTotalNs: int
    last_gc_time: str | None  # ISO-8601 UTC, null before the first GC


class GcEpochDoc(TypedDict):
    """The GC epoch at the stop (``memstats.numgc``, ``last_gc_unix``, ``runtime.gcphase``)."""

    num_gc: int
    last_gc_unix_ns: int | None  # null before the first GC
    last_gc_time: str | None  # ISO-8601 UTC
    gc_phase: str  # "off", "mark", "mark termination"


class CrashTimeDoc(TypedDict):
    """When the target stopped, from the runtime's own monotonic clocks (Unix ns)."""

    unix_ns: int | None  # the estimate; null when no reading converts to wall time
    lo_unix_ns: int | None  # proven: the runtime wrote this clock before it stopped
    hi_unix_ns: int | None  # an upper bound, when anything proves one
    source: str  # the clock that gave the estimate ("sched.procresizetime", "P1 ...")
    notes: list[str]  # how precise, what else was consulted
    time: str | None  # the estimate, ISO-8601 UTC


class InfoDoc(TypedDict):
    go_version: str
    goarch: str
    target: TargetDoc
    build: BuildDoc
    threads: int
    thread_list: list[ThreadRow]
    ms: int
    stopped: StoppedDoc
    crash: CrashDoc | None
    heap: ArenaRange | None
    memstats: HeadlineMemStats | None
    gc_epoch: GcEpochDoc | None  # null when memstats is unreadable
    crash_time: CrashTimeDoc | None
    notes: list[str]
