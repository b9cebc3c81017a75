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

import re
from typing import TYPE_CHECKING

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.goroutines.framevars import Captured, frame_vars
from gdb_gomem.heap.types.table import P_DWARF, SRC_DWARF
from gdb_gomem.runtime.rtype import TypeError_
from gdb_gomem.symbols.coderefs import function_code, lea_targets
from gdb_gomem.symbols.gonames import package_of

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass

#: A closure function's name and the function that makes it: ``pkg.F.func1`` (Go's names for
#: closures, ``go`` and ``defer`` wrappers, and nested closures ``pkg.F.func1.2``).
_OUTER = re.compile(r"^(.+)\.(?:func\d+|gowrap\d+|deferwrap\d+|\d+)$")

#: Said once per pass when a closure was found on a toolchain that does not say what it captured.
NO_OFFSETS_NOTE = (
    "closures on goroutine stacks found, but this toolchain (before Go 1.23) writes no DWARF "
    "offsets for captured variables: memory only such a closure keeps stays <unknown>"
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
        fields = allocated_layout(tp, name)
        if fields is not None:
            for off, tid in fields:
                tp.queue.push(p + off, tid)
            return
        captured(tp, p, name, int(objs.size[i]), False)


def stack_closure(tp: TypePass, p: int, size: int, ptrs: tuple[int, ...] = ()) -> None:
    """A stack address a live stack word points at (``size``: the exact size of the stack
    object there, 0 when none starts there; ``ptrs``: the offsets of its pointer words):
    when its first word enters a closure function (exactly its entry), what that closure
    captured is queued with its types."""
    name = _entered(tp, p)
    if not name:
        return
    fv = frame_vars(tp.proc)
    if size and not fv.captured(name) and tp.proc.version < (1, 23, 0):
        lay = legacy_layout(tp, name, size, frozenset(ptrs))
        if lay is not None:
            for c in lay:
                tp.queue.push(p + c.offset, c.type_id)
            return
    captured(tp, p, name, size, size > 0)


def legacy_layout(
    tp: TypePass, name: str, size: int, ptrs: frozenset[int]
) -> tuple[Captured, ...] | None:
    """Go 1.21/1.22: the one layout of a closure of ``size`` bytes whose pointer words are
    exactly ``ptrs`` (:meth:`~gdb_gomem.goroutines.framevars.FrameVars.legacy_layouts`); None
    when no candidate, or more than one, agrees with the pointer map."""
    fits = []
    for lay in frame_vars(tp.proc).legacy_layouts(name, size):
        if _pointer_words(tp, lay) == ptrs:
            fits.append(lay)
    return fits[0] if len(set(fits)) == 1 else None


def _pointer_words(tp: TypePass, lay: tuple[Captured, ...]) -> frozenset[int]:
    """The pointer words of a laid-out closure as the GC sees them (every pointer-shaped word
    of each variable: what the stack object's pointer map records)."""
    out: set[int] = set()
    for c in lay:
        out |= {c.offset + w for w in _type_pointer_words(tp, c.type_id, 0)}
    return frozenset(out)


def _type_pointer_words(tp: TypePass, tid: int, depth: int) -> set[int]:
    dw = tp.dw
    t = dw.resolve(tid)
    if depth > 8:
        return set()
    if t.tag in ("ptr", "func"):
        return {0}
    if t.tag == "array":
        if not t.count or t.elem is None or t.count > 1024:
            return set()
        es = dw.resolve(t.elem).size
        sub = _type_pointer_words(tp, t.elem, depth + 1)
        return {i * es + w for i in range(t.count) for w in sub}
    if t.tag == "struct":
        out: set[int] = set()
        for f in t.fields:
            if f.type in dw.types:
                out |= {f.offset + w for w in _type_pointer_words(tp, f.type, depth + 1)}
        return out
    return set()


def captured(tp: TypePass, p: int, name: str, size: int, exact: bool) -> None:
    """Queue the variables the closure at ``p`` of function ``name`` (an object of ``size``
    bytes, ``exact`` or a size class) captured."""
    recv = method_value_receiver(tp, name)
    if recv is not None:
        tp.queue.push(p + 8, recv)
        return
    fv = frame_vars(tp.proc)
    for c in fv.layout(name, size, exact):
        tp.queue.push(p + c.offset, c.type_id)
    if not fv.captured(name) and NO_OFFSETS_NOTE not in tp.notes and tp.proc.version < (1, 23, 0):
        tp.notes.append(NO_OFFSETS_NOTE)


def allocated_layout(tp: TypePass, name: str) -> list[tuple[int, int]] | None:
    """The captured variables of a heap closure of function ``name``, from the struct type it
    was allocated with (``struct { F uintptr; X0 T0; ... }``, cmd/compile ``ClosureType``): the
    function that makes the closure passes that type's descriptor to ``runtime.newobject``
    right before it stores ``name``'s entry in the ``F`` word, so the last struct descriptor
    its code takes before the entry is the closure's (:mod:`gdb_gomem.symbols.coderefs`).
    ``(offset, DWARF type)`` per captured variable whose type DWARF knows; None when no
    such descriptor is found (a closure made on the stack, or by inlined code)."""
    cache = tp.closure_layouts
    if name in cache:
        return cache[name]
    cache[name] = None
    m = _OUTER.match(name)
    tab = tp.proc.pclntab
    f = tab.func_by_name(name)
    outer = tab.func_by_name(m.group(1)) if m else None
    if f is None or outer is None:
        return None
    code = function_code(tp.proc.binary, outer.entry, outer.end)
    if code is None:
        return None
    leas = lea_targets(code, outer.entry)
    for k, (at, target) in enumerate(leas):
        if target != f.entry:
            continue
        for at2, t2 in reversed(leas[max(0, k - 8) : k]):
            if at - at2 > 256 or not tp.tr.types_lo <= t2 < tp.tr.types_hi:
                continue
            try:
                rt = tp.tr.type_at(t2)
                if not rt.name.startswith("struct { F uintptr"):
                    continue
                fields = tp.tr.struct_fields(rt)
            except (TypeError_, GomemError):
                continue
            out = []
            for off, ft in fields[1:]:
                tid = tp.names.dwarf_of_rtype(ft)
                if tid is not None:
                    out.append((off, tid))
            cache[name] = out
            return out
    return None


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
