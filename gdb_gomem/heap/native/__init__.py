"""Compiled inner loops of the whole-heap passes, with numpy (or Python) as the fallback.

Two kinds of work live here. Dominators (semi-NCA: a depth-first order and path
compression) cannot be expressed in numpy at all. The others (object enumeration, address ->
object lookups, word gathers, graph edges, mark, the type pass's value checks, the reverse
graph) can, but as a dozen passes over twenty-million-row temporaries each; measured on the
1 GiB benchmark heap, one compiled pass per row is 2-4x faster and needs no temporaries.

``graphkern.c`` is plain C over flat arrays, no Python API: it is compiled once per source
version with the system C compiler into the gomem cache (``$GOMEM_CACHE/native``) and loaded
with ctypes, so one shared object serves gdb's embedded Python and the venv alike. Where no
compiler is found, or ``GOMEM_NATIVE=0``, :func:`kernels` returns None, every wrapper here
returns None, and callers run their numpy/Python version: the same results (tests compare
the two on every fixture), only slower. The kernels read only arrays this package built;
values read from the target's memory are bounds-checked before they index anything.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gdb_gomem.symbols.symcache import cache_dir

SOURCE = Path(__file__).with_name("graphkern.c")
#: Why the kernels are unavailable, for ``gomem info``-style notes (None: loaded or untried).
unavailable: str | None = None
_lib: ctypes.CDLL | None = None
_tried = False
_LOAD_LOCK = threading.Lock()

_I64P = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
_I32P = np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")
_U64P = np.ctypeslib.ndpointer(dtype=np.uint64, flags="C_CONTIGUOUS")
_U8P = np.ctypeslib.ndpointer(dtype=np.uint8, flags="C_CONTIGUOUS")
_U32P = np.ctypeslib.ndpointer(dtype=np.uint32, flags="C_CONTIGUOUS")
_U16P = np.ctypeslib.ndpointer(dtype=np.uint16, flags="C_CONTIGUOUS")
_I8P = np.ctypeslib.ndpointer(dtype=np.int8, flags="C_CONTIGUOUS")
_I64R = ctypes.POINTER(ctypes.c_int64)
#: The arguments of _find_args (the page-table lookup) and _image_args (a HeapImage).
_FIND_T: list[type[ctypes._SimpleCData[Any]]] = [
    ctypes.c_uint64,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_int64,
    _I32P,
    _I64P,
    _I64P,
    _I64P,
    _I64P,
    ctypes.c_int64,
    _I32P,
]
_IMAGE_T: list[type[ctypes._SimpleCData[Any]]] = [
    ctypes.c_int64,
    _I64P,
    _I64P,
    _I64P,
    _U64P,
    ctypes.c_int64,
]


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
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
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
    with _LOAD_LOCK:  # two threads' first calls: one builds and loads, the other waits
        if _tried:
            return _lib
        try:
            lib = ctypes.CDLL(str(_build()))
        except (OSError, subprocess.SubprocessError) as exc:
            unavailable = str(exc)
            _tried = True
            return None
        _declare(lib)
        _lib = lib
        _tried = True
        return lib


def _declare(lib: ctypes.CDLL) -> None:
    """Argument and result types of every kernel (ctypes checks arrays against them)."""
    # The signatures as a table, one kernel a line or two: ruff format would stack every
    # argument on its own line.
    # fmt: off
    lib.gomem_dominators.restype = ctypes.c_int64
    lib.gomem_dominators.argtypes = [ctypes.c_int64, _I64P, _I32P, ctypes.c_int64, _I64P,
                                     _I32P, _I32P]
    lib.gomem_retained.restype = None
    lib.gomem_retained.argtypes = [ctypes.c_int64, _I32P, _I32P, ctypes.c_int64, _I64P]
    lib.gomem_find.restype = None
    lib.gomem_find.argtypes = [ctypes.c_int64, _U64P, *_FIND_T, _I32P]
    lib.gomem_words_multi.restype = None
    lib.gomem_words_multi.argtypes = [ctypes.c_int64, _U64P, ctypes.c_int64, _I64P, *_IMAGE_T,
                                      _U64P, _U8P]
    lib.gomem_edges.restype = ctypes.c_int64
    lib.gomem_edges.argtypes = [ctypes.c_int64, _I32P, _U64P, *_IMAGE_T, *_FIND_T, _U64P,
                                _I32P, _I32P, _U32P, _I64R]
    lib.gomem_mark.restype = ctypes.c_int64
    lib.gomem_mark.argtypes = [ctypes.c_int64, _I64P, _I32P, ctypes.c_int64, _I64P, _U8P]
    lib.gomem_alloc_objects.restype = ctypes.c_int64
    lib.gomem_alloc_objects.argtypes = [ctypes.c_int64, _I64P, _I64P, _I64P, _I64P, _I64P,
                                        _I64P, _U8P, _U8P, ctypes.c_int64, _I32P, _U64P,
                                        _U64P, _I32P]
    lib.gomem_fresh.restype = ctypes.c_int64
    lib.gomem_fresh.argtypes = [ctypes.c_int64, _U64P, ctypes.c_int32, *_FIND_T, _U8P, _U8P,
                                _I32P, _U64P, _U64P, _I64R]
    lib.gomem_reverse.restype = None
    lib.gomem_reverse.argtypes = [ctypes.c_int64, _I64P, _I32P, _I64P, _I32P]
    lib.gomem_span_edges_csr.restype = ctypes.c_int64
    lib.gomem_span_edges_csr.argtypes = [
        ctypes.c_int64, _I64P, _I64P, _U64P, _I64P, _I64P, *_IMAGE_T, *_FIND_T, _U64P, _I32P,
        _I32P, _U32P, ctypes.c_int64, _I64R, ctypes.c_int, ctypes.c_int64, _I32P, _U32P, _I32P,
        _I64R, _I64R, _I64R,
    ]
    lib.gomem_top.restype = None
    lib.gomem_top.argtypes = [ctypes.c_int64, _I32P, _I32P, ctypes.c_int64, _I32P]
    lib.gomem_histogram.restype = None
    lib.gomem_histogram.argtypes = [ctypes.c_int64, _I32P, _U8P, _U64P, ctypes.c_int64, _I64P,
                                    _U64P]
    lib.gomem_ptr_batch.restype = None
    lib.gomem_ptr_batch.argtypes = [
        ctypes.c_int64, _U64P, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32, ctypes.c_int,
        *_FIND_T, _I64P, _U16P, _U8P, _U8P, _I8P, _I32P, ctypes.c_int32, ctypes.c_int32,
        ctypes.c_int8, ctypes.c_int8, _I32P, _U64P, _I64R, _U64P, _I64R, _U64P, _I64R,
    ]
    lib.gomem_string_batch.restype = None
    lib.gomem_string_batch.argtypes = [
        ctypes.c_int64, _U64P, _U64P, ctypes.c_int32, *_FIND_T, _U16P, _I8P, _I32P,
        ctypes.c_int32, ctypes.c_int32, ctypes.c_int8, ctypes.c_int8, _I32P, _U8P,
    ]


    # fmt: on


def _find_args(t: Any) -> tuple[Any, ...]:
    """The dense page-table lookup's arguments (``find1`` in graphkern.c) of an
    :class:`..objects.ObjectTable`."""
    geo = t.walk.geometry
    return (
        int(geo.arena_base) % (1 << 64),
        int(t._page_shift),
        int(t._gp0),
        len(t._page_span),
        t._page_span,
        t._span_base,
        t._span_elem,
        t._span_nelems,
        t._span_slot0,
        len(t._slot_obj),
        t._slot_obj,
    )


def _image_args(im: Any) -> tuple[Any, ...]:
    """A :class:`..objects.HeapImage`'s segments and buffer (``read_word`` in graphkern.c)."""
    return (
        len(im.seg_vaddr),
        np.ascontiguousarray(im.seg_vaddr, np.int64),
        np.ascontiguousarray(im.seg_off, np.int64),
        np.ascontiguousarray(im.seg_len, np.int64),
        im.buf,
        len(im.buf),
    )


def _csr_args(
    n: int,
    indptr: np.ndarray,
    dst: np.ndarray,
    roots: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CSR graph and its roots as the kernels take them, checked: the kernels trust
    indptr and index by edge targets and roots."""
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    dst = np.ascontiguousarray(dst, dtype=np.int32)
    roots = np.asarray(roots, dtype=np.int64)
    roots = np.ascontiguousarray(roots[roots >= 0])  # -1: a root row that holds no object
    if (
        len(indptr) != n + 1
        or int(indptr[-1]) > len(dst)
        or (n and (indptr[1:] < indptr[:-1]).any())
    ):
        raise ValueError("inconsistent CSR")
    if len(dst) and (int(dst.min()) < 0 or int(dst.max()) >= n):
        raise ValueError("edge target out of range")
    if len(roots) and int(roots.max()) >= n:
        raise ValueError("root out of range")
    return indptr, dst, roots


def _dense(t: Any) -> bool:
    return bool(getattr(t, "_dense", False))


def _per_span(t: Any, a: np.ndarray, dtype: Any) -> bool:
    """``a`` is a contiguous per-span column of table ``t`` (the kernels index it by the
    span the page table gives, so a short one would be read past its end)."""
    return a.dtype == dtype and a.flags.c_contiguous and a.ndim == 1 and len(a) >= len(t._span_base)


def dominators(
    n: int, indptr: np.ndarray, dst: np.ndarray, roots: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`..graphalgo.dominators` in C, or None when the kernels are unavailable."""
    lib = kernels()
    if lib is None or n >= (1 << 31) - 1:
        return None
    indptr, dst, roots = _csr_args(n, indptr, dst, roots)
    # n + 1 each: the kernel works in them (preorder and link forest) over the super-root too.
    idom = np.empty(n + 1, dtype=np.int32)
    order = np.empty(n + 1, dtype=np.int32)
    reached = lib.gomem_dominators(n, indptr, dst, len(roots), roots, idom, order)
    if reached < 0:
        raise MemoryError("dominators: out of memory")
    return idom[:n], order[1 : reached + 1]


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


def find_objects(table: Any, addrs: np.ndarray) -> np.ndarray | None:
    """:meth:`..objects.ObjectTable.find` in C for a dense page table, or None (no kernels,
    or a sparse table: the caller's numpy path). One pass per address instead of a dozen
    numpy passes: the lookups are memory-latency bound, and the temporaries are gone."""
    lib = kernels()
    if lib is None or not _dense(table):
        return None
    a = np.ascontiguousarray(addrs, dtype=np.uint64)
    out = np.empty(len(a), dtype=np.int32)
    if len(a):
        lib.gomem_find(len(a), a, *_find_args(table), out)
    return out


def resolve_edges(
    table: Any, src: np.ndarray, waddr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """The graph's inner loop in one compiled pass (see ``gomem_edges``): (edge sources,
    targets, byte offsets in the source as uint32, unreadable words), or None where the
    kernels or the dense page table are unavailable."""
    lib = kernels()
    if lib is None or getattr(table, "image", None) is None or not _dense(table):
        return None
    s = np.ascontiguousarray(src, dtype=np.int32)
    w = np.ascontiguousarray(waddr, dtype=np.uint64)
    n = len(w)
    out_s = np.empty(max(n, 1), np.int32)
    out_d = np.empty(max(n, 1), np.int32)
    out_o = np.empty(max(n, 1), np.uint32)
    bad = ctypes.c_int64(0)
    m = (
        lib.gomem_edges(
            n,
            s,
            w,
            *_image_args(table.image),
            *_find_args(table),
            np.ascontiguousarray(table.addr, np.uint64),
            out_s,
            out_d,
            out_o,
            ctypes.byref(bad),
        )
        if n
        else 0
    )
    return out_s[:m].copy(), out_d[:m].copy(), out_o[:m].copy(), int(bad.value)


def mark(indptr: np.ndarray, dst: np.ndarray, roots: np.ndarray, n: int) -> np.ndarray | None:
    """:func:`..mark.mark` in C (a depth-first walk), or None when the kernels are
    unavailable."""
    lib = kernels()
    if lib is None or n >= (1 << 31) - 1:
        return None
    indptr, dst, r = _csr_args(n, indptr, dst, roots)
    live = np.empty(max(n, 1), dtype=np.uint8)
    if lib.gomem_mark(n, indptr, dst, len(r), r, live) < 0:
        raise MemoryError("mark: out of memory")
    return live[:n].view(bool)


def alloc_objects(
    base: np.ndarray,
    nelems: np.ndarray,
    elem: np.ndarray,
    freeidx: np.ndarray,
    abyte: np.ndarray,
    aok: np.ndarray,
    packed: np.ndarray,
    expect: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Allocated slots in one compiled pass (``gomem_alloc_objects``): (slot -> object,
    addresses, sizes, span of each object), or None when the kernels are unavailable or the
    span walk's counts (``expect``) disagree with the bitmaps (the numpy path then runs)."""
    lib = kernels()
    if lib is None:
        return None
    i64 = [np.ascontiguousarray(a, np.int64) for a in (base, nelems, elem, elem, freeidx, abyte)]
    ok8 = np.ascontiguousarray(aok, np.uint8)
    bits = np.ascontiguousarray(packed, np.uint8)
    if len(bits) == 0:
        bits = np.zeros(1, np.uint8)
    total = int(i64[1].sum()) if len(i64[1]) else 0
    cap = max(int(expect), 0)
    slot_obj = np.empty(max(total, 1), np.int32)
    addr = np.empty(max(cap, 1), np.uint64)
    size = np.empty(max(cap, 1), np.uint64)
    span = np.empty(max(cap, 1), np.int32)
    m = lib.gomem_alloc_objects(len(i64[0]), *i64, ok8, bits, cap, slot_obj, addr, size, span)
    if m != cap:
        return None
    return slot_obj[:total], addr[:m], size[:m], span[:m]


def image_words(
    image: Any, addrs: np.ndarray, offs: list[int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """:meth:`..objects.HeapImage.words_multi` in C: words at ``addrs + offs[k]`` as rows k
    of a (len(offs), len(addrs)) matrix (and readable flags), each value's words read
    together; None without the kernels."""
    lib = kernels()
    if lib is None:
        return None
    a = np.ascontiguousarray(addrs, dtype=np.uint64)
    o = np.ascontiguousarray(offs, dtype=np.int64)
    out = np.empty((len(o), len(a)), dtype=np.uint64)
    ok = np.empty((len(o), len(a)), dtype=np.uint8)
    if len(a) and len(o):
        lib.gomem_words_multi(
            len(a), a, len(o), o, *_image_args(image), out.reshape(-1), ok.reshape(-1)
        )
    return out, ok.view(bool)


@dataclass
class TypeState:
    """What the typing kernels read and update, per object of a dense model table ``table``
    and per span of its walk (see :class:`gdb_gomem.heap.types.typepass.TypePass`)."""

    table: Any
    span_osize: np.ndarray  # int64 per span: its objects' size
    span_class: np.ndarray  # uint16 per span
    span_hdr: np.ndarray  # uint8 per span: some object has a nonzero data_off
    data_off: np.ndarray  # uint8 per object
    prio: np.ndarray  # int8 per object
    tid: np.ndarray  # int32 per object: type-table entry
    arr_tid: np.ndarray  # int32 per object: DWARF type scanned at its data start

    def usable(self) -> bool:
        t = self.table
        n = len(t.addr)
        return (
            _dense(t)
            and _per_span(t, self.span_osize, np.int64)
            and _per_span(t, self.span_class, np.uint16)
            and _per_span(t, self.span_hdr, np.uint8)
            and all(
                a.flags.c_contiguous and a.dtype == d and len(a) == n
                for a, d in (
                    (self.data_off, np.uint8),
                    (self.prio, np.int8),
                    (self.tid, np.int32),
                    (self.arr_tid, np.int32),
                )
            )
        )


def fresh_values(
    st: TypeState,
    cand: np.ndarray,
    tid: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``gomem_fresh``: (new values at object data starts, the rest for the per-type set);
    marks the new ones in ``st.arr_tid``. None where the kernels are unavailable, ``st`` is
    not in their shape, or a type id does not fit the int32 marks."""
    lib = kernels()
    if lib is None or not st.usable() or not -1 < tid < 1 << 31:
        return None
    c = np.ascontiguousarray(cand, np.uint64)
    out_new = np.empty(max(len(c), 1), np.uint64)
    out_rest = np.empty(max(len(c), 1), np.uint64)
    nrest = ctypes.c_int64(0)
    m = lib.gomem_fresh(
        len(c),
        c,
        tid,
        *_find_args(st.table),
        st.span_hdr,
        st.data_off,
        st.arr_tid,
        out_new,
        out_rest,
        ctypes.byref(nrest),
    )
    return out_new[:m].copy(), out_rest[: nrest.value].copy()


def ptr_batch(
    st: TypeState,
    w: np.ndarray,
    tsize: int,
    tiny_class: int,
    tid: int,
    follow: bool,
    e_tiny: int,
    e_single: int,
    p_guess: int,
    p_dwarf: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``gomem_ptr_batch``: types what pointers ``w`` of static type ``*T`` address (in
    ``st.prio``/``st.tid``) and marks new values (``st.arr_tid``); returns (array guesses
    for the caller, new values of T, values for the exact per-type set), or None where the
    kernels are unavailable or ``st`` is not in their shape."""
    lib = kernels()
    if lib is None or not st.usable() or not -1 < tid < 1 << 31:
        return None
    a = np.ascontiguousarray(w, np.uint64)
    k = max(len(a), 1)
    guess, new, rest = np.empty(k, np.uint64), np.empty(k, np.uint64), np.empty(k, np.uint64)
    ng, nn, nr = ctypes.c_int64(0), ctypes.c_int64(0), ctypes.c_int64(0)
    lib.gomem_ptr_batch(
        len(a),
        a,
        int(tsize),
        int(tiny_class),
        int(tid),
        int(follow),
        *_find_args(st.table),
        st.span_osize,
        st.span_class,
        st.span_hdr,
        st.data_off,
        st.prio,
        st.tid,
        int(e_tiny),
        int(e_single),
        int(p_guess),
        int(p_dwarf),
        st.arr_tid,
        guess,
        ctypes.byref(ng),
        new,
        ctypes.byref(nn),
        rest,
        ctypes.byref(nr),
    )
    return guess[: ng.value].copy(), new[: nn.value].copy(), rest[: nr.value].copy()


def string_batch(
    st: TypeState,
    p: np.ndarray,
    n: np.ndarray,
    tiny_class: int,
    e_tiny: int,
    e_str: int,
    p_guess: int,
    p_dwarf: int,
) -> bool:
    """``gomem_string_batch``: types the objects string headers (data ``p``, length ``n``)
    point into; False where the kernels are unavailable."""
    lib = kernels()
    if lib is None or not st.usable() or len(p) != len(n):
        return False
    a = np.ascontiguousarray(p, np.uint64)
    ln = np.ascontiguousarray(n, np.uint64)
    k = max(len(a), 1)
    lib.gomem_string_batch(
        len(a),
        a,
        ln,
        int(tiny_class),
        *_find_args(st.table),
        st.span_class,
        st.prio,
        st.tid,
        int(e_tiny),
        int(e_str),
        int(p_guess),
        int(p_dwarf),
        np.empty(k, np.int32),
        np.empty(k, np.uint8),
    )
    return True


def histogram(
    key: np.ndarray,
    sel: np.ndarray,
    size: np.ndarray,
    nk: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``gomem_histogram``: (count, bytes) per key 0..nk-1 over the objects ``sel`` selects,
    bucket nk for the rest; None without the kernels or with other column types."""
    lib = kernels()
    n = len(key)
    if (
        lib is None
        or key.dtype != np.int32
        or sel.dtype != np.bool_
        or len(sel) != n
        or size.dtype not in (np.uint64, np.int64)
        or len(size) != n
    ):
        return None
    counts = np.empty(nk + 1, np.int64)
    nbytes = np.empty(nk + 1, np.uint64)
    lib.gomem_histogram(
        n,
        np.ascontiguousarray(key),
        np.ascontiguousarray(sel).view(np.uint8),
        np.ascontiguousarray(size).view(np.uint64),
        nk,
        counts,
        nbytes,
    )
    return counts, nbytes


def predecessors(
    indptr: np.ndarray,
    dst: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """:meth:`..heapgraph.HeapGraph.predecessors` by a compiled counting sort, or None (no
    kernels, or edge targets that are not int32)."""
    lib = kernels()
    if lib is None or dst.dtype != np.int32:
        return None
    n = len(indptr) - 1
    ip = np.ascontiguousarray(indptr, np.int64)
    if int(ip[-1]) > len(dst):
        raise ValueError("inconsistent CSR")
    m = int(ip[-1])
    rptr = np.empty(n + 1, np.int64)
    rsrc = np.empty(max(m, 1), np.int32)
    lib.gomem_reverse(n, ip, np.ascontiguousarray(dst), rptr, rsrc)
    return rptr, rsrc[:m]


class SpanBitmaps(Protocol):
    """What :meth:`CsrWriter.add_group` reads of a group of spans (a
    :class:`..pointers.BitmapGroup`)."""

    base: np.ndarray
    widx: np.ndarray
    words: np.ndarray
    wstart: np.ndarray
    nw: np.ndarray


class CsrWriter:
    """Builds the graph's CSR arrays in place (``gomem_span_edges_csr``): small-span edges
    stream in with increasing sources and the header/large-object edges (``b*``, sorted by
    source, disjoint sources) are merged in, so no per-chunk edge copies and no scatter
    pass exist. The output arrays grow by 25% (realloc: no copy of the pages) and shrink to
    size at the end."""

    GROWTH = 1.25

    def __init__(
        self,
        lib: ctypes.CDLL,
        table: Any,
        n: int,
        bsrc: np.ndarray,
        bdst: np.ndarray,
        boff: np.ndarray,
    ) -> None:
        self.lib, self.t = lib, table
        self.bsrc = np.ascontiguousarray(bsrc, np.int32)
        self.bdst = np.ascontiguousarray(bdst, np.int32)
        self.boff = np.ascontiguousarray(boff, np.uint32)
        if not len(self.bsrc):  # valid pointers for the kernel
            self.bsrc, self.bdst = np.zeros(1, np.int32), np.zeros(1, np.int32)
            self.boff = np.zeros(1, np.uint32)
        self.nb = len(bsrc)
        self.counts = np.zeros(max(n, 1), np.int32)
        self.n = n
        cap = max(self.nb + n // 2, 1024)
        self.dst = np.empty(cap, np.int32)
        self.off = np.empty(cap, np.uint32)
        self.fpos, self.bpos = ctypes.c_int64(0), ctypes.c_int64(0)
        self.total, self.bad = ctypes.c_int64(0), ctypes.c_int64(0)
        self._image = _image_args(table.image)
        self._find = (*_find_args(table), np.ascontiguousarray(table.addr, np.uint64))

    def _reserve(self, need: int) -> None:
        want = self.fpos.value + need
        if want <= len(self.dst):
            return
        cap = max(int(len(self.dst) * self.GROWTH), want)
        self.dst.resize(cap, refcheck=False)
        self.off.resize(cap, refcheck=False)

    def _call(self, grp: SpanBitmaps | None) -> None:
        if grp is None:
            z64, zu = np.zeros(1, np.int64), np.zeros(1, np.uint64)
            spans = (0, z64, z64, zu, z64, z64)
            flush = 1
        else:
            g = grp
            spans = (
                len(g.base),
                np.ascontiguousarray(g.base, np.int64),
                np.ascontiguousarray(g.widx, np.int64),
                np.ascontiguousarray(g.words, np.uint64),
                np.ascontiguousarray(g.wstart, np.int64),
                np.ascontiguousarray(g.nw, np.int64),
            )
            flush = 0
        rc = self.lib.gomem_span_edges_csr(
            *spans,
            *self._image,
            *self._find,
            self.bsrc,
            self.bdst,
            self.boff,
            self.nb,
            ctypes.byref(self.bpos),
            flush,
            len(self.dst),
            self.dst,
            self.off,
            self.counts,
            ctypes.byref(self.fpos),
            ctypes.byref(self.total),
            ctypes.byref(self.bad),
        )
        if rc < 0:
            raise RuntimeError("CsrWriter: capacity reserved too small")

    def add_group(self, grp: SpanBitmaps) -> None:
        words = np.ascontiguousarray(grp.words, np.uint64)
        bits = (
            int(np.bitwise_count(words).sum())
            if hasattr(np, "bitwise_count")
            else (len(words) * 64)
        )
        self._reserve(bits + self.nb - self.bpos.value)
        self._call(grp)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """(indptr, dst, offset, pointer words in the groups, unreadable words)."""
        self._reserve(self.nb - self.bpos.value)
        self._call(None)
        m = self.fpos.value
        self.dst.resize(m, refcheck=False)
        self.off.resize(m, refcheck=False)
        indptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(self.counts[: self.n], out=indptr[1:])
        return indptr, self.dst, self.off, self.total.value, self.bad.value


def csr_writer(
    table: Any, n: int, bsrc: np.ndarray, bdst: np.ndarray, boff: np.ndarray
) -> CsrWriter | None:
    """A :class:`CsrWriter`, or None where the kernels or a dense page table are missing."""
    lib = kernels()
    if lib is None or not _dense(table) or getattr(table, "image", None) is None:
        return None
    return CsrWriter(lib, table, n, bsrc, bdst, boff)
