"""The committed window/windowprof fixtures (for `gomem window`) are sane on every version.

Reads only the manifests, stderr and facts.json that scripts/make_fixtures committed (no core
is restored): batches after the forced GC at increasing times, GCs where each scenario promises
them, the crash the manifest claims, and the heap profiler linked only into windowprof (the
toolchain's own symbol table says so). Catches a regression in the fixture pipeline.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from gomem_fixtures import store
from tests.support import VERSIONS, fixture_file, need_fixtures

WINDOW_SCENARIOS = [
    (program, scenario)
    for program in ("window", "windowprof")
    for scenario in store.PROGRAM_SCENARIOS[program]
]
BATCHES = {"A": ("main.BatchA", False), "B": ("main.BatchB", True), "C": ("main.BatchC", True)}
MIN_GAP_NS = 200_000_000  # batches are ~300 ms apart (churn: at least that)
MEMPROFILE_FUNCS = {"runtime.MemProfile", "runtime.memProfileInternal"}


def window_manifest(version: str, program: str, scenario: str) -> dict[str, Any]:
    need_fixtures()
    if not store.has_fixture(version, program):
        pytest.fail(f"no fixtures/{version}/{program} (scripts/make_fixtures --programs {program})")
    return store.manifest(version, program, scenario)


@pytest.mark.parametrize(("program", "scenario"), WINDOW_SCENARIOS)
def test_batches_ordered_after_forced_gc(version: str, program: str, scenario: str) -> None:
    m = window_manifest(version, program, scenario)
    assert (m["go_version"], m["program"], m["scenario"]) == (f"go{version}", program, scenario)
    assert m["self_check"]["final_sequence_mallocs"] == 0
    batches = m["batches"]
    assert [b["name"] for b in batches] == list(BATCHES)
    sizes = set()
    seen: set[int] = set()
    prev_end = m["forced_gc"]["unix_nano"]
    assert m["forced_gc"]["last_gc_unix_ns"] <= prev_end
    for b in batches:
        assert (b["type"], b["pointers"]) == BATCHES[b["name"]]
        sizes.add(b["size"])
        addrs = [int(a, 16) for a in b["addresses"]]
        assert b["count"] == len(addrs) >= 100
        assert all(a and a % 8 == 0 for a in addrs)
        assert len(set(addrs)) == len(addrs) and not seen & set(addrs)
        seen |= set(addrs)
        assert (
            prev_end
            < b["t_before_unix_ns"]
            <= b["first_object_unix_ns"]
            <= b["last_object_unix_ns"]
            <= b["t_after_unix_ns"]
        )
        if b["name"] != "A":
            assert b["t_before_unix_ns"] - prev_end >= MIN_GAP_NS
        prev_end = b["t_after_unix_ns"]
    assert len(sizes) == 3 and batches[2]["size"] > 512  # C gets a malloc header on 1.22+
    assert m["manifest_unix_ns"] > prev_end
    assert m["last_timestamp_unix_ns"] > m["manifest_unix_ns"]


@pytest.mark.parametrize(("program", "scenario"), WINDOW_SCENARIOS)
def test_gc_history(version: str, program: str, scenario: str) -> None:
    m = window_manifest(version, program, scenario)
    gc, forced, batches = m["gc"], m["forced_gc"], m["batches"]
    assert m["gc_percent_at_crash"] == -1
    assert gc["num_gc_at_crash_manifest"] == m["memstats_final"]["NumGC"]
    assert gc["last_gc_unix_ns"] == m["memstats_final"]["LastGC"]
    pause_end = gc["pause_end_unix_ns"]
    assert pause_end == sorted(pause_end) and pause_end[-1] == gc["last_gc_unix_ns"]
    assert gc["pause_end_first_cycle"] + len(pause_end) - 1 == gc["num_gc_at_crash_manifest"]
    if scenario != "churn":
        assert m["gc_percent_during_batches"] == -1
        assert {b["num_gc_before"] for b in batches} | {b["num_gc_after"] for b in batches} == {
            forced["num_gc"]
        }
        assert gc["num_gc_at_crash_manifest"] == forced["num_gc"]
        assert gc["last_gc_unix_ns"] == forced["last_gc_unix_ns"]
        assert m["churn"] == []
        return
    assert m["gc_percent_during_batches"] > 0
    assert [p["after_batch"] for p in m["churn"]] == list(BATCHES)
    ends = [*(b["t_before_unix_ns"] for b in batches[1:]), m["last_timestamp_unix_ns"]]
    for b, phase, end in zip(batches, m["churn"], ends, strict=True):
        assert b["t_after_unix_ns"] <= phase["t_start_unix_ns"] < phase["t_end_unix_ns"] <= end
        assert phase["num_gc_after"] - phase["num_gc_before"] >= 3
        # GC cycles that ended between this batch and the next (or the crash), by wall clock.
        between = [t for t in pause_end if b["t_after_unix_ns"] < t < end]
        assert len(between) >= 3, (b["name"], between)
    for earlier, later in itertools.pairwise(batches):
        assert later["num_gc_before"] > earlier["num_gc_after"]
    assert gc["num_gc_at_crash_manifest"] > batches[-1]["num_gc_after"]


@pytest.mark.parametrize(("program", "scenario"), WINDOW_SCENARIOS)
def test_crash_as_claimed(version: str, program: str, scenario: str) -> None:
    m = window_manifest(version, program, scenario)
    stderr = fixture_file(version, program, f"{scenario}.stderr.txt").read_text()
    assert stderr.split("\n", 1)[0] == store.EXPECTED_STDERR[scenario]
    crash = m["crash"]
    if scenario == "throw":
        assert m["crash_kind"] == "throw" and crash["fatal_error"] == "concurrent map writes"
        assert len(crash["goroutine_ids"]) == 2
    else:
        assert m["crash_kind"] == "panic" and crash["panic_value"] in stderr
    assert m["harness"]["exit_signal"] == "SIGABRT"
    for name in (program, f"{scenario}.core"):
        assert (store.FIXTURES / version / program / (name + store.PACK_SUFFIX)).exists()


@pytest.mark.parametrize("program", ["window", "windowprof"])
def test_profiling_linked_only_in_windowprof(version: str, program: str) -> None:
    prof = program == "windowprof"
    window_manifest(version, program, "panic")
    facts = json.loads(fixture_file(version, program, "facts.json").read_text())
    linked = MEMPROFILE_FUNCS & {s["name"] for s in facts["nm"]}
    assert bool(linked) is prof, linked
    for scenario in store.PROGRAM_SCENARIOS[program]:
        m = store.manifest(version, program, scenario)
        assert m["profiling_linked"] is prof
        assert m["mem_profile_rate"] == (1 if prof else 0)  # 0: runtime.disableMemoryProfiling
        assert (m["heap_profile"] is not None) is prof
        assert m["harness"]["inputs"] == facts["inputs"]


def test_every_leaky_version_has_window_fixtures() -> None:
    need_fixtures()
    missing = [
        f"{v}/{p}"
        for v in VERSIONS
        for p in ("window", "windowprof")
        if store.has_fixture(v, "leaky") and not store.has_fixture(v, p)
    ]
    assert not missing
