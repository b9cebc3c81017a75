"""Many small reads as a few large ones: fetch thousands of runtime records in bulk.

Runtime metadata is allocated in clumps: ``mspan`` descriptors come from ``fixalloc`` in
16 KiB chunks, allocation and mark bitmaps from 64 KiB ``gcBitsArena`` blocks, spanSet blocks
from a pool. Reading each record with its own call costs a syscall-free slice on a core but a
round trip through gdb on a live target; sorting the requests and merging neighbours turns
thousands of reads into a handful. A merged window that cannot be read (a hole between two
records, a corrupt pointer among good ones) falls back to reading its members one by one, so
one bad address costs only its own record.
"""

from __future__ import annotations

from collections.abc import Sequence

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.target.memory import Memory

#: Merge two requests when the gap between them is at most this many bytes.
MAX_GAP = 4096
#: Never read more than this in one merged window.
MAX_WINDOW = 1 << 20


def read_many(
    mem: Memory,
    requests: Sequence[tuple[int, int]],
    *,
    max_gap: int = MAX_GAP,
    max_window: int = MAX_WINDOW,
) -> list[bytes | None]:
    """The bytes of each ``(addr, size)`` request, in request order; None where unreadable."""
    out: list[bytes | None] = [None] * len(requests)
    order = sorted(range(len(requests)), key=lambda i: requests[i][0])
    i = 0
    n = len(order)
    while i < n:
        first = order[i]
        lo, size = requests[first]
        hi = lo + max(size, 0)
        j = i + 1
        while j < n:
            a, s = requests[order[j]]
            end = max(hi, a + max(s, 0))
            if a > hi + max_gap or end - lo > max_window:
                break
            hi = end
            j += 1
        members = order[i:j]
        window: bytes | None
        try:
            window = mem.read(lo, hi - lo) if hi > lo else b""
        except UnreadableMemory:
            window = None
        for k in members:
            a, s = requests[k]
            if window is not None:
                out[k] = window[a - lo : a - lo + s]
                continue
            try:
                out[k] = mem.read(a, s)
            except UnreadableMemory:
                out[k] = None
        i = j
    return out
