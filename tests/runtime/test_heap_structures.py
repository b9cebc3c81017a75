"""Heap-structure commands (mheap, spans, span, mcentral, mcache, spanlists, memstats) on every
fixture, against the program's own manifest and against gdb's independent reading of the core.

Ground truth used here:
- ``memstats_final``: the program's last ``runtime.ReadMemStats``, taken after ``runtime.GC()``
  (which finishes sweeping) with GC then disabled and nothing allocated before the dump except
  the two objects of the ``nil`` fatal path (``support.fatal_path_allocations``). ReadMemStats
  flushed every mcache, so the span walk must reproduce HeapInuse, HeapAlloc, HeapObjects,
  StackInuse, MSpanInuse, MCacheInuse, HeapIdle, HeapReleased and HeapSys exactly;
- ``tagged``/``dropped``/``globals``: addresses of objects the program allocated, with their
  Go type sizes (``types``);
- gdb's own DWARF and core reader, driven by a few lines of gdb Python (allspans, span lists,
  spanSet indices, mcaches, the arena map).

The standalone command runs in-process here (``cli.main``: the same argument parsing, core
opening and printing as ``.venv/bin/gomem``) to keep the suite fast; a few tests run the real
executable for the text output and exit codes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    SCENARIOS,
    SIZE_CLASSES,
    VERSIONS,
    binary,
    core,
    fatal_path_allocations,
    gdb_batch,
    gomem_cli,
    json_after,
    json_line,
    manifest,
    need_fixtures,
    run_json_on,
)

PAGE = 8192


@functools.lru_cache(maxsize=256)
def _run_json_text(version: str, scenario: str, args: tuple[str, ...]) -> str:
    return json.dumps(run_json_on(version, core(version, scenario), *args))


def run_json(version: str, scenario: str, *args: str) -> dict[str, Any]:
    """The JSON document of a command on a committed fixture (computed once per arguments)."""
    return json.loads(_run_json_text(version, scenario, args))


def final_stats(version: str, scenario: str) -> dict[str, int]:
    """memstats_final plus what the runtime allocated after it (the nil fatal path)."""
    final = dict(manifest(version, scenario)["memstats_final"])
    objs, nbytes = fatal_path_allocations(version, scenario)
    final["HeapObjects"] += objs
    final["HeapAlloc"] += nbytes
    return final


def go_minor(m: dict[str, Any]) -> int:
    """The minor version of the Go that built the fixture ("go1.26.6" -> 26)."""
    return int(m["go_version"][2:].split(".")[1])


def class_size(size: int) -> int:
    return next(c for c in SIZE_CLASSES if c >= size)


# ----------------------------------------------------------------------------- mheap


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_mheap_matches_readmemstats(version: str, scenario: str) -> None:
    d = run_json(version, scenario, "mheap")
    m = manifest(version, scenario)
    final = final_stats(version, scenario)
    sp = d["spans"]
    assert d["errors"] == []
    assert all(ch["ok"] for ch in d["checks"]), d["checks"]
    assert sp["in_use"]["bytes"] == final["HeapInuse"]
    assert sp["in_use"]["objects"] == final["HeapObjects"]
    assert sp["in_use"]["object_bytes"] == final["HeapAlloc"]
    assert sp["by_kind"]["stack"]["bytes"] == final["StackInuse"]
    # After runtime.GC() no GC work buffers survive, so manual spans are exactly the stacks.
    assert sp["manual"]["bytes"] == final["StackInuse"]
    pages = d["pages"]
    assert pages["idle_pages"] * PAGE == final["HeapIdle"]
    assert pages["released_pages"] * PAGE == final["HeapReleased"]
    assert pages["total_pages"] * PAGE == final["HeapSys"] + final["StackInuse"]
    # Sweeping finished inside runtime.GC(); GC was then disabled: nothing is unswept.
    sw = d["sweep"]
    assert sw["unswept"] == sw["sweeping"] == sw["cached unswept"] == 0
    assert sw["drained"] is True
    assert d["gc_phase"] == "off"
    objs, _ = fatal_path_allocations(version, scenario)
    assert sw["cached swept"] == objs  # the nil path's two objects came from two classes
    # Green Tea is the default from 1.26 and absent before.
    assert d["green_tea"] == (go_minor(m) >= 26)
    lo, hi = int(d["arenas"]["start"], 16), int(d["arenas"]["end"], 16)
    for a in m["tagged"]["main.Tagged"]["addresses"] + [m["globals"]["main.pinned"]["array"]]:
        assert lo <= int(a, 16) < hi


# ----------------------------------------------------------------------------- spans


@pytest.mark.parametrize("scenario", ["gcore", "nil"])
def test_spans_recount_matches_readmemstats(version: str, scenario: str) -> None:
    d = run_json(version, scenario, "spans", "--state", "all", "--limit", "0")
    final = final_stats(version, scenario)
    assert d["errors"] == [] and not d["truncated"]
    heap = [s for s in d["spans"] if s["state"] == "in use"]
    assert sum(s["allocated"] for s in heap) == final["HeapObjects"]
    assert sum(s["allocated"] * s["elemsize"] for s in heap) == final["HeapAlloc"]
    assert sum(s["npages"] for s in heap) * PAGE == final["HeapInuse"]
    assert all(s["alloc_count_ok"] for s in heap)
    assert d["totals"]["alloc_count_mismatches"] == 0
    for s in heap:
        assert s["nelems"] * s["elemsize"] <= s["npages"] * PAGE
        assert 0 <= s["freeindex"] <= s["nelems"]
    assert {s["state"] for s in d["spans"]} == {"in use", "manual", "dead"}
    # Green Tea (default from 1.26) keeps inline marks in spans of 16..512-byte objects
    # (gcUsesSpanInlineMarkBits); sweep moved them into gcmarkBits and reset them to zero.
    green_tea = go_minor(manifest(version, scenario)) >= 26
    assert d["green_tea"] is green_tea
    for s in heap:
        uses = green_tea and 16 <= s["elemsize"] <= 512
        assert s["inline_marks"] == (0 if uses else None), s


def test_spans_filters(version: str) -> None:
    m = manifest(version, "gcore")
    size = class_size(m["types"]["main.Tagged"]["size"])
    cls = SIZE_CLASSES.index(size) + 1  # runtime/sizeclasses.go: class 1 is 8 bytes
    d = run_json(version, "gcore", "spans", "--class", str(cls), "--limit", "0")
    assert d["matched"] > 0
    assert all(s["sizeclass"] == cls and s["elemsize"] == size for s in d["spans"])
    # Every tagged object lies in one of the listed spans of its size class.
    bounds = [(int(s["base"], 16), int(s["end"], 16)) for s in d["spans"]]
    for a in m["tagged"]["main.Tagged"]["addresses"]:
        assert sum(lo <= int(a, 16) < hi for lo, hi in bounds) == 1
    large = run_json(version, "gcore", "spans", "--class", "0", "--limit", "0")
    pinned = int(m["globals"]["main.pinned"]["array"], 16)
    assert any(int(s["base"], 16) == pinned for s in large["spans"])
    short = run_json(version, "gcore", "spans", "--limit", "3")
    assert short["shown"] == 3 and short["truncated"] and short["matched"] > 3
    assert run_json(version, "gcore", "spans", "--unswept")["matched"] == 0
    dead = run_json(version, "gcore", "spans", "--state", "dead", "--limit", "0")
    assert dead["matched"] > 0 and all(s["state"] == "dead" for s in dead["spans"])


# ----------------------------------------------------------------------------- span ADDR


def test_span_of_program_addresses(version: str) -> None:
    """Every tagged and dropped object is its slot's base, of its type's size class."""
    from gdb_gomem.adapters.corefile import open_core
    from gdb_gomem.reports.structures import span_addr_doc

    m = manifest(version, "panic")
    proc = open_core(binary(version), core(version, "panic"))
    for kind, types_key, live in (
        ("tagged", "main.Tagged", True),
        ("dropped", "main.Dropped", True),
    ):
        size = class_size(m["types"][types_key]["size"])
        for a in m[kind][types_key]["addresses"]:
            d = span_addr_doc(proc, int(a, 16))
            assert d["in_span"], (a, d["notes"])
            o = d["object"]
            assert o["base"] == a and o["offset"] == 0 and o["size"] == size
            assert d["class_size"] == size
            # Dropped objects are garbage, but were allocated after the last GC and GC is off:
            # no sweep freed them.
            assert o["allocated"] is live
            assert o["marked"] is False  # mark bits are fresh after the last sweep
            assert d["span"]["kind"] == "small" and d["page"]["allocated"] is True
    # An interior pointer finds the same slot.
    t0 = int(m["tagged"]["main.Tagged"]["addresses"][0], 16)
    d = span_addr_doc(proc, t0 + 8)
    assert d["object"]["base"] == hex(t0) and d["object"]["offset"] == 8
    # A global is not in the heap.
    d = span_addr_doc(proc, int(m["globals"]["main.pinned"]["addr"], 16))
    assert not d["in_span"] and d["span"] is None and d["notes"]


def test_span_of_pinned_array(version: str) -> None:
    """The 1 MiB array behind main.pinned is one large-object span; interior pointers too."""
    m = manifest(version, "gcore")
    pin = m["globals"]["main.pinned"]
    arr = int(pin["array"], 16)
    for addr in (arr, arr + 12345, arr + pin["cap"] - 1):
        d = run_json(version, "gcore", "span", hex(addr))
        s, o = d["span"], d["object"]
        assert s["kind"] == "large" and s["sizeclass"] == 0 and s["nelems"] == 1
        assert s["base"] == hex(arr) and o["base"] == hex(arr) and o["index"] == 0
        assert s["elemsize"] == pin["cap"] == s["npages"] * PAGE
        assert o["allocated"] is True and o["offset"] == addr - arr


# ----------------------------------------------------------------------------- mcentral


@pytest.mark.parametrize("scenario", ["gcore", "nil"])
def test_mcentral_every_span_has_one_home(version: str, scenario: str) -> None:
    d = run_json(version, scenario, "mcentral")
    heap = run_json(version, scenario, "mheap")
    ch = d["check"]
    assert d["errors"] == [] and ch["violations"] == []
    assert ch["spans_checked"] == heap["spans"]["in_use"]["spans"]
    assert ch["in_span_sets"] + ch["in_mcaches"] == ch["spans_checked"]
    # ReadMemStats flushed every mcache; only the nil path's two allocations refilled two.
    assert ch["in_mcaches"] == fatal_path_allocations(version, scenario)[0]
    assert d["swept_index"] == d["sweepgen"] // 2 % 2
    for cl in d["classes"]:
        # Nothing is unswept after runtime.GC(); large spans sit in class 0's full sets.
        assert cl["partial_unswept"]["count"] == cl["full_unswept"]["count"] == 0
        for name in ("partial_swept", "full_swept"):
            ss = cl[name]
            assert ss["count"] == ss["tail"] - ss["head"] - ss["nils"]
    one = run_json(version, scenario, "mcentral", "--class", "5")
    assert {c["sizeclass"] for c in one["classes"]} <= {5}
    assert one["check"]["violations"] == []


# ----------------------------------------------------------------------------- mcache


@pytest.mark.parametrize("scenario", ["gcore", "nil"])
def test_mcache(version: str, scenario: str) -> None:
    d = run_json(version, scenario, "mcache")
    m = manifest(version, scenario)
    assert len(d["ps"]) == m["gomaxprocs"]
    objs, nbytes = fatal_path_allocations(version, scenario)
    cached = [s for p in d["ps"] for s in p["spans"]]
    assert sum(s["allocated_since_cached"] for s in cached) == objs
    # The nil path allocated one object in each of two classes: their sizes add up.
    assert sum(s["elemsize"] for s in cached) == nbytes
    for p in d["ps"]:
        # mcache.releaseAll (ReadMemStats) clears the tiny block and flushes tinyAllocs.
        assert p["tiny"] is None and p["tinyoffset"] == 0 and p["tiny_allocs"] == 0
        assert p["flush_needed"] is False
        for s in p["spans"]:
            assert s["sweep"] == "cached swept"
        # GODEBUG=memprofilerate=1: the runtime's nextSample() returns 0 for rate 1.
        assert p["next_sample"] == 0
        if p["mem_prof_rate"] is not None:
            assert p["mem_prof_rate"] == m["mem_profile_rate"]


# ----------------------------------------------------------------------------- spanlists


def test_spanlists(version: str) -> None:
    d = run_json(version, "panic", "spanlists")
    assert d["errors"] == []
    pools = [x for x in d["lists"] if x["name"].startswith("stackpool[")]
    assert len(pools) == 4
    stacks = run_json(version, "panic", "mheap")["spans"]["by_kind"]["stack"]
    listed = [s for x in d["lists"] for s in x["spans"]]
    assert all(s["state"] == "manual" for s in listed)
    assert sum(s["npages"] for s in listed) <= stacks["pages"]
    for order, x in enumerate(pools):
        for s in x["spans"]:
            # stackpoolalloc carves _StackCacheSize (32 KiB) into fixedStack<<order stacks.
            assert s["elemsize"] == 2048 << order
            assert s["free_stacks"] + s["alloc_count"] == s["npages"] * PAGE // s["elemsize"]
            assert s["free_stacks"] > 0  # full spans leave the pool


# ----------------------------------------------------------------------------- memstats


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_memstats_walk_agrees(version: str, scenario: str) -> None:
    d = run_json(version, scenario, "memstats", "--gc", "300")
    m = manifest(version, scenario)
    final = final_stats(version, scenario)
    rows = {r["field"]: r for r in d["comparison"]}
    for f in (
        "HeapInuse",
        "HeapAlloc",
        "HeapObjects",
        "StackInuse",
        "MSpanInuse",
        "MCacheInuse",
        "HeapIdle",
        "HeapReleased",
        "HeapSys",
    ):
        assert rows[f]["readmemstats"] == final[f], f
        assert rows[f]["span_walk"] == final[f], (f, rows[f])
        assert rows[f]["difference"] == 0
    # The counters as they sit in the core lag by what the nil path allocated into P mcaches:
    # exactly the program's own ReadMemStats, taken before those two allocations.
    ms_final = m["memstats_final"]
    assert rows["HeapObjects"]["counters"] == ms_final["HeapObjects"]
    assert rows["HeapAlloc"]["counters"] == ms_final["HeapAlloc"]
    if scenario != "nil":
        assert d["memstats"]["NextGC"] == ms_final["NextGC"]
    g = d["gc"]
    assert g["num_gc"] == ms_final["NumGC"] == len(g["cycles"])
    assert [c["cycle"] for c in g["cycles"]] == list(range(g["num_gc"], 0, -1))
    assert g["cycles"][0]["end_unix_ns"] == ms_final["LastGC"]
    assert sum(c["pause_ns"] for c in g["cycles"]) == ms_final["PauseTotalNs"]
    # The forced GC was the last one; the program took the time right after it returned.
    assert g["cycles"][0]["end_unix_ns"] <= m["forced_gc"]["unix_nano"]
    assert len(run_json(version, scenario, "memstats", "--gc", "1")["gc"]["cycles"]) == 1


# ----------------------------------------------------------------------------- text output


@pytest.mark.parametrize(
    "args, phrases",
    [
        (["mheap"], ["Arenas", "in use", "Sweep", "Pages", "Checks", "ok"]),
        (["spans", "--limit", "5"], ["BASE", "ELEMSIZE", "swept", "--limit 0 for all"]),
        (["mcentral"], ["PARTIAL/SWEPT", "Homes:", "no violations"]),
        (["mcache"], ["P0", "tiny", "sample"]),
        (["spanlists"], ["stackpool[0]", "empty:"]),
        (["memstats"], ["HeapInuse", "SPAN WALK", "GC history", "#2"]),
    ],
)
def test_text_output_standalone(args: list[str], phrases: list[str]) -> None:
    """The real executable, once per command on the newest fixture: readable, no colour."""
    need_fixtures()
    v = VERSIONS[-1]
    res = gomem_cli(*args, "--binary", str(binary(v)), "--core", str(core(v, "nil")))
    assert res.returncode == 0, res.stderr
    assert "\x1b[" not in res.stdout and "error" not in res.stdout.lower()
    for p in phrases:
        assert p in res.stdout, (p, res.stdout)


def test_span_text_and_bad_address() -> None:
    """``gomem span`` as a user types it: hex address in, slot out; a bad address is refused."""
    need_fixtures()
    v = VERSIONS[-1]
    m = manifest(v, "gcore")
    a = m["tagged"]["main.Tagged"]["addresses"][3]
    files = ("--binary", str(binary(v)), "--core", str(core(v, "gcore")))
    res = gomem_cli("span", a, *files)
    assert res.returncode == 0, res.stderr
    size = class_size(m["types"]["main.Tagged"]["size"])
    assert f"at {a} (+0 of {size} B): allocated, not marked" in res.stdout
    bad = gomem_cli("span", "nope", *files)
    assert bad.returncode == 2 and "not a number" in bad.stderr


# ----------------------------------------------------------------------------- gdb


_GDB_FACTS = r"""python
import gdb, json
def ev(e):
    return gdb.parse_and_eval(e)
mh = ev("'runtime.mheap_'")
out = {"sweepgen": int(mh["sweepgen"])}
sl = mh["allspans"]
spans = []
for i in range(int(sl["len"])):
    p = sl["array"][i]
    s = p.dereference()
    spans.append([hex(int(p)), hex(int(s["startAddr"])), int(s["npages"]),
                  int(s["state"]["s"]["value"]), int(s["allocCount"]), int(s["nelems"]),
                  int(s["freeindex"]), int(s["spanclass"])])
out["spans"] = spans
pools = []
for order in range(4):
    addrs, cur = [], ev("'runtime.stackpool'")[order]["item"]["span"]["first"]
    while int(cur) and len(addrs) < 10000:
        addrs.append(hex(int(cur)))
        cur = cur.dereference()["next"]
    pools.append(addrs)
out["stackpool"] = pools
central = {}
for spc in range(136):
    mc = mh["central"][spc]["mcentral"]
    for kind in ("partial", "full"):
        for j in range(2):
            v = int(mc[kind][j]["index"]["u"]["value"])
            central["%d/%s/%d" % (spc, kind, j)] = [v >> 32, v & 0xFFFFFFFF]
out["central"] = central
empty = int(ev("&'runtime.emptymspan'"))
allp = ev("'runtime.allp'")
caches = {}
for i in range(int(allp["len"])):
    pp = allp["array"][i].dereference()
    mc = pp["mcache"].dereference()
    caches[str(int(pp["id"]))] = {str(spc): hex(int(mc["alloc"][spc])) for spc in range(136)
                                  if int(mc["alloc"][spc]) not in (0, empty)}
out["mcaches"] = caches
print("GDBFACTS " + json.dumps(out))"""


def _pinned_span_ptr_expr(arr: int) -> str:
    """mheap_.arenas[0][l2].spans[page % pagesPerArena] for linux/amd64 (arenaL1Bits = 0)."""
    idx = ((arr - 0xFFFF800000000000) % (1 << 64)) // (64 << 20)
    slot = (arr // PAGE) % ((64 << 20) // PAGE)
    ha = f"gdb.parse_and_eval(\"'runtime.mheap_'\")['arenas'][0].dereference()[{idx}]"
    return f"python print('PINSPAN', hex(int({ha}.dereference()['spans'][{slot}])))"


@pytest.mark.gdb
def test_heap_commands_in_gdb_vs_gdb_reader(version: str) -> None:
    """All heap commands inside gdb, checked against gdb's own reading of the same core."""
    scenario = "nil"
    m = manifest(version, scenario)
    arr = int(m["globals"]["main.pinned"]["array"], 16)
    cmds = []
    for name, cmd in (
        ("SPANS", "spans --state all --limit 0"),
        ("MCENTRAL", "mcentral"),
        ("LISTS", "spanlists"),
        ("MCACHE", "mcache"),
        ("ONESPAN", f"span {arr:#x}"),
        ("MHEAP", "mheap"),
        ("MEMSTATS", "memstats"),
    ):
        cmds += [f"echo @@{name}\\n", f"gomem {cmd} --json"]
    res = gdb_batch(
        _GDB_FACTS,
        _pinned_span_ptr_expr(arr),
        *cmds,
        exe=binary(version),
        core_file=core(version, scenario),
    )
    assert "Traceback" not in res.stderr, res.stderr
    facts = json_line("GDBFACTS", res.stdout)
    # spans: every descriptor, field for field.
    spans = json_after("@@SPANS", res.stdout)
    state_names = {0: "dead", 1: "in use", 2: "manual"}
    ours = {s["mspan"]: s for s in spans["spans"]}
    assert len(ours) == len(facts["spans"])
    for addr, base, npages, state, count, nelems, freeindex, spc in facts["spans"]:
        s = ours[addr]
        assert (s["base"], s["npages"], s["state"]) == (base, npages, state_names[state])
        if state == 1:
            assert (s["alloc_count"], s["nelems"], s["freeindex"], s["spanclass"]) == (
                count,
                nelems,
                freeindex,
                spc,
            )
    # mcentral: entry counts per spanSet = tail - head (no popped holes at rest).
    mc = json_after("@@MCENTRAL", res.stdout)
    si = facts["sweepgen"] // 2 % 2
    counted = {}
    for cl in mc["classes"]:
        for kind in ("partial", "full"):
            for j in (0, 1):
                label = f"{kind}_{'swept' if j == si else 'unswept'}"
                counted[f"{cl['spanclass']}/{kind}/{j}"] = cl[label]["count"]
    for key, (head, tail) in facts["central"].items():
        assert counted.get(key, 0) == tail - head, key
    assert mc["check"]["violations"] == []
    # span lists: the same nodes in the same order.
    lists = {
        x["name"]: [s["mspan"] for s in x["spans"]]
        for x in json_after("@@LISTS", res.stdout)["lists"]
    }
    for order, addrs in enumerate(facts["stackpool"]):
        assert lists[f"stackpool[{order}]"] == addrs
    # mcaches: the same cached spans per P.
    mcache = json_after("@@MCACHE", res.stdout)
    got = {str(p["p"]): {str(s["spanclass"]): s["mspan"] for s in p["spans"]} for p in mcache["ps"]}
    assert got == facts["mcaches"]
    # span ADDR: the arena map gdb reads names the same descriptor.
    pin = next(ln for ln in res.stdout.splitlines() if ln.startswith("PINSPAN "))
    span = json_after("@@ONESPAN", res.stdout)
    assert span["span_ptr"] == pin.split()[1] == span["span"]["mspan"]
    # mheap and memstats: the same documents as the standalone command on this core.
    assert json_after("@@MHEAP", res.stdout) == run_json(version, scenario, "mheap")
    assert json_after("@@MEMSTATS", res.stdout) == run_json(version, scenario, "memstats")


@pytest.mark.gdb
def test_heap_in_gdb_on_live_process(tmp_path: Path) -> None:
    """A live process at main.checkpoint (newest Go): memory read through gdb, not a core."""
    need_fixtures()
    v = VERSIONS[-1]
    out = tmp_path / "live.manifest.json"
    res = gdb_batch(
        "set startup-with-shell off",
        "break main.checkpoint",
        f"run -scenario=gcore -manifest={out}",
        "echo @@MEMSTATS\\n",
        "gomem memstats --json",
        "echo @@MCENTRAL\\n",
        "gomem mcentral --json",
        "kill",
        exe=binary(v),
    )
    assert "Traceback" not in res.stderr
    final = json.loads((tmp_path / "live.manifest.json.memstats.json").read_text())
    d = json_after("@@MEMSTATS", res.stdout)
    for r in d["comparison"]:
        if r["field"] in final:
            assert r["readmemstats"] == final[r["field"]] == r["span_walk"], r
    assert json_after("@@MCENTRAL", res.stdout)["check"]["violations"] == []
