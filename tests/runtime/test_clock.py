"""The runtime's clocks (``gdb_gomem.runtime.clock``) on every fixture, against the program's
own clock readings.

Ground truth:
- ``memstats_final``: the program's last ``runtime.ReadMemStats`` (LastGC, NumGC), after its
  forced GC and with GC disabled, so the epoch at the crash is the one it saw;
- ``forced_gc.unix_nano``: ``time.Now()`` right after ``runtime.GC()``; the final ReadMemStats
  (a stop-the-world, so ``sched.procresizetime``) came after it, so the proven lower bound of
  the stop must be later;
- the newest time the program recorded before it crashed: ``tagged.main.Tagged``'s
  ``last_alloc_unix_nano`` in ``leaky`` (then the manifest was written, then the crash) and
  ``last_timestamp_unix_ns`` in ``window``/``windowprof`` (the last ``time.Now()`` of the
  allocation-free final sequence, right before the crash). The target stopped after it: the
  estimate may not be earlier, nor an upper bound when one is given; every fixture dies (or is
  dumped by gdb) within a few seconds of it.
"""

from __future__ import annotations

import functools
import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.runtime.clock import (
    CRASH_TIME,
    GC_EPOCH,
    PAUSE_RING,
    CrashTime,
    GcEpoch,
    crash_time,
    gc_epoch,
)
from gdb_gomem.target.memory import Memory
from gdb_gomem.target.process import GoProcess
from gomem_fixtures import store
from tests.support import (
    CRASH_SCENARIOS,
    SCENARIOS,
    VERSIONS,
    binary,
    core,
    manifest,
    need_fixtures,
    run_json_on,
)

#: The fixtures die within this of their last recorded time (they crash right after it).
SOON_NS = 5_000_000_000
#: What freezetheworld sleeps at least on a fatal panic or throw (runtime/proc.go).
FREEZE_NS = 2_000_000
WINDOW_PROGRAMS = ("window", "windowprof")


@functools.lru_cache(maxsize=64)
def _clocks(version: str, program: str, scenario: str) -> tuple[GcEpoch, CrashTime]:
    bin_path = store.fixture_file(version, program, program)
    core_path = store.fixture_file(version, program, f"{scenario}.core")
    proc = open_core(bin_path, core_path)
    return GC_EPOCH(proc), CRASH_TIME(proc)


def _window_cases() -> list[tuple[str, str, str]]:
    return [
        (v, prog, sc)
        for v in VERSIONS
        for prog in WINDOW_PROGRAMS
        if store.has_fixture(v, prog)
        for sc in store.PROGRAM_SCENARIOS.get(prog, ())
        if (store.FIXTURES / v / prog / f"{sc}.manifest.json").exists()
    ]


def _check_stop(ct: CrashTime, after_ns: int, newest_ns: int, what: str) -> None:
    """The proven bound is after ``after_ns``; the estimate is not before the program's newest
    recorded time ``newest_ns`` and within seconds of it; an upper bound does not contradict."""
    assert ct.unix_ns is not None and ct.lo_unix_ns is not None, ct.notes
    assert ct.lo_unix_ns > after_ns, (ct.lo_unix_ns - after_ns, ct.source)
    assert ct.lo_unix_ns <= ct.unix_ns
    assert ct.unix_ns >= newest_ns, (f"{what}: estimate {ct.unix_ns - newest_ns} ns", ct.source)
    assert ct.unix_ns - newest_ns < SOON_NS, (ct.unix_ns - newest_ns, ct.source)
    assert ct.hi_unix_ns is None or ct.hi_unix_ns >= newest_ns
    assert ct.readings and ct.readings[0].source == ct.source
    assert ct.notes and ct.source in ct.notes[0]


# ----------------------------------------------------------------------------- leaky


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_gc_epoch_is_the_programs_last_readmemstats(version: str, scenario: str) -> None:
    ms = manifest(version, scenario)["memstats_final"]
    ep, _ = _clocks(version, "leaky", scenario)
    assert ep.num_gc == ms["NumGC"]
    assert ep.last_gc_unix_ns == ms["LastGC"]
    assert ep.gc_phase == "off"  # GC disabled after the forced GC: no cycle in progress
    assert ep.last_gc_nanotime is not None
    assert ep.to_unix_ns(ep.last_gc_nanotime) == ms["LastGC"]
    assert ep.cycle_end_unix_ns(ep.num_gc) == ms["LastGC"]
    assert ep.cycle_end_unix_ns(ep.num_gc + 1) is None
    assert ep.cycle_end_unix_ns(0) is None


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_crash_time_after_the_programs_last_clock(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    _, ct = _clocks(version, "leaky", scenario)
    last = m["tagged"]["main.Tagged"]["last_alloc_unix_nano"]
    _check_stop(ct, m["forced_gc"]["unix_nano"], last, "last_alloc_unix_nano")
    # A crash goes through freezetheworld; gdb stopped the gcore one at a breakpoint.
    assert ct.unix_ns is not None and ct.lo_unix_ns is not None
    assert ct.unix_ns - ct.lo_unix_ns == (FREEZE_NS if scenario in CRASH_SCENARIOS else 0)


@pytest.mark.parametrize("scenario", ["panic", "gcore"])
def test_ticker_heap_gives_its_arming_time(version: str, scenario: str) -> None:
    """main.tickers (1 h, 2 h, 3 h, each with a goroutine blocked on its channel, so in a P's
    timer heap in every version) were armed after the runtime started and before the forced
    GC: ``when - period`` of the P heap's tickers lands there, in both timer layouts."""
    m = manifest(version, scenario)
    ep, ct = _clocks(version, "leaky", scenario)
    armed = [r for r in ct.readings if "ticker armed" in r.source]
    init = [r.nanotime for r in ct.readings if r.source == "runtimeInitTime"]
    assert armed and init, [r.source for r in ct.readings]
    for r in armed:
        assert init[0] <= r.nanotime
        unix = ep.to_unix_ns(r.nanotime)
        assert unix is not None and unix < m["forced_gc"]["unix_nano"]


def test_missing_sources_are_named(version: str) -> None:
    """A clock a version lacks (gcStopTime before 1.22) is named in the notes, no other."""
    bin_path, core_path = binary(version), core(version, "panic")
    proc = open_core(bin_path, core_path)
    ct = crash_time(proc)
    has_stop_time = proc.dw.has_field("runtime.p", "gcStopTime")
    missing = [n for n in ct.notes if n.startswith("not in this Go version")]
    if has_stop_time:
        assert not missing, missing
    else:
        assert missing and "runtime.p.gcStopTime" in missing[0], ct.notes
    assert gc_epoch(proc) == GC_EPOCH(proc)


class _Holes(Memory):
    """The target's memory with some ranges unreadable (as a truncated core would be)."""

    def __init__(self, base: Memory, holes: list[tuple[int, int]]) -> None:
        self.base, self.holes = base, holes

    def read(self, addr: int, size: int) -> bytes:
        for lo, hi in self.holes:
            if addr < hi and addr + size > lo:
                raise UnreadableMemory(addr, size, "hole made by the test")
        return self.base.read(addr, size)


def test_unreadable_ps_and_goroutines_leave_the_globals(edge_version: str) -> None:
    """With the P array and every goroutine unreadable, the globals still bound the stop
    (the final ReadMemStats's sched.procresizetime) and the notes say what was lost."""
    version = edge_version
    proc = open_core(binary(version), core(version, "gcore"))
    allp = proc.global_("runtime.allp").slice_header()
    allgs = proc.global_("runtime.allgs").slice_header()
    holes = [(allp[0], allp[0] + 8 * allp[2]), (allgs[0], allgs[0] + 8 * allgs[2])]
    broken = GoProcess(proc.binary, _Holes(proc.mem, holes), proc.threads, proc.stop)
    ct = crash_time(broken)
    m = manifest(version, "gcore")
    _check_stop(
        ct, m["forced_gc"]["unix_nano"], m["tagged"]["main.Tagged"]["last_alloc_unix_nano"], "x"
    )
    assert not any(r.source.startswith(("P", "goroutine")) for r in ct.readings)
    assert any(n.startswith("unreadable:") and "allgs" in n for n in ct.notes), ct.notes


# ----------------------------------------------------------------------------- window


@pytest.mark.parametrize("case", _window_cases() or [("none", "window", "none")], ids=str)
def test_window_crash_time(case: tuple[str, str, str]) -> None:
    version, program, scenario = case
    if version == "none":
        pytest.skip("no window fixtures yet")
    m = store.manifest(version, program, scenario)
    ep, ct = _clocks(version, program, scenario)
    ms = m["memstats_final"]
    assert ep.num_gc == ms["NumGC"]
    assert ep.last_gc_unix_ns == ms["LastGC"]
    first = m["gc"]["pause_end_first_cycle"]
    for i, end in enumerate(m["gc"]["pause_end_unix_ns"]):
        assert ep.cycle_end_unix_ns(first + i) == end
    _check_stop(ct, m["forced_gc"]["unix_nano"], m["last_timestamp_unix_ns"], "last_timestamp")


# ----------------------------------------------------------------------------- arithmetic


def test_gc_epoch_arithmetic() -> None:
    ring = tuple(range(1000, 1000 + PAUSE_RING))
    ep = GcEpoch(300, 5_000, 100, "off", ring)
    assert ep.to_unix_ns(150) == 5_050
    assert ep.to_unix_ns(40) == 4_940
    assert ep.cycle_end_unix_ns(300) == ring[299 % PAUSE_RING]
    assert ep.cycle_end_unix_ns(45) == ring[44]  # the oldest cycle still in the ring
    assert ep.cycle_end_unix_ns(44) is None  # overwritten by cycle 300
    assert ep.cycle_end_unix_ns(301) is None
    never = GcEpoch(0, None, None, "off")
    assert never.to_unix_ns(123) is None
    assert never.cycle_end_unix_ns(1) is None


# ----------------------------------------------------------------------------- commands


def _cli_text(version: str, scenario: str, *args: str) -> str:
    from gdb_gomem.frontends import cli

    out, err = io.StringIO(), io.StringIO()
    argv = [*args, "--binary", str(binary(version)), "--core", str(core(version, scenario))]
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(argv)
    assert rc == 0, err.getvalue()
    return out.getvalue()


def _check_docs(d: dict[str, Any], version: str, scenario: str) -> None:
    ep, ct = _clocks(version, "leaky", scenario)
    assert d["gc_epoch"] == {
        "num_gc": ep.num_gc,
        "last_gc_unix_ns": ep.last_gc_unix_ns,
        "last_gc_time": unix_ns_to_iso(ep.last_gc_unix_ns or 0),
        "gc_phase": ep.gc_phase,
    }
    c = d["crash_time"]
    assert c["unix_ns"] == ct.unix_ns and c["lo_unix_ns"] == ct.lo_unix_ns
    assert c["hi_unix_ns"] == ct.hi_unix_ns and c["source"] == ct.source
    assert c["notes"] == list(ct.notes)
    assert c["time"] == unix_ns_to_iso(ct.unix_ns or 0)


@pytest.mark.parametrize("scenario", ["panic", "gcore"])
def test_info_and_memstats_documents(version: str, scenario: str) -> None:
    need_fixtures()
    info = run_json_on(version, core(version, scenario), "info")
    _check_docs(info, version, scenario)
    assert info["gc_epoch"]["last_gc_time"] == info["memstats"]["last_gc_time"]
    mem = run_json_on(version, core(version, scenario), "memstats")
    _check_docs(mem, version, scenario)


def test_info_and_memstats_text(version: str) -> None:
    _, ct = _clocks(version, "leaky", "panic")
    text = _cli_text(version, "panic", "info")
    lines = {ln.split("  ")[0].strip(): ln for ln in text.splitlines() if ln.strip()}
    assert "GC epoch" in lines and "Crash time" in lines, text
    assert str(unix_ns_to_iso(ct.unix_ns or 0)) in lines["Crash time"]
    assert ct.source in lines["Crash time"]
    gtext = _cli_text(version, "gcore", "info")
    assert any(ln.startswith("Stopped at") for ln in gtext.splitlines()), gtext
    mtext = _cli_text(version, "panic", "memstats")
    assert any(ln.startswith("GC epoch") for ln in mtext.splitlines()), mtext
    assert any(ln.startswith("Stopped at") for ln in mtext.splitlines()), mtext
