"""The heap model facade: objects, roots, object graph and liveness, built once per target.

``heap_model(proc)`` is what every heap command calls (histogram, path, top, verify): the
passes run once and are memoised on the process, so a second command does not redo the mark.
Each pass runs as a phase of the process's analysis context: its wall time is recorded in
``timings`` and reported to the context's progress callback, which the front end renders.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.heap.graph import HeapGraph, build_graph
from gdb_gomem.heap.mark import mark
from gdb_gomem.heap.objects import ObjectTable, object_table
from gdb_gomem.heap.roots import ROOTS, RootTable
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess


@dataclass
class HeapModel:
    """Objects (:class:`ObjectTable`), roots (:class:`RootTable`), the graph (CSR), ``live``."""

    objects: ObjectTable
    roots: RootTable
    graph: HeapGraph
    live: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        return [*self.objects.errors, *self.roots.errors, *self.graph.scan.notes]

    def live_bytes(self) -> int:
        return int(self.objects.size[self.live].sum())


#: The interpreter's thread switch interval while the model is built beside the type pass.
SWITCH_INTERVAL_S = 0.0005


def build_heap_model(proc: GoProcess) -> HeapModel:
    from gdb_gomem.heap import native

    if native.kernels() is None and native.unavailable != "disabled by GOMEM_NATIVE=0":
        # Same results, several times slower on big heaps: say so once, with the reason.
        proc.context.note(
            f"compiled kernels unavailable ({native.unavailable}); using the "
            "slower numpy/Python passes"
        )
    ctx = proc.context
    # The same table the type pass uses: the heap is enumerated once per target.
    objs = object_table(proc)
    roots = ROOTS(proc)
    graph = ctx.run_phase("graph", lambda: build_graph(proc, objs))
    live = ctx.run_phase("mark", lambda: mark(graph, roots.obj, len(objs)))
    # A member read from the analysis cache was not built here: no time of its own.
    timings = {k: ctx.timings.get(k, 0.0) for k in ("objects", "roots", "graph", "mark")}
    return HeapModel(objects=objs, roots=roots, graph=graph, live=live, timings=timings)


HEAP_MODEL: Lazy[HeapModel] = Lazy("heap model", build_heap_model, persist=True)


def heap_model(proc: GoProcess) -> HeapModel:
    """The model of this process snapshot, built once (memoised on ``proc``)."""
    return HEAP_MODEL(proc)


def start_heap_model(proc: GoProcess) -> None:
    """Build the heap model on a second thread while the caller types objects on this one:
    the two whole-heap passes share only the object table, and this machine has two cores.
    numpy and the compiled kernels release the GIL in their long loops, so the mark and the
    type propagation overlap.

    Only where memory reads may run concurrently (a core file, not gdb's inferior, whose API
    belongs to gdb's thread). Whatever the thread raises is dropped: the caller's own
    :func:`heap_model` then builds it again and reports the error as usual. Lazily built
    shared state (symbols, span walk, object table, runtime types) is built here first.
    """
    if not proc.mem.concurrent_reads or proc.context.built(HEAP_MODEL):
        return
    from gdb_gomem.heap import native
    from gdb_gomem.runtime.rtype import types

    _ = proc.dw, proc.pclntab, proc.go_version, proc.version, proc.threads
    native.kernels()
    object_table(proc)
    types(proc)

    # Both threads call compiled loops thousands of times; each return waits for the GIL,
    # which the other thread, when in Python, gives up only every switch interval (5 ms by
    # default). 0.5 ms cut `gomem histogram` on the 1 GiB benchmark core by about 0.3 s.
    prev = sys.getswitchinterval()
    sys.setswitchinterval(min(prev, SWITCH_INTERVAL_S))

    def work() -> None:
        try:
            heap_model(proc)
        except Exception:  # noqa: BLE001 - re-raised by the caller's own build
            pass
        finally:
            sys.setswitchinterval(prev)

    threading.Thread(target=work, name="gomem-heap-model", daemon=True).start()
