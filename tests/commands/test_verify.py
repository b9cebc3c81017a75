"""``gomem verify``: clean on every fixture, and it catches corrupted pointers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.commands.verify import verify_doc
from gdb_gomem.heap.objects import object_table
from tests.support import binary, core, gdb_batch, gomem_cli, manifest, patched_core


@pytest.mark.parametrize("scenario", ["nil", "gcore", "panic", "mapwrite"])
def test_verify_clean(version: str, scenario: str) -> None:
    d = verify_doc(open_core(binary(version), core(version, scenario)))
    assert d["errors"] == 0, d["problems"][:5]
    assert d["objects"] > 4000
    names = [c["check"] for c in d["checks"]]
    assert names == ["alloc counts", "arena map", "heap pointers", "root pointers", "memory"]
    assert all(c["checked"] > 0 for c in d["checks"])


def test_verify_cli_text_and_json(version: str) -> None:
    args = ["verify", "--binary", str(binary(version)), "--core", str(core(version, "nil"))]
    text = gomem_cli(*args, check=True).stdout
    assert text.rstrip().splitlines()[-1].endswith("objects verified, 0 errors")
    doc = json.loads(gomem_cli(*args, "--json", check=True).stdout)
    assert set(doc) == {"checks", "objects", "errors", "problems"} and doc["errors"] == 0


def test_verify_catches_dangling_pointers(edge_version: str, tmp_path: Path) -> None:
    """A reachable node's Next and the global main.tagged's array rewritten to point at a
    free slot (the node stays reachable through main.cycleRoot, so its pointers are checked)."""
    v = edge_version
    m = manifest(v, "panic")
    proc = open_core(binary(v), core(v, "panic"))
    objs = object_table(proc)
    free = None
    for s in objs.walk.in_use():
        if s.sizeclass and s.alloc_count < s.nelems:
            for i in range(s.nelems):
                a = s.base + i * s.elemsize
                if objs.find_one(a) < 0:
                    free = a
                    break
        if free:
            break
    assert free is not None
    node = int(m["cycles"]["reachable"]["addresses"][0], 16)
    root = int(m["globals"]["main.tagged"]["addr"], 16)
    patches = {node + 8: struct.pack("<Q", free + 8), root: struct.pack("<Q", free)}
    bad = open_core(binary(v), patched_core(core(v, "panic"), tmp_path / "c", patches))
    d = verify_doc(bad)
    kinds = {(p["kind"], p["addr"]) for p in d["problems"]}
    assert ("dangling pointer", f"{node + 8:#x}") in kinds
    assert ("dangling root", f"{root:#x}") in kinds
    assert d["errors"] >= 2


@pytest.mark.gdb
def test_verify_in_gdb(edge_version: str) -> None:
    v = edge_version
    out = gdb_batch("gomem verify", exe=binary(v), core_file=core(v, "nil")).stdout
    assert "objects verified, 0 errors" in out, out[-2000:]
