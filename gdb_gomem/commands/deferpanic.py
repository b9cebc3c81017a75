"""``gomem defers`` and ``gomem panics``: pending deferred calls and panics in flight.

Argument parsing (which goroutines) and printing only; the documents come from
:mod:`gdb_gomem.reports.deferpanic`.
"""

from __future__ import annotations

import argparse

from gdb_gomem.base.errors import GomemError
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes
from gdb_gomem.commands.registry import command
from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.reports.deferpanic import defers_doc, panics_doc
from gdb_gomem.reports.schema.goroutines import (
    ClosureDoc,
    DefersDoc,
    PanicsDoc,
)
from gdb_gomem.target.process import GoProcess


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("gid", nargs="?", type=int, help="only this goroutine id")
    p.add_argument(
        "--all", action="store_true", help="every goroutine, also those with nothing to show"
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one line per record/slot, with closure details",
    )


def _select(proc: GoProcess, args: argparse.Namespace) -> list[Goroutine]:
    tab = goroutines(proc)
    if args.gid is not None:
        g = tab.by_id(args.gid)
        if g is None:
            raise GomemError(
                f"no goroutine {args.gid} in the target",
                "list them with `gomem goroutines`; dead goroutines are not kept",
            )
        return [g]
    return tab.all


# ---------------------------------------------------------------------- defers


@command(
    "defers",
    "pending deferred calls per goroutine (heap, stack, open-coded) and what "
    "their closures keep alive",
    _configure,
)
def run_defers(proc: GoProcess, args: argparse.Namespace) -> DefersDoc:
    return defers_doc(proc, _select(proc, args), show_all=args.all or args.gid is not None)


def _short(file: str, line: int) -> str:
    return f"{file.rsplit('/', 1)[-1]}:{line}" if file else ""


def _closure_line(cl: ClosureDoc | None) -> str | None:
    if not cl or cl["where"] == "static":
        return None
    size = f"{cl['size']} B" if cl["size"] is not None else "size unknown"
    s = f"closure {c.address(cl['addr'])} on the {cl['where']}, {size} ({cl['size_source']})"
    caps = []
    for cap in cl["captures"]:
        pt = cap["points_to"]
        if pt is None:
            caps.append(f"+{cap['offset']} = {cap['word']}")
            continue
        tgt = pt["where"]
        if pt["where"] == "heap":
            tgt = f"heap object {pt['base']} ({pt['size']} B)"
        elif pt["what"]:
            tgt += f" {pt['what']}"
        caps.append(f"+{cap['offset']} -> {cap['word']} {tgt}")
    if caps:
        s += "; captures " + ", ".join(caps)
    if cl["retained_heap_bytes"]:
        s += f"; keeps {human_bytes(cl['retained_heap_bytes'])} of heap alive"
    return s


def _deferred(deferred: str | None, func: str | None) -> str:
    """The deferred function, and the wrapper that calls it when that is another one."""
    name = deferred or "?"
    if func and func != deferred:
        return f"{c.name(name)} {c.hint('via ' + func)}"
    return c.name(name)


@run_defers.renderer
def render_defers(doc: DefersDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    t = doc["totals"]
    if args.gid is None:
        out.append(
            c.title(f"{t['goroutines']} goroutine(s) with pending defers: ")
            + f"{c.number(t['heap'])} heap, {c.number(t['stack'])} stack, "
            f"{c.number(t['open'])} open-coded"
        )
    for gd in doc["goroutines"]:
        cnt = gd["counts"]
        head = f"goroutine {c.number(gd['goroutine'])}  [{gd['wait_reason'] or gd['status']}]"
        if gd["labels"]:
            head += "  " + c.hint(" ".join(f"{k}={v}" for k, v in sorted(gd["labels"].items())))
        out.append("")
        out.append(head)
        order = c.hint("   (next to run first)") if gd["pending"] else ""
        out.append(
            f"  pending: {cnt['heap']} heap, {cnt['stack']} stack, {cnt['open']} open-coded{order}"
        )
        if args.verbose:
            for d in gd["pending"]:
                where = d.get("record") or d.get("slot_addr")
                stmt = f" defer@{d['defer_line']}" if d.get("defer_line") else ""
                out.append(
                    f"  {d['kind']:<6} {c.name(d['frame']):<28} "
                    f"{_short(d['file'], d['line']) + stmt:<24} {c.address(where)}  "
                    f"{_deferred(d['deferred'], d['func'])}"
                )
                cl = _closure_line(d["closure"])
                if cl:
                    out.append("         " + cl)
        else:
            for f in gd["frames"]:
                group = [
                    p
                    for p in gd["pending"]
                    if p["sp"] == f["sp"]
                    and p["kind"] == f["kind"]
                    and p["deferred"] == f["deferred"]
                ]
                first = group[0] if group else None
                where = _short(first["file"], first["line"]) if first else ""
                what = _deferred(f["deferred"], first["func"] if first else None)
                out.append(
                    f"  {c.name(f['func']):<28} {where:<16} {f['kind']:<6} x{f['count']:<3} {what}"
                )
                seen = set()
                for p in group:
                    cl = _closure_line(p["closure"])
                    if cl and cl not in seen:
                        seen.add(cl)
                        out.append("      " + cl)
        for r in gd["records"]:
            if r["kind"] == "open-frame":
                note = f"(Go 1.21 panic bookkeeping, started={r['started']})"
                out.append(c.hint(f"  open-frame record {r['record']} for {r['frame']} {note}"))
        for of in gd["open_frames"]:
            for s in of["slots"]:
                if s["state"] == "ran":
                    out.append(
                        c.hint(
                            f"  already ran: {s['deferred']} deferred by {of['func']} "
                            "(open-coded slot stored, bit cleared: run by a panic "
                            "or Goexit)"
                        )
                    )
        for e in gd["errors"]:
            out.append(c.error(f"  error: {e}"))
    pools = doc["defer_pools"]
    if pools["total"] or pools["errors"]:
        per = ", ".join(f"P{x['p']}: {x['records']}" for x in pools["per_p"])
        size = f", {human_bytes(pools['bytes'])}" if pools["bytes"] else ""
        out.append("")
        out.append(
            f"runtime defer pools: {c.number(pools['total'])} free _defer records "
            f"({per}, global: {pools['global']}{size})"
        )
        for e in pools["errors"]:
            out.append(c.error(f"  error: {e}"))
    for e in doc["errors"]:
        out.append(c.error(f"error: {e}"))
    return "\n".join(out).lstrip("\n")


# ---------------------------------------------------------------------- panics


@command("panics", "panics in flight per goroutine: value, flags, where each started", _configure)
def run_panics(proc: GoProcess, args: argparse.Namespace) -> PanicsDoc:
    return panics_doc(proc, _select(proc, args), show_all=args.all or args.gid is not None)


@run_panics.renderer
def render_panics(doc: PanicsDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    n = sum(len(d["panics"]) for d in doc["goroutines"])
    if args.gid is None:
        out.append(
            c.title(f"{n} panic(s) in flight")
            + (c.hint(" (recovered panics are not kept by the runtime)") if not n else "")
        )
    for d in doc["goroutines"]:
        tag = c.error("  crashing") if d["crashing"] else ""
        out.append("")
        out.append(
            f"goroutine {c.number(d['goroutine'])}  [{d['wait_reason'] or d['status']}]{tag}"
        )
        if not d["panics"] and not d["errors"]:
            out.append("  no panic in flight")
        for i, p in enumerate(d["panics"]):
            v = p["value"]
            label = "panic" if i == 0 else "  interrupted"
            if p.get("goexit"):
                label = "runtime.Goexit"
            typ = v["type"] or "nil"
            text = repr(p["text"]) if v["kind"] == "string" else p["text"]
            out.append(f"  {label} {c.address(p['addr'])}: {c.error(text)}" + c.hint(f"  ({typ})"))
            flags = [
                f"{k}={str(p[k]).lower()}"
                for k in ("recovered", "aborted", "goexit", "repanicked")
                if p[k] is not None
            ]
            out.append("    " + c.hint(" ".join(flags)))
            sb, org = p["started_by"], p["origin"]
            if sb:
                s = f"    started in {c.name(sb['func'])} ({sb['file']}:{sb['line']})"
                if org and org["func"] != sb["func"]:
                    s += f", from {c.name(org['func'])} ({org['file']}:{org['line']})"
                out.append(s + c.hint(f"  [{p['start_source']}]"))
            if p["ran_defers"]:
                ran = ", ".join(f"{r['deferred']} (in {r['frame']})" for r in p["ran_defers"])
                out.append(f"    deferred calls already run (open-coded): {ran}")
        for e in d["errors"]:
            out.append(c.error(f"  error: {e}"))
    for e in doc["errors"]:
        out.append(c.error(f"error: {e}"))
    return "\n".join(out)
