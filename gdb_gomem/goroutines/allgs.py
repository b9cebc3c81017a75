"""Goroutines from ``runtime.allgs``: status, wait reason, creation site, labels, stack.

Each ``g`` is read with one memory read and decoded through a DWARF :class:`Layout`. Field
meanings follow runtime/runtime2.go:

- ``atomicstatus``: _Gidle.._Gpreempted, or-ed with _Gscan (0x1000) while the GC scans it;
- ``waitreason``: index into ``runtime.waitReasonStrings`` (meaningful in _Gwaiting);
- ``waitsince``: nanotime, but only *approximately* when it blocked: the runtime fills it in at
  the first GC stack scan after it parked (``markroot``), so it is a lower bound on the wait;
- ``gopc``: the PC of the ``go`` statement (the creator's return address), ``startpc`` the
  goroutine's function, ``parentGoid`` the creator's id;
- ``labels``: ``*runtime/pprof.labelMap`` (a ``map[string]string`` up to Go 1.23, a slice of
  key/value pairs from 1.24), decoded from its DWARF type;
- ``sched``: where a parked goroutine resumes (its stack is unwound from there);
  ``syscallsp``/``syscallpc`` for one in a system call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.goroutines.sched import g_status_name, g_status_names
from gdb_gomem.runtime.gomaps import MapError, classic_map_entries
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout, Val

#: Bound on allgs (the runtime has no hard cap; 50M goroutines would need ~100 GB of stacks).
MAX_GS = 50_000_000
MAX_LABELS = 4096

G_FIELDS = (
    "goid",
    "atomicstatus",
    "waitreason",
    "waitsince",
    "gopc",
    "startpc",
    "lockedm",
    "m",
    "stack.lo",
    "stack.hi",
    "sched.pc",
    "sched.sp",
    "sched.bp",
    "syscallsp",
    "syscallpc",
    "_defer",
    "_panic",
    "labels",
)
G_OPTIONAL = ("parentGoid",)

G_WAITING = 4
G_SYSCALL = 3
G_RUNNING = 2
G_DEAD = 6


#: The runtime's largest goroutine stack on 64-bit (``maxstacksize``, set by runtime.main).
MAX_STACK = 1 << 30


def stack_error(lo: int, hi: int) -> str | None:
    """Why ``g.stack`` bounds are impossible (stacks are word-aligned, non-empty and at most
    ``maxstacksize``, 1 GB on 64-bit), or None; a dead g's zero bounds are fine."""
    if lo == hi == 0:
        return None
    if lo % 8 or hi % 8:
        return f"stack bounds {lo:#x}-{hi:#x} are not word-aligned"
    if not 0 < hi - lo <= MAX_STACK:
        return f"stack bounds {lo:#x}-{hi:#x} give an impossible size"
    return None


@dataclass
class Goroutine:
    addr: int
    goid: int
    status: int
    status_name: str
    wait_reason: str
    waitsince: int
    gopc: int
    startpc: int
    parent_goid: int
    lockedm: int
    m: int
    stack_lo: int
    stack_hi: int
    sched_pc: int
    sched_sp: int
    sched_bp: int
    syscallsp: int
    syscallpc: int
    defer_ptr: int
    panic_ptr: int
    labels_ptr: int
    labels: dict[str, str] = field(default_factory=dict)
    label_error: str | None = None

    @property
    def dead(self) -> bool:
        return self.status & ~0x1000 == G_DEAD


class GoroutineTable:
    """All goroutines of a process, decoded once and cached on the process."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.errors: list[str] = []
        self.layout = Layout(proc.dw, "runtime.g", G_FIELDS, G_OPTIONAL)

    @cached_property
    def wait_reasons(self) -> list[str]:
        try:
            arr = self.proc.global_("runtime.waitReasonStrings")
            return [arr.index(i).string(128) for i in range(len(arr))]
        except (LayoutError, UnreadableMemory) as exc:
            self.errors.append(f"wait reason names unreadable: {exc}")
            return []

    @cached_property
    def all(self) -> list[Goroutine]:
        """Every g in allgs except dead ones, in allgs order (creation order)."""
        proc = self.proc
        try:
            allgs = proc.global_("runtime.allgs")
            arr, n, cap = allgs.slice_header()
        except (LayoutError, UnreadableMemory) as exc:
            self.errors.append(f"runtime.allgs unreadable: {exc}")
            return []
        if not 0 <= n <= min(cap, MAX_GS):
            self.errors.append(f"runtime.allgs has a corrupt length ({n}, cap {cap})")
            return []
        try:
            ptrs = proc.mem.read(arr, 8 * n)
        except UnreadableMemory as exc:
            self.errors.append(f"runtime.allgs array unreadable: {exc}")
            return []
        out = []
        lay = self.layout
        reasons = self.wait_reasons
        names = g_status_names(proc.dw.constants)
        # A dead goroutine kept for an extra M (cgo callbacks, Go 1.26+) is dead too.
        dead = {G_DEAD, *(v for v, nm in names.items() if nm == "deadextra")}
        for i in range(n):
            gp = int.from_bytes(ptrs[8 * i : 8 * i + 8], "little")
            try:
                raw = proc.mem.read(gp, lay.size)
            except UnreadableMemory as exc:
                self.errors.append(f"allgs[{i}] = {gp:#x} unreadable: {exc}")
                continue
            status = lay.get(raw, "atomicstatus")
            if status & ~0x1000 in dead:
                continue
            wr = lay.get(raw, "waitreason")
            g = Goroutine(
                addr=gp,
                goid=lay.get(raw, "goid"),
                status=status,
                status_name=g_status_name(status, names),
                wait_reason=reasons[wr] if 0 <= wr < len(reasons) else f"waitreason {wr}",
                waitsince=lay.get(raw, "waitsince"),
                gopc=lay.get(raw, "gopc"),
                startpc=lay.get(raw, "startpc"),
                parent_goid=lay.get(raw, "parentGoid"),
                lockedm=lay.get(raw, "lockedm"),
                m=lay.get(raw, "m"),
                stack_lo=lay.get(raw, "stack.lo"),
                stack_hi=lay.get(raw, "stack.hi"),
                sched_pc=lay.get(raw, "sched.pc"),
                sched_sp=lay.get(raw, "sched.sp"),
                sched_bp=lay.get(raw, "sched.bp"),
                syscallsp=lay.get(raw, "syscallsp"),
                syscallpc=lay.get(raw, "syscallpc"),
                defer_ptr=lay.get(raw, "_defer"),
                panic_ptr=lay.get(raw, "_panic"),
                labels_ptr=lay.get(raw, "labels"),
            )
            if status & ~0x1000 != G_WAITING:
                g.wait_reason = ""
            bad = stack_error(g.stack_lo, g.stack_hi)
            if bad:
                # The goroutine is listed, but nothing reads a stack these bounds describe.
                self.errors.append(f"goroutine {g.goid} (g {gp:#x}): {bad}; its stack is skipped")
                g.stack_lo = g.stack_hi = 0
            if g.labels_ptr:
                try:
                    g.labels = read_labels(proc, g.labels_ptr)
                except (GomemError, IndexError) as exc:
                    g.label_error = str(exc)
            out.append(g)
        return out

    def by_id(self, goid: int) -> Goroutine | None:
        for g in self.all:
            if g.goid == goid:
                return g
        return None


GOROUTINES: Lazy[GoroutineTable] = Lazy("goroutines", GoroutineTable)


def goroutines(proc: GoProcess) -> GoroutineTable:
    """The process's goroutine table (decoded once per process)."""
    return GOROUTINES(proc)


def read_labels(proc: GoProcess, ptr: int) -> dict[str, str]:
    """pprof labels behind ``g.labels`` (a ``*runtime/pprof.labelMap``), by its DWARF type."""
    lm = proc.dw.find("runtime/pprof.labelMap")
    if lm is None:
        raise LayoutError("runtime/pprof.labelMap is not in the DWARF", "")
    v = Val(proc.mem, proc.dw, ptr, lm)
    out: dict[str, str] = {}
    if v.type.tag == "ptr":  # Go <= 1.23: labelMap is map[string]string, i.e. *hash<K,V>
        hmap = v.deref()
        if hmap is None:
            return out
        try:
            for k, val in classic_map_entries(hmap, MAX_LABELS):
                out[k.string(4096)] = val.string(4096)
        except MapError as exc:
            raise GomemError(str(exc)) from None
        return out
    # Go >= 1.24: labelMap{LabelSet{list []label}} (1.27: label.Set{list []label.Label}).
    sl = _find_slice(v, depth=4)
    if sl is None:
        raise LayoutError(f"unknown pprof label layout {v.type.name}", "")
    for item in sl.slice_items(MAX_LABELS):
        strs = [f for f in item.type.fields if proc.dw.resolve(f.type).name == "string"]
        if len(strs) >= 2:
            out[item[strs[0].name].string(4096)] = item[strs[1].name].string(4096)
    return out


def _find_slice(v: Val, depth: int) -> Val | None:
    """The first slice field found by descending through embedded structs."""
    if v.type.kind == 23 or (v.has("array") and v.has("len") and v.has("cap")):
        return v
    if depth == 0 or v.type.tag != "struct":
        return None
    for f in v.type.fields:
        hit = _find_slice(v[f.name], depth - 1)
        if hit is not None:
            return hit
    return None
