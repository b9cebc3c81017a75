"""Linked structures (``Next *T`` inside ``T``) chased as whole chains, not hop by hop.

Propagation in rounds discovers one list node per round: a million-node list would be a
million rounds. Once a type has had :data:`~.propagate.CHASE_AFTER` rounds, each of its
self-pointer fields becomes a successor table over every object of a plausible size (one
gather), and reachability over those tables is computed in whole-table steps: breadth-first
while the frontier is wide (trees), by pointer doubling once it stays narrow (lists, in
O(log n) steps). Sound: from a ``T``, the field's static type says the successor is a ``T``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.heap.objects import F_NOSCAN
from gdb_gomem.heap.types.queue import MAX_WORK

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


class ChainChaser:
    """Per type, its successor tables and the nodes reached so far."""

    def __init__(self, tp: TypePass) -> None:
        self.tp = tp
        self._nexts: dict[
            int, tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], list[np.ndarray]]
        ] = {}
        self._reached: dict[int, np.ndarray] = {}

    def chase(self, tid: int, addrs: np.ndarray, offs: tuple[int, ...]) -> np.ndarray:
        """Linked structures (``Next *T`` inside ``T``): every node reachable from ``addrs``.

        Rounds of one pointer hop would discover one list node per round. Instead, per
        self-pointer field, one gather over every object of a plausible size gives each its
        successor (an exact ``T``-sized object start, else none); reachability over those
        tables is then breadth-first while the frontier is wide (trees) and by pointer
        doubling once it stays narrow (lists: O(log n) whole-table rounds). Sound: from a
        ``T``, the field's static type says the successor is a ``T``. Returns object indices
        reached for the first time."""
        cand, pos, tabs = self._next_tables(tid, offs)
        m = len(cand)
        reached = self._reached.get(tid)
        if reached is None:
            reached = self._reached[tid] = np.zeros(m + 1, dtype=bool)
        seeds = pos(self.tp.find(addrs))
        seeds = seeds[(seeds >= 0) & ~reached[np.where(seeds >= 0, seeds, m)]]
        if not len(seeds):
            return np.zeros(0, dtype=np.int64)
        before = reached.copy()
        reached[seeds] = True
        frontier = seeds
        narrow = 0
        rounds = 0
        while len(frontier) and rounds < MAX_WORK:
            rounds += 1
            nxt = np.concatenate([t[frontier] for t in tabs])
            nxt = nxt[~reached[nxt]]
            if len(nxt) > 1:
                nxt = np.unique(nxt)
            reached[nxt] = True
            reached[m] = False
            frontier = nxt
            narrow = narrow + 1 if len(frontier) < 64 else 0
            if narrow > 32 and len(frontier):
                prev = reached.copy()
                for t in tabs:
                    self._closure(reached, t, m)
                frontier = np.flatnonzero(reached & ~prev)
                narrow = 0
        return cand[np.flatnonzero(reached[:m] & ~before[:m])]

    @staticmethod
    def _closure(reached: np.ndarray, table: np.ndarray, m: int) -> None:
        """``reached`` closed under repeated ``table`` (pointer doubling: after round r, all
        nodes within 2**r hops); ``table[m] == m`` is the sink."""
        j = table.copy()
        for _ in range(max(1, int(m).bit_length() + 1)):
            src = np.flatnonzero(reached)
            reached[j[src]] = True
            reached[m] = False
            j = j[j]

    def _next_tables(
        self, tid: int, offs: tuple[int, ...]
    ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], list[np.ndarray]]:
        """(candidate object indices, object -> candidate position, successor tables)."""
        hit = self._nexts.get(tid)
        if hit is not None:
            return hit
        tp = self.tp
        t = tp.dw.resolve(tid)
        objs = tp.objs
        data_off = tp.data_off
        sz = objs.size.astype(np.int64)
        cand = np.flatnonzero(
            (sz >= t.size) & (sz < 2 * t.size + 8) & ((objs.flags & F_NOSCAN) == 0)
        )
        m = len(cand)

        def pos(idx: np.ndarray) -> np.ndarray:
            """Candidate position of each object index (-1 when not a candidate)."""
            if m == 0:
                return np.full(len(idx), -1, dtype=np.int64)
            jc = np.minimum(np.searchsorted(cand, idx), m - 1)
            return np.where((idx >= 0) & (cand[jc] == idx), jc, -1)

        base = objs.addr[cand] + data_off[cand].astype(np.uint64)
        tabs = []
        for off in offs:
            w = tp.gather.words(base + np.uint64(off))
            k = tp.find(w)
            kc = np.where(k >= 0, k, 0)
            pk = pos(k)
            good = (pk >= 0) & (w == objs.addr[kc] + data_off[kc].astype(np.uint64))
            tab = np.full(m + 1, m, dtype=np.int64)
            tab[np.flatnonzero(good)] = pk[good]
            tabs.append(tab)
        hit = self._nexts[tid] = (cand, pos, tabs)
        return hit
