"""Typed access to runtime structures: read ``mheap_.allspans`` by names, never by offsets.

A :class:`Val` is (memory, address, DWARF type). Field lookups go through the binary's DWARF,
so the same code reads every Go version's layout; a missing field raises LayoutError naming it.
Meant for control structures (a few thousand reads); whole-heap passes read raw bytes in bulk.
"""

from __future__ import annotations

import builtins
import struct

from gdb_gomem.base.errors import LayoutError, UnreadableMemory
from gdb_gomem.symbols.dwarf import DwarfTables, GoType
from gdb_gomem.target.memory import Memory

DW_ATE_boolean = 0x02
DW_ATE_signed = 0x05
DW_ATE_signed_char = 0x06


class Val:
    """A typed view of target memory.

    The scalar readers are named ``int``, ``bool`` and ``float``, which shadow the builtins
    inside this class body, so its annotations spell those types ``builtins.int`` etc.
    """

    __slots__ = ("addr", "dw", "mem", "path", "type")

    def __init__(
        self, mem: Memory, dw: DwarfTables, addr: builtins.int, t: GoType, path: str = ""
    ) -> None:
        self.mem = mem
        self.dw = dw
        self.addr = addr
        self.type = dw.resolve(t.id)
        #: How this value was reached (``runtime.allp[3].mcache``), for error messages.
        self.path = path

    def _named(self, exc: UnreadableMemory) -> UnreadableMemory:
        """``exc`` naming this value, when it does not name anything yet."""
        if exc.what or not self.path:
            return exc
        return UnreadableMemory(exc.addr, exc.size, exc.why, what=self.path)

    def __bool__(self) -> builtins.bool:
        """A Val always exists; without this, Python would ask ``__len__`` (arrays only)."""
        return True

    def __repr__(self) -> str:
        return f"<Val {self.type.name or self.type.tag} @ {self.addr:#x}>"

    # -------------------------------------------------------------- structure

    def has(self, name: str) -> builtins.bool:
        return any(f.name == name for f in self.type.fields)

    def __getitem__(self, path: str) -> Val:
        """Field by name; dotted paths descend (``v["spanalloc.inuse"]``)."""
        v = self
        for part in path.split("."):
            for f in v.type.fields:
                if f.name == part:
                    sub = f"{v.path}.{part}" if v.path else ""
                    v = Val(v.mem, v.dw, v.addr + f.offset, v.dw.types[f.type], sub)
                    break
            else:
                raise LayoutError(
                    f"{v.type.name or v.type.tag} has no field {part!r}",
                    "this Go version lays the runtime out differently; please report it",
                )
        return v

    def get(self, path: str) -> Val | None:
        try:
            return self[path]
        except LayoutError:
            return None

    # -------------------------------------------------------------- scalars

    def _scalar_type(self) -> GoType:
        """Unwrap one-value wrappers such as atomic.Uint64 {noCopy; _ align64; value uint64}."""
        t = self.type
        for _ in range(8):
            if t.tag != "struct":
                return t
            vals = [f for f in t.fields if f.name == "value"]
            if not vals:
                return t
            t = self.dw.resolve(vals[0].type)
        return t

    def int(self) -> builtins.int:
        t = self._scalar_type()
        if t.tag not in ("base", "ptr") or t.size not in (1, 2, 4, 8):
            raise LayoutError(f"{self.type.name} is not an integer", "")
        signed = t.tag == "base" and t.encoding in (DW_ATE_signed, DW_ATE_signed_char)
        try:
            return self.mem.uint(self.addr, t.size, signed=signed)
        except UnreadableMemory as exc:
            raise self._named(exc) from None

    def __int__(self) -> builtins.int:
        return self.int()

    def bool(self) -> builtins.bool:
        return self.int() != 0

    def float(self) -> builtins.float:
        t = self._scalar_type()
        try:
            raw = self.mem.read(self.addr, t.size)
        except UnreadableMemory as exc:
            raise self._named(exc) from None
        return struct.unpack("<d" if t.size == 8 else "<f", raw)[0]

    def ptr(self) -> builtins.int:
        """The address a pointer (or unsafe.Pointer / uintptr) holds."""
        try:
            return self.mem.u64(self.addr)
        except UnreadableMemory as exc:
            raise self._named(exc) from None

    def deref(self) -> Val | None:
        """The pointee of a typed pointer; None for nil."""
        t = self.type
        if t.tag != "ptr" or t.target is None:
            raise LayoutError(f"{t.name} is not a typed pointer", "")
        p = self.ptr()
        if p == 0:
            return None
        return Val(
            self.mem, self.dw, p, self.dw.types[t.target], f"*{self.path}" if self.path else ""
        )

    def cast(self, type_name: str) -> Val:
        return Val(self.mem, self.dw, self.addr, self.dw.type(type_name))

    def at(self, addr: builtins.int) -> Val:
        """The same type at another address."""
        return Val(self.mem, self.dw, addr, self.type, self.path)

    # -------------------------------------------------------------- aggregates

    @property
    def size(self) -> builtins.int:
        return self.type.size

    def raw(self) -> bytes:
        try:
            return self.mem.read(self.addr, self.type.size)
        except UnreadableMemory as exc:
            raise self._named(exc) from None

    def __len__(self) -> builtins.int:
        if self.type.tag == "array":
            return self.type.count or 0
        raise LayoutError(f"{self.type.name} is not an array", "")

    def index(self, i: builtins.int) -> Val:
        t = self.type
        if t.tag != "array" or t.elem is None:
            raise LayoutError(f"{t.name} is not an array", "")
        if not 0 <= i < (t.count or 0):
            raise IndexError(i)
        et = self.dw.resolve(t.elem)
        sub = f"{self.path}[{i}]" if self.path else ""
        return Val(self.mem, self.dw, self.addr + i * et.size, et, sub)

    def slice_header(self) -> tuple[builtins.int, builtins.int, builtins.int]:
        """(array pointer, len, cap) of a Go slice."""
        return self["array"].ptr(), self["len"].int(), self["cap"].int()

    def slice_items(self, limit: builtins.int) -> list[Val]:
        """The elements of a slice, at most ``limit`` (bounded: lengths come from memory)."""
        arr, n, cap = self.slice_header()
        if n < 0 or n > cap:
            raise UnreadableMemory(
                self.addr, 24, f"corrupt slice header (len {n}, cap {cap})", self.path or None
            )
        elem_id = self.type.elem
        if elem_id is None:
            raw_ptr = self.dw.resolve(self["array"].type.id)
            elem_id = raw_ptr.target
        if elem_id is None:
            raise LayoutError(f"{self.type.name}: unknown element type", "")
        et = self.dw.resolve(elem_id)
        p = self.path
        return [
            Val(self.mem, self.dw, arr + i * et.size, et, f"{p}[{i}]" if p else "")
            for i in range(min(n, limit))
        ]

    def string(self, limit: builtins.int = 1 << 16) -> str:
        try:
            return self.mem.go_string(self.addr, limit)
        except UnreadableMemory as exc:
            raise self._named(exc) from None


class Layout:
    """Offsets and sizes of chosen (dotted) fields of one struct, for decoding raw records.

    Whole-table passes read each record with one ``mem.read`` and pick fields out of the bytes
    with :meth:`get`, instead of building a :class:`Val` per field.
    """

    def __init__(
        self,
        dw: DwarfTables,
        struct_name: str,
        paths: list[str] | tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> None:
        self.name = struct_name
        self.size = dw.size(struct_name)
        self.fields: dict[str, tuple[int, int, bool]] = {}
        self._structs: dict[str, tuple[struct.Struct, int]] = {}
        for p in (*paths, *optional):
            try:
                off = dw.offset(struct_name, p)
            except LayoutError:
                if p in optional:
                    continue
                raise
            t = _leaf_type(dw, struct_name, p)
            signed = t.tag == "base" and t.encoding in (DW_ATE_signed, DW_ATE_signed_char)
            size = t.size if t.size in (1, 2, 4, 8) else 8
            self.fields[p] = (off, size, signed)
            code = {1: "b", 2: "h", 4: "i", 8: "q"}[size]
            self._structs[p] = (struct.Struct("<" + (code if signed else code.upper())), off)

    def has(self, path: str) -> bool:
        return path in self.fields

    def off(self, path: str) -> int:
        return self.fields[path][0]

    def get(self, raw: bytes, path: str, default: int = 0) -> int:
        f = self._structs.get(path)
        if f is None:
            return default
        return f[0].unpack_from(raw, f[1])[0]


def _leaf_type(dw: DwarfTables, struct_name: str, path: str) -> GoType:
    """The scalar type at a dotted path, unwrapping atomic-style {value} wrappers."""
    t = dw.resolve(dw.type(struct_name).id)
    for part in path.split("."):
        t = dw.resolve(next(f.type for f in t.fields if f.name == part))
    for _ in range(8):
        vals = [f for f in t.fields if f.name == "value"] if t.tag == "struct" else []
        if not vals:
            break
        t = dw.resolve(vals[0].type)
    return t
