"""Parser of the Go function table (``.gopclntab``) for linux/amd64 Go 1.21 - 1.27.

The function table is the runtime's own map from program counters to functions, source positions,
frame sizes and GC metadata.  It survives ``-ldflags=-s -w`` (the runtime needs it for tracebacks
and stack scanning), so it is the one symbol source a post-mortem tool can always rely on.  This
module reads it exactly the way the runtime does (``runtime/symtab.go``), from bytes only: no gdb,
no ELF library, standard library only.

Layout (identical in every supported version, checked against each toolchain's runtime and
linker source)::

    pcHeader                      runtime.pcheader, at offset 0 of .gopclntab
      magic      uint32           0xfffffff1 (abi.Go120PCLnTabMagic) for Go 1.20 .. 1.27
      pad1, pad2 uint8            0, 0
      minLC      uint8            instruction size quantum (1 on amd64); pc deltas are scaled by it
      ptrSize    uint8            8 on amd64
      nfunc      uintptr          number of functions (ftab has nfunc+1 entries)
      nfiles     uintptr          number of file table entries
      textStart  uintptr          Go <= 1.25: moduledata.text; Go >= 1.26: always 0 (unused)
      funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset   uintptr, from pcHeader
    funcnametab   NUL-terminated function names, indexed by _func.nameOff
    cutab         uint32 offsets into filetab, indexed by _func.cuOffset + file number
    filetab       NUL-terminated file names
    pctab         pc-value tables, indexed by _func.pcsp/pcfile/pcln/pcdata[i]
    pclntable     ftab [nfunc]{entryoff, funcoff uint32} + end entryoff uint32, then the _func
                  records (44 bytes each, followed by npcdata uint32 pctab offsets and
                  nfuncdata uint32 offsets from moduledata.gofunc; ^0 means "absent")
    (Go >= 1.26 only) go:func.*, the funcdata blob, follows inside .gopclntab

Because Go 1.26 stopped storing the text start in the header, the caller always passes
``moduledata.text`` (for a non-PIE linux/amd64 binary: the ``runtime.text`` symbol, the start of
``.text``).  ``moduledata.gofunc`` is passed for the same reason: funcdata are offsets from it.

The magic alone cannot tell Go 1.21 from 1.27 (it has been 0xfffffff1 since 1.20); where a
meaning changed between versions (FuncID numbering, PCDATA indexes) the caller names the Go
version, see :func:`func_id_name`.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from gdb_gomem.base.errors import BadFile

__all__ = [
    "FUNCDATA_ARGINFO",
    "FUNCDATA_ARGLIVEINFO",
    "FUNCDATA_ARGS_POINTER_MAPS",
    "FUNCDATA_INLTREE",
    "FUNCDATA_LOCALS_POINTER_MAPS",
    "FUNCDATA_OPEN_CODED_DEFER_INFO",
    "FUNCDATA_STACK_OBJECTS",
    "FUNCDATA_WRAPINFO",
    "FUNC_FLAG_ASM",
    "FUNC_FLAG_SPWRITE",
    "FUNC_FLAG_TOPFRAME",
    "PCDATA_ARGLIVE_INDEX",
    "PCDATA_INLTREE_INDEX",
    "PCDATA_PANIC_BOUNDS",
    "PCDATA_STACKMAP_INDEX",
    "PCDATA_UNSAFE_POINT",
    "Func",
    "Pclntab",
    "PclntabError",
    "UnsupportedPclntab",
    "func_id_name",
]

# --- constants from internal/abi/symtab.go (identical in 1.21 .. 1.27 unless noted) ----------

GO12_MAGIC = 0xFFFFFFFB  # Go 1.2 .. 1.15
GO116_MAGIC = 0xFFFFFFFA  # Go 1.16 .. 1.17
GO118_MAGIC = 0xFFFFFFF0  # Go 1.18 .. 1.19
GO120_MAGIC = 0xFFFFFFF1  # Go 1.20 .. 1.27 (the only one this parser accepts)

_OLD_MAGICS = {
    GO12_MAGIC: "Go 1.2-1.15",
    GO116_MAGIC: "Go 1.16-1.17",
    GO118_MAGIC: "Go 1.18-1.19",
}

FUNC_FLAG_TOPFRAME = 1 << 0  # goexit, mstart, ...: a traceback ends here, successfully
FUNC_FLAG_SPWRITE = 1 << 1  # writes SP arbitrarily: pcsp cannot describe the frame
FUNC_FLAG_ASM = 1 << 2  # written in assembly

PCDATA_UNSAFE_POINT = 0
PCDATA_STACKMAP_INDEX = 1
PCDATA_INLTREE_INDEX = 2
PCDATA_ARGLIVE_INDEX = 3
PCDATA_PANIC_BOUNDS = 4  # Go 1.26+

FUNCDATA_ARGS_POINTER_MAPS = 0
FUNCDATA_LOCALS_POINTER_MAPS = 1
FUNCDATA_STACK_OBJECTS = 2
FUNCDATA_INLTREE = 3
FUNCDATA_OPEN_CODED_DEFER_INFO = 4
FUNCDATA_ARGINFO = 5
FUNCDATA_ARGLIVEINFO = 6
FUNCDATA_WRAPINFO = 7

# abi.FuncID is an iota enum whose members were inserted mid-list, so a number means different
# functions in different releases.  Index = numeric FuncID.
# fmt: off
_FUNC_IDS_121 = (
    "normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "debugCallV2",
    "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack",
    "mstart", "panicwrap", "rt0_go", "runfinq", "runtime_main", "sigpanic", "systemstack",
    "systemstack_switch", "wrapper",
)
_FUNC_IDS_122 = (  # + corostart
    "normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "corostart", "debugCallV2",
    "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack",
    "mstart", "panicwrap", "rt0_go", "runfinq", "runtime_main", "sigpanic", "systemstack",
    "systemstack_switch", "wrapper",
)
_FUNC_IDS_125 = (  # runfinq -> runFinalizers, runCleanups (after runtime_main)
    "normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "corostart", "debugCallV2",
    "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack",
    "mstart", "panicwrap", "rt0_go", "runtime_main", "runFinalizers", "runCleanups", "sigpanic",
    "systemstack", "systemstack_switch", "wrapper",
)
# fmt: on

# _func: entryOff u32, nameOff i32, args i32, deferreturn u32, pcsp u32, pcfile u32, pcln u32,
# npcdata u32, cuOffset u32, startLine i32, funcID u8, flag u8, pad u8, nfuncdata u8.
_FUNC = struct.Struct("<IiiIIIIIIiBBxB")
_FUNC_SIZE = 44  # cmd/link/internal/ld/pcln.go: funcSize = 11 * 4
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_NO_FUNCDATA = 0xFFFFFFFF
_NO_FILE = 0xFFFFFFFF
_TABLE_CACHE_SIZE = 1 << 14  # decoded pc-value tables kept; a few MB at most
_MAX_VARINT_BYTES = 5  # a uint32 needs at most 5 base-128 digits; more means corrupt data


class PclntabError(BadFile):
    """The function table is malformed, truncated, or inconsistent with the given addresses.

    Raised for every kind of bad input, so a caller never sees IndexError or struct.error from
    corrupt core/binary bytes, and can fall back (e.g. to DWARF or the ELF symbol table).
    """

    hint = (
        "the .gopclntab bytes may be truncated or corrupt, or not from this binary; "
        "check that the binary matches the core"
    )


class UnsupportedPclntab(PclntabError):
    """A well-formed table of a layout this parser does not decode (old Go, other arch)."""

    hint = "gdb-gomem decodes Go 1.21-1.27 binaries for linux/amd64"


def func_id_name(func_id: int, go_version: str) -> str:
    """Name of a numeric ``abi.FuncID`` for a Go release such as ``"1.24"`` or ``"go1.25.5"``.

    Needed because the enum was renumbered twice (corostart added in 1.22; runfinq replaced by
    runFinalizers and runCleanups in 1.25) while the pclntab magic stayed the same.
    """
    v = go_version.removeprefix("go")
    try:
        minor = int(v.split(".")[1])
    except (IndexError, ValueError):
        raise ValueError(f"not a Go version: {go_version!r}") from None
    table = _FUNC_IDS_121 if minor <= 21 else _FUNC_IDS_122 if minor <= 24 else _FUNC_IDS_125
    return table[func_id] if 0 <= func_id < len(table) else f"funcID({func_id})"


@dataclass(frozen=True)
class Func:
    """One ``runtime._func`` record, with addresses made absolute.

    ``end`` is the end of the function's code as its pc tables describe it (equal to the ELF
    symbol size that ``go tool nm`` shows); alignment padding up to the next function is not
    included.  :meth:`Pclntab.find_func` still attributes padding to the preceding function, as
    the runtime's ``findfunc`` does.
    """

    entry: int
    end: int
    name: str
    start_line: int
    func_id: int
    flag: int
    args: int
    deferreturn: int
    npcdata: int
    nfuncdata: int
    offset: int  # of the _func record within .gopclntab
    pcsp: int = 0  # pctab offsets (0 = no table), as in the record
    pcfile: int = 0
    pcln: int = 0
    cu_offset: int = 0  # index of the function's compilation unit in cutab
    ftab_end: int = 0  # next function's entry: findfunc's upper bound for this function

    @property
    def size(self) -> int:
        """Size of the code in bytes (``end - entry``)."""
        return self.end - self.entry


class Pclntab:
    """The decoded function table of one Go module (one binary; plugins not supported).

    Construction validates the header and the function index (``ftab``) once, in O(nfunc);
    names, records and pc-value tables are decoded on demand and cached, so opening a big
    binary and looking up a few PCs stays fast (a few ms for 20k functions).
    """

    version: str
    magic: int
    header_text_start: int  # textStart as stored (Go <= 1.25), 0 on Go >= 1.26
    nfunc: int
    nfiles: int
    pc_quantum: int
    text_start: int
    gofunc: int

    def __init__(self, data: bytes, *, text_start: int, gofunc: int, ptr_size: int = 8) -> None:
        """Parse ``data`` (the bytes of ``.gopclntab``, pcHeader at offset 0).

        ``text_start`` is ``moduledata.text`` (function entries are stored relative to it);
        ``gofunc`` is ``moduledata.gofunc`` (funcdata are stored relative to it).
        """
        self._data = bytes(data)
        self.text_start = text_start
        self.gofunc = gofunc
        self._parse_header(ptr_size)
        self._parse_ftab()
        self._cache: dict[int, Func] = {}
        self._tables: dict[int, tuple[list[int], list[int]]] = {}
        self._all: list[Func] | None = None
        self._by_name: dict[str, int] | None = None

    # --- construction ------------------------------------------------------------------------

    def _parse_header(self, ptr_size: int) -> None:
        d = self._data
        if len(d) < 8:
            raise PclntabError(f"pclntab too short for a header: {len(d)} bytes")
        magic, pad1, pad2, min_lc, hdr_ptr = struct.unpack_from("<IBBBB", d, 0)
        if magic != GO120_MAGIC:
            if magic in _OLD_MAGICS:
                raise UnsupportedPclntab(
                    f"pclntab magic {magic:#x} is from {_OLD_MAGICS[magic]}; "
                    "only Go 1.20+ tables (magic 0xfffffff1) are supported"
                )
            swapped = int.from_bytes(d[:4], "big")
            if swapped == GO120_MAGIC or swapped in _OLD_MAGICS:
                raise UnsupportedPclntab(
                    f"pclntab is big-endian (magic {swapped:#x}); only little-endian is supported"
                )
            raise PclntabError(f"bad pclntab magic {magic:#x} (expected {GO120_MAGIC:#x})")
        if pad1 or pad2:
            raise PclntabError(f"bad pclntab header padding {pad1}, {pad2}")
        if min_lc not in (1, 2, 4):
            raise PclntabError(f"bad pclntab instruction quantum {min_lc}")
        if hdr_ptr != ptr_size or ptr_size not in (4, 8):
            raise UnsupportedPclntab(
                f"pclntab pointer size {hdr_ptr} does not match the target's {ptr_size}"
            )
        need = 8 + 8 * ptr_size
        if len(d) < need:
            raise PclntabError(f"pclntab too short for a header: {len(d)} < {need} bytes")
        fields = struct.unpack_from("<8" + ("Q" if ptr_size == 8 else "I"), d, 8)
        nfunc, nfiles, hdr_text, name_off, cu_off, file_off, pc_off, pcln_off = fields
        if not need <= name_off <= cu_off <= file_off <= pc_off <= pcln_off <= len(d):
            raise PclntabError(
                "pclntab table offsets out of order or past the end: "
                f"{name_off:#x} {cu_off:#x} {file_off:#x} {pc_off:#x} {pcln_off:#x} "
                f"(size {len(d):#x})"
            )
        if (file_off - cu_off) % 4:
            raise PclntabError(f"pclntab cutab size {file_off - cu_off} is not a multiple of 4")
        if nfunc == 0 or (2 * nfunc + 1) * 4 > len(d) - pcln_off:
            raise PclntabError(f"pclntab function count {nfunc} does not fit the table")
        self.magic = magic
        self.version = "1.20+"
        self.pc_quantum = min_lc
        self.ptr_size = ptr_size
        self.nfunc = nfunc
        self.nfiles = nfiles
        self.header_text_start = hdr_text
        self._nametab = (name_off, cu_off)
        self._cutab = (cu_off, file_off)
        self._filetab = (file_off, pc_off)
        self._pctab = (pc_off, pcln_off)
        self._pcln = pcln_off

    def _parse_ftab(self) -> None:
        n = self.nfunc
        start = self._pcln
        ftab = array("I")
        ftab.frombytes(self._data[start : start + (2 * n + 1) * 4])
        if sys.byteorder != "little":
            ftab.byteswap()
        entries = ftab[0::2]  # n + 1 values: the last is the end of the last function
        funcoffs = ftab[1::2]
        if any(a > b for a, b in pairwise(entries)):
            raise PclntabError("pclntab function table is not sorted by entry")
        limit = len(self._data) - start - _FUNC_SIZE
        if max(funcoffs) > limit or min(funcoffs) < (2 * n + 1) * 4:
            raise PclntabError("pclntab function record offset out of range")
        self._entries: list[int] = entries.tolist()
        self._funcoffs: list[int] = funcoffs.tolist()

    # --- low-level readers -------------------------------------------------------------------

    def _cstring(self, start: int, end: int, what: str) -> str:
        d = self._data
        nul = d.find(b"\0", start, end)
        if start >= end or nul < 0:
            raise PclntabError(f"pclntab {what} string at {start:#x} is not terminated")
        return d[start:nul].decode("utf-8", "replace")

    def _name(self, name_off: int) -> str:
        # The runtime's funcName maps nameOff 0 to "", which hides the name of the first
        # function in the table (the linker puts it at offset 0); debug/gosym and nm read the
        # string, and so do we.
        lo, hi = self._nametab
        if not 0 <= name_off < hi - lo:
            raise PclntabError(f"function name offset {name_off:#x} out of range")
        return self._cstring(lo + name_off, hi, "function name")

    def name_at(self, name_off: int) -> str:
        """A function name by its offset in funcnametab (as inline-tree entries give it)."""
        return self._name(name_off)

    def _u32(self, off: int) -> int:
        if off + 4 > len(self._data) or off < 0:
            raise PclntabError(f"pclntab read at {off:#x} past the end")
        return _U32.unpack_from(self._data, off)[0]

    def _table_end(self, off: int) -> int | None:
        """Size of the code the pc-value table at ``off`` covers (None: no table).

        The compiler ends every table exactly at the function's symbol size (cmd/internal/obj
        funcpctab), which is how the code size is recovered without an ELF symbol table.
        """
        if off == 0:
            return None
        rows = self._rows(off, 0)
        return rows[-1][1] if rows else None

    def _varint(self, p: int, hi: int) -> tuple[int, int]:
        """runtime.readvarint: little-endian base-128, at most 5 bytes for a uint32."""
        d = self._data
        v = 0
        shift = 0
        for _ in range(_MAX_VARINT_BYTES):
            if p >= hi:
                raise PclntabError("varint runs off the end of pctab")
            b = d[p]
            p += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v & 0xFFFFFFFF, p
            shift += 7
        raise PclntabError(f"varint longer than {_MAX_VARINT_BYTES} bytes in pctab")

    def _pcvalue(self, off: int, entry: int, target: int) -> int | None:
        """runtime.pcvalue: the value at ``target``; -1 for no table; None if not covered.

        Tables are decoded whole once and cached (relative to the entry, since the linker
        deduplicates identical tables across functions), so the repeated lookups of a stack
        walk cost a bisect instead of a re-decode.
        """
        if off == 0:
            return -1
        t = self._tables.get(off)
        if t is None:
            rows = self._rows(off, 0)
            t = ([r[1] for r in rows], [r[2] for r in rows])
            if len(self._tables) >= _TABLE_CACHE_SIZE:
                self._tables.clear()
            self._tables[off] = t
        ends, vals = t
        i = bisect_right(ends, target - entry)
        return vals[i] if i < len(vals) else None

    # --- function records --------------------------------------------------------------------

    def _func_at(self, i: int) -> Func:
        f = self._cache.get(i)
        if f is not None:
            return f
        rec = self._pcln + self._funcoffs[i]
        (
            entry_off,
            name_off,
            args,
            deferreturn,
            pcsp,
            pcfile,
            pcln,
            npcdata,
            cu_off,
            start_line,
            func_id,
            flag,
            nfuncdata,
        ) = _FUNC.unpack_from(self._data, rec)
        if entry_off != self._entries[i]:
            raise PclntabError(
                f"function record {i} entry {entry_off:#x} disagrees with ftab "
                f"{self._entries[i]:#x}"
            )
        if rec + _FUNC_SIZE + 4 * (npcdata + nfuncdata) > len(self._data):
            raise PclntabError(f"function record {i} extends past the end of the table")
        entry = self.text_start + entry_off
        ftab_end = self.text_start + self._entries[i + 1]
        code_end = self._table_end(pcsp)
        if code_end is None:
            code_end = self._table_end(pcln)
        end = ftab_end if code_end is None else min(entry + code_end, ftab_end)
        f = Func(
            entry=entry,
            end=end,
            name=self._name(name_off),
            start_line=start_line,
            func_id=func_id,
            flag=flag,
            args=args,
            deferreturn=deferreturn,
            npcdata=npcdata,
            nfuncdata=nfuncdata,
            offset=rec,
            pcsp=pcsp,
            pcfile=pcfile,
            pcln=pcln,
            cu_offset=cu_off,
            ftab_end=ftab_end,
        )
        self._cache[i] = f
        return f

    def funcs(self) -> Sequence[Func]:
        """All functions, sorted by entry (decodes every record once, then cached)."""
        if self._all is None:
            self._all = [self._func_at(i) for i in range(self.nfunc)]
        return self._all

    def find_func(self, pc: int) -> Func | None:
        """The function containing ``pc``, as runtime.findfunc resolves it, or None.

        Like the runtime, a pc in the alignment padding after a function belongs to it.
        """
        off = pc - self.text_start
        entries = self._entries
        if off < entries[0] or off >= entries[-1]:
            return None
        return self._func_at(bisect_right(entries, off, 0, self.nfunc) - 1)

    def func_by_name(self, name: str) -> Func | None:
        """The function with this exact (runtime, not demangled) name, e.g. ``main.main``."""
        if self._by_name is None:
            by_name: dict[str, int] = {}
            base = self._pcln + 4  # nameOff follows entryOff in every record
            for i, funcoff in enumerate(self._funcoffs):
                name_off = _I32.unpack_from(self._data, base + funcoff)[0]
                by_name.setdefault(self._name(name_off), i)
            self._by_name = by_name
        hit = self._by_name.get(name)
        return None if hit is None else self._func_at(hit)

    # --- pc-value lookups --------------------------------------------------------------------

    def _check_pc(self, f: Func, pc: int) -> None:
        if not f.entry <= pc < max(f.end, f.ftab_end):
            raise PclntabError(f"pc {pc:#x} is not in {f.name} [{f.entry:#x}, {f.end:#x})")

    def line(self, f: Func, pc: int) -> tuple[str, int]:
        """Source file and line of ``pc`` (runtime.funcline1); ``("?", 0)`` when unknown.

        For inlined code this is the innermost (inlined) position while ``f`` stays the
        physical function, the same answer ``go tool addr2line`` gives.
        """
        self._check_pc(f, pc)
        fileno = self._pcvalue(f.pcfile, f.entry, pc)
        line = self._pcvalue(f.pcln, f.entry, pc)
        if fileno is None or line is None or fileno == -1 or line == -1:
            return "?", 0
        return self.file_name(f.cu_offset + fileno), line

    def file_name(self, cu_index: int) -> str:
        """Name in filetab of ``cutab[cu_index]`` (a function's cuOffset plus its file number)."""
        lo, hi = self._cutab
        p = lo + 4 * cu_index
        if cu_index < 0 or p + 4 > hi:
            raise PclntabError(f"file index {cu_index} outside cutab")
        fileoff = _U32.unpack_from(self._data, p)[0]
        if fileoff == _NO_FILE:
            return "?"
        flo, fhi = self._filetab
        if fileoff >= fhi - flo:
            raise PclntabError(f"file name offset {fileoff:#x} outside filetab")
        return self._cstring(flo + fileoff, fhi, "file name")

    def sp_delta(self, f: Func, pc: int) -> int:
        """Bytes the frame occupies below the return address at ``pc`` (runtime.funcspdelta).

        0 at the entry; the caller's SP is ``sp + sp_delta + ptr_size`` (the return address).
        Raises PclntabError when the function has no pcsp table or it does not cover ``pc``,
        where the runtime would throw rather than guess.
        """
        self._check_pc(f, pc)
        if f.pcsp == 0:
            raise PclntabError(f"{f.name} has no pcsp table")
        v = self._pcvalue(f.pcsp, f.entry, pc)
        if v is None:
            raise PclntabError(f"pcsp table of {f.name} does not cover pc {pc:#x}")
        return v

    def pcdata(self, f: Func, table: int, pc: int) -> int:
        """Value of PCDATA table ``table`` at ``pc`` (runtime.pcdatavalue); -1 when absent."""
        self._check_pc(f, pc)
        if not 0 <= table < f.npcdata:
            return -1
        off = self._u32(f.offset + _FUNC_SIZE + 4 * table)
        v = self._pcvalue(off, f.entry, pc)
        return -1 if v is None else v

    def funcdata(self, f: Func, index: int) -> int | None:
        """Absolute address of FUNCDATA ``index`` (runtime.funcdata), or None when absent."""
        if not 0 <= index < f.nfuncdata:
            return None
        off = self._u32(f.offset + _FUNC_SIZE + 4 * (f.npcdata + index))
        return None if off == _NO_FUNCDATA else self.gofunc + off

    def pc_ranges(self, f: Func, off: int) -> list[tuple[int, int, int]]:
        """Decode the whole pc-value table at pctab offset ``off`` as (start, end, value) rows.

        For callers that want every frame-size or line change of a function at once (e.g. to
        check a return address against the frame layout) instead of one pc at a time.
        """
        return [(f.entry + a, f.entry + b, v) for a, b, v in self._rows(off, 0)] if off else []

    def _rows(self, off: int, entry: int) -> list[tuple[int, int, int]]:
        """All (start, end, value) rows of the table at ``off``, same algorithm as runtime.step."""
        d = self._data
        lo, hi = self._pctab
        p = lo + off
        if p >= hi:
            raise PclntabError(f"pc-value table offset {off:#x} out of range")
        q = self.pc_quantum
        pc = entry
        val = -1
        rows: list[tuple[int, int, int]] = []
        while True:
            if p >= hi:
                raise PclntabError(f"pc-value table at {off:#x} runs off the end of pctab")
            uv = d[p]
            if uv == 0 and pc != entry:
                return rows
            if uv & 0x80:
                uv, p = self._varint(p, hi)
            else:
                p += 1
            val = (val + (-(uv & 1) ^ (uv >> 1))) & 0xFFFFFFFF
            if val >= 0x80000000:
                val -= 0x100000000
            if p >= hi:
                raise PclntabError(f"pc-value table at {off:#x} runs off the end of pctab")
            b = d[p]
            if b & 0x80:
                delta, p = self._varint(p, hi)
            else:
                delta = b
                p += 1
            start = pc
            pc += delta * q
            if pc > start:
                rows.append((start, pc, val))
