"""Objects with a finalizer: the finalizer record names the object's type.

``runtime.SetFinalizer`` keeps a ``specialfinalizer`` record on the object's span
(``mspan.specials``, kind ``_KindSpecialFinalizer``) whose ``ot`` is the ``*ptrtype`` of
the pointer it was given, so ``ot``'s element is the object's type; its ``fn`` is a func
value, a closure object to name as well. Records are walked per span in use, a bounded
linked list each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.heap.types.decode.closures import closure
from gdb_gomem.heap.types.table import P_FINALIZER, SRC_FINALIZER
from gdb_gomem.runtime.rtype import TypeError_
from gdb_gomem.runtime.spans import cached_walk
from gdb_gomem.symbols.gonames import go_name, package_of

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass

#: Special records followed per span (a corrupt list must not loop forever).
MAX_SPECIALS_PER_SPAN = 1 << 16


def type_by_finalizers(tp: TypePass) -> None:
    """Objects with a finalizer: ``specialfinalizer.ot`` is ``*T`` of the object."""
    dw = tp.dw
    mem = tp.mem
    kind = dw.constants.get("runtime._KindSpecialFinalizer")
    if kind is None or dw.find("runtime.specialfinalizer") is None:
        return
    off_next = dw.offset("runtime.special", "next")
    off_off = dw.offset("runtime.special", "offset")
    off_kind = dw.offset("runtime.special", "kind")
    size_off = dw.resolve(dw.field("runtime.special", "offset").type).size
    off_ot = dw.offset("runtime.specialfinalizer", "ot")
    off_fn = dw.offset("runtime.specialfinalizer", "fn")
    for s in cached_walk(tp.proc).in_use():
        sp = s.specials
        hops = 0
        while sp and hops < MAX_SPECIALS_PER_SPAN:
            hops += 1
            try:
                k = mem.u8(sp + off_kind)
                o = mem.uint(sp + off_off, size_off)
                if k == kind:
                    obj = s.base + o
                    ot = mem.u64(sp + off_ot)
                    fn = mem.u64(sp + off_fn)
                    _finalized(tp, obj, ot)
                    if fn:
                        closure(tp, fn)
                sp = mem.u64(sp + off_next)
            except UnreadableMemory:
                break


def _finalized(tp: TypePass, obj: int, ot: int) -> None:
    """The object at ``obj``, finalized with a pointer of type ``ot`` (``*T``): a ``T``."""
    try:
        elem = tp.tr.elem(tp.tr.type_at(ot))
    except TypeError_:
        return
    if elem is None:
        return
    i = tp.objs.find_one(obj)
    if i < 0 or obj != int(tp.objs.addr[i]):
        return
    tid = tp.names.dwarf_of_rtype(elem.addr)
    e = tp.table.entry(go_name(elem.name), SRC_FINALIZER, 1, "", tid, package_of(elem.name))
    tp.assign(i, P_FINALIZER, e, tid, 1)
