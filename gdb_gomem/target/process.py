"""A Go process image: the binary's symbols over one target's memory and threads.

This is the root object every analysis receives. It is built by an adapter (core file, gdb
inferior) and knows nothing about where memory comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from gdb_gomem.base.errors import CoreMismatch, LayoutError, UnreadableMemory
from gdb_gomem.symbols.binary import CORRUPT_ELF, GoBinary, damaged_binary, parse_go_version
from gdb_gomem.symbols.dwarf import DwarfTables, load_dwarf
from gdb_gomem.symbols.pclntab import Pclntab, PclntabError
from gdb_gomem.symbols.symcache import cached
from gdb_gomem.target.context import AnalysisContext
from gdb_gomem.target.memory import Memory, StopInfo, ThreadInfo
from gdb_gomem.target.typed import Val

T = TypeVar("T")


def load_tables(binary: GoBinary) -> DwarfTables:
    """The binary's DWARF tables, from the per-binary cache when possible."""
    try:
        return cached("dwarf", binary.sha256, lambda: load_dwarf(binary.elf))
    except CORRUPT_ELF as exc:
        raise damaged_binary(binary.path, exc) from None


def load_pclntab(binary: GoBinary, dw: DwarfTables) -> Pclntab:
    """The function table, located through the binary's initialised ``runtime.firstmoduledata``.

    ``moduledata.text`` and ``.gofunc`` are static data of the executable; Go 1.26 stopped
    storing the text start in the pclntab header, so it must come from here.
    """
    md = Val(
        _StaticMemory(binary),
        dw,
        dw.variable("runtime.firstmoduledata").addr,
        dw.types[dw.variable("runtime.firstmoduledata").type],
    )
    header = md["pcHeader"].ptr()
    sec = binary.sections.get(".gopclntab")
    if sec is None or not sec.addr <= header < sec.addr + sec.size:
        raise PclntabError(
            f"runtime.firstmoduledata.pcHeader ({header:#x}) is not in .gopclntab",
            "is this a Go executable built by the gc toolchain?",
        )
    data = binary.read_file(sec.offset + header - sec.addr, sec.addr + sec.size - header)
    return Pclntab(data, text_start=md["text"].ptr(), gofunc=md["gofunc"].ptr())


class _StaticMemory(Memory):
    """The executable's initialised image as memory (for link-time data only)."""

    def __init__(self, binary: GoBinary) -> None:
        self.binary = binary

    def read(self, addr: int, size: int) -> bytes:
        return self.binary.read_static(addr, size)


class GoProcess:
    """Binary + memory + threads + why it stopped."""

    def __init__(
        self,
        binary: GoBinary,
        memory: Memory,
        threads: list[ThreadInfo] | Callable[[], list[ThreadInfo]],
        stop: StopInfo,
        *,
        target_name: str = "",
        mapped_files: list[tuple[int, int, str]] | None = None,
        command_line: str = "",
    ) -> None:
        self.binary = binary
        self.mem = memory
        self._threads = threads
        self.stop = stop
        self.target_name = target_name
        self.mapped_files = mapped_files or []
        self.command_line = command_line
        #: Everything derived from this target, built once (see :mod:`.context`); the gdb
        #: front end drops the process when the inferior runs, which invalidates it all.
        self.context = AnalysisContext()

    @cached_property
    def threads(self) -> list[ThreadInfo]:
        t = self._threads
        return t() if callable(t) else t

    @cached_property
    def dw(self) -> DwarfTables:
        return load_tables(self.binary)

    @cached_property
    def _pc_descriptions(self) -> dict[int, dict[str, object] | None]:
        return {}

    @cached_property
    def pclntab(self) -> Pclntab:
        return cached("pclntab", self.binary.sha256, lambda: load_pclntab(self.binary, self.dw))

    def describe_pc(self, pc: int | None) -> dict[str, object] | None:
        """``{"func", "file", "line"}`` for a code address, or None outside Go code."""
        if not pc:
            return None
        cache = self._pc_descriptions
        if pc in cache:
            hit = cache[pc]
            return dict(hit) if hit is not None else None
        desc = cache[pc] = self._describe_pc(pc)
        return dict(desc) if desc is not None else None

    def _describe_pc(self, pc: int) -> dict[str, object] | None:
        try:
            f = self.pclntab.find_func(pc)
            if f is None:
                return None
            file, line = self.pclntab.line(f, pc)
        except PclntabError:
            return None
        return {"func": f.name, "file": file, "line": line}

    @cached_property
    def go_version(self) -> str:
        """The runtime's own ``runtime.buildVersion`` as in memory, else the build info."""
        try:
            v = self.global_("runtime.buildVersion").string(256)
            if v.startswith(("go", "devel")):
                return v
        except (LayoutError, UnreadableMemory):
            pass
        return self.binary.go_version

    @cached_property
    def version(self) -> tuple[int, int, int]:
        return parse_go_version(self.go_version)

    def global_(self, name: str) -> Val:
        v = self.dw.variable(name)
        return Val(self.mem, self.dw, v.addr, self.dw.types[v.type], name)

    def find_global(self, *names: str) -> Val | None:
        """The first of several names a global has had across Go versions."""
        for n in names:
            if n in self.dw.globals:
                return self.global_(n)
        return None

    # ------------------------------------------------------------------ sanity

    def _which_exe_hint(self) -> str:
        """Name the executable the core says it ran, for the mismatch message."""
        seg = self.binary.segments[0] if self.binary.segments else None
        for start, _end, path in self.mapped_files:
            if seg is not None and start == seg.vaddr & ~0xFFF:
                return f"; the core maps {path} there"
        for _start, _end, path in self.mapped_files:
            if path and not path.startswith(("/dev/", "[")):
                return f"; the core's first mapped file is {path}"
        if self.command_line:
            return f"; the core's command line is `{self.command_line}`"
        return ""

    def check_matches_binary(self) -> None:
        """Refuse a core that another binary wrote; say which evidence disagrees.

        Evidence, strongest first: the Go build-id note as mapped in the target (the kernel dumps
        the first page of the executable), then ``runtime.buildVersion`` and the first module's
        pclntab pointer, which are data the target must share with its binary.
        """
        addr, note = self.binary.build_id_note
        if note:
            try:
                seen = self.mem.read(addr, len(note))
            except UnreadableMemory:
                seen = None
            # Only trust a dumped copy: a read that fell through to the binary proves nothing.
            if seen is not None and seen != note and any(seen):
                raise CoreMismatch(
                    f"the core was not produced by {self.binary.path.name}: the Go build ID in "
                    f"the core's copy of the executable differs{self._which_exe_hint()}",
                    "pass the exact executable that crashed (the same build of it)",
                )
        if not self.binary.elf.has_dwarf_info():
            raise LayoutError(
                f"{self.binary.path.name} has no DWARF debug information (stripped, or linked "
                "with -ldflags=-w)",
                "use the unstripped executable; gomem reads runtime layouts from DWARF",
            )
        try:
            md = self.global_("runtime.firstmoduledata")
            pc_header = md["pcHeader"].ptr()
        except (LayoutError, UnreadableMemory) as exc:
            raise CoreMismatch(
                f"the core does not hold the Go runtime data of {self.binary.path.name} "
                f"({exc}){self._which_exe_hint()}",
                "is it a core of this Go program? a core of a non-Go process, or of another "
                "binary, cannot be analysed with this executable",
            ) from None
        expected = self.binary.sections.get(".gopclntab")
        if expected is not None and pc_header != expected.addr:
            raise CoreMismatch(
                f"the core was not produced by {self.binary.path.name}: "
                f"runtime.firstmoduledata.pcHeader is {pc_header:#x}, the binary's .gopclntab is "
                f"at {expected.addr:#x}{self._which_exe_hint()}",
                "pass the exact executable that crashed (same build)",
            )
