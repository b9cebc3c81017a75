"""Command: trace [--out FILE] [--ring-only] (the execution trace the core holds).

Argument parsing and printing only; the document and the file come from
:mod:`gdb_gomem.reports.trace`.
"""

from __future__ import annotations

import argparse

from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes, kv, table, trailer
from gdb_gomem.commands.registry import command
from gdb_gomem.reports.schema.trace import TraceDoc
from gdb_gomem.reports.trace import trace_doc
from gdb_gomem.target.process import GoProcess


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write the trace file (open it with `go tool trace`): the flight recorder's "
        "generations, then the ones the process died in, rebuilt from the runtime's buffers",
    )
    p.add_argument(
        "--ring-only",
        action="store_true",
        help="only the flight recorder's complete generations: FlightRecorder.WriteTo's bytes",
    )


@command(
    "trace",
    "the execution trace the core holds: a FlightRecorder's ring (Go 1.25+) and the runtime's "
    "own trace buffers (trace.Start or a recorder, Go 1.22+)",
    _configure,
)
def run_trace(proc: GoProcess, args: argparse.Namespace) -> TraceDoc:
    return trace_doc(proc, args.out, ring_only=args.ring_only)


def _time(ns: int | None) -> str:
    return (unix_ns_to_iso(ns) or "?") if ns else "?"


def _span(start: int | None, end: int | None) -> str:
    if start and end:
        return f"{(end - start) / 1e9:.3f} s"
    return "?"


@run_trace.renderer
def render_trace(d: TraceDoc, args: argparse.Namespace) -> str:
    if not d["available"]:
        return f"{d['reason']}\n  hint: {d['hint']}"
    r = d["recorder"]
    out = [kv("Source", d["source"] or "?")]
    if r is not None:
        out.append(
            kv(
                "Recorder",
                f"{r['addr']}  {r['header']!r}, MinAge {r['min_age_ns'] / 1e9:g} s, "
                f"MaxBytes {human_bytes(r['max_bytes'])}",
            )
        )
    rows = []
    for g in d["generations"]:
        if g["where"] == "runtime":
            state = "rebuilt" + (", partial" if g["partial"] else "")
        else:
            state = (
                "written" if g["written"] else ("filling" if g["where"] == "active" else "left out")
            )
        rows.append(
            [
                c.number(str(g["gen"])),
                g["where"],
                c.number(str(g["batches"])),
                c.number(str(g["bytes"])),
                _time(g["start_unix_ns"]),
                _span(g["start_unix_ns"], g["next_start_unix_ns"] or g["last_batch_unix_ns"]),
                state if g["written"] and not g["partial"] else c.warn(state),
            ]
        )
    out.append("")
    out += table(
        ["GEN", "WHERE", "BATCHES", "BYTES", "STARTED (UTC)", "LENGTH", ""], rows, {0, 2, 3}
    )
    for g in d["generations"]:
        for p in g["problems"]:
            out.append(c.warn(f"generation {g['gen']}: {p}"))
    o = d["output"]
    out.append("")
    gens = ", ".join(str(g) for g in o["generations"]) or "none"
    covers = f"from {_time(o['from_unix_ns'])} to " + (
        f"about {_time(o['to_unix_ns'])}" if o["to_unix_ns"] else "the stop"
    )
    if o["path"]:
        out.append(kv("Written", f"{o['path']}: {o['bytes']} bytes, generation(s) {gens}"))
    else:
        out.append(
            kv("Holds", f"{o['bytes']} bytes, generation(s) {gens} (write them with --out FILE)")
        )
    if o["unrecorded_ns"] is not None:
        covers += f" ({o['unrecorded_ns'] / 1e6:.1f} ms before the runtime's last clock reading)"
    out.append(kv("Covers", covers))
    out += trailer(d)
    return "\n".join(out)
