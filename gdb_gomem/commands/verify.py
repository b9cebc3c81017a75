"""Command: verify (heap consistency, in the manner of SOS ``verifyheap``).

Printing only; the checks are :mod:`gdb_gomem.heap.verify` and the document
:mod:`gdb_gomem.reports.verify` (``verify_doc`` is re-exported here for its older callers).
"""

from __future__ import annotations

import argparse

from gdb_gomem.commands import colors as c
from gdb_gomem.commands.registry import command
from gdb_gomem.reports.schema.verify import VerifyDoc
from gdb_gomem.reports.verify import verify_doc
from gdb_gomem.target.process import GoProcess

__all__ = ["render_verify", "run_verify", "verify_doc"]


@command("verify", "heap consistency: allocCount vs bitmaps, arena map, dangling pointers")
def run_verify(proc: GoProcess, args: argparse.Namespace) -> VerifyDoc:
    return verify_doc(proc)


@run_verify.renderer
def render_verify(d: VerifyDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    w = max(len(ch["check"]) for ch in d["checks"]) if d["checks"] else 5
    out.append(c.label(f"{'check'.ljust(w)}  {'checked':>10}  {'errors':>7}"))
    for ch in d["checks"]:
        e = ch["errors"]
        err = c.error(f"{e:>7}") if e else f"{e:>7}"
        out.append(f"{ch['check'].ljust(w)}  {ch['checked']:>10}  {err}")
    if d["problems"]:
        out.append("")
        for p in d["problems"]:
            out.append(f"{c.error(p['kind'])}  {p['addr']}  {p['detail']}")
        if d["errors"] > len(d["problems"]):
            out.append(f"... {d['errors'] - len(d['problems'])} more")
    out.append("")
    summary = f"{d['objects']} objects verified, {d['errors']} errors"
    out.append(c.error(summary) if d["errors"] else summary)
    return "\n".join(out)
