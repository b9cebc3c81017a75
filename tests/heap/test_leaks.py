"""Goroutine leaks proven post-mortem (issue 13), on fixtures/<v>/leakjobs: 20 workers block
forever on channels nothing else reaches (leaked), 10 park on channels a global holds (not
leaked). Ground truth: the program's manifest (goroutine ids, what each holds)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from gdb_gomem.frontends import cli
from gdb_gomem.heap.leaks import find_leaks
from gomem_fixtures import store
from tests.support import VERSIONS, fixture_process, program_manifest


def _core(version: str) -> object:
    return store.fixture_file(version, "leakjobs", "panic.core")


@pytest.mark.parametrize("version", VERSIONS)
def test_leaked_equals_the_manifest(version: str) -> None:
    m = program_manifest(version, "leakjobs", "panic")
    exe = store.fixture_file(version, "leakjobs", "leakjobs")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(["goroutines", "--leaked", "--json", "--binary", str(exe),
                       "--core", str(_core(version))])  # fmt: skip
    assert rc == 0, err.getvalue()
    d = json.loads(out.getvalue())
    got = {g["id"] for g in d["goroutines"]}
    assert got == {x["goroutine_id"] for x in m["leaked"]}
    assert not got & {x["goroutine_id"] for x in m["parked"]}
    # The heap only the leaked goroutines keep: at least each one's payload and closure buffer.
    note = next(n for n in d["notes"] if "can never wake" in n)
    kept = int(note.split(" bytes of heap only")[0].rsplit(" ", 1)[1])
    sizes = m["sizes"]
    assert kept >= len(m["leaked"]) * (sizes["payload"] + sizes["closure_buffer"])
    # One group: every leaked worker blocks in the same place and was made by one go statement.
    (grp,) = d["leak_groups"]
    assert set(grp["ids"]) == got
    assert grp["where"] == m["functions"]["leaked"] and grp["wait_reason"] == "chan receive"
    assert grp["created_by"].startswith("main.main (")
    each = sizes["main.Job"] + sizes["payload"] + sizes["closure_buffer"]
    assert len(got) * each <= grp["retained_bytes"] <= kept
    assert grp["stack_bytes"] >= len(got) * 2048  # the smallest goroutine stack


def test_no_leak_claimed_where_a_global_reaches_the_channel() -> None:
    """Every parked worker is woken by the first marking round's reach of the global."""
    version = VERSIONS[-1]
    m = program_manifest(version, "leakjobs", "panic")
    lk = find_leaks(fixture_process(version, "leakjobs", "panic"))
    assert {g.goid for g in lk.leaked} == {x["goroutine_id"] for x in m["leaked"]}
    assert lk.rounds >= 2  # the parked ones became roots once their channels were reached
    assert all(lk.waits[g.goid] for g in lk.leaked)  # each waits on a channel object
