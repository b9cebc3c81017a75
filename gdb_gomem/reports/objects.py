"""The documents of ``gomem histogram``, ``objects`` and ``obj``, built on the type pass
(:mod:`gdb_gomem.heap.types`).

Reachability comes from the heap model (``heap.model.heap_model(proc).live``) when that
module is present; until then ``--live``/``--garbage`` are refused with a clear message and
the default selection is every allocated object.
"""

from __future__ import annotations

import numpy as np

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.heap import native
from gdb_gomem.heap.alloctimes import trace_times
from gdb_gomem.heap.epochs import UNKNOWN, AllocEpochs, alloc_epochs
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.heap.types.table import SRC_INFERRED, HeapTypes
from gdb_gomem.reports.casts import code_location
from gdb_gomem.reports.schema.objects import (
    AllocBoundDoc,
    AllocFrameDoc,
    CountBytes,
    HeapObjectDoc,
    HistogramDoc,
    HistogramRow,
    ObjDoc,
    ObjectRef,
    ObjectRow,
    ObjectsDoc,
    ObjSpanDoc,
    PointeeRef,
    TypedShare,
    ValueDoc,
)
from gdb_gomem.reports.typematch import names_mask
from gdb_gomem.runtime import clock
from gdb_gomem.runtime.clock import time_value
from gdb_gomem.runtime.geometry import span_of
from gdb_gomem.runtime.gomaps import MapError, map_entries, map_header, map_kind, map_len
from gdb_gomem.runtime.memprof import bucket_pcs, object_bucket
from gdb_gomem.runtime.rtype import types
from gdb_gomem.runtime.spans import cached_walk
from gdb_gomem.symbols.gonames import go_name
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

#: Fields and elements shown per level of ``gomem obj``; strings cut at this many bytes.
MAX_FIELDS = 64
MAX_ELEMS = 8
MAX_STR = 256
MAX_STACK = 64


def live_mask(proc: GoProcess, ht: HeapTypes) -> np.ndarray | None:
    """``live[i]`` per object of ``ht`` from the heap model, or None while it does not exist.

    Aligned by address, so the two object tables need not share an order.
    """
    try:
        from gdb_gomem.heap import model as heapmodel
    except ImportError:
        return None
    try:
        model = heapmodel.heap_model(proc)
        live = np.asarray(model.live, dtype=bool)
        addr = np.asarray(model.objects.addr, dtype=np.uint64)
    except (AttributeError, GomemError):
        return None
    if len(addr) == len(ht.addr) and np.array_equal(addr, ht.addr):
        return live.copy()  # one shared object table (the usual case): no search
    j = np.searchsorted(addr, ht.addr)
    ok = j < len(addr)
    out = np.zeros(len(ht.addr), dtype=bool)
    jj = j[ok]
    out[ok] = live[jj] & (addr[jj] == ht.addr[ok])
    return out


def _start_model(proc: GoProcess) -> None:
    """Reachability is built on a second thread while this one types the objects."""
    try:
        from gdb_gomem.heap.model import start_heap_model
    except ImportError:
        return
    start_heap_model(proc)


def _select(proc: GoProcess, ht: HeapTypes, which: str) -> tuple[np.ndarray, list[str]]:
    """The object mask for ``live``/``garbage``/``all`` and the notes saying what it is."""
    notes: list[str] = []
    lm = live_mask(proc, ht)
    if which in ("live", "garbage") and lm is None:
        raise GomemError(
            f"--{which} needs reachability, which is not available yet in this build",
            "use --all (every allocated object, reachable or not)",
        )
    if which == "default":
        if lm is None:
            notes.append(
                "reachability not available yet: showing every allocated object (live and garbage)"
            )
            which = "all"
        else:
            which = "live"
    if which == "all":
        return np.ones(len(ht.addr), dtype=bool), notes
    assert lm is not None
    return (lm if which == "live" else ~lm), notes


def _type_filter(ht: HeapTypes, type_rx: str | None) -> np.ndarray:
    if not type_rx:
        return np.ones(len(ht.addr), dtype=bool)
    ok = names_mask([e.name for e in ht.table], type_rx)
    return ok[ht.type_id] if len(ht.type_id) else np.zeros(0, dtype=bool)


def _typed_doc(ht: HeapTypes, sel: np.ndarray) -> TypedShare:
    tb, ab = ht.typed_fraction(sel)
    return {"bytes": tb, "of": ab, "percent": round(100.0 * tb / ab, 3) if ab else 100.0}


def _histogram_by_type(
    proc: GoProcess,
    ht: HeapTypes,
    sel: np.ndarray,
    size: np.ndarray,
    notes: list[str],
    which: str,
    top: int | None,
) -> HistogramDoc:
    """``--by type``: count and bytes per type-table entry over the selected objects (one
    compiled pass, or two bincounts), then entries of one name merged (typed by different
    sources) over the small table."""
    nt = len(ht.table)
    # Unselected objects count in an extra bucket (nt): no masked copies of 20 million rows.
    # In one compiled pass where available (0.45 s of numpy temporaries on 19 million).
    got = native.histogram(ht.type_id, sel, size, nt)
    if got is not None:
        counts_e, bytes_e = got
    else:
        key = np.where(sel, ht.type_id, nt)
        counts_e = np.bincount(key, minlength=nt + 1)
        bytes_e = np.bincount(key, weights=size, minlength=nt + 1)
    selected = int(counts_e[:nt].sum())
    merged: dict[str, list[int]] = {}
    sources: dict[str, set[str]] = {}
    typed_bytes = 0
    for e in ht.table:
        c, b = int(counts_e[e.id]), round(float(bytes_e[e.id]))
        if e.source != SRC_INFERRED:
            typed_bytes += b
        if not c:
            continue
        row = merged.setdefault(e.name, [0, 0])
        row[0] += c
        row[1] += b
        sources.setdefault(e.name, set()).add(e.source)
    rows: list[HistogramRow] = [
        {"type": k, "count": c, "bytes": b, "source": ", ".join(sorted(sources[k]))}
        for k, (c, b) in merged.items()
    ]
    rows.sort(key=lambda r: (r["bytes"], r["count"], r["type"]))
    all_bytes = int(size.sum() - round(float(bytes_e[nt]))) if len(size) else 0
    shown = rows[-top:] if top else rows
    return {
        "go_version": proc.go_version,
        "selection": which if which != "default" else ("all" if notes else "live"),
        "by": "type",
        "rows": shown,
        "total": {"count": selected, "bytes": all_bytes},
        "rows_total": len(rows),
        "typed": {
            "bytes": typed_bytes,
            "of": all_bytes,
            "percent": round(100.0 * typed_bytes / all_bytes, 3) if all_bytes else 100.0,
        },
        "seconds": round(ht.seconds, 3),
        "errors": ht.errors,
        "notes": notes + ht.notes,
    }


def histogram_doc(
    proc: GoProcess,
    which: str = "default",
    type_rx: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    top: int | None = None,
    by: str = "type",
) -> HistogramDoc:
    """Rows of (key, count, bytes), smallest first so the largest end next to the prompt."""
    if which != "all":
        _start_model(proc)
    ht = heap_types(proc)
    sel, notes = _select(proc, ht, which)
    if type_rx:
        sel &= _type_filter(ht, type_rx)
    size = ht.size.view(np.int64) if ht.size.dtype == np.uint64 else ht.size.astype(np.int64)
    if min_size is not None:
        sel &= size >= min_size
    if max_size is not None:
        sel &= size <= max_size
    if by == "type":
        return _histogram_by_type(proc, ht, sel, size, notes, which, top)
    idx = np.flatnonzero(sel)
    if by not in ("size", "class", "package"):
        raise GomemError(f"unknown --by {by!r}", "use type, size, class or package")
    if by == "size":
        keys = size[idx]
        labels = {int(k): f"{int(k)} B" for k in np.unique(keys)}
    elif by == "class":
        sc = ht.objects.spanclass[idx].astype(np.int64)
        keys = sc
        labels = {int(k): _class_label(int(k), ht, idx, sc) for k in np.unique(keys)}
    elif by == "package":
        pk = sorted({e.package for e in ht.table})
        pos = {n: i for i, n in enumerate(pk)}
        remap = np.array([pos[e.package] for e in ht.table], dtype=np.int64)
        keys = remap[ht.type_id[idx]] if len(idx) else np.zeros(0, np.int64)
        labels = {i: (n or "(builtin, runtime-made and unknown types)") for i, n in enumerate(pk)}
    keys = np.asarray(keys, dtype=np.int64)
    if not len(keys):
        uniq = counts = nbytes = np.zeros(0, np.int64)
    elif by != "size":
        # Small dense keys (table rows, packages, span classes): no sort needed.
        counts = np.bincount(keys)
        nbytes = np.bincount(keys, weights=size[idx])
        uniq = np.flatnonzero(counts)
        counts, nbytes = counts[uniq], nbytes[uniq]
    else:
        uniq, inv = np.unique(keys, return_inverse=True)
        counts = np.bincount(inv, minlength=len(uniq))
        nbytes = np.bincount(inv, weights=size[idx], minlength=len(uniq))
    rows: list[HistogramRow] = []
    for k, c, b in zip(uniq.tolist(), counts.tolist(), nbytes.tolist(), strict=True):
        rows.append({"type": labels[int(k)], "count": int(c), "bytes": int(b)})
    rows.sort(key=lambda r: (r["bytes"], r["count"], r["type"]))
    total: CountBytes = {"count": len(idx), "bytes": int(size[idx].sum())}
    shown = rows[-top:] if top else rows
    selection = which if which != "default" else ("all" if notes else "live")
    return {
        "go_version": proc.go_version,
        "selection": selection,
        "by": by,
        "rows": shown,
        "total": total,
        "rows_total": len(rows),
        "typed": _typed_doc(ht, sel),
        "seconds": round(ht.seconds, 3),
        "errors": ht.errors,
        "notes": notes + ht.notes,
    }


def _class_label(spc: int, ht: HeapTypes, idx: np.ndarray, sc: np.ndarray) -> str:
    cls = spc >> 1
    noscan = " noscan" if spc & 1 else ""
    if cls == 0:
        return f"large{noscan}"
    sizes = ht.size[idx][sc == spc]
    return f"class {cls} ({int(sizes[0])} B){noscan}"


def objects_doc(
    proc: GoProcess, type_rx: str | None, limit: int = 100, which: str = "all"
) -> ObjectsDoc:
    _start_model(proc)
    ht = heap_types(proc)
    sel, notes = _select(proc, ht, which)
    sel &= _type_filter(ht, type_rx)
    idx = np.flatnonzero(sel)
    lm = live_mask(proc, ht)
    out: list[ObjectRow] = []
    for i in idx[:limit].tolist():
        e = ht.entry_of(i)
        d: ObjectRow = {
            "addr": f"{int(ht.addr[i]):#x}",
            "size": int(ht.size[i]),
            "type": e.name,
            "source": e.source,
        }
        if lm is not None:
            d["live"] = bool(lm[i])
        out.append(d)
    return {
        "go_version": proc.go_version,
        "objects": out,
        "count": len(idx),
        "bytes": int(ht.size[idx].astype(np.int64).sum()),
        "shown": len(out),
        "errors": ht.errors,
        "notes": notes,
    }


# ---------------------------------------------------------------------------- obj


class _Decoder:
    """Values for ``gomem obj``: scalars, strings as text, pointers with their object's type."""

    def __init__(self, proc: GoProcess, ht: HeapTypes) -> None:
        self.proc = proc
        self.ht = ht
        self.dw = proc.dw
        self.tr = types(proc)

    def object_ref(self, p: int) -> ObjectRef | None:
        """The heap object ``p`` points into, if any."""
        i = self.ht.objects.find_one(p)
        if i < 0:
            return None
        e = self.ht.entry_of(i)
        base = int(self.ht.addr[i])
        return {"base": f"{base:#x}", "offset": p - base, "type": e.name}

    def pointee(self, p: int) -> PointeeRef:
        d: PointeeRef = {"addr": f"{p:#x}"}
        ref = self.object_ref(p)
        if ref is not None:
            d["object"] = ref
        return d

    def value(self, v: Val, depth: int) -> ValueDoc:
        t = v.type
        dw = self.dw
        d: ValueDoc = {"type": go_name(t.name or t.tag)}
        try:
            if t.tag == "base":
                if t.kind in (13, 14) or (not t.kind and t.encoding == 4):
                    d["value"] = v.float()
                elif t.kind == 1 or t.encoding == 2:
                    d["value"] = v.bool()
                elif t.size in (1, 2, 4, 8):
                    d["value"] = v.int()
                return d
            if t.tag == "ptr":
                p = v.ptr()
                tgt = dw.resolve(t.target) if t.target is not None else None
                if tgt is not None and tgt.tag == "struct" and map_kind(tgt):
                    d["type"] = go_name(tgt.name)
                    if p:
                        hdr = map_header(v)
                        assert hdr is not None
                        d["len"] = map_len(hdr)
                        if depth > 0:
                            d["entries"] = [
                                {"key": self.value(k, depth - 1), "value": self.value(x, depth - 1)}
                                for k, x in map_entries(v, MAX_ELEMS)
                            ]
                if p:
                    d["addr"] = f"{p:#x}"
                    ref = self.object_ref(p)
                    if ref is not None:
                        d["object"] = ref
                else:
                    d["value"] = None
                return d
            if t.tag == "func":
                p = v.ptr()
                d["value"] = f"{p:#x}" if p else None
                if p:
                    try:
                        f = self.proc.pclntab.find_func(self.proc.mem.u64(p))
                        d["func"] = f.name if f is not None else None
                    except (UnreadableMemory, GomemError):
                        pass
                return d
            if t.tag == "array":
                n = t.count or 0
                d["len"] = n
                if depth > 0 and n:
                    d["elems"] = [
                        self.value(v.index(i), depth - 1) for i in range(min(n, MAX_ELEMS))
                    ]
                return d
            if t.tag != "struct":
                return d
            names = [f.name for f in t.fields]
            if t.kind == 24 or names == ["str", "len"]:
                p, n = v["str"].ptr(), v["len"].int()
                d["len"] = n
                if 0 < n < 1 << 40:
                    raw = self.proc.mem.read(p, min(n, MAX_STR))
                    d["value"] = raw.decode("utf-8", "replace")
                    d["data"] = self.pointee(p)
                else:
                    d["value"] = ""
                return d
            if t.kind == 23 or names == ["array", "len", "cap"]:
                p, n, c = v.slice_header()
                d["len"] = n
                d["cap"] = c
                d["array"] = self.pointee(p) if p else None
                if depth > 0 and p and 0 <= n <= c:
                    d["elems"] = [self.value(x, depth - 1) for x in v.slice_items(MAX_ELEMS)]
                return d
            if names in (["_type", "data"], ["tab", "data"]):
                gv = (
                    self.tr.read_eface(v.addr)
                    if names[0] == "_type"
                    else self.tr.read_iface(v.addr)
                )
                d["dynamic_type"] = gv.type
                d["value"] = gv.text
                if gv.data and gv.type is not None:
                    d["data"] = self.pointee(gv.data)
                return d
            if t.name == "time.Time" and names[:2] == ["wall", "ext"]:
                unix, mono = time_value(v["wall"].int(), v["ext"].int())
                d["value"] = unix_ns_to_iso(unix) if 0 < unix < 1 << 62 else f"{unix} ns"
                if mono is not None:
                    d["value"] += f" (monotonic +{mono / 1e9:.6f} s)"
            if depth <= 0:
                return d
            d["fields"] = [
                {
                    "name": f.name,
                    "offset": f.offset,
                    **self.value(Val(v.mem, dw, v.addr + f.offset, dw.types[f.type]), depth - 1),
                }
                for f in t.fields[:MAX_FIELDS]
            ]
        except (UnreadableMemory, LayoutError, MapError, GomemError, IndexError) as exc:
            d["error"] = str(exc)
        return d


def _alloc_stack(
    proc: GoProcess, span_base: int, specials: int, offset: int, size: int = 1
) -> list[AllocFrameDoc] | None:
    """The sampled allocation stack of the object at span offset ``offset``: its
    ``specialprofile`` (anywhere in its ``size`` bytes: past a malloc header, at a value in a
    tiny block) -> ``bucket`` -> PCs (:mod:`gdb_gomem.runtime.memprof`)."""
    b = object_bucket(proc, specials, offset, offset + max(size, 1))
    if b is None:
        return None
    pcs = bucket_pcs(proc, b, MAX_STACK)
    return None if pcs is None else stack_frames(proc, pcs)


def stack_frames(proc: GoProcess, pcs: list[int]) -> list[AllocFrameDoc]:
    """Frames of a profile stack (return addresses: each is looked up at ``pc - 1``)."""
    out: list[AllocFrameDoc] = []
    for pc in pcs:
        where = code_location(proc, pc - 1 if pc else pc)
        out.append({"pc": f"{pc:#x}", **where} if where else {"pc": f"{pc:#x}"})
    return out


# ---------------------------------------------------------------------------- allocation bound

#: ``AllocBoundDoc.source`` of a bound proven by GC epochs (:mod:`gdb_gomem.heap.epochs`).
SOURCE_GC_EPOCH = "gc-epoch"


def crash_end(ct: clock.CrashTime) -> int | None:
    """The latest the crash can have been: its upper bound if known, else the estimate."""
    return ct.hi_unix_ns or ct.unix_ns


def bound_doc(ep: AllocEpochs, i: int, end: int | None) -> AllocBoundDoc:
    """The allocation bound of object ``i`` of the epochs' object table; ``end`` stands for
    "before the crash" (:func:`crash_end`)."""
    a, b = int(ep.after_cycle[i]), int(ep.before_cycle[i])
    return {
        "after_unix_ns": ep.cycle_end(a) if a != UNKNOWN else None,
        "before_unix_ns": ep.cycle_end(b) if b != UNKNOWN else end,
        "source": SOURCE_GC_EPOCH,
        "after_gc": a if a != UNKNOWN else None,
        "before_gc": b if b != UNKNOWN else None,
    }


SOURCE_TRACE = "trace"
SOURCE_TRACE_END = "trace-end"


def trace_bound(t: int) -> AllocBoundDoc:
    return {"after_unix_ns": t, "before_unix_ns": t, "source": SOURCE_TRACE}


def trace_end_bound(doc: AllocBoundDoc, end_ns: int) -> AllocBoundDoc:
    """An epoch bound raised to the trace's last event (allocated after it: no event)."""
    a = doc["after_unix_ns"]
    out: AllocBoundDoc = {
        "after_unix_ns": end_ns if a is None else max(a, end_ns),
        "before_unix_ns": doc["before_unix_ns"],
        "source": SOURCE_TRACE_END,
    }
    return out


def object_bound(proc: GoProcess, addr: int) -> AllocBoundDoc | None:
    """The allocation bound of the object starting at ``addr``; None if no object does."""
    ep = alloc_epochs(proc)
    i = ep.objects.find_one(addr)
    if i < 0 or int(ep.objects.addr[i]) != addr:
        return None
    doc = bound_doc(ep, i, crash_end(clock.crash_time(proc)))
    tr = trace_times(proc)
    if tr.unix_ns[i] > 0:
        doc = trace_bound(int(tr.unix_ns[i]))
        if tr.goroutine[i] >= 0:
            doc["goroutine"] = int(tr.goroutine[i])
    elif tr.after_end[i]:
        doc = trace_end_bound(doc, tr.end_unix_ns)
    return doc


def obj_doc(proc: GoProcess, addr: int, depth: int = 2) -> ObjDoc:
    ht = heap_types(proc)
    look = span_of(proc, addr)
    notes = list(look.notes)
    s = look.span
    span: ObjSpanDoc | None = None
    if s is not None and look.in_span:
        span = {
            "base": f"{s.base:#x}",
            "end": f"{s.end:#x}",
            "mspan": f"{s.addr:#x}",
            "sizeclass": s.sizeclass,
            "noscan": s.noscan,
            "elemsize": s.elemsize,
            "kind": s.kind,
        }
    obj = _heap_object(proc, ht, addr, look.allocated, look.marked, depth, notes)
    if span is None:
        return {
            "go_version": proc.go_version,
            "addr": f"{addr:#x}",
            "errors": [],
            "notes": notes,
            "object": obj,
        }
    return {
        "go_version": proc.go_version,
        "addr": f"{addr:#x}",
        "errors": [],
        "notes": notes,
        "span": span,
        "object": obj,
    }


def _heap_object(
    proc: GoProcess,
    ht: HeapTypes,
    addr: int,
    allocated: bool | None,
    marked: bool | None,
    depth: int,
    notes: list[str],
) -> HeapObjectDoc | None:
    """The object holding ``addr``, typed and decoded ``depth`` levels deep; None (and a note
    for a free slot) when no allocated object holds it."""
    i = ht.objects.find_one(addr)
    if i < 0:
        if allocated is False:
            notes.append("a free slot: no object is allocated there")
        return None
    e = ht.entry_of(i)
    base = int(ht.addr[i])
    off = int(ht.data_off[i]) if len(ht.data_off) else 0
    lm = live_mask(proc, ht)
    obj: HeapObjectDoc = {
        "base": f"{base:#x}",
        "size": int(ht.size[i]),
        "offset": addr - base,
        "type": e.name,
        "source": e.source,
        "count": e.count,
        "data_offset": off,
        "marked": marked,
        "live": bool(lm[i]) if lm is not None else None,
    }
    if e.source == SRC_INFERRED:
        notes.append(
            "no type source reached this object; the name is its size and pointer-mask signature"
        )
    if e.dwarf is not None:
        dec = _Decoder(proc, ht)
        t = proc.dw.types[e.dwarf]
        v = Val(proc.mem, proc.dw, base + off, t)
        if e.count > 1:
            es = v.type.size
            obj["elems"] = [
                dec.value(v.at(base + off + k * es), depth) for k in range(min(e.count, MAX_ELEMS))
            ]
        else:
            obj["value"] = dec.value(v, depth)
    elif e.name == "string data" or e.name.startswith("<unknown"):
        raw = proc.mem.read(base, min(int(ht.size[i]), 64))
        obj["bytes"] = raw.hex()
        if e.name == "string data":
            obj["text"] = raw.decode("utf-8", "replace")
    span = cached_walk(proc).find(base)
    if span is not None:
        obj["alloc_stack"] = _alloc_stack(
            proc, span.base, span.specials, base - span.base, int(ht.size[i])
        )
    bound = object_bound(proc, base)
    if bound is not None:
        obj["allocated"] = bound
    return obj
