"""Heap consistency checks, in the manner of SOS ``verifyheap``.

Checks, each over the whole heap and in bulk:

- ``alloc counts``: every in-use span's ``allocCount`` equals its allocated slots recounted
  from ``freeindex`` + ``allocBits`` (the sweeper and allocator keep them equal).
- ``arena map``: every page of every in-use or manual span maps back to that span's
  descriptor through ``mheap_.arenas[L1][L2].spans`` (``spanOf`` is how the GC finds objects).
- ``heap pointers``: every pointer word of every live scan object either is nil, points
  outside the heap arenas, into a manual span (stacks: a sudog's ``elem``), or into an
  allocated object. A pointer into a free slot or onto a page no span owns is a dangling
  pointer the GC would trip over (``findObject`` -> ``badPointer``). Only live objects are
  checked: garbage in unswept spans may legitimately point at freed memory.
- ``root pointers``: the same for global and stack roots.
- ``memory``: the span memory and bitmaps the model needs are readable.

The document of ``gomem verify`` is assembled from :class:`Verification` in
:mod:`gdb_gomem.reports.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.heap.model import heap_model
from gdb_gomem.heap.objects import F_UNSWEPT_GARBAGE, ObjectTable, as_int64
from gdb_gomem.heap.pointers import PointerScan, pointer_words
from gdb_gomem.target.process import GoProcess

#: Problems listed in full per check; the count stays exact.
MAX_PROBLEMS = 1000


@dataclass(frozen=True)
class Problem:
    """One inconsistency: what kind, at which address (0: none in particular), and why."""

    kind: str
    addr: int
    detail: str


@dataclass(frozen=True)
class CheckResult:
    """One check: how many things it looked at and how many problems it found."""

    check: str
    checked: int
    errors: int


@dataclass
class Verification:
    """Every check's result, the objects the model holds, and the problems (the first
    :data:`MAX_PROBLEMS` listed; ``errors`` counts them all)."""

    checks: list[CheckResult] = field(default_factory=list)
    objects: int = 0
    errors: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, addr: int, detail: str) -> None:
        self.errors += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(kind, addr, detail))


def _classify_targets(
    objs: ObjectTable,
    vals: np.ndarray,
    arena_ok: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(into free slot, onto a page of no span) masks for pointer values inside heap arenas."""
    walk = objs.walk
    sp = objs.span_index(vals)
    obj = objs.find(vals)
    free_slot = (sp >= 0) & (obj < 0)
    # Pages no in-use span owns: allowed when a manual span (stack, workbuf) owns them.
    nospan = arena_ok & (sp < 0)
    if nospan.any():
        manual = sorted((s.base, s.end) for s in walk.manual())
        mb = np.array([b for b, _e in manual], np.int64)
        me = np.array([e for _b, e in manual], np.int64)
        v = as_int64(vals[nospan])
        j = np.searchsorted(mb, v, side="right") - 1
        inman = (j >= 0) & (v < me[np.maximum(j, 0)]) if len(mb) else np.zeros(len(v), bool)
        idx = np.flatnonzero(nospan)
        nospan[idx[inman]] = False
    return free_slot, nospan


def _in_arenas(objs: ObjectTable, vals: np.ndarray, arena_ids: np.ndarray) -> np.ndarray:
    geo = objs.walk.geometry
    arena = as_int64(
        (vals.astype(np.uint64) - np.uint64(geo.arena_base)) // np.uint64(geo.arena_bytes)
    )
    row = np.minimum(np.searchsorted(arena_ids, arena), max(len(arena_ids) - 1, 0))
    return (arena_ids[row] == arena) if len(arena_ids) else np.zeros(len(vals), bool)


def _all_arenas(proc: GoProcess) -> np.ndarray:
    """Every arena index the heap has mapped: ``mheap_.allArenas`` up to 1.24, then
    ``heapArenas`` + ``userArenaArenas`` (1.25 split them, ``mheap.go``)."""
    mh = proc.global_("runtime.mheap_")
    out = []
    for name in ("allArenas", "heapArenas", "userArenaArenas"):
        if not mh.has(name):
            continue
        arr, n, cap = mh[name].slice_header()
        n = max(0, min(n, cap, 1 << 22))
        raw = proc.mem.read(arr, 8 * n) if n else b""
        out.append(np.frombuffer(raw, np.uint64).astype(np.int64))
    return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)


def verify_heap(proc: GoProcess) -> Verification:
    """Run every check over the whole heap (see the module docstring)."""
    hm = heap_model(proc)
    objs = hm.objects
    walk = objs.walk
    geo = walk.geometry
    res = Verification()

    def check(name: str, checked: int, before: int) -> None:
        res.checks.append(CheckResult(name, checked, res.errors - before))

    # allocCount against the bitmaps.
    before = res.errors
    counts = np.bincount(objs.span, minlength=len(walk.spans))
    in_use = walk.in_use()
    for i, s in enumerate(walk.spans):
        if s.state == 1 and s.error is None and int(counts[i]) != s.alloc_count:
            res.add(
                "alloc count",
                s.base,
                f"allocCount {s.alloc_count}, bitmaps say "
                f"{int(counts[i])} (freeindex {s.freeindex}, nelems {s.nelems})",
            )
    for s in walk.spans:
        if s.error is not None:
            res.add("span", s.base, s.error)
    check("alloc counts", len(in_use), before)

    # Spans against the arena map.
    before = res.errors
    arenas = proc.global_("runtime.mheap_")["arenas"]
    spans_off = proc.dw.offset("runtime.heapArena", "spans")
    owned = [s for s in walk.spans if s.state in (1, 2) and s.error is None]
    arena_ids = np.zeros(0, np.int64)
    try:
        arena_ids = _all_arenas(proc)
    except (UnreadableMemory, GomemError) as exc:
        res.add("memory", 0, f"mheap_.allArenas unreadable: {exc}")
    spanmap: dict[int, np.ndarray] = {}
    for aid in arena_ids.tolist():
        l1, l2 = geo.split(int(aid))
        try:
            l2map = arenas.index(l1).deref()
            ha = l2map.index(l2).ptr() if l2map is not None else 0
            if not ha:
                res.add("arena map", geo.arena_start(aid), "allArenas lists an unmapped arena")
                continue
            spanmap[aid] = np.frombuffer(
                proc.mem.read(ha + spans_off, 8 * geo.pages_per_arena), np.uint64
            )
        except (UnreadableMemory, GomemError, IndexError) as exc:
            res.add("memory", geo.arena_start(aid), f"heapArena unreadable: {exc}")
    pages = 0
    for s in owned:
        for k in range(min(s.npages, 1 << 20)):
            a = s.base + k * geo.page_size
            m = spanmap.get(geo.arena_index(a))
            pages += 1
            if m is None:
                res.add("arena map", a, f"span {s.base:#x} lies outside the mapped arenas")
                break
            got = int(m[(a // geo.page_size) % geo.pages_per_arena])
            if got != s.addr:
                res.add(
                    "arena map",
                    a,
                    f"page maps to mspan {got:#x}, not to its span's descriptor {s.addr:#x}",
                )
                break
    check("arena map", pages, before)

    # Pointers held by live objects.
    before = res.errors
    assert objs.image is not None
    checked = 0
    unreadable = 0
    live_ok = hm.live & ((objs.flags & F_UNSWEPT_GARBAGE) == 0)
    for src, waddr in pointer_words(proc, objs, PointerScan()):
        keep = live_ok[src]
        src, waddr = src[keep], waddr[keep]
        vals, ok = objs.image.words(waddr)
        if len(waddr):
            objs.image.release(int(waddr.min()), int(waddr.max()) + 8)
        unreadable += int((~ok).sum())
        nz = vals != 0
        src, waddr, vals = src[nz], waddr[nz], vals[nz]
        checked += len(vals)
        ina = _in_arenas(objs, vals, arena_ids)
        free_slot, nospan = _classify_targets(objs, vals, ina)
        for w, v, o in zip(
            waddr[free_slot].tolist(),
            vals[free_slot].tolist(),
            src[free_slot].tolist(),
            strict=True,
        ):
            res.add(
                "dangling pointer",
                w,
                f"object {int(objs.addr[o]):#x}+"
                f"{w - int(objs.addr[o]):#x} points to {v:#x}, a free slot",
            )
        for w, v in zip(waddr[nospan].tolist(), vals[nospan].tolist(), strict=True):
            res.add("wild pointer", w, f"points to {v:#x}, a heap page no span owns")
    if unreadable:
        res.add("memory", 0, f"{unreadable} pointer word(s) of live objects unreadable")
    check("heap pointers", checked, before)

    # Root pointers (globals and stack maps: precise, so every one must be valid).
    before = res.errors
    r = hm.roots
    sel = np.array([k in ("global", "stack") for k in r.kind], dtype=bool)
    vals = r.value[sel] if len(r.kind) else np.zeros(0, np.uint64)
    holders = r.holder[sel] if len(r.kind) else np.zeros(0, np.uint64)
    names = [n for n, k in zip(r.name, sel.tolist(), strict=True) if k]
    ina = _in_arenas(objs, vals, arena_ids)
    free_slot, nospan = _classify_targets(objs, vals, ina)
    for i in np.flatnonzero(free_slot | nospan).tolist():
        what = "a free slot" if free_slot[i] else "a heap page no span owns"
        res.add("dangling root", int(holders[i]), f"{names[i]} points to {int(vals[i]):#x}, {what}")
    check("root pointers", len(vals), before)

    # Memory the model needed.
    before = res.errors
    for e in objs.errors + hm.graph.scan.notes + r.errors:
        if "unreadable" in e:
            res.add("memory", 0, e)
    check("memory", len(objs), before)
    res.objects = len(objs)
    return res
