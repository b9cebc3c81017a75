"""The last source: every object still untyped is named by its size and pointer mask.

Nothing in memory names these objects, but their shape is still worth grouping by: Go
1.22+ keeps one heap bit per word for objects of at most 512 B in a scan span, at the end
of their one-page span (``heapBitsInSpan``; from 1.26 just before the Green Tea inline
mark bits), so such an object becomes ``<unknown SIZE ptrmask 0b...>``; a pointer-free one
``<unknown SIZE noscan>``; a bigger one ``<unknown SIZE scan>``. The masks are read in
bulk, one gather per chunk of objects of one size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.heap.objects import F_NOSCAN
from gdb_gomem.heap.types.table import SRC_INFERRED
from gdb_gomem.runtime.spans import cached_walk

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def name_by_signature(tp: TypePass) -> None:
    """Name every untyped object by size and pointer mask, in bulk per object size.

    Go 1.22+: objects of at most 512 B in a scan span have one heap bit per word at the
    end of their one-page span (``heapBitsInSpan``; from 1.26 just before the Green Tea
    inline mark bits). Bit ``k`` of the mask is word ``k`` of the object."""
    objs = tp.objs
    # Work on the untyped objects only (usually a small fraction of the heap).
    untyped = np.flatnonzero(tp.tid < 0)
    sizes = objs.size[untyped].astype(np.int64)
    noscan = (objs.flags[untyped] & F_NOSCAN) != 0
    for size in np.unique(sizes[noscan]).tolist():
        sel = untyped[noscan & (sizes == size)]
        tp.tid[sel] = tp.table.entry(f"<unknown {size}B noscan>", SRC_INFERRED)
    dw = tp.dw
    limit = dw.constants.get("runtime.minSizeForMallocHeader")
    im = getattr(cached_walk(tp.proc), "green_tea", None)
    page = dw.constant("runtime.pageSize")
    scan = ~noscan
    for size in np.unique(sizes[scan]).tolist():
        sel = untyped[scan & (sizes == size)]
        if limit is None or size > limit or size % 8:
            tp.tid[sel] = tp.table.entry(f"<unknown {size}B scan>", SRC_INFERRED)
            continue
        tail = im.size if im is not None and im.used_by(size) else 0
        nw = size // 8
        for lo in range(0, len(sel), 1 << 18):
            part = sel[lo : lo + (1 << 18)]
            a = objs.addr[part].astype(np.int64)
            pbase = a & ~(page - 1)
            bm = pbase + page - tail - page // 64
            wi = ((a - pbase) // 8)[:, None] + np.arange(nw, dtype=np.int64)[None, :]
            baddr = bm[:, None] + wi // 8
            words = tp.gather.words((baddr & ~7).astype(np.uint64).ravel()).reshape(baddr.shape)
            byte = (words >> ((baddr & 7) * 8).astype(np.uint64)) & np.uint64(0xFF)
            bits = (byte >> (wi % 8).astype(np.uint64)) & np.uint64(1)
            mask = (bits << np.arange(nw, dtype=np.uint64)[None, :]).sum(axis=1)
            for m in np.unique(mask).tolist():
                name = f"<unknown {size}B ptrmask {bin(m)}>"
                tp.tid[part[mask == m]] = tp.table.entry(name, SRC_INFERRED)
