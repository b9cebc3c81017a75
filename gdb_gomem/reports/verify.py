"""Document of ``gomem verify``: the heap consistency checks of :mod:`gdb_gomem.heap.verify`."""

from __future__ import annotations

from gdb_gomem.base.fmt import hexaddr
from gdb_gomem.heap.verify import verify_heap
from gdb_gomem.reports.schema.verify import VerifyDoc
from gdb_gomem.target.process import GoProcess


def verify_doc(proc: GoProcess) -> VerifyDoc:
    """Every check's count of things checked and problems found, and the problems listed."""
    v = verify_heap(proc)
    return {
        "checks": [
            {"check": ch.check, "checked": ch.checked, "errors": ch.errors} for ch in v.checks
        ],
        "objects": v.objects,
        "errors": v.errors,
        "problems": [
            {"kind": p.kind, "addr": hexaddr(p.addr), "detail": p.detail} for p in v.problems
        ],
    }
