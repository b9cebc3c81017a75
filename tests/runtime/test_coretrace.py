"""The execution trace the runtime still held in its own buffers, rebuilt from a core.

fixtures/<v>/tracing (Go 1.22+): trace.Start into io.Discard under GODEBUG=traceallocfree=1,
three tagged batches of 100 objects 50 ms apart, then "fatal error: concurrent map writes":
the trace's newest batches exist only in the runtime's buffers. fixtures/<v>/flight throw
(1.25+): the generation after the recorder's WriteTo, which the ring never received.
Ground truth: the manifests (addresses, times, goroutines) and `go tool trace` of the same
release.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.reports.trace import trace_doc
from gdb_gomem.runtime.exectrace.coretrace import build_core_trace
from gdb_gomem.runtime.exectrace.inflight import read_runtime_trace
from gdb_gomem.runtime.exectrace.parse import read_trace
from gdb_gomem.runtime.exectrace.ring import batch_header
from gomem_fixtures import store
from tests.support import VERSIONS, fixture_process, patched_core, program_manifest

TRACING_VERSIONS = tuple(v for v in VERSIONS if store.builds_with("tracing", v))
FLIGHT_VERSIONS = tuple(v for v in VERSIONS if store.builds_with("flight", v))
#: traceallocfree exists from Go 1.23.
ALLOC_VERSIONS = tuple(v for v in TRACING_VERSIONS if v >= "1.23")


def _go_tool_trace(version: str, path: Path) -> subprocess.CompletedProcess[str]:
    from gomem_fixtures.build import ensure_toolchain, go_env

    go = ensure_toolchain(version)
    # Go 1.22-1.23's go tool trace takes -d=1 for the parsed events.
    flag = "-d=parsed" if version >= "1.24" else "-d=1"
    return subprocess.run(
        [str(go), "tool", "trace", flag, str(path)],
        capture_output=True,
        text=True,
        env=go_env(),
        timeout=600,
    )


@pytest.mark.parametrize("version", TRACING_VERSIONS)
def test_trace_start_buffers_are_found(version: str) -> None:
    m = program_manifest(version, "tracing", "throw")
    proc = fixture_process(version, "tracing", "throw")
    state = read_runtime_trace(proc)
    assert state is not None and state.running and not state.problems
    assert state.gen >= 1 and state.generations() == [state.gen]
    # Every open buffer's size was written here; each is one well-formed batch.
    assert any(b.patched for b in state.batches)
    for b in state.batches:
        assert batch_header(b.data).gen == b.gen
    assert state.stacks[state.gen] and state.string_seq[state.gen] > 0
    ct = build_core_trace(proc)
    assert ct is not None and ct.ring is None
    assert ct.source == "runtime buffers (trace.Start)"
    (g,) = ct.generations
    assert g.where == "runtime" and g.partial and g.stacks == len(state.stacks[state.gen])
    tr = read_trace(ct.data)
    assert not tr.notes or tr.version >= 25, tr.notes
    assert m["trace"]["writer"] == "io.Discard"


@pytest.mark.parametrize("version", ALLOC_VERSIONS)
def test_trace_start_times_every_batch_object(version: str) -> None:
    """Every batch object's allocation event is in the rebuilt generation, at a wall time
    between the program's own clock readings around its batch, on the main goroutine."""
    from gdb_gomem.heap.alloctimes import trace_times
    from gdb_gomem.heap.epochs import alloc_epochs

    m = program_manifest(version, "tracing", "throw")
    proc = fixture_process(version, "tracing", "throw")
    ep = alloc_epochs(proc)
    tt = trace_times(proc)
    for b in m["batches"]:
        addrs = [int(a, 16) for a in b["addresses"]]
        import numpy as np

        idx = ep.objects.find(np.array(addrs, np.uint64))
        assert (idx >= 0).all(), b["name"]
        t = tt.unix_ns[idx]
        assert (t > 0).all(), (b["name"], int((t == 0).sum()))
        # Wall time through the last GC's (wall, nanotime) pair: microseconds of skew.
        assert (t >= b["t_before_unix_ns"] - 1_000_000).all(), b["name"]
        assert (t <= b["t_after_unix_ns"] + 1_000_000).all(), b["name"]
        assert (tt.goroutine[idx] == m["main_goroutine_id"]).all()


@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_throw_generation_is_rebuilt_after_the_ring(version: str) -> None:
    """A throw never advances the trace: the generation after WriteTo's is only in the
    recorder's active batches and the runtime's buffers; it follows the ring's, whose bytes
    stay WriteTo's."""
    proc = fixture_process(version, "flight", "throw")
    ct = build_core_trace(proc)
    assert ct is not None and ct.ring is not None
    writeto = store.fixture_file(version, "flight", "throw.trace").read_bytes()
    assert ct.data.startswith(writeto) and len(ct.data) > len(writeto)
    rebuilt = ct.rebuilt
    assert len(rebuilt) == 1 and not rebuilt[0].partial
    assert rebuilt[0].gen == ct.ring.complete[-1].gen + 1
    tr = read_trace(ct.data)
    assert [g.gen for g in tr.generations][-1] == rebuilt[0].gen and not tr.notes
    doc = trace_doc(proc, ring_only=True)
    assert doc["output"]["bytes"] == len(writeto)
    full = trace_doc(proc)
    assert full["source"] == "flight recorder + runtime buffers"
    assert full["generations"][-1]["where"] == "runtime"
    # The file now reaches the runtime's last clock reading.
    assert full["output"]["unrecorded_ns"] is not None
    assert full["output"]["unrecorded_ns"] < 1_000_000


@pytest.mark.slow
@pytest.mark.parametrize("version", TRACING_VERSIONS)
def test_go_tool_trace_opens_the_rebuilt_trace(version: str, tmp_path: Path) -> None:
    proc = fixture_process(version, "tracing", "throw")
    out = tmp_path / "core.trace"
    trace_doc(proc, str(out))
    res = _go_tool_trace(version, out)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]
    # Stacks symbolized here resolve to the program's functions and lines.
    assert "main.mapWriter" in res.stdout and "main.go:" in res.stdout
    if version >= "1.23":
        assert "HeapObjectAlloc" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_go_tool_trace_opens_ring_plus_rebuilt(version: str, tmp_path: Path) -> None:
    proc = fixture_process(version, "flight", "throw")
    out = tmp_path / "core.trace"
    trace_doc(proc, str(out))
    res = _go_tool_trace(version, out)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]


def test_corrupt_buffers_are_bounded(tmp_path: Path) -> None:
    """A write position, a queue link or a table node from memory is checked before use:
    the damage is noted, the rest is read, nothing raises."""
    version = TRACING_VERSIONS[-1]
    proc = fixture_process(version, "tracing", "throw")
    src = store.fixture_file(version, "tracing", "throw.core")
    exe = store.fixture_file(version, "tracing", "tracing")
    m = proc.global_("runtime.allm").deref()
    bufs = []
    while m is not None:
        slots = m["trace.buf"]
        for i in range(len(slots)):
            slot = slots.index(i)
            for j in range(len(slot)) if slot.type.tag == "array" else [None]:
                p = (slot.index(j) if j is not None else slot).deref()
                if p is not None:
                    bufs.append(p)
        m = m["alllink"].deref()
    assert bufs
    huge = (1 << 62).to_bytes(8, "little")
    core = patched_core(
        src,
        tmp_path / "pos.core",
        {bufs[0]["traceBufHeader.pos"].addr: huge, bufs[0]["traceBufHeader.link"].addr: b"\0" * 8},
    )
    state = read_runtime_trace(open_core(exe, core))
    assert state is not None
    assert any("write position" in p for p in state.problems)
    assert len(state.batches) == len(read_runtime_trace(proc).batches) - 1  # type: ignore[union-attr]
    # A string table whose trie points back at itself: read once, no loop.
    tab = proc.global_("runtime.trace")["stackTab"].index(state.gen % 2)["tab"]
    root = tab["root"].int()
    node = proc.dw.type("runtime.traceMapNode")
    child0 = root + node.fields[[f.name for f in node.fields].index("children")].offset
    core = patched_core(src, tmp_path / "loop.core", {child0: root.to_bytes(8, "little")})
    looped = read_runtime_trace(open_core(exe, core))
    assert looped is not None and looped.stacks[looped.gen]


@pytest.mark.gdb
def test_gdb_rebuilds_the_same_file(tmp_path: Path) -> None:
    """Inside gdb (memory read through gdb, not the core file) the rebuilt trace is the same
    bytes and the window times the same objects."""
    from tests.support import gdb_batch, gomem_cli, json_after

    version = ALLOC_VERSIONS[-1]
    exe = store.fixture_file(version, "tracing", "tracing")
    core = store.fixture_file(version, "tracing", "throw.core")
    out = tmp_path / "gdb.trace"
    r = gdb_batch(
        "echo ==T==\\n",
        f"gomem trace --out {out} --json",
        "echo ==W==\\n",
        "gomem window 1m --json --type main.Traced",
        exe=exe,
        core_file=core,
    )
    in_gdb = json_after("==W==", r.stdout)
    ct = build_core_trace(fixture_process(version, "tracing", "throw"))
    assert ct is not None and out.read_bytes() == ct.data
    res = gomem_cli(
        "window", "1m", "--type", "main.Traced", "--json", "--binary", str(exe), "--core", str(core)
    )
    assert res.returncode == 0, res.stderr
    cli = json.loads(res.stdout)
    assert [o["addr"] for o in in_gdb["objects"]] == [o["addr"] for o in cli["objects"]]
    assert [o.get("goroutine") for o in in_gdb["objects"]] == [
        o.get("goroutine") for o in cli["objects"]
    ]
    assert {o["allocated"]["source"] for o in cli["objects"]} == {"trace"}
