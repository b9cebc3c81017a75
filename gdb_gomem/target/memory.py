"""The one small interface every memory backend implements, plus typed scalar reads.

Backends (an ELF core, the gdb inferior) implement :meth:`Memory.read` and raise
:class:`~.errors.UnreadableMemory` for an address they do not hold. Everything else in the
analysis layer reads through this class, so it never knows where the bytes come from.

Whole-heap passes gather tens of millions of words; a backend that already holds the target's
memory in one mapping (a core file) offers it through :meth:`Memory.mapped_view`, so those
passes index the mapping in place instead of copying the heap out read by read.
"""

from __future__ import annotations

import mmap
import signal as _signal
import struct
from dataclasses import dataclass, field

from gdb_gomem.base.errors import UnreadableMemory

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")


#: The largest single read a backend accepts; lengths come from untrusted memory.
MAX_READ = 1 << 34


def check_read(addr: int, size: int) -> None:
    """Refuse reads no real process could satisfy (a corrupt length or pointer)."""
    if size > MAX_READ or addr < 0 or addr + size > 1 << 64:
        raise UnreadableMemory(addr, size, "implausible read size")


@dataclass(frozen=True)
class MappedRange:
    """Target addresses [vaddr, vaddr+size) held at bytes [offset, offset+size) of a buffer."""

    vaddr: int
    offset: int
    size: int


@dataclass(frozen=True)
class MappedView:
    """A backend's memory as one read-only mapping it can lend without copying.

    ``ranges`` (sorted by address) say which target addresses the buffer holds and where;
    addresses outside them are not in the buffer (the backend may still read them, e.g. a
    core's read-only segments come from the executable).
    """

    buffer: mmap.mmap
    ranges: tuple[MappedRange, ...]

    def release(self, offset: int, length: int) -> bool:
        """Drop this process's mapping of buffer bytes [offset, offset+length) (``offset``
        page-aligned); False if the system refuses. The pages stay in the kernel's page
        cache and a later access maps them again: a pass that sweeps the buffer once hands
        back what it has read, so the resident set does not grow to the whole target."""
        try:
            self.buffer.madvise(mmap.MADV_DONTNEED, offset, length)
        except (OSError, ValueError):
            return False
        return True


class Memory:
    """Random access to a target's address space (bulk reads are the fast path)."""

    #: Whether two threads may read at once (a core file's mapping: yes; gdb's inferior,
    #: whose Python API belongs to gdb's main thread: no).
    concurrent_reads = False

    def read(self, addr: int, size: int) -> bytes:
        raise NotImplementedError

    def mapped_view(self) -> MappedView | None:
        """The memory this backend holds in one mapping, lent for zero-copy bulk access, or
        None (this default) when it has none: callers then fall back to :meth:`read`."""
        return None

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


#: Signals a debugger or a snapshot tool stops a process with: a core carrying one of these
#: is a pause (gcore), not a crash.
PAUSE_SIGNALS = frozenset({0, _signal.SIGTRAP, _signal.SIGSTOP, _signal.SIGINT, _signal.SIGTSTP})
_FAULT_SIGNALS = frozenset({_signal.SIGSEGV, _signal.SIGBUS, _signal.SIGFPE})


def signal_name(signo: int) -> str:
    try:
        return _signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}" if signo else ""


def is_fault_signal(signo: int) -> bool:
    """Signals whose siginfo carries a fault address (si_addr) rather than a sender."""
    return signo in _FAULT_SIGNALS


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
    source: str = ""  # "kernel core", "gcore snapshot", "live process"

    @classmethod
    def from_siginfo(
        cls, signo: int, code: int, sig_addr: int, sender: int, lwp: int | None, *, live: bool
    ) -> StopInfo:
        """Classify a stop from siginfo: a crash (core), a pause (gcore) or a live stop.

        ``sig_addr`` is si_addr and ``sender`` si_pid; only the one the signal defines is kept
        (a fault address for SIGSEGV/SIGBUS/SIGFPE, a sender for signals sent with kill).
        """
        fault = sig_addr if is_fault_signal(signo) else None
        crashed = not live and signo not in PAUSE_SIGNALS
        if live:
            source = "live process"
        else:
            source = "kernel core" if crashed else "gcore snapshot"
        return cls(
            signal=signo,
            signal_name=signal_name(signo),
            code=code,
            fault_addr=fault,
            sender_pid=sender if fault is None and signo and code <= 0 else None,
            thread_lwp=lwp,
            crashed=crashed,
            source=source,
        )
