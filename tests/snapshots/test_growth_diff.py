"""gomem diff against ground truth: fixtures/<v>/growth, one run cored by gdb at three markers
(base; shed a third of the items, GC, grow items and uploads; shed and grow again). The
program's manifest has each marker's live counts per type, the per-type deltas, and sampled
addresses of objects new, freed, kept and reused (a freed slot a new object took) between
markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.reports.schema.snapshots import DiffDoc
from gdb_gomem.reports.snapshots import diff_doc
from gdb_gomem.snapshots.capture import take_snapshot
from gdb_gomem.snapshots.diff import classify
from gomem_fixtures import store
from tests.reports.test_schema import _problems
from tests.support import VERSIONS, fixture_process, program_manifest

#: The manifest's type names, and the name the type pass gives each (the Data buffers are
#: the backing arrays of []byte fields: [4096]uint8).
TYPES = {"main.Item": "main.Item", "main.Upload": "main.Upload", "upload_data": "[4096]uint8"}
PAIRS = ((1, 2), (2, 3))


def _paths(version: str, n: int) -> tuple[Path, Path]:
    program_manifest(version, "growth", "markers")
    return (
        store.fixture_file(version, "growth", "growth"),
        store.fixture_file(version, "growth", f"m{n}.core"),
    )


def _diff(version: str, a: int, b: int) -> DiffDoc:
    exe, ca = _paths(version, a)
    _, cb = _paths(version, b)
    return diff_doc(str(ca), str(cb), binary=str(exe), opener=open_core, current=None, limit=0)


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("version", VERSIONS)
def test_per_type_deltas_equal_the_manifest(version: str, pair: tuple[int, int]) -> None:
    m = program_manifest(version, "growth", "markers")
    a, b = pair
    d = _diff(version, a, b)
    assert not _problems(d, DiffDoc, "diff")
    t = next(t for t in m["transitions"] if (t["from"], t["to"]) == pair)
    rows = {r["type"]: r for r in d["rows"]}
    ma, mb = m["markers"][a - 1], m["markers"][b - 1]
    for key, name in TYPES.items():
        r = rows[name]
        assert r["count_a"] == ma["counts"][key], (name, r)
        assert r["count_b"] == mb["counts"][key], (name, r)
        assert r["delta_count"] == t["counts_delta"][key], (name, r)
        assert r["delta_bytes"] == t["counts_delta"][key] * ma["sizes"][key]
    assert d["a"]["num_gc"] == ma["num_gc"] and d["b"]["num_gc"] == mb["num_gc"]


def _classes(version: str, a: int, b: int) -> tuple[Any, Any, Any]:
    sa, _ = take_snapshot(fixture_process(version, "growth", f"m{a}"))
    sb, _ = take_snapshot(fixture_process(version, "growth", f"m{b}"))
    return sa, sb, classify(sa, sb)


def _rows_of(s: Any, addrs: list[str]) -> np.ndarray:
    """Each address's object row (a pointer may sit past a malloc header, inside the slot)."""
    p = np.array([int(x, 16) for x in addrs], np.uint64)
    i = np.searchsorted(s.objects["addr"], p, side="right") - 1
    assert bool(np.all((i >= 0) & (p < s.objects["addr"][i] + s.objects["size"][i])))
    return i


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("version", VERSIONS)
def test_sampled_objects_are_classified_right(version: str, pair: tuple[int, int]) -> None:
    m = program_manifest(version, "growth", "markers")
    t = next(t for t in m["transitions"] if (t["from"], t["to"]) == pair)
    sa, sb, cls = _classes(version, *pair)
    new_b = set(cls.new_b.tolist())
    freed_a = set(cls.freed_a.tolist())
    surv = dict(zip(cls.survived_b.tolist(), cls.survived_a.tolist(), strict=True))
    for o in t["new"]:
        (i,) = _rows_of(sb, [o["addr"]])
        assert int(i) in new_b, ("new", o)
    for o in t["freed"]:
        (i,) = _rows_of(sa, [o["addr"]])
        assert int(i) in freed_a, ("freed", o)
    for o in t["kept"]:
        (i,) = _rows_of(sb, [o["addr"]])
        (j,) = _rows_of(sa, [o["addr"]])
        assert surv.get(int(i)) == int(j), ("kept", o)
    # A reused slot: the old object freed and the new one new, never a survivor.
    assert t["reused"], "the fixture reuses no slot"
    for o in t["reused"]:
        (i,) = _rows_of(sb, [o["addr"]])
        (j,) = _rows_of(sa, [o["addr"]])
        assert int(i) in new_b and int(j) in freed_a, ("reused", o)


@pytest.mark.gdb
def test_snapshot_in_gdb_diffs_against_a_core_to_the_same_answer(tmp_path: Path) -> None:
    from tests.support import gdb_batch

    version = VERSIONS[-1]
    exe, m1 = _paths(version, 1)
    _, m2 = _paths(version, 2)
    snap = tmp_path / "m1.gomemsnap"
    r = gdb_batch(f"heap_snapshot --label m1 --out {snap}", exe=exe, core_file=m1)
    assert snap.is_file(), r.stdout + r.stderr
    from_gdb = diff_doc(str(snap), str(m2), binary=str(exe), opener=open_core, current=None)
    cores = _diff(version, 1, 2)
    assert from_gdb["rows"] == cores["rows"]
    for k in ("new", "freed", "survived"):
        assert from_gdb["objects"][k]["count"] == cores["objects"][k]["count"]  # type: ignore[literal-required]
        assert from_gdb["objects"][k]["bytes"] == cores["objects"][k]["bytes"]  # type: ignore[literal-required]
    assert from_gdb["a"]["label"] == "m1" and from_gdb["a"]["kind"] == "snapshot"
