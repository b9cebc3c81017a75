"""Typed errors that the front ends turn into one clear message each.

Every error carries what went wrong (``str(err)``) and the next step for the user (``hint``), so
neither gdb nor the CLI ever shows a Python traceback for bad input.
"""

from __future__ import annotations

from pathlib import Path


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
    """An address (range) that the target does not hold: unmapped, or not saved in the core.

    ``what`` names the structure being read (``runtime.allp[0]``) when the reader knows it. An
    address no mapping could have (the first 64 KiB, or past the 48-bit user space) means a
    corrupt pointer, not a core written without that mapping, and the hint says so."""

    def __init__(
        self,
        addr: int,
        size: int,
        why: str = "not mapped in the target",
        what: str | None = None,
    ) -> None:
        where = f"{what}: " if what else ""
        if why.startswith("corrupt"):
            hint = (
                f"{what or 'this runtime structure'} is damaged in the core; the rest is still "
                "analysed where it does not depend on it (`gomem verify` lists damage)"
            )
        elif addr < 1 << 16 or addr >= 1 << 48:
            hint = (
                f"{'the pointer to ' + what if what else 'a pointer the runtime holds'} is "
                "corrupt (no mapping can be there); `gomem verify` lists damaged structures"
            )
        else:
            hint = (
                "the address may be corrupt, or the core was written without that mapping "
                "(check /proc/sys/kernel/core_filter and ulimit -c)"
            )
        super().__init__(f"{where}cannot read {size} byte(s) at {addr:#x}: {why}", hint)
        self.addr = addr
        self.size = size
        self.why = why
        self.what = what


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


def require_regular_file(path: Path, role: str, hint: str) -> None:
    """Refuse, naming the actual problem, anything but an existing regular file: a missing
    path, a dangling symlink or a symlink loop, a directory, a device or a pipe (opening a
    pipe would block: gomem must never hang on its input)."""
    if not path.exists():
        if path.is_symlink():
            try:
                path.resolve(strict=True)
            except RuntimeError:
                raise BadFile(f"{path} is a symlink loop, not a {role}", hint) from None
            except OSError:
                pass
            raise BadFile(f"{path} is a symlink to a missing file, not a {role}", hint)
        raise BadFile(f"no such file: {path}", hint)
    if path.is_dir():
        raise BadFile(f"{path} is a directory, not a {role}", hint)
    if not path.is_file():
        kind = "a named pipe" if path.is_fifo() else "a device or socket"
        raise BadFile(f"{path} is {kind}, not a regular file ({role})", hint)
