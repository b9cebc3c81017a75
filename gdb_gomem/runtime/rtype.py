"""Go runtime type descriptors (``*abi.Type``) and interface values, read as the runtime reads them.

Every interface value in a Go process is two words: a type word and a data word. For ``any``
(``runtime.eface``) the type word is the ``*abi.Type`` itself; for a non-empty interface
(``runtime.iface``) it is an ``*itab`` whose ``_type``/``Type`` field is the dynamic type. The
descriptor layout is read from DWARF (``internal/abi.Type``: ``Size_``, ``PtrBytes``, ``TFlag``,
``Kind_``, ``Str`` ...); the meanings are those of ``internal/abi/type.go`` and
``runtime/type.go`` in Go 1.21-1.27:

- ``Str`` is a ``NameOff``: an offset from the module's ``moduledata.types``
  (``runtime.resolveNameOff``). The ``abi.Name`` there is a flag byte, a uvarint length, then
  the bytes. With ``TFlagExtraStar`` the stored string has a ``*`` too many (the linker shares
  the string of ``*T`` with ``T``), which ``(*_type).string`` strips;
- the kind is ``Kind_ & KindMask`` (0x1f); whether a value is stored *in* the data word
  ("direct interface") was ``Kind_ & KindDirectIface`` (0x20) up to Go 1.25 and is
  ``TFlag & TFlagDirectIface`` (0x20) from 1.26. Neither bit is ever set under the other
  scheme (kinds are < 32, and TFlag bit 5 was unused before 1.26), so both are tested;
- otherwise the data word points to the value (small integers point into
  ``runtime.staticuint64s``, which reads the same).

A :class:`TypeReader` caches decoded descriptors per process: heap typing decodes the same few
hundred types millions of times. Decoded values (:class:`GoValue`) print the way Go's panic
printer prints them: strings as text, integers as numbers, errors by their ``Error()`` text for
the runtime's and the standard library's common error types, anything else as ``(T) 0xaddr``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.symbols.dwarf import GO_KIND_NAMES
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

KIND_MASK = 0x1F
KIND_DIRECT_IFACE = 0x20  # in Kind_, Go <= 1.25
TFLAG_UNCOMMON = 0x01
TFLAG_EXTRA_STAR = 0x02
TFLAG_NAMED = 0x04
TFLAG_DIRECT_IFACE = 0x20  # in TFlag, Go >= 1.26

K_BOOL, K_INT, K_INT64, K_UINT, K_UINT64, K_UINTPTR = 1, 2, 6, 7, 11, 12
K_FLOAT32, K_FLOAT64, K_COMPLEX64, K_COMPLEX128 = 13, 14, 15, 16
K_POINTER, K_SLICE, K_STRING, K_STRUCT, K_UNSAFE_POINTER = 22, 23, 24, 25, 26

#: Longest type name read; real ones are < 1 KiB, a corrupt length must not read megabytes.
MAX_NAME = 4096
#: Fields read from one struct type descriptor.
MAX_STRUCT_FIELDS = 4096
#: Longest string value shown (the full length is still reported).
MAX_TEXT = 4096
#: Depth bound for errors that wrap errors (``*fmt.wrapError`` chains, cycles in corrupt data).
MAX_WRAP_DEPTH = 8

_INT_SIZES = {2: 8, 3: 1, 4: 2, 5: 4, 6: 8, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8, 12: 8}

#: runtime/error.go boundsErrorFmts / boundsNegErrorFmts (identical 1.21-1.27); used only when
#: the binary's own ``runtime.boundsErrorFmts`` cannot be read.
_BOUNDS_FMTS = (
    "index out of range [%x] with length %y",
    "slice bounds out of range [:%x] with length %y",
    "slice bounds out of range [:%x] with capacity %y",
    "slice bounds out of range [%x:%y]",
    "slice bounds out of range [::%x] with length %y",
    "slice bounds out of range [::%x] with capacity %y",
    "slice bounds out of range [:%x:%y]",
    "slice bounds out of range [%x:%y:]",
    "cannot convert slice with length %y to array or pointer to array with length %x",
)
_BOUNDS_NEG_FMTS = (
    "index out of range [%x]",
    "slice bounds out of range [:%x]",
    "slice bounds out of range [:%x]",
    "slice bounds out of range [%x:]",
    "slice bounds out of range [::%x]",
    "slice bounds out of range [::%x]",
    "slice bounds out of range [:%x:]",
    "slice bounds out of range [%x::]",
)


def go_float(x: float) -> str:
    """A float as the runtime's print() writes it (printfloat): ``+1.500000e+000``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    mant, exp = f"{x:+.6e}".split("e")
    e = int(exp)
    return f"{mant}e{'+' if e >= 0 else '-'}{abs(e):03d}"


class TypeError_(GomemError):  # named so as not to shadow the builtin TypeError
    """A type word that does not point to a plausible ``abi.Type``."""


@dataclass(frozen=True)
class RType:
    """One decoded ``abi.Type``."""

    addr: int
    name: str  # as Go prints it (``(*_type).string``), e.g. "*errors.errorString"
    kind: int  # reflect.Kind
    size: int
    ptrbytes: int
    tflag: int
    direct: bool  # the value is the interface's data word itself
    gcdata: int = 0
    in_module: bool = True  # lies in moduledata.types..etypes (not a reflect-made type)

    @property
    def kind_name(self) -> str:
        return GO_KIND_NAMES.get(self.kind, f"kind{self.kind}")

    @property
    def named(self) -> bool:
        return bool(self.tflag & TFLAG_NAMED)

    def as_json(self) -> dict[str, Any]:
        return {
            "addr": f"{self.addr:#x}",
            "name": self.name,
            "kind": self.kind_name,
            "size": self.size,
        }


@dataclass
class GoValue:
    """An interface value decoded for people: what Go's panic printer would print, and more.

    ``value`` is a JSON scalar when the value is one (string, number, bool) or the ``Error()``
    text of a recognised error type, else None; ``text`` is the printed form.
    """

    type: str | None  # Go type name; None for a nil interface
    kind: str
    text: str
    value: Any = None
    data: int = 0  # the interface's data word
    type_addr: int = 0
    is_error: bool = False  # value/text is an Error() text gomem computed for a known type
    wraps: list[GoValue] = field(default_factory=list)  # errors wrapped by this one
    note: str | None = None  # what could not be read, or what was inferred

    def as_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.type,
            "kind": self.kind,
            "value": self.value,
            "text": self.text,
            "data": f"{self.data:#x}",
            "type_addr": f"{self.type_addr:#x}" if self.type_addr else None,
            "is_error": self.is_error,
        }
        if self.wraps:
            d["wraps"] = [w.as_json() for w in self.wraps]
        if self.note:
            d["note"] = self.note
        return d


class TypeReader:
    """Decodes type descriptors and interface values of one process (create via :func:`types`)."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.mem = proc.mem
        dw = proc.dw
        self.layout = Layout(
            dw, "internal/abi.Type", ("Size_", "PtrBytes", "TFlag", "Kind_", "GCData", "Str")
        )
        md = proc.global_("runtime.firstmoduledata")
        self.types_lo = md["types"].ptr()
        self.types_hi = md["etypes"].ptr()
        # itab: runtime.itab{inter, _type, ...} up to 1.22, abi.ITab{Inter, Type, ...} after.
        if dw.find("internal/abi.ITab") is not None:
            self.itab_type_off = dw.offset("internal/abi.ITab", "Type")
        else:
            self.itab_type_off = dw.offset("runtime.itab", "_type")
        pt = dw.find("internal/abi.PtrType")
        self.ptr_elem_off = dw.offset("internal/abi.PtrType", "Elem") if pt else 48
        self._cache: dict[int, RType] = {}
        self._bad: dict[int, str] = {}
        self._names: dict[int, str] = {}
        self._bounds_fmts: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    # ------------------------------------------------------------------ descriptors

    def name_at(self, off: int) -> str:
        """The string of an ``abi.Name`` at ``moduledata.types + off`` (resolveNameOff)."""
        if off == 0:
            return ""
        hit = self._names.get(off)
        if hit is not None:
            return hit
        addr = self.types_lo + off
        if not 0 < off < self.types_hi - self.types_lo:
            raise TypeError_(f"name offset {off:#x} is outside the module's type data")
        head = self.mem.read(addr, min(16, self.types_hi - addr))
        n, shift, i = 0, 0, 1
        while True:  # uvarint (encoding/binary), at most 4 bytes for MAX_NAME-sized names
            if i >= len(head) or i > 5:
                raise TypeError_(f"bad name length at {addr:#x}")
            b = head[i]
            n |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
        if n > MAX_NAME:
            raise TypeError_(f"implausible type name length {n} at {addr:#x}")
        s = self.mem.read(addr + i, n).decode("utf-8", "replace") if n else ""
        self._names[off] = s
        return s

    def type_at(self, addr: int) -> RType:
        """The descriptor at ``addr`` (cached); raises for a pointer that is not one."""
        t = self._cache.get(addr)
        if t is not None:
            return t
        bad = self._bad.get(addr)
        if bad is not None:
            raise TypeError_(bad)
        try:
            t = self._decode(addr)
        except (GomemError, IndexError, struct.error) as exc:
            msg = f"{addr:#x} is not a Go type descriptor ({exc})"
            self._bad[addr] = msg
            raise TypeError_(msg) from None
        self._cache[addr] = t
        return t

    def _decode(self, addr: int) -> RType:
        if addr == 0 or addr % 8:
            raise TypeError_("nil or misaligned")
        lay = self.layout
        raw = self.mem.read(addr, lay.size)
        kind_raw = lay.get(raw, "Kind_")
        kind = kind_raw & KIND_MASK
        if not 1 <= kind <= K_UNSAFE_POINTER:
            raise TypeError_(f"kind {kind_raw:#x} out of range")
        tflag = lay.get(raw, "TFlag")
        size = lay.get(raw, "Size_")
        ptrbytes = lay.get(raw, "PtrBytes")
        if ptrbytes > size:
            raise TypeError_(f"PtrBytes {ptrbytes} > Size_ {size}")
        str_off = lay.get(raw, "Str")
        name = self.name_at(str_off) if str_off else ""
        if tflag & TFLAG_EXTRA_STAR and name.startswith("*"):
            name = name[1:]
        direct = bool(kind_raw & KIND_DIRECT_IFACE or tflag & TFLAG_DIRECT_IFACE)
        return RType(
            addr,
            name or f"<{GO_KIND_NAMES.get(kind)}>",
            kind,
            size,
            ptrbytes,
            tflag,
            direct,
            lay.get(raw, "GCData"),
            self.types_lo <= addr < self.types_hi,
        )

    def struct_fields(self, t: RType) -> list[tuple[int, int]]:
        """``(offset, field type descriptor)`` of each field of struct type ``t``
        (``abi.StructType.Fields``), in declaration order; empty when ``t`` is not a struct
        or its field list is implausible."""
        if t.kind != K_STRUCT:
            return []
        dw = self.proc.dw
        fields_off = dw.offset("internal/abi.StructType", "Fields")
        typ_off = dw.offset("internal/abi.StructField", "Typ")
        off_off = dw.offset("internal/abi.StructField", "Offset")
        size = dw.type("internal/abi.StructField").size or 24
        ptr = self.mem.u64(t.addr + fields_off)
        n = self.mem.u64(t.addr + fields_off + 8)
        if not ptr or not 0 < n <= MAX_STRUCT_FIELDS:
            return []
        raw = self.mem.read(ptr, n * size)
        out = []
        for i in range(n):
            b = i * size
            ftyp = int.from_bytes(raw[b + typ_off : b + typ_off + 8], "little")
            foff = int.from_bytes(raw[b + off_off : b + off_off + 8], "little")
            if foff >= max(t.size, 1) and t.size:
                return []
            out.append((foff, ftyp))
        return out

    def elem(self, t: RType) -> RType | None:
        """The element type of a pointer type (``abi.PtrType.Elem``)."""
        if t.kind != K_POINTER:
            return None
        try:
            return self.type_at(self.mem.u64(t.addr + self.ptr_elem_off))
        except (GomemError, UnreadableMemory):
            return None

    def itab_type(self, itab: int) -> RType:
        """The dynamic type of a non-empty interface, from its ``itab``."""
        try:
            taddr = self.mem.u64(itab + self.itab_type_off)
        except UnreadableMemory as exc:
            raise TypeError_(f"itab {itab:#x} unreadable: {exc}") from None
        return self.type_at(taddr)

    # ------------------------------------------------------------------ values

    def read_eface(self, addr: int) -> GoValue:
        """Decode the ``any`` stored at ``addr``."""
        try:
            tw, dw_ = struct.unpack("<QQ", self.mem.read(addr, 16))
        except UnreadableMemory as exc:
            return GoValue(
                None, "unreadable", f"<unreadable interface at {addr:#x}>", note=str(exc)
            )
        return self.decode_eface(tw, dw_)

    def read_iface(self, addr: int) -> GoValue:
        """Decode the non-empty interface (e.g. ``error``) stored at ``addr``."""
        try:
            tab, dw_ = struct.unpack("<QQ", self.mem.read(addr, 16))
        except UnreadableMemory as exc:
            return GoValue(
                None, "unreadable", f"<unreadable interface at {addr:#x}>", note=str(exc)
            )
        return self.decode_iface(tab, dw_)

    def decode_iface(self, tab: int, data: int, depth: int = 0) -> GoValue:
        if tab == 0:
            return GoValue(None, "nil", "nil", data=data)
        try:
            t = self.itab_type(tab)
        except TypeError_ as exc:
            return GoValue(None, "unknown", f"(?) {data:#x}", data=data, note=str(exc))
        return self.decode(t, data, depth)

    def decode_eface(self, type_word: int, data: int, depth: int = 0) -> GoValue:
        if type_word == 0:
            return GoValue(None, "nil", "nil", data=data)
        try:
            t = self.type_at(type_word)
        except TypeError_ as exc:
            return GoValue(
                None, "unknown", f"(?) {data:#x}", data=data, type_addr=type_word, note=str(exc)
            )
        return self.decode(t, data, depth)

    def decode(self, t: RType, data: int, depth: int = 0) -> GoValue:
        """A value of type ``t`` given an interface data word."""
        v = GoValue(t.name, t.kind_name, f"({t.name}) {data:#x}", data=data, type_addr=t.addr)
        try:
            self._fill(v, t, data, depth)
        except (GomemError, UnicodeDecodeError, struct.error, IndexError) as exc:
            v.note = f"value unreadable: {exc}"
        return v

    def _fill(self, v: GoValue, t: RType, data: int, depth: int) -> None:
        known = _KNOWN_ERRORS.get(t.name)
        if known is not None and depth < MAX_WRAP_DEPTH:
            text = known(self, t, data, v, depth)
            if text is not None:
                v.value, v.text, v.is_error = text, text, True
                return
        k = t.kind
        if t.direct:
            # Pointer-shaped: the data word is the value.
            if k in (K_POINTER, K_UNSAFE_POINTER):
                v.value = f"{data:#x}"
            return
        if data == 0:
            v.note = "nil data pointer for an indirect value"
            return
        if k == K_STRING:
            s, n = self._string(data)
            v.value = s
            v.text = s if not t.named or t.name == "string" else f'{t.name}("{s}")'
            if n > MAX_TEXT:
                v.note = f"string of {n} bytes, first {MAX_TEXT} shown"
        elif k in _INT_SIZES:
            size = _INT_SIZES[k]
            signed = k <= K_INT64
            x = self.mem.uint(data, size, signed=signed)
            v.value = x
            v.text = str(x) if not t.named or t.name == t.kind_name else f"{t.name}({x})"
        elif k == K_BOOL:
            b = self.mem.u8(data) != 0
            v.value = b
            v.text = "true" if b else "false"
            if t.named and t.name != "bool":
                v.text = f"{t.name}({v.text})"
        elif k in (K_FLOAT32, K_FLOAT64):
            raw = self.mem.read(data, 4 if k == K_FLOAT32 else 8)
            x = struct.unpack("<f" if k == K_FLOAT32 else "<d", raw)[0]
            v.value = x if math.isfinite(x) else str(x)
            v.text = go_float(x)
            if t.named and t.name != t.kind_name:
                v.text = f"{t.name}({v.text})"
        elif k in (K_COMPLEX64, K_COMPLEX128):
            half = 4 if k == K_COMPLEX64 else 8
            fmt = "<ff" if half == 4 else "<dd"
            re_, im = struct.unpack(fmt, self.mem.read(data, 2 * half))
            v.value = [re_, im] if math.isfinite(re_) and math.isfinite(im) else None
            v.text = f"({go_float(re_)}{go_float(im)}i)"

    def _string(self, addr: int) -> tuple[str, int]:
        """A string header at addr: (text cut at MAX_TEXT, full length)."""
        ptr, n = struct.unpack("<QQ", self.mem.read(addr, 16))
        if n > 1 << 40:
            raise UnreadableMemory(addr, 16, f"corrupt string header (length {n})")
        if n == 0:
            return "", 0
        return self.mem.read(ptr, min(n, MAX_TEXT)).decode("utf-8", "replace"), n

    def _field(self, struct_name: str, name: str, default: int) -> int:
        try:
            return self.proc.dw.offset(struct_name, name)
        except LayoutError:
            return default

    def bounds_fmts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The runtime's own boundsErrorFmts tables, read from the binary (fallback: 1.27's)."""
        if self._bounds_fmts is None:
            try:
                a = self.proc.global_("runtime.boundsErrorFmts")
                b = self.proc.global_("runtime.boundsNegErrorFmts")
                self._bounds_fmts = (
                    tuple(a.index(i).string(256) for i in range(len(a))),
                    tuple(b.index(i).string(256) for i in range(len(b))),
                )
            except (GomemError, IndexError):
                self._bounds_fmts = (_BOUNDS_FMTS, _BOUNDS_NEG_FMTS)
        return self._bounds_fmts


# ---------------------------------------------------------------------- known error types
#
# Each returns the Error() text the method would return (runtime/error.go, errors/errors.go,
# fmt/errors.go, io/fs), or None to fall back to the generic form. ``data`` is the interface
# data word; value types (runtime.errorString ...) are indirect, pointer types direct.


def _err_runtime_string(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    return "runtime error: " + r._string(data)[0]


def _err_plain(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    return r._string(data)[0]


def _err_errors_string(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    return r._string(data + r._field("errors.errorString", "s", 0))[0]


def _err_address_string(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    return "runtime error: " + r._string(data + r._field("runtime.errorAddressString", "msg", 0))[0]


def _err_bounds(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str | None:
    f = r._field
    x = r.mem.uint(data + f("runtime.boundsError", "x", 0), 8, signed=True)
    y = r.mem.uint(data + f("runtime.boundsError", "y", 8), 8, signed=True)
    signed = r.mem.u8(data + f("runtime.boundsError", "signed", 16)) != 0
    code = r.mem.u8(data + f("runtime.boundsError", "code", 17))
    fmts, neg = r.bounds_fmts()
    if code >= len(fmts):
        return None
    fmt = neg[code] if signed and x < 0 and code < len(neg) else fmts[code]
    xs = str(x) if signed else str(x & (1 << 64) - 1)
    return "runtime error: " + fmt.replace("%x", xs).replace("%y", str(y))


def _err_wrap(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    msg = r._string(data + r._field("fmt.wrapError", "msg", 0))[0]
    err_off = r._field("fmt.wrapError", "err", 16)
    tab, dword = struct.unpack("<QQ", r.mem.read(data + err_off, 16))
    if tab:
        v.wraps.append(r.decode_iface(tab, dword, depth + 1))
    return msg


def _err_wraps(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    return r._string(data + r._field("fmt.wrapErrors", "msg", 0))[0]


def _err_path(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    f = r._field
    op = r._string(data + f("io/fs.PathError", "Op", 0))[0]
    path = r._string(data + f("io/fs.PathError", "Path", 16))[0]
    tab, dword = struct.unpack("<QQ", r.mem.read(data + f("io/fs.PathError", "Err", 32), 16))
    inner = r.decode_iface(tab, dword, depth + 1)
    v.wraps.append(inner)
    return f"{op} {path}: {inner.text}"


def _err_panic_nil(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    # runtime/panic.go: the "runtime error: " prefix was added in Go 1.27.
    text = "panic called with nil argument"
    return "runtime error: " + text if r.proc.version[:2] >= (1, 27) else text


def _err_type_assertion(r: TypeReader, t: RType, data: int, v: GoValue, depth: int) -> str:
    f = r._field
    s = "runtime.TypeAssertionError"

    def tname(field: str, default: int) -> str | None:
        p = r.mem.u64(data + f(s, field, default))
        return r.type_at(p).name if p else None

    inter = tname("_interface", 0) or "interface"
    concrete = tname("concrete", 8)
    asserted = tname("asserted", 16) or "?"
    missing = r._string(data + f(s, "missingMethod", 24))[0]
    if concrete is None:
        return f"interface conversion: {inter} is nil, not {asserted}"
    if not missing:
        return f"interface conversion: {inter} is {concrete}, not {asserted}"
    return f"interface conversion: {concrete} is not {asserted}: missing method {missing}"


_KNOWN_ERRORS = {
    "runtime.errorString": _err_runtime_string,
    "runtime.plainError": _err_plain,
    "*errors.errorString": _err_errors_string,
    "runtime.errorAddressString": _err_address_string,
    "runtime.boundsError": _err_bounds,
    "*fmt.wrapError": _err_wrap,
    "*fmt.wrapErrors": _err_wraps,
    "*fs.PathError": _err_path,
    "*runtime.PanicNilError": _err_panic_nil,
    "*runtime.TypeAssertionError": _err_type_assertion,
}


RUNTIME_TYPES: Lazy[TypeReader] = Lazy("runtime types", TypeReader)


def types(proc: GoProcess) -> TypeReader:
    """The process's type reader (one per process, so its caches are shared)."""
    return RUNTIME_TYPES(proc)
