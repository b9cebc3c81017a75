"""Arguments and local variables of a goroutine's frames, as ``gomem goroutine N`` shows them.

A variable is listed when the function's DWARF gives it a stack location valid at the frame's
PC (:mod:`gdb_gomem.goroutines.framevars`); one kept only in a register has no address to read
and is left out. Values are rendered short, from DWARF types alone (no heap typing pass):
numbers, booleans, quoted strings, pointers, slice and map headers, interfaces' dynamic
types, time.Time as a time, the first fields of a struct.
"""

from __future__ import annotations

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.goroutines.framevars import frame_vars
from gdb_gomem.goroutines.unwind import Frame
from gdb_gomem.reports.schema.common import LocalDoc
from gdb_gomem.runtime.clock import time_value
from gdb_gomem.symbols.gonames import go_name
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

MAX_LOCALS = 32
MAX_TEXT = 80
MAX_FIELDS = 4


def _short(v: Val, depth: int = 1) -> str:
    t = v.type
    try:
        if t.tag == "base":
            if t.kind in (13, 14) or (not t.kind and t.encoding == 4):
                return f"{v.float():g}"
            if t.kind == 1 or t.encoding == 2:
                return "true" if v.bool() else "false"
            return str(v.int()) if t.size in (1, 2, 4, 8) else "?"
        if t.tag in ("ptr", "func"):
            p = v.ptr()
            return f"{p:#x}" if p else "nil"
        names = [f.name for f in t.fields] if t.tag == "struct" else []
        if t.kind == 24 or names == ["str", "len"]:
            p, n = v["str"].ptr(), v["len"].int()
            if not 0 <= n < 1 << 40:
                return f"<string of len {n}>"
            raw = v.mem.read(p, min(n, MAX_TEXT)) if n and p else b""
            text = raw.decode("utf-8", "replace")
            return repr(text) + ("..." if n > MAX_TEXT else "")
        if t.kind == 23 or names == ["array", "len", "cap"]:
            p, n, c = v.slice_header()
            return f"len {n} cap {c} @ {p:#x}" if p else f"len {n} cap {c} (nil)"
        if names in (["_type", "data"], ["tab", "data"]):
            return f"iface {v[names[0]].ptr():#x}/{v['data'].ptr():#x}"
        if t.name == "time.Time" and names[:2] == ["wall", "ext"]:
            unix, _mono = time_value(v["wall"].int(), v["ext"].int())
            return unix_ns_to_iso(unix) or f"{unix} ns"
        if t.tag == "struct" and depth > 0:
            inner = [f"{f.name}: {_short(v[f.name], depth - 1)}" for f in t.fields[:MAX_FIELDS]]
            more = ", ..." if len(t.fields) > MAX_FIELDS else ""
            return "{" + ", ".join(inner) + more + "}"
        return f"<{t.tag} of {t.size} B>"
    except (UnreadableMemory, LayoutError, GomemError, ValueError, IndexError) as exc:
        return f"<unreadable: {exc}>"


def frame_locals(proc: GoProcess, frame: Frame, innermost: bool) -> list[LocalDoc]:
    """The variables of one physical frame with a stack slot at its PC."""
    fv = frame_vars(proc)
    pc = frame.pc if innermost else frame.pc - 1  # a return address: the call is before it
    out: list[LocalDoc] = []
    seen: set[str] = set()
    for s in fv.slots(frame.func):
        if (s.lo or s.hi) and not s.lo <= pc < s.hi:
            continue
        if s.name in seen or s.name.startswith("~") or len(out) >= MAX_LOCALS:
            continue
        seen.add(s.name)
        addr = frame.fp + s.cfa_off
        tname = None
        value: str
        if s.type_id is not None and s.type_id in proc.dw.types:
            t = proc.dw.types[s.type_id]
            tname = go_name(t.name or t.tag)
            value = _short(Val(proc.mem, proc.dw, addr, t))
        else:
            try:
                raw = proc.mem.read(addr, min(max(s.size, 1), 8))
                value = f"{int.from_bytes(raw, 'little'):#x}"
            except UnreadableMemory:
                value = "<unreadable>"
        out.append({"name": s.name, "type": tname, "addr": f"{addr:#x}", "value": value})
    return out
