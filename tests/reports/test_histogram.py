"""``gomem histogram`` and ``gomem objects``: JSON shape, order, filters, and the manifest's
counts; standalone on every fixture, and once in gdb."""

from __future__ import annotations

import functools
import json

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.reports import objects as types_docs
from tests.support import ROOT, binary, cli_json, core, gdb_batch, gomem_cli, json_after, manifest


@functools.lru_cache(maxsize=8)
def proc(version: str):
    """One process per fixture, so the type inference runs once for the in-process tests."""
    return open_core(binary(version), core(version, "panic"))


def test_histogram_shape_and_counts(version: str) -> None:
    d = cli_json(version, "histogram")
    assert set(d) >= {"rows", "total"}
    assert d["selection"] == "live"
    rows = d["rows"]
    for r in rows:
        assert set(r) >= {"type", "count", "bytes"}
        assert isinstance(r["count"], int) and isinstance(r["bytes"], int)
    assert [r["bytes"] for r in rows] == sorted(r["bytes"] for r in rows)
    assert d["total"]["count"] == sum(r["count"] for r in rows)
    assert d["total"]["bytes"] == sum(r["bytes"] for r in rows)
    by = {r["type"]: r for r in rows}
    for tname, info in manifest(version, "panic")["types"].items():
        got = by.get(tname, {"count": 0})
        assert got["count"] == info["live"], tname
    assert d["typed"]["percent"] >= 99.0


def test_histogram_filters_and_groupings(version: str) -> None:
    p = proc(version)
    d = types_docs.histogram_doc(p, "all", r"^main\.", top=3)
    assert len(d["rows"]) <= 3
    assert all(r["type"].startswith("main.") for r in d["rows"])
    assert d["rows"][-1]["type"] == "main.Entry"
    g = types_docs.histogram_doc(p, "garbage", r"^main\.Node$")
    m = manifest(version, "panic")["types"]["main.Node"]
    assert sum(r["count"] for r in g["rows"]) <= m["count"] - m["live"]
    s = types_docs.histogram_doc(p, "default", None, 64, 64, by="package")
    assert any(r["type"] == "main" for r in s["rows"])


def test_objects_lists_tagged(version: str) -> None:
    m = manifest(version, "panic")
    d = types_docs.objects_doc(proc(version), r"^main\.Tagged$", 1000)
    assert d["count"] == 64
    assert {o["addr"] for o in d["objects"]} == {
        hex(int(a, 16)) for a in m["tagged"]["main.Tagged"]["addresses"]
    }


def test_text_output_ends_with_total() -> None:
    version = "1.26.6"
    r = gomem_cli(
        "histogram",
        "--top",
        "5",
        "--binary",
        str(binary(version)),
        "--core",
        str(core(version, "panic")),
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["COUNT", "BYTES", "TYPE"]
    assert lines[-1].startswith("Total ")
    assert "[1048576]uint8" in lines[-2]


@pytest.mark.gdb
def test_in_gdb() -> None:
    version = "1.24.11"
    addr = manifest(version, "panic")["tagged"]["main.Tagged"]["addresses"][0]
    r = gdb_batch(
        "echo ==H==\\n",
        "gomem histogram --json --top 5",
        "echo ==O==\\n",
        f"gomem obj {addr} --json",
        exe=binary(version),
        core_file=core(version, "panic"),
    )
    h = json_after("==H==", r.stdout)
    assert len(h["rows"]) == 5 and h["total"]["count"] > 1000
    o = json_after("==O==", r.stdout)
    assert o["object"]["type"] == "main.Tagged"


def test_without_a_compiler_the_fallback_says_so_and_agrees(version: str, tmp_path) -> None:
    """A machine with no C compiler: one stderr line names why the compiled kernels are
    missing, and the histogram (objects, reachability, types) is the same document."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    args = [
        "histogram",
        "--json",
        "--binary",
        str(binary(version)),
        "--core",
        str(core(version, "panic")),
    ]
    env = dict(
        os.environ, NO_COLOR="1", GOMEM_CACHE=str(tmp_path), PATH=str(Path(sys.executable).parent)
    )
    env.pop("CC", None)
    res = subprocess.run(
        [sys.executable, "-m", "gdb_gomem.frontends.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    assert "compiled kernels unavailable (no C compiler" in res.stderr
    fallback = json.loads(res.stdout)
    normal = cli_json(version, "histogram")
    for d in (fallback, normal):
        d.pop("seconds")
    assert fallback == normal
