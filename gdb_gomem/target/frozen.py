"""Memory frozen at one moment: ranges copied from a target while it stood still.

A live recorder must stop the process only as long as copying takes: it copies the ranges
the allocation state lives in (:mod:`gdb_gomem.snapshots.freeze`) and decodes them after the
process runs again, through this class. Reads inside the copied ranges come from the copies;
a read outside them goes to ``fallback`` (the live target, whose memory has moved on since)
and is counted, so the snapshot can say how much of it was not frozen.
"""

from __future__ import annotations

import bisect

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.target.memory import Memory, check_read


class FrozenMemory(Memory):
    concurrent_reads = True

    def __init__(self, fallback: Memory | None = None) -> None:
        self.fallback = fallback
        self._lo: list[int] = []
        self._data: list[bytes] = []
        self.fallback_reads = 0
        self.fallback_bytes = 0

    @property
    def nbytes(self) -> int:
        return sum(len(d) for d in self._data)

    @property
    def nranges(self) -> int:
        return len(self._data)

    def add(self, addr: int, data: bytes) -> None:
        """Keep data as the bytes at addr (ranges must not overlap one already added)."""
        if not data:
            return
        i = bisect.bisect_left(self._lo, addr)
        self._lo.insert(i, addr)
        self._data.insert(i, data)

    def covers(self, addr: int, size: int) -> bool:
        i = bisect.bisect_right(self._lo, addr) - 1
        return i >= 0 and addr + size <= self._lo[i] + len(self._data[i])

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        check_read(addr, size)
        i = bisect.bisect_right(self._lo, addr) - 1
        if i >= 0:
            lo, d = self._lo[i], self._data[i]
            if addr + size <= lo + len(d):
                return d[addr - lo : addr - lo + size]
        if self.fallback is None:
            raise UnreadableMemory(addr, size, "not in the frozen copy")
        self.fallback_reads += 1
        self.fallback_bytes += size
        return self.fallback.read(addr, size)
