"""The runtime's clocks: the GC epoch and an estimate of when the target stopped.

``memstats.last_gc_unix`` (wall) and ``memstats.last_gc_nanotime`` (monotonic) are written
together at mark termination (mgc.go ``gcMarkTermination``), so the pair converts any
``nanotime()`` reading the runtime left in memory to wall time. ``pause_end`` keeps the wall
end of the last 256 cycles (``pause_end[(N-1) % 256]`` for cycle N, written before ``numgc++``).

The target stopped after every ``nanotime()`` reading the runtime stored, so the latest one is
a proven lower bound on the stop. Readings used (each only where the version's DWARF has it):

- ``sched.procresizetime``: ``procresize`` at every start-the-world (GC, ReadMemStats,
  GOMAXPROCS, ...) and at startup;
- ``sched.lastpoll``: the last network poll (findRunnable, sysmon every 10 ms while it polls);
- each P's ``sysmontick.schedwhen``/``syscallwhen``: sysmon's ``now`` when it saw the P's
  scheduler or syscall tick change (sysmon wakes every 20 us-10 ms while Ps run);
- each P's ``limiterEvent.stamp`` (the low 61 bits of ``now`` when the P went idle or began an
  assist), ``gcStopTime`` (1.22+: when it stopped for a stop-the-world, cleared after) and
  ``gcMarkWorkerStartTime``;
- the periodic timers of each P's heap (``p.timers`` of ``*timer`` up to 1.22, ``p.timers.heap``
  of ``timerWhen`` from 1.23): a ticker's ``when`` is armed as ``now + period`` and advanced
  past ``now`` by exactly whole periods when it fires, so ``when - period`` is a past ``now``.
  A timer's ``when`` itself may be in the future (one-shot timers, sleeps): never a bound.
  Synctest bubbles' fake-clock timers (``isFake``, 1.24+) are skipped;
- ``g.trackingStamp`` (when a sampled goroutine became runnable or began waiting on a lock)
  and ``g.waitsince`` (``work.tstart`` of the GC that first scanned it blocked);
- ``work.tSweepTerm``/``tMark``/``tMarkTerm``/``tEnd``/``tstart``, ``gcController.markStartTime``,
  ``gcCPULimiter.lastUpdate``, ``memstats.last_gc_nanotime``, ``runtimeInitTime``,
  ``time.startNano``; globals of type ``time.Time`` that carry a monotonic reading.

Panic records (``runtime._panic``) hold no clock in any version 1.21-1.27. Nothing in memory
bounds the stop from above: a core holds no wall clock of its own (the kernel's NT_PRSTATUS
has CPU times only), so ``hi_unix_ns`` stays None unless a source proves one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

#: memstats.pause_end is a ring of this many entries (mstats.go).
PAUSE_RING = 256
#: Bounds on what is walked (lengths come from memory).
MAX_PROCS = 1 << 14
MAX_TIMERS_PER_P = 1 << 16
MAX_GS_SCANNED = 1 << 18
MAX_TIME_GLOBALS = 4096

#: time.Time's wall word: hasMonotonic flag, 33-bit seconds since 1885, 30-bit nanoseconds.
_HAS_MONOTONIC = 1 << 63
_NSEC_SHIFT = 30
_WALL_TO_INTERNAL = (1884 * 365 + 1884 // 4 - 1884 // 100 + 1884 // 400) * 86400
_UNIX_TO_INTERNAL = (1969 * 365 + 1969 // 4 - 1969 // 100 + 1969 // 400) * 86400

_PHASES = {0: "off", 1: "mark", 2: "mark termination"}
_LIMITER_EVENTS = {
    1: "idle mark work since",
    2: "mark assist since",
    3: "scavenge assist since",
    4: "idle since",
}

_ERRORS = (LayoutError, UnreadableMemory, IndexError, KeyError, ValueError)


@dataclass(frozen=True)
class GcEpoch:
    """Where the GC was when the target stopped, and the wall/monotonic pair of its last end."""

    num_gc: int  # memstats.numgc: completed cycles
    last_gc_unix_ns: int | None  # memstats.last_gc_unix (wall, set at mark termination)
    last_gc_nanotime: int | None  # memstats.last_gc_nanotime (monotonic, set together)
    gc_phase: str  # "off", "mark", "mark termination" (runtime.gcphase)
    #: memstats.pause_end as read (wall end of the last 256 cycles); empty if unreadable.
    pause_end: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def to_unix_ns(self, nanotime: int) -> int | None:
        """A ``nanotime()`` reading as Unix nanoseconds, through the last GC's clock pair."""
        if not self.last_gc_unix_ns or not self.last_gc_nanotime:
            return None
        return self.last_gc_unix_ns + (nanotime - self.last_gc_nanotime)

    def cycle_end_unix_ns(self, cycle: int) -> int | None:
        """The end of GC number ``cycle`` (1-based) while it is still in the pause_end ring."""
        if cycle < 1 or cycle > self.num_gc or cycle <= self.num_gc - PAUSE_RING:
            return None
        if len(self.pause_end) < PAUSE_RING:
            return None
        return self.pause_end[(cycle - 1) % PAUSE_RING] or None


@dataclass(frozen=True)
class ClockReading:
    """One ``nanotime()`` value the runtime stored: the stop came after it."""

    source: str
    nanotime: int


@dataclass(frozen=True)
class CrashTime:
    """When the target stopped, as well as the runtime's own clocks tell."""

    unix_ns: int | None  # best estimate of when the target stopped
    lo_unix_ns: int | None  # it stopped no earlier than this (a clock the runtime wrote before)
    hi_unix_ns: int | None  # and no later than this, when anything bounds it (else None)
    source: str  # which clock gave unix_ns, e.g. "P1 sysmontick.schedwhen"
    notes: tuple[str, ...]  # how precise, and what else was consulted
    #: Every reading consulted, latest first (monotonic nanoseconds).
    readings: tuple[ClockReading, ...] = field(default=(), repr=False, compare=False)
    #: One wall/monotonic pair read together, (unix ns, nanotime), that turns any monotonic
    #: reading into wall time; None when the core holds none.
    pair: tuple[int, int] | None = field(default=None, repr=False, compare=False)
    pair_source: str = field(default="", repr=False, compare=False)


# ----------------------------------------------------------------------------- GC epoch


def gc_epoch(proc: GoProcess) -> GcEpoch:
    """The GC epoch of the target (``GC_EPOCH(proc)`` caches it)."""
    ms = proc.global_("runtime.memstats")
    num_gc = ms["numgc"].int()
    unix = ms["last_gc_unix"].int() or None
    mono = ms["last_gc_nanotime"].int() or None
    phase = "unknown"
    g = proc.find_global("runtime.gcphase")
    if g is not None:
        raw = g.int()
        names = {
            proc.dw.constants.get("runtime._GCoff", 0): "off",
            proc.dw.constants.get("runtime._GCmark", 1): "mark",
            proc.dw.constants.get("runtime._GCmarktermination", 2): "mark termination",
        }
        phase = names.get(raw, f"unknown ({raw})")
    ring: tuple[int, ...] = ()
    try:
        pe = ms["pause_end"]
        data = pe.raw()
        ring = tuple(int.from_bytes(data[8 * i : 8 * i + 8], "little") for i in range(len(pe)))
    except _ERRORS:
        pass
    return GcEpoch(num_gc, unix, mono, phase, ring)


# ----------------------------------------------------------------------------- readings


class _Collector:
    """Gathers readings and notes about the sources that could not be read."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.readings: list[ClockReading] = []
        self.missing: list[str] = []
        self.failed: list[str] = []
        self.truncated: list[str] = []

    def add(self, source: str, value: int) -> None:
        if 0 < value < 1 << 62:  # nanotime counts from boot: larger is not a clock
            self.readings.append(ClockReading(source, value))

    def field(self, v: Val | None, path: str) -> int | None:
        """The integer at ``path`` of ``v``, None (and noted) when this version lacks it."""
        if v is None:
            return None
        f = v.get(path)
        if f is None:
            name = f"{v.type.name}.{path}"
            if name not in self.missing:
                self.missing.append(name)
            return None
        return f.int()


def _globals(c: _Collector) -> None:
    proc = c.proc
    sched = proc.find_global("runtime.sched")
    for name in ("procresizetime", "lastpoll"):
        v = c.field(sched, name)
        if v is not None:
            c.add(f"sched.{name}", v)
    work = proc.find_global("runtime.work")
    for name in ("tEnd", "tMarkTerm", "tMark", "tSweepTerm", "tstart"):
        v = c.field(work, name)
        if v is not None:
            c.add(f"work.{name}", v)
    v = c.field(proc.find_global("runtime.gcController"), "markStartTime")
    if v is not None:
        c.add("gcController.markStartTime", v)
    v = c.field(proc.find_global("runtime.gcCPULimiter"), "lastUpdate")
    if v is not None:
        c.add("gcCPULimiter.lastUpdate", v)
    v = c.field(proc.find_global("runtime.memstats"), "last_gc_nanotime")
    if v is not None:
        c.add("memstats.last_gc_nanotime", v)
    for name in ("runtime.runtimeInitTime", "time.startNano"):
        g = proc.find_global(name)
        if g is not None:
            c.add(name.removeprefix("runtime."), g.int())


def _limiter_stamp(stamp: int, mask: int, near: int) -> tuple[str, int] | None:
    """(event, nanotime) of a limiterEventStamp: the event type in the bits of ``mask``, the
    low bits of ``now`` below; the top bits come from a nearby reading, as the runtime's own
    ``limiterEventStamp.duration`` takes them from its ``now``."""
    shift = 64 - bin(mask).count("1")
    typ = (stamp & mask) >> shift
    if typ not in _LIMITER_EVENTS or not near:
        return None  # no event in flight (or not a stamp)
    return _LIMITER_EVENTS[typ], (near & mask) | (stamp & ~mask)


def _ps(c: _Collector, near: int) -> None:
    proc = c.proc
    allp = proc.global_("runtime.allp")
    _arr, n, cap = allp.slice_header()
    if n < 0 or n > cap:
        raise UnreadableMemory(allp.addr, 24, f"corrupt allp header (len {n}, cap {cap})")
    if n > MAX_PROCS:
        c.truncated.append(f"allp ({n} Ps, first {MAX_PROCS} read)")
    mask = proc.dw.constants.get("runtime.limiterEventTypeMask", -(1 << 61)) & ((1 << 64) - 1)
    for item in allp.slice_items(MAX_PROCS):
        try:
            p = item.deref()
            if p is None:
                continue
            pid = p["id"].int()
            tick = p.get("sysmontick")
            for name in ("schedwhen", "syscallwhen"):
                v = c.field(tick, name)
                if v is not None:
                    c.add(f"P{pid} sysmontick.{name}", v)
            for name in ("gcStopTime", "gcMarkWorkerStartTime"):
                v = c.field(p, name)
                if v is not None:
                    c.add(f"P{pid} {name}", v)
            stamp = c.field(p, "limiterEvent.stamp")
            if stamp is not None:
                ev = _limiter_stamp(stamp & ((1 << 64) - 1), mask, near)
                if ev is not None:
                    c.add(f"P{pid} limiterEvent ({ev[0]})", ev[1])
            _timers(c, p, pid)
        except _ERRORS as exc:
            c.failed.append(f"a P ({exc})")


def _timer_heap(c: _Collector, p: Val, pid: int) -> list[Val]:
    """The *timer values of one P's heap: ``p.timers`` ([]*timer, 1.21-1.22) or
    ``p.timers.heap`` ([]timerWhen, 1.23+)."""
    t = p.get("timers")
    if t is None:
        c.missing.append("runtime.p.timers")
        return []
    heap = t.get("heap")
    slice_ = heap if heap is not None else t
    n = slice_["len"].int()
    if n > MAX_TIMERS_PER_P:
        c.truncated.append(f"P{pid} timer heap ({n} timers, first {MAX_TIMERS_PER_P} read)")
    out = []
    for item in slice_.slice_items(MAX_TIMERS_PER_P):
        ptr = item["timer"] if heap is not None else item
        tv = ptr.deref()
        if tv is not None:
            out.append(tv)
    return out


def _timers(c: _Collector, p: Val, pid: int) -> None:
    """The latest ``when - period`` of the P's periodic timers (a past ``now``)."""
    consts = c.proc.dw.constants
    max_when = consts.get("runtime.maxWhen", (1 << 63) - 1)
    old_style = "runtime.timerWaiting" in consts  # 1.21-1.22: status field, nextwhen
    zombie = consts.get("runtime.timerZombie", 4)
    best = 0
    for tv in _timer_heap(c, p, pid):
        period = tv["period"].int()
        if period <= 0:
            continue
        if old_style:
            status = tv["status"].int()
            if status == consts.get("runtime.timerWaiting", 1):
                when = tv["when"].int()
            elif status in (
                consts.get("runtime.timerModifiedEarlier", 7),
                consts.get("runtime.timerModifiedLater", 8),
            ):
                when = tv["nextwhen"].int()  # set together with the new period
            else:
                continue
        else:
            fake = tv.get("isFake")
            if fake is not None and fake.bool():
                continue  # a synctest bubble's fake clock
            if tv["state"].int() & zombie:
                continue
            when = tv["when"].int()
        if 0 < when < max_when and when - period > best:
            best = when - period
    if best:
        c.add(f"P{pid} ticker armed (timer when - period)", best)


def _goroutines(c: _Collector) -> None:
    """``g.trackingStamp`` and ``g.waitsince`` of every goroutine, bounded."""
    proc = c.proc
    dw = proc.dw
    allgs = proc.global_("runtime.allgs")
    arr, n, cap = allgs.slice_header()
    if n < 0 or n > cap:
        raise UnreadableMemory(allgs.addr, 24, f"corrupt allgs header (len {n}, cap {cap})")
    if n > MAX_GS_SCANNED:
        c.truncated.append(f"allgs ({n} goroutines, first {MAX_GS_SCANNED} read)")
    n = min(n, MAX_GS_SCANNED)
    offs: dict[str, int] = {}
    for name in ("trackingStamp", "waitsince", "goid"):
        try:
            offs[name] = dw.offset("runtime.g", name)
        except LayoutError:
            if name != "goid":
                c.missing.append(f"runtime.g.{name}")
    if not n or not (offs.keys() - {"goid"}):
        return
    mem = proc.mem
    raw = mem.read(arr, 8 * n)
    best: dict[str, tuple[int, int]] = {}
    for i in range(n):
        g = int.from_bytes(raw[8 * i : 8 * i + 8], "little")
        if not g:
            continue
        for name in ("trackingStamp", "waitsince"):
            off = offs.get(name)
            if off is None:
                continue
            try:
                v = mem.i64(g + off)
            except UnreadableMemory:
                continue
            if v > best.get(name, (0, 0))[0]:
                goid = mem.i64(g + offs["goid"]) if "goid" in offs else 0
                best[name] = (v, goid)
    for name, (v, goid) in best.items():
        c.add(f"goroutine {goid} g.{name}", v)


def _time_globals(c: _Collector, start_nano: int | None) -> list[tuple[str, int, int]]:
    """Globals of type time.Time carrying a monotonic reading: (name, unix ns, nanotime)."""
    proc = c.proc
    dw = proc.dw
    t = dw.find("time.Time")
    if t is None or start_nano is None:
        return []
    out: list[tuple[str, int, int]] = []
    for name, var in dw.globals.items():
        if len(out) >= MAX_TIME_GLOBALS:
            break
        try:
            if dw.resolve(var.type).name != "time.Time" or not var.addr:
                continue
            wall = proc.mem.u64(var.addr)
            ext = proc.mem.i64(var.addr + dw.offset("time.Time", "ext"))
        except _ERRORS:
            continue
        if not wall & _HAS_MONOTONIC:
            continue
        unix, _mono = time_value(wall, ext)
        out.append((name, unix, ext + start_nano))
    return out


def time_value(wall: int, ext: int) -> tuple[int, int | None]:
    """A ``time.Time``'s wall clock as Unix ns, and its monotonic reading (ns since the
    process's time.startNano) when it has one (time/time.go: with ``hasMonotonic`` set,
    ``wall`` holds 33 bits of seconds since 1885 and 30 of nanoseconds, ``ext`` the monotonic
    reading; without, ``ext`` holds the seconds since year 1)."""
    wall &= (1 << 64) - 1
    nsec = wall & ((1 << _NSEC_SHIFT) - 1)
    if wall & _HAS_MONOTONIC:
        sec = (wall << 1 & ((1 << 64) - 1)) >> (_NSEC_SHIFT + 1)
        return (sec + _WALL_TO_INTERNAL - _UNIX_TO_INTERNAL) * 1_000_000_000 + nsec, ext
    return (ext - _UNIX_TO_INTERNAL) * 1_000_000_000 + nsec, None


# ----------------------------------------------------------------------------- crash time


def _fmt_gap(ns: int) -> str:
    a = abs(ns)
    if a < 1_000:
        s = f"{a} ns"
    elif a < 1_000_000:
        s = f"{a / 1e3:.1f} us"
    elif a < 1_000_000_000:
        s = f"{a / 1e6:.1f} ms"
    else:
        s = f"{a / 1e9:.2f} s"
    return s if ns >= 0 else f"-{s}"


def _what_happened(source: str) -> str:
    """What the runtime was doing when it wrote the clock ``source`` names."""
    if "sysmontick" in source:
        return (
            "sysmon stamps a running P when its scheduler or syscall tick changes; it wakes "
            "every 20 us-10 ms while goroutines run and sleeps up to 60 s when all Ps idle"
        )
    if source == "sched.procresizetime":
        return "the world restarted after a stop-the-world (a GC, ReadMemStats, GOMAXPROCS...)"
    if source == "sched.lastpoll":
        return "the network poller last ran (sysmon polls every 10 ms while awake)"
    if "limiterEvent" in source:
        return "a P went idle or began GC work"
    if "gcStopTime" in source:
        return "a P stopped for a stop-the-world (or for the crash's freeze)"
    if "trackingStamp" in source:
        return "a sampled goroutine became runnable or began waiting on a lock"
    if "ticker" in source:
        return "a ticker was armed or last fired"
    if "time.Time" in source:
        return "the program stored this time.Time"
    if source in ("runtimeInitTime", "time.startNano"):
        return "the runtime started"
    return "the GC passed a phase boundary"


def crash_time(proc: GoProcess) -> CrashTime:
    """The crash time estimate (``CRASH_TIME(proc)`` caches it)."""
    notes: list[str] = []
    try:
        ep: GcEpoch | None = GC_EPOCH(proc)
    except _ERRORS as exc:
        ep = None
        notes.append(f"memstats unreadable ({exc})")
    c = _Collector(proc)
    try:
        _globals(c)
    except _ERRORS as exc:
        c.failed.append(f"runtime globals ({exc})")
    near = ep.last_gc_nanotime if ep and ep.last_gc_nanotime else 0
    if not near and c.readings:
        near = max(r.nanotime for r in c.readings)
    try:
        _ps(c, near)
    except _ERRORS as exc:
        c.failed.append(f"allp ({exc})")
    try:
        _goroutines(c)
    except _ERRORS as exc:
        c.failed.append(f"allgs ({exc})")
    init = next((r.nanotime for r in c.readings if r.source == "runtimeInitTime"), 0)
    start_nano = next((r.nanotime for r in c.readings if r.source == "time.startNano"), None)
    tglobals = _time_globals(c, None if start_nano is None else start_nano + 1)
    for name, _unix, mono in tglobals:
        c.add(f"{name} (time.Time monotonic)", mono)

    # The wall/monotonic pair: the last GC's, else a time.Time global carrying both.
    pair: tuple[int, int] | None = None
    pair_source = ""
    if ep is not None and ep.last_gc_unix_ns and ep.last_gc_nanotime:
        pair = (ep.last_gc_unix_ns, ep.last_gc_nanotime)
        pair_source = "the last GC's (last_gc_unix, last_gc_nanotime)"
    elif tglobals:
        name, unix0, mono0 = max(tglobals, key=lambda t: t[2])
        pair = (unix0, mono0)
        pair_source = f"{name} (a time.Time with wall and monotonic readings)"

    readings = tuple(sorted(c.readings, key=lambda r: -r.nanotime))
    if c.missing:
        notes.append("not in this Go version: " + ", ".join(dict.fromkeys(c.missing)))
    if c.failed:
        notes.append("unreadable: " + "; ".join(c.failed[:4]))
    if c.truncated:
        notes.append("bounded: " + "; ".join(c.truncated))
    if not readings:
        notes.append("the runtime left no clock reading")
        return CrashTime(None, None, None, "", tuple(notes), readings, pair, pair_source)
    latest = readings[0]
    if pair is None:
        since = f" ({_fmt_gap(latest.nanotime - init)} after the runtime started)" if init else ""
        notes.insert(
            0,
            f"no GC has completed and no time.Time holds a monotonic reading: the latest "
            f"clock ({latest.source}, monotonic {latest.nanotime}){since} has no wall time",
        )
        return CrashTime(None, None, None, latest.source, tuple(notes), readings, pair, pair_source)
    lo = pair[0] + (latest.nanotime - pair[1])

    sched = proc.find_global("runtime.sched")
    sysmon_asleep = _flag(sched.get("sysmonwait") if sched is not None else None)
    head = [
        f"stopped after {latest.source}, the latest clock the runtime wrote, when "
        f"{_what_happened(latest.source)}"
    ]
    est = lo
    freeze = _freeze_ns(proc)
    if freeze:
        est = lo + freeze
        head[0] += (
            f"; the runtime was dying (runtime.freezing): freezetheworld sleeps at least "
            f"{_fmt_gap(freeze)} before the dump, so the estimate adds {_fmt_gap(freeze)} "
            f"(up to {_fmt_gap(freeze)} late if that clock was written during the freeze); "
            "printing the tracebacks (and, with GOTRACEBACK=crash, relaying SIGQUIT to every "
            "M) takes longer still"
        )
    else:
        head[0] += "; the stop came later by an amount nothing in memory records"
    if sysmon_asleep:
        head.append(
            "sysmon was asleep (sched.sysmonwait: all Ps idle or the world stopped), so no "
            "periodic clock ran in the last moments"
        )
    if len(readings) > 1:
        nxt = readings[1]
        head.append(
            f"next latest: {nxt.source} ({_fmt_gap(latest.nanotime - nxt.nanotime)} earlier); "
            f"{len(readings)} readings consulted"
        )
    head.append(
        f"wall time through {pair_source}, written {_fmt_gap(latest.nanotime - pair[1])} "
        "before that clock; a wall-clock step in between shifts it"
    )
    head.append("no upper bound: a core records no later time (its file time is no proof)")
    return CrashTime(est, lo, None, latest.source, tuple(head + notes), readings, pair, pair_source)


def _flag(v: Val | None) -> bool | None:
    """A bool, uint32 or atomic.Bool (``{_ noCopy; u atomic.Uint8}``) flag; None if unread."""
    if v is None:
        return None
    try:
        u = v.get("u")
        return (u if u is not None else v).bool()
    except _ERRORS:
        return None


def _freeze_ns(proc: GoProcess) -> int:
    """The least time freezetheworld sleeps (proc.go, identical in 1.21-1.27), if it ran.

    A fatal panic or throw (``startpanic_m``) calls it: ``freezing.Store(true)``, up to five
    preemptall + usleep(1000) rounds, then usleep(1000), preemptall, usleep(1000); with
    GODEBUG=dontfreezetheworld=1 one usleep(1000). The dump comes after it returns.
    """
    if not _flag(proc.find_global("runtime.freezing")):
        return 0
    debug = proc.find_global("runtime.debug")
    dont = debug.get("dontfreezetheworld") if debug is not None else None
    try:
        if dont is not None and dont.int() > 0:
            return 1_000_000
    except _ERRORS:
        pass
    return 2_000_000


GC_EPOCH: Lazy[GcEpoch] = Lazy("GC epoch", gc_epoch)
CRASH_TIME: Lazy[CrashTime] = Lazy("crash time", crash_time)
