"""Typed errors that the front ends turn into one clear message each.

Every error carries what went wrong (``str(err)``) and the next step for the user (``hint``), so
neither gdb nor the CLI ever shows a Python traceback for bad input.
"""

from __future__ import annotations


class GomemError(Exception):
    """Base of every error a user can cause with their input (files, addresses, arguments)."""

    hint: str = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def user_message(self) -> str:
        """The message as printed to a user: problem, then the next step."""
        msg = str(self)
        return f"{msg}\n  hint: {self.hint}" if self.hint else msg


class UnreadableMemory(GomemError):
    """An address (range) that the target does not hold: unmapped, or not saved in the core."""

    def __init__(self, addr: int, size: int, why: str = "not mapped in the target") -> None:
        super().__init__(
            f"cannot read {size} byte(s) at {addr:#x}: {why}",
            "the address may be corrupt, or the core was written without that mapping "
            "(check /proc/sys/kernel/core_filter and ulimit -c)",
        )
        self.addr = addr
        self.size = size


class BadFile(GomemError):
    """A file that is missing, unreadable, or not the kind of file it should be."""


class NotAGoBinary(BadFile):
    """An ELF file without the Go runtime's tables."""


class TruncatedCore(BadFile):
    """A core whose segments extend past the end of the file."""


class DamagedCore(BadFile):
    """A core whose ELF headers or notes are impossible (not merely cut short)."""


class CoreMismatch(BadFile):
    """A core that was not produced by the given binary."""


class UnsupportedTarget(GomemError):
    """A Go binary this version of gdb-gomem cannot decode (architecture, Go version)."""


class LayoutError(GomemError):
    """A runtime type or field the decoder needs is missing from the binary's DWARF."""
