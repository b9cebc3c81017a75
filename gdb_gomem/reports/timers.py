"""The document of ``gomem timers``: every live timer and ticker (:mod:`gdb_gomem.heap.timers`)."""

from __future__ import annotations

from gdb_gomem.base.fmt import hexaddr
from gdb_gomem.heap.timers import find_timers
from gdb_gomem.reports.schema.timers import TimerDoc, TimersDoc
from gdb_gomem.target.process import GoProcess


def timers_doc(proc: GoProcess) -> TimersDoc:
    found = find_timers(proc)
    rows: list[TimerDoc] = [
        {
            "addr": hexaddr(t.addr),
            "when_unix_ns": found.when_unix_ns(t),
            "when_nanotime": t.when,
            "period_ns": t.period,
            "kind": t.kind,
            "func": t.func,
            "channel": t.channel,
            "p": t.in_p_heap,
            "held_by": t.held_by or None,
            "created_at": t.created_at or None,
            "state": t.state,
        }
        for t in sorted(found.timers, key=lambda t: (t.when, t.addr))
    ]
    return {
        "go_version": proc.go_version,
        "timers": rows,
        "tickers": sum(1 for t in found.timers if t.period > 0),
        "errors": found.errors,
        "notes": found.notes,
    }
