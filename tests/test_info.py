"""``gomem info`` on every fixture, standalone and in gdb, against the program's own manifest.

The manifest was written by the crashing Go program (runtime.Version, debug.ReadBuildInfo,
/proc/self/task, runtime.ReadMemStats with no allocation between it and the crash), so every
expectation here is the Go runtime's word, not gdb-gomem's.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    CRASH_SCENARIOS,
    SCENARIOS,
    binary,
    core,
    fixture_file,
    gdb_batch,
    gomem_cli,
    json_after,
    manifest,
)

#: MemStats fields the manifest's final ReadMemStats must match exactly.
EXACT_MEMSTATS = (
    "HeapAlloc",
    "HeapInuse",
    "HeapSys",
    "HeapIdle",
    "HeapReleased",
    "HeapObjects",
    "TotalAlloc",
    "Mallocs",
    "Frees",
    "StackInuse",
    "NumGC",
    "LastGC",
)


#: The small size classes of runtime/sizeclasses.go (identical in Go 1.21-1.27).
SMALL_SIZE_CLASSES = (8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240)


def fatal_path_allocations(version: str, scenario: str) -> tuple[int, int]:
    """(objects, bytes) the runtime allocates after the program's last ReadMemStats.

    A panic whose value is an error (the nil dereference's runtime.Error) reaches
    runtime.preprintpanics on the fatal path, which stores ``v.Error()`` in the panic: the
    message "runtime error: ..." is concatenated into a new string (one object, rounded up to
    its size class) and boxed by convTstring (one 16-byte object). Seen with a breakpoint on
    runtime.mallocgc; the message is the one Go printed to the fixture's stderr.
    """
    if scenario != "nil":
        return 0, 0
    text = fixture_file(version, "leaky", "nil.stderr.txt").read_text()
    msg = next(ln for ln in text.splitlines() if ln.startswith("panic: "))[len("panic: ") :]
    msg = msg.split(" [recovered]")[0]
    size = next(c for c in SMALL_SIZE_CLASSES if c >= len(msg))
    return 2, size + 16


def check_info(
    doc: dict[str, Any], m: dict[str, Any], *, live: bool = False, extra: tuple[int, int] = (0, 0)
) -> None:
    """Compare one ``gomem info --json`` document with a fixture manifest.

    ``extra`` is what the runtime allocated after the manifest's final ReadMemStats.
    """
    assert doc["go_version"] == m["go_version"]
    assert doc["goarch"] == m["goarch"]
    assert doc["build"]["main_module"] == m["main_module"]
    for k, v in m["build_settings"].items():
        assert doc["build"]["settings"].get(k) == v, k
    assert doc["threads"] == m["threads_at_checkpoint"]
    kind = m["crash"]["kind"]
    if kind == "gcore" or live:
        # Stopped at the main.checkpoint breakpoint: not a crash.
        assert doc["crash"] is None
        assert doc["stopped"]["crashed"] is False
        assert doc["stopped"]["signo"] == signal.SIGTRAP
    else:
        cr = doc["crash"]
        assert cr is not None
        # GOTRACEBACK=crash: the runtime's crash() ends in dieFromSignal(SIGABRT) for panics,
        # nil dereferences (after sigpanic) and fatal errors alike.
        assert cr["signal"] == "SIGABRT"
        assert cr["goroutine"] in m["crash"]["goroutine_ids"]
        assert cr["thread"] == doc["thread_list"][0]["lwp"]
    ms = doc["memstats"]
    final = dict(m["memstats_final"])
    objs, nbytes = extra
    for k in ("HeapAlloc", "TotalAlloc"):
        final[k] += nbytes
    for k in ("HeapObjects", "Mallocs"):
        final[k] += objs
    for k in EXACT_MEMSTATS:
        assert ms[k] == final[k], (k, ms[k], final[k])
    assert ms["last_gc_time"] is not None
    heap = doc["heap"]
    assert heap["arenas"] >= 1
    # Every tagged object lies inside the reported arena range.
    lo, hi = int(heap["start"], 16), int(heap["end"], 16)
    for a in m["tagged"]["main.Tagged"]["addresses"]:
        assert lo <= int(a, 16) < hi


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_info_standalone(version: str, scenario: str) -> None:
    res = gomem_cli(
        "info", "--json", "--binary", str(binary(version)), "--core", str(core(version, scenario))
    )
    assert res.returncode == 0, res.stderr
    check_info(
        json.loads(res.stdout),
        manifest(version, scenario),
        extra=fatal_path_allocations(version, scenario),
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_info_in_gdb_on_core(version: str, scenario: str) -> None:
    res = gdb_batch(
        "echo @@INFO\\n",
        "gomem info --json",
        exe=binary(version),
        core_file=core(version, scenario),
    )
    assert "Traceback" not in res.stderr
    check_info(
        json_after("@@INFO", res.stdout),
        manifest(version, scenario),
        extra=fatal_path_allocations(version, scenario),
    )


def test_info_text_standalone(version: str) -> None:
    """The readable form names the version, the signal, the goroutine and the headline."""
    m = manifest(version, "panic")
    res = gomem_cli("info", "--binary", str(binary(version)), "--core", str(core(version, "panic")))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert m["go_version"] in out
    assert "SIGABRT" in out
    assert f"goroutine {m['crash']['goroutine_ids'][0]}" in out
    assert f"({m['memstats_final']['HeapAlloc']} B)" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_info_in_gdb_on_live_process(version: str, tmp_path: Path) -> None:
    """A live process paused at main.checkpoint: memory read through gdb, not a core."""
    out = tmp_path / "live.manifest.json"
    res = gdb_batch(
        "set startup-with-shell off",
        "break main.checkpoint",
        f"run -scenario=gcore -manifest={out}",
        "echo @@INFO\\n",
        "gomem info --json",
        "kill",
        exe=binary(version),
    )
    assert "Traceback" not in res.stderr
    m = json.loads(out.read_text())
    # The program writes its final MemStats beside the manifest; make_fixtures merges them for
    # the committed fixtures, here we read them as the program wrote them.
    m["memstats_final"] = json.loads(Path(f"{out}.memstats.json").read_text())
    doc = json_after("@@INFO", res.stdout)
    assert doc["target"]["kind"] == "live process"
    check_info(doc, m, live=True)


def test_crash_kinds_differ(version: str) -> None:
    """Sanity of the fixtures themselves: one kernel core per crash kind, each a real crash."""
    for scenario in CRASH_SCENARIOS:
        m = manifest(version, scenario)
        assert m["crash"]["kind"] == scenario
        assert os.path.getsize(core(version, scenario)) > 1 << 20
