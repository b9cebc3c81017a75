"""Commands: path, top, suspects (what keeps memory alive).

Argument parsing and printing only; the documents come from
:mod:`gdb_gomem.reports.retention`.
"""

from __future__ import annotations

import argparse

from gdb_gomem.base.errors import GomemError
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes
from gdb_gomem.commands.registry import address_arg, command
from gdb_gomem.reports.retention import path_doc, suspects, top_retainers
from gdb_gomem.reports.schema.retention import (
    PathDoc,
    RootRefDoc,
    SuspectsDoc,
    TopObjectsDoc,
    TopTypesDoc,
)
from gdb_gomem.target.process import GoProcess


def _configure_path(p: argparse.ArgumentParser) -> None:
    p.add_argument("addr", type=address_arg, help="an address inside the object")
    p.add_argument(
        "--all",
        type=int,
        default=1,
        metavar="N",
        help="up to N paths, from distinct roots, shortest first",
    )


@command("path", "shortest chain from a named root to the object (SOS gcroot)", _configure_path)
def run_path(proc: GoProcess, args: argparse.Namespace) -> PathDoc:
    d = path_doc(proc, args.addr, max(1, args.all))
    if d["object"] is None:
        raise GomemError(
            f"{args.addr:#x} is not inside an allocated heap object",
            "`gomem span ADDR` tells what the address is",
        )
    return d


def _root_text(r: RootRefDoc | None) -> str:
    if r is None:
        # Held only through objects no named root holds alone (or runtime data gomem does
        # not name): there is no single root to show.
        return c.hint("(no single named root)")
    g = f" (goroutine {r['goroutine']})" if r.get("goroutine") is not None else ""
    return f"{r['kind']} {c.name(r['name'])}{g}"


@run_path.renderer
def render_path(d: PathDoc, args: argparse.Namespace) -> str:
    o = d["object"]
    assert o is not None  # run_path refuses an address outside the heap objects
    out = [
        c.title(f"{o['addr']} {o['type']} ({o['size']} B), {'live' if o['live'] else 'garbage'}")
    ]
    if not d["paths"]:
        out.append(c.warn(d["error"] or "no path"))
    for i, p in enumerate(d["paths"]):
        extra = f" (+{p['other_roots']} more root(s) hold it)" if p["other_roots"] else ""
        out.append(f"root: {_root_text(p['root'])}{c.hint(extra)}")
        for s in p["steps"]:
            out.append(
                f"  -> {c.address(s['addr'])} {c.name(s['type'])} {c.hint('via')} {s['via']}"
            )
        if i + 1 < len(d["paths"]):
            out.append("")
    out.append(c.title(f"Found {len(d['paths'])} path(s)"))
    return "\n".join(out)


def _configure_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=20, help="rows (default 20)")
    p.add_argument("--by", choices=("object", "type"), default="object")


@command(
    "top", "dominator tree: biggest retainers by retained size, per object or type", _configure_top
)
def run_top(proc: GoProcess, args: argparse.Namespace) -> TopObjectsDoc | TopTypesDoc:
    return top_retainers(proc, args.n, by_type=args.by == "type")


@run_top.renderer
def render_top(d: TopObjectsDoc | TopTypesDoc, args: argparse.Namespace) -> str:
    out = []
    if d["by"] == "type":
        out.append(c.title(f"{'COUNT':>9} {'SHALLOW':>11} {'RETAINED':>11}  TYPE"))
        for t in reversed(d["rows"]):
            kept = c.number(human_bytes(t["retained"]))
            out.append(
                f"{t['count']:>9} {human_bytes(t['shallow']):>11} {kept:>11}  {c.name(t['type'])}"
            )
        out.append(c.hint(d["note"]))
    else:
        out.append(c.title(f"{'RETAINED':>11} {'SHARE':>6} {'SHALLOW':>9}  OBJECT / ROOT"))
        for r in reversed(d["rows"]):
            out.append(
                f"{c.number(human_bytes(r['retained'])):>11} {100 * r['share']:5.1f}% "
                f"{human_bytes(r['shallow']):>9}  {c.address(r['addr'])} {c.name(r['type'])}"
                f"  {c.hint('<-')} {_root_text(r['root'])}"
            )
        if d.get("roots"):
            out.append(c.title("retained by root (objects only that root keeps):"))
            for rt in reversed(d["roots"]):
                out.append(f"{human_bytes(rt['retained']):>11}  {rt['root']}")
    out.append(c.title(f"live heap {human_bytes(d['live_bytes'])}"))
    return "\n".join(out)


@command("suspects", "leak suspects (Eclipse MAT style), each with the path that explains it")
def run_suspects(proc: GoProcess, args: argparse.Namespace) -> SuspectsDoc:
    return suspects(proc)


@run_suspects.renderer
def render_suspects(d: SuspectsDoc, args: argparse.Namespace) -> str:
    """One entry per root, ranked by what it costs, with every finding about it and the path
    that explains it (printed once)."""
    out = []
    for i, g in enumerate(d.get("by_root") or [], 1):
        size = human_bytes(g["bytes"]) if g["bytes"] else ""
        what = _root_text(g["root"]) if g["root"] else g["what"]
        out.append(c.title(f"Suspect {i}: {what}  {size}") + c.hint(f"  ({', '.join(g['kinds'])})"))
        path_shown = False
        for k in g["findings"]:
            s = d["suspects"][k]
            out.append(f"  {s['kind']}: {s['detail']}")
            if not path_shown and s.get("path"):
                path_shown = True
                for st in s.get("path") or []:
                    out.append(
                        f"    -> {c.address(st['addr'])} {c.name(st['type'])} "
                        f"{c.hint('via')} {st['via']}"
                    )
    out.append(
        c.title(
            f"{len(d.get('by_root') or [])} root(s) with {len(d['suspects'])} finding(s); "
            f"live heap {human_bytes(d['live_bytes'])}"
        )
    )
    return "\n".join(out)
