"""Per-P allocation caches (``p.mcache``, a ``runtime.mcache``), decoded in one read each.

From ``runtime/mcache.go`` (1.21-1.27):

- ``alloc[spanClass]`` is the span the P allocates that class from, ``&emptymspan`` for none;
  a cached span has sweepgen mheap.sweepgen+3 (swept then cached) or +1, and is in no
  mcentral spanSet (``mcentral.cacheSpan`` popped it, ``uncacheSpan`` pushes it back);
- ``allocCount - allocCountBeforeCache`` of a cached span are allocations not yet added to
  ``memstats.heapStats`` (``releaseAll``/``refill`` add them);
- ``tiny``/``tinyoffset``: the current 16-byte tiny block and how much of it is used;
  ``tinyAllocs`` the tiny allocations not yet flushed;
- ``nextSample``: bytes left before the next heap-profile sample (uintptr up to 1.24, int64
  with ``memProfRate`` from 1.25);
- ``stackcache[order]``: free stacks cached by the P (``stackfreelist``: list, size);
- ``reusableNoscan[spanClass]`` (1.26+, GOEXPERIMENT=runtimefreegc): objects freed
  explicitly and reusable without a GC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.runtime.memstats import MAX_PROCS
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout


def p_status_names(proc: GoProcess) -> dict[int, str]:
    """``_Pidle``... as the binary's DWARF records them (1.26 dropped ``_Psyscall``)."""
    out = {}
    for k, v in proc.dw.constants.items():
        rest = k[len("runtime._P") :]
        # _Pidle, _Prunning, ... (and not _PageSize).
        if k.startswith("runtime._P") and rest.isalpha() and rest.islower():
            out[v] = rest
    return out


@dataclass
class MCacheInfo:
    """One P's mcache."""

    p_id: int
    p_addr: int
    status: int
    mcache: int  # address, 0 if the P has none
    tiny: int = 0
    tinyoffset: int = 0
    tiny_allocs: int = 0
    next_sample: int = 0
    mem_prof_rate: int | None = None
    scan_alloc: int = 0
    flush_gen: int = 0
    spans: dict[int, int] = field(default_factory=dict)  # spanclass -> mspan address
    stackcache: list[tuple[int, int]] = field(default_factory=list)  # (order, bytes cached)
    reusable_noscan: dict[int, int] | None = None  # spanclass -> list head (1.26+)
    error: str | None = None


def _u(raw: bytes, off: int, size: int) -> int:
    return int.from_bytes(raw[off : off + size], "little")


def read_mcaches(proc: GoProcess) -> tuple[list[MCacheInfo], list[str]]:
    """Every P's mcache; unreadable ones become error lines."""
    dw = proc.dw
    errors: list[str] = []
    empty = proc.global_("runtime.emptymspan").addr
    size = dw.size("runtime.mcache")
    nsc = dw.constant("runtime.numSpanClasses")

    # Scalars through the typed layer; nextSample is uintptr to 1.23, int64 from 1.24.
    lay = Layout(
        dw,
        "runtime.mcache",
        ("nextSample", "scanAlloc", "tiny", "tinyoffset", "tinyAllocs", "flushGen"),
        optional=("memProfRate",),
    )
    alloc_off = dw.offset("runtime.mcache", "alloc")
    reuse_off = (
        dw.offset("runtime.mcache", "reusableNoscan")
        if dw.has_field("runtime.mcache", "reusableNoscan")
        else None
    )
    sc_off = dw.offset("runtime.mcache", "stackcache")
    orders = dw.resolve(dw.field("runtime.mcache", "stackcache").type).count or 0
    sfl_size = dw.size("runtime.stackfreelist")
    sfl_size_off = dw.offset("runtime.stackfreelist", "size")
    out: list[MCacheInfo] = []
    allp = proc.global_("runtime.allp")
    for pp in allp.slice_items(MAX_PROCS):
        p = pp.deref()
        if p is None:
            continue
        info = MCacheInfo(
            p_id=p["id"].int(), p_addr=p.addr, status=p["status"].int(), mcache=p["mcache"].ptr()
        )
        out.append(info)
        if info.mcache == 0:
            continue
        try:
            raw = proc.mem.read(info.mcache, size)
        except UnreadableMemory as exc:
            info.error = f"mcache {info.mcache:#x} unreadable: {exc}"
            errors.append(f"P{info.p_id}: {info.error}")
            continue
        info.tiny = lay.get(raw, "tiny")
        info.tinyoffset = lay.get(raw, "tinyoffset")
        info.tiny_allocs = lay.get(raw, "tinyAllocs")
        info.scan_alloc = lay.get(raw, "scanAlloc")
        info.flush_gen = lay.get(raw, "flushGen")
        info.next_sample = lay.get(raw, "nextSample")
        if lay.has("memProfRate"):
            info.mem_prof_rate = lay.get(raw, "memProfRate")
        for spc in range(nsc):
            sp = _u(raw, alloc_off + 8 * spc, 8)
            if sp not in (0, empty):
                info.spans[spc] = sp
        for order in range(orders):
            info.stackcache.append((order, _u(raw, sc_off + order * sfl_size + sfl_size_off, 8)))
        if reuse_off is not None:
            info.reusable_noscan = {}
            for spc in range(nsc):
                v = _u(raw, reuse_off + 8 * spc, 8)
                if v:
                    info.reusable_noscan[spc] = v
    return out, errors


def mcache_metadata_bytes(proc: GoProcess, caches: list[MCacheInfo]) -> int:
    """What ``mheap_.cachealloc.inuse`` should be: one mcache per P that has one."""
    try:
        return sum(1 for c in caches if c.mcache) * proc.dw.size("runtime.mcache")
    except LayoutError:
        return 0
