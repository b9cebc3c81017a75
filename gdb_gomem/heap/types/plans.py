"""Scan plans: where, in a value of a DWARF type, the pointers are and what they point to.

The propagation scans values of one type in bulk, so it wants a type's pointer-bearing
words as a flat list computed once: structs and small arrays are flattened into
:class:`Slot` rows (offset, what kind of pointer), and the runtime's headers (strings,
slices, interfaces, maps, channels, func values) become one slot each, decoded by their
own rules. Fields declared ``unsafe.Pointer`` whose real type the Go source states (atomic
pointers, ``sync.Pool``'s per-P arrays, goroutine labels) get that type here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gdb_gomem.runtime.gomaps import map_kind
from gdb_gomem.symbols.dwarf import GoType
from gdb_gomem.target.process import GoProcess

#: Unrolled pointer slots per type before an array is followed element by element instead.
MAX_PLAN = 256
#: The runtime's generic atomic pointer, by the package it lives in (1.21, then 1.22+).
_RUNTIME_ATOMIC_POINTER = ("runtime/internal/atomic.Pointer[", "internal/runtime/atomic.Pointer[")


@dataclass(frozen=True)
class Slot:
    off: int
    action: str  # ptr slice string eface iface map chan func array pool
    arg: int = 0  # DWARF type id (pointee, element, header)
    n: int = 0  # array length for "array"; for "pool", the length field's offset from off


class Plans:
    """Per DWARF type, the pointer-bearing slots to visit (flattened structs and arrays)."""

    def __init__(self, proc: GoProcess) -> None:
        self.dw = proc.dw
        self._cache: dict[int, tuple[Slot, ...]] = {}

    def plan(self, tid: int) -> tuple[Slot, ...]:
        hit = self._cache.get(tid)
        if hit is None:
            self._cache[tid] = ()  # recursion guard (self-referential types)
            hit = self._cache[tid] = tuple(self._build(tid, 0))
        return hit

    def _build(self, tid: int, depth: int) -> list[Slot]:
        dw = self.dw
        t = dw.resolve(tid)
        if depth > 12:
            return []
        if t.tag == "ptr":
            if t.target is None:
                return []  # unsafe.Pointer: no type to give
            tgt = dw.resolve(t.target)
            if tgt.tag == "struct" and map_kind(tgt):
                return [Slot(0, "map", tgt.id)]
            if tgt.tag == "struct" and (
                tgt.name.startswith("hchan<") or tgt.name == "runtime.hchan"
            ):
                return [Slot(0, "chan", tgt.id)]
            return [Slot(0, "ptr", t.target)]
        if t.tag == "func":
            return [Slot(0, "func")]
        if t.tag == "array":
            if not t.count or t.elem is None:
                return []
            sub = self.plan(t.elem)
            if not sub:
                return []
            es = dw.resolve(t.elem).size
            if t.count * len(sub) <= MAX_PLAN:
                return [
                    Slot(s.off + i * es, s.action, s.arg, s.n) for i in range(t.count) for s in sub
                ]
            return [Slot(0, "array", t.elem, t.count)]
        if t.tag != "struct":
            return []
        names = [f.name for f in t.fields]
        if t.kind == 24 or names == ["str", "len"]:
            return [Slot(0, "string")]
        if t.kind == 23 or names == ["array", "len", "cap"]:
            elem = t.elem if t.elem is not None else dw.resolve(t.fields[0].type).target
            return [Slot(0, "slice", elem or 0)]
        if names in (["_type", "data"], ["typ", "val"]):  # runtime.eface, sync.eface
            return [Slot(0, "eface")]
        if names == ["tab", "data"]:
            return [Slot(0, "iface")]
        out: list[Slot] = []
        for f in t.fields:
            hint = self._hint(t, f.name, f.offset)
            if hint is not None:
                out.append(hint)
                continue
            out.extend(Slot(s.off + f.offset, s.action, s.arg, s.n) for s in self.plan(f.type))
        return out

    def _hint(self, t: GoType, fname: str, off: int) -> Slot | None:
        """``unsafe.Pointer`` fields whose real type the source code states.

        - ``sync/atomic.Pointer[T]``: ``_ [0]*T`` then ``v unsafe.Pointer`` (a ``*T``);
        - the runtime's own ``internal/runtime/atomic.Pointer[T]`` (``runtime/internal/
          atomic`` before Go 1.22): only ``u UnsafePointer``, so ``T`` comes from the
          instantiated name (``runtime.godebugEnv`` is an ``atomic.Pointer[string]``);
        - ``sync.Pool.local``/``victim``: ``[localSize]poolLocal`` / ``[victimSize]...``
          (``sync/pool.go``: "actual type is [P]poolLocal"); the size field follows;
        - ``runtime.g.labels``: the ``*runtime/pprof.labelMap`` that
          ``pprof.SetGoroutineLabels`` stores with ``runtime_setProfLabel``.
        """
        dw = self.dw
        if fname == "v" and t.name.startswith("sync/atomic.Pointer["):
            for f in t.fields:
                a = dw.resolve(f.type)
                if f.name == "_" and a.tag == "array" and a.count == 0 and a.elem is not None:
                    pt = dw.resolve(a.elem)
                    if pt.tag == "ptr" and pt.target is not None:
                        return Slot(off, "ptr", pt.target)
            return None
        if fname == "u" and t.name.startswith(_RUNTIME_ATOMIC_POINTER) and t.name[-1] == "]":
            arg = t.name[t.name.index("[") + 1 : -1]
            pointee = dw.find(arg)
            return Slot(off, "ptr", pointee.id) if pointee is not None else None
        if t.name == "sync.Pool" and fname in ("local", "victim"):
            pl = dw.find("sync.poolLocal")
            size_field = "localSize" if fname == "local" else "victimSize"
            size_off = next((f.offset for f in t.fields if f.name == size_field), None)
            if pl is None or size_off is None:
                return None
            return Slot(off, "pool", pl.id, size_off - off)
        if t.name == "runtime.g" and fname == "labels":
            lm = dw.find("runtime/pprof.labelMap")
            return Slot(off, "ptr", lm.id) if lm is not None else None
        return None
