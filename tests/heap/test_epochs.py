"""Allocation epochs (:mod:`gdb_gomem.heap.epochs`) against what the fixture programs know.

The leaky fixture allocates its ``tagged`` batch (and its ``dropped`` objects) after a forced
GC, which is the last GC of the process; its map cache entries (``main.Entry``) were allocated
before it and survived it. The window fixtures allocate three batches at known times after a
forced GC (``panic``/``throw``: no GC after it; ``churn``: several GCs after every batch).

A second, independent witness: with ``MemProfileRate = 1`` every allocation of a new slot is
sampled (an allocation packed into the current tiny block returns before sampling), and the
profiler counts them per stack in ``memRecord.future[(C+2)%3]`` until the next mark
termination. Nothing is freed between GCs, so the runtime's own count of allocations since the
last GC must equal the objects the epochs call "allocated after the last GC".
"""

from __future__ import annotations

import numpy as np
import pytest

from gdb_gomem.heap.epochs import UNKNOWN, AllocEpochs, alloc_epochs
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.runtime.memprof import MEM_PROFILE, profile_specials
from gdb_gomem.target.process import GoProcess
from gomem_fixtures import store
from tests.support import SCENARIOS, fixture_process, manifest, program_manifest

WINDOW_CASES = [(p, s) for p in ("window", "windowprof") for s in store.PROGRAM_SCENARIOS[p]]


def _objects_holding(ep: AllocEpochs, addrs: list[str]) -> np.ndarray:
    """Object index of each manifest address (a user pointer may sit past a malloc header)."""
    idx = ep.objects.find(np.array([int(a, 16) for a in addrs], dtype=np.uint64))
    assert (idx >= 0).all(), "a manifest address is in no allocated object"
    return idx


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_leaky_tagged_after_forced_gc_entries_before(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    ep = alloc_epochs(fixture_process(version, "leaky", scenario))
    n = m["forced_gc"]["num_gc"]
    assert m["memstats_final"]["NumGC"] == n  # the forced GC is the last one
    assert ep.sweep_cycle == ep.epoch.num_gc == n
    assert ep.cycle_end(n) == m["memstats_final"]["LastGC"]
    for batch in (m["tagged"]["main.Tagged"], m["dropped"]["main.Dropped"]):
        idx = _objects_holding(ep, batch["addresses"])
        assert (ep.after_cycle[idx] == n).all()
        assert (ep.before_cycle[idx] == UNKNOWN).all()  # allocated up to the stop
        assert (ep.order[idx] >= 0).all()
    # Same span, increasing slot: in the program's allocation order (Seq 0, 1, ...).
    tagged = _objects_holding(ep, m["tagged"]["main.Tagged"]["addresses"])
    spans = ep.objects.span[tagged]
    for s in np.unique(spans):
        assert (np.diff(ep.order[tagged][spans == s]) > 0).all()
    # The cache entries were allocated before the forced GC and survived it.
    ht = heap_types(fixture_process(version, "leaky", scenario))
    entry = np.flatnonzero(
        np.array([e.name == "main.Entry" for e in ht.table], dtype=bool)[ht.type_id]
    )
    assert len(entry) == m["types"]["main.Entry"]["count"]
    assert (ep.after_cycle[entry] == UNKNOWN).all()
    assert (ep.before_cycle[entry] == n).all()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_leaky_profiler_counts_equal_allocations_since_last_gc(version: str, scenario: str) -> None:
    """The heap profiler's own count since the last GC equals the objects after it, per stack."""
    m = manifest(version, scenario)
    assert m["mem_profile_rate"] == 1
    proc = fixture_process(version, "leaky", scenario)
    _check_profile_counts(proc)


def _check_profile_counts(proc: GoProcess) -> None:
    ep = alloc_epochs(proc)
    mp = MEM_PROFILE(proc)
    assert mp.rate == 1 and mp.disabled_by_linker is False
    assert mp.cycle == ep.epoch.num_gc  # mProfCycle advances at every mark termination
    fresh = np.flatnonzero(ep.after_cycle == ep.sweep_cycle)
    assert mp.recent_allocs == len(fresh)
    # Per bucket: the objects whose specialprofile points at it.
    ot = ep.objects
    spans = ot.walk.spans
    pairs = [(spans[s].base, spans[s].specials) for s in np.unique(ot.span[fresh]).tolist()]
    by_addr = profile_specials(proc, pairs)
    # A record sits at the pointer mallocgc returned (past a malloc header, 1.22+).
    holder = ot.find(np.array(list(by_addr), dtype=np.uint64))
    is_fresh = np.zeros(len(ot), bool)
    is_fresh[fresh] = True
    per_bucket: dict[int, int] = {}
    for o, b in zip(holder.tolist(), by_addr.values(), strict=True):
        if o >= 0 and is_fresh[o]:
            per_bucket[b] = per_bucket.get(b, 0) + 1
    recent = {b: c for b, c in mp.recent_by_bucket.items() if c}
    assert per_bucket == recent


@pytest.mark.parametrize(("program", "scenario"), WINDOW_CASES)
def test_window_batches(version: str, program: str, scenario: str) -> None:
    m = program_manifest(version, program, scenario)
    ep = alloc_epochs(fixture_process(version, program, scenario))
    last = m["gc"]["num_gc_at_crash_manifest"]
    assert ep.sweep_cycle == ep.epoch.num_gc == last
    assert ep.cycle_end(last) == m["gc"]["last_gc_unix_ns"]
    for b in m["batches"]:
        idx = _objects_holding(ep, b["addresses"])
        if b["num_gc_after"] == last:  # no GC ended after the batch: after the last one
            assert (ep.after_cycle[idx] == last).all(), b["name"]
            assert ep.cycle_end(last) < b["t_before_unix_ns"]
        else:  # it survived at least one GC: older than the last GC's end, time unknown
            assert (ep.after_cycle[idx] == UNKNOWN).all(), b["name"]
            assert (ep.before_cycle[idx] >= b["num_gc_after"] + 1).all(), b["name"]


@pytest.mark.parametrize("scenario", store.PROGRAM_SCENARIOS["windowprof"])
def test_windowprof_profiler_counts(version: str, scenario: str) -> None:
    program_manifest(version, "windowprof", scenario)
    _check_profile_counts(fixture_process(version, "windowprof", scenario))


@pytest.mark.parametrize("scenario", store.PROGRAM_SCENARIOS["window"])
def test_window_profiler_disabled_by_the_linker(version: str, scenario: str) -> None:
    m = program_manifest(version, "window", scenario)
    assert m["profiling_linked"] is False
    mp = MEM_PROFILE(fixture_process(version, "window", scenario))
    assert mp.disabled_by_linker is True
    assert mp.rate == 0
    assert "disabled by the linker" in mp.summary()
