"""Pointers and arrays: a word of static type ``*T`` (or an array of ``T`` at an address)
types the object it addresses.

The rule is exact where it can be and says so where it cannot: a pointer to an object's
data start whose size fits one ``T`` makes the object a ``T``; one ``k`` times larger makes
it ``[k]T`` with less confidence (a classic bucket array reached through ``*bucket``, a
``*T`` that really addresses an array); a pointer into a tiny-allocator block only says the
block holds small values; an interior pointer types nothing but is still followed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.heap import native
from gdb_gomem.heap.objects import F_TINY
from gdb_gomem.heap.types.decode.synctypes import trie_node
from gdb_gomem.heap.types.table import P_DWARF, P_GUESS, SRC_DWARF, SRC_HEADER, SRC_LARGE

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def type_object_as(tp: TypePass, p: int, tid: int, prio: int = P_DWARF) -> None:
    """A pointer ``p`` whose pointee type is ``tid``: type the object it addresses."""
    objs = tp.objs
    i = objs.find_one(p)
    if i < 0:
        tp.queue.push(p, tid)  # a global or stack value: follow it anyway
        return
    t = tp.dw.resolve(tid)
    if t.name.startswith("internal/sync.node["):
        tid = trie_node(tp, p, t)
        t = tp.dw.resolve(tid)
    elif t.name in ("time.Timer", "time.Ticker"):
        # Go 1.23+: time.newTimer returns the runtime's new(timeTimer) as a *Timer/*Ticker
        # (runtime/time.go); the object is the runtime's, C its first field.
        real = tp.dw.by_name.get("runtime.timeTimer")
        if real is not None:
            tid = real
            t = tp.dw.resolve(tid)
    base = int(objs.addr[i]) + int(tp.data_off[i])
    osize = int(objs.size[i]) - int(tp.data_off[i])
    if p != base or t.size == 0:
        if objs.flags[i] & F_TINY and t.size < 16 and prio > tp.prio[i]:
            tp.assign(i, P_GUESS, tp.table.entry("tiny block", SRC_DWARF), None, 1)
        tp.queue.push(p, tid)
        return
    if objs.flags[i] & F_TINY and t.size < 16:
        tp.assign(i, P_GUESS, tp.table.entry("tiny block", SRC_DWARF), None, 1)
        tp.queue.push(p, tid)
        return
    k = osize // t.size
    if k >= 2 and t.size < 16:
        # A tiny pointee in a bigger object is an embedding, not an array: follow only.
        tp.queue.push(p, tid)
        return
    names = tp.names
    if k >= 2:
        name = names.dwarf_name(tid)
        e = tp.table.entry(f"[{k}]{name}", SRC_DWARF, k, name, tid, names.dwarf_package(tid))
        tp.assign(i, P_GUESS, e, tid, k, int(tp.data_off[i]))
        tp.queue.push(p, tid, k, in_object=True)
    else:
        e = tp.table.entry(names.dwarf_name(tid), SRC_DWARF, 1, "", tid, names.dwarf_package(tid))
        tp.assign(i, prio, e, tid, 1, int(tp.data_off[i]))
        tp.queue.push(p, tid)


def type_array_at(tp: TypePass, p: int, elem: int, n: int, name: str | None = None) -> None:
    """A slice's, channel's or map's array of ``n`` elements at ``p``."""
    if n <= 0:
        return
    objs = tp.objs
    i = objs.find_one(p)
    if i >= 0:
        base = int(objs.addr[i]) + int(tp.data_off[i])
        es = tp.dw.resolve(elem).size
        ename = tp.names.dwarf_name(elem)
        if p == base and n * es <= int(objs.size[i]) - int(tp.data_off[i]):
            cur = tp.table.entries[tp.tid[i]] if tp.tid[i] >= 0 else None
            label = name or f"[{n}]{ename}"
            pkg = tp.names.dwarf_package(elem)
            if cur is not None and cur.source in (SRC_HEADER, SRC_LARGE) and cur.elem == ename:
                # The header knows the element type; the slice knows the length.
                tp.tid[i] = tp.table.entry(label, cur.source, n, ename, elem, pkg)
            else:
                e = tp.table.entry(label, SRC_DWARF, n, ename, elem, pkg)
                tp.assign(i, P_DWARF, e, None, n, int(tp.data_off[i]))
        end = int(objs.addr[i]) + int(objs.size[i])
        if es:
            n = min(n, (end - p) // es)
    tp.queue.push(p, elem, n, in_object=i >= 0)


def batch_ptr(tp: TypePass, w: np.ndarray, tid: int) -> None:
    """Pointers of static type ``*T`` (``tid`` = T): type the objects they address."""
    if not len(w):
        return
    t = tp.dw.resolve(tid)
    if t.name.startswith("internal/sync.node[") or t.size == 0:
        for p in w.tolist():
            type_object_as(tp, p, tid)
        return
    objs = tp.objs
    names = tp.names
    queue = tp.queue
    # The rule below, and fresh() of the values it queues, in one compiled pass.
    key = queue.key(tid)
    follow = bool(tp.plans.plan(key))
    e_tiny = tp.table.entry("tiny block", SRC_DWARF) if t.size < 16 else -1
    e_one = tp.table.entry(names.dwarf_name(tid), SRC_DWARF, 1, "", tid, names.dwarf_package(tid))
    got = native.ptr_batch(
        tp.kernels, w, t.size, tp.tiny_class, key, follow, e_tiny, e_one, P_GUESS, P_DWARF
    )
    if got is not None:
        guess, new, rest = got
        for p in guess.tolist():
            type_object_as(tp, p, tid)
        if follow and (len(new) or len(rest)):
            queue.push_checked(key, new, rest)
        return
    idx = tp.find(w)
    inside = idx >= 0
    queue.push_many(w[~inside], tid)  # globals, stacks: follow their contents
    w, idx = w[inside], idx[inside]
    if not len(w):
        return
    off = tp.data_off[idx]
    base = objs.addr[idx] + off.astype(np.uint64)
    osize = objs.size[idx].astype(np.int64) - off
    tiny = ((objs.flags[idx] & F_TINY) != 0) & (t.size < 16)
    if tiny.any():
        tp.assign_many(idx[tiny], P_GUESS, tp.table.entry("tiny block", SRC_DWARF))
    k = osize // t.size
    exact = (w == base) & ~tiny
    single = exact & (k < 2)
    guess = exact & (k >= 2) & (t.size >= 16)
    if single.any():
        e = tp.table.entry(names.dwarf_name(tid), SRC_DWARF, 1, "", tid, names.dwarf_package(tid))
        tp.assign_many(idx[single], P_DWARF, e)
    for p in w[guess].tolist():
        type_object_as(tp, p, tid)
    queue.push_many(w[~guess], tid)
