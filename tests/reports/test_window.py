"""``gomem window DURATION`` against what the fixture programs know.

leaky: the ``tagged`` batch and the ``dropped`` objects were allocated after the forced GC
(the last GC; its end is the manifest's final ``LastGC``), the 1000 ``main.Entry`` cache
entries before it. window/windowprof: three batches at known wall times after a forced GC
(``panic``/``throw``: no GC after it; ``churn``: several GCs after each batch); windowprof
samples every allocation, window has no heap profiler linked.

An object is expected in the listing when the program allocated it after the last GC's end;
never when it was allocated before (the core cannot tell when: it is counted as undecided).
"""

from __future__ import annotations

import bisect
import json

import numpy as np
import pytest

from gdb_gomem.reports.schema.window import WindowDoc, WindowObject
from gdb_gomem.reports.window import clock_text, parse_duration, window_doc
from gomem_fixtures import store
from tests.reports.test_schema import _problems
from tests.support import (
    SCENARIOS,
    binary,
    cli_json,
    core,
    fixture_process,
    gdb_batch,
    gomem_cli,
    json_after,
    manifest,
    program_manifest,
)

WINDOW_CASES = [(p, s) for p in ("window", "windowprof") for s in store.PROGRAM_SCENARIOS[p]]
MINUTE = 60_000_000_000


def _listed(doc: WindowDoc, addrs: list[str]) -> np.ndarray:
    """Per manifest address: whether a listed object holds it (a user pointer may sit past a
    malloc header, so containment, not equality)."""
    starts = np.array(sorted(int(o["addr"], 16) for o in doc["objects"]), dtype=np.int64)
    sizes = {int(o["addr"], 16): o["size"] for o in doc["objects"]}
    out = []
    for a in (int(x, 16) for x in addrs):
        j = int(np.searchsorted(starts, a, side="right")) - 1
        out.append(j >= 0 and a < int(starts[j]) + sizes[int(starts[j])])
    return np.array(out, dtype=bool)


def _check_schema(doc: WindowDoc) -> None:
    assert _problems(json.loads(json.dumps(doc)), WindowDoc, "window") == []


def test_parse_duration() -> None:
    assert parse_duration("1.7s") == 1_700_000_000
    assert parse_duration("250ms") == 250_000_000
    assert parse_duration("2m") == 120_000_000_000
    assert parse_duration("1m30s") == 90_000_000_000
    assert parse_duration("500us") == 500_000
    for bad in ("", "5", "-1s", "1x", "s", "0s"):
        with pytest.raises(Exception, match="duration"):
            parse_duration(bad)


# ----------------------------------------------------------------------------- leaky


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_leaky_window_back_past_the_forced_gc(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    last_gc = m["memstats_final"]["LastGC"]
    n = m["forced_gc"]["num_gc"]
    doc = window_doc(fixture_process(version, "leaky", scenario), MINUTE)
    _check_schema(doc)
    assert _listed(doc, m["tagged"]["main.Tagged"]["addresses"]).all()
    assert _listed(doc, m["dropped"]["main.Dropped"]["addresses"]).all()  # garbage, allocated
    rows = {r["type"]: r for r in doc["rows"]}
    assert rows["main.Tagged"]["count"] == m["types"]["main.Tagged"]["count"]
    assert "main.Entry" not in rows  # survived the forced GC: allocated before it
    assert not any(o["type"] == "main.Entry" for o in doc["objects"])
    assert doc["total"]["count"] == len(doc["objects"]) == doc["shown"]
    b = doc["bound"]
    assert (b["kind"], b["since_unix_ns"], b["since_gc"]) == ("epoch", last_gc, n)
    assert b["window_start_unix_ns"] is not None and b["window_start_unix_ns"] < last_gc
    assert "may or may not be in the window" in b["text"]
    assert doc["undecided"]["count"] >= m["types"]["main.Entry"]["count"]
    assert doc["undecided"]["older_than_unix_ns"] == last_gc
    for o in doc["objects"]:
        al = o["allocated"]
        assert (al["after_unix_ns"], al["source"], al.get("after_gc")) == (
            last_gc,
            "gc-epoch",
            n,
        )
        assert al["before_unix_ns"] is not None and al["before_unix_ns"] >= last_gc
    ct = doc["crash_time"]
    assert (
        ct["unix_ns"] is not None
        and ct["unix_ns"] >= m["tagged"]["main.Tagged"]["last_alloc_unix_nano"] - 1_000_000
    )  # the estimate is a lower bound from runtime clocks; within 1 ms
    assert any(s.startswith("gc epochs: cycle 2 ended") for s in doc["sources"])
    assert "heap profile: rate 1 (every allocation)" in doc["sources"][1]
    assert doc["sources"][2].startswith("execution trace: none in this core (")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_leaky_live_leaves_out_the_dropped(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    doc = window_doc(fixture_process(version, "leaky", scenario), MINUTE, which="live")
    assert doc["selection"] == "live"
    assert _listed(doc, m["tagged"]["main.Tagged"]["addresses"]).all()
    assert not _listed(doc, m["dropped"]["main.Dropped"]["addresses"]).any()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_leaky_narrower_than_the_epoch(version: str, scenario: str) -> None:
    """1 µs: the core cannot resolve it; everything since the forced GC, said so."""
    m = manifest(version, scenario)
    last_gc = m["memstats_final"]["LastGC"]
    doc = window_doc(fixture_process(version, "leaky", scenario), 1_000, type_rx=r"^main\.")
    b = doc["bound"]
    assert doc["crash_time"]["unix_ns"] - last_gc > 1_000  # the program ran on after the GC
    assert (b["kind"], b["since_unix_ns"]) == ("epoch", last_gc)
    assert b["window_start_unix_ns"] > last_gc
    assert "no trace in this core" in b["text"] and "cannot be told apart" in b["text"]
    assert _listed(doc, m["tagged"]["main.Tagged"]["addresses"]).all()
    assert "main.Tagged" in {r["type"] for r in doc["rows"]}
    assert "main.Entry" not in {r["type"] for r in doc["rows"]}
    assert doc["undecided"]["count"] == 0


def test_leaky_by_stack_and_goroutine() -> None:
    version = "1.26.6" if "1.26.6" in store.versions() else store.versions()[-1]
    m = manifest(version, "panic")
    proc = fixture_process(version, "leaky", "panic")
    doc = window_doc(proc, MINUTE, type_rx=r"^main\.Tagged$", by="stack")
    assert [r["count"] for r in doc["rows"]] == [m["types"]["main.Tagged"]["count"]]
    assert doc["rows"][0]["type"].startswith("main.main (main.go:")
    assert all(o.get("stack") for o in doc["objects"])
    doc = window_doc(proc, MINUTE, by="goroutine", limit=3)
    assert [r["type"] for r in doc["rows"]] == ["unknown (no execution trace in this core)"]
    assert doc["shown"] == 3 < doc["total"]["count"]
    assert all(o["goroutine"] is None for o in doc["objects"])
    assert any("execution trace" in n for n in doc["notes"])


def test_text_output() -> None:
    version = "1.26.6" if "1.26.6" in store.versions() else store.versions()[-1]
    m = manifest(version, "panic")
    args = ["--binary", str(binary(version)), "--core", str(core(version, "panic"))]
    r = gomem_cli("window", "1us", "--type", r"main\.", "--limit", "2", *args)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    since = clock_text(m["memstats_final"]["LastGC"])
    bound = next(ln for ln in text.splitlines() if ln.startswith("Bound"))
    assert f"allocated after {since} (GC #2 ended)" in bound
    assert "no trace in this core" in bound
    lines = text.splitlines()
    total = next(i for i, ln in enumerate(lines) if ln.startswith("Total "))
    assert "main.Tagged" in lines[total - 1]  # largest row last
    assert "execution trace: none in this core (" in text
    assert gomem_cli("window", "soon", *args).returncode == 2


def test_obj_has_its_allocation_bound(version: str) -> None:
    m = manifest(version, "panic")
    addr = m["tagged"]["main.Tagged"]["addresses"][1]
    doc = cli_json(version, "obj", addr)
    al = doc["object"]["allocated"]
    assert al["after_unix_ns"] == m["memstats_final"]["LastGC"]
    assert (al["source"], al["after_gc"], al["before_gc"]) == ("gc-epoch", 2, None)
    entry = window_doc(fixture_process(version, "leaky", "panic"), MINUTE)  # any survivor will do
    assert entry["undecided"]["count"] > 0


def test_obj_text_line() -> None:
    version = store.versions()[-1]
    m = manifest(version, "panic")
    addr = m["tagged"]["main.Tagged"]["addresses"][0]
    r = gomem_cli(
        "obj", addr, "--binary", str(binary(version)), "--core", str(core(version, "panic"))
    )
    assert r.returncode == 0, r.stderr
    since = clock_text(m["memstats_final"]["LastGC"])
    assert (
        f"Allocated    after {since} (GC #2 ended), before the crash; source gc-epoch" in r.stdout
    )


# ----------------------------------------------------------------------------- window fixtures


@pytest.mark.parametrize(("program", "scenario"), WINDOW_CASES)
def test_window_fixture_batches(version: str, program: str, scenario: str) -> None:
    m = program_manifest(version, program, scenario)
    proc = fixture_process(version, program, scenario)
    last_gc = m["gc"]["last_gc_unix_ns"]
    final = m["gc"]["num_gc_at_crash_manifest"]
    # Back past the forced GC: every batch the program allocated after the last GC is
    # listed, none allocated before it.
    covering = m["last_timestamp_unix_ns"] - m["forced_gc"]["last_gc_unix_ns"] + 1_000_000_000
    doc = window_doc(proc, covering)
    _check_schema(doc)
    for b in m["batches"]:
        got = _listed(doc, b["addresses"])
        if b["num_gc_after"] == final:
            assert got.all(), (b["name"], int(got.sum()))
        if b["t_after_unix_ns"] < last_gc:
            assert not got.any(), (b["name"], int(got.sum()))
    assert doc["bound"]["kind"] == "epoch"
    assert doc["bound"]["since_unix_ns"] == last_gc
    # A window starting between batches A and B (B and C wholly inside): when no GC ran
    # after the batches the core cannot place A, B and C apart: all are listed and the
    # bound says the listing starts at the last GC's end, before the window.
    a, bb = m["batches"][0], m["batches"][1]
    crash = doc["crash_time"]["unix_ns"]
    assert crash is not None
    between = (a["t_after_unix_ns"] + bb["t_before_unix_ns"]) // 2
    doc = window_doc(proc, crash - between)
    bd = doc["bound"]
    for b in m["batches"][1:]:
        got = _listed(doc, b["addresses"])
        if b["num_gc_after"] == final:
            assert got.all(), b["name"]
        if b["t_after_unix_ns"] < last_gc:
            assert not got.any(), b["name"]
    if m["batches"][0]["num_gc_after"] == final:  # no GC since A: widened to the GC's end
        assert bd["kind"] == "epoch" and bd["since_unix_ns"] == last_gc
        assert bd["window_start_unix_ns"] > last_gc
        assert "no trace in this core" in bd["text"]
        assert _listed(doc, a["addresses"]).all()


@pytest.mark.parametrize("scenario", store.PROGRAM_SCENARIOS["windowprof"])
def test_windowprof_by_stack_names_the_allocating_function(version: str, scenario: str) -> None:
    m = program_manifest(version, "windowprof", scenario)
    final = m["gc"]["num_gc_at_crash_manifest"]
    doc = window_doc(fixture_process(version, "windowprof", scenario), MINUTE, by="stack")
    rows = {r["type"]: r["count"] for r in doc["rows"]}
    for b in m["batches"]:
        fn = f"main.alloc{b['name']} ("
        counted = sum(c for k, c in rows.items() if k.startswith(fn))
        assert counted == (b["count"] if b["num_gc_after"] == final else 0), b["name"]
    assert "heap profile: rate 1 (every allocation)" in doc["sources"][1]
    assert not any("disabled by the linker" in n for n in doc["notes"])


@pytest.mark.parametrize("scenario", store.PROGRAM_SCENARIOS["window"])
def test_window_without_profiler_says_so(version: str, scenario: str) -> None:
    program_manifest(version, "window", scenario)
    doc = window_doc(fixture_process(version, "window", scenario), MINUTE, by="stack")
    assert "disabled by the linker" in doc["sources"][1]
    note = next(n for n in doc["notes"] if "disabled by the linker" in n)
    assert "runtime.MemProfileRate = 1" in note and "memprofilerate=1" in note
    assert {r["type"] for r in doc["rows"]} <= {"(not sampled)"}


# ----------------------------------------------------------------------------- flight
# fixtures/<v>/flight: a FlightRecorder under GODEBUG=traceallocfree=1 while the main goroutine
# allocates three tagged batches of 100 objects about 50 ms apart after a forced GC; the
# execution trace in the core times each allocation.

FLIGHT_VERSIONS = ("1.25.5", "1.26.6", "1.27.3")


@pytest.mark.parametrize("fversion", FLIGHT_VERSIONS)
def test_flight_every_batch_object_timed_by_the_trace(fversion: str) -> None:
    m = program_manifest(fversion, "flight", "panic")
    doc = window_doc(fixture_process(fversion, "flight", "panic"), MINUTE, type_rx=r"^main\.")
    _check_schema(doc)
    objs = sorted((int(o["addr"], 16), o) for o in doc["objects"])
    starts = [s for s, _ in objs]

    def holding(a: int) -> WindowObject:  # a user pointer may sit past a malloc header
        s, o = objs[bisect.bisect_right(starts, a) - 1]
        assert s <= a < s + o["size"]
        return o

    for b in m["batches"]:
        assert _listed(doc, b["addresses"]).all(), b["name"]
        for a in b["addresses"]:
            al = holding(int(a, 16))["allocated"]
            assert al["source"] == "trace"
            assert al["after_unix_ns"] == al["before_unix_ns"]
            # Within the wall-clock readings around the batch, to the clock snapshot's
            # precision.
            assert b["t_before_unix_ns"] - 50_000 <= al["after_unix_ns"], (b["name"], a)
            assert al["after_unix_ns"] <= b["t_after_unix_ns"] + 50_000, (b["name"], a)
            assert holding(int(a, 16))["goroutine"] == m["main_goroutine_id"]
    src = doc["sources"][2]
    assert src.startswith("execution trace: flight recorder") and "300 listed" in src


@pytest.mark.parametrize("fversion", FLIGHT_VERSIONS)
def test_flight_window_between_batches_is_exact(fversion: str) -> None:
    """A window starting between batches B and C: C listed, A and B not, no widening to the
    GC's end (which the GC epochs alone would need)."""
    m = program_manifest(fversion, "flight", "panic")
    proc = fixture_process(fversion, "flight", "panic")
    crash = window_doc(proc, MINUTE)["crash_time"]["unix_ns"]
    assert crash is not None
    a, b, c = m["batches"]
    between = (b["t_after_unix_ns"] + c["t_before_unix_ns"]) // 2
    assert between > m["forced_gc"]["unix_nano"]  # narrower than the time since the GC
    doc = window_doc(proc, crash - between)
    _check_schema(doc)
    assert _listed(doc, c["addresses"]).all()
    assert not _listed(doc, a["addresses"]).any()
    assert not _listed(doc, b["addresses"]).any()
    bd = doc["bound"]
    assert bd["kind"] == "window" and bd["window_start_unix_ns"] == between
    assert "execution trace" in bd["text"]
    assert doc["undecided"]["count"] == 0
    # Everything listed is placed by the trace: timed by it, or after its last event.
    sources = {o["allocated"]["source"] for o in doc["objects"]}
    assert sources <= {"trace", "trace-end"}
    for o in doc["objects"]:
        assert o["allocated"]["after_unix_ns"] >= between


@pytest.mark.parametrize("fversion", FLIGHT_VERSIONS)
def test_flight_by_goroutine(fversion: str) -> None:
    m = program_manifest(fversion, "flight", "panic")
    proc = fixture_process(fversion, "flight", "panic")
    doc = window_doc(proc, MINUTE, type_rx=r"^main\.Flight", by="goroutine")
    _check_schema(doc)
    assert doc["rows"] == [
        {
            "type": f"goroutine {m['main_goroutine_id']}",
            "count": sum(b["count"] for b in m["batches"]),
            "bytes": doc["total"]["bytes"],
        }
    ]
    assert not any("needs an execution trace" in n for n in doc["notes"])


def test_flight_text_output() -> None:
    version = FLIGHT_VERSIONS[-1]
    m = program_manifest(version, "flight", "panic")
    args = [
        "--binary",
        str(store.fixture_file(version, "flight", "flight")),
        "--core",
        str(store.fixture_file(version, "flight", "panic.core")),
    ]
    r = gomem_cli("window", "1m", "--by", "goroutine", "--type", r"main\.Flight", *args)
    assert r.returncode == 0, r.stderr
    row = next(
        ln for ln in r.stdout.splitlines() if ln.endswith(f"goroutine {m['main_goroutine_id']}")
    )
    assert row.split()[0] == "300"
    assert "execution trace: flight recorder + runtime buffers, " in r.stdout


# ----------------------------------------------------------------------------- gdb


@pytest.mark.gdb
def test_in_gdb_agrees_with_the_cli() -> None:
    version = "1.24.11" if "1.24.11" in store.versions() else store.versions()[-1]
    r = gdb_batch(
        "echo ==W==\\n",
        "gomem window 1m --json",
        exe=binary(version),
        core_file=core(version, "panic"),
    )
    in_gdb = json_after("==W==", r.stdout)
    cli = cli_json(version, "window", "1m")
    assert in_gdb["rows"] == cli["rows"]
    assert [o["addr"] for o in in_gdb["objects"]] == [o["addr"] for o in cli["objects"]]
    assert in_gdb["bound"]["kind"] == cli["bound"]["kind"]
    assert in_gdb["bound"]["since_unix_ns"] == cli["bound"]["since_unix_ns"]
    assert in_gdb["crash_time"] == cli["crash_time"]
    assert in_gdb["sources"] == cli["sources"]


@pytest.mark.parametrize("fversion", FLIGHT_VERSIONS)
def test_flight_obj_gives_the_trace_time_and_goroutine(fversion: str) -> None:
    """``gomem obj`` on a traced object: the allocation event's time, between the program's
    own clock readings around its batch, and the goroutine that ran the batch."""
    from gdb_gomem.reports.objects import obj_doc

    m = program_manifest(fversion, "flight", "panic")
    proc = fixture_process(fversion, "flight", "panic")
    for b in m["batches"]:
        for a in b["addresses"][:: max(len(b["addresses"]) // 5, 1)]:
            al = obj_doc(proc, int(a, 16))["object"]["allocated"]
            assert al["source"] == "trace", (a, al)
            assert b["t_before_unix_ns"] <= al["after_unix_ns"] <= b["t_after_unix_ns"], (a, al)
            assert al["after_unix_ns"] == al["before_unix_ns"]
            assert al["goroutine"] == m["main_goroutine_id"], (a, al)  # main allocates the batches
