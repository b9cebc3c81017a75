"""The analysis of a core kept on disk between standalone commands.

Each ``gomem`` command is a fresh process; without this, every one of them rebuilds the span
walk, object table, types and heap model of the same core. The members declared with
``Lazy(..., persist=True)`` are written at the end of a command into one file per (binary,
core) and read back by the next command on the same pair.

- **Key**: the binary's SHA-256, the core's real path, size, modification time and inode,
  and a digest of gdb-gomem's own source files: a changed core, binary or gdb-gomem never
  reads a stale analysis.
- **Bounded**: all files together stay under ``GOMEM_ANALYSIS_CACHE_MAX`` bytes (default
  4 GiB); the least recently used go first, and an analysis larger than the bound is not
  written.
- **Opt-out**: ``GOMEM_ANALYSIS_CACHE=0`` or ``gomem --no-cache``.

The files are pickles (protocol 5) of gdb-gomem's own objects in the user's cache directory,
read only when their header carries the expected key; any error reading one drops it and the
analysis is rebuilt. The large numpy arrays travel out of band: their bytes follow the pickle,
64-byte aligned, and are mapped back copy-on-write (``mmap.ACCESS_COPY``), so reading a file
costs a mapping, not a copy; pages come in as a command touches them.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import pickle
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

MAGIC = b"GOMEM-ANALYSIS\x02"
_U64 = struct.Struct("<Q")
ALIGN = 64
DEFAULT_MAX = 4 << 30


@lru_cache(maxsize=1)
def _source_digest() -> str:
    """A digest of gdb-gomem's source: any change to the code invalidates every entry."""
    pkg = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted(pkg.rglob("*.py")) + sorted(pkg.rglob("*.c")):
        h.update(str(p.relative_to(pkg)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# Digested when the process starts, before most of the modules it digests are imported: an
# entry is then keyed by the code that was loaded, even if the source changes while the
# process runs (an upgrade during a long analysis), never by newer code it did not run.
_source_digest()


def cache_enabled() -> bool:
    return os.environ.get("GOMEM_ANALYSIS_CACHE", "1") not in ("0", "off", "no", "false")


def max_bytes() -> int:
    try:
        return int(os.environ.get("GOMEM_ANALYSIS_CACHE_MAX", DEFAULT_MAX))
    except ValueError:
        return DEFAULT_MAX


class AnalysisStore:
    """One (binary, core) pair's analysis file under ``directory``."""

    def __init__(self, directory: Path, binary_sha256: str, core: str | os.PathLike[str]) -> None:
        st = os.stat(core)
        ident = "\0".join(
            [
                binary_sha256,
                os.path.realpath(core),
                str(st.st_size),
                str(st.st_mtime_ns),
                str(st.st_ino),
                _source_digest(),
            ]
        )
        self.key = hashlib.sha256(ident.encode()).hexdigest()
        self.directory = directory
        self.path = directory / f"{self.key[:40]}.analysis"
        self.loaded_bytes = 0

    def load(self) -> dict[str, Any] | None:
        try:
            with open(self.path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
            head = len(MAGIC) + 64
            if mm[:head] != MAGIC + self.key.encode():
                return None
            view = memoryview(mm)
            (plen,) = _U64.unpack_from(mm, head)
            pos = head + 8
            data = view[pos : pos + plen]
            pos += plen
            (nbuf,) = _U64.unpack_from(mm, pos)
            pos += 8
            buffers = []
            for _ in range(nbuf):
                off, ln = _U64.unpack_from(mm, pos)[0], _U64.unpack_from(mm, pos + 8)[0]
                pos += 16
                if off + ln > len(mm):
                    raise ValueError("buffer past the end")
                buffers.append(view[off : off + ln])
            bundle = pickle.loads(data, buffers=buffers)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a damaged or foreign file: drop it, rebuild
            self.path.unlink(missing_ok=True)
            return None
        if not isinstance(bundle, dict):
            return None
        self.loaded_bytes = len(mm)
        try:
            os.utime(self.path)  # most recently used
        except OSError:
            pass
        return bundle

    def save(self, bundle: dict[str, Any]) -> str | None:
        """Write the bundle; a reason when it was not written, else None."""
        buffers: list[pickle.PickleBuffer] = []
        try:
            data = pickle.dumps(bundle, protocol=5, buffer_callback=buffers.append)
        except (pickle.PicklingError, TypeError, AttributeError, BufferError) as exc:
            return f"not picklable ({exc})"
        raws = [b.raw() for b in buffers]
        head = len(MAGIC) + 64 + 8 + len(data) + 8 + 16 * len(raws)
        offsets = []
        pos = head
        for r in raws:
            pos = (pos + ALIGN - 1) // ALIGN * ALIGN
            offsets.append(pos)
            pos += r.nbytes
        limit = max_bytes()
        if pos > limit:
            return f"{pos} bytes, over GOMEM_ANALYSIS_CACHE_MAX ({limit})"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(MAGIC + self.key.encode())
                f.write(_U64.pack(len(data)))
                f.write(data)
                f.write(_U64.pack(len(raws)))
                for off, r in zip(offsets, raws, strict=True):
                    f.write(_U64.pack(off) + _U64.pack(r.nbytes))
                for off, r in zip(offsets, raws, strict=True):
                    f.write(bytes(off - f.tell()))
                    f.write(r)
            os.replace(tmp, self.path)
            self._prune(limit)
        except OSError as exc:
            return f"cannot write {self.path} ({exc.strerror})"
        return None

    def _prune(self, limit: int) -> None:
        files = []
        for p in self.directory.glob("*.analysis"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        files.sort()
        total = sum(sz for _, sz, _ in files)
        for _, sz, p in files:
            if total <= limit:
                break
            if p == self.path:
                continue
            p.unlink(missing_ok=True)
            total -= sz
