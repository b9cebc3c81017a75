"""GC roots, each with a readable name (``runtime/mgcmark.go`` ``markroot``, Go 1.21-1.27).

- **global**: words of the data and bss segments whose bit is set in
  ``firstmoduledata.gcdatamask``/``gcbssmask`` (one bit per word from ``data``/``bss``), named
  by the DWARF global that covers the word (``main.cache``; ``+0x10`` when not at its start).
- **stack**: per goroutine, per physical frame, the locals and args pointer maps
  (``FUNCDATA_LocalsPointerMaps``/``ArgsPointerMaps`` indexed by ``PCDATA_StackMapIndex`` at
  the call, ``stkframe.getStackMap``; locals end at ``varp``, args start at ``argp`` = fp)
  plus the pointer words of the frame's stack objects (``FUNCDATA_StackObjects``; the runtime
  scans those only when a pointer reaches them: taking them all is a slight over-approximation).
  DWARF locals are not read yet: a stack root is named ``function+0xOFF`` (OFF from the
  frame's SP), with the goroutine id.
- **finalizer** / **cleanup** / **weak**: ``mspan.specials`` (kind numbers from DWARF
  constants: they moved in 1.23 with the weak handle and in 1.26 with tiny-block specials;
  ``special.offset`` widened from uint16 to uintptr in 1.24). The object of a finalizer is
  kept (the runtime scans what it points to and resurrects it when queued); its ``fn`` too.
  A cleanup keeps its function value (and in 1.26 its argument), not the object. A weak
  handle keeps the handle cell, not the object.
- **runtime**: ``finq`` (queued finalizers: fn and arg).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.heap.objects import ObjectTable, object_table
from gdb_gomem.symbols.fieldpath import field_path
from gdb_gomem.symbols.pclntab import (
    FUNCDATA_ARGS_POINTER_MAPS,
    FUNCDATA_LOCALS_POINTER_MAPS,
    FUNCDATA_STACK_OBJECTS,
    PCDATA_STACKMAP_INDEX,
    PclntabError,
)
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

#: Bounds on lengths read from memory.
MAX_SPECIALS_PER_SPAN = 1 << 16
MAX_FINBLOCKS = 1 << 16
MAX_STACK_OBJECTS = 1 << 12
MAX_STACK_BYTES = 1 << 30
#: Stack addresses a goroutine's live words point at, kept per goroutine (closure candidates).
MAX_STACK_POINTEES = 1 << 12


@dataclass
class RootTable:
    """Roots as parallel arrays/lists: ``kind``, ``name``, ``goid`` (None outside stacks),
    ``holder`` (address of the pointer), ``value`` (the pointer), ``obj`` (object index or -1)."""

    kind: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    goid: list[int | None] = field(default_factory=list)
    holder: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    value: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    obj: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    errors: list[str] = field(default_factory=list)
    #: (address, DWARF type) of live pointer words on stacks (the frame's stack map says so,
    #: or a reached stack object's pointer map) that start a pointer, slice, string or
    #: interface: a variable, or a field or element of one, or of an unnamed stack object's
    #: one fitting type. Where the type pass may start, as from a global.
    typed_slots: list[tuple[int, int]] = field(default_factory=list)
    #: Addresses inside a goroutine's own stack that a live stack word points at: where a
    #: stack-allocated closure (a defer's, a func value passed down) may start, with the exact
    #: size of the frame's stack object that starts there (0: none does) and the offsets of
    #: its pointer words (its stack-object pointer map). The type pass keeps those whose
    #: first word enters a closure function and types what they captured.
    stack_pointees: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.kind)

    def row(self, i: int) -> dict[str, object]:
        return {
            "kind": self.kind[i],
            "name": self.name[i],
            "goid": self.goid[i],
            "holder": int(self.holder[i]),
            "value": int(self.value[i]),
            "obj": int(self.obj[i]),
        }

    def of_object(self, o: int) -> list[int]:
        """Root rows that point (directly) into object ``o``."""
        return np.flatnonzero(self.obj == o).tolist()


class _Acc:
    """Collects roots as numpy chunks with their labels."""

    def __init__(self) -> None:
        self.kind: list[str] = []
        self.name: list[str] = []
        self.goid: list[int | None] = []
        self.holder: list[np.ndarray] = []
        self.value: list[np.ndarray] = []
        self.typed_slots: list[tuple[int, int]] = []
        self.stack_pointees: list[tuple[int, int, tuple[int, ...]]] = []

    def add(
        self, kind: str, names: list[str], goid: int | None, holder: np.ndarray, value: np.ndarray
    ) -> None:
        nz = value != 0
        if not nz.all():
            holder, value = holder[nz], value[nz]
            names = [n for n, k in zip(names, nz.tolist(), strict=True) if k]
        assert len(names) == len(holder) == len(value)
        self.kind.extend([kind] * len(names))
        self.name.extend(names)
        self.goid.extend([goid] * len(names))
        self.holder.append(holder.astype(np.uint64))
        self.value.append(value.astype(np.uint64))


def _bitvector_words(mem_read: bytes, nbits: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(mem_read, np.uint8), bitorder="little")[:nbits]
    return np.flatnonzero(bits).astype(np.int64)


# ---------------------------------------------------------------------------- globals


def _global_roots(proc: GoProcess, acc: _Acc, errors: list[str]) -> None:
    md = proc.global_("runtime.firstmoduledata")
    gl = sorted(
        (
            (v.addr, proc.dw.resolve(v.type).size or 8, n)
            for n, v in proc.dw.globals.items()
            if v.addr
        ),
        key=lambda t: t[0],
    )
    gaddr = np.array([a for a, _s, _n in gl], dtype=np.int64)
    for seg, lo_f, hi_f, mask_f in (
        ("data", "data", "edata", "gcdatamask"),
        ("bss", "bss", "ebss", "gcbssmask"),
    ):
        try:
            lo, hi = md[lo_f].ptr(), md[hi_f].ptr()
            nbits = md[mask_f]["n"].int()
            bytedata = md[mask_f]["bytedata"].ptr()
            nwords = (hi - lo) // 8
            if not 0 <= nbits <= nwords + 64 or nwords > 1 << 30:
                errors.append(f"{mask_f}: implausible length {nbits} for {nwords} words")
                continue
            words = _bitvector_words(proc.mem.read(bytedata, (nbits + 7) // 8), nbits)
            words = words[words < nwords]
            raw = np.frombuffer(proc.mem.read(lo, nwords * 8), dtype=np.uint64)
        except (UnreadableMemory, GomemError) as exc:
            errors.append(f"{seg} segment roots unreadable: {exc}")
            continue
        holder = lo + words * 8
        value = raw[words]
        nz = value != 0
        holder, value = holder[nz], value[nz]
        j = np.searchsorted(gaddr, holder, side="right") - 1
        names = []
        for h, k in zip(holder.tolist(), j.tolist(), strict=True):
            if k >= 0 and h < gl[k][0] + gl[k][1]:
                off = h - gl[k][0]
                names.append(gl[k][2] if off == 0 else f"{gl[k][2]}+{off:#x}")
            else:
                names.append(f"{seg}+{h - lo:#x}")
        acc.add("global", names, None, holder.astype(np.uint64), value)


# ---------------------------------------------------------------------------- stacks


#: A frame's stack object: its base address, size, and the addresses of its pointer words.
_StackObj = tuple[int, int, np.ndarray]


def _stack_roots(proc: GoProcess, acc: _Acc, errors: list[str]) -> None:
    from gdb_gomem.goroutines.allgs import goroutines
    from gdb_gomem.goroutines.defers import defer_reader
    from gdb_gomem.goroutines.framevars import frame_vars, seed_at
    from gdb_gomem.goroutines.stackobjects import frame_varp
    from gdb_gomem.goroutines.unwind import goroutine_backtrace

    tab = proc.pclntab
    mem = proc.mem
    stack_objects = defer_reader(proc).stack
    fvars = frame_vars(proc)

    autos: dict[tuple[str, int, int], int | None] = {}

    def frame_word(
        func: str, pc: int, sp: int, fp: int, x: int, fobjs: list[_StackObj]
    ) -> tuple[str, int | None]:
        """A live stack word's root name, ``function:variable`` from the DWARF locals, else
        ``function+0xOFF`` (from SP), and the DWARF type it seeds the type pass with.

        A word inside a stack object no DWARF variable covers (``p := &T{}`` kept on the
        stack: the compiler names it only ``autotmp``) takes the one ``*T`` of the function
        that fits the object's size and pointer map exactly
        (:meth:`~gdb_gomem.goroutines.framevars.FrameVars.autotmp_type`)."""
        got = fvars.slot_at(func, pc - 1, fp, x)
        if got is not None:
            slot, inner = got
            tid = seed_at(proc.dw, slot.type_id, inner) if slot.type_id is not None else None
            return f"{func}:{fvars.var_name(slot, inner)}", tid
        for b, size, ptrs in fobjs:
            if not b <= x < b + size:
                continue
            key = (func, pc, b - fp)
            if key not in autos:
                bare = fvars.slot_at(func, pc - 1, fp, b) is None
                autos[key] = (
                    fvars.autotmp_type(func, size, tuple((ptrs - b).tolist())) if bare else None
                )
            t = autos[key]
            if t is not None:
                sub = field_path(proc.dw, proc.dw.types[t], x - b)
                return f"{func}:autotmp({proc.dw.resolve(t).name}){sub}", seed_at(proc.dw, t, x - b)
            break
        return f"{func}+{x - sp:#x}", None

    closures: dict[int, str | None] = {}

    def closure_func(word: int) -> str | None:
        """The closure function whose entry ``word`` is, when it captured variables: a stack
        object starting with it is that closure (an open-coded defer's, a func value's)."""
        if word not in closures:
            try:
                f = tab.find_func(word) if word else None
            except (PclntabError, GomemError):
                f = None
            ok = f is not None and f.entry == word and bool(fvars.captured(f.name))
            closures[word] = f.name if ok and f is not None else None
        return closures[word]

    maps: dict[int, tuple[int, int, int] | None] = {}

    def stackmap(p: int | None) -> tuple[int, int, int] | None:
        if not p:
            return None
        if p not in maps:
            try:
                raw = mem.read(p, 8)
                n = int.from_bytes(raw[:4], "little", signed=True)
                nbit = int.from_bytes(raw[4:8], "little", signed=True)
                maps[p] = (n, nbit, p + 8) if n > 0 and 0 <= nbit < 1 << 24 else None
            except UnreadableMemory:
                maps[p] = None
        return maps[p]

    for g in goroutines(proc).all:
        if g.dead:
            continue
        lo, hi = g.stack_lo, g.stack_hi
        if not 0 < hi - lo <= MAX_STACK_BYTES:
            continue
        try:
            stack = np.frombuffer(mem.read(lo, hi - lo), dtype=np.uint64)
        except UnreadableMemory as exc:
            errors.append(f"goroutine {g.goid}: stack unreadable ({exc})")
            continue
        bt = goroutine_backtrace(proc, g)
        holders: list[np.ndarray] = []
        names: list[str] = []
        # Stack objects: each with its frame's name, sp, fp and pc, and all of that frame's.
        sobjs: list[tuple[int, int, np.ndarray, str, int, int, int, list[_StackObj]]] = []
        for fr in bt.frames:
            if fr.inlined:
                continue
            try:
                f = tab.find_func(fr.pc)
                if f is None:
                    continue
                target = fr.pc
                idx = -1
                if target != f.entry:
                    idx = tab.pcdata(f, PCDATA_STACKMAP_INDEX, target - 1)
                idx = max(idx, 0)
                varp = frame_varp(fr)
                found: list[np.ndarray] = []
                fobjs: list[_StackObj] = []
                lm = stackmap(tab.funcdata(f, FUNCDATA_LOCALS_POINTER_MAPS))
                if varp > fr.sp and lm is not None and lm[1] > 0 and idx < lm[0]:
                    _n, nbit, bd = lm
                    bv = mem.read(bd + idx * ((nbit + 7) // 8), (nbit + 7) // 8)
                    found.append(varp - nbit * 8 + _bitvector_words(bv, nbit) * 8)
                am = stackmap(tab.funcdata(f, FUNCDATA_ARGS_POINTER_MAPS))
                if am is not None and am[1] > 0 and idx < am[0]:
                    _n, nbit, bd = am
                    bv = mem.read(bd + idx * ((nbit + 7) // 8), (nbit + 7) // 8)
                    found.append(fr.fp + _bitvector_words(bv, nbit) * 8)
                if tab.funcdata(f, FUNCDATA_STACK_OBJECTS):
                    for off, size, ptrbytes, gcdata in stack_objects.records(f)[:MAX_STACK_OBJECTS]:
                        if ptrbytes <= 0 or not gcdata:
                            continue
                        base = (varp + off) if off < 0 else (fr.fp + off)
                        nw = min(ptrbytes, size) // 8
                        bv = mem.read(gcdata, (nw + 7) // 8)
                        ptrs = base + _bitvector_words(bv, nw) * 8
                        fobjs.append((base, size, ptrs))
                        sobjs.append((base, size, ptrs, fr.func, fr.sp, fr.fp, fr.pc, fobjs))
            except (UnreadableMemory, PclntabError, GomemError) as exc:
                errors.append(f"goroutine {g.goid} frame {fr.func}: {exc}")
                continue
            if not found:
                continue
            h = np.unique(np.concatenate(found))
            h = h[(h >= lo) & (h + 8 <= hi)]
            holders.append(h)
            for x in h.tolist():
                name, tid = frame_word(fr.func, fr.pc, fr.sp, fr.fp, int(x), fobjs)
                names.append(name)
                if tid is not None:
                    acc.typed_slots.append((int(x), tid))
        # As the runtime does (scanstack + scanframeworker): a stack object is scanned only
        # when a live pointer reaches it; a dead one may hold stale pointers to freed memory.
        pending = list(range(len(sobjs)))
        vals = np.concatenate(holders) if holders else np.zeros(0, np.int64)
        vals = stack[(vals - lo) // 8].astype(np.int64) if len(vals) else vals
        for _ in range(len(sobjs) + 1):
            reached = [
                k
                for k in pending
                if ((vals >= sobjs[k][0]) & (vals < sobjs[k][0] + sobjs[k][1])).any()
            ]
            if not reached:
                break
            new: list[np.ndarray] = []
            for k in reached:
                pending.remove(k)
                _b, _s, h, fname, fsp, ffp, fpc, fobjs = sobjs[k]
                h = h[(h >= lo) & (h + 8 <= hi)]
                holders.append(h)
                new.append(h)
                # The runtime scans a reached stack object whole, by its pointer map, so each
                # of its pointer words types what it points to, as a live local's does.
                fn = closure_func(int(stack[(_b - lo) // 8])) if lo <= _b < hi else None
                for x in h.tolist():
                    cap = fvars.captured_path(fn, int(x) - _b, _s, True) if fn else None
                    if cap:
                        names.append(f"{fname}:closure({fn}){cap}")
                        continue
                    name, tid = frame_word(fname, fpc, fsp, ffp, int(x), fobjs)
                    names.append(name)
                    if tid is not None and fn is None:
                        acc.typed_slots.append((int(x), tid))
            nh = np.concatenate(new)
            vals = stack[(nh - lo) // 8].astype(np.int64) if len(nh) else vals[:0]
        if not holders:
            continue
        h = np.concatenate(holders)
        v = stack[(h - lo) // 8]
        inner = np.unique(v[(v >= lo) & (v < hi) & (v % 8 == 0)])
        objs_at = {b: (sz, ptrs) for b, sz, ptrs, *_ in sobjs}
        for a in inner.tolist()[:MAX_STACK_POINTEES]:
            got = objs_at.get(int(a))
            sz, offs = (got[0], tuple((got[1] - a).tolist())) if got is not None else (0, ())
            acc.stack_pointees.append((int(a), sz, offs))
        acc.add("stack", names, g.goid, h.astype(np.uint64), v)


# ---------------------------------------------------------------------------- specials


def _special_roots(proc: GoProcess, objs: ObjectTable, acc: _Acc, errors: list[str]) -> None:
    dw = proc.dw
    c = dw.constants
    k_fin = c.get("runtime._KindSpecialFinalizer")
    k_weak = c.get("runtime._KindSpecialWeakHandle")
    k_clean = c.get("runtime._KindSpecialCleanup")
    sl = Layout(dw, "runtime.special", ("next", "offset", "kind"))
    fin_fn = dw.offset("runtime.specialfinalizer", "fn")
    weak_h = dw.offset("runtime.specialWeakHandle", "handle") if k_weak is not None else 0
    clean_lo = clean_hi = 0
    if k_clean is not None:
        t = dw.resolve(dw.type("runtime.specialCleanup").id)
        fl = [f for f in t.fields if f.name in ("fn", "cleanup")]
        if fl:
            clean_lo = fl[0].offset
            clean_hi = clean_lo + (dw.resolve(fl[0].type).size or 8)
    for s in objs.walk.in_use():
        p = s.specials
        for _ in range(MAX_SPECIALS_PER_SPAN):
            if not p:
                break
            try:
                raw = proc.mem.read(p, sl.size)
                kind = sl.get(raw, "kind")
                off = sl.get(raw, "offset")
                obj = s.base + off
                if kind == k_fin:
                    fn = proc.mem.u64(p + fin_fn)
                    acc.add(
                        "finalizer",
                        [f"finalizer of {obj:#x}", f"finalizer fn of {obj:#x}"],
                        None,
                        np.array([p, p + fin_fn], np.uint64),
                        np.array([obj, fn], np.uint64),
                    )
                elif kind == k_clean and clean_hi > clean_lo:
                    vals = np.frombuffer(
                        proc.mem.read(p + clean_lo, clean_hi - clean_lo), np.uint64
                    )
                    acc.add(
                        "cleanup",
                        [f"cleanup of {obj:#x}"] * len(vals),
                        None,
                        p + clean_lo + np.arange(len(vals), dtype=np.uint64) * 8,
                        vals.copy(),
                    )
                elif kind == k_weak:
                    h = proc.mem.u64(p + weak_h)
                    acc.add(
                        "weak",
                        [f"weak handle of {obj:#x}"],
                        None,
                        np.array([p + weak_h], np.uint64),
                        np.array([h], np.uint64),
                    )
                p = sl.get(raw, "next")
            except UnreadableMemory as exc:
                errors.append(f"span {s.base:#x}: special {p:#x} unreadable ({exc})")
                break


def _runtime_roots(proc: GoProcess, acc: _Acc, errors: list[str]) -> None:
    """Queued finalizers (``finq``): fn and arg of each pending call."""
    if "runtime.finq" not in proc.dw.globals:
        return
    try:
        # finblock became finBlock in 1.25 (mfinal.go), same fields.
        fbn = "runtime.finblock" if proc.dw.find("runtime.finblock") else "runtime.finBlock"
        fb = Layout(proc.dw, fbn, ("next", "cnt"))
        fin_off = proc.dw.offset(fbn, "fin")
        fsize = proc.dw.size("runtime.finalizer")
        arg_off = proc.dw.offset("runtime.finalizer", "arg")
        fn_off = proc.dw.offset("runtime.finalizer", "fn")
        p = proc.global_("runtime.finq").ptr()
        for _ in range(MAX_FINBLOCKS):
            if not p:
                break
            raw = proc.mem.read(p, fb.size)
            cnt = min(max(fb.get(raw, "cnt"), 0), (fb.size - fin_off) // fsize)
            for i in range(cnt):
                e = p + fin_off + i * fsize
                acc.add(
                    "runtime",
                    ["finq fn", "finq arg"],
                    None,
                    np.array([e + fn_off, e + arg_off], np.uint64),
                    np.array([proc.mem.u64(e + fn_off), proc.mem.u64(e + arg_off)], np.uint64),
                )
            p = fb.get(raw, "next")
    except (UnreadableMemory, GomemError) as exc:
        errors.append(f"finq unreadable: {exc}")


def build_roots(proc: GoProcess, objs: ObjectTable) -> RootTable:
    """All roots, resolved to objects (interior pointers count)."""
    acc = _Acc()
    errors: list[str] = []
    for step in (
        lambda: _global_roots(proc, acc, errors),
        lambda: _stack_roots(proc, acc, errors),
        lambda: _special_roots(proc, objs, acc, errors),
        lambda: _runtime_roots(proc, acc, errors),
    ):
        try:
            step()
        except (UnreadableMemory, GomemError, PclntabError) as exc:
            errors.append(str(exc))
    holder = np.concatenate(acc.holder) if acc.holder else np.zeros(0, np.uint64)
    value = np.concatenate(acc.value) if acc.value else np.zeros(0, np.uint64)
    return RootTable(
        kind=acc.kind,
        name=acc.name,
        goid=acc.goid,
        holder=holder,
        value=value,
        obj=objs.find(value),
        errors=errors,
        typed_slots=acc.typed_slots,
        stack_pointees=acc.stack_pointees,
    )


#: The roots of this process snapshot, built once (the heap model and the type pass share it).
ROOTS: Lazy[RootTable] = Lazy(
    "roots", lambda proc: build_roots(proc, object_table(proc)), phase=True
)
