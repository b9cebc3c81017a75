"""The execution trace held in a core (``gdb_gomem.runtime.exectrace.ring``, ``gomem trace``).

Ground truth, from the ``flight`` fixture (Go 1.25+, ``runtime/trace.FlightRecorder`` under
``GODEBUG=traceallocfree=1``):
- ``panic.trace``: the recorder's own ``FlightRecorder.WriteTo`` output, written by the program
  right before it panicked. The panic advanced the trace once more, so the core's ring holds
  every generation of that file, byte for byte, and one more;
- the manifest's clock readings: the recorder started before ``started_unix_ns`` and the
  program's last ``time.Now()`` came before the panic's generation ended;
- ``go tool trace -d=parsed`` of the same Go release (slow tests): the file the core gives opens
  without error, as the program's own does.
Cores of programs without a recorder (leaky, window: no runtime/trace at all) give one message.
"""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.frontends import cli
from gdb_gomem.reports.trace import UNRECORDED_NOTE_NS, trace_doc
from gdb_gomem.runtime.exectrace import ring
from gdb_gomem.runtime.exectrace.ring import (
    FlightRing,
    NoFlightRecorder,
    RawGeneration,
    batch_header,
    flight_recorder_bytes,
    read_flight_ring,
)
from gdb_gomem.target.process import GoProcess
from gomem_fixtures import store
from tests.support import VERSIONS, fixture_process, need_fixtures, patched_core

FLIGHT_VERSIONS = [v for v in VERSIONS if store.builds_with("flight", v)]


SCENARIOS = store.PROGRAM_SCENARIOS["flight"]


def _flight(version: str, scenario: str = "panic") -> tuple[GoProcess, bytes, dict[str, Any]]:
    need_fixtures()
    if not store.has_fixture(version, "flight"):
        pytest.fail(f"no fixtures/{version}/flight (scripts/make_fixtures --programs flight)")
    proc = fixture_process(version, "flight", scenario)
    writeto = store.fixture_file(version, "flight", f"{scenario}.trace").read_bytes()
    return proc, writeto, store.manifest(version, "flight", scenario)


def _generations(data: bytes) -> list[tuple[int, list[bytes]]]:
    """Split a trace file (header + batches) into (generation, batches) by batch headers."""
    gens: list[tuple[int, list[bytes]]] = []
    pos, closed = ring.HEADER_LEN, True
    while pos < len(data):
        if data[pos] == ring.EV_END_OF_GENERATION:
            gens[-1][1].append(data[pos : pos + 1])
            pos, closed = pos + 1, True
            continue
        # The batch's length comes from its own header (type, [experiment], 4 varints).
        start = 2 if data[pos] == ring.EV_EXPERIMENTAL_BATCH else 1
        hdr_gen, q = ring.read_uvarint(data, pos + start)
        for _ in range(2):
            _, q = ring.read_uvarint(data, q)
        size, q = ring.read_uvarint(data, q)
        batch = data[pos : q + size]
        assert batch_header(batch).gen == hdr_gen
        if closed or gens[-1][0] != hdr_gen:
            gens.append((hdr_gen, []))
            closed = False
        gens[-1][1].append(batch)
        pos = q + size
    return gens


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_core_holds_writeto_generation_by_generation(version: str, scenario: str) -> None:
    proc, writeto, m = _flight(version, scenario)
    got = flight_recorder_bytes(proc)
    assert got is not None
    assert got[: ring.HEADER_LEN] == writeto[: ring.HEADER_LEN]
    mine, theirs = _generations(got), _generations(writeto)
    assert theirs, "the program's WriteTo holds no generation"
    # Generation by generation: every one WriteTo wrote is in the core, with the same bytes.
    by_gen = dict(mine)
    for gen, batches in theirs:
        assert by_gen.get(gen) == batches, f"generation {gen} differs"
    if scenario == "panic":
        # The panic's traceAdvance put one more complete generation in the ring.
        assert [g for g, _ in mine] == [g for g, _ in theirs] + [theirs[-1][0] + 1]
        assert got.startswith(writeto) and len(got) > len(writeto)
    else:
        # A fatal error does not advance the trace: the ring is what WriteTo wrote.
        assert got == writeto
    assert len(writeto) == m["writeto"]["bytes"]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_generations_cover_the_run(version: str, scenario: str) -> None:
    """The ring alone (--ring-only): WriteTo's generations (test_coretrace checks the
    generation rebuilt after them)."""
    proc, _, m = _flight(version, scenario)
    d = trace_doc(proc, ring_only=True)
    assert d["available"] and d["recorder"] is not None
    assert d["recorder"]["min_age_ns"] == m["flight_recorder"]["min_age_ns"]
    assert d["recorder"]["max_bytes"] == m["flight_recorder"]["max_bytes"]
    assert d["recorder"]["end_markers"] is (proc.version >= (1, 26, 0))
    out = d["output"]
    assert out["from_unix_ns"] is not None and out["to_unix_ns"] is not None
    # The recorder's first clock snapshot was taken inside FlightRecorder.Start.
    assert out["from_unix_ns"] <= m["flight_recorder"]["started_unix_ns"]
    assert out["from_unix_ns"] <= m["batches"][0]["t_before_unix_ns"]
    last = [g for g in d["generations"] if g["written"]][-1]
    w = m["writeto"]
    assert last["start_unix_ns"] is not None
    assert out["stop_after_unix_ns"] is not None and out["unrecorded_ns"] is not None
    assert out["stop_after_unix_ns"] >= m["last_timestamp_unix_ns"]
    if scenario == "panic":
        # Every batch, and the program's last time.Now(), lie inside the written generations;
        # the crash's generation began at the program's WriteTo (its traceAdvance).
        assert out["to_unix_ns"] >= m["last_timestamp_unix_ns"]
        assert w["t_before_unix_ns"] <= last["start_unix_ns"] <= w["t_after_unix_ns"]
        assert out["unrecorded_ns"] < UNRECORDED_NOTE_NS
    else:
        # The file ends where WriteTo's traceAdvance ended a generation; the throw came later,
        # and the document says that stretch is missing.
        assert w["t_before_unix_ns"] <= out["to_unix_ns"] <= w["t_after_unix_ns"]
        assert out["to_unix_ns"] < m["last_timestamp_unix_ns"]
        assert out["unrecorded_ns"] > UNRECORDED_NOTE_NS
        assert any("not in the file" in n for n in d["notes"])
    # What the panic left unflushed is reported, not written.
    active = [g for g in d["generations"] if g["where"] == "active"]
    assert all(not g["written"] and not g["end_marker"] for g in active)


@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_trace_out_writes_the_file(version: str, tmp_path: Path) -> None:
    proc, _, _ = _flight(version)
    dest = tmp_path / "core.trace"
    d = trace_doc(proc, str(dest), ring_only=True)
    assert d["output"]["path"] == str(dest)
    assert dest.read_bytes() == flight_recorder_bytes(proc)
    assert d["output"]["bytes"] == dest.stat().st_size
    # Without --ring-only the file goes on with the generation the process died in.
    full = tmp_path / "full.trace"
    d = trace_doc(proc, str(full))
    assert full.read_bytes().startswith(dest.read_bytes())
    assert d["output"]["bytes"] == full.stat().st_size > dest.stat().st_size


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("program", ["leaky", "window"])
def test_no_recorder_is_one_message(version: str, program: str, tmp_path: Path) -> None:
    need_fixtures()
    if not store.has_fixture(version, program):
        pytest.skip(f"no {program} fixture for {version}")
    exe = str(store.fixture_file(version, program, program))
    core = str(store.fixture_file(version, program, "panic.core"))
    proc = fixture_process(version, program, "panic")
    assert flight_recorder_bytes(proc) is None
    with pytest.raises(NoFlightRecorder):
        read_flight_ring(proc)
    rc, out, err = _cli("trace", "--binary", exe, "--core", core)
    assert rc == 0, err
    first, hint = out.strip().split("\n")
    assert first.startswith("no execution trace in this core: ")
    assert "runtime/trace" in first
    assert "NewFlightRecorder" in hint
    dest = tmp_path / "x.trace"
    rc, out, err = _cli("trace", "--out", str(dest), "--binary", exe, "--core", core)
    assert rc == 2 and not out and not dest.exists()
    assert "no execution trace in this core" in err.splitlines()[0]
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- unit


def _batch(gen: int, payload: bytes, *, ticks: int = 100, m: int = 7) -> bytes:
    def uv(x: int) -> bytes:
        out = bytearray()
        while x >= 0x80:
            out.append(x & 0x7F | 0x80)
            x >>= 7
        return bytes([*out, x])

    return bytes([ring.EV_EVENT_BATCH]) + uv(gen) + uv(m) + uv(ticks) + uv(len(payload)) + payload


def test_batch_header_checks_lengths() -> None:
    b = _batch(3, b"\x32\x08\x05")
    h = batch_header(b)
    assert (h.kind, h.gen, h.m, h.ticks, h.length, h.first_event) == ("events", 3, 7, 100, 8, 50)
    assert batch_header(b"\x34").kind == "end"
    for bad in (b"", b[:-1], b + b"\0", b"\x34\x34", b"\x05" + b[1:], b"\x01\xff\xff"):
        with pytest.raises(ValueError):
            batch_header(bad)
    with pytest.raises(ValueError, match="maximum"):
        batch_header(b"\x01\x01\x01\x01\xff\xff\x3f")


def _gen(gen: int, problems: list[str] | None = None) -> RawGeneration:
    batches = [_batch(gen, b"\x32\x08\x05"), b"\x34"]
    return RawGeneration(
        gen=gen,
        size=0,
        min_time_ns=0,
        batches=batches,
        headers=[batch_header(b) for b in batches],
        problems=problems or [],
    )


def test_only_the_newest_good_run_is_written() -> None:
    gens = [_gen(1), _gen(2, ["batch 3: unreadable"]), _gen(3), _gen(4)]
    fr = FlightRing(0, b"go 1.26 trace\0\0\0", True, 64.0, 0, 0, "[][]byte", gens, None, True, None)
    assert [g.gen for g in fr.complete] == [3, 4]
    assert fr.writeto_bytes() == fr.header + b"".join(b for g in gens[2:] for b in g.batches)


# ----------------------------------------------------------------------------- slow


def _go_tool_trace(version: str, path: Path) -> subprocess.CompletedProcess[str]:
    from gomem_fixtures.build import ensure_toolchain, go_env

    go = ensure_toolchain(version)
    return subprocess.run(
        [str(go), "tool", "trace", "-d=parsed", str(path)],
        capture_output=True,
        text=True,
        env=go_env(),
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_go_tool_trace_opens_the_extracted_file(
    version: str, scenario: str, tmp_path: Path
) -> None:
    proc, writeto, _ = _flight(version, scenario)
    data = flight_recorder_bytes(proc)
    assert data is not None
    dest = tmp_path / "core.trace"
    dest.write_bytes(data)
    res = _go_tool_trace(version, dest)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-2000:]
    # The events of the program's own file come first, unchanged; the crash's come after.
    theirs = tmp_path / "writeto.trace"
    theirs.write_bytes(writeto)
    own = _go_tool_trace(version, theirs)
    assert own.returncode == 0, own.stderr[-2000:]
    assert res.stdout.startswith(own.stdout.rstrip("\n").rsplit("\n", 1)[0])
    assert "HeapObjectAlloc" in res.stdout
    more = 1 if scenario == "panic" else 0
    assert res.stdout.count("Sync Time=") == own.stdout.count("Sync Time=") + more


@pytest.mark.slow
def test_rebuilt_flight_fixture(tmp_path: Path) -> None:
    from gomem_fixtures.build import build_and_crash

    version = "1.26.6"
    exe, core, m = build_and_crash(version, "panic", tmp_path, "flight")
    proc = open_core(exe, core)
    got = flight_recorder_bytes(proc)
    writeto = (tmp_path / "panic.trace").read_bytes()
    assert got is not None and got.startswith(writeto) and len(got) > len(writeto)
    assert m["harness"]["env"]["GODEBUG"] == "traceallocfree=1,memprofilerate=1"


@pytest.mark.parametrize("version", FLIGHT_VERSIONS)
def test_json_document_fits_its_schema(version: str) -> None:
    from gdb_gomem.reports.schema.trace import TraceDoc
    from tests.reports.test_schema import _problems

    need_fixtures()
    exe = str(store.fixture_file(version, "flight", "flight"))
    core = str(store.fixture_file(version, "flight", "panic.core"))
    rc, out, err = _cli("trace", "--json", "--binary", exe, "--core", core)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["available"] and doc["generations"]
    assert not _problems(doc, TraceDoc, "trace")


def test_corrupt_lengths_are_bounded(tmp_path: Path) -> None:
    """A ring length or a batch length from memory is checked before anything is read."""
    version = FLIGHT_VERSIONS[-1] if FLIGHT_VERSIONS else "none"
    proc, _, _ = _flight(version)
    fr = proc.global_("runtime/trace.tracing")["flightRecorder"].deref()
    assert fr is not None
    r = fr["r"].deref()
    assert r is not None
    src = store.fixture_file(version, "flight", "panic.core")
    exe = store.fixture_file(version, "flight", "flight")
    huge = (1 << 62).to_bytes(8, "little")
    # The ring's len beyond its cap: no recorder can be read, said in one line.
    core = patched_core(src, tmp_path / "ring.core", {r["ring.len"].addr: huge})
    with pytest.raises(NoFlightRecorder, match="corrupt"):
        read_flight_ring(open_core(exe, core))
    # The last generation's first batch claims a huge length: that generation is left out,
    # the older ones are still written.
    last = r["ring"].slice_items(64)[-1]
    first_batch = last["batches"].slice_items(1)[0]
    data_v = first_batch["data"] if first_batch.has("data") else first_batch
    core = patched_core(src, tmp_path / "batch.core", {data_v["len"].addr: huge})
    fr2 = read_flight_ring(open_core(exe, core))
    assert fr2.generations[-1].problems and "batch 0" in fr2.generations[-1].problems[0]
    assert [g.gen for g in fr2.complete] == [g.gen for g in fr2.generations[:-1]]
