"""The state one type pass shares between its steps: per-object type columns and tools.

Every step of the pass (the sources, the scan queue, the per-kind decoders) reads and
writes the same per-object columns: the type row each object has so far, how sure that is,
where its data starts. They are numpy columns over the process's one object table
(:class:`~gdb_gomem.heap.objects.ObjectTable`), so a step types thousands of objects with
one assignment and memory stays a few bytes per object. :class:`TypePass` holds them with
the tools every step needs (type table, plans, names, word gathers, the queue), and the
compiled kernels (:mod:`gdb_gomem.heap.native`) update the very same arrays in place.
"""

from __future__ import annotations

import numpy as np

from gdb_gomem.base.errors import LayoutError
from gdb_gomem.heap import native
from gdb_gomem.heap.objects import ObjectTable
from gdb_gomem.heap.types.gather import WordGather
from gdb_gomem.heap.types.naming import TypeNames
from gdb_gomem.heap.types.plans import Plans
from gdb_gomem.heap.types.queue import ScanQueue
from gdb_gomem.heap.types.table import TypeTable
from gdb_gomem.runtime.rtype import types
from gdb_gomem.target.process import GoProcess


class TypePass:
    """One run of the type pass over one process snapshot."""

    def __init__(self, proc: GoProcess, objs: ObjectTable) -> None:
        self.proc = proc
        self.mem = proc.mem
        self.dw = proc.dw
        self.objs = objs
        self.tr = types(proc)
        self.plans = Plans(proc)
        n = len(objs)
        #: Per object: its row of ``table`` (-1 untyped) and that row's confidence (P_*).
        self.tid = np.full(n, -1, dtype=np.int32)
        self.prio = np.zeros(n, dtype=np.int8)
        # User data offset (8 behind a malloc header, else 0): one byte per object.
        self.data_off = np.zeros(n, dtype=np.uint8)
        # Per span of the object table's walk: 1 where some object has a nonzero data_off
        # (kept by set_data_off; the compiled passes read data_off only there).
        classes = objs.span_classes
        self.span_hdr = np.zeros(len(classes), np.uint8)
        self.table = TypeTable()
        self.queue = ScanQueue(self)
        #: Map headers and channels decoded already, as (address, DWARF type).
        self.decoded: set[tuple[int, int]] = set()
        # Per span, its objects' size (0 for spans without objects): the kernels read the
        # size and class of an object through its span instead of a column per object.
        span_osize = np.zeros(len(classes), np.int64)
        if len(objs.span):
            span_osize[objs.span] = objs.size.astype(np.int64)
        self.kernels = native.TypeState(
            objs,
            span_osize,
            classes,
            self.span_hdr,
            self.data_off,
            self.prio,
            self.tid,
            self.queue.arr_tid,
        )
        self.gather = WordGather(proc)
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.names = TypeNames(self.dw, self.tr)
        self.tiny_class = self.dw.constants.get("runtime.tinySpanClass", 5)
        #: Function name by entry PC, for closures (many share a function).
        self.func_names: dict[int, str] = {}
        #: Per closure function: its captured variables from its allocation type, or None.
        self.closure_layouts: dict[str, list[tuple[int, int]] | None] = {}

    def find(self, addrs: np.ndarray) -> np.ndarray:
        """Object index (int64) holding each address, -1 outside every object."""
        return self.objs.find(addrs).astype(np.int64)

    def assign(
        self, i: int, prio: int, entry: int, tid: int | None, count: int, data_off: int = 0
    ) -> None:
        """Give object ``i`` a type if stronger than what it has; follow its contents."""
        if prio <= self.prio[i]:
            return
        self.prio[i] = prio
        self.tid[i] = entry
        self.set_data_off(i, data_off)
        if tid is not None:
            self.queue.push(int(self.objs.addr[i]) + data_off, tid, count, in_object=True)

    def assign_many(self, idx: np.ndarray, prio: int, entry: int) -> None:
        """Bulk :meth:`assign` without follow-up (callers queue the contents themselves)."""
        if not len(idx):
            return
        m = self.prio[idx] < prio
        sel = idx[m]
        self.prio[sel] = prio
        self.tid[sel] = entry

    def set_data_off(self, idx: np.ndarray | int, off: int) -> None:
        """Object(s) ``idx`` hold their data ``off`` bytes in (behind a malloc header)."""
        if not 0 <= off < 256:
            raise LayoutError(f"data offset {off} does not fit one byte")
        self.data_off[idx] = off
        if off:
            self.span_hdr[self.objs.span[idx]] = 1
