"""From the runtime's types to DWARF's, and DWARF types to the names Go prints.

Memory names types by their runtime descriptor (``*abi.Type``: a malloc header, a
``largeType``, an interface's type word, a channel's ``elemtype``); the propagation needs
the DWARF type to know the value's layout. The linker records each DWARF type's descriptor
(``DW_AT_go_runtime_type``, an offset from ``moduledata.types``), so the mapping is one
dictionary built once; a descriptor DWARF does not describe is matched by name.
"""

from __future__ import annotations

from gdb_gomem.runtime.rtype import TypeError_, TypeReader
from gdb_gomem.symbols.dwarf import DwarfTables
from gdb_gomem.symbols.gonames import go_name, package_of


class TypeNames:
    """Runtime type -> DWARF type, and a DWARF type's Go name and package."""

    def __init__(self, dw: DwarfTables, tr: TypeReader) -> None:
        self.dw = dw
        self.tr = tr
        self.rt_to_dwarf = self._runtime_type_index()

    def dwarf_name(self, tid: int) -> str:
        t = self.dw.types[tid]
        return go_name(t.name or self.dw.resolve(tid).name or "?")

    def dwarf_package(self, tid: int) -> str:
        t = self.dw.types[tid]
        return package_of(t.name or self.dw.resolve(tid).name)

    def _runtime_type_index(self) -> dict[int, int]:
        """``*abi.Type`` address -> DWARF type (``DW_AT_go_runtime_type`` is an offset from
        ``moduledata.types``); a named typedef wins over its anonymous definition."""
        lo = self.tr.types_lo
        out: dict[int, int] = {}
        for t in self.dw.types.values():
            if t.runtime_type:
                a = lo + t.runtime_type
                if a not in out or t.tag == "typedef":
                    out[a] = t.id
        return out

    def dwarf_of_rtype(self, rt_addr: int) -> int | None:
        hit = self.rt_to_dwarf.get(rt_addr)
        if hit is not None:
            return hit
        try:
            name = self.tr.type_at(rt_addr).name
        except TypeError_:
            return None
        return self.dw.by_name.get(name)
