"""``gomem watch``: the live recorder, in gdb, on a process gdb started or attached to.

It lets the process run, stops it every ``--interval`` (a ``SIGWINCH`` from a timer thread,
which gdb swallows: ``handle SIGWINCH stop print nopass``), takes a snapshot of the
allocation state into a ring that keeps ``--keep`` of history, and resumes it. Stops on the
crash paths (``runtime.fatalpanic``, ``runtime.fatalthrow``, ``runtime.dieFromSignal``) and on
``SIGABRT``/``SIGBUS`` take the last snapshot there (typed), write the ring to ``--out`` and
leave the process stopped at the crash for gdb (``gcore``, ``bt``). ``SIGSEGV`` is passed on
(the Go runtime turns a nil dereference into a panic; a fatal one reaches ``fatalpanic``).
Ctrl-C, ``--for``, or the process exiting ends it too, and the ring is written all the same.

The recorder reports its own cost: the pause of each snapshot (stop to resume), the total,
and the share of the wall time the process stood still.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections import deque
from typing import Any

import gdb

from gdb_gomem.adapters.gdbinferior import target_kind
from gdb_gomem.base.errors import GomemError
from gdb_gomem.reports.window import parse_duration
from gdb_gomem.snapshots.capture import take_snapshot
from gdb_gomem.snapshots.freeze import freeze
from gdb_gomem.snapshots.ring import Ring, RingEntry

CRASH_FUNCTIONS = ("runtime.fatalpanic", "runtime.fatalthrow", "runtime.dieFromSignal")
CRASH_SIGNALS = ("SIGABRT", "SIGBUS")
#: The signal the timer sends to stop the process for a snapshot. gdb keeps SIGSTOP for its
#: own thread stops (an outside one is absorbed), so the recorder uses SIGWINCH, which gdb
#: stops on and never passes on while recording (a terminal resize then means one more tick).
TICK_NAME = "SIGWINCH"
#: Bound on the recorder's loop (one iteration per stop).
MAX_STOPS = 1_000_000


class _Stop:
    """What the last stop event said."""

    def __init__(self) -> None:
        self.kind = ""  # "breakpoint", "signal", "exited", "other"
        self.detail = ""

    def on_stop(self, ev: Any) -> None:
        if isinstance(ev, gdb.BreakpointEvent):
            self.kind = "breakpoint"
            self.detail = " ".join(str(b.location) for b in ev.breakpoints)
        elif isinstance(ev, gdb.SignalEvent):
            self.kind = "signal"
            self.detail = ev.stop_signal
        else:
            self.kind = "other"
            self.detail = type(ev).__name__

    def on_exit(self, ev: Any) -> None:
        self.kind = "exited"
        code = getattr(ev, "exit_code", None)
        self.detail = f"exit code {code}" if code is not None else "exited"


def _duration_arg(text: str) -> int:
    try:
        return parse_duration(text)
    except GomemError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gomem watch",
        description="record the heap's allocation state while the process runs, "
        "and keep the last seconds for the crash",
    )
    p.add_argument("--interval", type=_duration_arg, default=250_000_000, help="default 250ms")
    p.add_argument("--keep", type=_duration_arg, default=10_000_000_000, help="default 10s")
    p.add_argument("--out", metavar="DIR", default="gomem-ring", help="default ./gomem-ring")
    p.add_argument(
        "--for",
        dest="limit",
        type=_duration_arg,
        metavar="DURATION",
        help="stop recording after this long even if nothing crashed",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _live_pid() -> int:
    inf = gdb.selected_inferior()
    if inf.pid == 0:
        raise GomemError(
            "no process to watch", "start it (`start`, `run` with a breakpoint) or `attach PID`"
        )
    if target_kind(inf) == "core":
        raise GomemError(
            "gomem watch records a live process, not a core",
            "load the program and `start` it, or `attach PID`",
        )
    return int(inf.pid)


def record(args: argparse.Namespace, current_process: Any, invalidate: Any) -> dict[str, Any]:
    """The recorder's loop; returns its summary (written to the ring's index too)."""
    pid = _live_pid()
    keep = max(1, args.keep // max(args.interval, 1) + 1)
    ring = Ring(keep=keep + 1, interval_ns=args.interval)
    stop = _Stop()
    gdb.events.stop.connect(stop.on_stop)
    gdb.events.exited.connect(stop.on_exit)
    bps = []
    for fn in CRASH_FUNCTIONS:
        try:
            bps.append(gdb.Breakpoint(fn, internal=True))
        except gdb.error:
            pass
    for cmd in (
        f"handle {TICK_NAME} stop print nopass",  # noprint would imply nostop
        "handle SIGURG nostop noprint pass",
        "handle SIGSEGV nostop noprint pass",
        "handle SIGPIPE nostop noprint pass",
    ):
        gdb.execute(cmd, to_string=True)
    start = time.monotonic()
    end = "?"
    crash: dict[str, Any] | None = None
    errors: list[str] = []

    # Interval snapshots: only the copy of the allocation state happens while the process
    # stands still (freeze); decoding waits for the end. The crash's is taken in full there.
    held: deque[tuple[Any, int, str, float]] = deque(maxlen=keep)
    pauses: list[float] = []

    def tick(reason: str) -> None:
        invalidate()
        stopped_at = time.time_ns()  # the state is the process's at this moment
        try:
            frozen, st = freeze(current_process())
        except GomemError as exc:
            errors.append(f"{reason}: {exc}")
            return
        pauses.append(st.seconds)
        held.append((frozen, stopped_at, reason, st.seconds))

    def crash_snap(reason: str) -> None:
        invalidate()
        stopped_at = time.time_ns()
        t0 = time.perf_counter()
        try:
            s, _ = take_snapshot(current_process(), label=reason, typed=True)
        except GomemError as exc:
            errors.append(f"{reason}: {exc}")
            return
        final.append(RingEntry(s, stopped_at, reason, time.perf_counter() - t0))

    final: list[RingEntry] = []

    try:
        tick("start")
        for _ in range(MAX_STOPS):
            if args.limit is not None and (time.monotonic() - start) * 1e9 >= args.limit:
                end = "--for elapsed"
                break
            # gdb holds Python's lock while the inferior runs, so no thread of ours could
            # send the tick: a small shell does, and is killed if something else stops first.
            timer = subprocess.Popen(
                [
                    "/bin/sh",
                    "-c",
                    f"sleep {args.interval / 1e9:.6f}; exec kill -{TICK_NAME[3:]} {pid}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stop.kind = ""
            try:
                gdb.execute("continue", to_string=True)
            except gdb.error as exc:
                if stop.kind != "exited":
                    errors.append(f"continue: {exc}")
                end = stop.detail or "the process is gone"
                break
            finally:
                if timer.poll() is None:
                    timer.kill()
                timer.wait()
            if stop.kind == "exited" or not gdb.selected_inferior().pid:
                end = f"the process exited ({stop.detail})"
                break
            crashed = (
                stop.kind == "breakpoint" and any(f in stop.detail for f in CRASH_FUNCTIONS)
            ) or (stop.kind == "signal" and stop.detail in CRASH_SIGNALS)
            if crashed:
                crash_snap(f"crash: {stop.detail}")
                crash = {"where": stop.detail, "unix_ns": time.time_ns()}
                end = f"crash ({stop.detail})"
                break
            if stop.kind == "signal" and stop.detail not in (TICK_NAME, "SIGSTOP"):
                # SIGINT: Ctrl-C. Anything else stops the recording too (it is the user's).
                end = (
                    "interrupted (Ctrl-C)"
                    if stop.detail == "SIGINT"
                    else f"stopped by {stop.detail}"
                )
                break
            tick("interval")
    finally:
        for b in bps:
            try:
                b.delete()
            except (gdb.error, RuntimeError):
                pass
        gdb.events.stop.disconnect(stop.on_stop)
        gdb.events.exited.disconnect(stop.on_exit)
        gdb.execute(f"handle {TICK_NAME} nostop noprint pass", to_string=True)
    # The process's run under the recorder (the crash's own full snapshot is not part of it).
    wall = time.monotonic() - start - sum(e.pause_s for e in final)
    t_dec = time.perf_counter()
    for frozen, at, reason, pause in held:
        try:
            s, _ = take_snapshot(frozen, label=reason, typed=False, profile=False)
        except GomemError as exc:
            errors.append(f"{reason}: {exc}")
            continue
        ring.add(RingEntry(s, at, reason, pause))
    decode_s = time.perf_counter() - t_dec
    for e in final:
        ring.add(e)
    cost = {
        "snapshots": len(pauses),
        "pause_median_s": round(statistics.median(pauses), 6) if pauses else None,
        "pause_max_s": round(max(pauses), 6) if pauses else None,
        "pause_total_s": round(sum(pauses), 6),
        "wall_s": round(wall, 6),
        "stopped_share": round(sum(pauses) / wall, 4) if wall > 0 else None,
        "crash_snapshot_s": round(final[0].pause_s, 6) if final else None,
        "decode_s": round(decode_s, 6),
    }
    summary: dict[str, Any] = {
        "end": end,
        "crash": crash,
        "interval_ns": args.interval,
        "keep": keep,
        "kept": len(ring.entries),
        "cost": cost,
        "errors": errors,
        "out": None,
    }
    if ring.entries:
        summary["out"] = str(ring.write(args.out, {"end": end, "crash": crash, "cost": cost}))
    return summary


def render(s: dict[str, Any]) -> str:
    c = s["cost"]
    lines = [
        f"Recorder     ended: {s['end']}",
        f"Ring         {s['kept']} snapshot(s) kept of {c['snapshots'] + bool(s['crash'])} taken, "
        f"every {s['interval_ns'] / 1e6:g} ms" + (f", written to {s['out']}" if s["out"] else ""),
    ]
    if c["snapshots"]:
        lines.append(
            f"Cost         pause median {c['pause_median_s'] * 1e3:.1f} ms, max "
            f"{c['pause_max_s'] * 1e3:.1f} ms, total {c['pause_total_s']:.2f} s of "
            f"{c['wall_s']:.2f} s ({c['stopped_share'] * 100:.1f}% of the wall time stopped); "
            f"decoding afterwards {c['decode_s']:.2f} s"
            + (
                f", the crash's full snapshot {c['crash_snapshot_s']:.2f} s"
                if c["crash_snapshot_s"] is not None
                else ""
            )
        )
    if s["crash"]:
        lines.append(
            "note: the process is stopped at the crash; `gcore FILE` keeps it, and "
            f"`gomem window DURATION --ring {s['out']}` tells what was allocated in the last "
            "intervals"
        )
    lines += [f"error: {e}" for e in s["errors"]]
    return "\n".join(lines)


class GomemWatch(gdb.Command):
    """Record the heap while the process runs, keep the last seconds, write them on a crash.

    gomem watch [--interval 250ms] [--keep 10s] [--out DIR] [--for DURATION] [--json]"""

    def __init__(self, current_process: Any, invalidate: Any) -> None:
        super().__init__("gomem watch", gdb.COMMAND_RUNNING)
        self.current_process = current_process
        self.invalidate = invalidate

    def invoke(self, arg: str, from_tty: bool) -> None:
        from gdb_gomem.frontends.gdb import parse_in_gdb, run_guarded

        args = parse_in_gdb(_parser(), arg)
        if args is None:
            return

        def run() -> str:
            s = record(args, self.current_process, self.invalidate)
            return json.dumps(s, indent=2) if args.json else render(s)

        run_guarded("gomem watch", run)
