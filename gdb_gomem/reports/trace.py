"""The document of ``gomem trace``: the execution trace the core holds, and the file.

The bytes come from :mod:`gdb_gomem.runtime.exectrace.coretrace`: the flight recorder's
complete generations (``FlightRecorder.WriteTo``'s bytes, :mod:`~.ring`), then the
generations the process died in, rebuilt from the recorder's active batches and the runtime's
own trace buffers. This module says which generations the file holds and which seconds those
cover (each generation's clock snapshot, else the core's last GC's wall/monotonic pair), and
writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from gdb_gomem.base.errors import BadFile
from gdb_gomem.base.fmt import hexaddr
from gdb_gomem.reports.schema.trace import (
    TraceDoc,
    TraceGenerationDoc,
    TraceOutputDoc,
    TraceRecorderDoc,
)
from gdb_gomem.runtime.clock import CRASH_TIME
from gdb_gomem.runtime.exectrace.coretrace import CORE_TRACE, CoreTrace, GenerationSource
from gdb_gomem.runtime.exectrace.parse import Trace, read_trace
from gdb_gomem.runtime.exectrace.ring import (
    HOW_TO_START,
    FlightRing,
    NoFlightRecorder,
    RawGeneration,
    read_flight_ring,
)
from gdb_gomem.target.process import GoProcess

#: runtime/trace's readBatch (Go 1.25-1.27) reads an experimental batch's experiment byte as
#: its generation; the batch is then refused with one of these errors.
_EXPERIMENTAL_REFUSED = ("invalid batch size", "error reading batch")
#: A panic's own traceAdvance ends the last generation well under this before the runtime's
#: last clock reading (0.2-0.3 ms on the fixtures); a throw leaves milliseconds out.
UNRECORDED_NOTE_NS = 1_000_000


def _generation_doc(
    g: RawGeneration, nxt: RawGeneration | None, written: bool
) -> TraceGenerationDoc:
    clock = g.clock
    ticks = g.tick_range()
    next_clock = nxt.clock if nxt is not None else None
    return {
        "gen": g.gen,
        "where": g.where,
        "batches": len(g.batches),
        "bytes": g.nbytes,
        "written": written,
        "end_marker": g.has_end,
        "sync": g.has_sync,
        "problems": list(g.problems),
        "start_unix_ns": clock.unix_ns if clock else None,
        "last_batch_unix_ns": clock.to_unix_ns(ticks[1]) if clock and ticks else None,
        "next_start_unix_ns": next_clock.unix_ns if next_clock else None,
        "start_mono_ns": clock.mono_ns if clock else None,
        "rebuilt": [],
        "partial": False,
    }


def _rebuilt_doc(src: GenerationSource, tr: Trace | None) -> TraceGenerationDoc:
    """A generation rebuilt from the runtime's buffers; its times from the parsed file."""
    start = last = mono = None
    g = next((x for x in tr.generations if x.gen == src.gen), None) if tr else None
    c = g.clock if g is not None else None
    if g is not None and c is not None and c.wall_ns is not None and c.ticks is not None:
        start = c.wall_ns + c.ns(g.min_ticks) - c.ns(c.ticks)
        last = c.wall_ns + c.ns(g.max_ticks) - c.ns(c.ticks)
        mono = c.mono_ns
    problems = []
    if src.partial:
        problems.append(
            "a reader (trace.Start's writer) took this generation's earlier batches before the "
            "crash: they are not in the core"
        )
    return {
        "gen": src.gen,
        "where": "runtime",
        "batches": src.batches,
        "bytes": src.bytes,
        "written": True,
        "end_marker": any(r.startswith("end-of-generation") for r in src.synthesized),
        "sync": True,
        "problems": problems,
        "start_unix_ns": start,
        "last_batch_unix_ns": last,
        "next_start_unix_ns": None,
        "start_mono_ns": mono,
        "rebuilt": [
            f"{src.held_batches} batch(es) from the runtime's buffers ({src.patched} still open, "
            "their sizes written here)",
            *(
                [f"{src.recorder_batches} batch(es) from the recorder's active generation"]
                if src.recorder_batches
                else []
            ),
            *src.synthesized,
        ],
        "partial": src.partial,
    }


def _end(g: TraceGenerationDoc) -> int | None:
    """About when a generation ended: the next one's clock snapshot, or its latest batch start
    when later (a thread may still write to a generation after the next began)."""
    ends = [t for t in (g["next_start_unix_ns"], g["last_batch_unix_ns"]) if t]
    return max(ends) if ends else None


def _recorder_doc(ring: FlightRing) -> TraceRecorderDoc:
    return {
        "addr": hexaddr(ring.recorder_addr),
        "header": ring.header.rstrip(b"\0").decode("ascii", "replace"),
        "min_age_ns": ring.min_age_ns,
        "max_bytes": ring.max_bytes,
        "ns_per_tick": ring.ns_per_tick,
        "batch_layout": ring.batch_layout,
        "end_markers": ring.end_markers,
        "error": ring.error,
    }


def _ring_notes(
    proc: GoProcess,
    ring: FlightRing,
    written: list[RawGeneration],
    ring_only: bool,
) -> list[str]:
    notes: list[str] = []
    a = ring.active
    if a is not None and ring_only:
        notes.append(
            f"generation {a.gen} ({a.nbytes} bytes in {len(a.batches)} batch(es)) was still "
            "being filled when the process stopped (no end-of-generation batch, no final "
            "flush): left out, as WriteTo leaves it out (without --ring-only it is rebuilt "
            "with the runtime's own buffers)"
        )
    if ring.error and ring.error.startswith(_EXPERIMENTAL_REFUSED):
        base = ""
        tr = proc.find_global("runtime.trace")
        mph = tr.get("minPageHeapAddr") if tr is not None else None
        if mph is not None:
            base = f"; their heap-address base is runtime.trace.minPageHeapAddr = {mph.int():#x}"
        notes.append(
            f"the flight recorder refused a batch ({ring.error}): runtime/trace's readBatch "
            "reads an experimental batch's experiment byte as its generation, so experimental "
            "batches (with GODEBUG=traceallocfree=1, the alloc/free type and heap-info batches) "
            "are in neither the ring nor WriteTo's output; the alloc/free events themselves "
            f"travel in ordinary batches and are kept{base}"
        )
    elif ring.error:
        notes.append(f"the flight recorder refused a batch: {ring.error}")
    if not ring.end_markers:
        notes.append(
            f"{proc.go_version} keeps no end-of-generation batches in the ring (Go 1.26+ "
            "does): neither this file nor WriteTo's has them; the parser separates "
            "generations by their batch headers"
        )
    if not written:
        notes.append("no complete generation in the ring")
    return notes


def _unavailable(proc: GoProcess, reason: str) -> TraceDoc:
    return {
        "go_version": proc.go_version,
        "available": False,
        "source": None,
        "reason": reason,
        "hint": HOW_TO_START,
        "recorder": None,
        "generations": [],
        "output": {
            "path": None,
            "bytes": 0,
            "generations": [],
            "from_unix_ns": None,
            "to_unix_ns": None,
            "stop_after_unix_ns": None,
            "unrecorded_ns": None,
        },
        "errors": [],
        "notes": [],
    }


def _no_trace_reason(proc: GoProcess) -> str:
    try:
        read_flight_ring(proc)
    except NoFlightRecorder as exc:
        return str(exc)
    return "no execution trace in this core: the flight recorder holds no complete generation"


def _write(out: str, data: bytes) -> str:
    path = Path(out)
    try:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise BadFile(f"cannot write {out}: {exc.strerror}", "choose a writable path") from None
    return str(path)


def trace_doc(proc: GoProcess, out: str | None = None, *, ring_only: bool = False) -> TraceDoc:
    """The execution trace the core holds; with ``out``, also write it as a trace file.

    ``ring_only``: only the flight recorder's complete generations, exactly
    ``FlightRecorder.WriteTo``'s bytes. A core without a trace gives a document with
    ``available`` false, or with ``out`` raises :class:`NoFlightRecorder`.
    """
    ct: CoreTrace | None = CORE_TRACE(proc)
    ring = ct.ring if ct is not None else None
    if ct is None or (ring_only and ring is None):
        reason = _no_trace_reason(proc)
        if out is not None:
            raise NoFlightRecorder(reason.removeprefix("no execution trace in this core: "))
        return _unavailable(proc, reason)
    written = ring.complete if ring is not None else []
    gens: list[TraceGenerationDoc] = []
    if ring is not None:
        kept = {id(g) for g in written}
        listed = [*ring.generations]
        if ring_only and ring.active is not None:
            listed.append(ring.active)
        gens += [
            _generation_doc(g, listed[i + 1] if i + 1 < len(listed) else None, id(g) in kept)
            for i, g in enumerate(listed)
        ]
    rebuilt = [] if ring_only else ct.rebuilt
    if rebuilt:
        try:
            tr: Trace | None = read_trace(ct.data, wall_anchor=CRASH_TIME(proc).pair)
        except BadFile:
            tr = None
        gens += [_rebuilt_doc(src, tr) for src in rebuilt]
        # The ring's last generation ends where the first rebuilt one starts.
        if ring is not None and len(gens) > len(rebuilt):
            gens[-len(rebuilt) - 1]["next_start_unix_ns"] = gens[-len(rebuilt)]["start_unix_ns"]
    data = ring.writeto_bytes() if ring_only and ring is not None else ct.data
    written_docs = [d for d in gens if d["written"]]
    last_doc = written_docs[-1] if written_docs else None
    output: TraceOutputDoc = {
        "path": None,
        "bytes": len(data) if written_docs else 0,
        "generations": [d["gen"] for d in written_docs],
        "from_unix_ns": written_docs[0]["start_unix_ns"] if written_docs else None,
        "to_unix_ns": _end(last_doc) if last_doc else None,
        "stop_after_unix_ns": None,
        "unrecorded_ns": None,
    }
    stop = CRASH_TIME(proc).lo_unix_ns
    output["stop_after_unix_ns"] = stop
    if stop and output["to_unix_ns"]:
        output["unrecorded_ns"] = max(0, stop - output["to_unix_ns"])
    if out is not None:
        if not written_docs:
            why = "; ".join(
                f"generation {g.gen}: {p}"
                for g in (ring.generations if ring is not None else [])
                for p in g.problems
            )
            raise NoFlightRecorder(
                "the flight recorder holds no complete generation" + (f" ({why})" if why else "")
            )
        output["path"] = _write(out, data)
    notes = list(ct.notes)
    un = output["unrecorded_ns"]
    if un is not None and un > UNRECORDED_NOTE_NS:
        notes.append(
            f"the runtime ran on for about {un / 1e6:.1f} ms after the file's last event "
            "(its own clocks say so): that stretch is not in the file"
            + (
                "; without --ring-only the generation it died in is rebuilt from the "
                "runtime's own buffers"
                if ring_only
                else ""
            )
        )
    if ring is not None:
        notes += _ring_notes(proc, ring, written, ring_only)
    for d in gens:
        if d["where"] == "runtime":
            notes.append(
                f"generation {d['gen']} was still being written when the process stopped: "
                "rebuilt from " + "; ".join(d["rebuilt"])
            )
    return {
        "go_version": proc.go_version,
        "available": True,
        "source": "flight recorder" if ring_only else ct.source,
        "reason": None,
        "hint": None,
        "recorder": _recorder_doc(ring) if ring is not None else None,
        "generations": gens,
        "output": output,
        "errors": [],
        "notes": notes,
    }
