"""Name the place inside a typed object that a byte offset falls on: ``.Items[3].Name``.

Used to say which field, element or map slot a pointer was found in, along a root path
(``main.registry -> map value -> *main.Order .Items -> [3]main.Item``). Pure DWARF work: struct
fields by offset (embedded structs descend), arrays by index, and Go's header types (string,
slice, interface) by their well-known parts.
"""

from __future__ import annotations

from gdb_gomem.symbols.dwarf import DwarfTables, GoType

MAX_DEPTH = 32


def field_path(dw: DwarfTables, t: GoType, offset: int) -> str:
    """The field/element path of ``offset`` inside a value of type ``t`` ("" at the start of a
    scalar or pointer; "+N" where the type has no member covering the offset)."""
    parts: list[str] = []
    cur = dw.resolve(t.id)
    off = offset
    for _ in range(MAX_DEPTH):
        if cur.tag == "array" and cur.elem is not None:
            et = dw.resolve(cur.elem)
            if et.size <= 0:
                break
            i = off // et.size
            if cur.count is not None and not 0 <= i < cur.count:
                parts.append(f"+{off}")
                break
            parts.append(f"[{i}]")
            off -= i * et.size
            cur = et
            continue
        if cur.tag == "struct" and cur.fields:
            hit = None
            for f in cur.fields:
                ft = dw.resolve(f.type)
                if f.offset <= off < f.offset + max(ft.size, 1):
                    hit = (f, ft)
            if hit is None:
                parts.append(f"+{off}")
                break
            f, ft = hit
            if cur.kind == 23 and f.name == "array":  # slice header: the backing-array pointer
                parts.append(".array")
            elif cur.kind == 24 and f.name == "str":
                parts.append(".str")
            else:
                parts.append(f".{f.name}")
            off -= f.offset
            cur = ft
            continue
        if off:
            parts.append(f"+{off}")
        break
    return "".join(parts)
