"""Every live byte typed where memory is held only through stacks, closures, channel buffers
and timers (issue 13), on fixtures/<v>/leakjobs. Ground truth: the program's manifest (the
address of every job, payload, closure buffer, message and ticker; counts per type).

A heap closure types what it captured from the struct type it was allocated with (every
version); a closure on a stack from ``DW_AT_go_closure_offset``, which the compiler writes from
Go 1.23 on, and on 1.21/1.22 from the closure function's trailing DWARF variables laid out as
the compiler lays them out, accepted only when exactly one layout fits the stack object.
"""

from __future__ import annotations

import functools
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import numpy as np
import pytest

from gdb_gomem.frontends import cli
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.heap.types.table import HeapTypes
from gdb_gomem.reports.objects import live_mask
from gomem_fixtures import store
from tests.support import VERSIONS, fixture_process, program_manifest

MIN_TYPED_LIVE = 0.99


def _closure_offsets(version: str) -> bool:
    """Whether this toolchain writes captured variables' offsets (Go 1.23+)."""
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (1, 23)


@functools.lru_cache(maxsize=2)
def _typed(version: str) -> tuple[HeapTypes, np.ndarray, dict[str, Any]]:
    p = fixture_process(version, "leakjobs", "panic")
    ht = heap_types(p)
    live = live_mask(p, ht)
    assert live is not None
    return ht, live, program_manifest(version, "leakjobs", "panic")


def _type_at(ht: HeapTypes, addrs: list[str]) -> list[str]:
    idx = ht.objects.find(np.array([int(a, 16) for a in addrs], dtype=np.uint64))
    assert (idx >= 0).all()
    assert (ht.objects.addr[idx] == np.array([int(a, 16) for a in addrs], np.uint64)).all()
    return [ht.table[ht.type_id[i]].name for i in idx.tolist()]


@pytest.mark.parametrize("version", VERSIONS)
def test_jobs_payloads_and_messages_typed(version: str) -> None:
    """Held only by worker stacks (jobs, payloads) and a channel's buffer (messages, bodies)."""
    ht, live, m = _typed(version)
    names = np.array([ht.table[t].name for t in ht.type_id])
    counts = m["counts"]
    assert int(((names == "main.Job") & live).sum()) == counts["main.Job"]
    assert int(((names == "main.Msg") & live).sum()) == counts["main.Msg"]
    jobs = [x["job_addr"] for x in m["leaked"] + m["parked"]]
    assert set(_type_at(ht, jobs)) == {"main.Job"}
    payloads = [x["payload_addr"] for x in m["leaked"] + m["parked"]]
    assert set(_type_at(ht, payloads)) == {f"[{m['sizes']['payload']}]uint8"}
    assert set(_type_at(ht, m["mailbox"]["msg_addrs"])) == {"main.Msg"}
    assert set(_type_at(ht, m["mailbox"]["body_addrs"])) == {f"[{m['sizes']['msg_body']}]uint8"}
    assert _type_at(ht, [m["mailbox"]["buf_addr"]]) == [f"[{m['mailbox']['cap']}]*main.Msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_closure_captures_typed(version: str) -> None:
    """Heap closures (three globals: a []byte captured by value, a five-field struct captured
    by value, a []byte captured by reference) type what they hold on every version, from the
    struct type they were allocated with; the deferred closure on each leaked worker's stack
    types its buffer from the closure function's DWARF (offsets on Go 1.23+; on 1.21/1.22 the
    trailing variables laid out as the compiler does, checked against the stack object's
    size and pointer map)."""
    ht, _live, m = _typed(version)
    sizes = m["sizes"]
    hook, cfg, ref = m["hook"], m["cfg_hook"], m["ref_hook"]
    assert _type_at(ht, [hook["closure_buffer_addr"]]) == [f"[{sizes['hook_buffer']}]uint8"]
    assert _type_at(ht, [cfg["buffer_addr"]]) == [f"[{sizes['cfg_buffer']}]uint8"]
    assert _type_at(ht, [ref["buffer_addr"]]) == [f"[{sizes['ref_buffer']}]uint8"]
    assert _type_at(ht, [ref["var_addr"]]) == ["[]uint8"]  # the moved-to-heap variable
    assert _type_at(ht, [hook["closure_addr"], cfg["closure_addr"], ref["closure_addr"]]) == [
        "closure main.makeHook.func1",
        "closure main.makeCfgHook.func1",
        "closure main.makeRefHook.func1",
    ]
    bufs = [x["closure_buffer_addr"] for x in m["leaked"]]
    assert set(_type_at(ht, bufs)) == {f"[{sizes['closure_buffer']}]uint8"}


@pytest.mark.parametrize("version", VERSIONS)
def test_typed_share(version: str) -> None:
    """At least 99% of live bytes typed."""
    ht, live, _m = _typed(version)
    tb, ab = ht.typed_fraction(live)
    print(f"{version}: typed {tb}/{ab} live bytes = {100 * tb / ab:.2f}%")
    assert tb / ab >= MIN_TYPED_LIVE


@pytest.mark.parametrize("version", VERSIONS)
def test_tickers_against_the_manifest(version: str) -> None:
    """20 unstopped tickers of 1..20 hours, each found with its period."""
    m = program_manifest(version, "leakjobs", "panic")
    exe = store.fixture_file(version, "leakjobs", "leakjobs")
    core = store.fixture_file(version, "leakjobs", "panic.core")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(["timers", "--json", "--binary", str(exe), "--core", str(core)])
    assert rc == 0, err.getvalue()
    d = json.loads(out.getvalue())
    tickers = [t for t in d["timers"] if t["period_ns"] > 0]
    assert len(tickers) == m["counts"]["tickers"]
    assert sorted(t["period_ns"] for t in tickers) == sorted(
        x["ticker_period_ns"] for x in m["leaked"]
    )


def _path(version: str, addr: str) -> dict[str, Any]:
    exe = store.fixture_file(version, "leakjobs", "leakjobs")
    core = store.fixture_file(version, "leakjobs", "panic.core")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(["path", addr, "--json", "--binary", str(exe), "--core", str(core)])
    assert rc == 0, err.getvalue()
    return json.loads(out.getvalue())


@pytest.mark.parametrize("version", VERSIONS)
def test_paths_name_fields_and_captured_variables(version: str) -> None:
    """Each step names the field, element or captured variable the pointer sits in."""
    m = program_manifest(version, "leakjobs", "panic")
    w = m["leaked"][3]
    d = _path(version, w["payload_addr"])
    assert d["root"]["kind"] == "stack" and d["root"]["goroutine"] == w["goroutine_id"]
    assert d["root"]["name"] == "main.leakWorker:job"
    assert [s["via"] for s in d["steps"]][-1] == ".Payload.array"
    d = _path(version, m["mailbox"]["body_addrs"][2])
    assert d["root"]["name"] == "main.mailbox"
    assert [s["via"] for s in d["steps"]][1:] == [".buf", "[2]", ".Body.array"]
    if _closure_offsets(version):
        d = _path(version, m["hook"]["closure_buffer_addr"])
        assert d["root"]["name"] == "main.hook"
        assert [s["via"] for s in d["steps"]][-1] == ".buf"
        d = _path(version, w["closure_buffer_addr"])
        assert d["root"]["goroutine"] == w["goroutine_id"]
        assert d["root"]["name"] == "main.leakWorker:closure(main.leakWorker.func1).buf"


@pytest.mark.parametrize("version", VERSIONS)
def test_unnamed_stack_object_types_what_it_holds(version: str) -> None:
    """Each leaked worker keeps ``st := &tally{hist: make([]int64, 0, 256+i)}`` on its stack
    only: ``st`` does not escape and its method is inlined, so the compiler keeps the tally in
    an unnamed stack object; the ``*tally`` receiver of the inlined method names its type, and
    the buffer it holds is a ``[cap]int64`` reached from that goroutine's stack."""
    ht, live, m = _typed(version)
    for w in m["leaked"]:
        addr = w["tally_hist_addr"]
        assert _type_at(ht, [addr]) == [f"[{w['tally_hist_cap']}]int64"]
        i = int(ht.objects.find_one(int(addr, 16)))
        assert live[i]
    w = m["leaked"][5]
    d = _path(version, w["tally_hist_addr"])
    assert d["root"]["kind"] == "stack" and d["root"]["goroutine"] == w["goroutine_id"]
    assert d["root"]["name"].startswith("main.leakWorker:autotmp(main.tally).hist")
