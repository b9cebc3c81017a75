"""Strings and slices: a data pointer plus a length (or capacity) types what it points at.

A string's bytes are "string data" when the pointer is an object's start; a substring
pointing into a larger pointer-free buffer is string data too (``strings.Split``,
``runtime.Stack`` output sliced), with less confidence. A slice ``[]E`` with capacity ``c``
makes its backing array a ``[c]E`` and queues its elements; when a malloc header already
named the element type, the slice contributes the length.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.heap import native
from gdb_gomem.heap.objects import F_NOSCAN, F_TINY
from gdb_gomem.heap.types.decode.pointers import type_array_at
from gdb_gomem.heap.types.queue import MAX_ARRAY_FOLLOW, MAX_OBJECT_ELEMS
from gdb_gomem.heap.types.table import P_DWARF, P_GUESS, SRC_DWARF, SRC_HEADER, SRC_LARGE

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def batch_string(tp: TypePass, p: np.ndarray, n: np.ndarray) -> None:
    """String headers (data ``p``, length ``n``): type the objects their bytes live in."""
    if native.string_batch(
        tp.kernels,
        p,
        n,
        tp.tiny_class,
        tp.table.entry("tiny block", SRC_DWARF),
        tp.table.entry("string data", SRC_DWARF),
        P_GUESS,
        P_DWARF,
    ):
        return
    ok = (p != 0) & (n > 0) & (n < np.uint64(1 << 40))
    p, n = p[ok], n[ok]
    if not len(p):
        return
    objs = tp.objs
    idx = tp.find(p)
    inside = idx >= 0
    p, n, idx = p[inside], n[inside], idx[inside]
    if not len(p):
        return
    tiny = ((objs.flags[idx] & F_TINY) != 0) & (n < 16)
    exact = ~tiny & (p == objs.addr[idx])
    interior = ~tiny & ~exact & ((objs.flags[idx] & F_NOSCAN) != 0)
    tp.assign_many(idx[tiny], P_GUESS, tp.table.entry("tiny block", SRC_DWARF))
    tp.assign_many(idx[exact], P_DWARF, tp.table.entry("string data", SRC_DWARF))
    # A substring of a larger noscan buffer (strings.Split, runtime.Stack output sliced):
    # the bytes are string data, whatever their first user was.
    tp.assign_many(idx[interior], P_GUESS, tp.table.entry("string data", SRC_DWARF))


def string_value(tp: TypePass, w0: int, n: int) -> None:
    """One string header (data ``w0``, length ``n``): :func:`batch_string` for one value."""
    if w0 and 0 < n < 1 << 40:
        objs = tp.objs
        i = objs.find_one(w0)
        if i >= 0:
            tiny = objs.flags[i] & F_TINY and n < 16
            if tiny:
                tp.assign(i, P_GUESS, tp.table.entry("tiny block", SRC_DWARF), None, 1)
            elif w0 == int(objs.addr[i]):
                tp.assign(i, P_DWARF, tp.table.entry("string data", SRC_DWARF), None, 1)
            elif objs.flags[i] & F_NOSCAN:
                # A substring of a larger noscan buffer (strings.Split, runtime.Stack
                # output sliced): the bytes are string data, their first user unknown.
                tp.assign(i, P_GUESS, tp.table.entry("string data", SRC_DWARF), None, 1)


def batch_slice(tp: TypePass, p: np.ndarray, cap: np.ndarray, elem: int) -> None:
    """Slices ``[]E``: the backing array is ``[cap]E``; its elements are scanned."""
    capi = cap.view(np.int64)
    ok = (p != 0) & (capi > 0) & (capi < 1 << 40)
    if not elem or not ok.any():
        return
    p, capi = p[ok], capi[ok]
    es = tp.dw.resolve(elem).size
    objs = tp.objs
    idx = tp.find(p)
    inside = idx >= 0
    ic = np.where(inside, idx, 0)
    off = tp.data_off[ic]
    base = objs.addr[ic] + off.astype(np.uint64)
    room = objs.size[ic].astype(np.int64) - off
    exact = inside & (p == base) & (capi * es <= room)
    if exact.any():
        entries = tp.table.entries
        src = np.array([e.source in (SRC_HEADER, SRC_LARGE) for e in entries] + [False])
        cur = tp.tid[idx[exact]]
        hdr = src[np.where(cur >= 0, cur, len(entries))]
        ename = tp.names.dwarf_name(elem)
        pkg = tp.names.dwarf_package(elem)
        for pp, c in zip(p[exact][hdr].tolist(), capi[exact][hdr].tolist(), strict=True):
            type_array_at(tp, pp, elem, c)  # the header knows T, the slice the length
        ix, cx = idx[exact][~hdr], capi[exact][~hdr]
        for c in np.unique(cx).tolist():
            e = tp.table.entry(f"[{c}]{ename}", SRC_DWARF, c, ename, elem, pkg)
            tp.assign_many(ix[cx == c], P_DWARF, e)
    if not tp.plans.plan(elem) or not es:
        return
    end = (objs.addr[ic] + objs.size[ic]).view(np.int64)
    n = np.where(inside, np.minimum(capi, (end - p.view(np.int64)) // es), capi)
    n = np.clip(n, 0, np.where(inside, MAX_OBJECT_ELEMS, MAX_ARRAY_FOLLOW))
    tp.queue.push_arrays(p[n > 0], n[n > 0], elem)
