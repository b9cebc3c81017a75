"""Compiled kernels for the few whole-heap passes numpy cannot vectorise (dominators).

``graphkern.c`` is plain C over flat arrays, no Python API: it is compiled once per source
version with the system C compiler into the gomem cache (``$GOMEM_CACHE/native``) and loaded
with ctypes, so one shared object serves gdb's embedded Python and the venv alike. Where no
compiler is found, or ``GOMEM_NATIVE=0``, :func:`kernels` returns None and callers use their
pure-Python algorithm (same results, tested against each other; only slower).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..symcache import cache_dir

SOURCE = Path(__file__).with_name("graphkern.c")
#: Why the kernels are unavailable, for ``gomem info``-style notes (None: loaded or untried).
unavailable: str | None = None
_lib: ctypes.CDLL | None = None
_tried = False

_I64P = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
_I32P = np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def _build() -> Path:
    """The shared object for this source, compiling it if the cache has none."""
    src = SOURCE.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:16]
    out = cache_dir() / "native" / f"graphkern-{tag}.so"
    if out.exists():
        return out
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler (cc, gcc or clang) on PATH")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        res = subprocess.run(
            [cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(SOURCE)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if res.returncode != 0:
            raise OSError(f"{cc} failed: {res.stderr.strip()[:300]}")
        os.replace(tmp, out)  # atomic: concurrent builders each install a whole file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def kernels() -> ctypes.CDLL | None:
    """The loaded kernels, or None (see :data:`unavailable`)."""
    global _lib, _tried, unavailable
    if os.environ.get("GOMEM_NATIVE", "1") == "0":
        unavailable = "disabled by GOMEM_NATIVE=0"
        return None
    if _tried:
        return _lib
    _tried = True
    try:
        lib = ctypes.CDLL(str(_build()))
    except (OSError, subprocess.SubprocessError) as exc:
        unavailable = str(exc)
        return None
    lib.gomem_dominators.restype = ctypes.c_int64
    lib.gomem_dominators.argtypes = [ctypes.c_int64, _I64P, _I32P, ctypes.c_int64, _I64P,
                                     _I32P, _I32P]  # fmt: skip
    lib.gomem_retained.restype = None
    lib.gomem_retained.argtypes = [ctypes.c_int64, _I32P, _I32P, ctypes.c_int64, _I64P]
    lib.gomem_top.restype = None
    lib.gomem_top.argtypes = [ctypes.c_int64, _I32P, _I32P, ctypes.c_int64, _I32P]
    _lib = lib
    return lib


def dominators(
    n: int, indptr: np.ndarray, dst: np.ndarray, roots: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`..graphalgo.dominators` in C, or None when the kernels are unavailable."""
    lib = kernels()
    if lib is None or n >= (1 << 31) - 1:
        return None
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    dst = np.ascontiguousarray(dst, dtype=np.int32)
    roots = np.ascontiguousarray(roots, dtype=np.int64)
    if len(indptr) != n + 1 or int(indptr[-1]) > len(dst):
        raise ValueError("inconsistent CSR")
    if len(dst) and (int(dst.min()) < 0 or int(dst.max()) >= n):
        raise ValueError("edge target out of range")
    if len(roots) and (int(roots.min()) < 0 or int(roots.max()) >= n):
        raise ValueError("root out of range")
    idom = np.empty(max(n, 1), dtype=np.int32)
    order = np.empty(max(n, 1), dtype=np.int32)
    reached = lib.gomem_dominators(n, indptr, dst, len(roots), roots, idom, order)
    if reached < 0:
        raise MemoryError("dominators: out of memory")
    return idom[:n], order[:reached]


def retained_sizes(idom: np.ndarray, size: np.ndarray, order: np.ndarray) -> np.ndarray | None:
    """:func:`..graphalgo.retained_sizes` in C, or None when the kernels are unavailable."""
    lib = kernels()
    if lib is None:
        return None
    idom32 = np.ascontiguousarray(idom, dtype=np.int32)
    order32 = np.ascontiguousarray(order, dtype=np.int32)
    out = np.array(size, dtype=np.int64)  # a copy: the kernel adds into it
    lib.gomem_retained(len(idom32), idom32, order32, len(order32), out)
    return out


def dominator_tops(idom: np.ndarray, order: np.ndarray) -> np.ndarray | None:
    """:func:`..graphalgo.dominator_tops` in C, or None when the kernels are unavailable."""
    lib = kernels()
    if lib is None:
        return None
    idom32 = np.ascontiguousarray(idom, dtype=np.int32)
    order32 = np.ascontiguousarray(order, dtype=np.int32)
    out = np.empty(max(len(idom32), 1), dtype=np.int32)
    lib.gomem_top(len(idom32), idom32, order32, len(order32), out)
    return out[: len(idom32)]
