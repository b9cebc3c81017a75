"""The mspan linked lists the runtime still keeps (``mSpanList``: first/last, next/prev).

Since Go 1.16 mcentral uses spanSets, but doubly linked span lists remain for memory the GC
does not manage (``runtime/stack.go``, ``mgcwork.go``, ``arena.go``, unchanged 1.21-1.27):

- ``stackpool[order].item.span``: spans of 32 KiB carved into 2/4/8/16 KiB stacks that still
  have a free stack (``stackpoolalloc`` unlinks a span once all its stacks are handed out);
  free stacks are chained through ``manualFreeList`` inside the span's own memory;
- ``stackLarge.free[log2(npages)]``: freed large stack spans kept for reuse;
- ``work.wbufSpans.busy``/``free``: every span of GC work buffers (``getempty``,
  ``freeSomeWbufs``);
- ``mheap_.userArena.quarantineList``/``readyList``: user arena chunks (GOEXPERIMENT=arenas).

The walk checks what ``mSpanList.insert``/``remove`` maintain: ``first.prev == nil``,
``s.next.prev == s``, ``s.list == &list``, ``last`` is the final node. A cycle, an unreadable
node or a list longer than the bound ends the walk with an error line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.runtime.mspan import SpanRecord, read_span
from gdb_gomem.target.process import GoProcess

#: A list longer than this is corrupt (no heap has a million stack spans on one list).
MAX_LIST = 1 << 20


@dataclass
class SpanListResult:
    """One list: its nodes in order, free stacks per stackpool span, what was wrong."""

    name: str
    addr: int  # the mSpanList head
    spans: list[SpanRecord] = field(default_factory=list)
    free_slots: dict[int, int] = field(default_factory=dict)  # span addr -> free stacks
    error: str | None = None

    @property
    def pages(self) -> int:
        return sum(s.npages for s in self.spans)


def walk_list(
    proc: GoProcess, list_addr: int, name: str, *, max_len: int = MAX_LIST
) -> SpanListResult:
    """Follow ``first``, then ``next``, from the ``mSpanList`` at ``list_addr``; bounded."""
    dw = proc.dw
    res = SpanListResult(name=name, addr=list_addr)
    first_off = dw.offset("runtime.mSpanList", "first")
    last_off = dw.offset("runtime.mSpanList", "last")
    try:
        first = proc.mem.u64(list_addr + first_off)
        last = proc.mem.u64(list_addr + last_off)
    except UnreadableMemory as exc:
        res.error = f"list head unreadable: {exc}"
        return res
    seen: set[int] = set()
    prev = 0
    cur = first
    while cur:
        if cur in seen:
            res.error = f"cycle: mspan {prev:#x} links back to {cur:#x}; walk stopped"
            return res
        if len(res.spans) >= max_len:
            res.error = f"longer than {max_len} spans; walk stopped"
            return res
        seen.add(cur)
        try:
            s = read_span(proc, cur)
        except UnreadableMemory as exc:
            res.error = f"mspan {cur:#x} unreadable ({exc}); walk stopped"
            return res
        if s.prev != prev:
            res.error = f"mspan {cur:#x}: prev is {s.prev:#x}, expected {prev:#x}; walk stopped"
            return res
        if s.list != list_addr:
            res.error = f"mspan {cur:#x}: list is {s.list:#x}, not this list; walk stopped"
            return res
        res.spans.append(s)
        prev, cur = cur, s.next
    if last != prev:
        res.error = f"last is {last:#x} but the walk ended at {prev:#x}"
    return res


def count_free_stacks(proc: GoProcess, s: SpanRecord) -> tuple[int, str | None]:
    """Free stacks chained through ``manualFreeList`` (a gclink per free stack, in the span)."""
    if s.elemsize == 0:
        return 0, None
    limit = (s.npages * proc.dw.constant("runtime.pageSize")) // s.elemsize
    n = 0
    x = s.manual_free_list
    seen: set[int] = set()
    while x:
        if n > limit or x in seen or not s.base <= x < s.end:
            return n, f"free-stack list of mspan {s.addr:#x} leaves the span at {x:#x}"
        seen.add(x)
        n += 1
        try:
            x = proc.mem.u64(x)  # gclink.next is its first word
        except UnreadableMemory as exc:
            return n, f"free-stack list of mspan {s.addr:#x} unreadable: {exc}"
    return n, None


def wbuf_span_addrs(proc: GoProcess) -> set[int]:
    """Descriptors on ``work.wbufSpans.free``/``busy`` (the only homes of workbuf spans)."""
    out: set[int] = set()
    wb = proc.global_("runtime.work")["wbufSpans"]
    for name in ("free", "busy"):
        res = walk_list(proc, wb[name].addr, f"work.wbufSpans.{name}")
        out.update(s.addr for s in res.spans)
    return out


def all_span_lists(proc: GoProcess) -> list[SpanListResult]:
    """Every span list of the runtime, in a fixed order (empty ones included)."""
    out: list[SpanListResult] = []
    pool = proc.global_("runtime.stackpool")
    for order in range(len(pool)):
        lst = pool.index(order)["item.span"]
        r = walk_list(proc, lst.addr, f"stackpool[{order}]")
        for s in r.spans:
            n, err = count_free_stacks(proc, s)
            r.free_slots[s.addr] = n
            if err and r.error is None:
                r.error = err
        out.append(r)
    free = proc.global_("runtime.stackLarge")["free"]
    for i in range(len(free)):
        out.append(walk_list(proc, free.index(i).addr, f"stackLarge.free[{i}]"))
    wb = proc.global_("runtime.work")["wbufSpans"]
    for name in ("busy", "free"):
        out.append(walk_list(proc, wb[name].addr, f"work.wbufSpans.{name}"))
    ua = proc.global_("runtime.mheap_").get("userArena")
    if ua is not None:
        for name in ("quarantineList", "readyList"):
            try:
                out.append(walk_list(proc, ua[name].addr, f"mheap_.userArena.{name}"))
            except LayoutError:
                pass
    return out
