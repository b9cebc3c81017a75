"""``gomem defers`` / ``gomem panics`` on every fixture version (the type decoder they print
panic values with: ``tests/runtime/test_rtype.py``).

Expectations come from the fixture program's manifest (what each goroutine deferred, the
panic values), from the Go runtime's own traceback in ``<scenario>.stderr.txt`` (gopanic's
argument words and SP, the frame that called it), from the toolchain's objdump facts
(``facts.json`` ``defer_kinds``: which functions call deferproc / deferprocStack / open-code)
and from the binary's DWARF (``DW_AT_go_runtime_type``) for type names; never from gomem.
"""

from __future__ import annotations

import functools
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.base.errors import GomemError
from gdb_gomem.commands.registry import REGISTRY, build_parser, load_all, output
from gdb_gomem.target.process import GoProcess
from tests.support import (
    SCENARIOS,
    SIZE_CLASSES,
    VERSIONS,
    Overlay,
    binary,
    core,
    fixture_file,
    gdb_batch,
    gomem_cli,
    json_after,
    manifest,
    panic_frame,
    patched_core,
    stderr_goroutine,
)

#: Versions checked inside gdb too (each gdb run costs about a second).
GDB_VERSIONS = [v for v in VERSIONS if v.startswith(("1.21.", "1.25.", "1.27."))] or ["none"]


@functools.cache
def _proc(version: str, scenario: str) -> GoProcess:
    return open_core(binary(version), core(version, scenario))


def _in_process(proc: GoProcess, command: str, *argv: str) -> str:
    """A command's output through its registry entry, as both front ends produce it."""
    load_all()
    spec = REGISTRY[command]
    return output(spec, proc, build_parser(spec, f"gomem {command}").parse_args(argv))


@functools.cache
def _doc(version: str, scenario: str, command: str) -> dict[str, Any]:
    """``gomem <command> --json`` on a fixture core: the standalone command on the panic core,
    the same command in-process on the others (one fresh process per run costs ~0.4 s)."""
    if scenario != "panic":
        return json.loads(_in_process(_proc(version, scenario), command, "--json"))
    res = gomem_cli(
        command, "--json", "--binary", str(binary(version)), "--core", str(core(version, scenario))
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return json.loads(res.stdout)


# ---------------------------------------------------------------------- checks


def check_defers(doc: dict[str, Any], version: str, scenario: str) -> None:
    """Per goroutine: counts and frames as the program recorded them; nothing else pending."""
    m = manifest(version, scenario)
    ours = {g["goroutine"]: g for g in doc["goroutines"]}
    for exp in m["goroutines"]:
        g = ours.pop(exp["id"], None)
        if not exp["defer_frames"]:  # the mapwrite writers defer nothing
            assert g is None or not g["pending"], exp["id"]
            continue
        assert g is not None, f"goroutine {exp['id']} ({exp['role']}) not listed"
        assert g["counts"] == exp["defers"], exp["id"]
        frames = [{k: f[k] for k in ("func", "kind", "count", "deferred")} for f in g["frames"]]
        assert frames == exp["defer_frames"], exp["id"]
        assert g["errors"] == []
    # Others: only the runtime's own defers. runtime.main defers its unlockOSThread closure
    # (runtime/proc.go) and stays in that frame until main.main returns; a panic runs it.
    for gid, g in ours.items():
        assert all(f["func"].startswith("runtime.") for f in g["frames"]), g["frames"]
        if gid == m["main_goroutine_id"] and m["crash"]["kind"] in ("gcore", "mapwrite"):
            assert [(f["func"], f["kind"], f["count"]) for f in g["frames"]] == [
                ("runtime.main", "open", 1)
            ]
            assert g["frames"][0]["deferred"].startswith("runtime.main.func")
    assert doc["errors"] == []


def check_panics(doc: dict[str, Any], version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    listed = {g["goroutine"]: g for g in doc["goroutines"]}
    recovered = m["panics"]["recovered"]
    in_flight = m["panics"]["in_flight"]
    if in_flight is None:
        # mapwrite is a fatal error (throw), not a panic; gcore is a pause.
        assert listed == {}
        assert doc["crash"] is None or doc["crash"]["panic_value"] is None
        return
    (gid,) = m["crash"]["goroutine_ids"]
    assert set(listed) == {gid}
    g = listed[gid]
    assert g["crashing"] is True and g["errors"] == []
    # The first panic was recovered: the runtime unlinked it, so one panic is left.
    (p,) = g["panics"]
    assert p["text"] == in_flight == m["crash"]["panic_value"]
    assert recovered not in json.dumps(doc)
    assert doc["crash"]["panic_value"] == in_flight
    assert p["recovered"] is False and p["goexit"] is False
    # Flags exist exactly where the version's _panic has them (runtime2.go).
    minor = int(version.split(".")[1])
    assert (p["aborted"] is None) == (minor >= 22)
    assert (p["repanicked"] is None) == (minor < 25)
    assert (p["deferreturn"] is None) == (minor < 22)
    assert ("startSP" in p["fields"]) == (minor >= 22)
    # The deferred call the crash ran: an open-coded defer of the crashing function's frame.
    ran = [r["deferred"] for r in p["ran_defers"]]
    assert m["panics"]["deferred_during_crash"] in ran
    # Where it started, against the Go traceback of the crash.
    tw, dw, sp, caller, file, line = panic_frame(stderr_goroutine(version, scenario, gid))
    assert p["panic_frame"]["func"] == "runtime.gopanic"
    assert int(p["panic_frame"]["sp"], 16) == sp
    if "startSP" in p["fields"]:
        assert int(p["fields"]["startSP"], 16) == sp
    if "gopanicFP" in p["fields"]:  # 1.26: gopanic's FP is its caller's SP
        assert p["fields"]["gopanicFP"] == p["started_by"]["sp"]
    assert p["started_by"]["func"] == caller
    assert p["started_by"]["line"] == line and p["started_by"]["file"] == file
    assert p["origin"]["func"] == m["crash"]["function"]
    if scenario == "panic":
        # A string is not replaced by preprintpanics: the words Go printed are still the arg.
        assert p["value"]["type"] == "string"
        assert int(p["value"]["type_addr"], 16) == tw and int(p["value"]["data"], 16) == dw


# ---------------------------------------------------------------------- standalone


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_defers_match_manifest(version: str, scenario: str) -> None:
    check_defers(_doc(version, scenario, "defers"), version, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_panics_match_manifest_and_traceback(version: str, scenario: str) -> None:
    check_panics(_doc(version, scenario, "panics"), version, scenario)


def test_defer_kinds_match_toolchain(version: str) -> None:
    """Each frame's kind agrees with objdump of the function (deferproc/-Stack/open-coded)."""
    facts = json.loads(fixture_file(version, "leaky", "facts.json").read_text())["defer_kinds"]
    seen = set()
    for g in _doc(version, "panic", "defers")["goroutines"]:
        for f in g["frames"]:
            if f["func"] in facts:
                assert f["kind"] == facts[f["func"]]["kind"], f
                seen.add(f["func"])
    # pprof.Do's own defer is open-coded (the manifest note says make_fixtures checked it).
    assert "open-coded" in manifest(version, "panic")["notes"]["defer_frames"]
    assert {"main.openDefer", "main.stackDefers", "main.heapDefers", "runtime/pprof.Do"} <= seen


def test_closures_and_records(version: str) -> None:
    """What the deferred closures are and how big, by construction of the fixture program."""
    doc = _doc(version, "panic", "defers")
    gid = manifest(version, "panic")["goroutines"][0]["id"]
    g = next(x for x in doc["goroutines"] if x["goroutine"] == gid)
    proc = open_core(binary(version), core(version, "panic"))
    defer_size = proc.dw.size("runtime._defer")
    for d in g["pending"]:
        cl = d["closure"]
        if d["frame"] == "runtime/pprof.Do":
            # `defer SetGoroutineLabels(ctx)`: a compiler wrapper closure on Do's stack holding
            # fn and ctx (context.Background(), a zero-size value boxed at runtime.zerobase).
            assert cl["where"] == "stack" and cl["size"] == 24
            assert cl["calls"] == "runtime/pprof.SetGoroutineLabels"
            assert "exact" in cl["size_source"]
            assert [c["points_to"]["what"] for c in cl["captures"]] == ["runtime.zerobase"]
        else:
            # `defer deferredX()`: a static funcval, nothing captured.
            assert cl["where"] == "static" and cl["size"] == 8 and cl["captures"] == []
            assert cl["func"] == d["deferred"]
        if d["kind"] == "heap":
            # A heap _defer occupies the smallest size class that holds runtime._defer.
            assert d["record_size"] == next(s for s in SIZE_CLASSES if s >= defer_size)
        if d["kind"] == "stack":
            assert d["record_size"] is None
            assert d["defer_line"] != d["line"]  # the defer statement, not where it waits now


def test_defer_pool_warm_up(version: str) -> None:
    """main.warmDeferPool's records all sit in the free lists; no 1.21 open-frame record is
    left on the crashing goroutine (the panic took and returned them; manifest notes)."""
    m = manifest(version, "panic")
    n = int(re.search(r"ran (\d+) heap defers", m["notes"]["defer_pool"])[1])  # type: ignore[index]
    for scenario in ("panic", "nil"):
        doc = _doc(version, scenario, "defers")
        assert doc["defer_pools"]["total"] == n
        assert doc["defer_pools"]["errors"] == []
        for g in doc["goroutines"]:
            assert all(r["kind"] != "open-frame" for r in g["records"])


def test_text_output(version: str) -> None:
    """The readable forms (rendered by the same code in both front ends)."""
    m = manifest(version, "panic")
    out = _in_process(_proc(version, "panic"), "panics")
    assert "1 panic(s) in flight" in out
    assert repr(m["panics"]["in_flight"]) in out
    assert f"started in {m['crash']['function']} (" in out
    assert m["panics"]["deferred_during_crash"] in out
    w = m["goroutines"][0]
    lines = _in_process(_proc(version, "panic"), "defers", str(w["id"])).splitlines()
    for f in w["defer_frames"]:
        assert any(
            f["func"] in ln and f" x{f['count']} " in ln and f["deferred"] in ln for ln in lines
        ), f
    assert not any("\x1b[" in ln for ln in lines)


def test_unknown_goroutine(version: str) -> None:
    """A user error with a hint (the CLI turns GomemError into exit status 2)."""
    with pytest.raises(GomemError, match="no goroutine 99999") as exc:
        _in_process(_proc(version, "gcore"), "defers", "99999")
    assert exc.value.hint


# ---------------------------------------------------------------------- in gdb


@pytest.mark.gdb
@pytest.mark.parametrize("version", GDB_VERSIONS)
def test_defers_and_panics_in_gdb(version: str) -> None:
    """A subset of versions (oldest, first with repanicked, newest): both commands in gdb."""
    res = gdb_batch(
        "echo @@DEFERS\\n",
        "gomem defers --json",
        "echo @@PANICS\\n",
        "gomem panics --json",
        exe=binary(version),
        core_file=core(version, "nil"),
    )
    assert "Traceback" not in res.stderr
    check_defers(json_after("@@DEFERS", res.stdout), version, "nil")
    check_panics(json_after("@@PANICS", res.stdout), version, "nil")


# ---------------------------------------------------------------------- robustness


def test_self_linked_defer_and_panic(version: str, tmp_path: Path) -> None:
    """``_defer.link`` and ``_panic.link`` pointing to themselves end with an error line."""
    m = manifest(version, "panic")
    gid = m["goroutines"][0]["id"]
    doc = _doc(version, "panic", "defers")
    g = next(x for x in doc["goroutines"] if x["goroutine"] == gid)
    heap = [r for r in g["records"] if r["kind"] == "heap"]
    before = g["records"].index(heap[0])
    proc = _proc(version, "panic")
    rec = int(heap[0]["record"], 16)
    pan = int(_doc(version, "panic", "panics")["goroutines"][0]["panics"][0]["addr"], 16)
    cf = patched_core(
        core(version, "panic"),
        tmp_path / "c",
        {
            rec + proc.dw.offset("runtime._defer", "link"): struct.pack("<Q", rec),
            pan + proc.dw.offset("runtime._panic", "link"): struct.pack("<Q", pan),
        },
    )
    res = gomem_cli("defers", str(gid), "--binary", str(binary(version)), "--core", str(cf))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert f"error: _defer list of goroutine {gid} loops back" in res.stdout
    bad = open_core(binary(version), cf)
    d = json.loads(_in_process(bad, "defers", str(gid), "--json"))["goroutines"][0]
    assert len(d["records"]) == before + 1
    assert any("loops back" in e for e in d["errors"])
    (pg,) = json.loads(_in_process(bad, "panics", "--json"))["goroutines"]
    assert len(pg["panics"]) == 1 and any("loops back" in e for e in pg["errors"])


# ---------------------------------------------------------------------- records built in memory


def test_rangefunc_queued_defers(version: str) -> None:
    """A range-over-func head record and the defers queued on it (deferprocat), built in
    memory with the version's _defer layout (Go 1.22+ only: 1.21 has no rangefunc)."""
    proc = open_core(binary(version), core(version, "panic"))
    dw = proc.dw
    if not dw.has_field("runtime._defer", "rangefunc"):
        pytest.skip("no range-over-func defers in this Go version")
    from dataclasses import replace

    from gdb_gomem.goroutines.allgs import goroutines
    from gdb_gomem.goroutines.defers import DeferReader

    gid = manifest(version, "panic")["goroutines"][0]["id"]
    g = goroutines(proc).by_id(gid)
    assert g is not None
    real = DeferReader(proc).for_goroutine(g)
    heap0 = next(r for r in real.records if r.kind == "heap")
    size = dw.size("runtime._defer")
    fake = 0x7E0000000000
    buf = bytearray(0x400)

    def rec(at: int, **fields: int) -> None:
        for name, val in fields.items():
            off = dw.offset("runtime._defer", name)
            if name in ("heap", "rangefunc"):
                buf[at + off] = val
            else:
                struct.pack_into("<Q", buf, at + off, val)
        assert size <= 0x100

    rec(0, heap=1, rangefunc=1, sp=heap0.sp, pc=heap0.pc, link=g.defer_ptr, head=fake + 0x100)
    struct.pack_into("<Q", buf, 0x100, fake + 0x200)  # atomic.Pointer[_defer].v
    rec(0x200, heap=1, fn=heap0.fn, link=fake + 0x300)
    rec(0x300, heap=1, fn=heap0.fn, link=0)
    proc.mem = Overlay(proc.mem, fake, bytes(buf))
    res = DeferReader(proc).for_goroutine(replace(g, defer_ptr=fake))
    kinds = [r.kind for r in res.records]
    assert kinds[:3] == ["rangefunc", "heap", "heap"]
    assert res.counts["heap"] == real.counts["heap"] + 2
    assert res.records[1].extra["rangefunc_head"] == f"{fake:#x}"
    assert res.records[1].frame_func == heap0.frame_func == "main.heapDefers"
    assert res.errors == []


def test_heap_closure_sizes_from_spans(version: str) -> None:
    """The heap side of closure sizing, on objects whose addresses the program recorded: a
    main.Node of the reachable cycle read as if it were a closure: its size is its size
    class, and its Next/Prev words are captured pointers to the neighbouring nodes."""
    from gdb_gomem.goroutines.allgs import goroutines
    from gdb_gomem.goroutines.defers import DeferReader

    m = manifest(version, "panic")
    cyc = m["cycles"]["reachable"]
    addrs = [int(a, 16) for a in cyc["addresses"]]
    n = len(addrs)
    node_size = m["types"]["main.Node"]["size"]
    cls = next(s for s in SIZE_CLASSES if s >= node_size)
    proc = _proc(version, "panic")
    g = goroutines(proc).all[0]
    r = DeferReader(proc)
    for i, a in enumerate(addrs):
        c = r.closure(a, g, [])
        assert (c.where, c.size) == ("heap", cls)
        assert c.size_source.startswith("inferred")
        caps = {x.offset: x for x in c.captures}
        nxt, prv = addrs[(i + 1) % n], addrs[(i - 1) % n]
        assert caps[8].word == nxt and caps[16].word == prv
        assert caps[8].points_to is not None and caps[8].points_to.where == "heap"
        assert (caps[8].points_to.base, caps[8].points_to.size) == (nxt, cls)
        assert c.retained == cls * (3 if n > 2 else 2)
