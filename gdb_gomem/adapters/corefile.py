"""An ELF core file (kernel dump or gcore) as a :class:`Memory` plus its threads and signal.

Parsed with ``struct`` over an ``mmap`` of the file: reads of whole spans or arenas are slices,
not syscalls. Segments the kernel did not dump (read-only file mappings: text, rodata,
pclntab) are read from the executable instead, which is why a core needs its binary.
"""

from __future__ import annotations

import bisect
import itertools
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gdb_gomem.base.errors import (
    BadFile,
    DamagedCore,
    TruncatedCore,
    UnreadableMemory,
    require_regular_file,
)
from gdb_gomem.symbols.binary import GoBinary, Segment
from gdb_gomem.target.memory import (
    MappedRange,
    MappedView,
    Memory,
    StopInfo,
    ThreadInfo,
    check_read,
)

if TYPE_CHECKING:
    from gdb_gomem.target.process import GoProcess

NT_PRSTATUS = 1
PHDR64_SIZE = 56
NT_PRPSINFO = 3
NT_AUXV = 6
NT_SIGINFO = 0x53494749
NT_FILE = 0x46494C45

#: user_regs_struct order in elf_prstatus.pr_reg on x86_64.
AMD64_REGS = (
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
)
_PRSTATUS_REGS_OFF = 112
_PRSTATUS_CURSIG_OFF = 12
_PRSTATUS_PID_OFF = 32


#: Reads up to this size use pread(2); larger ones slice the mapping.
PREAD_MAX = 1 << 16


def allow_truncated_env() -> bool:
    """``GOMEM_ALLOW_TRUNCATED=1``: analyse a cut-off core (gdb has no per-command flag)."""
    return os.environ.get("GOMEM_ALLOW_TRUNCATED", "") not in ("", "0", "no", "false")


def truncation_warning(path: object, present: int, needed: int) -> str:
    """The line printed before any answer on a cut-off core."""
    return (
        f"warning: {path} is truncated: {present} of {needed} bytes present "
        f"({100 * present // needed}%); memory in the missing {needed - present} bytes reads "
        "as not saved, so answers that need it are incomplete"
    )


def _contiguous(headers: list[tuple[str, int, int]]) -> bool:
    """Whether the file-backed segments follow one another in the file as a kernel or gdb
    writes them (each starts where the previous ended, up to page alignment): what a cut-off
    core still has, and garbled headers do not."""
    spans = sorted((o, n) for _k, o, n in headers if n)
    return all(0 <= b[0] - (a[0] + a[1]) <= 1 << 16 for a, b in itertools.pairwise(spans))


@dataclass(frozen=True)
class MappedFile:
    start: int
    end: int
    file_offset: int
    path: str


class CoreFile:
    """The parsed ELF core: segments, thread notes, signal info, mapped files."""

    def __init__(self, path: str | os.PathLike[str], allow_truncated: bool = False) -> None:
        self.path = Path(path)
        require_regular_file(self.path, "core file", "pass the core file itself (check the path)")
        self.file_size = self.path.stat().st_size
        if self.file_size < 64:
            raise BadFile(
                f"{self.path} is not an ELF core ({self.file_size} bytes)",
                "the core is empty or cut off; regenerate it (ulimit -c unlimited)",
            )
        self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open with the mmap
        self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        hdr = self._mm[:64]
        if hdr[:4] != b"\x7fELF":
            raise BadFile(
                f"{self.path} is not an ELF file",
                "pass a core dump (kernel core or gdb's gcore output) with --core",
            )
        if hdr[4] != 2 or hdr[5] != 1:
            raise BadFile(f"{self.path} is not a 64-bit little-endian core", "")
        e_type, e_machine = struct.unpack_from("<HH", hdr, 16)
        if e_type != 4:
            raise BadFile(
                f"{self.path} is an ELF {'executable' if e_type in (2, 3) else 'file'}, "
                "not a core dump",
                "pass the executable with --binary and the core with --core",
            )
        self.machine = e_machine
        (e_phoff,) = struct.unpack_from("<Q", hdr, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", hdr, 54)
        if e_phentsize != PHDR64_SIZE:
            raise DamagedCore(
                f"{self.path} is damaged: its program headers are {e_phentsize} bytes each, "
                f"an ELF64 core's are {PHDR64_SIZE}",
                "the core's ELF header is corrupt; regenerate or copy the core again",
            )
        if e_phnum == 0xFFFF or e_phoff + e_phnum * e_phentsize > self.file_size:
            raise TruncatedCore(
                f"{self.path} is truncated: its program headers end past the file",
                "the dump was cut off; regenerate it with enough disk space and ulimit -c "
                "unlimited",
            )
        self.segments: list[Segment] = []
        notes: list[tuple[int, int]] = []
        headers: list[tuple[str, int, int]] = []
        for i in range(e_phnum):
            p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _al = struct.unpack_from(
                "<IIQQQQQQ", self._mm, e_phoff + i * e_phentsize
            )
            if p_type == 1:
                self.segments.append(Segment(p_vaddr, p_memsz, p_offset, p_filesz, p_flags))
                headers.append(("PT_LOAD", p_offset, p_filesz))
            elif p_type == 4:
                notes.append((p_offset, p_filesz))
                headers.append(("PT_NOTE", p_offset, p_filesz))
        self.segments.sort(key=lambda s: s.vaddr)
        self._starts = [s.vaddr for s in self.segments]
        needed = max((s.offset + s.filesz for s in self.segments if s.filesz), default=0)
        needed = max([needed] + [o + n for o, n in notes])
        past = [(kind, o, n) for kind, o, n in headers if o + n > self.file_size]
        if len(past) == 1 and len(headers) > 1 and past[0][2] > self.file_size:
            kind, o, n = past[0]
            raise DamagedCore(
                f"{self.path} is damaged: its {kind} program header claims {n} bytes at offset "
                f"{o}, more than the whole {self.file_size}-byte file, while every other "
                "segment fits",
                "the core's ELF headers are corrupt; regenerate or copy the core again",
            )
        if needed > self.file_size and not _contiguous(headers):
            raise DamagedCore(
                f"{self.path} is damaged: its {len(headers)} program headers do not describe "
                f"one file (segments overlap or leave gaps; they would need {needed} bytes, "
                f"the file has {self.file_size})",
                "the core's ELF headers are corrupt; regenerate or copy the core again",
            )
        #: (bytes present, bytes the headers describe) when a cut-off core is analysed anyway.
        self.truncation: tuple[int, int] | None = None
        if needed > self.file_size:
            notes_end = max((o + n for o, n in notes), default=0)
            if not (allow_truncated or allow_truncated_env()) or notes_end > self.file_size:
                raise TruncatedCore(
                    f"{self.path} is truncated: {self.file_size} of {needed} bytes present "
                    f"({100 * self.file_size // needed}%)",
                    "the dump was cut off (disk full, ulimit -c too small, or a partial copy); "
                    "regenerate or copy it again, or analyse what is there with "
                    "--allow-truncated (GOMEM_ALLOW_TRUNCATED=1 in gdb)",
                )
            # Keep what the file holds: every byte past its end reads as not saved.
            self.truncation = (self.file_size, needed)
            left = self.file_size
            self.segments = [
                Segment(s.vaddr, s.memsz, s.offset, max(0, min(s.filesz, left - s.offset)), s.flags)
                for s in self.segments
            ]
        self.threads: list[ThreadInfo] = []
        self.thread_signals: list[int] = []
        self.siginfo: list[tuple[int, int, int, int, int]] = []  # signo, errno, code, addr, pid
        self.files: list[MappedFile] = []
        self.pid = 0
        self.fname = ""
        self.psargs = ""
        self.auxv: dict[int, int] = {}
        for off, size in notes:
            self._parse_notes(off, size)
        if not notes:
            raise DamagedCore(
                f"{self.path} has no PT_NOTE segment: no threads, registers or signal",
                "the core's headers are damaged; regenerate the core (a kernel core or gcore "
                "always has one)",
            )
        if not self.threads:
            raise DamagedCore(
                f"{self.path} has no thread notes (NT_PRSTATUS): its note segment is damaged, "
                "so no thread's registers or signal can be read",
                "regenerate or copy the core again (a kernel core or gcore writes one note per "
                "thread)",
            )

    def close(self) -> None:
        self._mm.close()
        self._fh.close()

    # ------------------------------------------------------------------ notes

    def _parse_notes(self, off: int, size: int) -> None:
        end = off + size
        pos = off
        for _ in range(1 << 16):  # bounded: a corrupt note size cannot loop forever
            if pos + 12 > end:
                return
            namesz, descsz, ntype = struct.unpack_from("<III", self._mm, pos)
            desc = pos + 12 + ((namesz + 3) & ~3)
            nxt = desc + ((descsz + 3) & ~3)
            if nxt > end or nxt <= pos:
                if pos > off and not any(self._mm[pos:end]):
                    return  # zero padding after the last note
                raise DamagedCore(
                    f"{self.path} is damaged: the note at offset {pos} (type {ntype:#x}) "
                    f"claims {namesz}+{descsz} bytes, past the end of its {size}-byte segment",
                    "the core's notes are corrupt; regenerate or copy the core again",
                )
            data = self._mm[desc : desc + descsz]
            if ntype == NT_PRSTATUS and descsz >= _PRSTATUS_REGS_OFF + 8 * len(AMD64_REGS):
                regs = struct.unpack_from(f"<{len(AMD64_REGS)}Q", data, _PRSTATUS_REGS_OFF)
                (cursig,) = struct.unpack_from("<h", data, _PRSTATUS_CURSIG_OFF)
                (lwp,) = struct.unpack_from("<i", data, _PRSTATUS_PID_OFF)
                self.threads.append(ThreadInfo(lwp, dict(zip(AMD64_REGS, regs, strict=True))))
                self.thread_signals.append(cursig)
            elif ntype == NT_SIGINFO and descsz >= 24:
                signo, errno, code = struct.unpack_from("<iii", data, 0)
                (addr,) = struct.unpack_from("<Q", data, 16)
                (spid,) = struct.unpack_from("<i", data, 16)
                self.siginfo.append((signo, errno, code, addr, spid))
            elif ntype == NT_PRPSINFO and descsz >= 136:
                (self.pid,) = struct.unpack_from("<i", data, 24)
                self.fname = data[40:56].split(b"\0")[0].decode("utf-8", "replace")
                self.psargs = data[56:136].split(b"\0")[0].decode("utf-8", "replace")
            elif ntype == NT_AUXV:
                for i in range(0, descsz - 15, 16):
                    k, v = struct.unpack_from("<QQ", data, i)
                    if k == 0:
                        break
                    self.auxv[k] = v
            elif ntype == NT_FILE and descsz >= 16:
                self._parse_nt_file(data)
            pos = nxt

    def _parse_nt_file(self, data: bytes) -> None:
        count, _page = struct.unpack_from("<QQ", data, 0)
        count = min(count, (len(data) - 16) // 24)
        names = data[16 + 24 * count :].split(b"\0")
        for i in range(count):
            start, end, off = struct.unpack_from("<QQQ", data, 16 + 24 * i)
            name = names[i].decode("utf-8", "replace") if i < len(names) else ""
            self.files.append(MappedFile(start, end, off, name))

    # ------------------------------------------------------------------ stop info

    def stop_info(self) -> StopInfo:
        """The signal that produced the dump; the kernel writes the dumping thread first."""
        if self.siginfo:
            signo, _errno, code, addr, spid = self.siginfo[0]
        elif self.thread_signals:
            signo, code, addr, spid = self.thread_signals[0], 0, 0, 0
        else:
            signo, code, addr, spid = 0, 0, 0, 0
        lwp = self.threads[0].lwp if self.threads else None
        return StopInfo.from_siginfo(signo, code, addr, spid, lwp, live=False)

    # ------------------------------------------------------------------ memory

    def segment_for(self, addr: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.segments[i].end:
            return self.segments[i]
        return None

    def read_dumped(self, addr: int, size: int) -> bytes | None:
        """Bytes present in the core file for [addr, addr+size), or None if any are not."""
        seg = self.segment_for(addr)
        if seg is None or addr + size > seg.vaddr + seg.filesz:
            return None
        start = seg.offset + (addr - seg.vaddr)
        if size <= PREAD_MAX:
            # A copy from the page cache, not through the mapping: scattered small reads
            # (span descriptors, bitmaps, a word here and there) would otherwise map each
            # page and the kernel's fault-around its neighbours, until most of a 1 GiB core
            # sat in the resident set before any whole-heap pass ran.
            return os.pread(self._fh.fileno(), size, start)
        return self._mm[start : start + size]

    def mapped_view(self) -> MappedView:
        """The file's mapping and the dumped segments it holds (not the executable's)."""
        ranges = (MappedRange(s.vaddr, s.offset, s.filesz) for s in self.segments if s.filesz)
        return MappedView(self._mm, tuple(ranges))


class CoreMemory(Memory):
    """Memory of a crashed process: the core's dumped pages, then the binary's static ones."""

    concurrent_reads = True  # reads are slices of read-only mappings

    def __init__(self, core: CoreFile, binary: GoBinary) -> None:
        self.core = core
        self.binary = binary

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        check_read(addr, size)
        data = self.core.read_dumped(addr, size)
        if data is not None:
            return data
        out = bytearray()
        cur, left = addr, size
        while left > 0:
            seg = self.core.segment_for(cur)
            if seg is not None and cur < seg.vaddr + seg.filesz:
                n = min(left, seg.vaddr + seg.filesz - cur)
                chunk = self.core.read_dumped(cur, n)
                assert chunk is not None
                out += chunk
            else:
                # Not dumped: a read-only mapping of the executable, or nothing at all.
                limit = seg.end if seg is not None else cur + left
                n = min(left, limit - cur)
                bseg = self.binary.segment_for(cur)
                if bseg is None or bseg.writable:
                    why = "not saved in the core" if seg is not None else "not mapped"
                    if (
                        seg is not None
                        and self.core.truncation is not None
                        and seg.offset + seg.filesz >= self.core.file_size
                    ):
                        why = "in the part of the core file that was cut off"
                    raise UnreadableMemory(addr, size, why)
                n = min(n, bseg.end - cur)
                out += self.binary.read_static(cur, n)
            cur += n
            left -= n
        return bytes(out)

    def mapped_view(self) -> MappedView:
        """The core file's mapping: every dumped segment in place (page-aligned in the file)."""
        return self.core.mapped_view()


AT_ENTRY = 9


def find_binary(core_path: str | os.PathLike[str]) -> Path:
    """The executable a core names (the NT_FILE mapping holding the entry point, else the
    first file mapped at offset 0), where it was, else beside the core or in the current
    directory by its name. BadFile naming what the core says when none of these exists."""
    core = CoreFile(core_path)
    try:
        entry = core.auxv.get(AT_ENTRY)
        named = [f for f in core.files if entry is not None and f.start <= entry < f.end]
        named += [f for f in core.files if f.file_offset == 0]
        exe = next((f.path for f in named if f.path and not f.path.startswith("[")), "")
        if not exe and core.fname:
            exe = core.fname
    finally:
        core.close()
    if not exe:
        raise BadFile(
            f"{core_path} does not name its executable (no file mappings in its notes)",
            "pass it with --binary",
        )
    name = Path(exe).name
    for cand in (Path(exe), Path(core_path).resolve().parent / name, Path.cwd() / name):
        if cand.is_file():
            return cand
    raise BadFile(
        f"{core_path} was written by {exe}, which is not there, nor {name} beside the core "
        "or in the current directory",
        "pass the executable with --binary",
    )


def open_core(
    binary_path: str | os.PathLike[str],
    core_path: str | os.PathLike[str],
    allow_truncated: bool = False,
) -> GoProcess:
    """Open a binary and its core as a :class:`GoProcess`; refuse mismatched pairs."""
    from gdb_gomem.target.process import GoProcess

    binary = GoBinary(binary_path)
    core = CoreFile(core_path, allow_truncated)
    if core.machine != 62:
        raise BadFile(f"{core.path} is not an x86-64 core", "gomem decodes linux/amd64 cores")
    proc = GoProcess(
        binary,
        CoreMemory(core, binary),
        core.threads,
        core.stop_info(),
        target_name=str(core.path),
        mapped_files=[(f.start, f.end, f.path) for f in core.files],
        command_line=core.psargs,
    )
    proc.check_matches_binary()
    return proc
