"""The heap model (objects, roots, graph, mark) against the fixture manifests.

Expectations come from the manifests the Go program wrote: its final ``ReadMemStats``
(HeapObjects), the addresses it tagged, dropped and linked into cycles, its globals.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.heap.model import HEAP_MODEL, HeapModel, heap_model
from gdb_gomem.heap.objects import F_TINY
from tests.support import (
    EDGE_VERSIONS,
    binary,
    core,
    fatal_path_allocations,
    manifest,
    need_fixtures,
    patched_core,
)

SCENARIOS = ("nil", "gcore")


def _model(version: str, scenario: str) -> tuple[HeapModel, dict[str, Any], Any]:
    proc = open_core(binary(version), core(version, scenario))
    return heap_model(proc), manifest(version, scenario), proc


def _addrs(strs: list[str]) -> np.ndarray:
    return np.array([int(a, 16) for a in strs], dtype=np.uint64)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_objects_roots_and_liveness(version: str, scenario: str) -> None:
    hm, m, proc = _model(version, scenario)
    o = hm.objects
    assert HEAP_MODEL.peek(proc) is hm and heap_model(proc) is hm  # built once per process
    # Object count: the program's final HeapObjects plus what the fatal path allocated.
    assert (
        len(o) == m["memstats_final"]["HeapObjects"] + fatal_path_allocations(version, scenario)[0]
    )
    assert (np.diff(o.addr.astype(np.int64)) > 0).all()  # sorted, disjoint starts
    assert o.tiny.any() and (o.flags[o.tiny] & F_TINY).all()

    tagged = _addrs(m["tagged"]["main.Tagged"]["addresses"])
    ti = o.find(tagged)
    assert (ti >= 0).all() and (o.addr[ti] == tagged).all()
    assert hm.live[ti].all()
    # Interior pointers resolve to the object.
    assert (o.find(tagged + np.uint64(17)) == ti).all()

    dropped = _addrs(m["dropped"]["main.Dropped"]["addresses"])
    di = o.find(dropped)
    assert (di >= 0).all() and (o.addr[di] == dropped).all()
    assert not hm.live[di].any()

    # The dropped cycle was freed before the forced GC: its slots are free or reused. A slot
    # that still holds its original node (ID 200+i, Next = the next node) must be garbage.
    dc = [int(a, 16) for a in m["cycles"]["dropped"]["addresses"]]
    for k, a in enumerate(dc):
        i = o.find_one(a)
        ident, nxt = struct.unpack("<QQ", proc.mem.read(a, 16))
        if i >= 0 and ident == 200 + k and nxt == dc[(k + 1) % len(dc)]:
            assert not hm.live[i], hex(a)

    # The reachable cycle: live, held by the root main.cycleRoot.
    rc = o.find(_addrs(m["cycles"]["reachable"]["addresses"]))
    assert (rc >= 0).all() and hm.live[rc].all()
    assert "main.cycleRoot" in [hm.roots.name[j] for j in hm.roots.of_object(int(rc[0]))]

    # main.pinned's 1 MiB backing array: live through the global main.pinned.
    pin = o.find_one(int(m["globals"]["main.pinned"]["array"], 16))
    assert pin >= 0 and hm.live[pin] and int(o.size[pin]) >= m["globals"]["main.pinned"]["cap"]
    rows = hm.roots.of_object(pin)
    assert any(hm.roots.kind[j] == "global" and hm.roots.name[j] == "main.pinned" for j in rows)

    # Finalizers: every main.Resource (held by main.resources) has a finalizer special.
    res = m["globals"]["main.resources"]
    arr, n = struct.unpack("<QQ", proc.mem.read(int(res["addr"], 16), 16))
    ptrs = np.frombuffer(proc.mem.read(arr, 8 * n), np.uint64)
    fin_objs = {int(hm.roots.obj[j]) for j, k in enumerate(hm.roots.kind) if k == "finalizer"}
    assert n == m["finalizers"]["main.Resource"]
    assert {int(x) for x in o.find(ptrs)} <= fin_objs

    # Blocked goroutines' stacks are roots, with their goroutine ids.
    stack_goids = {g for g, k in zip(hm.roots.goid, hm.roots.kind, strict=True) if k == "stack"}
    blocked = {g["id"] for g in m["goroutines"]}
    assert blocked <= stack_goids
    # Stack roots: `function:variable` where DWARF names the slot, else `function+0xOFF`.
    stack_names = [n for n, k in zip(hm.roots.name, hm.roots.kind, strict=True) if k == "stack"]
    assert all(re.fullmatch(r"\S+(:\S+|\+0x[0-9a-f]+)", n) for n in stack_names)
    assert set(hm.roots.kind) <= {"global", "stack", "finalizer", "cleanup", "weak", "runtime"}

    # Graph: CSR shape, edges land on objects, offsets inside the source.
    g = hm.graph
    assert len(g.indptr) == len(o) + 1 and g.indptr[-1] == g.nedges
    assert g.nedges > 0 and (g.dst >= 0).all() and (g.dst < len(o)).all()
    src = np.repeat(np.arange(len(o)), np.diff(g.indptr))
    assert (g.offset.astype(np.uint64) < o.size[src]).all()
    assert not hm.errors, hm.errors
    assert set(hm.timings) == {"objects", "roots", "graph", "mark"}


def test_find_outside_heap(version: str) -> None:
    hm, _m, _proc = _model(version, "nil")
    o = hm.objects
    assert o.find_one(0) == -1 and o.find_one(0x1000) == -1 and o.find_one((1 << 63) + 8) == -1
    last = int(o.addr[-1])
    assert o.find_one(last) == len(o) - 1


@pytest.mark.parametrize("v", EDGE_VERSIONS)
def test_unswept_span_flags_unmarked_objects(v: str, tmp_path: Path) -> None:
    """A span made to look unswept (sweepgen = mheap_.sweepgen - 2): its allocated objects
    are still enumerated, and those unmarked (all: sweeping cleared gcmarkBits, and Green Tea's
    inline marks) are flagged as garbage awaiting sweep."""
    need_fixtures()
    proc = open_core(binary(v), core(v, "nil"))
    m = manifest(v, "nil")
    o = heap_model(proc).objects
    tagged = int(m["tagged"]["main.Tagged"]["addresses"][0], 16)
    s = o.span_record(o.find_one(tagged))
    sg = o.walk.sweepgen
    off = proc.dw.offset("runtime.mspan", "sweepgen")
    bad = open_core(
        binary(v),
        patched_core(core(v, "nil"), tmp_path / "c", {s.addr + off: struct.pack("<I", sg - 2)}),
    )
    o2 = heap_model(bad).objects
    assert len(o2) == len(o)
    in_span = (o2.addr >= s.base) & (o2.addr < s.end)
    assert in_span.sum() == s.alloc_count
    assert o2.unswept_garbage[in_span].all() and not o2.unswept_garbage[~in_span].any()


@pytest.mark.parametrize("scenario", ["panic", "gcore"])
def test_compiled_and_numpy_passes_agree(
    version: str, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled inner loops (object lookup, word gathers, graph edges) and their numpy
    versions build the same graph, edge for edge, on real heaps of every version; and the
    lookups agree on every object start, interior and free-slot address."""
    from gdb_gomem.heap import native
    from gdb_gomem.heap.graph import build_graph
    from gdb_gomem.heap.objects import build_objects

    if native.kernels() is None:
        pytest.fail(f"compiled kernels unavailable: {native.unavailable}")
    proc = open_core(binary(version), core(version, scenario))
    objs = build_objects(proc)
    fast = build_graph(proc, objs)
    probe = np.concatenate(
        [
            objs.addr,
            objs.addr + np.uint64(8),
            objs.addr - np.uint64(8),
            np.array([0, 1 << 40, 2**64 - 8], np.uint64),
        ]
    )
    assert np.array_equal(objs.find(probe), objs.find_np(probe))
    w1, ok1 = objs.image.words(probe)
    w2, ok2 = objs.image.words_np(probe)
    assert np.array_equal(ok1, ok2) and np.array_equal(w1[ok1], w2[ok2])
    monkeypatch.setenv("GOMEM_NATIVE", "0")
    assert native.kernels() is None
    objs_np = build_objects(proc)
    for col in ("addr", "size", "span", "flags", "_slot_obj"):
        assert np.array_equal(getattr(objs, col), getattr(objs_np, col)), col
    slow = build_graph(proc, objs)
    assert fast.nedges > 1000
    assert np.array_equal(fast.indptr, slow.indptr)
    assert np.array_equal(fast.dst, slow.dst)
    assert np.array_equal(fast.offset, slow.offset)
    assert (fast.pointer_words, fast.bad_words) == (slow.pointer_words, slow.bad_words)
    for a, b in zip(slow.predecessors(), slow.predecessors_np(), strict=True):  # numpy path
        assert np.array_equal(a, b)
    from gdb_gomem.heap.mark import mark, mark_np
    from gdb_gomem.heap.roots import build_roots

    roots = build_roots(proc, objs).obj
    live_np = mark_np(fast, np.asarray(roots), len(objs))
    monkeypatch.setenv("GOMEM_NATIVE", "1")
    live_c = mark(fast, np.asarray(roots), len(objs))
    assert 0 < int(live_c.sum()) < len(objs)
    assert np.array_equal(live_c, live_np)
    for a, b in zip(fast.predecessors(), fast.predecessors_np(), strict=True):  # counting sort
        assert np.array_equal(a, b)
