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


def resolve_path(dw: DwarfTables, t: GoType, path: str) -> tuple[int, GoType] | None:
    """The byte offset and type that a path like ``[3].slots[2].key`` names inside a value of
    type ``t`` (the inverse of :func:`field_path`); None where the path does not fit."""
    cur = dw.resolve(t.id)
    off = 0
    i = 0
    for _ in range(MAX_DEPTH):
        if i >= len(path):
            return off, cur
        if path[i] == "[":
            j = path.find("]", i)
            if j < 0 or cur.tag != "array" or cur.elem is None:
                return None
            try:
                k = int(path[i + 1 : j])
            except ValueError:
                return None
            et = dw.resolve(cur.elem)
            if k < 0 or (cur.count is not None and k >= cur.count):
                return None
            off += k * et.size
            cur = et
            i = j + 1
        elif path[i] == ".":
            j = i + 1
            while j < len(path) and path[j] not in ".[":
                j += 1
            name = path[i + 1 : j]
            f = (
                next((f for f in cur.fields if f.name == name), None)
                if cur.tag == "struct"
                else None
            )
            if f is None:
                return None
            off += f.offset
            cur = dw.resolve(f.type)
            i = j
        else:
            return None
    return None
