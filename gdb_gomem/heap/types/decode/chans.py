"""Channels: the ``hchan`` header, and its ring buffer typed as ``[dataqsiz]T``.

The element type is not in DWARF's ``hchan`` (it is generic in the runtime); the channel
keeps it as ``hchan.elemtype``, a runtime type descriptor. A buffer of pointer-free
elements is allocated together with the ``hchan`` (one object), so it is only followed;
otherwise it is an object of its own and typed as the array.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.heap.types.decode.pointers import type_array_at
from gdb_gomem.heap.types.table import P_DWARF, SRC_DWARF
from gdb_gomem.target.typed import Val

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def chan(tp: TypePass, p: int, hchan_tid: int) -> None:
    """The channel whose ``hchan`` (DWARF type ``hchan_tid``) is at ``p``."""
    key = (p, hchan_tid)
    if key in tp.decoded:
        return
    objs = tp.objs
    dw = tp.dw
    i = objs.find_one(p)
    if i >= 0 and p == int(objs.addr[i]):
        e = tp.table.entry(
            tp.names.dwarf_name(hchan_tid),
            SRC_DWARF,
            1,
            "",
            hchan_tid,
            tp.names.dwarf_package(hchan_tid),
        )
        tp.assign(i, P_DWARF, e, None, 1)
    tp.queue.push(p, hchan_tid)  # recvq/sendq sudogs, timer
    tp.decoded.add(key)
    try:
        h = Val(tp.mem, dw, p, dw.resolve(hchan_tid))
        n, buf = h["dataqsiz"].int(), h["buf"].ptr()
        et = h["elemtype"].ptr()
    except (UnreadableMemory, LayoutError):
        return
    if not n or not buf or not et or n > 1 << 32:
        return
    elem = tp.names.dwarf_of_rtype(et)
    if elem is None or not dw.resolve(elem).size:
        return
    if i >= 0 and objs.find_one(buf) == i:
        tp.queue.push(buf, elem, n)  # buffer allocated with the hchan (pointer-free elements)
    else:
        type_array_at(tp, buf, elem, n)
