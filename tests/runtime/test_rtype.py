"""The runtime type decoder (``gdb_gomem.runtime.rtype``) on every fixture version.

Type names come from the binary's DWARF (``DW_AT_go_runtime_type``), error texts from the Go
runtime's own traceback in ``<scenario>.stderr.txt`` (gopanic's argument words) and from the
fixture program's manifest (the panic values); never from gomem.
"""

from __future__ import annotations

import re
import struct

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.runtime.rtype import types
from tests.support import Overlay, binary, core, manifest, panic_frame, stderr_goroutine

_QUALIFIED = re.compile(r"^(\**)((?:[\w.-]+/)*)([A-Za-z_]\w*)\.([A-Za-z_]\w*)$")


def test_type_names_match_dwarf(version: str) -> None:
    """Every named type the linker ties to a descriptor (DW_AT_go_runtime_type, an offset from
    runtime.types) decodes to the DWARF name with the package path cut to its name, and to
    the same kind and size."""
    proc = open_core(binary(version), core(version, "panic"))
    tr = types(proc)
    checked = 0
    for t in proc.dw.types.values():
        if not t.runtime_type or not t.kind:
            continue
        if tr.types_lo + t.runtime_type >= tr.types_hi:
            continue  # 1.21/1.22 DWARF gives builtin uintptr an offset outside the module
        q = _QUALIFIED.match(t.name)
        if q and not re.fullmatch(r"v\d+", q[3]):  # a /vN path element is not the name
            want = f"{q[1]}{q[3]}.{q[4]}"
        elif re.fullmatch(r"\**[a-z][a-z0-9]*", t.name):
            want = t.name
        else:
            continue
        r = tr.type_at(tr.types_lo + t.runtime_type)
        assert (r.name, r.kind) == (want, t.kind), t.name
        if t.kind != 21:  # DWARF sizes a map as its header struct, the descriptor as a pointer
            assert r.size == proc.dw.resolve(t.id).size, t.name
        checked += 1
    assert checked > 400


def test_error_values(version: str) -> None:
    """Known error types decode to their Error() text (runtime/error.go, errors, io)."""
    proc = open_core(binary(version), core(version, "nil"))
    tr = types(proc)
    v = tr.read_iface(proc.dw.variable("runtime.memoryError").addr)
    assert (v.type, v.text, v.is_error) == (
        "runtime.errorString",
        "runtime error: invalid memory address or nil pointer dereference",
        True,
    )
    v = tr.read_iface(proc.dw.variable("io.EOF").addr)
    assert (v.type, v.text) == ("*errors.errorString", "EOF")
    # The nil dereference's original panic argument, as the Go traceback printed its words
    # (preprintpanics has since replaced _panic.arg by the text).
    gid = manifest(version, "nil")["crash"]["goroutine_ids"][0]
    tw, dw, *_ = panic_frame(stderr_goroutine(version, "nil", gid))
    v = tr.decode_eface(tw, dw)
    assert v.type == "runtime.errorString"
    assert v.text == manifest(version, "nil")["panics"]["in_flight"]
    # runtime.boundsError{x: 5, y: 3, signed: true, code: boundsIndex}, built in memory.
    bt = proc.dw.find("runtime.boundsError")
    assert bt is not None and bt.runtime_type
    fake = 0x7E0000000000
    raw = bytearray(24)
    raw[0:8] = struct.pack("<q", 5)
    raw[8:16] = struct.pack("<q", 3)
    raw[proc.dw.offset("runtime.boundsError", "signed")] = 1
    raw[proc.dw.offset("runtime.boundsError", "code")] = 0
    proc.mem = Overlay(proc.mem, fake, bytes(raw))
    tr2 = type(tr)(proc)
    v = tr2.decode_eface(tr2.types_lo + bt.runtime_type, fake)
    assert v.text == "runtime error: index out of range [5] with length 3"
    struct.pack_into("<q", raw, 0, -1)
    proc.mem = Overlay(proc.mem.base, fake, bytes(raw))  # type: ignore[attr-defined]
    v = type(tr)(proc).decode_eface(tr2.types_lo + bt.runtime_type, fake)
    assert v.text == "runtime error: index out of range [-1]"


def test_scalar_values(version: str) -> None:
    """Basic kinds print as runtime.printpanicval prints them (ints, floats, bools)."""
    proc = open_core(binary(version), core(version, "gcore"))
    fake = 0x7E0000000000
    proc.mem = Overlay(proc.mem, fake, struct.pack("<qd?", -42, 1.5, True))
    tr = types(proc)

    def rt(name: str) -> int:
        t = proc.dw.find(name)
        assert t is not None and t.runtime_type, name
        return tr.types_lo + t.runtime_type

    assert tr.decode_eface(rt("int"), fake).text == "-42"
    assert tr.decode_eface(rt("float64"), fake + 8).text == "+1.500000e+000"
    assert tr.decode_eface(rt("bool"), fake + 16).value is True
    assert tr.decode_eface(0, 0).text == "nil"
    bad = tr.decode_eface(fake, 0)  # not a descriptor: reported, not raised
    assert bad.type is None and bad.note
