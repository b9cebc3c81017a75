"""Func values: a closure object is named after the function its code pointer enters, and
what it captured is typed from that function's DWARF.

A func value points to an object whose first word is the code pointer (``funcval.fn``);
the captured variables follow. The function's name (from pclntab) is the best name the
object has. Go 1.23+ gives each captured variable's offset and type in the closure
function's DWARF (:meth:`~gdb_gomem.goroutines.framevars.FrameVars.captured`), so the
memory a closure keeps (a buffer, a job) gets its type from the variable that holds it;
for a method value ``x.M`` the name says the one captured variable's type on every version:
the receiver's. A closure on a goroutine's stack (an open-coded defer's, a func value passed
down) is not a heap object but types what it captured all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.goroutines.framevars import frame_vars
from gdb_gomem.heap.types.table import P_DWARF, SRC_DWARF
from gdb_gomem.symbols.gonames import package_of

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass

#: Said once per pass when a closure was found on a toolchain that does not say what it captured.
NO_OFFSETS_NOTE = (
    "closures found, but this toolchain (before Go 1.23) writes no DWARF offsets for "
    "captured variables: memory only a closure keeps stays <unknown>"
)


def closure(tp: TypePass, p: int) -> None:
    """The func value object at ``p``: ``closure F`` (F its function), unless typed already;
    its captured variables are queued with their types."""
    objs = tp.objs
    i = objs.find_one(p)
    if i < 0 or p != int(objs.addr[i]) or tp.prio[i] >= P_DWARF:
        return
    name = _entered(tp, p)
    if name:
        tp.assign(
            i,
            P_DWARF,
            tp.table.entry(f"closure {name}", SRC_DWARF, package=package_of(name)),
            None,
            1,
        )
        captured(tp, p, name)


def stack_closure(tp: TypePass, p: int) -> None:
    """A stack address a live stack word points at: when its first word enters a closure
    function (exactly its entry), what that closure captured is queued with its types."""
    name = _entered(tp, p)
    if name:
        captured(tp, p, name)


def captured(tp: TypePass, p: int, name: str) -> None:
    """Queue the variables the closure at ``p`` of function ``name`` captured."""
    recv = method_value_receiver(tp, name)
    if recv is not None:
        tp.queue.push(p + 8, recv)
        return
    caps = frame_vars(tp.proc).captured(name)
    for c in caps:
        tp.queue.push(p + c.offset, c.type_id)
    if not caps and NO_OFFSETS_NOTE not in tp.notes and tp.proc.version < (1, 23, 0):
        tp.notes.append(NO_OFFSETS_NOTE)


def _entered(tp: TypePass, p: int) -> str:
    """The function whose entry the code pointer at ``p`` is ("" when it is none: a func
    value's code pointer is always an entry, so any other word is not one)."""
    try:
        pc = tp.mem.u64(p)
    except UnreadableMemory:
        return ""
    name = tp.func_names.get(pc)
    if name is None:
        f = tp.proc.pclntab.find_func(pc)
        name = tp.func_names[pc] = f.name if f is not None and f.entry == pc else ""
    return name


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
