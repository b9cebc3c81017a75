"""``gomem defers`` and ``gomem panics``: pending deferred calls and panics in flight.

The documents are built in analysis/defers.py and analysis/panics.py; this module selects
goroutines, adds the process-wide parts (the runtime's free _defer pools, the crash) and prints.
"""

from __future__ import annotations

import argparse
from typing import Any

from gdb_gomem.base.errors import GomemError
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes
from gdb_gomem.commands.registry import Doc, command
from gdb_gomem.goroutines.allgs import Goroutine, goroutines
from gdb_gomem.goroutines.defers import defer_pools, goroutine_defers
from gdb_gomem.goroutines.panics import goroutine_panics
from gdb_gomem.goroutines.sched import m_for_thread, walk_ms
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


def _crash_goroutine(proc: GoProcess) -> int | None:
    if not proc.stop.crashed:
        return None
    ms, _err = walk_ms(proc)
    m = m_for_thread(ms, proc.stop.thread_lwp)
    return m.curg_goid if m else None


def _gmeta(g: Goroutine) -> dict[str, Any]:
    return {"status": g.status_name, "wait_reason": g.wait_reason or None, "labels": g.labels}


# ---------------------------------------------------------------------- defers


@command(
    "defers",
    "pending deferred calls per goroutine (heap, stack, open-coded) and what "
    "their closures keep alive",
    _configure,
)
def run_defers(proc: GoProcess, args: argparse.Namespace) -> Doc:
    sel = _select(proc, args)
    out = []
    totals = {"goroutines": 0, "heap": 0, "stack": 0, "open": 0, "retained_heap_bytes": 0}
    for g in sel:
        gd = goroutine_defers(proc, g)
        show = args.all or args.gid is not None or gd.any
        if not show:
            continue
        doc = {**gd.as_json(), **_gmeta(g)}
        out.append(doc)
        if gd.any:
            totals["goroutines"] += 1
        for k in ("heap", "stack", "open"):
            totals[k] += gd.counts[k]
        totals["retained_heap_bytes"] += sum(
            (d["closure"] or {}).get("retained_heap_bytes", 0) for d in doc["pending"]
        )
    pools = defer_pools(proc)
    notes = [
        "heap/stack counts are runtime._defer records on g._defer; open counts are set "
        "deferBits bits of frames with FUNCDATA_OpenCodedDeferInfo",
        "a closure's size is exact for stack closures (the frame's stack-object record) and "
        "inferred for heap ones (the span's element size: the closure's size class)",
    ]
    if any(f.get("kind") == "open-frame" for d in out for f in d["records"]):
        notes.append(
            "Go 1.21 keeps one 'open-frame' _defer per frame a panic is unwinding; "
            "it describes the frame, its calls are counted under 'open'"
        )
    return {
        "go_version": proc.go_version,
        "goroutines": out,
        "totals": totals,
        "defer_pools": pools.as_json(),
        "errors": list(goroutines(proc).errors),
        "notes": notes,
    }


def _short(file: str, line: int) -> str:
    return f"{file.rsplit('/', 1)[-1]}:{line}" if file else ""


def _closure_line(cl: dict[str, Any] | None) -> str | None:
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


def _deferred(d: dict[str, Any]) -> str:
    name = d["deferred"] or "?"
    if d.get("func") and d["func"] != d["deferred"]:
        return f"{c.name(name)} {c.hint('via ' + d['func'])}"
    return c.name(name)


@run_defers.renderer
def render_defers(doc: Doc, args: argparse.Namespace) -> str:
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
                    f"{_deferred(d)}"
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
                d = group[0] if group else {"file": "", "line": 0, "deferred": f["deferred"]}
                out.append(
                    f"  {c.name(f['func']):<28} {_short(d['file'], d['line']):<16}"
                    f" {f['kind']:<6} x{f['count']:<3} {_deferred(d)}"
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
def run_panics(proc: GoProcess, args: argparse.Namespace) -> Doc:
    sel = _select(proc, args)
    crash_g = _crash_goroutine(proc)
    out = []
    for g in sel:
        gp = goroutine_panics(proc, g)
        if not (args.all or args.gid is not None or gp.panics or gp.errors):
            continue
        out.append({**gp.as_json(), **_gmeta(g), "crashing": g.goid == crash_g})
    crash: dict[str, Any] | None = None
    if proc.stop.crashed:
        crash = {"goroutine": crash_g, "panic_value": None}
        for d in out:
            if d["goroutine"] == crash_g and d["panics"]:
                crash["panic_value"] = d["panics"][0]["text"]
    return {
        "go_version": proc.go_version,
        "goroutines": out,
        "crash": crash,
        "errors": list(goroutines(proc).errors),
        "notes": [
            "a recovered panic is unlinked from g._panic, so only panics still unwinding "
            "(or killing the program) are listed",
            "on the fatal path runtime.preprintpanics has replaced error/Stringer values by "
            "their text",
        ],
    }


@run_panics.renderer
def render_panics(doc: Doc, args: argparse.Namespace) -> str:
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
            names = ("recovered", "aborted", "goexit", "repanicked")
            flags = [f"{k}={str(p[k]).lower()}" for k in names if p[k] is not None]
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
