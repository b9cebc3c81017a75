"""Maps: the header, and every array the map owns typed by the map's own DWARF types.

A classic map (Go < 1.24) owns bucket arrays (``[2^B]bucket``, old buckets while growing,
overflow buckets); a Swiss map (1.24+) a directory of tables and each table's group array,
or one group for a small map. :mod:`gdb_gomem.runtime.gomaps` finds those arrays; typing
them as arrays of the map's bucket or group type lets the propagation scan every key and
value slot like any other array.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.heap.types.decode.pointers import type_array_at
from gdb_gomem.heap.types.table import P_DWARF, SRC_DWARF
from gdb_gomem.runtime.gomaps import (
    MapError,
    classic_bucket_arrays,
    map_kind,
    swiss_groups,
    swiss_layout,
)
from gdb_gomem.target.typed import Val

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def map_header(tp: TypePass, p: int, hdr_tid: int) -> None:
    """The map whose header (DWARF type ``hdr_tid``: ``hmap`` or ``maps.Map``) is at ``p``."""
    dw = tp.dw
    names = tp.names
    objs = tp.objs
    hdr_t = dw.resolve(hdr_tid)
    i = objs.find_one(p)
    if i >= 0 and p == int(objs.addr[i]):
        e = tp.table.entry(
            names.dwarf_name(hdr_tid), SRC_DWARF, 1, "", hdr_tid, names.dwarf_package(hdr_tid)
        )
        tp.assign(i, P_DWARF, e, None, 1)
    key = (p, hdr_tid)
    if key in tp.decoded:
        return
    tp.decoded.add(key)
    hdr = Val(tp.mem, dw, p, hdr_t)
    try:
        if map_kind(hdr_t) == "classic":
            tp.queue.push(p, hdr_tid)  # extra (overflow lists) by the generic plan
            bt = dw.resolve(hdr["buckets"].type.id).target
            if bt is None:
                return
            for base, nb in classic_bucket_arrays(hdr):
                label = names.dwarf_name(bt) if nb == 1 else None
                type_array_at(tp, base, bt, nb, label)
        else:
            lay = swiss_layout(hdr)
            n = hdr["dirLen"].int()
            if n > 0:
                ptr_table = dw.resolve(hdr["dirPtr"].type.id).target
                if ptr_table is not None:
                    type_array_at(tp, hdr["dirPtr"].ptr(), ptr_table, n)
            for base, ng in swiss_groups(hdr, lay):
                label = names.dwarf_name(lay.group.id) if ng == 1 else None
                type_array_at(tp, base, lay.group.id, ng, label)
    except (MapError, UnreadableMemory, LayoutError) as exc:
        if len(tp.errors) < 20:
            tp.errors.append(f"map at {p:#x}: {exc}")
