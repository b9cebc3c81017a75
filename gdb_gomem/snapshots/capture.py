"""Take a :class:`~.model.Snapshot` of a target (a core, or a process gdb holds stopped).

Allocation state first: the span walk and object table (:mod:`gdb_gomem.heap.objects`), each
object's GC-epoch bound (:mod:`gdb_gomem.heap.epochs`) and each in-use span's allocation bits,
all read in bulk. Then, unless ``typed`` is false, the type pass (:mod:`gdb_gomem.heap.types`)
and the heap profiler's record of every sampled object, with its stack symbolized from the
binary (inlined calls expanded). With ``roots``, also what each named root retains (the
dominator tree of :mod:`gdb_gomem.heap.retention`; costly on a big heap). The seconds each
part took are returned, so a live recorder can say what its pauses cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from gdb_gomem.heap.allocstacks import sampled_stacks
from gdb_gomem.heap.epochs import alloc_epochs
from gdb_gomem.heap.objects import as_int64, object_table
from gdb_gomem.heap.retention import retained_by_root
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.runtime.clock import CRASH_TIME
from gdb_gomem.snapshots.freeze import freeze
from gdb_gomem.snapshots.model import OBJECT_COLUMNS, SPAN_COLUMNS, Snapshot
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.frozen import FrozenMemory
from gdb_gomem.target.process import GoProcess


def _span_state(proc: GoProcess) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """The in-use spans' columns and their allocation bits (nelems bits each)."""
    walk = object_table(proc).walk
    spans = sorted(walk.in_use(), key=lambda s: s.base)
    cols: dict[str, np.ndarray] = {
        "span_base": np.array([s.base for s in spans], np.uint64),
        "span_npages": np.array([s.npages for s in spans], np.uint64),
        "span_class": np.array([s.spanclass for s in spans], np.uint16),
        "span_elemsize": np.array([s.elemsize for s in spans], np.uint64),
        "span_nelems": np.array([s.nelems for s in spans], np.uint32),
        "span_freeindex": np.array([s.freeindex for s in spans], np.uint32),
        "span_sweepgen": np.array([s.sweepgen & 0xFFFFFFFF for s in spans], np.uint32),
        "span_alloc_count": np.array([s.alloc_count for s in spans], np.uint32),
    }
    nbytes = [(max(s.nelems, 0) + 7) // 8 for s in spans]
    raws = read_many(proc.mem, [(s.alloc_bits, k) for s, k in zip(spans, nbytes, strict=True)])
    notes = []
    bad = sum(r is None for r in raws)
    if bad:
        notes.append(f"allocation bits of {bad} span(s) unreadable: stored as zeros")
    off = np.zeros(len(spans), np.uint64)
    if spans:
        off[1:] = np.cumsum(np.array(nbytes[:-1], np.uint64))
    cols["span_bits_off"] = off
    bits = np.frombuffer(
        b"".join(r if r is not None else bytes(k) for r, k in zip(raws, nbytes, strict=True)),
        np.uint8,
    )
    return cols, bits, notes


def _frozen_note(mem: FrozenMemory | None) -> list[str]:
    if mem is None or not mem.fallback_reads:
        return []
    return [
        f"the allocation state was copied in {mem.nranges} read(s) while the process stood "
        f"still; {mem.fallback_reads} later read(s) ({mem.fallback_bytes} bytes: sampled "
        "profile records, Green Tea inline marks) came from the process after it ran on"
    ]


def take_snapshot(
    proc: GoProcess,
    *,
    label: str = "",
    typed: bool = True,
    roots: bool = False,
    profile: bool = True,
    freeze_first: bool = False,
    target: str = "",
    phase: Callable[[str], None] | None = None,
) -> tuple[Snapshot, dict[str, float]]:
    """The snapshot of proc, and the seconds each phase took ("pause", "allocation state",
    "types", "profile", "roots"). ``freeze_first``: copy the allocation state first
    (:mod:`.freeze`: the "pause" a live process must stand still for) and decode the copy.
    ``phase(name)`` is called as each phase starts."""
    times: dict[str, float] = {}
    live_proc = proc
    frozen = None
    if freeze_first:
        if phase:
            phase("pause")
        proc, fst = freeze(proc)
        times["pause"] = fst.seconds
        frozen = proc.mem if isinstance(proc.mem, FrozenMemory) else None
    t0 = time.perf_counter()
    if phase:
        phase("allocation state")
    ep = alloc_epochs(proc)
    ot = ep.objects
    span_cols, bits, notes = _span_state(proc)
    times["allocation state"] = time.perf_counter() - t0
    n = len(ot)
    order = np.argsort(ot.addr, kind="stable")
    cols: dict[str, np.ndarray] = {
        "addr": ot.addr.astype(np.uint64)[order],
        "size": as_int64(ot.size).astype(np.uint64)[order],
        "after_cycle": ep.after_cycle.astype(np.int32)[order],
        "before_cycle": ep.before_cycle.astype(np.int32)[order],
        "flags": ot.flags.astype(np.uint8)[order],
        "type": np.full(n, -1, np.int32),
        "bucket": np.zeros(n, np.uint64),
    }
    types: list[str] = []
    if typed:
        t1 = time.perf_counter()
        if phase:
            phase("types")
        ht = heap_types(proc)
        names = [e.name for e in ht.table]
        # One row per name (the table keys rows by name and source).
        uniq: dict[str, int] = {}
        remap = np.array([uniq.setdefault(nm, len(uniq)) for nm in names] or [0], np.int32)
        types = list(uniq)
        cols["type"] = remap[ht.type_id.astype(np.int64)][order] if n else cols["type"]
        times["types"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    if phase:
        phase("profile")
    stacks: dict[int, list[str]] = {}
    if profile:
        ss = sampled_stacks(proc)
        if ss.linked:
            cols["bucket"] = ss.bucket[order]
            stacks = {b: [f.label() for f in fr] for b, fr in ss.frames.items()}
    times["profile"] = time.perf_counter() - t2
    by_root: dict[str, int] | None = None
    if roots:
        t3 = time.perf_counter()
        if phase:
            phase("roots")
        by_root = retained_by_root(proc)
        times["roots"] = time.perf_counter() - t3
    epoch = ep.epoch
    live = live_proc.stop.source == "live process"
    ct = CRASH_TIME(proc)
    at = time.time_ns() if live else ct.unix_ns
    meta = {
        "label": label,
        "go_version": proc.go_version,
        "build_id": proc.binary.go_build_id,
        "binary": str(proc.binary.path),
        "target": target or proc.target_name,
        "taken_unix_ns": time.time_ns(),
        # The target's own moment: now for a live process, the crash-time estimate of a core.
        "at_unix_ns": at,
        # The latest monotonic clock (nanotime) the runtime itself wrote before the moment.
        "at_nanotime": ct.readings[0].nanotime if ct.readings else None,
        "live": live,
        "num_gc": epoch.num_gc,
        "last_gc_unix_ns": epoch.last_gc_unix_ns,
        "last_gc_nanotime": epoch.last_gc_nanotime,
        "sweep_cycle": ep.sweep_cycle,
        "typed": typed,
        "sampled": bool(stacks),
        "notes": [*ep.notes, *notes, *_frozen_note(frozen)],
        "errors": [*ep.errors, *ot.errors],
        "seconds": times,
        "roots": by_root,
    }
    assert set(cols) == set(OBJECT_COLUMNS) and set(span_cols) == set(SPAN_COLUMNS)
    return Snapshot(meta, cols, span_cols, bits, types, stacks), times
