"""Command: timers (every live timer and ticker, when it fires, what it runs, who holds it).

Argument parsing and printing only; the document comes from :mod:`gdb_gomem.reports.timers`.
"""

from __future__ import annotations

import argparse

from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import table, trailer
from gdb_gomem.commands.registry import command
from gdb_gomem.reports.schema.timers import TimersDoc
from gdb_gomem.reports.timers import timers_doc
from gdb_gomem.target.process import GoProcess


@command(
    "timers",
    "live timers and tickers: when each fires next, its period, what it runs, who holds it",
)
def run_timers(proc: GoProcess, args: argparse.Namespace) -> TimersDoc:
    return timers_doc(proc)


def _period(ns: int) -> str:
    if ns <= 0:
        return "-"
    for unit, n in (("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000)):
        if ns % n == 0 or ns >= n:
            return f"{ns / n:g}{unit}"
    return f"{ns / 1e6:g}ms"


@run_timers.renderer
def render_timers(d: TimersDoc, args: argparse.Namespace) -> str:
    rows = [
        [
            c.address(t["addr"]),
            t["kind"] + (" (chan)" if t["channel"] else ""),
            _period(t["period_ns"]),
            (unix_ns_to_iso(t["when_unix_ns"]) or "?") if t["when_unix_ns"] else "?",
            c.name(t["func"] or "?"),
            f"P{t['p']}" if t["p"] is not None else c.hint("no heap"),
            (t["held_by"] or "-") + (f"  {c.hint(t['created_at'])}" if t["created_at"] else ""),
        ]
        for t in d["timers"]
    ]
    out = table(["TIMER", "KIND", "PERIOD", "NEXT (UTC)", "RUNS", "ON", "HELD BY"], rows, set())
    out.append(f"{len(d['timers'])} live timer(s), {d['tickers']} unstopped ticker(s)")
    return "\n".join(out + trailer(d))
