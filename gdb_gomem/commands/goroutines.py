"""Commands: goroutines, goroutine, threads, timers (what the scheduler holds).

Argument parsing and printing only; the documents come from
:mod:`gdb_gomem.reports.goroutines` and :mod:`gdb_gomem.reports.timers`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import cast

from gdb_gomem.base.errors import GomemError
from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import table, trailer
from gdb_gomem.commands.registry import command
from gdb_gomem.goroutines.groups import GROUP_KEYS
from gdb_gomem.heap.leaks import LEAKS
from gdb_gomem.reports.goroutines import (
    goroutines_doc,
    groups_doc,
    select,
    single_goroutine_doc,
    threads_report,
)
from gdb_gomem.reports.schema.common import FrameDoc, SiteDoc
from gdb_gomem.reports.schema.goroutines import (
    GoroutineGroupsDoc,
    GoroutinesDoc,
    LeakGroupDoc,
    SingleGoroutineDoc,
    ThreadFrameDoc,
    ThreadsDoc,
)
from gdb_gomem.reports.schema.timers import TimersDoc
from gdb_gomem.reports.timers import timers_doc
from gdb_gomem.target.process import GoProcess

GROUPS = GROUP_KEYS


def _duration(ns: int | None) -> str:
    if ns is None:
        return "-"
    s = ns / 1e9
    if s < 1:
        return f">={ns / 1e6:.0f}ms"
    if s < 120:
        return f">={s:.1f}s"
    if s < 7200:
        return f">={s / 60:.0f}m"
    return f">={s / 3600:.1f}h"


def _labels(d: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(d.items())) or "-"


def _site(s: SiteDoc | None) -> str:
    if not s or not s.get("func"):
        return "-"
    return f"{s['func']} ({s['file']}:{s['line']})"


def _user_frame(frames: list[FrameDoc]) -> FrameDoc | None:
    """The innermost frame outside the runtime: where the goroutine's own code is."""
    for f in frames:
        if not f["func"].startswith(("runtime.", "internal/runtime/")):
            return f
    return frames[0] if frames else None


def _parse_label(s: str) -> tuple[str, str]:
    k, sep, v = s.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--label wants key=value, got {s!r}")
    return k, v


def _configure_goroutines(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state",
        help="only this status (waiting, runnable, running, syscall, ...) "
        "or wait reason ('chan receive')",
    )
    p.add_argument(
        "--label",
        action="append",
        type=_parse_label,
        default=[],
        metavar="K=V",
        help="only goroutines with this pprof label (repeatable)",
    )
    p.add_argument(
        "--group-by", choices=GROUPS, help="collapse identical goroutines into one row with a count"
    )
    p.add_argument("--no-frames", action="store_true", help="skip stack unwinding (faster)")
    p.add_argument(
        "--leaked",
        action="store_true",
        help="only goroutines that can never wake: blocked on a channel nothing live can reach "
        "(Go 1.26's leak-profile algorithm, on the core's heap graph)",
    )


@command(
    "goroutines",
    "goroutines with status, wait, labels, creation site; --group-by for leaks",
    _configure_goroutines,
)
def run_goroutines(proc: GoProcess, args: argparse.Namespace) -> GoroutinesDoc | GoroutineGroupsDoc:
    ids = None
    notes: list[str] = []
    groups: list[LeakGroupDoc] | None = None
    if getattr(args, "leaked", False):
        lk = LEAKS(proc)
        ids = [g.goid for g in lk.leaked]
        notes = [
            f"{len(ids)} goroutine(s) can never wake ({lk.rounds} marking round(s)): "
            f"{lk.stack_bytes} bytes of stacks, {lk.retained_bytes} bytes of heap only they "
            "keep alive",
        ]
        groups = []
        for grp in lk.groups:
            kept = "not computed" if grp.retained_bytes is None else f"{grp.retained_bytes}"
            notes.append(
                f"leak group: {len(grp.ids)} in {grp.where} ({grp.wait_reason}), created by "
                f"{grp.created_by or '?'}: {grp.stack_bytes} bytes of stacks, {kept} bytes "
                "of heap only this group keeps"
            )
            groups.append(
                {
                    "ids": grp.ids,
                    "where": grp.where,
                    "wait_reason": grp.wait_reason,
                    "created_by": grp.created_by,
                    "stack_bytes": grp.stack_bytes,
                    "retained_bytes": grp.retained_bytes,
                }
            )
        notes.extend(lk.notes)
    gs = select(proc, state=args.state, labels=dict(args.label) or None, ids=ids)
    if args.group_by:
        gd = groups_doc(proc, gs, args.group_by)
        gd["notes"] = [*gd.get("notes", []), *notes]
        return gd
    doc = goroutines_doc(proc, gs, frames=not args.no_frames)
    doc["notes"] = [*doc["notes"], *notes]
    if groups is not None:
        doc["leak_groups"] = groups
    return doc


@run_goroutines.renderer
def render_goroutines(d: GoroutinesDoc | GoroutineGroupsDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    if "groups" in d:
        gd = cast("GoroutineGroupsDoc", d)
        out.append(
            c.title(
                f"{'COUNT':>6}  {'STATUS':9} {'WAIT':24} {'MAX WAITED':>10}  "
                f"GROUP ({gd['group_by']})"
            )
        )
        for r in gd["groups"]:
            if gd["group_by"] == "stack":
                key = " <- ".join(f["func"] for f in r["frames"][:4]) or "-"
            elif gd["group_by"] == "creation":
                key = f"created by {_site(r['created_by'])} start {r['start_func'] or '-'}"
            else:
                key = ""
            ids = " ".join(str(i) for i in r["ids"][:12]) + (" ..." if len(r["ids"]) > 12 else "")
            out.append(
                f"{c.number(r['count']):>6}  {r['status']:9} {r['wait_reason'] or '-':24} "
                f"{_duration(r['max_waited_at_least_ns']):>10}  {key}"
            )
            out.append(c.hint(f"{'':8}ids {ids}"))
        out.append(
            c.title(f"{len(gd['groups'])} group(s), {gd['selected']} goroutine(s) of {gd['total']}")
        )
    else:
        out.append(c.title(f"{'ID':>7}  {'STATUS':9} {'WAIT':24} {'WAITED':>8}  {'LABELS':24} AT"))
        for g in d["goroutines"]:
            at = _user_frame(g.get("frames", []))
            where = f"{at['func']} ({at['file']}:{at['line']})" if at else "-"
            out.append(
                f"{c.number(g['id']):>7}  {g['status']:9} {g['wait_reason'] or '-':24} "
                f"{_duration(g['waited_at_least_ns']):>8}  {_labels(g['labels']):24} "
                f"{c.name(where)}"
            )
            extra = []
            if g["created_by"] and g["created_by"].get("func"):
                gid = g["created_by"].get("goroutine")
                extra.append(
                    f"created by {_site(g['created_by'])}" + (f" in goroutine {gid}" if gid else "")
                )
            if g["locked_to_thread"] is not None:
                extra.append(f"locked to M{g['locked_to_thread']}")
            if g.get("defers"):
                extra.append(f"{len(g['defers'])} defer(s)")
            if g.get("panics"):
                extra.append(f"{len(g['panics'])} panic(s)")
            if extra:
                out.append(c.hint(" " * 9 + "; ".join(extra)))
        out.append(c.title(f"{len(d['goroutines'])} goroutine(s) of {d['total']}"))
    for n in d.get("notes", []):
        out.append(c.warn(f"note: {n}"))
    return "\n".join(out)


def _configure_goroutine(p: argparse.ArgumentParser) -> None:
    p.add_argument("gid", type=int, help="goroutine id")
    p.add_argument("what", nargs="?", choices=("bt",), help="bt: only the backtrace")


@command(
    "goroutine",
    "one goroutine: state, labels, creation, full backtrace, defers, panics",
    _configure_goroutine,
)
def run_goroutine(proc: GoProcess, args: argparse.Namespace) -> SingleGoroutineDoc:
    gs = select(proc, ids=[args.gid])
    if not gs:
        raise GomemError(
            f"no goroutine {args.gid}", "`gomem goroutines` lists the live goroutine ids"
        )
    return single_goroutine_doc(proc, gs[0])


def _frames_text(frames: Sequence[FrameDoc | ThreadFrameDoc], error: str | None) -> list[str]:
    out = []
    for i, f in enumerate(frames):
        inl = c.hint(" (inlined)") if f.get("inlined") else ""
        on = f.get("stack")  # threads: the stack the frame is on
        stack = c.hint(f"  [{on}]") if on else ""
        out.append(f"#{i:<3} {c.name(f['func'])}{inl}{stack}")
        out.append(
            f"     {f['file']}:{f['line']}  {c.hint('pc')} {c.address(f['pc'])} "
            f"{c.hint('sp')} {c.address(f['sp'])}"
        )
        for v in f.get("locals", []) or []:
            ty = c.hint(f" {v['type']}") if v.get("type") else ""
            out.append(f"       {c.name(v['name'])}{ty} = {v['value']}")
    if error:
        out.append(c.warn(f"(backtrace stopped: {error})"))
    return out


def _record_line(kind: str, rec: Mapping[str, object]) -> str:
    """A defer or panic record on one line: a panic by its value's text, then the scalar
    fields that are set (nested records are in --json)."""
    head = ""
    if kind == "panic" and rec.get("text") is not None:
        head = f"{rec['text']!r}; "
    pairs = [
        f"{k}={v}"
        for k, v in rec.items()
        if v not in (None, "", [], False) and not isinstance(v, dict | list) and k != "text"
    ]
    return c.hint(f"  {kind}: ") + head + ", ".join(pairs)


@run_goroutine.renderer
def render_goroutine(d: SingleGoroutineDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    if args.what != "bt":
        head = f"goroutine {c.number(d['id'])} [{d['status']}"
        if d["wait_reason"]:
            head += f", {d['wait_reason']}, {_duration(d['waited_at_least_ns'])}"
        out.append(c.title(head + "]") + c.hint(f"  g {d['addr']}"))
        out.append(f"  labels      {_labels(d['labels'])}")
        out.append(f"  start       {d['start_func'] or '-'}")
        gid = d["created_by"]["goroutine"] if d["created_by"] else None
        out.append(
            f"  created by  {_site(d['created_by'])}" + (f" in goroutine {gid}" if gid else "")
        )
        st = d["stack"]
        out.append(f"  stack       {st['lo']}-{st['hi']} ({st['size']} B)")
        if d["locked_to_thread"] is not None:
            out.append(f"  locked to   M{d['locked_to_thread']}")
    out.extend(_frames_text(d.get("frames", []), d.get("frames_error")))
    if args.what != "bt":
        out.extend(_record_line("defer", rec) for rec in d.get("defers") or [])
        out.extend(_record_line("panic", rec) for rec in d.get("panics") or [])
    for n in d.get("notes", []):
        out.append(c.warn(f"note: {n}"))
    return "\n".join(out)


def _configure_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bt",
        choices=("crash", "all", "none"),
        default="crash",
        help="which threads get a backtrace (default: the crashing one)",
    )


@command(
    "threads",
    "OS threads: M, P, g0/gsignal stacks, curg; the crashing thread's backtrace",
    _configure_threads,
)
def run_threads(proc: GoProcess, args: argparse.Namespace) -> ThreadsDoc:
    return threads_report(proc, backtraces=args.bt)


@run_threads.renderer
def render_threads(d: ThreadsDoc, args: argparse.Namespace) -> str:
    out = [c.title(f"{'LWP':>8} {'M':>4} {'P':>4} {'CURG':>6}  {'ON STACK':14} AT")]
    for t in d["threads"]:
        w = t["where"]
        at = f"{w['func']} ({w['file']}:{w['line']})" if w else t["pc"]
        mark = c.error(" <- crashed") if t["crashed"] else ""
        dash = "-"
        out.append(
            f"{t['lwp']:>8} {t['m'] if t['m'] is not None else dash:>4} "
            f"{t['p'] if t['p'] is not None else dash:>4} "
            f"{t['curg'] if t['curg'] is not None else dash:>6}  "
            f"{t['on_stack'] or '-':14} {c.name(at)}{mark}"
        )
        if "frames" in t:
            out.extend("    " + ln for ln in _frames_text(t["frames"], t.get("frames_error")))
    out.append(c.title(f"{len(d['threads'])} thread(s), {d['ms']} M(s)"))
    for n in d.get("notes", []):
        out.append(c.warn(f"note: {n}"))
    return "\n".join(out)


# ----------------------------------------------------------------------------- timers


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
