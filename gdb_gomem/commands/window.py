"""Command: window DURATION (what was allocated shortly before the crash).

Argument parsing and printing only; the document comes from :mod:`gdb_gomem.reports.window`.
"""

from __future__ import annotations

import argparse

from gdb_gomem.base.errors import GomemError
from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes, kv, table, trailer
from gdb_gomem.commands.registry import command
from gdb_gomem.reports import window as window_docs
from gdb_gomem.reports.objects import SOURCE_TRACE, SOURCE_TRACE_END
from gdb_gomem.reports.schema.objects import AllocBoundDoc
from gdb_gomem.reports.schema.window import WindowDoc
from gdb_gomem.reports.snapshots import ring_window_doc
from gdb_gomem.target.process import GoProcess


def _duration(text: str) -> int:
    try:
        return window_docs.parse_duration(text)
    except GomemError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; {exc.hint}" if exc.hint else str(exc)) from None


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "duration",
        type=_duration,
        metavar="DURATION",
        help="how far back from the crash: 1.7s, 250ms, 2m, 1m30s",
    )
    p.add_argument(
        "--type",
        metavar="REGEX",
        help="only types whose name matches this regex (re.search), or =NAME for exactly NAME",
    )
    p.add_argument(
        "--by",
        choices=("type", "stack", "goroutine"),
        default="type",
        help="group by type (default), sampled allocation stack, or goroutine (needs a trace)",
    )
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="list at most N objects (text: lists them; --json lists all unless given)",
    )
    p.add_argument(
        "--live",
        dest="which",
        action="store_const",
        const="live",
        default="all",
        help="reachable objects only (default: every allocated object, reachable or not)",
    )
    p.add_argument(
        "--ring",
        metavar="DIR",
        help="answer from a live recorder's ring (gomem watch --out DIR), exact to its "
        "interval; no core needed",
    )


@command(
    "window",
    "heap objects allocated in the last DURATION before the crash, as far as the core proves",
    _configure,
)
def run_window(proc: GoProcess, args: argparse.Namespace) -> WindowDoc:
    # JSON lists every object unless --limit; text lists objects only with --limit, so it
    # builds none (a million entries on a big heap cost seconds for nothing).
    limit = args.limit if args.limit is not None or args.json else 0
    if args.ring:
        return ring_window_doc(args.ring, args.duration, args.type, args.by, limit)
    return window_docs.window_doc(
        proc,
        args.duration,
        args.type,
        args.by,
        limit,
        getattr(args, "which", None) or "all",
    )


def bound_text(b: AllocBoundDoc) -> str:
    """``after 11:05:03.120 (GC #7 ended), before the crash; source gc-epoch`` (UTC), or
    ``at 11:05:03.120456 (execution trace, goroutine 12)`` for a traced allocation."""
    after, before = b["after_unix_ns"], b["before_unix_ns"]
    if b["source"] == "ring" and after is not None:
        return (
            f"after {window_docs.clock_text(after)}, before {window_docs.clock_text(before)} "
            "(two snapshots of the recorder's ring); source ring"
        )
    if b["source"] == SOURCE_TRACE and after is not None:
        g = b.get("goroutine")
        who = f", goroutine {g}" if g is not None else ""
        return f"at {window_docs.clock_text(after)} (execution trace{who}); source trace"
    if after is None:
        head = "at an unknown time"
    elif b["source"] == SOURCE_TRACE_END:
        head = f"after {window_docs.clock_text(after)} (the execution trace's last event)"
    else:
        head = f"after {window_docs.clock_text(after)} (GC #{b.get('after_gc')} ended)"
    if b.get("before_gc") is not None:
        tail = f"before {window_docs.clock_text(before)} (GC #{b.get('before_gc')} ended)"
    else:
        tail = "before the crash"
    return f"{head}, {tail}; source {b['source']}"


@run_window.renderer
def render_window(d: WindowDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    ct = d["crash_time"]
    when = unix_ns_to_iso(ct["unix_ns"]) if ct["unix_ns"] else None
    span = ""
    if ct["lo_unix_ns"] and ct["hi_unix_ns"]:
        span = (
            f", between {window_docs.clock_text(ct['lo_unix_ns'])} and "
            f"{window_docs.clock_text(ct['hi_unix_ns'])}"
        )
    elif ct["lo_unix_ns"]:
        span = f", no earlier than {window_docs.clock_text(ct['lo_unix_ns'])}"
    out.append(kv("Crash", f"{when or 'unknown'}  (estimate from {ct['source']}{span})"))
    start = d["bound"]["window_start_unix_ns"]
    out.append(
        kv(
            "Window",
            f"the last {window_docs.span_text(d['duration_ns'])}"
            + (f", from {window_docs.clock_text(start)} (UTC)" if start else ""),
        )
    )
    b = d["bound"]
    kind = c.name(b["kind"]) if b["kind"] == "window" else c.warn(b["kind"])
    out.append(kv("Bound", f"[{kind}] {c.title(b['text'])}"))
    out.append("")
    head = {"type": "TYPE", "stack": "ALLOCATION STACK", "goroutine": "GOROUTINE"}[d["by"]]
    rows = [[c.number(str(r["count"])), c.number(str(r["bytes"])), r["type"]] for r in d["rows"]]
    out += table(["COUNT", "BYTES", head], rows, {0, 1})
    t = d["total"]
    sel = "allocated (reachable or not)" if d["selection"] == "all" else "live"
    out.append(
        f"Total {c.number(str(t['count']))} objects, {c.number(str(t['bytes']))} bytes "
        f"({human_bytes(t['bytes'])}), {len(d['rows'])} rows; {sel}"
    )
    u = d["undecided"]
    if u["count"]:
        older = window_docs.clock_text(u["older_than_unix_ns"])
        out.append(
            f"Not listed: {u['count']} objects ({human_bytes(u['bytes'])}) allocated at an "
            f"unknown time before {older}: they may or may not be in the window"
        )
    if args.limit and d["objects"]:
        out.append("")
        orows = []
        for o in d["objects"]:
            extra = ""
            st = o.get("stack")
            if st:
                k = 0
                while k < len(st) - 1 and str(st[k].get("func", "")).startswith("runtime."):
                    k += 1
                extra = str(st[k].get("func", st[k]["pc"]))
            orows.append(
                [c.address(o["addr"]), str(o["size"]), o["type"], bound_text(o["allocated"]), extra]
            )
        out += table(["ADDRESS", "SIZE", "TYPE", "ALLOCATED", ""], orows, {1})
        if d["shown"] < t["count"]:
            out.append(f"(first {d['shown']} of {t['count']} shown)")
    out.append("")
    out += [kv("Sources", s) if i == 0 else kv("", s) for i, s in enumerate(d["sources"])]
    return "\n".join(out + trailer(d))


@run_window.without_target
def run_window_ring(args: argparse.Namespace) -> WindowDoc:
    if not args.ring:
        raise GomemError(
            "gomem window needs a core (--core) or a recorder ring (--ring DIR)",
            "give the core the crash left, or the directory gomem watch wrote",
        )
    limit = args.limit if args.limit is not None or args.json else 0
    return ring_window_doc(args.ring, args.duration, args.type, args.by, limit)
