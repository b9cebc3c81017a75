"""``gomem threads``: each OS thread as the scheduler knows it (M, P, g0, gsignal, curg).

Threads come from the target (core notes or gdb); each is matched to its M by ``m.procid``.
A thread's backtrace is unwound from its registers across stacks: a crash usually shows the
gsignal stack (signal handler), then, through the signal frame, g0 or the goroutine's stack.
Each frame is labelled with the stack it lies on.
"""

from __future__ import annotations

from typing import Any

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.goroutines.sched import MInfo, walk_ms
from gdb_gomem.goroutines.unwind import unwinder
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout, Val

Doc = dict[str, Any]


def _stack_of(proc: GoProcess, lay: Layout, g_addr: int) -> tuple[int, int]:
    if not g_addr:
        return 0, 0
    try:
        raw = proc.mem.read(g_addr, lay.size)
    except UnreadableMemory:
        return 0, 0
    return lay.get(raw, "stack.lo"), lay.get(raw, "stack.hi")


def _sched_of(proc: GoProcess, g_addr: int) -> tuple[int, int] | None:
    """(sched.pc, sched.sp) of a goroutine: where a g0 stack continues after systemstack."""
    if not g_addr:
        return None
    try:
        g = Val(proc.mem, proc.dw, g_addr, proc.dw.type("runtime.g"))
        pc, sp = g["sched.pc"].int(), g["sched.sp"].int()
    except (LayoutError, UnreadableMemory):
        return None
    return (pc, sp) if pc and sp else None


def threads_doc(proc: GoProcess, *, backtraces: str = "crash") -> Doc:
    """``backtraces``: "all", "crash" (only the thread that took the fatal signal) or "none"."""
    ms, err = walk_ms(proc)
    by_procid: dict[int, MInfo] = {m.procid: m for m in ms}
    glay = Layout(proc.dw, "runtime.g", ("stack.lo", "stack.hi", "goid"))
    u = unwinder(proc)
    out = []
    crash_lwp = proc.stop.thread_lwp if proc.stop.crashed else None
    for t in proc.threads:
        m = by_procid.get(t.lwp)
        d: Doc = {
            "lwp": t.lwp,
            "crashed": t.lwp == crash_lwp,
            "m": m.id if m else None,
            "p": m.p_id if m else None,
            "curg": m.curg_goid if m else None,
            "pc": f"{t.regs.get('rip', 0):#x}",
            "sp": f"{t.regs.get('rsp', 0):#x}",
            "where": proc.describe_pc(t.regs.get("rip")),
        }
        stacks: list[tuple[str, int, int]] = []
        if m is not None:
            try:
                mv = Val(proc.mem, proc.dw, m.addr, proc.dw.type("runtime.m"))
                gsignal = mv["gsignal"].ptr()
            except (LayoutError, UnreadableMemory):
                gsignal = 0
            g0lo, g0hi = _stack_of(proc, glay, m.g0_addr)
            sglo, sghi = _stack_of(proc, glay, gsignal)
            cglo, cghi = _stack_of(proc, glay, m.curg_addr)
            d["g0_stack"] = {"lo": f"{g0lo:#x}", "hi": f"{g0hi:#x}"}
            d["gsignal_stack"] = {"lo": f"{sglo:#x}", "hi": f"{sghi:#x}"} if gsignal else None
            stacks = [("g0", g0lo, g0hi), ("gsignal", sglo, sghi)]
            if m.curg_goid is not None:
                stacks.append((f"goroutine {m.curg_goid}", cglo, cghi))
        rsp = t.regs.get("rsp", 0)
        d["on_stack"] = next((n for n, lo, hi in stacks if lo <= rsp < hi), None)
        want = backtraces == "all" or (backtraces == "crash" and d["crashed"])
        if want and t.regs.get("rip"):
            curg_sched = _sched_of(proc, m.curg_addr) if m is not None else None

            def jump(s: tuple[int, int] | None = curg_sched) -> tuple[int, int] | None:
                return s

            bt = u.unwind(t.regs["rip"], rsp, trap=True, jump=jump)
            frames = []
            for f in bt.frames:
                fj = f.as_json()
                fj["stack"] = next((n for n, lo, hi in stacks if lo <= f.sp < hi), None)
                frames.append(fj)
            d["frames"] = frames
            d["frames_error"] = bt.error
        out.append(d)
    notes = [err] if err else []
    unmatched = [t["lwp"] for t in out if t["m"] is None]
    if unmatched:
        notes.append(f"threads with no M (not started by the Go runtime?): {unmatched}")
    return {"threads": out, "ms": len(ms), "notes": notes}
