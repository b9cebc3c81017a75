"""Names of stack slots: which local variable or parameter of a function lives at an address.

Go's DWARF gives each local and parameter a location: an expression (``DW_OP_fbreg N``,
``DW_OP_call_frame_cfa``, with ``DW_OP_piece`` for values split into words) or, in optimised
code, a location list saying where it lives at each PC (a register, or the stack). The frame
base is the CFA, which on amd64 is the frame's ``fp`` (the caller's SP before the CALL), so a
slot is ``fp + offset``. A slot the compiler made up (``autotmp``) or a value kept only in a
register has no name here; callers then fall back to ``function+0xOFF``.

A closure function's captured variables live in its closure object, not in its frame. Go 1.23+
marks each with ``DW_AT_go_closure_offset`` (0x2907, cmd/compile ``ClosureStructIter``: the
offset after the code pointer; a variable captured by reference is named ``&x`` and typed
``*T``): :meth:`FrameVars.captured` reads them, so a closure object types what it captured.
Go 1.21 and 1.22 list the variables without offsets: :meth:`FrameVars.legacy_layouts` lays
them out as the compiler does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import cast

from elftools.dwarf.die import DIE, AttributeValue
from elftools.dwarf.dwarf_expr import DWARFExprParser
from elftools.dwarf.locationlists import BaseAddressEntry, LocationEntry, LocationParser

from gdb_gomem.base.errors import GomemError
from gdb_gomem.symbols.coderefs import call_targets, function_code
from gdb_gomem.symbols.dwarf import DwarfTables, die_ref
from gdb_gomem.symbols.fieldpath import field_path
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

MAX_VARS = 4096

#: Go's DWARF attribute for a captured variable's offset in its closure object (Go 1.23+).
DW_AT_go_closure_offset = 0x2907

#: Captured variables read per closure function.
MAX_CAPTURED = 256
#: Go 1.21/1.22: the most trailing variables tried as a closure's captures.
MAX_LEGACY_SUFFIX = 8
#: Direct callees whose parameters name the types a function's stack objects may have.
MAX_CALLEES = 1024
#: DIEs whose variables belong to the function they are in.
_SCOPES = ("DW_TAG_lexical_block", "DW_TAG_inlined_subroutine")


def _align(dw: DwarfTables, tid: int) -> int:
    """A Go type's alignment on amd64 (cmd/compile ``types.CalcSize``): a scalar's size up
    to 8, a struct's largest field alignment, an array's element's; words for the rest."""
    t = dw.resolve(tid)
    for _ in range(16):
        if t.tag == "array" and t.elem is not None and t.elem in dw.types:
            t = dw.resolve(t.elem)
            continue
        break
    if t.tag == "struct" and not t.fields and t.size == 0:
        return 1
    if t.tag == "struct" and t.kind not in (23, 24) and t.fields:
        return max((_align(dw, f.type) for f in t.fields if f.type in dw.types), default=1)
    if t.tag == "base":
        return min(max(t.size, 1), 8) if t.kind not in (15, 16) else (4 if t.kind == 15 else 8)
    return 8


@dataclass(frozen=True)
class Captured:
    """One variable a closure captured: at ``offset`` in the closure object, of DWARF type
    ``type_id`` (a pointer to the variable when it is captured by reference, ``&name``)."""

    name: str
    offset: int
    type_id: int


@dataclass(frozen=True)
class Slot:
    lo: int  # pc range where this location holds (absolute); lo == hi == 0: everywhere
    hi: int
    cfa_off: int
    size: int
    name: str
    type_id: int | None


class FrameVars:
    """Per-process cache of functions' stack slots, read lazily from the binary's DWARF."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.dwarf = proc.binary.elf.get_dwarf_info()
        self.locparser = LocationParser(self.dwarf.location_lists())
        self.expr = DWARFExprParser(self.dwarf.structs)
        self._slots: dict[str, list[Slot]] = {}
        self._captured: dict[str, tuple[Captured, ...]] = {}
        self._tops: dict[str, list[Captured]] = {}
        self._pointees: dict[str, tuple[int, ...]] = {}
        # pyelftools reads DIEs through one shared stream (seek, then read): the heap model's
        # thread and the type pass both come here, and interleaved reads gave garbage DIEs,
        # which the per-function error handling then cached as "no variables" (the typed
        # share of one core varied from run to run).
        self._dwarf_lock = threading.RLock()

    def slots(self, func: str) -> list[Slot]:
        if func not in self._slots:
            off = self.proc.dw.subprograms.get(func)
            out: list[Slot] = []
            if off is not None:
                try:
                    with self._dwarf_lock:
                        die = self.dwarf.get_DIE_from_refaddr(off)
                        self._collect(die, out, depth=0)
                except Exception:  # noqa: BLE001 - unreadable DWARF for one function: no names
                    out = []
            self._slots[func] = out
        return self._slots[func]

    def captured(self, func: str) -> tuple[Captured, ...]:
        """The variables closure function ``func`` captured, by offset; empty for a function
        that is not a closure, and before Go 1.23 (no ``DW_AT_go_closure_offset``)."""
        got = self._captured.get(func)
        if got is None:
            tops = self._top_vars(func)
            got = tuple(sorted((c for c in tops if c.offset > 0), key=lambda c: c.offset))
            self._captured[func] = got
        return got

    def _top_vars(self, func: str) -> list[Captured]:
        """The function's variables declared at its top level (not its parameters), in DWARF
        order, each with its closure offset or -1."""
        hit = self._tops.get(func)
        if hit is not None:
            return hit
        off = self.proc.dw.subprograms.get(func)
        out: list[Captured] = []
        if off is not None:
            try:
                with self._dwarf_lock:
                    die = self.dwarf.get_DIE_from_refaddr(off)
                    for c in die.iter_children():
                        if len(out) >= MAX_CAPTURED:
                            break
                        if c.tag == "DW_TAG_variable":
                            cap = self._captured_var(c)
                            if cap is not None:
                                out.append(cap)
            except Exception:  # noqa: BLE001 - unreadable DWARF for one function: nothing
                out = []
        self._tops[func] = out
        return out

    def legacy_layouts(self, func: str, size: int) -> list[tuple[Captured, ...]]:
        """Go 1.21/1.22, which write no closure offsets: the layouts a closure object of
        exactly ``size`` bytes of ``func`` can have.

        cmd/compile ``buildssa`` appends the captured variables to the function's
        declarations after its own locals, in the closure struct's order, so they are the
        last top-level DWARF variables; ``ClosureStructIter`` lays them out from offset 8,
        each aligned. Every suffix of the variables, with each ``&x`` read as a pointer or as
        the value itself, whose layout ends exactly at ``size`` is a candidate; the caller
        keeps the one the object's pointer map agrees with."""
        dw = self.proc.dw
        tops = [c for c in self._top_vars(func) if c.offset < 0]
        out: list[tuple[Captured, ...]] = []
        for k in range(1, min(len(tops), MAX_LEGACY_SUFFIX) + 1):
            suffix = tops[-k:]
            amp = [i for i, c in enumerate(suffix) if c.name.startswith("&")]
            if len(amp) > 3:
                break
            for choice in range(1 << len(amp)):
                lay: list[Captured] = []
                at = 8
                for i, c in enumerate(suffix):
                    tid, name = c.type_id, c.name
                    if i in amp and choice >> amp.index(i) & 1:
                        t = dw.resolve(tid)
                        if t.tag != "ptr" or t.target not in dw.types:
                            break
                        tid, name = t.target, name[1:]
                    al = _align(dw, tid)
                    at = (at + al - 1) // al * al
                    lay.append(Captured(name, at, tid))
                    at += dw.resolve(tid).size
                else:
                    if (at + 7) // 8 * 8 == size:
                        out.append(tuple(lay))
        return out

    def layout(self, func: str, obj_size: int = 0, exact: bool = False) -> tuple[Captured, ...]:
        """What a closure object of ``func`` holds, each variable with the type of its bytes.

        DWARF names a variable ``&x`` of type ``*T`` both when the closure holds a pointer to x
        (captured by reference) and when it holds x itself but x is not SSA-able (a struct of
        more than four fields, an array: cmd/compile ``buildssa`` gives those a ``&x`` address
        into the closure). The offsets decide: the next variable starts 8 bytes on for a
        pointer, ``sizeof(T)`` on for a value, and the last one must fit in the object
        (``obj_size``: ``exact`` for a stack object, the size class on the heap, 0 unknown).
        A ``&x`` the offsets cannot decide is left out, so nothing is typed from a guess; one
        of at most 8 bytes is taken as a pointer (a value that small is SSA-able unless it
        is a small array or a struct of more than four tiny fields)."""
        dw = self.proc.dw
        caps = self.captured(func)
        out: list[Captured] = []
        for k, c in enumerate(caps):
            t = dw.resolve(c.type_id)
            if not c.name.startswith("&") or t.tag != "ptr" or t.target not in dw.types:
                out.append(c)
                continue
            inner = dw.resolve(t.target).size
            last = k + 1 == len(caps)
            end = obj_size if last else caps[k + 1].offset
            if inner <= 8 or (end and end - c.offset < inner):
                out.append(c)  # by reference: a pointer (a value would not fit)
            elif end and (exact or not last):
                out.append(Captured(c.name[1:], c.offset, t.target))  # the value itself
        return tuple(out)

    def captured_path(
        self, func: str, off: int, obj_size: int = 0, exact: bool = False
    ) -> str | None:
        """``.buf`` (with a field path inside it: ``.job.Payload``) for byte ``off`` of a
        closure object of function ``func``; None where no captured variable covers it."""
        dw = self.proc.dw
        for c in self.layout(func, obj_size, exact):
            size = max(dw.resolve(c.type_id).size, 1)
            if c.offset <= off < c.offset + size:
                inner = field_path(dw, dw.types[c.type_id], off - c.offset)
                if inner in (".array", ".str", ".data"):
                    inner = ""
                return f".{c.name}{inner}"
        return None

    def _captured_var(self, c: DIE) -> Captured | None:
        """Variable ``c`` with its closure offset (-1 when it has none); a concrete DIE takes
        its attributes from its abstract origin (cmd/internal/dwarf ``putvar`` writes the
        offset on the abstract one)."""
        origin = die_ref(c, "DW_AT_abstract_origin")
        if origin is not None:
            c = self.dwarf.get_DIE_from_refaddr(origin)
        attrs = c.attributes
        got = cast("dict[object, AttributeValue]", attrs)
        off = got.get(DW_AT_go_closure_offset)
        tid = die_ref(c, "DW_AT_type")
        name = attrs.get("DW_AT_name")
        if tid is None:
            return None
        offset = int(off.value) if off is not None and isinstance(off.value, int) else -1
        if tid not in self.proc.dw.types:
            return None
        text = name.value.decode("utf-8", "replace") if name is not None else "?"
        return Captured(text, offset if offset > 0 else -1, tid)

    def _collect(self, die: DIE, out: list[Slot], depth: int) -> None:
        for c in die.iter_children():
            if len(out) > MAX_VARS or depth > 16:
                return
            if c.tag == "DW_TAG_lexical_block":
                self._collect(c, out, depth + 1)
            elif c.tag in ("DW_TAG_variable", "DW_TAG_formal_parameter"):
                try:
                    self._var(c, out)
                except (ValueError, KeyError, IndexError):
                    continue  # e.g. an empty location (optimised away): this variable only

    def _var(self, c: DIE, out: list[Slot]) -> None:
        name_attr = c.attributes.get("DW_AT_name")
        loc = c.attributes.get("DW_AT_location")
        if name_attr is None or loc is None:
            return
        name = name_attr.value.decode("utf-8", "replace")
        tid = die_ref(c, "DW_AT_type")
        size = self.proc.dw.resolve(tid).size if tid in self.proc.dw.types else 8
        if loc.form in (
            "DW_FORM_block1",
            "DW_FORM_block2",
            "DW_FORM_block4",
            "DW_FORM_block",
            "DW_FORM_exprloc",
        ):
            # An expression, whatever the DWARF version: Go 1.25+ writes DWARF 5 but keeps
            # block forms, which pyelftools only reads as expressions before DWARF 4.
            if loc.value:
                self._expr(list(loc.value), 0, 0, name, size, tid, out)
            return
        parsed = self.locparser.parse_from_attribute(loc, c.cu.header.version, die=c)
        if isinstance(parsed, list):
            base = 0
            for e in parsed:
                if isinstance(e, LocationEntry):
                    absolute = getattr(e, "is_absolute", False)
                    lo = e.begin_offset if absolute else base + e.begin_offset
                    hi = e.end_offset if absolute else base + e.end_offset
                    self._expr(e.loc_expr, lo, hi, name, size, tid, out)
                elif isinstance(e, BaseAddressEntry):
                    base = e.base_address
        else:
            self._expr(parsed.loc_expr, 0, 0, name, size, tid, out)

    def _expr(
        self,
        raw: list[int],
        lo: int,
        hi: int,
        name: str,
        size: int,
        tid: int | None,
        out: list[Slot],
    ) -> None:
        ops = self.expr.parse_expr(raw)
        cur: int | None = None
        piece_off = 0
        pieces = any(o.op_name == "DW_OP_piece" for o in ops)
        for o in ops:
            if o.op_name == "DW_OP_fbreg":
                cur = int(o.args[0])
            elif o.op_name == "DW_OP_call_frame_cfa":
                cur = 0
            elif o.op_name in ("DW_OP_consts", "DW_OP_plus_uconst") and cur is not None:
                cur += int(o.args[0])
            elif o.op_name == "DW_OP_plus":
                pass  # cfa + consts: the constant was added above
            elif o.op_name == "DW_OP_piece":
                n = int(o.args[0])
                if cur is not None:
                    out.append(
                        Slot(
                            lo,
                            hi,
                            cur,
                            n,
                            name + self._part(tid, piece_off),
                            self._piece_pointer(tid, piece_off, n),
                        )
                    )
                piece_off += n
                cur = None
            else:
                cur = None  # a register or a computed value: not a stack slot
        if cur is not None and not pieces:
            out.append(Slot(lo, hi, cur, size, name, tid))

    def _piece_pointer(self, tid: int | None, off: int, size: int) -> int | None:
        """The type of a piece of a variable split across registers and stack slots, when the
        piece is exactly one pointer field of it (a slice's ``array``, a struct's pointer
        field): a live stack word holding that piece types what it points to."""
        dw = self.proc.dw
        if tid is None or tid not in dw.types or size != 8:
            return None
        t = dw.resolve(tid)
        if t.tag != "struct" or t.kind == 24:  # a string's bytes are typed as string data
            return None
        for f in t.fields:
            if f.offset == off and f.type in dw.types and dw.resolve(f.type).tag == "ptr":
                return f.type
        return None

    def _part(self, tid: int | None, off: int) -> str:
        """The field path of a piece at ``off`` inside the variable (``.len`` of a slice)."""
        if tid is None or tid not in self.proc.dw.types:
            return f"+{off}" if off else ""
        path = field_path(self.proc.dw, self.proc.dw.types[tid], off)
        return "" if off == 0 and path in ("", ".array", ".str", ".data") else path

    def slot_at(self, func: str, pc: int, fp: int, addr: int) -> tuple[Slot, int] | None:
        """The variable (or piece of one) whose bytes cover stack address ``addr`` at ``pc``,
        with the offset of ``addr`` inside it; a location valid at this pc beats a
        whole-function one, and a typed one an untyped one."""
        off = addr - fp
        best: Slot | None = None
        rank = -1
        for s in self.slots(func):
            if (s.lo or s.hi) and not s.lo <= pc < s.hi:
                continue
            if s.cfa_off <= off < s.cfa_off + max(s.size, 1):
                r = (2 if s.lo or s.hi else 0) + (s.type_id is not None)
                if r > rank:
                    best, rank = s, r
        return (best, off - best.cfa_off) if best is not None else None

    def pointee_types(self, func: str) -> tuple[int, ...]:
        """Every ``T`` that ``func`` can hold a ``*T`` to: the types of its own variables and
        parameters of type ``*T`` (and those of functions inlined into it), wherever they
        live, and of the pointer parameters of the functions it calls directly.

        ``p := &T{...}`` whose ``T`` does not escape is a stack object the compiler names
        only ``autotmp``, and ``p`` itself is often dropped from DWARF (its value is a
        constant offset from SP, recomputed where used); the methods called on it still
        declare their receiver ``*T``."""
        hit = self._pointees.get(func)
        if hit is not None:
            return hit
        out: set[int] = set()
        with self._dwarf_lock:
            self._pointers_in(self.proc.dw.subprograms.get(func), out, nested=True)
        tab = self.proc.pclntab
        f = tab.func_by_name(func)
        code = function_code(self.proc.binary, f.entry, f.end) if f is not None else None
        if f is not None and code is not None:
            for target in call_targets(code, f.entry)[:MAX_CALLEES]:
                try:
                    callee = tab.find_func(target)
                except (GomemError, ValueError):
                    continue
                if callee is not None and callee.entry == target:
                    with self._dwarf_lock:
                        self._pointers_in(self.proc.dw.subprograms.get(callee.name), out, False)
        got = self._pointees[func] = tuple(sorted(out))
        return got

    def _pointers_in(self, off: int | None, out: set[int], nested: bool) -> None:
        """Add to ``out`` each ``T`` of a ``*T`` variable or parameter of the subprogram DIE
        at ``off`` (``nested``: also in its lexical blocks and inlined calls; else only its
        parameters)."""
        if off is None:
            return
        dw = self.proc.dw
        abstract: set[int] = set()
        try:
            todo = [(self.dwarf.get_DIE_from_refaddr(off), 0)]
            seen = 0
            while todo and seen < MAX_VARS:
                die, depth = todo.pop()
                for c in die.iter_children():
                    seen += 1
                    if nested and depth < 16 and c.tag in _SCOPES:
                        todo.append((c, depth + 1))
                        # The inlined copy lists only the parameters that kept a location;
                        # the abstract function declares every one (the receiver of an
                        # inlined method on an autotmp among them).
                        origin = die_ref(c, "DW_AT_abstract_origin")
                        inlined = c.tag == "DW_TAG_inlined_subroutine"
                        if inlined and origin is not None and origin not in abstract:
                            abstract.add(origin)
                            self._pointers_in(origin, out, nested=False)
                    elif c.tag == "DW_TAG_formal_parameter" or (
                        nested and c.tag == "DW_TAG_variable"
                    ):
                        var = self._captured_var(c)
                        if var is None:
                            continue
                        t = dw.resolve(var.type_id)
                        if t.tag == "ptr" and t.target is not None and t.target in dw.types:
                            out.add(dw.resolve(t.target).id)
        except Exception:  # noqa: BLE001 - unreadable DWARF for one function: skip it
            return

    def autotmp_type(self, func: str, size: int, ptr_offsets: tuple[int, ...]) -> int | None:
        """The type of an unnamed stack object of ``func`` (no DWARF variable covers it):
        the one ``T`` among :meth:`pointee_types` whose size is exactly ``size`` and whose
        pointer words are exactly the object's stack-object pointer map, or None when no
        ``T`` or more than one fits (nothing is typed from a guess between two)."""
        dw = self.proc.dw
        want = tuple(sorted(ptr_offsets))
        fits = [
            t
            for t in self.pointee_types(func)
            if dw.resolve(t).size == size and tuple(pointer_offsets(dw, t)) == want
        ]
        return fits[0] if len(fits) == 1 else None

    def name_of(self, func: str, pc: int, fp: int, addr: int) -> str | None:
        """``variable`` (with a field path inside it) for a stack word, or None."""
        got = self.slot_at(func, pc, fp, addr)
        return self.var_name(*got) if got is not None else None

    def var_name(self, slot: Slot, inner: int) -> str:
        """``variable`` with the field path of byte ``inner`` inside it (``+N`` untyped)."""
        if slot.type_id is not None and slot.type_id in self.proc.dw.types:
            return slot.name + field_path(self.proc.dw, self.proc.dw.types[slot.type_id], inner)
        return slot.name if inner == 0 else f"{slot.name}+{inner}"


def _seedable(dw: DwarfTables, tid: int) -> bool:
    """A DWARF type whose first word is its only possible pointer to follow from a live
    stack word: a pointer, or a slice/string/interface header (its data pointer)."""
    t = dw.resolve(tid)
    if t.tag == "ptr":
        return t.target is not None
    names = [f.name for f in t.fields] if t.tag == "struct" else []
    return names in (["array", "len", "cap"], ["str", "len"], ["_type", "data"], ["tab", "data"])


def seed_at(dw: DwarfTables, tid: int, off: int) -> int | None:
    """The :func:`_seedable` type that starts at byte ``off`` of a value of type ``tid``
    (descending through struct fields and array elements), or None."""
    for _ in range(32):
        if tid not in dw.types:
            return None
        if off == 0 and _seedable(dw, tid):
            return tid
        t = dw.resolve(tid)
        if t.tag == "array" and t.elem is not None and t.elem in dw.types and t.count:
            es = dw.resolve(t.elem).size
            if es <= 0 or not 0 <= off < es * t.count:
                return None
            tid, off = t.elem, off % es
        elif t.tag == "struct":
            inner = [
                f
                for f in t.fields
                if f.type in dw.types and f.offset <= off < f.offset + dw.resolve(f.type).size
            ]
            if not inner:
                return None
            tid, off = inner[0].type, off - inner[0].offset
        else:
            return None
    return None


def pointer_offsets(dw: DwarfTables, tid: int, limit: int = 4096) -> list[int]:
    """Byte offsets of the pointer words of a value of DWARF type ``tid``, as its GC
    pointer mask has them (pointers, func values, maps, channels, ``unsafe.Pointer``; a
    string's, slice's and interface's pointer words), at most ``limit``."""
    out: list[int] = []
    todo = [(tid, 0, 0)]
    while todo and len(out) < limit:
        t_id, base, depth = todo.pop()
        if t_id not in dw.types or depth > 16:
            continue
        t = dw.resolve(t_id)
        if t.tag in ("ptr", "func"):
            out.append(base)
        elif t.tag == "array" and t.elem is not None and t.count:
            es = dw.resolve(t.elem).size
            if es <= 0 or t.count > limit:
                continue
            todo.extend((t.elem, base + i * es, depth + 1) for i in range(t.count))
        elif t.tag == "struct":
            todo.extend((f.type, base + f.offset, depth + 1) for f in t.fields)
    return sorted(out)


FRAME_VARS: Lazy[FrameVars] = Lazy("frame variables", FrameVars)


def frame_vars(proc: GoProcess) -> FrameVars:
    return FRAME_VARS(proc)
