"""Objects in use per (type, sampled allocation stack): the rows of ``gomem report``'s
allocation flame graph and of its pprof profile (``inuse_objects``/``inuse_space``).

"In use" as Go's heap profile means it: allocated and not freed by a sweep, reachable or not
(objects an unswept span holds unmarked are left out). An object's stack is its heap-profile
bucket's when it was sampled (:mod:`gdb_gomem.heap.allocstacks`), else unknown.
"""

from __future__ import annotations

import numpy as np

from gdb_gomem.heap.allocstacks import sampled_stacks
from gdb_gomem.heap.objects import as_int64
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.reports.schema.objects import AllocFrameDoc
from gdb_gomem.reports.schema.report import AllocStackRow
from gdb_gomem.runtime.memprof import MEM_PROFILE
from gdb_gomem.target.process import GoProcess


def alloc_stack_rows(proc: GoProcess) -> tuple[list[AllocStackRow], float, list[str]]:
    """(rows most bytes first, share of in-use bytes with a known stack, notes)."""
    ht = heap_types(proc)
    ot = ht.objects
    ss = sampled_stacks(proc)
    keep = ~ot.unswept_garbage
    tid = ht.type_id.astype(np.int64)[keep]
    bkt = ss.bucket[keep]
    size = as_int64(ot.size)[keep]
    notes: list[str] = []
    if not len(tid):
        return [], 0.0, notes
    buckets, binv = np.unique(bkt, return_inverse=True)
    key = tid * len(buckets) + binv
    uk, inv = np.unique(key, return_inverse=True)
    cnt = np.bincount(inv)
    byt = np.bincount(inv, weights=size).astype(np.int64)
    rows: list[AllocStackRow] = []
    for k, c, b in zip(uk.tolist(), cnt.tolist(), byt.tolist(), strict=True):
        t, bi = divmod(k, len(buckets))
        bucket = int(buckets[bi])
        frames: list[AllocFrameDoc] | None = None
        if bucket:
            frames = [
                {"pc": f"{f.pc:#x}", "func": f.func, "file": f.file, "line": f.line}
                if f.func
                else {"pc": f"{f.pc:#x}"}
                for f in ss.frames.get(bucket, [])
            ]
        rows.append({"type": ht.table[t].name, "frames": frames, "count": c, "bytes": b})
    rows.sort(key=lambda r: (-r["bytes"], -r["count"], r["type"]))
    total = int(size.sum())
    known = int(size[bkt != 0].sum())
    mp = MEM_PROFILE(proc)
    if not ss.linked:
        notes.append(
            "the heap profiler is not linked: no allocation stacks (reference runtime/pprof, "
            "and sample every allocation with runtime.MemProfileRate = 1 or "
            "GODEBUG=memprofilerate=1)"
        )
    elif mp.rate and mp.rate > 1:
        notes.append(
            f"MemProfileRate is {mp.rate}: about one allocation per {mp.rate} bytes has a "
            "stack; the rest are shown by type only"
        )
    return rows, (known / total if total else 0.0), notes
