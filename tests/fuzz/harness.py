"""atheris harnesses for the parsers that read untrusted bytes.

    python tests/fuzz/harness.py TARGET SEEDDIR [libFuzzer flags, e.g. -max_total_time=20]
    python tests/fuzz/harness.py TARGET --replay FILE    (one input, e.g. a saved crash)

Targets (each may raise only gdb-gomem's own errors, which become one message and exit 2; any
other exception is a crash that atheris reports and saves as ``crash-*``):

- ``core``: the ELF core reader (headers, program headers, notes), on a small core made from a
  fixture core (its notes kept, its memory segments empty);
- ``snapshot``: the snapshot decoder, the fuzz input being the decompressed body (it is
  compressed and given a correct length and SHA-256, so mutations reach the JSON header and
  the typed arrays);
- ``pclntab``: the function table parser and its lookups, on a fixture's ``.gopclntab``;
- ``span``: the mspan descriptor decoder and its checks, on raw descriptor bytes;
- ``elf``: the executable reader and DWARF loader, on a small Go binary whose ``.debug_info``
  is replaced by the input (slow: one DWARF load per input).

Seeds are written into SEEDDIR by :func:`write_seeds` from the committed fixtures.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["gdb_gomem"]):
    from gdb_gomem.adapters.corefile import CoreFile
    from gdb_gomem.base.errors import GomemError
    from gdb_gomem.runtime.mspan import check_span, span_layout
    from gdb_gomem.snapshots import format as snapformat
    from gdb_gomem.symbols.binary import GoBinary
    from gdb_gomem.symbols.pclntab import Pclntab
    from gdb_gomem.target.process import load_tables

VERSION = "1.27.3"
TMP = Path(tempfile.mkdtemp(prefix="gomem-fuzz-"))


def _fixture(name: str, program: str = "leaky") -> Path:
    from gomem_fixtures import store

    return store.fixture_file(VERSION, program, name)


# ----------------------------------------------------------------------------- seeds


def mini_core(core: Path) -> bytes:
    """A real core's ELF header, program headers and notes, with every PT_LOAD's file bytes
    dropped (filesz 0): a few KiB that CoreFile reads exactly as it reads the original."""
    raw = core.read_bytes()[: 1 << 20]
    (phoff,) = struct.unpack_from("<Q", raw, 32)
    phentsize, phnum = struct.unpack_from("<HH", raw, 54)
    out = bytearray(raw[: phoff + phentsize * phnum])
    notes = []
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type, _f, p_offset, _v, _pa, p_filesz = struct.unpack_from("<IIQQQQ", raw, at)
        if p_type == 4:
            notes.append((at, raw[p_offset : p_offset + p_filesz]))
        elif p_type == 1:
            struct.pack_into("<QQ", out, at + 8, 0, 0)  # p_offset, and below p_filesz
            struct.pack_into("<Q", out, at + 32, 0)
    for at, data in notes:
        struct.pack_into("<Q", out, at + 8, len(out))
        out += data
    return bytes(out)


def write_seeds(target: str, seeddir: Path) -> None:
    seeddir.mkdir(parents=True, exist_ok=True)
    if target == "core":
        (seeddir / "leaky").write_bytes(mini_core(_fixture("panic.core")))
    elif target == "snapshot":
        (seeddir / "minimal").write_bytes(_snapshot_payload_seed())
    elif target == "pclntab":
        b = GoBinary(_fixture("leakjobs", "leakjobs"))
        sec = b.sections[".gopclntab"]
        (seeddir / "leakjobs").write_bytes(b.read_file(sec.offset, sec.size))
    elif target == "span":
        (seeddir / "zero").write_bytes(bytes(SPAN_LAYOUT.lay.size))
    elif target == "elf":
        (seeddir / "debug_info").write_bytes(ELF_DEBUG_INFO[:4096])


def _snapshot_payload_seed() -> bytes:
    import numpy as np

    data = snapformat.encode(
        {"label": "seed", "gc": 3},
        {"a": np.arange(4, dtype=np.int64), "b": np.zeros((2, 3), dtype=np.uint32)},
    )
    return zlib.decompress(data[snapformat._FIXED.size :])


# ----------------------------------------------------------------------------- targets


def fuzz_core(data: bytes) -> None:
    path = TMP / "core"
    path.write_bytes(data)
    try:
        CoreFile(path).close()
    except GomemError:
        pass


def fuzz_snapshot(data: bytes) -> None:
    payload = zlib.compress(data, 1)
    head = snapformat._FIXED.pack(
        snapformat.MAGIC,
        snapformat.FORMAT_VERSION,
        0,
        len(payload),
        hashlib.sha256(payload).digest(),
    )
    try:
        snapformat.decode(head + payload)
    except GomemError:
        pass


def fuzz_pclntab(data: bytes) -> None:
    try:
        tab = Pclntab(data, text_start=0x401000, gofunc=0x600000)
        n = min(tab.nfunc, 64)
        for i in range(n):
            f = tab._func_at(i)
            tab.find_func(f.entry)
            tab.func_by_name(f.name)
            tab.pcdata(f, 0, f.entry)
    except GomemError:
        pass


def fuzz_span(data: bytes) -> None:
    size = SPAN_LAYOUT.lay.size
    raws = [data[i : i + size] for i in range(0, len(data) - size + 1, size)][:64]
    if not raws:
        return
    for s in SPAN_LAYOUT.decode_many(raws, [0x1000 * (i + 1) for i in range(len(raws))]):
        check_span(s, 8192, 1024)


def fuzz_elf(data: bytes) -> None:
    body = bytearray(ELF_BYTES)
    chunk = data[:ELF_DEBUG_LEN].ljust(ELF_DEBUG_LEN, b"\0")
    body[ELF_DEBUG_OFF : ELF_DEBUG_OFF + ELF_DEBUG_LEN] = chunk
    path = TMP / "bin"
    path.write_bytes(body)
    try:
        b = GoBinary(path)
        load_tables_uncached(b)
        b.close()
    except GomemError:
        pass


def load_tables_uncached(b: GoBinary) -> None:
    """``load_tables`` without the per-binary disk cache (every input is a new binary)."""
    from gdb_gomem.target import process

    old = process.cached
    process.cached = lambda _k, _d, build: build()  # type: ignore[assignment]
    try:
        load_tables(b)
    finally:
        process.cached = old


# ----------------------------------------------------------------------------- setup

SPAN_LAYOUT = None
ELF_BYTES = b""
ELF_DEBUG_OFF = ELF_DEBUG_LEN = 0
ELF_DEBUG_INFO = b""


def _prepare(target: str) -> None:
    global SPAN_LAYOUT, ELF_BYTES, ELF_DEBUG_OFF, ELF_DEBUG_LEN, ELF_DEBUG_INFO
    if target == "span":
        SPAN_LAYOUT = span_layout(load_tables(GoBinary(_fixture("leaky"))))
    if target == "elf":
        import subprocess

        src = _fixture("leakjobs", "leakjobs")
        plain = TMP / "plain"
        subprocess.run(["objcopy", "--decompress-debug-sections", str(src), str(plain)], check=True)
        ELF_BYTES = plain.read_bytes()
        b = GoBinary(plain)
        sec = b.sections[".debug_info"]
        ELF_DEBUG_OFF, ELF_DEBUG_LEN = sec.offset, sec.size
        ELF_DEBUG_INFO = ELF_BYTES[sec.offset : sec.offset + sec.size]
        b.close()


TARGETS = {
    "core": fuzz_core,
    "snapshot": fuzz_snapshot,
    "pclntab": fuzz_pclntab,
    "span": fuzz_span,
    "elf": fuzz_elf,
}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[2] == "--replay":
        target, data = sys.argv[1], Path(sys.argv[3]).read_bytes()
        _prepare(target)
        TARGETS[target](data)  # raises (and exits non-zero) if it still crashes
        print(f"replayed {len(data)} bytes through {target}")
        return
    target, seeddir = sys.argv[1], Path(sys.argv[2])
    _prepare(target)
    write_seeds(target, seeddir)
    atheris.Setup([sys.argv[0], *sys.argv[3:], str(seeddir)], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
