"""Every live timer and ticker of a target, where the runtime keeps them per Go version.

- Go 1.21-1.22 (runtime/time.go): an active timer is on its P's heap (``p.timers``,
  ``[]*timer``); ``time.Timer``/``time.Ticker`` embed it (``runtimeTimer``).
- Go 1.23+: ``time.NewTimer``/``NewTicker`` allocate the runtime's ``timeTimer{c, init,
  timer}``; a channel timer is on a P's heap (``p.timers.heap``, ``[]timerWhen``) only while a
  goroutine is blocked on its channel, so an unstopped ticker nobody reads is on no heap and
  lives only as that heap object (typed ``runtime.timeTimer``). Its ``when`` still says when
  it would fire.

So the list is the P heaps' timers plus the heap objects typed as timers
(``runtime.timeTimer``, ``runtime.timer``, ``time.Timer``/``Ticker`` before 1.23), each once.
A timer is live when ``when`` is set (a stopped one has ``when`` 0, or the zombie/deleted
state). ``when`` is the runtime's ``nanotime()``; its wall time comes from the core's
wall/monotonic pair (the last GC's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.heap.allocstacks import sampled_stacks
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.runtime.clock import CRASH_TIME
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

MAX_TIMERS = 1 << 20
MAX_PER_P = 1 << 16
#: Type names of heap objects that are (or embed at a known field) a runtime timer.
HOLDERS = {"runtime.timeTimer": "timer", "time.Timer": "r", "time.Ticker": "r", "runtime.timer": ""}


@dataclass
class TimerInfo:
    addr: int  # the runtime.timer
    when: int  # nanotime() it fires at (0: not armed)
    period: int
    kind: str  # "ticker" or "timer"
    func: str  # what it runs (runtime's f), or "" when unknown
    channel: bool  # it feeds a channel (a time.Timer/Ticker's C)
    in_p_heap: int | None  # the P whose heap holds it, None when on no heap
    held_by: str  # the heap object holding it ("runtime.timeTimer 0x..."), or ""
    held_by_addr: int | None
    created_at: str  # the holding object's sampled allocation site, or ""
    state: str  # the runtime's status/state, as text


@dataclass
class Timers:
    timers: list[TimerInfo]
    wall_offset: int | None  # unix ns - nanotime, from the core's pair
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def when_unix_ns(self, t: TimerInfo) -> int | None:
        if not t.when or self.wall_offset is None:
            return None
        return t.when + self.wall_offset


def _func_name(proc: GoProcess, fv: Val) -> str:
    try:
        p = fv.ptr()
        if not p:
            return ""
        f = proc.pclntab.find_func(proc.mem.u64(p))
        return f.name if f is not None else ""
    except (UnreadableMemory, GomemError):
        return ""


def _p_heap_timers(proc: GoProcess, errors: list[str]) -> dict[int, int]:
    """timer address -> P id, for every timer on a P's heap."""
    out: dict[int, int] = {}
    try:
        allp = proc.global_("runtime.allp")
        for pp in allp.slice_items(1 << 12):
            p = pp.deref()
            if p is None:
                continue
            pid = p["id"].int()
            t = p.get("timers")
            if t is None:
                continue
            heap = t.get("heap")
            items = (heap if heap is not None else t).slice_items(MAX_PER_P)
            for it in items:
                ptr = it["timer"] if heap is not None else it
                a = ptr.ptr()
                if a:
                    out[a] = pid
    except (LayoutError, UnreadableMemory) as exc:
        errors.append(f"P timer heaps: {exc}")
    return out


def find_timers(proc: GoProcess) -> Timers:
    errors: list[str] = []
    notes: list[str] = []
    dw = proc.dw
    timer_t = dw.find("runtime.timer")
    if timer_t is None:
        raise LayoutError("runtime.timer is not in the binary's DWARF", "")
    on_heap = _p_heap_timers(proc, errors)
    ht = heap_types(proc)
    ot = ht.objects
    holder_of: dict[int, tuple[int, str]] = {}  # timer addr -> (object index, type name)
    for tix, e in enumerate(ht.table):
        base = e.name
        if base not in HOLDERS:
            continue
        fld = HOLDERS[base]
        try:
            off = dw.offset(base, fld) if fld else 0
        except LayoutError:
            continue
        idx = np.flatnonzero(ht.type_id == tix)
        for i in idx[:MAX_TIMERS].tolist():
            a = int(ot.addr[i]) + int(ht.data_off[i]) + off
            holder_of.setdefault(a, (i, base))
    addrs = sorted(set(on_heap) | set(holder_of))
    consts = dw.constants
    zombie = consts.get("runtime.timerZombie")
    deleted = {
        consts[k]
        for k in ("runtime.timerDeleted", "runtime.timerRemoved", "runtime.timerNoStatus")
        if k in consts
    }
    ss = sampled_stacks(proc)
    out: list[TimerInfo] = []
    for a in addrs[:MAX_TIMERS]:
        v = Val(proc.mem, dw, a, dw.resolve(timer_t.id))
        try:
            when = v["when"].int()
            period = v["period"].int()
            func = _func_name(proc, v["f"])
            if v.has("state"):
                st = v["state"].int()
                state = f"state {st:#x}"
                dead = zombie is not None and bool(st & zombie)
                is_chan = v["isChan"].bool() if v.has("isChan") else False
            else:
                st = v["status"].int()
                state = f"status {st}"
                dead = st in deleted
                is_chan = func in ("time.sendTime",)
        except (UnreadableMemory, LayoutError) as exc:
            errors.append(f"timer at {a:#x}: {exc}")
            continue
        if dead or when <= 0:
            continue  # stopped, or never started
        is_chan = is_chan or func == "time.sendTime"
        held = holder_of.get(a)
        held_by, held_addr, created = "", None, ""
        if held is not None:
            i, name = held
            held_addr = int(ot.addr[i])
            held_by = f"{name} {held_addr:#x}"
            b = int(ss.bucket[i]) if len(ss.bucket) > i else 0
            frames = ss.frames.get(b, []) if b else []
            site = next(
                (f for f in frames if f.func and not f.func.startswith(("runtime.", "time."))), None
            )
            created = site.label() if site is not None else ""
        out.append(
            TimerInfo(
                addr=a,
                when=when,
                period=period,
                kind="ticker" if period > 0 else "timer",
                func=func,
                channel=is_chan,
                in_p_heap=on_heap.get(a),
                held_by=held_by,
                held_by_addr=held_addr,
                created_at=created,
                state=state,
            )
        )
    pair = CRASH_TIME(proc).pair
    offset = pair[0] - pair[1] if pair else None
    if offset is None:
        notes.append("no wall/monotonic pair in the core: next firing times are nanotime only")
    if any(t.channel and t.in_p_heap is None for t in out):
        notes.append(
            "a channel timer (time.Timer/Ticker, Go 1.23+) is on a P's heap only while a "
            "goroutine waits on its channel: those shown without a P are armed but nobody "
            "is receiving"
        )
    return Timers(out, offset, notes, errors)
