"""The Go executable on disk: ELF sections, symbols, build info, static memory.

Everything here is read from the file with pyelftools and ``struct``; nothing needs a process.
A core file holds the writable memory of the process, and this module supplies what the kernel
did not dump: read-only segments (text, rodata, pclntab), read straight from the binary.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from elftools.common.exceptions import DWARFError, ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from gdb_gomem.base.errors import (
    BadFile,
    NotAGoBinary,
    UnreadableMemory,
    UnsupportedTarget,
    require_regular_file,
)

#: ELF e_machine to GOARCH; only amd64 is decoded today, the others are named in messages.
_GOARCH = {"EM_X86_64": "amd64", "EM_AARCH64": "arm64", "EM_386": "386", "EM_ARM": "arm"}

_BUILDINFO_MAGIC = b"\xff Go buildinf:"
#: modinfo is wrapped in 16-byte sentinels (cmd/go/internal/modload.ModInfoData).
_MODINFO_SENTINEL_LEN = 16


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD program header."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    @property
    def writable(self) -> bool:
        return bool(self.flags & 0x2)


@dataclass(frozen=True)
class Section:
    name: str
    addr: int
    offset: int
    size: int
    type: str


@dataclass
class BuildInfo:
    """What ``go version -m`` prints: toolchain, main module, dependencies, build settings."""

    go_version: str = ""
    path: str = ""
    main_module: str = ""
    main_version: str = ""
    deps: list[tuple[str, str]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "go_version": self.go_version,
            "path": self.path,
            "main_module": self.main_module,
            "main_version": self.main_version,
            "deps": [{"path": p, "version": v} for p, v in self.deps],
            "settings": dict(self.settings),
        }


#: What pyelftools and the decompressor raise on a truncated or garbled executable.
CORRUPT_ELF: tuple[type[BaseException], ...] = (
    ELFError,
    DWARFError,
    zlib.error,
    struct.error,
    OSError,
    ValueError,
    IndexError,
    KeyError,
    AssertionError,
    ArithmeticError,  # an offset or length too large for the platform (found by fuzzing)
    RecursionError,
)


def _exc_name(exc: BaseException) -> str:
    mod = type(exc).__module__
    return type(exc).__name__ if mod == "builtins" else f"{mod}.{type(exc).__name__}"


def damaged_binary(path: Path, exc: BaseException) -> BadFile:
    """The one message for an executable whose ELF or DWARF structure cannot be read."""
    return BadFile(
        f"{path} is a damaged executable: {_exc_name(exc)}: {exc}",
        "use the exact, complete executable that produced the core (not truncated, "
        "not post-processed)",
    )


def _read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint (encoding/binary.Uvarint); returns (value, new pos)."""
    value = 0
    shift = 0
    for _ in range(10):
        if pos >= len(buf):
            raise ValueError("varint runs past the end of the buffer")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint longer than 10 bytes")


def parse_modinfo(text: str, info: BuildInfo) -> None:
    """Fill ``info`` from the tab-separated modinfo text (runtime/debug.ParseBuildInfo format)."""
    for line in text.splitlines():
        parts = line.split("\t")
        if not parts:
            continue
        key = parts[0]
        if key == "path" and len(parts) > 1:
            info.path = parts[1]
        elif key == "mod" and len(parts) > 1:
            info.main_module = parts[1]
            info.main_version = parts[2] if len(parts) > 2 else ""
        elif key == "dep" and len(parts) > 1:
            info.deps.append((parts[1], parts[2] if len(parts) > 2 else ""))
        elif key == "build" and len(parts) > 1:
            k, _, v = parts[1].partition("=")
            info.settings[k] = v


class GoBinary:
    """A Go ELF executable, opened read-only; the static half of every target.

    Raises :class:`BadFile` for a missing or non-ELF file and :class:`NotAGoBinary` for an ELF
    without Go's tables, each with the next step for the user.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        require_regular_file(
            self.path, "Go executable", "pass the Go executable itself (check the path)"
        )
        try:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open for the binary's lifetime
            self.elf = ELFFile(self._fh)
        except (ELFError, OSError) as exc:
            raise BadFile(
                f"{self.path} is not an ELF executable ({exc})",
                "pass the Go program's executable (the file that crashed), not a core or script",
            ) from None
        if self.elf["e_type"] == "ET_CORE":
            raise BadFile(
                f"{self.path} is a core file, not an executable",
                "pass the executable with --binary and the core with --core",
            )
        try:
            self._read_headers()
        except CORRUPT_ELF as exc:
            raise damaged_binary(self.path, exc) from None

    def _read_headers(self) -> None:
        """Sections, segments and what kind of program this is; every table checked to lie
        inside the file (a truncated or garbled executable must not be half-believed)."""
        size = self.path.stat().st_size
        machine = self.elf["e_machine"]
        self.goarch = _GOARCH.get(machine, str(machine))
        self.ptr_size = 8 if self.elf.elfclass == 64 else 4
        self.little_endian = self.elf.little_endian
        self.sections: dict[str, Section] = {}
        for i, s in enumerate(self.elf.iter_sections()):
            if s["sh_type"] != "SHT_NOBITS" and s["sh_offset"] + s["sh_size"] > size:
                raise BadFile(
                    f"{self.path} is truncated or damaged: section {i} ends at "
                    f"byte {s['sh_offset'] + s['sh_size']} of a {size}-byte file",
                    "use the complete executable that produced the core (copy it again)",
                )
            self.sections[s.name] = Section(
                s.name, s["sh_addr"], s["sh_offset"], s["sh_size"], s["sh_type"]
            )
        self.segments: list[Segment] = sorted(
            (
                Segment(p["p_vaddr"], p["p_memsz"], p["p_offset"], p["p_filesz"], p["p_flags"])
                for p in self.elf.iter_segments()
                if p["p_type"] == "PT_LOAD"
            ),
            key=lambda s: s.vaddr,
        )
        self._seg_starts = [s.vaddr for s in self.segments]
        if (
            ".gopclntab" not in self.sections
            and ".go.buildinfo" not in self.sections
            and "runtime.buildVersion" not in self.symbols
        ):
            raise NotAGoBinary(
                f"{self.path} is not a Go program (no .gopclntab, .go.buildinfo or "
                "runtime.buildVersion)",
                "gomem analyses Go programs only; for C/C++ use gdb's own commands",
            )
        if self.goarch != "amd64" or self.ptr_size != 8 or not self.little_endian:
            raise UnsupportedTarget(
                f"{self.path} is a Go program for {self.goarch}; gomem decodes linux/amd64 only",
                "analyse it on a build of gdb-gomem that supports this architecture",
            )

    def close(self) -> None:
        self._fh.close()

    # ----------------------------------------------------------------- identity

    @cached_property
    def sha256(self) -> str:
        """Content hash: the key of every per-binary cache."""
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    @cached_property
    def go_build_id(self) -> str:
        """The Go build ID from the ``.note.go.buildid`` note ("" if absent)."""
        sec = self.sections.get(".note.go.buildid")
        if sec is None:
            return ""
        data = self.read_file(sec.offset, sec.size)
        if len(data) < 16:
            return ""
        namesz, descsz, _ntype = struct.unpack_from("<III", data, 0)
        desc_off = 12 + ((namesz + 3) & ~3)
        return data[desc_off : desc_off + descsz].decode("utf-8", "replace")

    @cached_property
    def build_id_note(self) -> tuple[int, bytes]:
        """(address, bytes) of the Go build-id note, to compare with the core's copy of it."""
        sec = self.sections.get(".note.go.buildid")
        if sec is None or not sec.addr:
            return 0, b""
        return sec.addr, self.read_file(sec.offset, sec.size)

    # ----------------------------------------------------------------- symbols

    @cached_property
    def symbols(self) -> dict[str, tuple[int, int]]:
        """Name -> (address, size) from ``.symtab`` (empty for a stripped binary)."""
        out: dict[str, tuple[int, int]] = {}
        symtab = self.elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):  # absent (stripped binary)
            return out
        for sym in symtab.iter_symbols():
            if sym.name:
                out[sym.name] = (sym["st_value"], sym["st_size"])
        return out

    def symbol(self, name: str) -> int | None:
        hit = self.symbols.get(name)
        return hit[0] if hit else None

    # ----------------------------------------------------------------- static memory

    def read_file(self, offset: int, size: int) -> bytes:
        """Bytes of the file at ``offset``: a positional read, so two threads (the heap
        model's and the type pass's) never interleave a seek with the other's read."""
        if size <= 0:
            return b""
        return os.pread(self._fh.fileno(), size, offset)

    def segment_for(self, addr: int) -> Segment | None:
        i = bisect.bisect_right(self._seg_starts, addr) - 1
        if i >= 0 and addr < self.segments[i].end:
            return self.segments[i]
        return None

    def read_static(self, addr: int, size: int) -> bytes:
        """Bytes at a virtual address as the file initialises them (bss reads as zeros).

        For a process this is the memory before ``main`` ran: right for read-only segments,
        wrong for data that the program has changed, which must come from the core.
        """
        out = bytearray()
        while size > 0:
            seg = self.segment_for(addr)
            if seg is None:
                raise UnreadableMemory(addr, size, "not in any segment of the executable")
            n = min(size, seg.end - addr)
            rel = addr - seg.vaddr
            in_file = max(0, min(n, seg.filesz - rel))
            if in_file:
                out += self.read_file(seg.offset + rel, in_file)
            out += bytes(n - in_file)
            addr += n
            size -= n
        return bytes(out)

    def section_bytes(self, name: str) -> bytes:
        sec = self.sections.get(name)
        if sec is None:
            raise NotAGoBinary(f"{self.path} has no {name} section", "is this a Go executable?")
        return self.read_file(sec.offset, sec.size)

    # ----------------------------------------------------------------- build info

    @cached_property
    def build_info(self) -> BuildInfo:
        """Parse ``.go.buildinfo`` (Go 1.18+ inline-string format)."""
        info = BuildInfo()
        sec = self.sections.get(".go.buildinfo")
        if sec is None:
            return info
        data = self.read_file(sec.offset, min(sec.size, 1 << 20))
        if not data.startswith(_BUILDINFO_MAGIC) or len(data) < 32:
            return info
        flags = data[15]
        if not flags & 0x2:
            # Pre-1.18 pointer format: not produced by any Go we support.
            return info
        pos = 32
        try:
            n, pos = _read_uvarint(data, pos)
            info.go_version = data[pos : pos + n].decode("utf-8", "replace")
            pos += n
            n, pos = _read_uvarint(data, pos)
            mod = data[pos : pos + n]
        except ValueError:
            return info
        if len(mod) >= 2 * _MODINFO_SENTINEL_LEN:
            mod = mod[_MODINFO_SENTINEL_LEN:-_MODINFO_SENTINEL_LEN]
        parse_modinfo(mod.decode("utf-8", "replace"), info)
        return info

    @cached_property
    def build_version(self) -> str:
        """``runtime.buildVersion`` as initialised in the file (e.g. ``go1.24.11``)."""
        addr = self.symbol("runtime.buildVersion")
        if addr is None:
            return self.build_info.go_version
        try:
            ptr, n = struct.unpack("<QQ", self.read_static(addr, 16))
            if 0 < n < 256:
                return self.read_static(ptr, n).decode("utf-8", "replace")
        except UnreadableMemory:
            pass
        return self.build_info.go_version

    @property
    def go_version(self) -> str:
        return self.build_info.go_version or self.build_version


def parse_go_version(v: str) -> tuple[int, int, int]:
    """``go1.24.11`` -> (1, 24, 11); ``go1.26rc1 X:foo`` -> (1, 26, 0); unknown -> (0, 0, 0)."""
    v = v.strip().split(" ")[0]
    if v.startswith("go"):
        v = v[2:]
    nums: list[int] = []
    for part in v.split(".")[:3]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        nums.append(int(digits))
    while len(nums) < 3:
        nums.append(0)
    return nums[0], nums[1], nums[2]
