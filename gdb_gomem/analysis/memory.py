"""The one small interface every memory backend implements, plus typed scalar reads.

Backends (an ELF core, the gdb inferior) implement :meth:`Memory.read` and raise
:class:`~.errors.UnreadableMemory` for an address they do not hold. Everything else in the
analysis layer reads through this class, so it never knows where the bytes come from.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import UnreadableMemory

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")


class Memory:
    """Random access to a target's address space (bulk reads are the fast path)."""

    def read(self, addr: int, size: int) -> bytes:
        raise NotImplementedError

    def readable(self, addr: int, size: int = 1) -> bool:
        try:
            self.read(addr, size)
        except UnreadableMemory:
            return False
        return True

    def u64(self, addr: int) -> int:
        return _U64.unpack(self.read(addr, 8))[0]

    def i64(self, addr: int) -> int:
        return _I64.unpack(self.read(addr, 8))[0]

    def u32(self, addr: int) -> int:
        return _U32.unpack(self.read(addr, 4))[0]

    def u8(self, addr: int) -> int:
        return self.read(addr, 1)[0]

    def uint(self, addr: int, size: int, signed: bool = False) -> int:
        return int.from_bytes(self.read(addr, size), "little", signed=signed)

    def go_string(self, addr: int, limit: int = 1 << 16) -> str:
        """A Go string header at ``addr``; the text is cut at ``limit`` bytes."""
        ptr, n = struct.unpack("<QQ", self.read(addr, 16))
        if n == 0:
            return ""
        if n > 1 << 40:
            raise UnreadableMemory(addr, 16, f"corrupt string header (length {n})")
        return self.read(ptr, min(n, limit)).decode("utf-8", "replace")


@dataclass
class ThreadInfo:
    """An OS thread of the target: its kernel id and, when known, its registers."""

    lwp: int
    regs: dict[str, int] = field(default_factory=dict)


@dataclass
class StopInfo:
    """Why the target is stopped: the fatal signal of a crash core, or a pause.

    ``crashed`` is False for a live process or a gcore snapshot stopped by a debugger signal.
    """

    signal: int = 0
    signal_name: str = ""
    code: int = 0
    fault_addr: int | None = None
    sender_pid: int | None = None
    thread_lwp: int | None = None  # the thread that took the signal (the kernel dumps it first)
    crashed: bool = False
    source: str = ""  # "kernel core", "gcore", "live process"
