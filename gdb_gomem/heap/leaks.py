"""Goroutine leaks proven post-mortem: the goroutines that can never wake.

The algorithm of Go 1.26's goroutine leak profile (golang/go#74609), on the heap graph of a
core: a goroutine blocked on a channel can only be woken by someone who can reach that
channel. So:

1. roots are the globals, the runtime's own roots and the stacks of every goroutine that is
   *not* blocked on a channel (running, runnable, in a syscall, sleeping...);
2. the edges that lead from a blocked goroutine to what it waits on are hidden: everything a
   ``runtime.g`` or ``runtime.sudog`` object points to (``allgs`` reaches every g, and a g's
   ``waiting`` sudogs reach their channels, which would make every channel reachable);
3. mark; a blocked goroutine whose channel (``sudog.c`` of each of its ``g.waiting`` sudogs:
   one for a receive or send, one per case of a select) was reached becomes a root: its stack
   is marked too; repeat until nothing changes;
4. the goroutines still blocked can never wake: leaked.

Leaked goroutines are grouped by where they block (their whole stack) and where they were
created (the ``go`` statement); each group gets its stacks' bytes and the heap only it keeps:
what is live with every leaked stack as a root and dead once that group's stacks are removed.

A goroutine blocked on a nil channel or an empty select is leaked at once. One blocked on a
sync primitive (Mutex, WaitGroup, Cond: a semaphore, not a channel) is not judged: its waiting
object is in the runtime's semaphore table, not in ``g.waiting``; such goroutines count as
roots here, and the result says how many.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.goroutines.groups import group_goroutines
from gdb_gomem.heap.graph import HeapGraph
from gdb_gomem.heap.mark import mark
from gdb_gomem.heap.model import heap_model
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

#: Wait reasons of a goroutine parked on channels (runtime2.go waitReasonStrings).
CHANNEL_WAITS = frozenset({"chan receive", "chan send", "select"})
#: Wait reasons that can never end.
NEVER_WAKE = frozenset({"chan receive (nil chan)", "chan send (nil chan)", "select (no cases)"})
#: Parked on a semaphore (sync.Mutex, RWMutex, WaitGroup, Cond): not judged.
SYNC_WAITS = frozenset(
    {
        "sync.Cond.Wait",
        "sync.Mutex.Lock",
        "sync.RWMutex.RLock",
        "sync.RWMutex.Lock",
        "sync.WaitGroup.Wait",
        "semacquire",
    }
)
#: Objects whose edges are hidden in the leak mark (see the module doc).
HIDDEN_TYPES = frozenset({"runtime.g", "runtime.sudog"})
MAX_SUDOGS = 4096
MAX_ROUNDS = 1 << 16
#: Groups whose own retained heap is computed (one mark each); the rest say "not computed".
MAX_GROUP_MARKS = 32


@dataclass
class LeakGroup:
    """Leaked goroutines that block in one place (same stack) and were made by one ``go``
    statement."""

    ids: list[int]
    where: str  # the first non-runtime function of the stack
    wait_reason: str
    created_by: str  # "func (file:line)" of the go statement, "" when unknown
    stack_bytes: int
    #: Heap only this group keeps (None: more groups than :data:`MAX_GROUP_MARKS`).
    retained_bytes: int | None


@dataclass
class Leaks:
    leaked: list[Goroutine]
    #: Per leaked goroutine id: the channels (object indexes) it waits on.
    waits: dict[int, list[int]]
    stack_bytes: int  # the leaked goroutines' stacks
    retained_bytes: int  # heap reachable only through the leaked goroutines' stacks
    rounds: int
    not_judged: int  # goroutines blocked on sync primitives
    notes: list[str] = field(default_factory=list)
    #: Most costly first.
    groups: list[LeakGroup] = field(default_factory=list)


def _hide(graph: HeapGraph, hidden: np.ndarray) -> HeapGraph:
    """The graph with no edges out of the hidden objects."""
    counts = np.diff(graph.indptr)
    keep_src = np.repeat(~hidden, counts)
    indptr = np.zeros(len(graph.indptr), np.int64)
    indptr[1:] = np.cumsum(np.where(hidden, 0, counts))
    return HeapGraph(indptr=indptr, dst=graph.dst[keep_src], offset=graph.offset[keep_src])


def _waited_channels(proc: GoProcess, g: Goroutine, find: object) -> list[int]:
    """Object indexes of the channels g's ``waiting`` sudogs name."""
    dw = proc.dw
    out: list[int] = []
    try:
        gv = Val(proc.mem, dw, g.addr, dw.type("runtime.g"))
        s = gv["waiting"].deref()
        seen: set[int] = set()
        for _ in range(MAX_SUDOGS):
            if s is None or s.addr in seen:
                break
            seen.add(s.addr)
            c = s["c"].ptr()
            if c:
                o = find(c)  # type: ignore[operator]
                if o >= 0:
                    out.append(o)
            s = s["waitlink"].deref()
    except (UnreadableMemory, LayoutError, GomemError):
        pass
    return out


def find_leaks(proc: GoProcess) -> Leaks:
    model = heap_model(proc)
    ht = heap_types(proc)
    objs = model.objects
    n = len(objs)
    hidden_ids = [i for i, e in enumerate(ht.table) if e.name in HIDDEN_TYPES]
    hidden = np.isin(ht.type_id, hidden_ids) if hidden_ids else np.zeros(n, bool)
    graph = _hide(model.graph, hidden)
    tab = goroutines(proc)
    blocked: dict[int, Goroutine] = {}
    never: dict[int, Goroutine] = {}
    not_judged = 0
    for g in tab.all:
        if g.dead or g.status_name not in ("waiting", "scan+waiting"):
            continue
        if g.wait_reason in CHANNEL_WAITS:
            blocked[g.goid] = g
        elif g.wait_reason in NEVER_WAKE:
            never[g.goid] = g
        elif g.wait_reason in SYNC_WAITS:
            not_judged += 1
    waits = {gid: _waited_channels(proc, g, objs.find_one) for gid, g in blocked.items()}
    r = model.roots
    robj = np.asarray(r.obj)
    rkind = np.array(r.kind, dtype=object)
    rgoid = np.array([-1 if x is None else x for x in r.goid], dtype=np.int64)
    suspect_ids = np.array(sorted({*blocked, *never}), dtype=np.int64)
    is_suspect_stack = (rkind == "stack") & np.isin(rgoid, suspect_ids)
    roots = robj[~is_suspect_stack]
    live = mark(graph, roots, n)
    rounds = 1
    pending = dict(blocked)
    for _ in range(MAX_ROUNDS):
        woken = [gid for gid in pending if any(live[o] for o in waits[gid])]
        if not woken:
            break
        for gid in woken:
            del pending[gid]
        roots = np.concatenate([roots, robj[(rkind == "stack") & np.isin(rgoid, woken)]])
        live = mark(graph, roots, n)
        rounds += 1
    leaked = sorted([*pending.values(), *never.values()], key=lambda g: g.goid)
    leaked_ids = [g.goid for g in leaked]
    # Heap only the leaked goroutines keep: live with their stacks as roots, dead without.
    with_leaked = mark(
        graph, np.concatenate([roots, robj[(rkind == "stack") & np.isin(rgoid, leaked_ids)]]), n
    )
    only = with_leaked & ~live
    groups = _groups(proc, leaked)
    stack_rows = (rkind == "stack") & np.isin(rgoid, leaked_ids)
    for k, grp in enumerate(groups):
        if k >= MAX_GROUP_MARKS:
            break
        others = stack_rows & ~np.isin(rgoid, grp.ids)
        without = mark(graph, np.concatenate([roots, robj[others]]), n)
        grp.retained_bytes = int(objs.size[with_leaked & ~without].astype(np.int64).sum())
    groups.sort(key=lambda x: -(x.stack_bytes + (x.retained_bytes or 0)))
    notes = []
    if not_judged:
        notes.append(
            f"{not_judged} goroutine(s) blocked on sync primitives (Mutex, WaitGroup, Cond) are "
            "not judged: what wakes them is in the runtime's semaphore table"
        )
    return Leaks(
        leaked=leaked,
        waits={gid: waits.get(gid, []) for gid in leaked_ids},
        stack_bytes=sum(g.stack_hi - g.stack_lo for g in leaked),
        retained_bytes=int(objs.size[only].astype(np.int64).sum()),
        rounds=rounds,
        not_judged=not_judged,
        notes=notes,
        groups=groups,
    )


def _groups(proc: GoProcess, leaked: list[Goroutine]) -> list[LeakGroup]:
    """The leaked goroutines by (stack, creation site), largest first."""
    out: list[LeakGroup] = []
    for sg in sorted(group_goroutines(proc, leaked, "stack").groups, key=lambda x: -x.count):
        where = next((f.func for f in sg.frames if not f.func.startswith("runtime.")), "?")
        by_site: dict[str, list[Goroutine]] = {}
        members = {g.goid: g for g in leaked}
        for gid in sg.ids:
            g = members[gid]
            made = proc.describe_pc(g.gopc - 1) if g.gopc else None
            site = f"{made['func']} ({made['file']}:{made['line']})" if made else ""
            by_site.setdefault(site, []).append(g)
        for site, gs in by_site.items():
            out.append(
                LeakGroup(
                    ids=[g.goid for g in gs],
                    where=where,
                    wait_reason=sg.wait_reason or "",
                    created_by=site,
                    stack_bytes=sum(g.stack_hi - g.stack_lo for g in gs),
                    retained_bytes=None,
                )
            )
    return out


LEAKS: Lazy[Leaks] = Lazy("goroutine leaks", find_leaks, phase=True)
