"""The scan queue: values still to scan, by DWARF type, and which were scanned already.

Propagation is breadth-first over typed values. Queued values are grouped by type so that
one batch scans all values of one type together (:mod:`.propagate`). Most values sit at an
object's data start, so "scanned already" is one int32 per object (``arr_tid``: the first
type scanned there, ``arr_count``: how many elements of it) instead of a Python set of
millions of addresses; values elsewhere (interior, globals, a second type at one start)
go to small per-type sets. The compiled kernels run the same check in one pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.base.errors import GomemError
from gdb_gomem.heap import native

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass

#: Bounds: elements followed per array value whose length comes from memory (a global's
#: array, a slice header's cap); an array *object* is bounded by its own size instead (up to
#: MAX_OBJECT_ELEMS); values scanned per process.
MAX_ARRAY_FOLLOW = 1 << 20
MAX_OBJECT_ELEMS = 1 << 27
MAX_WORK = 1 << 26
#: Elements read from one array outside the heap (see :meth:`ScanQueue._elements`).
MAX_ARRAY_ELEMS = 1 << 22
CUT_NOTE = (
    "arrays outside the heap claimed more elements than the heap could hold (damaged lengths, "
    "or a heap whose arena index is unreadable): only the first were followed"
)


class ScanQueue:
    """Values queued per DWARF type, and the record of values scanned."""

    def __init__(self, tp: TypePass) -> None:
        self.tp = tp
        self.dw = tp.dw
        self.plans = tp.plans
        n = len(tp.objs)
        # Values still to scan, by DWARF type (batched: one numpy pass per type and round).
        self.pending: dict[int, list[np.ndarray]] = {}
        self.pending_arrays: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        # Values already checked new by the compiled pointer pass (arr_tid marked there),
        # queued beside ``pending``'s entry for their type.
        self.pending_new: dict[int, list[np.ndarray]] = {}
        # Per object, values of one DWARF type scanned from its data start: arr_tid that
        # type (-1 none), arr_count how many elements of an array of it (0: a single value;
        # at most MAX_OBJECT_ELEMS). A second type at the same start goes to ``done``.
        self.arr_tid = np.full(n, -1, dtype=np.int32)
        self.arr_count = np.zeros(n, dtype=np.int32)
        self._stamp: np.ndarray | None = None  # dedupe scratch of the numpy fresh() only
        # Arrays outside the heap already queued, per type: (start, count).
        self.ranges_done: dict[int, set[tuple[int, int]]] = {}
        self._keys: dict[int, int] = {}
        self.done: dict[int, set[int]] = {}
        self.scanned = 0

    def key(self, tid: int) -> int:
        """The type values are queued and remembered under: a typedef and the type it names
        have one plan, so a map group array typed through the header's (named) type and
        through the map's (anonymous) one is scanned once."""
        hit = self._keys.get(tid)
        if hit is None:
            hit = self._keys[tid] = self.dw.resolve(tid).id
        return hit

    # ----------------------------------------------------------------- queueing

    def push(self, addr: int, tid: int, count: int = 1, in_object: bool = False) -> None:
        """Queue ``count`` values of type ``tid`` at ``addr`` for scanning (if they hold
        pointers); ``in_object``: the count was derived from a heap object's size."""
        tid = self.key(tid)
        if not self.plans.plan(tid):
            return
        count = max(1, min(count, MAX_OBJECT_ELEMS if in_object else MAX_ARRAY_FOLLOW))
        if count == 1:
            self.pending.setdefault(tid, []).append(np.array([addr], dtype=np.uint64))
        else:
            self.push_arrays(np.array([addr], np.uint64), np.array([count], np.int64), tid)

    def push_many(self, addrs: np.ndarray, tid: int) -> None:
        tid = self.key(tid)
        if len(addrs) and self.plans.plan(tid):
            self.pending.setdefault(tid, []).append(np.asarray(addrs, dtype=np.uint64))

    def push_arrays(self, starts: np.ndarray, counts: np.ndarray, tid: int) -> None:
        """Queue arrays: ``counts[j]`` values of ``tid`` from ``starts[j]``. An array that
        is an object's whole data is remembered once per object (:meth:`fresh_arrays`), not
        once per element: a slice of 3 million elements costs one entry, not 3 million."""
        tid = self.key(tid)
        if len(starts) and self.plans.plan(tid):
            parts = self.pending_arrays.setdefault(tid, [])
            parts.append((np.asarray(starts, np.uint64), np.asarray(counts, np.int64)))

    def push_checked(self, key: int, new: np.ndarray, rest: np.ndarray) -> None:
        """Queue what the compiled pointer pass returned for type ``key``: values it already
        marked scanned (``new``) and values still to check (``rest``). The type takes its
        place in ``pending`` (the queue's order) even with only new values."""
        parts = self.pending.setdefault(key, [])
        if len(new):
            self.pending_new.setdefault(key, []).append(new)
        if len(rest):
            parts.append(rest)

    def pop(self) -> tuple[int, np.ndarray] | None:
        """The next type and its queued values not scanned yet (now marked scanned), or
        None once nothing is queued. Arrays go first (one per object start, then element
        by element); a type whose values were all scanned already is skipped."""
        while self.pending or self.pending_arrays:
            if self.pending_arrays:
                tid, arrs = self.pending_arrays.popitem()
                starts = np.concatenate([a for a, _ in arrs])
                counts = np.concatenate([c for _, c in arrs])
                new = self.fresh_arrays(tid, starts, counts)
            else:
                tid, parts = self.pending.popitem()
                known = self.pending_new.pop(tid, [])
                cand = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else None
                new = self.fresh(tid, cand) if cand is not None else np.zeros(0, np.uint64)
                if known:
                    new = np.concatenate([*known, new])
            if not len(new):
                continue
            self.scanned += len(new)
            if self.scanned > MAX_WORK:
                raise GomemError(
                    "type propagation exceeded its work bound (more values than the heap "
                    "can hold: the core's heap structures are likely damaged)",
                    "run `gomem verify` to see which structure is corrupt",
                )
            return tid, new
        return None

    # ----------------------------------------------------------------- scanned already

    def _elements(self, tid: int, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Addresses of every element of the arrays (``counts[j]`` from ``starts[j]``), each
        array cut at :data:`MAX_ARRAY_ELEMS` (a length read from a damaged slice header must
        not size a table: the runtime's largest array, the arena index, has 2^22)."""
        if len(counts) and int(counts.max()) > MAX_ARRAY_ELEMS:
            counts = np.minimum(counts, MAX_ARRAY_ELEMS)
            if CUT_NOTE not in self.tp.notes:
                self.tp.notes.append(CUT_NOTE)
        tot = int(counts.sum())
        if tot > MAX_WORK:
            keep = np.cumsum(counts) <= MAX_WORK
            starts, counts = starts[keep], counts[keep]
            tot = int(counts.sum())
            if CUT_NOTE not in self.tp.notes:
                self.tp.notes.append(CUT_NOTE)
        if not tot:
            return np.zeros(0, np.uint64)
        es = np.uint64(self.dw.resolve(tid).size)
        k = np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + k.astype(np.uint64) * es

    def fresh_arrays(self, tid: int, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Element addresses of the queued arrays not scanned yet, now marked scanned.

        An array starting at an object's data start is an *array unit*: ``arr_tid`` and
        ``arr_count`` per object record the longest array of one type scanned there, so a
        repeat (or a shorter one) is skipped and a longer one scans only its new tail. Other
        arrays (inside globals, interior sub-slices, a second type at one start) are checked
        element by element (:meth:`fresh`)."""
        objs = self.tp.objs
        data_off = self.tp.data_off
        idx = self.tp.find(starts)
        if len(objs) == 0:
            unit = np.zeros(len(idx), dtype=bool)
        else:
            ic = np.where(idx >= 0, idx, 0)
            unit = (idx >= 0) & (starts == objs.addr[ic] + data_off[ic].astype(np.uint64))
        ui, uc = idx[unit], counts[unit]
        # Arrays outside the heap (a global's, a stack's) are remembered whole: the runtime's
        # [1<<22]*heapArena costs one set entry, not four million.
        away = idx < 0
        if away.any():
            keys = list(zip(starts[away].tolist(), counts[away].tolist(), strict=True))
            seen = self.ranges_done.setdefault(tid, set())
            again = np.array([k in seen for k in keys], dtype=bool)
            seen.update(keys)
            out_away = self._elements(tid, starts[away][~again], counts[away][~again])
        else:
            out_away = np.zeros(0, np.uint64)
        inner = ~unit & ~away
        loose = [self._elements(tid, starts[inner], counts[inner])]
        if len(ui):
            # One entry per object, the longest array queued for it.
            ui, uc = self._longest_per_object(ui, uc)
            f, c = self.arr_tid[ui], self.arr_count[ui]
            mine = (f == -1) | (f == tid)
            grow = mine & (uc > np.where(f == tid, c, 0))
            gi, gc = ui[grow], uc[grow]
            done_n = np.where(self.arr_tid[gi] == tid, self.arr_count[gi], 0)
            self.arr_tid[gi] = tid
            self.arr_count[gi] = gc
            base = objs.addr[gi] + data_off[gi].astype(np.uint64)
            es = np.uint64(self.dw.resolve(tid).size)
            out = self._elements(tid, base + done_n.astype(np.uint64) * es, gc - done_n)
            oi = ui[~mine]
            if len(oi):
                ob = objs.addr[oi] + data_off[oi].astype(np.uint64)
                loose.append(self._elements(tid, ob, uc[~mine]))
        else:
            out = np.zeros(0, np.uint64)
        rest = np.concatenate(loose) if len(loose) > 1 else loose[0]
        if len(out_away):
            out = np.concatenate([out, out_away])
        if len(rest):
            out = np.concatenate([out, self.fresh(tid, rest)])
        return out

    def _longest_per_object(
        self,
        ui: np.ndarray,
        uc: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distinct objects of ``ui`` in increasing order, the largest count queued for
        each). Increasing object order is address order: the batch that scans the elements
        then gathers the heap nearly sequentially. Large batches go through a zeroed
        per-object column (a scatter-max and one scan) instead of a sort."""
        if len(ui) < 2:
            return ui, uc
        nobj = len(self.tp.objs)
        if len(ui) * 64 < nobj:
            order = np.lexsort((-uc, ui))
            ui, uc = ui[order], uc[order]
            first = np.concatenate(([True], ui[1:] != ui[:-1]))
            return ui[first], uc[first]
        # Zero pages until written, and gone after the call: not part of the pass's peak.
        sc = np.zeros(nobj, dtype=np.int32)
        np.maximum.at(sc, ui, uc.astype(np.int32))  # counts: 1 .. MAX_OBJECT_ELEMS
        out_i = np.flatnonzero(sc)
        return out_i.astype(ui.dtype), sc[out_i].astype(uc.dtype)

    def fresh(self, tid: int, cand: np.ndarray) -> np.ndarray:
        """The values of ``cand`` (type ``tid``) not scanned yet, now marked scanned.

        Values at an object's data start (nearly all) are remembered in ``arr_tid`` (the
        first type scanned there, alone or as an array); the rest, and a second type at the
        same start, in a set per type. Memory stays O(objects), not O(values) of Python
        objects."""
        objs = self.tp.objs
        data_off = self.tp.data_off
        got = native.fresh_values(self.tp.kernels, cand, tid)
        if got is not None:  # the same rule in one compiled pass (arr_tid updated there)
            return self._with_rest(tid, [got[0]], got[1])
        idx = self.tp.find(cand)
        ic = np.where(idx >= 0, idx, 0)
        at_base = (idx >= 0) & (cand == objs.addr[ic] + data_off[ic].astype(np.uint64))
        bi = idx[at_base]
        if len(bi) > 1:
            # Distinct objects without a sort: the last writer of each stamp wins.
            order = np.arange(len(bi), dtype=np.int32)
            if self._stamp is None:
                self._stamp = np.zeros(len(objs), dtype=np.int32)
            self._stamp[bi] = order
            bi = bi[self._stamp[bi] == order]
        f = self.arr_tid[bi]
        unseen = bi[f == -1]
        self.arr_tid[unseen] = tid
        other = bi[(f != -1) & (f != tid)]
        out = [objs.addr[unseen] + data_off[unseen].astype(np.uint64)]
        rest = cand[~at_base]
        if len(other):
            rest = np.concatenate([rest, objs.addr[other] + data_off[other].astype(np.uint64)])
        return self._with_rest(tid, out, rest)

    def _with_rest(self, tid: int, out: list[np.ndarray], rest: np.ndarray) -> np.ndarray:
        """``out`` plus the values of ``rest`` (off an object start, or a second type at
        one) not yet in ``tid``'s exact set, which they join."""
        if len(rest):
            done = self.done.setdefault(tid, set())
            new = [a for a in dict.fromkeys(rest.tolist()) if a not in done]
            done.update(new)
            out.append(np.array(new, dtype=np.uint64))
        return np.concatenate(out) if len(out) > 1 else out[0]
