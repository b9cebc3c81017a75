"""A span the stop caught in the middle of ``mspan.sweep`` keeps its objects.

``mspan.sweep`` (runtime/mgcsweep.go, Go 1.21-1.27) stores ``freeindex = 0`` a few
instructions before it installs ``gcmarkBits`` as the new ``allocBits``; the span's sweepgen
is ``mheap_.sweepgen - 1`` until the sweep ends. A process stopped between the two stores
(a live recorder's tick, a gcore, a crash on another thread) shows, for an object allocated
since the span's last sweep: no ``freeindex`` above it, no ``allocBits`` bit, only its mark.

No real core is reliably caught in those few instructions, so the state is made from a
fixture core: the span of the manifest's first ``main.Tagged`` object gets exactly that
state (its allocation bits moved to its mark bits). The expectation is the manifest's own
addresses: every tagged object in that span is still an object of the heap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.heap.objects import object_table
from gdb_gomem.runtime.geometry import span_of
from tests.support import PROGRAM, binary, core, fixture_process, manifest, patched_core


def test_objects_survive_a_stop_between_freeindex_and_the_bits_swap(
    edge_version: str, tmp_path: Path
) -> None:
    version = edge_version
    p = fixture_process(version, PROGRAM, "panic")
    m = manifest(version, "panic")
    tagged = [int(a, 16) for a in m["tagged"]["main.Tagged"]["addresses"]]
    look = span_of(p, tagged[0])
    s = look.span
    assert s is not None and look.span_ptr
    in_span = [a for a in tagged if s.base <= a < s.end]
    dw = p.dw
    nbytes = (s.nelems + 7) // 8
    alloc = bytearray(p.mem.read(s.alloc_bits, nbytes))
    for i in range(s.freeindex):  # every slot the span handed out is marked (all live)
        alloc[i // 8] |= 1 << (i % 8)
    sg_addr = dw.variable("runtime.mheap_").addr + dw.offset("runtime.mheap", "sweepgen")
    sg = int.from_bytes(p.mem.read(sg_addr, 4), "little")
    fi = dw.offset("runtime.mspan", "freeindex")
    fi_size = dw.resolve(dw.field("runtime.mspan", "freeindex").type).size
    patches = {
        look.span_ptr + fi: bytes(fi_size),
        look.span_ptr + dw.offset("runtime.mspan", "sweepgen"): (sg - 1).to_bytes(4, "little"),
        s.alloc_bits: bytes(nbytes),
        s.gcmark_bits: bytes(alloc),
    }
    cf = patched_core(core(version, "panic"), tmp_path / "sweeping.core", patches)
    q = open_core(binary(version), cf)
    objs = object_table(q)
    found = objs.find(np.array(in_span, dtype=np.uint64))
    assert (found >= 0).all(), f"{int((found < 0).sum())} of {len(in_span)} tagged objects lost"
    assert [int(objs.addr[i]) for i in found] == in_span
