"""DWARF propagation: typed values are scanned for pointers, and what those point to is
typed and queued in turn, until nothing new turns up.

It starts from every DWARF-typed global (and from what the malloc headers and finalizers
typed). Propagation runs in batches: all queued values of one DWARF type are scanned
together, every word the type's plan reads gathered at once (in address order, in chunks
whose stretch of the core's pages is handed back after them), and each pointer slot decoded
as one vectorised operation (:mod:`.decode`). Linked structures are chased as whole chains
once a type keeps coming back (:mod:`.chase`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.heap.types.chase import ChainChaser
from gdb_gomem.heap.types.decode.pointers import batch_ptr
from gdb_gomem.heap.types.decode.sequences import batch_slice, batch_string
from gdb_gomem.heap.types.decode.slots import decode_slot
from gdb_gomem.heap.types.plans import Slot

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass

#: Rounds of one type's values before its self-pointers are chased as whole chains. A round
#: costs well under a millisecond of fixed overhead, a successor table a gather over every
#: object of a plausible size (seconds on a 20-million-object heap): lists and trees of up
#: to this depth are cheaper as plain rounds (on the 1 GiB benchmark heap, chasing 500-node
#: lists and a 4-million-node tree after 8 rounds cost 16 s; plain rounds cost under 2 s).
CHASE_AFTER = 512
#: Words gathered per chunk of a batch (bounds the batch's word matrix to 32 MiB).
CHUNK_WORDS = 1 << 22
#: A chunk of at least this many words has its stretch of the core's pages handed back at
#: once. The page cache maps files in large folios, so a gather maps far more than the words
#: it reads; on the 1 GiB benchmark core this (with the sorted values) took histogram's max
#: RSS from 2.25 GB to 1.95 GB. Releasing after every chunk cost 3.5 s of re-faults.
RELEASE_CHUNK = 1 << 20
#: Words a slot reads besides its first: a string's length, a slice's capacity.
_EXTRA_WORDS = {"string": (8,), "slice": (16,)}


class Propagation:
    """The scan loop of one type pass: batches of queued values, one type at a time."""

    def __init__(self, tp: TypePass) -> None:
        self.tp = tp
        self.chaser = ChainChaser(tp)
        self._batches: dict[int, int] = {}  # batches scanned so far, per type

    def from_globals(self) -> None:
        """Queue every DWARF-typed global: the roots the propagation starts from."""
        dw = self.tp.dw
        for v in dw.globals.values():
            if v.type in dw.types:
                self.tp.queue.push(v.addr, v.type)

    def from_stacks(self, slots: list[tuple[int, int]]) -> None:
        """Queue stack variables the frames' stack maps say are live pointers (pointer, slice,
        string and interface variables; :attr:`RootTable.typed_slots`): what only a
        goroutine's stack holds gets its type from the variable that holds it."""
        dw = self.tp.dw
        for addr, tid in slots:
            if tid in dw.types:
                self.tp.queue.push(addr, tid)

    def run(self) -> None:
        """Scan queued values, one type at a time, until nothing new is queued."""
        queue = self.tp.queue
        while (got := queue.pop()) is not None:
            self.batch(*got)

    def batch(self, tid: int, addrs: np.ndarray) -> None:
        """Every pointer slot of ``len(addrs)`` values of one type, each slot in bulk."""
        tp = self.tp
        plan = tp.plans.plan(tid)
        selfptr = tuple(s.off for s in plan if s.action == "ptr" and s.arg == tid)
        nb = self._batches[tid] = self._batches.get(tid, 0) + 1
        if selfptr and nb >= CHASE_AFTER:
            more = self.chaser.chase(tid, addrs, selfptr)
            if len(more):
                extra = tp.objs.addr[more] + tp.data_off[more].astype(np.uint64)
                addrs = np.concatenate([addrs, tp.queue.fresh(tid, extra)])
        # Every word the plan reads, gathered value by value (one value's fields share cache
        # lines), in address order and in chunks of at most CHUNK_WORDS words: each chunk
        # reads one stretch of the heap, whose pages of the core are handed back after it.
        offs = sorted(
            {
                s.off + e
                for s in plan
                if s.action != "array"
                for e in (0, *_EXTRA_WORDS.get(s.action, ()))
            }
        )
        row = {o: k for k, o in enumerate(offs)}
        step = max(1, CHUNK_WORDS // max(len(offs), 1))
        addrs = np.sort(addrs)
        for c0 in range(0, len(addrs), step):
            part = addrs[c0 : c0 + step]
            words = tp.gather.words_multi(part, offs) if offs else None
            if words is not None and len(part) * len(offs) >= RELEASE_CHUNK:
                tp.gather.image.release(int(part[0]), int(part[-1]) + offs[-1] + 8)
            for s in plan:
                try:
                    self._slot_batch(s, part, words, row)
                except (GomemError, struct.error, IndexError, KeyError) as exc:
                    if len(tp.errors) < 20:
                        tp.errors.append(f"values of {tp.names.dwarf_name(tid)}: {exc}")

    def _slot_batch(
        self, s: Slot, addrs: np.ndarray, words: np.ndarray | None, row: dict[int, int]
    ) -> None:
        """Slot ``s`` of every value at ``addrs``; ``words[row[off]]``: their words at
        ``addrs + off``."""
        tp = self.tp
        if s.action == "array":
            for x in (addrs + np.uint64(s.off)).tolist():
                tp.queue.push(x, s.arg, s.n)
            return
        assert words is not None
        w = words[row[s.off]]
        if s.action == "ptr":
            batch_ptr(tp, w[w != 0], s.arg)
        elif s.action == "string":
            batch_string(tp, w, words[row[s.off + 8]])
        elif s.action == "slice":
            batch_slice(tp, w, words[row[s.off + 16]], s.arg)
        else:
            a = addrs + np.uint64(s.off)
            for x in a[w != 0].tolist():
                try:
                    decode_slot(tp, x, tp.mem.read(x, 16 + max(s.n, 8)), 0, s)
                except UnreadableMemory:
                    continue
