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

The files are pickles of gdb-gomem's own objects in the user's cache directory, read only
when their header carries the expected key; any error reading one drops it and the analysis
is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any

MAGIC = b"GOMEM-ANALYSIS\x01"
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
                head = f.read(len(MAGIC) + 64)
                if head != MAGIC + self.key.encode():
                    return None
                data = f.read()
            bundle = pickle.loads(data)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a damaged or foreign file: drop it, rebuild
            self.path.unlink(missing_ok=True)
            return None
        if not isinstance(bundle, dict):
            return None
        self.loaded_bytes = len(data)
        try:
            os.utime(self.path)  # most recently used
        except OSError:
            pass
        return bundle

    def save(self, bundle: dict[str, Any]) -> str | None:
        """Write the bundle; a reason when it was not written, else None."""
        try:
            data = pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            return f"not picklable ({exc})"
        limit = max_bytes()
        if len(data) > limit:
            return f"{len(data)} bytes, over GOMEM_ANALYSIS_CACHE_MAX ({limit})"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(MAGIC + self.key.encode())
                f.write(data)
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
