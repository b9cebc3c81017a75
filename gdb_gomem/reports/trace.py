"""The document of ``gomem trace``: the flight recorder's ring as the core holds it.

The bytes come from :mod:`gdb_gomem.runtime.exectrace.ring` (``FlightRecorder.WriteTo``'s
format); this module says which generations they hold and which seconds those cover, from
each generation's sync batch (the runtime's own clock snapshot), and writes the file.
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


def _notes(
    proc: GoProcess, ring: FlightRing, written: list[RawGeneration], unrecorded_ns: int | None
) -> list[str]:
    notes: list[str] = []
    if unrecorded_ns is not None and unrecorded_ns > UNRECORDED_NOTE_NS:
        notes.append(
            f"the runtime ran on for about {unrecorded_ns / 1e6:.1f} ms after the last "
            "generation in the ring ended (its own clocks say so): that stretch is not in the "
            "file. A panic advances the trace before dying, a fatal error (throw) or a signal "
            "does not: those events are still in the runtime's trace buffers (not read yet)"
        )
    a = ring.active
    if a is not None:
        notes.append(
            f"generation {a.gen} ({a.nbytes} bytes in {len(a.batches)} batch(es)) was still "
            "being filled when the process stopped (no end-of-generation batch, no final "
            "flush): left out, as WriteTo leaves it out"
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
        notes.append("no complete generation in the ring: nothing to write")
    return notes


def trace_doc(proc: GoProcess, out: str | None = None) -> TraceDoc:
    """The flight recorder's ring in the core; with ``out``, also write it as a trace file.

    A core without a flight recorder gives a document with ``available`` false, or with
    ``out`` raises :class:`NoFlightRecorder` (nothing can be written).
    """
    try:
        ring = read_flight_ring(proc)
    except NoFlightRecorder as exc:
        if out is not None:
            raise
        return {
            "go_version": proc.go_version,
            "available": False,
            "reason": str(exc),
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
    written = ring.complete
    kept = {id(g) for g in written}
    all_gens = [*ring.generations, *([ring.active] if ring.active is not None else [])]
    gens = [
        _generation_doc(g, all_gens[i + 1] if i + 1 < len(all_gens) else None, id(g) in kept)
        for i, g in enumerate(all_gens)
    ]
    data = ring.writeto_bytes()
    written_docs = [d for d in gens if d["written"]]
    output: TraceOutputDoc = {
        "path": None,
        "bytes": len(data) if written else 0,
        "generations": [d["gen"] for d in written_docs],
        "from_unix_ns": written_docs[0]["start_unix_ns"] if written_docs else None,
        "to_unix_ns": _end(written_docs[-1]) if written_docs else None,
        "stop_after_unix_ns": None,
        "unrecorded_ns": None,
    }
    stop = CRASH_TIME(proc).lo_unix_ns
    output["stop_after_unix_ns"] = stop
    if stop and output["to_unix_ns"]:
        output["unrecorded_ns"] = max(0, stop - output["to_unix_ns"])
    errors: list[str] = []
    if out is not None:
        if not written:
            why = "; ".join(
                f"generation {g.gen}: {p}" for g in ring.generations for p in g.problems
            )
            raise NoFlightRecorder(
                "the flight recorder holds no complete generation" + (f" ({why})" if why else "")
            )
        path = Path(out)
        try:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise BadFile(f"cannot write {out}: {exc.strerror}", "choose a writable path") from None
        output["path"] = str(path)
    return {
        "go_version": proc.go_version,
        "available": True,
        "reason": None,
        "hint": None,
        "recorder": _recorder_doc(ring),
        "generations": gens,
        "output": output,
        "errors": errors,
        "notes": _notes(proc, ring, written, output["unrecorded_ns"]),
    }
