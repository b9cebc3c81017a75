"""path, top and suspects against what the fixture program knows it built.

The manifest names the global holding each structure (`main.tagged` holds the tagged batch,
`main.pinned` the short slice over a 1 MiB array, `main.cycleRoot` a reachable cycle,
`main.cache` a map of `len` entries) and the objects it dropped after the forced GC, which
must be garbage: no root path.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.reports.retention import root_paths
from tests.support import binary, cli_json, core, gdb_batch, gomem_cli, json_after, manifest

_procs: dict[tuple[str, str], Any] = {}


def _path(version: str, addr: str, scenario: str = "panic") -> dict[str, Any]:
    """root_paths in-process: one heap model per core, shared by all queries (the CLI's JSON
    is the same document, checked once per version below)."""
    key = (version, scenario)
    if key not in _procs:
        _procs.clear()
        _procs[key] = open_core(binary(version), core(version, scenario))
    d = root_paths(_procs[key], int(addr, 16), 3)
    first = d["paths"][0] if d["paths"] else {"root": None, "steps": []}
    return {"root": first["root"], "steps": first["steps"], **d}


def test_path_of_tagged_objects(version: str) -> None:
    m = manifest(version, "panic")
    for a in m["tagged"]["main.Tagged"]["addresses"][::4]:
        d = _path(version, a)
        assert d["root"] == {**d["root"], "kind": "global", "name": "main.tagged"}
        steps = d["steps"]
        assert steps[-1]["addr"] == a and steps[-1]["type"] == "main.Tagged"
        assert steps[0]["via"] == "main.tagged"
        assert steps[-1]["via"].startswith("[")  # an element of the slice's backing array
        assert d["object"]["live"] is True


def test_path_of_pinned_array_and_cycle(version: str) -> None:
    m = manifest(version, "panic")
    pinned = m["globals"]["main.pinned"]
    d = cli_json(version, "path", pinned["array"])  # the CLI's JSON contract, once
    assert set(d["root"]) >= {"kind", "name"}
    assert all(set(st) >= {"addr", "type", "via"} for st in d["steps"])
    assert d["root"]["name"] == "main.pinned" and len(d["steps"]) == 1
    assert d["object"]["size"] >= pinned["cap"]
    for a in m["cycles"]["reachable"]["addresses"]:
        d = _path(version, a)
        assert d["root"]["name"] == m["cycles"]["reachable"]["root"]
        assert d["steps"][-1]["addr"] == a


def test_dropped_objects_have_no_path(version: str) -> None:
    m = manifest(version, "panic")
    for a in m["dropped"]["main.Dropped"]["addresses"]:
        d = _path(version, a)
        assert d["paths"] == [] and d["object"]["live"] is False
        assert "garbage" in d["error"]


def test_top_and_suspects(version: str) -> None:
    m = manifest(version, "panic")
    pinned = m["globals"]["main.pinned"]
    top = cli_json(version, "top", "--n", "5")
    first = top["rows"][0]
    assert first["addr"] == pinned["array"] and first["retained"] >= pinned["cap"]
    assert first["root"]["name"] == "main.pinned"
    s = cli_json(version, "suspects")["suspects"]
    kinds = {(x["kind"], (x.get("root") or {}).get("name")) for x in s}
    assert ("pinned array", "main.pinned") in kinds
    big_map = next(x for x in s if x["kind"] == "big map")
    assert (
        big_map["root"]["name"] == "main.cache"
        and big_map["count"] == m["globals"]["main.cache"]["len"]
    )
    for x in s:  # the JSON contract
        assert {"kind", "type", "bytes", "root", "path"} <= set(x)


@pytest.mark.gdb
@pytest.mark.parametrize("scenario", ["gcore"])
def test_path_in_gdb(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    a = m["tagged"]["main.Tagged"]["addresses"][0]
    res = gdb_batch(
        "echo @@P\\n",
        f"gomem path {a} --json",
        exe=binary(version),
        core_file=core(version, scenario),
    )
    d = json_after("@@P", res.stdout)
    assert d["root"]["name"] == "main.tagged" and d["steps"][-1]["addr"] == a


def test_path_errors_and_all(version: str) -> None:
    m = manifest(version, "panic")
    res = gomem_cli(
        "path",
        m["globals"]["main.cache"]["addr"],
        "--binary",
        str(binary(version)),
        "--core",
        str(core(version, "panic")),
    )
    assert res.returncode == 2 and "not inside an allocated heap object" in res.stderr
    # --all: distinct roots, the named global first.
    a = m["tagged"]["main.Tagged"]["addresses"][0]
    d = _path(version, a)
    roots = [p["root"]["name"] for p in d["paths"]]
    assert roots[0] == "main.tagged" and len(set(roots)) == len(roots)


@pytest.mark.gdb
@pytest.mark.parametrize("scenario", ["gcore"])
def test_top_in_gdb_uses_compiled_kernel(version: str, scenario: str) -> None:
    """Inside gdb (Debian's embedded Python, single-threaded memory reads) the dominator
    kernel loads through ctypes and `top` retains exactly what the standalone command says."""
    res = gdb_batch(
        "python from gdb_gomem.heap import native; "
        "print('@@N', native.kernels() is not None, native.unavailable)",
        "echo @@T\\n",
        "gomem top --n 5 --json",
        exe=binary(version),
        core_file=core(version, scenario),
    )
    assert "@@N True None" in res.stdout, res.stdout + res.stderr
    in_gdb = json_after("@@T", res.stdout)
    cli = gomem_cli(
        "top",
        "--n",
        "5",
        "--json",
        "--binary",
        str(binary(version)),
        "--core",
        str(core(version, scenario)),
    )
    standalone = json.loads(cli.stdout)
    assert [(r["addr"], r["retained"]) for r in in_gdb["rows"]] == [
        (r["addr"], r["retained"]) for r in standalone["rows"]
    ]
    assert in_gdb["rows"][0]["retained"] > 0


@pytest.mark.parametrize("dense", [1, 0], ids=["dense-bins", "sorted-keys"])
def test_many_objects_per_root_counts_past_int32_keys(
    dense: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The (root-held object, type) grouping behind the "many objects" suspect on a heap
    where object index x type count passes 2**31 (the 1 GiB benchmark core: 19 million
    objects x 151 type entries). An int32 key overflowed there and credited smalls'
    [k]int64 arrays to a main.Order "held under" no root; the groups here are built by hand,
    so their counts and bytes are known. Both ways of counting: dense bins, and the sort
    used when holders x types outgrow the object count."""
    from types import SimpleNamespace

    import numpy as np

    from gdb_gomem.heap import retention
    from gdb_gomem.heap.retention import MANY_OBJECTS, _many_per_root

    monkeypatch.setattr(retention, "DENSE_BINS_PER_OBJECT", dense)

    n, nentries = 300_000, 10_000  # 300k x 10k > 2**31
    top = np.full(n, -1, np.int32)
    tid = np.full(n, -1, np.int32)
    size = np.full(n, 16, np.uint64)
    holder_hi, holder_lo = n - 1, 5
    top[holder_hi] = holder_hi
    top[holder_lo] = holder_lo
    top[1000:251_000] = holder_hi  # 250k objects of the last type entry
    tid[1000:251_000] = nentries - 1
    size[1000:251_000] = 48
    top[260_000 : 260_000 + MANY_OBJECTS + 7] = holder_lo  # just over the threshold, untyped
    top[270_000 : 270_000 + MANY_OBJECTS - 1] = holder_lo  # just under, type 3
    tid[270_000 : 270_000 + MANY_OBJECTS - 1] = 3
    live = top >= 0
    live[265_000] = False  # dead objects never count
    top[265_000] = holder_hi

    class Objects:  # what _many_per_root reads of the model's object table
        def __len__(self) -> int:
            return n

    objects = Objects()
    objects.size = size  # type: ignore[attr-defined]
    model = SimpleNamespace(objects=objects, live=live)
    dt = SimpleNamespace(top=top)
    types = SimpleNamespace(type_id=tid, entries=[None] * nentries)
    got = _many_per_root(model, dt, types)  # type: ignore[arg-type]
    assert got == [  # a root-held object is under itself: holder_lo is one of its untyped
        (holder_lo, -1, MANY_OBJECTS + 8, 16 * (MANY_OBJECTS + 8)),
        (holder_hi, nentries - 1, 250_000, 48 * 250_000),
    ]
