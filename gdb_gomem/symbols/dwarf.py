"""The binary's DWARF reduced to what the analysis needs: Go types and global variables.

Every struct offset the tool uses comes from here, so one code path decodes Go 1.21 and 1.27
alike. pyelftools walks the DIEs once (about a second for a small Go program); the result is a
plain-data :class:`DwarfTables`, pickled per binary by :mod:`.symcache`.

Go's DWARF conventions this relies on (cmd/link/internal/ld/dwarf.go):
- named Go types appear as a definition plus a ``DW_TAG_typedef`` of the same name;
- slices, strings, interfaces and the map header are ``DW_TAG_structure_type`` carrying the Go
  attributes ``DW_AT_go_kind`` (0x2900), ``DW_AT_go_key`` (0x2901), ``DW_AT_go_elem`` (0x2902),
  ``DW_AT_go_embedded_field`` (0x2903) and ``DW_AT_go_runtime_type`` (0x2904);
- global variables have a ``DW_OP_addr`` location.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from elftools.dwarf.die import DIE, AttributeValue
from elftools.elf.elffile import ELFFile

from gdb_gomem.base.errors import LayoutError

DW_AT_go_kind = 0x2900
DW_AT_go_key = 0x2901
DW_AT_go_elem = 0x2902
DW_AT_go_embedded_field = 0x2903
DW_AT_go_runtime_type = 0x2904

DW_OP_addr = 0x03

#: reflect.Kind numbers as written in DW_AT_go_kind.
GO_KIND_NAMES = {
    1: "bool",
    2: "int",
    3: "int8",
    4: "int16",
    5: "int32",
    6: "int64",
    7: "uint",
    8: "uint8",
    9: "uint16",
    10: "uint32",
    11: "uint64",
    12: "uintptr",
    13: "float32",
    14: "float64",
    15: "complex64",
    16: "complex128",
    17: "array",
    18: "chan",
    19: "func",
    20: "interface",
    21: "map",
    22: "ptr",
    23: "slice",
    24: "string",
    25: "struct",
    26: "unsafe.Pointer",
}

_TAGS = {
    "DW_TAG_base_type": "base",
    "DW_TAG_structure_type": "struct",
    "DW_TAG_pointer_type": "ptr",
    "DW_TAG_array_type": "array",
    "DW_TAG_typedef": "typedef",
    "DW_TAG_subroutine_type": "func",
    "DW_TAG_unspecified_type": "unspecified",
}


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    type: int  # DIE offset of the field's type
    embedded: bool = False


@dataclass
class GoType:
    """One DWARF type, with references to other types by DIE offset."""

    id: int  # DIE offset
    tag: str  # base, struct, ptr, array, typedef, func, unspecified
    name: str
    size: int
    kind: int = 0  # DW_AT_go_kind (reflect.Kind), 0 if absent
    fields: tuple[Field, ...] = ()
    target: int | None = None  # ptr/typedef target, array element
    count: int | None = None  # array length
    encoding: int = 0  # DW_AT_encoding of base types (DW_ATE_*)
    elem: int | None = None  # DW_AT_go_elem (slice, chan, map value, array elem)
    key: int | None = None  # DW_AT_go_key (maps)
    runtime_type: int = 0  # DW_AT_go_runtime_type (offset of the *abi.Type, per link layout)

    @property
    def kind_name(self) -> str:
        return GO_KIND_NAMES.get(self.kind, "")


@dataclass(frozen=True)
class Variable:
    name: str
    addr: int
    type: int


@dataclass
class DwarfTables:
    """Types and globals by name; a picklable, pyelftools-free snapshot of the DWARF."""

    types: dict[int, GoType] = field(default_factory=dict)
    by_name: dict[str, int] = field(default_factory=dict)
    globals: dict[str, Variable] = field(default_factory=dict)
    constants: dict[str, int] = field(default_factory=dict)
    #: Function name -> DIE offset of its DW_TAG_subprogram (locals are read on demand).
    subprograms: dict[str, int] = field(default_factory=dict)

    def constant(self, name: str, default: int | None = None) -> int:
        """A Go constant the compiler recorded (``runtime.heapArenaBytes``)."""
        v = self.constants.get(name, default)
        if v is None:
            raise LayoutError(
                f"constant {name} is not in the binary's DWARF",
                "this Go version renamed it; please report it",
            )
        return v

    def find(self, name: str) -> GoType | None:
        tid = self.by_name.get(name)
        return self.types[tid] if tid is not None else None

    def type(self, name: str) -> GoType:
        t = self.find(name)
        if t is None:
            raise LayoutError(
                f"type {name} is not in the binary's DWARF",
                "gomem needs DWARF: rebuild without -ldflags=-w/-s, or this Go version "
                "changed the runtime in a way gomem does not know yet",
            )
        return t

    def resolve(self, tid: int) -> GoType:
        """Follow typedefs to the defining type."""
        t = self.types[tid]
        for _ in range(16):
            if t.tag != "typedef" or t.target is None or t.target not in self.types:
                return t
            t = self.types[t.target]
        return t

    def field(self, struct_name: str, field_name: str) -> Field:
        st = self.resolve(self.type(struct_name).id)
        for f in st.fields:
            if f.name == field_name:
                return f
        raise LayoutError(
            f"{struct_name} has no field {field_name!r} in this binary",
            "this Go version lays the runtime out differently; please report it",
        )

    def has_field(self, struct_name: str, field_name: str) -> bool:
        t = self.find(struct_name)
        if t is None:
            return False
        return any(f.name == field_name for f in self.resolve(t.id).fields)

    def offset(self, struct_name: str, path: str) -> int:
        """Byte offset of a dotted field path (``"spanalloc.inuse"``) inside a struct."""
        off = 0
        cur = struct_name
        tid = self.type(cur).id
        for part in path.split("."):
            st = self.resolve(tid)
            for f in st.fields:
                if f.name == part:
                    off += f.offset
                    tid = f.type
                    break
            else:
                raise LayoutError(
                    f"{st.name} has no field {part!r} (looking up {struct_name}.{path})",
                    "this Go version lays the runtime out differently; please report it",
                )
        return off

    def size(self, name: str) -> int:
        return self.resolve(self.type(name).id).size

    def variable(self, name: str) -> Variable:
        v = self.globals.get(name)
        if v is None:
            raise LayoutError(
                f"global {name} is not in the binary's DWARF",
                "rebuild without -ldflags=-w, or this Go version renamed it",
            )
        return v


def _attributes(die: DIE) -> Mapping[str | int, AttributeValue]:
    """``die.attributes``. pyelftools types its keys as str, but attributes it does not know,
    such as Go's ``DW_AT_go_*``, are keyed by their int code."""
    return cast("Mapping[str | int, AttributeValue]", die.attributes)


def _attr(die: DIE, name: str | int) -> object | None:
    a = _attributes(die).get(name)
    return a.value if a is not None else None


def _int_attr(die: DIE, name: str | int) -> int:
    """An integer attribute's value; 0 when it is absent (or not an integer)."""
    v = _attr(die, name)
    return int(v) if isinstance(v, int) else 0


def _name(die: DIE) -> str:
    v = _attr(die, "DW_AT_name")
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else ""


def die_ref(die: DIE, name: str | int) -> int | None:
    """A reference attribute as an absolute DIE offset (CU-relative forms are rebased)."""
    a = _attributes(die).get(name)
    if a is None:
        return None
    if a.form in ("DW_FORM_ref_addr", "DW_FORM_ref_sig8"):
        return int(a.value)
    return int(a.value) + die.cu.cu_offset


def _location_addr(die: DIE) -> int | None:
    v = _attr(die, "DW_AT_location")
    if isinstance(v, list) and len(v) == 9 and v[0] == DW_OP_addr:
        return struct.unpack("<Q", bytes(v[1:9]))[0]
    return None


def load_dwarf(elf: ELFFile) -> DwarfTables:
    """Walk every compile unit once and build the tables.

    Raises :class:`LayoutError` when there is no DWARF.
    """
    if not elf.has_dwarf_info():
        raise LayoutError(
            "the binary has no DWARF debug information",
            "rebuild without -ldflags='-w' or '-s' (and do not strip it); gomem reads runtime "
            "layouts from DWARF",
        )
    dwarf = elf.get_dwarf_info()
    tables = DwarfTables()
    types = tables.types
    defs: dict[str, int] = {}
    typedefs: dict[str, int] = {}
    for cu in dwarf.iter_CUs():
        for die in cu.get_top_DIE().iter_children():
            tag = die.tag
            if tag == "DW_TAG_variable":
                addr = _location_addr(die)
                tref = die_ref(die, "DW_AT_type")
                name = _name(die)
                if addr is not None and tref is not None and name:
                    tables.globals[name] = Variable(name, addr, tref)
                continue
            if tag == "DW_TAG_subprogram":
                name = _name(die)
                if name:
                    tables.subprograms.setdefault(name, die.offset)
                continue
            if tag == "DW_TAG_constant":
                cv = _attr(die, "DW_AT_const_value")
                if isinstance(cv, int):
                    tables.constants[_name(die)] = cv
                continue
            kind = _TAGS.get(tag) if isinstance(tag, str) else None  # unknown tags: ints
            if kind is None:
                continue
            t = _make_type(die, kind)
            types[t.id] = t
            if t.name:
                (typedefs if kind == "typedef" else defs).setdefault(t.name, t.id)
    tables.by_name = {**typedefs, **defs}
    return tables


def _make_type(die: DIE, kind: str) -> GoType:
    name = _name(die)
    size = _attr(die, "DW_AT_byte_size")
    t = GoType(
        id=die.offset,
        tag=kind,
        name=name,
        size=int(size) if isinstance(size, int) else 0,
        kind=_int_attr(die, DW_AT_go_kind),
        target=die_ref(die, "DW_AT_type"),
        encoding=_int_attr(die, "DW_AT_encoding"),
        elem=die_ref(die, DW_AT_go_elem),
        key=die_ref(die, DW_AT_go_key),
        runtime_type=_int_attr(die, DW_AT_go_runtime_type),
    )
    if kind == "struct":
        fields = []
        for c in die.iter_children():
            if c.tag != "DW_TAG_member":
                continue
            off = _attr(c, "DW_AT_data_member_location")
            ftype = die_ref(c, "DW_AT_type")
            if not isinstance(off, int) or ftype is None:
                continue
            fields.append(Field(_name(c), off, ftype, bool(_attr(c, DW_AT_go_embedded_field))))
        t.fields = tuple(fields)
    elif kind == "array":
        for c in die.iter_children():
            if c.tag == "DW_TAG_subrange_type":
                if _attr(c, "DW_AT_count") is not None:
                    t.count = _int_attr(c, "DW_AT_count")
                else:
                    ub = _attr(c, "DW_AT_upper_bound")
                    t.count = int(ub) + 1 if isinstance(ub, int) else 0
                break
        t.elem = t.target
    elif kind == "ptr" and t.size == 0:
        t.size = 8
    return t
