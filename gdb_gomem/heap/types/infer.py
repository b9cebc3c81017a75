"""A type for every heap object: malloc headers, ``largeType``, then DWARF propagation.

Sources, strongest first (each object keeps the strongest it was given):

1. **malloc header** and **largeType** (Go 1.22+, :mod:`.headers`): the ``*abi.Type`` the
   allocator stored in front of a pointerful object larger than 512 B, or in a large
   object's span.
2. **finalizer** (:mod:`.finalizers`): a ``specialfinalizer`` record keeps ``ot``, the
   ``*ptrtype`` of the object it finalizes.
3. **dwarf** (:mod:`.propagate`): every DWARF-typed global is a root, and so is every stack
   word the frame's stack map says is a live pointer, typed as the pointer, slice, string or
   interface field of the DWARF variable that covers it, or of the unnamed stack object's
   one fitting ``*T`` (``RootTable.typed_slots``); values are followed through
   struct fields, pointers, slices (the backing array is ``[cap]T``), strings
   (``string data``), arrays, interfaces (the type word or itab's type ->
   ``DW_AT_go_runtime_type`` -> DWARF type), maps (buckets, directories, tables, group
   arrays, and what their slots point to), channels (``hchan.buf`` is ``[dataqsiz]T``, T
   from ``hchan.elemtype``), and func values (a closure is named after the function its
   code pointer enters, and what it captured is typed from that function's DWARF, Go
   1.23+; closures on a stack, such as an open-coded defer's, too); the per-kind rules
   are in :mod:`.decode`. A pointer to the base of an object ``k`` times larger than its
   pointee types it as ``[k]T`` with less confidence than an exact match.
4. **inferred** (:mod:`.signatures`): what is left gets a signature
   ``<unknown SIZE ptrmask 0b...>`` from the span's pointer bitmap, or
   ``<unknown SIZE noscan>``.

Storage is columnar (:mod:`.table`): per object of the process's one object table
(:func:`gdb_gomem.heap.objects.object_table`, shared with the heap model) a type id, and a
small :class:`TypeEntry` table, so histograms are ``np.bincount`` calls. The state the
steps share is a :class:`.typepass.TypePass`; the queue of values still to scan and the
record of those scanned are :mod:`.queue`, the scan plans per DWARF type :mod:`.plans`.

This module runs the steps in order; the pass's results are :class:`.table.HeapTypes`.
"""

from __future__ import annotations

import time

from gdb_gomem.heap.objects import object_table
from gdb_gomem.heap.roots import ROOTS
from gdb_gomem.heap.types.decode.closures import stack_closure
from gdb_gomem.heap.types.finalizers import type_by_finalizers
from gdb_gomem.heap.types.headers import type_by_headers
from gdb_gomem.heap.types.propagate import Propagation
from gdb_gomem.heap.types.signatures import name_by_signature
from gdb_gomem.heap.types.table import (
    HeapTypes,
)
from gdb_gomem.heap.types.typepass import TypePass
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess


def _infer(proc: GoProcess) -> HeapTypes:
    t0 = time.perf_counter()
    objs = object_table(proc)
    tp = TypePass(proc, objs)
    if len(objs) == 0:
        # Nothing to type: following values would only chase pointers into memory no span
        # owns (a heap whose spans are all corrupt, or whose arena index is unreadable).
        tp.notes.append(
            "no heap objects found: the span table or every span in use is unreadable or "
            "corrupt (the errors say which), or the heap is empty"
        )
        return HeapTypes(objs, tp.tid, tp.table.entries, tp.data_off, tp.notes, objs.errors)
    prop = Propagation(tp)
    type_by_headers(tp)
    type_by_finalizers(tp)
    prop.run()
    prop.from_globals()
    prop.run()
    roots = ROOTS(proc)
    prop.from_stacks(roots.typed_slots)
    for p, size, ptrs in roots.stack_pointees:
        stack_closure(tp, p, size, ptrs)
    prop.run()
    name_by_signature(tp)
    # The pass gathered words all over the core's mapping: hand those pages back (the page
    # cache keeps them) so the resident set is the tables, not the core.
    tp.gather.image.release(0, 1 << 62)
    ht = HeapTypes(
        objs, tp.tid, tp.table.entries, tp.data_off, tp.notes, [*objs.errors, *tp.errors]
    )
    ht.seconds = time.perf_counter() - t0
    return ht


HEAP_TYPES: Lazy[HeapTypes] = Lazy("types", _infer, phase=True, persist=True)


def heap_types(proc: GoProcess) -> HeapTypes:
    """Types of every heap object of this process snapshot (computed once)."""
    return HEAP_TYPES(proc)
