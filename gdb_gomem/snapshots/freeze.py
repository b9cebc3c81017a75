"""Copy a live process's allocation state in as few reads as possible, so a snapshot's pause is
the copy and nothing else; decoding (:mod:`.capture`) runs afterwards on the copy.

What the allocation state lives in, per the runtime source:

- the binary's writable data sections (``mheap_``, ``memstats``, ``allp``, ``gcController``
  and every other runtime global the walk and the clocks read);
- ``mheap_.allspans``, the array of every ``mspan`` descriptor, and the descriptors
  themselves (``fixalloc``'d in 16 KiB chunks, so sorted they merge into few reads);
- each descriptor's ``allocBits`` and ``gcmarkBits`` (``gcBitsArena`` blocks of 64 KiB);
- each P and its ``mcache`` (the spans cached for allocation).

Everything else (Green Tea's inline mark bytes at the end of unswept span pages, profile
records) is read from the live process when decoding, which :class:`FrozenMemory` counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.runtime.mspan import MSpanLayout
from gdb_gomem.runtime.spans import MAX_SPANS
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.frozen import FrozenMemory
from gdb_gomem.target.process import GoProcess

#: Bound on one section copied whole (a Go binary's .bss is rarely over a few MiB).
MAX_SECTION = 256 << 20
#: Merge neighbouring records into one read when the gap is at most this.
GAP = 1 << 12
MAX_PROCS = 1 << 12


@dataclass
class FreezeStats:
    seconds: float
    bytes: int
    ranges: int
    spans: int


def _copy_merged(
    proc: GoProcess, mem: FrozenMemory, lo: np.ndarray, size: np.ndarray, window: int = 1 << 20
) -> list[tuple[int, bytes]]:
    """Copy [lo, lo+size) ranges, merged where they touch or nearly do; the windows read."""
    if not len(lo):
        return []
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order].astype(np.int64), (lo[order] + size[order]).astype(np.int64)
    run_hi = np.maximum.accumulate(hi)
    start = np.ones(len(lo), bool)
    start[1:] = lo[1:] > run_hi[:-1] + GAP
    starts = np.flatnonzero(start)
    ends = np.append(starts[1:], len(lo)) - 1
    reqs: list[tuple[int, int]] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        a, b = int(lo[s]), int(run_hi[e])
        while a < b:  # bounded windows
            reqs.append((a, min(window, b - a)))
            a += window
    got: list[tuple[int, bytes]] = []
    for (a, n), raw in zip(reqs, read_many(proc.mem, reqs, max_gap=0), strict=True):
        if raw is not None and not mem.covers(a, n):
            mem.add(a, raw)
            got.append((a, raw))
    return got


def _fields(
    windows: list[tuple[int, bytes]], addrs: np.ndarray, fields: dict[str, tuple[int, int]]
) -> dict[str, np.ndarray]:
    """Unsigned little-endian fields (name -> (offset, size)) of the records at addrs,
    gathered from the windows in one numpy pass per field (0 where a record is outside every
    window)."""
    out = {k: np.zeros(len(addrs), np.uint64) for k in fields}
    if not windows or not len(addrs):
        return out
    wlo = np.array([a for a, _ in windows], np.int64)
    wlen = np.array([len(d) for _, d in windows], np.int64)
    woff = np.zeros(len(windows), np.int64)
    woff[1:] = np.cumsum(wlen)[:-1]
    buf = np.frombuffer(b"".join(d for _, d in windows), np.uint8)
    k = np.searchsorted(wlo, addrs, side="right") - 1
    kk = np.maximum(k, 0)
    end = max(o + n for o, n in fields.values())
    ok = (k >= 0) & (addrs + end <= wlo[kk] + wlen[kk])
    start = woff[kk[ok]] + (addrs[ok] - wlo[kk[ok]])
    for name, (off, size) in fields.items():
        raw = buf[start[:, None] + off + np.arange(size, dtype=np.int64)]
        padded = np.zeros((len(raw), 8), np.uint8)
        padded[:, :size] = raw
        out[name][ok] = padded.reshape(-1).view(np.uint64)
    return out


def freeze(proc: GoProcess) -> tuple[GoProcess, FreezeStats]:
    """A GoProcess over a copy of proc's allocation state (reads elsewhere go to proc)."""
    t0 = time.perf_counter()
    mem = FrozenMemory(fallback=proc.mem)
    for name in (".noptrdata", ".data", ".bss", ".noptrbss"):
        sec = proc.binary.sections.get(name)
        if sec is None or not sec.size or sec.size > MAX_SECTION:
            continue
        try:
            mem.add(sec.addr, proc.mem.read(sec.addr, sec.size))
        except UnreadableMemory:
            pass
    nspans = 0
    try:
        mheap = proc.global_("runtime.mheap_")
        arr, n, cap = mheap["allspans"].slice_header()
        n = max(0, min(n, cap, MAX_SPANS))
        if n:
            raw = proc.mem.read(arr, 8 * n)
            mem.add(arr, raw)
            ptrs = np.frombuffer(raw, np.uint64)
            ptrs = np.unique(ptrs[ptrs != 0]).astype(np.int64)
            nspans = len(ptrs)
            lay = MSpanLayout(proc.dw)
            wins = _copy_merged(proc, mem, ptrs, np.full(len(ptrs), lay.size, np.int64))
            # Each descriptor's bitmaps, from the copy just taken.
            want = ("nelems", "allocBits", "gcmarkBits")
            rec = _fields(wins, ptrs, {f: lay.lay.fields[f][:2] for f in want})
            nb = ((rec["nelems"].astype(np.int64) + 63) // 64) * 8
            for col in ("allocBits", "gcmarkBits"):
                bits = rec[col]
                use = (bits != 0) & (nb > 0)
                _copy_merged(proc, mem, bits[use].astype(np.int64), nb[use])
        allp = proc.global_("runtime.allp")
        for pp in allp.slice_items(MAX_PROCS):
            pv = pp.deref()
            if pv is None:
                continue
            if not mem.covers(pv.addr, pv.size):
                mem.add(pv.addr, proc.mem.read(pv.addr, pv.size))
            mc = pv["mcache"].deref()
            if mc is not None and not mem.covers(mc.addr, mc.size):
                mem.add(mc.addr, proc.mem.read(mc.addr, mc.size))
    except (GomemError, ValueError):
        pass  # what could not be frozen is read live when decoding (and counted)
    frozen = GoProcess(
        proc.binary,
        mem,
        proc.threads,
        proc.stop,
        target_name=proc.target_name,
        mapped_files=proc.mapped_files,
        command_line=proc.command_line,
    )
    stats = FreezeStats(time.perf_counter() - t0, mem.nbytes, mem.nranges, nspans)
    return frozen, stats
