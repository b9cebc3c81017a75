"""One value's pointer slot, decoded by the slot's action; and interfaces.

The batches decode plain pointers, strings and slices in bulk (:mod:`.pointers`,
:mod:`.sequences`); everything rarer (interfaces, maps, channels, func values, ``sync.Pool``
arrays) comes here one value at a time, from the value's bytes. Interfaces live here too:
an interface's dynamic type decides how its data word is decoded, which for a
pointer-shaped type is this same dispatch on the type's own plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.heap.types.decode.chans import chan
from gdb_gomem.heap.types.decode.closures import closure
from gdb_gomem.heap.types.decode.maps import map_header
from gdb_gomem.heap.types.decode.pointers import type_array_at, type_object_as
from gdb_gomem.heap.types.decode.sequences import string_value
from gdb_gomem.heap.types.plans import Slot
from gdb_gomem.heap.types.table import P_DWARF, SRC_DWARF
from gdb_gomem.runtime.rtype import TypeError_
from gdb_gomem.symbols.gonames import go_name

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def decode_slot(tp: TypePass, a: int, blob: bytes, o: int, s: Slot) -> None:
    """Slot ``s`` of the value at ``a``, whose bytes from the slot on are ``blob[o:]``."""
    w0 = int.from_bytes(blob[o : o + 8], "little")
    act = s.action
    if act == "ptr":
        if w0:
            type_object_as(tp, w0, s.arg)
    elif act == "string":
        string_value(tp, w0, int.from_bytes(blob[o + 8 : o + 16], "little"))
    elif act == "slice":
        cap = int.from_bytes(blob[o + 16 : o + 24], "little", signed=True)
        if w0 and 0 < cap < 1 << 40 and s.arg:
            type_array_at(tp, w0, s.arg, cap)
    elif act in ("eface", "iface"):
        data = int.from_bytes(blob[o + 8 : o + 16], "little")
        if w0:
            iface(tp, w0, data, act == "iface")
    elif act == "map":
        if w0:
            map_header(tp, w0, s.arg)
    elif act == "chan":
        if w0:
            chan(tp, w0, s.arg)
    elif act == "func":
        if w0:
            closure(tp, w0)
    elif act == "array":
        tp.queue.push(a, s.arg, s.n)
    elif act == "pool":
        n = int.from_bytes(blob[o + s.n : o + s.n + 8], "little")
        if w0 and 0 < n <= 1 << 16:
            type_array_at(tp, w0, s.arg, n)
        elif w0 and n == 0:
            # sync.Pool.getSlow empties the victim cache by zeroing victimSize and keeps the
            # victim pointer (sync/pool.go), so the array stays reachable with no length:
            # the object's size gives it ([k]poolLocal, as for any pointer to an array).
            type_object_as(tp, w0, s.arg)


def iface(tp: TypePass, word: int, data: int, itab: bool) -> None:
    """An interface value: type word (``eface``) or itab (``iface``) ``word``, data ``data``."""
    try:
        rt = tp.tr.itab_type(word) if itab else tp.tr.type_at(word)
    except TypeError_:
        return
    if not data:
        return
    tid = tp.names.dwarf_of_rtype(rt.addr)
    if rt.direct:
        if tid is None:
            return
        # Pointer-shaped: the data word is the value (a pointer, map, chan or func).
        for s in tp.plans.plan(tid):
            if s.off == 0:
                decode_slot(tp, 0, data.to_bytes(8, "little") + bytes(16), 0, s)
        return
    if tid is not None:
        type_object_as(tp, data, tid)
        return
    objs = tp.objs
    i = objs.find_one(data)
    if i >= 0 and data == int(objs.addr[i]):
        tp.assign(i, P_DWARF, tp.table.entry(go_name(rt.name), SRC_DWARF), None, 1)
