"""Store, restore and (re)build gdb-gomem's Go crash fixtures.

Go cores are huge sparse files (60 MB to 1.2 GB apparent size) holding a
few MB of real data, so they cannot go into git as they are. This module
packs them in a small sparse-aware format (``.sxz``), restores them lazily
into a per-user cache for the tests, and knows how to rebuild a fixture from
``fixtures/src`` with a real Go toolchain, so a slow test can re-check the
whole pipeline end to end.

Stdlib only: it is imported by the tests (``sys.path.insert(0, 'scripts')``)
and by ``scripts/make_fixtures``, neither of which may assume extra packages.

Pack format: the whole file is one xz stream (so ``xz -dc`` can inspect it)
whose payload is::

    MAGIC (8 bytes) | size: u64 | mode: u32 | records... | end record
    record     = offset: u64 | length: u64 | length bytes of data
    end record = offset 0, length 0

Only non-zero data is stored: holes are found with SEEK_DATA/SEEK_HOLE and
all-zero 4 KiB blocks inside data regions are dropped as well (gdb's gcore
writes Go's PROT_NONE address-space reservations as real zeros).
"""

from __future__ import annotations

import errno
import hashlib
import json
import lzma
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SRC = FIXTURES / "src"

PACK_SUFFIX = ".sxz"
MAGIC = b"GOMEMSX\x01"
BLOCK = 4096
CHUNK = 1 << 20
MAX_RECORD = 16 << 20
XZ_PRESET = 6

GO_VERSIONS = ("1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3")
PROGRAM_SCENARIOS: dict[str, tuple[str, ...]] = {
    "leaky": ("panic", "nil", "mapwrite", "gcore"),
    # Tagged batches at known times before the crash (for `gomem window`); windowprof is the
    # same source with the heap profiler linked and sampling every allocation.
    "window": ("panic", "throw", "churn"),
    "windowprof": ("panic", "churn"),
    # Go 1.25+'s runtime/trace.FlightRecorder under GODEBUG=traceallocfree=1: the execution
    # trace held in the core (`gomem trace`), with the recorder's own WriteTo output.
    "flight": ("panic", "throw"),
    # runtime/trace.Start into io.Discard (Go 1.22+): the trace's newest events live only in
    # the runtime's own buffers in the core.
    "tracing": ("throw",),
    # One run, three cores taken by gdb at main.marker(1..3): heap snapshots of one process
    # and what was born, kept and freed between them (`gomem diff`).
    "growth": ("markers",),
    # Goroutines blocked forever on private channels (leaked) or on channels in a global
    # (parked), holding jobs, tickers and a deferred closure's buffer on their stacks; messages
    # held only by a channel's buffer, a buffer only by a closure; then a panic.
    "leakjobs": ("panic",),
}
# Programs whose (single) scenario runs under gdb to a normal exit, stopping in every call of
# MARKER_FUNCTION for a `gcore m<N>.core` (N = 1, 2, ...): program -> the number of markers
# the run must reach. At most MAX_MARKER_STOPS stops are taken before the run is given up.
# Size: gdb's gcore dumps the whole executable mapping when the coredump_filter has the ELF
# headers bit (0x10; the kernel dumps only its first page), 0.2-0.3 MB packed per core, so the
# run gets MARKER_COREDUMP_FILTER (anonymous memory only; the text is in the binary anyway).
# A software breakpoint would still bring the text in (its page becomes anonymous when gdb
# writes the int3), so gdb catches the marker's MARKER_SYSCALL, which nothing else in the
# program makes, instead of breaking on the function.
PROGRAM_MARKERS: dict[str, int] = {"growth": 3}
MARKER_FUNCTION = "main.marker"
MARKER_SYSCALL = "getppid"
MARKER_COREDUMP_FILTER = 0x23
MAX_MARKER_STOPS = 10
# Programs that only build with newer Go: program -> the oldest Go version (make_fixtures skips
# older ones; fixtures/src/flight needs runtime/trace.FlightRecorder, tracing the v2 trace).
PROGRAM_MIN_GO: dict[str, str] = {"flight": "1.25", "tracing": "1.22"}
# Files a program writes next to its manifest, stored (packed) in the fixture folder:
# program -> names, ``{scenario}`` replaced (flight: FlightRecorder.WriteTo's output).
PROGRAM_EXTRA_FILES: dict[str, tuple[str, ...]] = {"flight": ("{scenario}.trace",)}
# Programs without a main.checkpoint: no gdb audit of what runs after it.
UNAUDITED_PROGRAMS = frozenset({"flight", "tracing", "growth", "leakjobs"})
# Programs built from another program's source directory with extra ``go build`` flags:
# program -> (directory under fixtures/src, flags). Others build fixtures/src/<program>.
PROGRAM_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "windowprof": ("window", ("-tags", "prof")),
}
# Scenarios whose core is taken by gdb at main.checkpoint instead of by the
# kernel on a crash.
GDB_SCENARIOS = frozenset({"gcore"})
# First stderr line the runtime must print for each crash scenario: proves the
# program died the way the manifest says, not of something else.
EXPECTED_STDERR = {
    "panic": "panic: gomem-fixture: crash panic in flight",
    "nil": "panic: runtime error: invalid memory address or nil pointer dereference",
    "mapwrite": "fatal error: concurrent map writes",
    "throw": "fatal error: concurrent map writes",
    "churn": "panic: gomem-fixture: crash panic in flight",
}
# Environment given to the fixture programs. memprofilerate=1 makes the
# runtime sample every allocation from its first one, before main.init can
# set runtime.MemProfileRate itself.
RUN_ENV = {"GOTRACEBACK": "crash", "GODEBUG": "memprofilerate=1"}
# Per-program changes to RUN_ENV (flight: every heap allocation and free in the trace).
PROGRAM_ENV: dict[str, dict[str, str]] = {
    "flight": {"GODEBUG": "traceallocfree=1,memprofilerate=1"},
    "tracing": {"GODEBUG": "traceallocfree=1,memprofilerate=1"},
}
# Keys of PATH.memstats.json copied into manifest["memstats_final"].
MEMSTATS_KEYS = (
    "HeapAlloc",
    "HeapInuse",
    "HeapSys",
    "HeapObjects",
    "HeapIdle",
    "HeapReleased",
    "NumGC",
    "LastGC",
    "Mallocs",
    "Frees",
    "StackInuse",
    "StackSys",
    "MSpanInuse",
    "MCacheInuse",
    "Sys",
    "TotalAlloc",
    "PauseTotalNs",
    "NextGC",
)
# Extra keys a program may write to PATH.memstats.json, copied into the manifest under the
# given name (window: the last time.Now() of the allocation-free final sequence).
MEMSTATS_EXTRA = {"LastTimestampUnixNano": "last_timestamp_unix_ns"}
RUN_TIMEOUT = 120

_VERSION_RE = re.compile(r"^\d+\.\d+(?:\.\d+)?$")
_HEADER = struct.Struct("<8sQI")
_RECORD = struct.Struct("<QQ")
_ZERO_CHUNK = bytes(CHUNK)
_ZERO_BLOCK = bytes(BLOCK)


class FixtureError(RuntimeError):
    """A fixture could not be built, run, packed or restored."""


# --------------------------------------------------------------------------
# Sparse-aware pack format
# --------------------------------------------------------------------------


@dataclass
class PackInfo:
    """What pack() stored: lets callers print and budget sizes."""

    size: int
    data_bytes: int
    extents: int
    packed_bytes: int


def _data_regions(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of regions that may hold data, skipping holes.

    Falls back to the whole file when the filesystem or OS has no
    SEEK_DATA/SEEK_HOLE; the zero-block scan still keeps the pack small then.
    """
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        yield 0, size
        return
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after offset
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield offset, size
                return
            raise
        end = min(os.lseek(fd, start, seek_hole), size)
        yield start, end
        offset = end


def _nonzero_extents(fd: int, size: int) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, data) for the non-zero parts of the file.

    Data regions are read in 1 MiB chunks; an all-zero chunk costs one
    memcmp, other chunks are split into 4 KiB blocks and zero blocks dropped.
    Adjacent non-zero blocks are merged, up to MAX_RECORD bytes per extent.
    """
    pending_off = -1
    pending = bytearray()
    for start, end in _data_regions(fd, size):
        pos = start
        while pos < end:
            # Keep chunks block-aligned to absolute offsets.
            want = min(CHUNK - (pos % BLOCK), end - pos)
            chunk = os.pread(fd, want, pos)
            if not chunk:
                raise FixtureError(f"short read at {pos} (file shrank while packing?)")
            if chunk == _ZERO_CHUNK[: len(chunk)]:
                if pending:
                    yield pending_off, bytes(pending)
                    pending.clear()
                pos += len(chunk)
                continue
            i = 0
            while i < len(chunk):
                step = BLOCK - ((pos + i) % BLOCK)
                block = chunk[i : i + step]
                if block == _ZERO_BLOCK[: len(block)]:
                    if pending:
                        yield pending_off, bytes(pending)
                        pending.clear()
                else:
                    if pending and (
                        pending_off + len(pending) != pos + i or len(pending) >= MAX_RECORD
                    ):
                        yield pending_off, bytes(pending)
                        pending.clear()
                    if not pending:
                        pending_off = pos + i
                    pending += block
                i += len(block)
            pos += len(chunk)
        if pending:
            yield pending_off, bytes(pending)
            pending.clear()


def _atomic_tmp(dst: Path) -> tuple[int, Path]:
    """Open a temp file next to dst so os.replace() publishes it atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would leak into git and the cache
    return fd, Path(name)


def pack(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], preset: int = XZ_PRESET
) -> PackInfo:
    """Pack src into dst (.sxz): its size, mode and non-zero extents, xz-compressed."""
    src_path, dst_path = Path(src), Path(dst)
    st = src_path.stat()
    tmp_fd, tmp = _atomic_tmp(dst_path)
    data_bytes = extents = 0
    try:
        with (
            open(src_path, "rb") as fin,
            os.fdopen(tmp_fd, "wb") as raw,
            lzma.open(
                raw, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=preset
            ) as out,
        ):
            out.write(_HEADER.pack(MAGIC, st.st_size, st.st_mode & 0o7777))
            for offset, data in _nonzero_extents(fin.fileno(), st.st_size):
                out.write(_RECORD.pack(offset, len(data)))
                out.write(data)
                data_bytes += len(data)
                extents += 1
            out.write(_RECORD.pack(0, 0))
        os.replace(tmp, dst_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PackInfo(st.st_size, data_bytes, extents, dst_path.stat().st_size)


def _read_exact(f: Any, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FixtureError(f"truncated pack while reading {what}")
    return data


def restore(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Recreate the packed file at dst, sparse (holes are never written).

    Written to a temp file and renamed, so concurrent readers see either the
    old file or the complete new one.
    """
    dst_path = Path(dst)
    tmp_fd, tmp = _atomic_tmp(dst_path)
    try:
        with lzma.open(src, "rb") as f, os.fdopen(tmp_fd, "wb") as out:
            magic, size, mode = _HEADER.unpack(_read_exact(f, _HEADER.size, "header"))
            if magic != MAGIC:
                raise FixtureError(f"{src}: not a {PACK_SUFFIX} file (magic {magic!r})")
            os.ftruncate(out.fileno(), size)
            while True:
                offset, length = _RECORD.unpack(_read_exact(f, _RECORD.size, "record header"))
                if length == 0:
                    break
                if offset + length > size:
                    raise FixtureError(f"{src}: extent {offset}+{length} beyond size {size}")
                while length:
                    piece = _read_exact(f, min(length, CHUNK), "extent data")
                    os.pwrite(out.fileno(), piece, offset)
                    offset += len(piece)
                    length -= len(piece)
            os.fchmod(out.fileno(), mode)
        os.replace(tmp, dst_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst_path


# --------------------------------------------------------------------------
# Fixture lookup for tests
# --------------------------------------------------------------------------


def run_env(program: str) -> dict[str, str]:
    """The environment additions a fixture program runs with (RUN_ENV + PROGRAM_ENV)."""
    return {**RUN_ENV, **PROGRAM_ENV.get(program, {})}


def core_names(program: str, scenario: str) -> tuple[str, ...]:
    """The cores one scenario leaves: ``<scenario>.core``, or ``m1.core``... (PROGRAM_MARKERS)."""
    markers = PROGRAM_MARKERS.get(program)
    if markers is None:
        return (f"{scenario}.core",)
    return tuple(f"m{n}.core" for n in range(1, markers + 1))


def builds_with(program: str, version: str) -> bool:
    """Tell whether a fixture program is made with Go version (PROGRAM_MIN_GO)."""
    oldest = PROGRAM_MIN_GO.get(program)
    return oldest is None or _version_key(version) >= _version_key(oldest)


def cache_dir() -> Path:
    """Per-user cache: restored fixtures, toolchains, Go build cache."""
    env = os.environ.get("GOMEM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gdb-gomem"


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def versions(root: Path = FIXTURES) -> list[str]:
    """Go versions that have fixtures under root, oldest first."""
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
    return sorted(found, key=_version_key)


_sha_memo: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, mtime, size) within a process."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _sha_memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
        _sha_memo[key] = h.hexdigest()
    return _sha_memo[key]


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = _atomic_tmp(path)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fixture_file(version: str, program: str, name: str, root: Path = FIXTURES) -> Path:
    """Path of a usable fixture file, restoring ``<name>.sxz`` into the cache.

    The restored copy lives in ``cache_dir()/fixtures/<version>/<program>/``
    next to a ``.sha256`` stamp of the packed file; it is restored again only
    when the packed file changed. Without a packed file the plain path under
    root is returned (it may not exist: the caller decides whether to skip).
    """
    base = root / version / program
    packed = base / (name + PACK_SUFFIX)
    if not packed.exists():
        return base / name
    target = cache_dir() / "fixtures" / version / program / name
    stamp = target.with_name(target.name + ".sha256")
    digest = _sha256(packed)
    try:
        if target.exists() and stamp.read_text().strip() == digest:
            return target
    except FileNotFoundError:
        pass
    restore(packed, target)
    write_text_atomic(stamp, digest + "\n")
    return target


def has_fixture(version: str, program: str, root: Path = FIXTURES) -> bool:
    """Tell whether a (version, program) fixture set exists (its facts.json is written last)."""
    base = root / version / program
    return (base / "facts.json").exists() or (base / ("facts.json" + PACK_SUFFIX)).exists()


def manifest(version: str, program: str, scenario: str, root: Path = FIXTURES) -> dict[str, Any]:
    """The ground-truth manifest the fixture program wrote for one scenario."""
    path = fixture_file(version, program, f"{scenario}.manifest.json", root)
    with open(path) as f:
        return json.load(f)
