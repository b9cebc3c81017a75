"""The strongest source: what the allocator itself recorded (Go 1.22+).

A pointerful small object larger than ``minSizeForMallocHeader`` (512 B) starts with the
``*abi.Type`` it was allocated with (``runtime/mbitmap.go``, ``heapSetType``); for
``make([]T, n)`` that is the *element* type, and the user data starts 8 bytes further. A
large object's span holds the same in ``mspan.largeType`` and the data starts at the span
base. In 1.22-1.23 a type with a GC program gets a synthetic type there; it does not decode
and the object is left to the other sources. Headers are read for all such objects in one
gather and grouped by type word, so the Python loop runs per distinct type, not per object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.heap.objects import F_LARGE, F_NOSCAN
from gdb_gomem.heap.types.queue import MAX_OBJECT_ELEMS
from gdb_gomem.heap.types.table import P_HEADER, SRC_HEADER, SRC_LARGE
from gdb_gomem.runtime.rtype import RType, TypeError_
from gdb_gomem.runtime.spans import cached_walk
from gdb_gomem.symbols.gonames import go_name, package_of

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def type_by_headers(tp: TypePass) -> None:
    """Malloc headers and largeType (Go 1.22+), vectorised per span."""
    dw = tp.dw
    limit = dw.constants.get("runtime.minSizeForMallocHeader")
    has_large = dw.has_field("runtime.mspan", "largeType")
    if limit is None and not has_large:
        tp.notes.append("Go 1.21: no malloc headers; types come from DWARF propagation")
        return
    walk = cached_walk(tp.proc)
    objs = tp.objs
    # Every allocated object of a scan span with elemsize > limit: its first word.
    big = (objs.size > np.uint64(limit or 0)) & ((objs.flags & F_NOSCAN) == 0)
    big &= (objs.flags & F_LARGE) == 0
    if limit is not None and big.any():
        idx = np.flatnonzero(big)
        words = tp.gather.words(objs.addr[idx])
        for taddr in np.unique(words).tolist():
            sel = idx[words == taddr]
            _typed_many(tp, sel, taddr, SRC_HEADER, 8)
    for s in walk.in_use():
        if s.sizeclass == 0 and not s.noscan and has_large and s.large_type:
            j = objs.find_one(s.base)
            if j >= 0:
                _typed_by(tp, j, s.large_type, SRC_LARGE, 0)


def _header_type(tp: TypePass, taddr: int) -> RType | None:
    """The runtime type a malloc header or largeType names, if it decodes to a sized type."""
    if not taddr:
        return None
    try:
        rt = tp.tr.type_at(taddr)
    except TypeError_:
        return None
    return rt if rt.size else None


def _typed_many(tp: TypePass, sel: np.ndarray, taddr: int, source: str, off: int) -> None:
    """Objects ``sel`` whose header says ``taddr``: one entry per array length, in bulk."""
    rt = _header_type(tp, taddr)
    if rt is None:
        return
    objs = tp.objs
    tid = tp.names.dwarf_of_rtype(taddr)
    elem = go_name(rt.name)
    pkg = tp.names.dwarf_package(tid) if tid is not None else package_of(rt.name)
    data = objs.size[sel].astype(np.int64) - off
    ks = np.maximum(data // rt.size, 1)
    for k in np.unique(ks).tolist():
        part = sel[ks == k]
        name = elem if k == 1 else f"[{k}]{elem}"
        e = tp.table.entry(name, source, k, elem if k > 1 else "", tid, pkg)
        m = tp.prio[part] < P_HEADER
        part = part[m]
        tp.prio[part] = P_HEADER
        tp.tid[part] = e
        tp.set_data_off(part, off)
        if tid is None or not tp.plans.plan(tid) or not len(part):
            continue
        starts = objs.addr[part] + np.uint64(off)
        n = min(k, MAX_OBJECT_ELEMS)
        tp.queue.push_arrays(starts, np.full(len(starts), n, np.int64), tid)


def _typed_by(tp: TypePass, j: int, taddr: int, source: str, off: int) -> None:
    """Object ``j`` whose span's ``largeType`` says ``taddr``."""
    rt = _header_type(tp, taddr)
    if rt is None:
        return
    data = int(tp.objs.size[j]) - off
    k = max(data // rt.size, 1)
    elem = go_name(rt.name)
    tid = tp.names.dwarf_of_rtype(taddr)
    pkg = tp.names.dwarf_package(tid) if tid is not None else package_of(rt.name)
    name = elem if k == 1 else f"[{k}]{elem}"
    e = tp.table.entry(name, source, k, elem if k > 1 else "", tid, pkg)
    tp.assign(j, P_HEADER, e, tid, k, off)
