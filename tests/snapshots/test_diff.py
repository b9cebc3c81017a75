"""gomem diff on committed cores: a snapshot against its own core, sides of another program,
and the same answers standalone and in gdb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdb_gomem.reports.schema.snapshots import SnapshotDoc
from gdb_gomem.reports.snapshots import diff_doc, snapshot_doc
from gdb_gomem.snapshots.format import SnapshotError
from gomem_fixtures import store
from tests.reports.test_schema import _problems
from tests.support import VERSIONS, fixture_process, gomem_cli, program_manifest


def _paths(version: str, program: str, scenario: str) -> tuple[Path, Path]:
    program_manifest(version, program, scenario)
    return (
        store.fixture_file(version, program, program),
        store.fixture_file(version, program, f"{scenario}.core"),
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_snapshot_against_its_own_core_is_all_survivors(version: str, tmp_path: Path) -> None:
    exe, core = _paths(version, "window", "panic")
    proc = fixture_process(version, "window", "panic")
    out = tmp_path / "a.gomemsnap"
    sdoc = snapshot_doc(proc, str(out), "a")
    assert not _problems(sdoc, SnapshotDoc, "snapshot")
    from gdb_gomem.adapters.corefile import open_core

    d = diff_doc(str(out), str(core), binary=str(exe), opener=open_core, current=None)
    o = d["objects"]
    assert o["new"]["count"] == 0 and o["freed"]["count"] == 0
    assert o["survived"]["count"] == sdoc["snapshot"]["objects"] > 0
    assert o["unconfirmed_survivors"] == 0  # no GC between: every survivor is proven
    assert all(r["delta_count"] == 0 and r["delta_bytes"] == 0 for r in d["rows"])
    assert d["a"]["kind"] == "snapshot" and d["b"]["kind"] == "core"
    m = program_manifest(version, "window", "panic")
    rows = {r["type"]: r for r in d["rows"]}
    for b in m["batches"]:
        assert rows[b["type"]]["count_a"] == rows[b["type"]]["count_b"] == b["count"]


def test_sides_of_another_program_are_refused(tmp_path: Path) -> None:
    version = VERSIONS[-1]
    proc = fixture_process(version, "window", "panic")
    out = tmp_path / "w.gomemsnap"
    snapshot_doc(proc, str(out), typed=False)
    lexe, lcore = _paths(version, "leaky", "panic")
    from gdb_gomem.adapters.corefile import open_core

    with pytest.raises(SnapshotError, match="different binaries"):
        diff_doc(str(out), str(lcore), binary=str(lexe), opener=open_core, current=None)
    # A snapshot against a binary it was not taken of, even alone: refused by build ID.
    with pytest.raises(SnapshotError, match="another binary"):
        diff_doc(str(out), str(out), binary=str(lexe), opener=open_core, current=None)


def test_cli_diff_without_core_and_schema(tmp_path: Path) -> None:
    from gdb_gomem.reports.schema.snapshots import DiffDoc

    version = VERSIONS[-1]
    exe, panic = _paths(version, "window", "panic")
    _, churn = _paths(version, "window", "churn")
    a = tmp_path / "a.gomemsnap"
    r = gomem_cli("snapshot", "--json", "--binary", str(exe), "--core", str(panic), "--out", str(a))
    assert r.returncode == 0, r.stderr
    sdoc = json.loads(r.stdout)
    assert not _problems(sdoc, SnapshotDoc, "snapshot")
    r = gomem_cli("diff", str(a), str(churn), "--json", "--binary", str(exe))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert not _problems(d, DiffDoc, "diff")
    # Two runs of one binary: nothing at the same address is the same object unless proven.
    assert d["a"]["objects"] == sdoc["snapshot"]["objects"]
    text = gomem_cli("diff", str(a), str(churn), "--binary", str(exe), "--threshold", "1k")
    assert text.returncode == 0 and "DELTA" in text.stdout
    assert all(
        abs(r["delta_bytes"]) >= 1024
        for r in json.loads(
            gomem_cli(
                "diff", str(a), str(churn), "--json", "--binary", str(exe), "--threshold", "1k"
            ).stdout
        )["rows"]
    )


@pytest.mark.gdb
def test_heap_snapshot_in_gdb_matches_the_standalone_one(tmp_path: Path) -> None:
    from gdb_gomem.snapshots.format import read_file
    from gdb_gomem.snapshots.model import OBJECT_COLUMNS, Snapshot
    from tests.support import gdb_batch, json_after

    version = VERSIONS[-1]
    exe, core = _paths(version, "windowprof", "panic")
    g = tmp_path / "gdb.gomemsnap"
    c = tmp_path / "cli.gomemsnap"
    r = gdb_batch(
        f"heap_snapshot --label ingdb --out {g}",
        "echo ==D==\\n",
        f"gomem diff {g} --json",
        exe=exe,
        core_file=core,
    )
    assert "Traceback" not in r.stderr, r.stderr
    d = json_after("==D==", r.stdout)
    assert d["b"]["kind"] == "target" and d["objects"]["new"]["count"] == 0
    assert (
        gomem_cli("snapshot", "--binary", str(exe), "--core", str(core), "--out", str(c)).returncode
        == 0
    )
    a = Snapshot.from_bytes(read_file(g))
    b = Snapshot.from_bytes(read_file(c))
    assert a.label == "ingdb"
    for k in OBJECT_COLUMNS:
        assert (a.objects[k] == b.objects[k]).all(), k
    assert a.types == b.types and a.stacks == b.stacks
