"""``gomem info`` on every fixture, standalone and in gdb, against the program's own manifest.

The manifest was written by the crashing Go program (runtime.Version, debug.ReadBuildInfo,
/proc/self/task, runtime.ReadMemStats with no allocation between it and the crash), so every
expectation here is the Go runtime's word, not gdb-gomem's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import (
    CRASH_SCENARIOS,
    SCENARIOS,
    binary,
    check_info,
    core,
    fatal_path_allocations,
    gdb_batch,
    gomem_cli,
    json_after,
    manifest,
)


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


@pytest.mark.gdb
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


@pytest.mark.gdb
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
