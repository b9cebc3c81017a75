"""Func values: a closure object is named after the function its code pointer enters.

A func value points to an object whose first word is the code pointer (``funcval.fn``);
the captured variables follow, untyped in DWARF. The function's name (from pclntab) is the
best name the object has, and for a method value ``x.M`` it also says the one captured
variable's type: the receiver's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.heap.types.table import P_DWARF, SRC_DWARF
from gdb_gomem.symbols.gonames import package_of

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def closure(tp: TypePass, p: int) -> None:
    """The func value object at ``p``: ``closure F`` (F its function), unless typed already."""
    objs = tp.objs
    i = objs.find_one(p)
    if i < 0 or p != int(objs.addr[i]) or tp.prio[i] >= P_DWARF:
        return
    try:
        pc = tp.mem.u64(p)
    except UnreadableMemory:
        return
    name = tp.func_names.get(pc)
    if name is None:
        f = tp.proc.pclntab.find_func(pc)
        name = tp.func_names[pc] = f.name if f is not None else ""
    if name:
        tp.assign(
            i,
            P_DWARF,
            tp.table.entry(f"closure {name}", SRC_DWARF, package=package_of(name)),
            None,
            1,
        )
        recv = method_value_receiver(tp, name)
        if recv is not None:
            tp.queue.push(p + 8, recv)


def method_value_receiver(tp: TypePass, name: str) -> int | None:
    """A method value ``x.M`` compiles to a closure ``T.M-fm`` / ``(*T).M-fm`` whose one
    captured variable, right after the code pointer, is the receiver (cmd/compile
    ``methodValueWrapper``): its DWARF type is the receiver type."""
    if not name.endswith("-fm"):
        return None
    head = name[: -len("-fm")]
    dot = head.rfind(".")
    if dot <= 0:
        return None
    recv = head[:dot]
    if recv.endswith(")") and "(*" in recv:
        pkg, _, rest = recv.partition("(*")
        recv = "*" + pkg + rest[:-1]
    return tp.dw.by_name.get(recv)
