"""Tests of gdb_gomem.symbols.pclntab against the real Go toolchain's answers.

Three sources of truth, none of which needs Go at test time:

- a synthetic table built here byte by byte from the layout in the runtime source (exact
  expectations, edge cases such as multi-byte varints, and every unsupported header);
- the committed fixtures (``fixtures/<ver>/leaky``): facts recorded from ``go tool nm`` and
  ``go tool addr2line``, plus the binary's own ``.debug_frame`` (the linker writes it from the
  compiler's pcsp data, in a different encoding) for frame sizes;
- optionally, binaries built now with local toolchains (``GOMEM_TEST_TOOLCHAINS=1``, toolchains
  under ``~/.cache/gdb-gomem/toolchains/go-<ver>``), turned into the same facts shape, for
  development before the fixtures exist.

ELF reading is done here with a few lines of ``struct`` on purpose: the test must not depend on
other project modules, so a bug there cannot hide one here.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gdb_gomem.symbols.pclntab import (
    FUNCDATA_ARGS_POINTER_MAPS,
    FUNCDATA_LOCALS_POINTER_MAPS,
    PCDATA_STACKMAP_INDEX,
    Func,
    Pclntab,
    PclntabError,
    UnsupportedPclntab,
    func_id_name,
)
from tests.support import ROOT

TOOLCHAINS = Path.home() / ".cache" / "gdb-gomem" / "toolchains"
LOCAL_VERSIONS = ("1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3")

# --------------------------------------------------------------------------------------------
# Minimal ELF64 little-endian reader (stdlib only)
# --------------------------------------------------------------------------------------------

SHF_COMPRESSED = 0x800
SHT_NOBITS = 8


class Elf:
    """Section headers and .symtab of an ELF64 LE file: just what locating .gopclntab needs."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        d = self.data
        assert d[:4] == b"\x7fELF" and d[4] == 2 and d[5] == 1, f"{path}: not ELF64 LE"
        (shoff,) = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        raw = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
        strtab_off = raw[shstrndx][4]
        self.raw = raw
        self.sections: dict[str, tuple[int, int, int, int, int, int]] = {}
        for name, typ, flags, addr, off, size, link, _info, _align, _ent in raw:
            n = d[strtab_off + name : d.index(b"\0", strtab_off + name)].decode()
            self.sections[n] = (typ, flags, addr, off, size, link)

    def section(self, name: str) -> bytes | None:
        """Contents of a section, decompressed if SHF_COMPRESSED (Go compresses .debug_*)."""
        if name not in self.sections:
            return None
        _typ, flags, _addr, off, size, _link = self.sections[name]
        b = self.data[off : off + size]
        if flags & SHF_COMPRESSED:
            ch_type, _res, ch_size, _align = struct.unpack_from("<IIQQ", b, 0)
            assert ch_type == 1, "only zlib-compressed sections"
            b = zlib.decompress(b[24:])
            assert len(b) == ch_size
        return b

    def addr_of(self, name: str) -> int:
        return self.sections[name][2]

    def symbols(self) -> dict[str, tuple[int, int]]:
        """name -> (value, size) from .symtab (first definition wins)."""
        if ".symtab" not in self.sections:
            return {}
        _t, _f, _a, off, size, link = self.sections[".symtab"]
        str_off = self.raw[link][4]
        d = self.data
        out: dict[str, tuple[int, int]] = {}
        for p in range(off, off + size, 24):
            name, _info, _other, _shndx, value, sz = struct.unpack_from("<IBBHQQ", d, p)
            n = d[str_off + name : d.index(b"\0", str_off + name)].decode("utf-8", "replace")
            out.setdefault(n, (value, sz))
        return out

    def read(self, addr: int, n: int) -> bytes | None:
        """Bytes at a virtual address, from whichever allocated section holds them."""
        for typ, _flags, a, off, size, _link in self.sections.values():
            if a and typ != SHT_NOBITS and a <= addr and addr + n <= a + size:
                return self.data[off + addr - a : off + addr - a + n]
        return None


def _uleb(b: bytes, p: int) -> tuple[int, int]:
    v = s = 0
    while True:
        x = b[p]
        p += 1
        v |= (x & 0x7F) << s
        s += 7
        if not x & 0x80:
            return v, p


def _sleb(b: bytes, p: int) -> tuple[int, int]:
    v = s = 0
    while True:
        x = b[p]
        p += 1
        v |= (x & 0x7F) << s
        s += 7
        if not x & 0x80:
            return (v - (1 << s) if x & 0x40 else v), p


def debug_frame_rows(b: bytes) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """Go's .debug_frame (DWARF32, amd64) as {entry: (size, [(pc, CFA offset from SP)])}.

    The Go linker emits only def_cfa_offset(_sf) and advance_loc* in FDEs
    (cmd/link/internal/ld/dwarf.go: writeframes, appendPCDeltaCFA), so that is all we decode.
    """
    out: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    p = 0
    while p + 4 <= len(b):
        (length,) = struct.unpack_from("<I", b, p)
        body, end = p + 4, p + 4 + length
        p = end
        if length == 0 or struct.unpack_from("<I", b, body)[0] == 0xFFFFFFFF:
            continue  # padding or the CIE
        loc, rng = struct.unpack_from("<QQ", b, body + 4)
        q, pc, cfa, rows = body + 20, loc, 8, []
        while q < end:
            op = b[q]
            q += 1
            if op == 0:
                continue
            if op & 0xC0 == 0x40:
                rows.append((pc, cfa))
                pc += op & 0x3F
            elif op in (0x02, 0x03, 0x04):
                fmt = {0x02: "<B", 0x03: "<H", 0x04: "<I"}[op]
                rows.append((pc, cfa))
                pc += struct.unpack_from(fmt, b, q)[0]
                q += struct.calcsize(fmt)
            elif op == 0x13:  # DW_CFA_def_cfa_offset_sf, data alignment factor -4
                v, q = _sleb(b, q)
                cfa = -4 * v
            elif op == 0x0E:
                cfa, q = _uleb(b, q)
            else:
                raise AssertionError(f"unexpected CFA op {op:#x}")
        out[loc] = (rng, rows)
    return out


# --------------------------------------------------------------------------------------------
# Cases: a Go binary plus facts from the real toolchain
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    version: str  # "1.21.13" or "1.21"
    binary: Path
    facts: dict[str, Any]
    _elf: Elf | None = field(default=None, repr=False)

    @property
    def minor(self) -> int:
        return int(self.version.removeprefix("go").split(".")[1])

    @property
    def elf(self) -> Elf:
        if self._elf is None:
            self._elf = Elf(self.binary)
        return self._elf

    def table_args(self) -> tuple[bytes, int, int]:
        """(.gopclntab bytes, moduledata.text, moduledata.gofunc) from the ELF file.

        For a non-PIE linux/amd64 binary moduledata.text is the runtime.text symbol, which is
        the start of .text; moduledata.gofunc is the go:func.* symbol.
        """
        e = self.elf
        data = e.section(".gopclntab")
        assert data is not None, f"{self.binary}: no .gopclntab"
        syms = e.symbols()
        text = syms["runtime.text"][0] if "runtime.text" in syms else e.addr_of(".text")
        gofunc = syms.get("go:func.*", (0, 0))[0]
        return data, text, gofunc


def _fixture_cases() -> tuple[list[str], str]:
    """Versions with committed fixtures, or ([], why-not)."""
    from gomem_fixtures import store

    vs = [v for v in store.versions() if _has_leaky(store, v)]
    return vs, "" if vs else "no committed fixture has fixtures/<ver>/leaky/facts.json"


def _has_leaky(store: Any, version: str) -> bool:
    return (ROOT / "fixtures" / version / "leaky" / "facts.json").exists() or bool(
        getattr(store, "has_fixture", lambda *_: False)(version, "leaky")
    )


@cache
def fixture_case(version: str) -> Case:
    from gomem_fixtures import store

    facts_path = store.fixture_file(version, "leaky", "facts.json")
    binary = store.fixture_file(version, "leaky", "leaky")
    return Case(version, Path(binary), json.loads(Path(facts_path).read_text()))


PROBE_GO = r"""
package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

type node struct {
	next *node
	buf  []byte
}

var sink []*node

func mapOf[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

//go:noinline
func bigFrame(n int) int {
	var buf [4096]byte
	for i := range buf {
		buf[i] = byte(i * n)
	}
	return int(buf[n%4096])
}

//go:noinline
func withDefer(n int) (r int) {
	defer func() {
		if recover() != nil {
			r = -1
		}
	}()
	if n < 0 {
		panic("neg")
	}
	return 2 * n
}

func main() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			mu.Lock()
			sink = append(sink, &node{buf: make([]byte, k*10)})
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	s := mapOf([]int{1, 2}, func(i int) string { return strings.Repeat("x", i) })
	fmt.Println(len(sink), s, bigFrame(3), withDefer(2), withDefer(-1))
	if len(os.Args) > 9 {
		os.Exit(1)
	}
}
"""


def _local_enabled() -> bool:
    return os.environ.get("GOMEM_TEST_TOOLCHAINS") == "1"


def _local_versions() -> list[str]:
    if not _local_enabled():
        return []
    return [v for v in LOCAL_VERSIONS if (TOOLCHAINS / f"go-{v}" / "bin" / "go").exists()]


@cache
def local_case(version: str, tmp_root: str) -> Case:
    """Build the probe with a local toolchain and record facts the way the fixtures do."""
    go = str(TOOLCHAINS / f"go-{version}" / "bin" / "go")
    work = Path(tmp_root) / version
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module probe\n\ngo 1.21\n")
    (work / "main.go").write_text(PROBE_GO)
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    binary = work / "probe"
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(binary), "."],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    nm_out = subprocess.run(
        [go, "tool", "nm", "-size", "-sort", "address", str(binary)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    nm = []
    for line in nm_out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4:
            nm.append(
                {
                    "addr": int(parts[0], 16),
                    "size": int(parts[1]),
                    "kind": parts[2],
                    "name": parts[3],
                }
            )
    funcs = [s for s in nm if s["kind"] in "Tt" and s["size"] > 0]
    rnd = random.Random(7)
    pcs = []
    for s in rnd.sample(funcs, min(300, len(funcs))):
        pcs += [s["addr"], s["addr"] + rnd.randrange(s["size"])]
    a2l = subprocess.run(
        [go, "tool", "addr2line", str(binary)],
        input="".join(f"{p:#x}\n" for p in pcs),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    samples = []
    for i, pc in enumerate(pcs):
        file, _, line = a2l[2 * i + 1].rpartition(":")
        samples.append({"pc": pc, "func": a2l[2 * i], "file": file, "line": int(line)})
    return Case(version, binary, {"nm": nm, "addr2line": samples, "buildinfo": {}})


FIXTURE_VERSIONS, NO_FIXTURES = _fixture_cases()
CASE_PARAMS = [pytest.param(("fixture", v), id=f"fixture-{v}") for v in FIXTURE_VERSIONS] + [
    pytest.param(("local", v), id=f"local-{v}") for v in _local_versions()
]
if not CASE_PARAMS:
    CASE_PARAMS = [
        pytest.param(
            None,
            id="no-fixtures",
            marks=pytest.mark.skip(
                reason=f"{NO_FIXTURES}; set GOMEM_TEST_TOOLCHAINS=1 to test local Go builds"
            ),
        )
    ]


@pytest.fixture(scope="module", params=CASE_PARAMS)
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    kind, version = request.param
    if kind == "fixture":
        return fixture_case(version)
    return local_case(version, str(tmp_path_factory.getbasetemp() / "pclntab-probes"))


@cache
def _parsed(binary: Path) -> Pclntab:
    data, text, gofunc = Case("0.0", binary, {}).table_args()
    return Pclntab(data, text_start=text, gofunc=gofunc)


def table(case: Case) -> Pclntab:
    return _parsed(case.binary)


def _int(v: int | str) -> int:
    return v if isinstance(v, int) else int(v, 0)


def _norm(name: str) -> str:
    """ELF symbol names as nm prints them: ABI0 wrappers carry ".abi0", and the linker turns
    the middle dot the runtime uses (e.g. ``type:.eq.T·4``) into "."."""
    return name.removesuffix(".abi0").replace("·", ".")


def nm_funcs(case: Case) -> list[tuple[int, int, str]]:
    out = []
    for s in case.facts["nm"]:
        kind, size, name = s.get("kind", "T"), _int(s["size"]), s["name"]
        if kind not in ("T", "t"):
            continue
        if size == 0 and name in ("runtime.text", "runtime.etext"):
            continue  # markers, not functions
        out.append((_int(s["addr"]), size, name))
    return out


# --------------------------------------------------------------------------------------------
# Tests against real binaries
# --------------------------------------------------------------------------------------------


def test_header_by_version(case: Case) -> None:
    """Magic 0xfffffff1 everywhere; textStart stored up to Go 1.25, zero from Go 1.26."""
    t = table(case)
    _data, text, _gofunc = case.table_args()
    assert t.magic == 0xFFFFFFF1 and t.version == "1.20+"
    assert t.pc_quantum == 1 and t.ptr_size == 8
    assert t.header_text_start == (text if case.minor <= 25 else 0)


def test_every_nm_function(case: Case) -> None:
    """Entry, name and size of every text symbol match ``go tool nm``; nothing extra."""
    t = table(case)
    syms = nm_funcs(case)
    assert syms, "facts have no functions"
    for addr, size, name in syms:
        f = t.find_func(addr)
        assert f is not None, f"{name} at {addr:#x} not found"
        assert (f.entry, _norm(f.name)) == (addr, _norm(name))
        if f.pcsp or f.pcln:
            assert f.size == size, f"{name}: size {f.size} != nm {size}"
        else:  # linker markers such as go:textfipsstart have no pc tables: ftab bound only
            assert f.entry + size <= f.end == f.ftab_end
        assert t.func_by_name(f.name) is not None
    by_entry = {(a, _norm(n)) for a, _s, n in syms}
    extra = [f.name for f in t.funcs() if (f.entry, _norm(f.name)) not in by_entry]
    assert not extra, f"functions in pclntab but not in nm: {extra[:10]}"
    assert [f.entry for f in t.funcs()] == sorted(f.entry for f in t.funcs())


def test_addr2line_samples(case: Case) -> None:
    """Function and file:line for sampled PCs match ``go tool addr2line``."""
    t = table(case)
    samples = case.facts["addr2line"]
    assert samples
    for s in samples:
        pc = _int(s["pc"])
        f = t.find_func(pc)
        if s["func"] == "?":
            assert f is None or t.line(f, pc) == ("?", 0)
            continue
        assert f is not None, f"no function for {pc:#x}"
        assert f.name == s["func"], f"{pc:#x}"
        file, line = t.line(f, pc)
        assert (file, line) == (s["file"], int(s["line"])), f"{pc:#x} in {f.name}"


def test_sp_delta_matches_debug_frame(case: Case) -> None:
    """pcsp decoding agrees with the CFA offsets of every FDE in .debug_frame."""
    frames = case.elf.section(".debug_frame")
    if frames is None:
        pytest.skip("binary has no .debug_frame (built with -ldflags=-w)")
    t = table(case)
    fdes = debug_frame_rows(frames)
    assert len(fdes) > 100
    for entry, (size, rows) in fdes.items():
        f = t.find_func(entry)
        assert f is not None and f.entry == entry
        assert f.size == size, f.name
        for pc, cfa in rows:
            # CFA = SP + delta + the return address the CALL pushed
            assert t.sp_delta(f, pc) == cfa - 8, f"{f.name} at {pc:#x}"
        assert t.sp_delta(f, f.entry) == 0


def test_known_frames(case: Case) -> None:
    """A few runtime functions whose frames are fixed by their assembly or role."""
    t = table(case)
    for name in ("runtime.main", "runtime.goexit", "runtime.mallocgc", "main.main"):
        f = t.func_by_name(name)
        assert f is not None, name
        assert t.find_func(f.entry) == f
        assert t.sp_delta(f, f.entry) == 0
    goexit = t.func_by_name("runtime.goexit")
    assert goexit is not None and goexit.flag & 1  # FuncFlagTopFrame
    assert func_id_name(goexit.func_id, case.version) == "goexit"
    main = t.func_by_name("runtime.main")
    assert main is not None and func_id_name(main.func_id, case.version) == "runtime_main"
    mstart = t.func_by_name("runtime.mstart")
    assert mstart is not None and func_id_name(mstart.func_id, case.version) == "mstart"


def test_deferreturn_offsets(case: Case) -> None:
    """_func.deferreturn is set exactly for functions that call runtime.deferreturn (objdump)."""
    kinds = case.facts.get("defer_kinds")
    if not kinds:
        pytest.skip("facts carry no defer_kinds")
    t = table(case)
    for name, counts in kinds.items():
        f = t.func_by_name(name)
        assert f is not None, name
        if counts["deferreturn"]:
            assert 0 < f.deferreturn < f.size, name
        else:
            assert f.deferreturn == 0, name


def test_funcdata_and_pcdata(case: Case) -> None:
    """Funcdata point into go:func.*, and stack maps agree with args and PCDATA indexes."""
    t = table(case)
    e = case.elf
    syms = e.symbols()
    if "go:func.*" not in syms:
        pytest.skip("no go:func.* symbol (stripped binary)")
    # Go 1.26 moved the funcdata blob into .gopclntab
    holder = ".gopclntab" if case.minor >= 26 else ".rodata"
    _typ, _fl, lo, _off, size, _link = e.sections[holder]
    checked = 0
    for f in t.funcs():
        assert t.funcdata(f, f.nfuncdata) is None and t.funcdata(f, -1) is None
        assert t.pcdata(f, f.npcdata, f.entry) == -1
        for i in range(f.nfuncdata):
            a = t.funcdata(f, i)
            assert a is None or (t.gofunc <= a < lo + size and lo <= a), f"{f.name} #{i}"
        args = t.funcdata(f, FUNCDATA_ARGS_POINTER_MAPS)
        locals_ = t.funcdata(f, FUNCDATA_LOCALS_POINTER_MAPS)
        if args is None or locals_ is None or f.flag & 4:
            continue
        header = e.read(args, 8)
        lheader = e.read(locals_, 8)
        assert header is not None and lheader is not None
        n, nbit = struct.unpack("<ii", header)
        nl, _ = struct.unpack("<ii", lheader)
        assert n >= 1 and 0 <= nbit * 8 <= max(f.args, 0), f.name
        for pc in range(f.entry, f.end, max(1, f.size // 8)):
            assert -1 <= t.pcdata(f, PCDATA_STACKMAP_INDEX, pc) < max(n, nl), f.name
        checked += 1
    assert checked > 100


def test_speed(case: Case) -> None:
    """Parse the table and resolve 10k PCs quickly (budgets ~20x what a laptop needs)."""
    data, text, gofunc = case.table_args()
    t0 = time.perf_counter()
    t = Pclntab(data, text_start=text, gofunc=gofunc)
    parse = time.perf_counter() - t0
    rnd = random.Random(1)
    fs = t.funcs()
    pcs = [rnd.randrange(f.entry, f.end) for f in rnd.choices(fs, k=10_000) if f.size]
    t0 = time.perf_counter()
    for pc in pcs:
        f = t.find_func(pc)
        assert f is not None
        t.line(f, pc)
        if f.pcsp:
            t.sp_delta(f, pc)
    lookups = time.perf_counter() - t0
    assert parse < 1.0 and lookups < 10.0, (parse, lookups)


def test_real_table_truncated(case: Case) -> None:
    """Every truncation of a real table raises PclntabError (or stays consistent), fast."""
    data, text, gofunc = case.table_args()
    rnd = random.Random(3)
    cuts = list(range(200)) + sorted(rnd.sample(range(200, len(data)), 60))
    t0 = time.perf_counter()
    for cut in cuts:
        _exercise(data[:cut], text, gofunc, samples=40, rnd=rnd)
    assert time.perf_counter() - t0 < 30


def test_real_table_corrupted(case: Case) -> None:
    """Random byte damage anywhere in a real table never escapes as another exception."""
    data, text, gofunc = case.table_args()
    rnd = random.Random(4)
    t0 = time.perf_counter()
    for _ in range(60):
        b = bytearray(data)
        for _ in range(rnd.choice((1, 8, 200))):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        _exercise(bytes(b), text, gofunc, samples=60, rnd=rnd)
    assert time.perf_counter() - t0 < 30


# --------------------------------------------------------------------------------------------
# Robustness driver shared by real and synthetic tables
# --------------------------------------------------------------------------------------------


def _exercise(data: bytes, text: int, gofunc: int, *, samples: int, rnd: random.Random) -> None:
    """Use every API on possibly damaged bytes; only PclntabError may come out."""
    try:
        t = Pclntab(data, text_start=text, gofunc=gofunc)
    except PclntabError:
        return
    entries = t._entries  # choose PCs where functions claim to be
    for _ in range(samples):
        i = rnd.randrange(len(entries) - 1)
        pc = text + rnd.randrange(entries[i], max(entries[i] + 1, entries[i + 1]))
        try:
            f = t.find_func(pc)
            if f is None:
                continue
            t.line(f, pc)
            t.sp_delta(f, pc)
            t.pcdata(f, rnd.randrange(4), pc)
            t.funcdata(f, rnd.randrange(8))
            t.pc_ranges(f, f.pcln)
        except PclntabError:
            pass
    for call in (t.funcs, lambda: t.func_by_name("main.main")):
        try:
            call()
        except PclntabError:
            pass


# --------------------------------------------------------------------------------------------
# Synthetic tables: exact expectations without any Go binary
# --------------------------------------------------------------------------------------------


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pctable(rows: list[tuple[int, int]], quantum: int = 1) -> bytes:
    """Encode [(run length in bytes, value)] as cmd/internal/obj funcpctab does."""
    out = bytearray()
    prev = -1
    for n, v in rows:
        d = v - prev
        out += uvarint(d << 1 if d >= 0 else ((-d) << 1) - 1)  # zigzag, as binary.PutVarint
        out += uvarint(n // quantum)
        prev = v
    out.append(0)
    return bytes(out)


@dataclass
class SynFunc:
    name: str
    off: int  # entry offset from text start
    size: int
    sp: list[tuple[int, int]]
    file: list[tuple[int, int]]
    line: list[tuple[int, int]]
    pcdata: list[list[tuple[int, int]] | None] = field(default_factory=list)
    funcdata: list[int | None] = field(default_factory=list)
    args: int = 0
    start_line: int = 0
    func_id: int = 0
    flag: int = 0


TEXT = 0x401000
GOFUNC = 0x4A0000


def build_table(
    funcs: list[SynFunc], files: list[str], *, magic: int = 0xFFFFFFF1, text_in_header: int = 0
) -> bytes:
    """A .gopclntab laid out exactly as cmd/link writes it (one compilation unit)."""
    names = bytearray()
    name_off = []
    for f in funcs:
        name_off.append(len(names))
        names += f.name.encode() + b"\0"
    filetab = bytearray()
    cutab = bytearray()
    for fn in files:
        cutab += struct.pack("<I", len(filetab))
        filetab += fn.encode() + b"\0"
    cutab += struct.pack("<I", 0xFFFFFFFF)  # a file slot the runtime reports as "?"
    pctab = bytearray(b"\0")  # offset 0 means "no table"

    def put(rows: list[tuple[int, int]] | None) -> int:
        if rows is None:
            return 0
        off = len(pctab)
        pctab.extend(pctable(rows))
        return off

    tabs = [(put(f.sp), put(f.file), put(f.line), [put(r) for r in f.pcdata]) for f in funcs]
    n = len(funcs)
    pcln = bytearray(b"\0" * ((2 * n + 1) * 4))
    for i, f in enumerate(funcs):
        while len(pcln) % 8:
            pcln.append(0)
        struct.pack_into("<II", pcln, 8 * i, f.off, len(pcln))
        sp, fl, ln, pcd = tabs[i]
        pcln += struct.pack(
            "<IiiIIIIIIiBBxB",
            f.off,
            name_off[i],
            f.args,
            0,
            sp,
            fl,
            ln,
            len(pcd),
            0,
            f.start_line,
            f.func_id,
            f.flag,
            len(f.funcdata),
        )
        pcln += b"".join(struct.pack("<I", p) for p in pcd)
        pcln += b"".join(struct.pack("<I", 0xFFFFFFFF if d is None else d) for d in f.funcdata)
    last = funcs[-1]
    struct.pack_into("<I", pcln, 8 * n, last.off + last.size)
    hdr = 8 + 8 * 8
    offs = [hdr]
    for part in (names, cutab, filetab, pctab):
        offs.append(offs[-1] + len(part))
    header = struct.pack("<IBBBBQQQ", magic, 0, 0, 1, 8, n, len(files), text_in_header)
    header += struct.pack("<5Q", *offs)
    return header + bytes(names) + bytes(cutab) + bytes(filetab) + bytes(pctab) + bytes(pcln)


def syn_funcs() -> list[SynFunc]:
    return [
        SynFunc(
            "first.func",
            0x0,
            0x15,
            sp=[(4, 0), (0x11, 0x18)],
            file=[(0x15, 0)],
            line=[(2, 10), (0x13, 11)],
            start_line=10,
        ),
        SynFunc(
            "main.big",
            0x20,
            0x400,
            sp=[(1, 0), (0x3FE, 0x10008), (1, 0)],
            file=[(0x200, 0), (0x200, 1)],
            line=[(0x180, 300), (0x80, 5), (0x200, 70000)],
            pcdata=[[(0x10, -2), (0x3F0, -1)], None, [(0x400, 0)]],
            funcdata=[0x40, None, 0x1234],
            args=24,
            start_line=299,
            func_id=0,
            flag=0,
        ),
        SynFunc(
            "runtime.goexit",
            0x440,
            0x8,
            sp=[(8, 0)],
            file=[(8, 2)],
            line=[(8, 1)],
            func_id=8,
            flag=1 | 4,
        ),
    ]


SYN_FILES = ["/src/main.go", "/src/other.go"]


def syn_table(**kw: Any) -> Pclntab:
    return Pclntab(build_table(syn_funcs(), SYN_FILES, **kw), text_start=TEXT, gofunc=GOFUNC)


def test_synthetic_lookup() -> None:
    t = syn_table()
    assert t.nfunc == 3 and t.nfiles == 2 and t.version == "1.20+"
    fs = t.funcs()
    assert [f.name for f in fs] == ["first.func", "main.big", "runtime.goexit"]
    first, big, goexit = fs
    # nameOff 0: the runtime would say "", nm and debug/gosym give the name
    assert first.name == "first.func" and first.entry == TEXT and first.end == TEXT + 0x15
    assert first.ftab_end == TEXT + 0x20  # padding belongs to it for findfunc
    assert t.find_func(TEXT + 0x1F) == first and t.find_func(TEXT + 0x20) == big
    assert t.find_func(TEXT - 1) is None and t.find_func(TEXT + 0x448) is None
    assert t.find_func(TEXT + 0x447) == goexit
    assert t.func_by_name("main.big") == big and t.func_by_name("nope") is None
    assert big.args == 24 and big.start_line == 299 and big.npcdata == 3 and big.nfuncdata == 3
    assert goexit.flag == 5 and func_id_name(goexit.func_id, "1.24") == "goexit"
    assert isinstance(big, Func) and big.size == 0x400


def test_synthetic_pcvalues() -> None:
    t = syn_table()
    first, big, goexit = t.funcs()
    assert [t.sp_delta(first, TEXT + i) for i in (0, 3, 4, 0x14)] == [0, 0, 0x18, 0x18]
    e = big.entry
    # multi-byte varints: a 0x3fe-byte run and a 0x10008-byte frame
    assert t.sp_delta(big, e) == 0 and t.sp_delta(big, e + 1) == 0x10008
    assert t.sp_delta(big, e + 0x3FE) == 0x10008 and t.sp_delta(big, e + 0x3FF) == 0
    # negative value deltas (300 -> 5) and a large line
    assert t.line(big, e) == ("/src/main.go", 300)
    assert t.line(big, e + 0x180) == ("/src/main.go", 5)
    assert t.line(big, e + 0x200) == ("/src/other.go", 70000)
    assert t.line(big, e + 0x3FF) == ("/src/other.go", 70000)
    assert t.line(goexit, goexit.entry) == ("?", 1)  # cutab slot ^0: file unknown, as runtime
    assert t.pcdata(big, 0, e + 0xF) == -2 and t.pcdata(big, 0, e + 0x10) == -1
    assert t.pcdata(big, 1, e) == -1  # offset 0: no table
    assert t.pcdata(big, 2, e + 5) == 0 and t.pcdata(big, 3, e) == -1
    assert t.funcdata(big, 0) == GOFUNC + 0x40 and t.funcdata(big, 1) is None
    assert t.funcdata(big, 2) == GOFUNC + 0x1234 and t.funcdata(big, 3) is None
    assert t.pc_ranges(big, big.pcsp) == [
        (e, e + 1, 0),
        (e + 1, e + 0x3FF, 0x10008),
        (e + 0x3FF, e + 0x400, 0),
    ]
    # padding after the code: inside the function for findfunc, not covered by its tables
    assert t.line(first, TEXT + 0x1A) == ("?", 0)
    with pytest.raises(PclntabError, match="does not cover"):
        t.sp_delta(first, TEXT + 0x1A)
    with pytest.raises(PclntabError, match="not in"):
        t.line(first, TEXT + 0x20)


def test_header_text_start_is_reported() -> None:
    assert syn_table(text_in_header=TEXT).header_text_start == TEXT
    assert syn_table().header_text_start == 0


@pytest.mark.parametrize(
    ("magic", "exc", "match"),
    [
        (0xFFFFFFFB, UnsupportedPclntab, "Go 1.2-1.15"),
        (0xFFFFFFFA, UnsupportedPclntab, "Go 1.16-1.17"),
        (0xFFFFFFF0, UnsupportedPclntab, "Go 1.18-1.19"),
        (0xF1FFFFFF, UnsupportedPclntab, "big-endian"),
        (0xFFFFFFF2, PclntabError, "bad pclntab magic"),
        (0x464C457F, PclntabError, "bad pclntab magic"),
    ],
)
def test_unknown_magic_rejected(magic: int, exc: type[Exception], match: str) -> None:
    data = build_table(syn_funcs(), SYN_FILES, magic=magic)
    with pytest.raises(exc, match=match):
        Pclntab(data, text_start=TEXT, gofunc=GOFUNC)


def test_bad_header_fields() -> None:
    good = build_table(syn_funcs(), SYN_FILES)
    with pytest.raises(UnsupportedPclntab, match="pointer size"):
        Pclntab(good, text_start=TEXT, gofunc=GOFUNC, ptr_size=4)
    for offset, value, match in ((4, 1, "padding"), (6, 3, "quantum"), (7, 4, "pointer size")):
        b = bytearray(good)
        b[offset] = value
        with pytest.raises(PclntabError, match=match):
            Pclntab(bytes(b), text_start=TEXT, gofunc=GOFUNC)
    b = bytearray(good)
    struct.pack_into("<Q", b, 8, 10**9)  # nfunc
    with pytest.raises(PclntabError, match="function count"):
        Pclntab(bytes(b), text_start=TEXT, gofunc=GOFUNC)
    b = bytearray(good)
    struct.pack_into("<Q", b, 32, len(good) + 1)  # funcnameOffset past the end
    with pytest.raises(PclntabError, match="offsets"):
        Pclntab(bytes(b), text_start=TEXT, gofunc=GOFUNC)


def test_overlong_varint_rejected() -> None:
    f = syn_funcs()
    data = bytearray(build_table(f, SYN_FILES))
    t = Pclntab(bytes(data), text_start=TEXT, gofunc=GOFUNC)
    big = t.funcs()[1]
    pos = t._pctab[0] + big.pcsp  # white-box: damage one known table
    data[pos : pos + 6] = b"\xff\xff\xff\xff\xff\xff"
    t = Pclntab(bytes(data), text_start=TEXT, gofunc=GOFUNC)
    with pytest.raises(PclntabError, match="varint"):
        t.funcs()


def test_unsorted_ftab_rejected() -> None:
    fs = syn_funcs()
    fs[1].off, fs[2].off = fs[2].off, fs[1].off
    with pytest.raises(PclntabError, match="not sorted"):
        Pclntab(build_table(fs, SYN_FILES), text_start=TEXT, gofunc=GOFUNC)


def test_synthetic_every_truncation() -> None:
    data = build_table(syn_funcs(), SYN_FILES)
    rnd = random.Random(5)
    for cut in range(len(data)):
        _exercise(data[:cut], TEXT, GOFUNC, samples=20, rnd=rnd)


def test_synthetic_fuzz() -> None:
    data = build_table(syn_funcs(), SYN_FILES)
    rnd = random.Random(6)
    t0 = time.perf_counter()
    for _ in range(3000):
        b = bytearray(data)
        for _ in range(rnd.randrange(1, 6)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        _exercise(bytes(b), TEXT, GOFUNC, samples=10, rnd=rnd)
    assert time.perf_counter() - t0 < 30


def test_func_id_names_per_version() -> None:
    # runfinq is 16 before 1.22, 17 in 1.22-1.24 (corostart inserted), gone in 1.25
    assert func_id_name(16, "1.21") == "runfinq"
    assert func_id_name(17, "go1.24.11") == "runfinq"
    assert func_id_name(18, "1.25.5") == "runFinalizers"
    assert func_id_name(19, "1.27") == "runCleanups"
    assert func_id_name(0, "1.23") == "normal" and func_id_name(99, "1.23") == "funcID(99)"
    with pytest.raises(ValueError):
        func_id_name(0, "nonsense")
