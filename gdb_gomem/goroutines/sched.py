"""The scheduler's view of threads: Ms from ``runtime.allm``, their g0 and current goroutine.

Used to name the goroutine a crashing OS thread was running: the kernel writes the thread that
took the fatal signal first, ``m.procid`` is that thread's kernel id (set in ``minit``), and
``m.curg`` stays the user goroutine while the runtime crashes on the g0 stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

#: Bound on the allm list: the runtime's own default limit is 10000 threads (SetMaxThreads).
MAX_MS = 100_000

#: runtime2.go _Gidle.._Gpreempted (1.26 adds _Gleaked = 10); _Gscan = 0x1000 is or-ed in.
G_STATUS = {
    0: "idle",
    1: "runnable",
    2: "running",
    3: "syscall",
    4: "waiting",
    5: "moribund_unused",
    6: "dead",
    7: "enqueue_unused",
    8: "copystack",
    9: "preempted",
    10: "leaked",
}


def g_status_names(constants: dict[str, int]) -> dict[int, str]:
    """The binary's own ``runtime._G*`` status constants (DWARF), over the table above: a
    status a newer Go adds (1.26's _Gleaked, _Gdeadextra) gets its name, not a number."""
    names = dict(G_STATUS)
    for k, v in constants.items():
        if k.startswith("runtime._G") and not k.startswith(("runtime._Gscan", "runtime._GC")):
            name = k.removeprefix("runtime._G")
            if name and name[0].islower() and 0 <= v < 0x1000:
                names[v] = name
    return names


def g_status_name(status: int, names: dict[int, str] | None = None) -> str:
    table = names if names is not None else G_STATUS
    base = table.get(status & ~0x1000, f"status {status & ~0x1000}")
    return f"scan+{base}" if status & 0x1000 else base


@dataclass
class MInfo:
    """One M (OS thread known to the Go scheduler)."""

    id: int
    addr: int
    procid: int
    curg_goid: int | None
    curg_addr: int
    g0_addr: int
    p_id: int | None


def _goid(g: Val | None) -> int | None:
    return None if g is None else g["goid"].int()


def walk_ms(proc: GoProcess) -> tuple[list[MInfo], str | None]:
    """All Ms on ``allm`` through ``alllink``; returns (ms, error line if the walk broke)."""
    out: list[MInfo] = []
    seen: set[int] = set()
    try:
        m = proc.global_("runtime.allm").deref()
        while m is not None:
            if m.addr in seen:
                return out, f"allm list loops back to {m.addr:#x}; walk stopped"
            if len(out) >= MAX_MS:
                return out, f"allm list longer than {MAX_MS}; walk stopped"
            seen.add(m.addr)
            curg = m["curg"].deref()
            pp = m["p"].int()
            p_id = None
            if pp:
                p_id = m.at(pp).cast("runtime.p")["id"].int()
            out.append(
                MInfo(
                    id=m["id"].int(),
                    addr=m.addr,
                    procid=m["procid"].int(),
                    curg_goid=_goid(curg),
                    curg_addr=curg.addr if curg else 0,
                    g0_addr=m["g0"].ptr(),
                    p_id=p_id,
                )
            )
            m = m["alllink"].deref()
    except (UnreadableMemory, LayoutError) as exc:
        return out, f"allm walk stopped: {exc}"
    return out, None


def m_for_thread(ms: list[MInfo], lwp: int | None) -> MInfo | None:
    if lwp is None:
        return None
    for m in ms:
        if m.procid == lwp:
            return m
    return None
