"""Free ``_defer`` records the runtime keeps for reuse: ``p.deferpool`` and ``sched.deferpool``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import GomemError
from gdb_gomem.goroutines.closures import heap_lookup
from gdb_gomem.goroutines.deferrecords import MAX_DEFERS
from gdb_gomem.target.process import GoProcess


@dataclass
class DeferPools:
    """Free ``_defer`` records cached by the runtime (``p.deferpool``, ``sched.deferpool``).

    ``newdefer`` takes heap records from these lists and ``freedefer`` returns them, so they
    are allocated heap memory that no goroutine's defer list references.
    """

    per_p: list[tuple[int, int]] = field(default_factory=list)  # (P id, records)
    global_: int = 0
    record_size: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.global_ + sum(n for _id, n in self.per_p)

    def as_json(self) -> dict[str, Any]:
        return {
            "per_p": [{"p": i, "records": n} for i, n in self.per_p],
            "global": self.global_,
            "total": self.total,
            "record_size": self.record_size,
            "bytes": self.total * self.record_size if self.record_size else None,
            "errors": self.errors,
        }


def defer_pools(proc: GoProcess) -> DeferPools:
    """Count the free _defer records in every P's pool and in the global one (bounded)."""
    res = DeferPools()
    try:
        allp = proc.global_("runtime.allp")
        for pv in allp.slice_items(1 << 16):
            pp = pv.deref()
            if pp is None:
                continue
            _arr, n, cap = pp["deferpool"].slice_header()
            if not 0 <= n <= cap:
                res.errors.append(f"P {pp['id'].int()}: corrupt deferpool length {n}")
                continue
            res.per_p.append((pp["id"].int(), n))
            if n and res.record_size is None:
                first = pp["deferpool"].slice_items(1)[0].ptr()
                h = heap_lookup(proc)
                obj = h.object_of(first) if h else None
                res.record_size = obj[1] if obj else None
        link_off = proc.dw.offset("runtime._defer", "link")
        d = proc.global_("runtime.sched")["deferpool"].ptr()
        seen: set[int] = set()
        while d:
            if d in seen or len(seen) >= MAX_DEFERS:
                res.errors.append(f"global defer pool list loops or is too long at {d:#x}")
                break
            seen.add(d)
            d = proc.mem.u64(d + link_off)
        res.global_ = len(seen)
    except (GomemError, IndexError) as exc:
        res.errors.append(f"defer pools unreadable: {exc}")
    return res
