"""What keeps memory alive: root paths, the dominator tree, retained sizes, leak suspects.

Built on the heap model (objects, roots, the pointer graph, the live mask) and the object
types. Shapes follow tools people know: SOS ``gcroot`` for paths (one step per line, the field
taken), Eclipse MAT for the dominator tree (shallow vs retained size) and its leak-suspects
report (a dominator holding 10% or more of the live heap; many same-type objects under one
root), plus the Go-specific suspects: big maps, short slices pinning large arrays, goroutine
groups blocked in one place, tickers never stopped, finalizer queues.

Analysis only: the results are dataclasses with addresses as integers and objects as model
indices; the documents of ``gomem path``, ``top`` and ``suspects`` are built from them in
:mod:`gdb_gomem.reports.retention`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdb_gomem.base.errors import GomemError, UnreadableMemory
from gdb_gomem.goroutines.framevars import frame_vars
from gdb_gomem.heap import native
from gdb_gomem.heap.graphalgo import dominator_tops, dominators, retained_sizes, shortest_root_path
from gdb_gomem.heap.model import HeapModel, heap_model, start_heap_model
from gdb_gomem.heap.objects import as_int64, object_table
from gdb_gomem.symbols.fieldpath import field_path, resolve_path
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

#: Which root to name when several hold the same object: the most telling first.
ROOT_PREFERENCE = {"global": 0, "stack": 1, "finalizer": 2, "cleanup": 3, "weak": 4, "runtime": 5}
SUSPECT_SHARE = 0.10
MANY_OBJECTS = 1000
#: The many-objects grouping counts in dense (root-held object, type) bins while there are at
#: most this many bins per object (memory like a per-object column), else by sorting keys.
DENSE_BINS_PER_OBJECT = 1
BIG_MAP_ENTRIES = 1000
PIN_RATIO = 16  # a slice using 1/16 or less of its backing array pins the rest
GOROUTINE_GROUP = 10


# --------------------------------------------------------------------------- types by object


@dataclass
class ObjectTypes:
    """Type name, DWARF type and data offset per model object (aligned by address)."""

    names: list[str]
    type_id: np.ndarray  # index into names-table entries, -1 when untyped
    entries: list[Any]
    data_off: np.ndarray

    def name(self, i: int) -> str:
        t = int(self.type_id[i])
        return self.entries[t].name if t >= 0 else "<untyped>"


def _build_object_types(proc: GoProcess) -> ObjectTypes:
    from gdb_gomem.heap.types.infer import heap_types

    model = heap_model(proc)
    ht = heap_types(proc)
    addr = np.asarray(model.objects.addr)
    if ht.addr is addr or (len(ht.addr) == len(addr) and np.array_equal(ht.addr, addr)):
        # One shared object table (the usual case): the type pass's arrays as they are.
        doff = ht.data_off if len(ht.data_off) else np.zeros(len(addr), np.int32)
        return ObjectTypes([e.name for e in ht.table], ht.type_id, ht.table, doff)
    idx = np.searchsorted(np.asarray(ht.addr), addr)
    idx = np.minimum(idx, max(len(ht.addr) - 1, 0))
    same = np.asarray(ht.addr)[idx] == addr if len(ht.addr) else np.zeros(len(addr), bool)
    tid = np.where(same, np.asarray(ht.type_id)[idx], -1)
    doff = np.asarray(ht.data_off) if len(ht.data_off) else np.zeros(len(ht.addr), np.int64)
    data_off = np.where(same, doff[idx] if len(doff) else 0, 0)
    return ObjectTypes([e.name for e in ht.table], tid, ht.table, data_off)


OBJECT_TYPES: Lazy[ObjectTypes] = Lazy("object types", _build_object_types)


def object_types(proc: GoProcess, model: HeapModel) -> ObjectTypes:
    """Types aligned with ``model``'s objects (``model`` is this process's heap model)."""
    return OBJECT_TYPES(proc)


def _via(proc: GoProcess, types: ObjectTypes, src: int, offset: int) -> str:
    """The field, element or slot of object ``src`` at ``offset`` (SOS-style step label)."""
    t = int(types.type_id[src])
    off = offset - int(types.data_off[src])
    if t < 0:
        return f"+{offset}"
    e = types.entries[t]
    dwarf_id = getattr(e, "dwarf", None)
    if dwarf_id is None or dwarf_id not in proc.dw.types:
        name = getattr(e, "name", "")
        if name.startswith("closure "):
            size = int(object_table(proc).size[src])
            got = frame_vars(proc).captured_path(name[len("closure ") :], off, size)
            if got is not None:
                return got
        return f"+{offset}"
    dt = proc.dw.resolve(dwarf_id)
    count = getattr(e, "count", 1) or 1
    if count > 1 and dt.size > 0:
        i, inner = divmod(off, dt.size)
        label = f"[{i}]{field_path(proc.dw, dt, inner)}"
        key = _map_key(proc, types, src, dt, i, label)
        return key if key is not None else label
    return field_path(proc.dw, dt, off) or "+0"


#: A slot's value inside a map's storage: Swiss-table groups (Go 1.24+) and buckets (before).
_MAP_SLOT = re.compile(r"^\[(\d+)\]\.slots\[(\d+)\]\.elem|^\[(\d+)\]\.(?:values|elems)\[(\d+)\]")
MAX_KEY_TEXT = 64


def _map_key(
    proc: GoProcess, types: ObjectTypes, src: int, group: Any, i: int, label: str
) -> str | None:
    """``["key-0042"]`` for a pointer held as a map value whose key is a string or an
    integer: the key read from the same slot of the same group or bucket; None otherwise."""
    m = _MAP_SLOT.match(label)
    if m is None:
        return None
    if m.group(1) is not None:
        key_path = f".slots[{m.group(2)}].key"
    else:
        key_path = f".keys[{m.group(4)}]"
    hit = resolve_path(proc.dw, group, key_path)
    if hit is None:
        return None
    off, kt = hit
    base = int(heap_model(proc).objects.addr[src]) + int(types.data_off[src])
    addr = base + i * group.size + off
    try:
        if kt.kind == 24 or [f.name for f in kt.fields] == ["str", "len"]:
            p, n = proc.mem.u64(addr), proc.mem.u64(addr + 8)
            if not 0 <= n < 1 << 40:
                return None
            raw = proc.mem.read(p, min(n, MAX_KEY_TEXT)) if n else b""
            text = raw.decode("utf-8", "replace") + ("..." if n > MAX_KEY_TEXT else "")
            return "[" + json.dumps(text) + "]"
        if kt.tag == "base" and kt.size in (1, 2, 4, 8) and kt.encoding in (5, 7, 8):
            signed = kt.encoding == 5
            return f"[{proc.mem.uint(addr, kt.size, signed=signed)}]"
    except (UnreadableMemory, ValueError):
        return None
    return None


# --------------------------------------------------------------------------- paths


def _root_rows_for(model: HeapModel, obj: int) -> list[int]:
    rows = model.roots.of_object(obj)
    return sorted(rows, key=lambda r: (ROOT_PREFERENCE.get(model.roots.kind[r], 9), r))


_REVERSE: Lazy[tuple[np.ndarray, np.ndarray]] = Lazy(
    "reverse graph", lambda proc: heap_model(proc).graph.predecessors()
)
_ROOT_MASK: Lazy[np.ndarray] = Lazy("root mask", lambda proc: _root_mask(heap_model(proc)))


def _reverse(proc: GoProcess, model: HeapModel) -> tuple[np.ndarray, np.ndarray]:
    return _REVERSE(proc)


def _root_mask(model: HeapModel) -> np.ndarray:
    mask = np.zeros(len(model.objects), dtype=bool)
    objs = np.asarray(model.roots.obj)
    mask[objs[objs >= 0]] = True
    return mask


def _largest(values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest ``values`` where ``mask``, largest first, ties by index:
    what a stable argsort of ``-values`` gives, without its three full-length temporaries
    (a negated copy, the order and the sort's buffer: 24 bytes an object). Candidates are
    the values at or above a threshold halved until there are enough."""
    if n <= 0 or not len(values):
        return np.zeros(0, np.int64)
    top = int(values[mask].max()) if mask.any() else 0
    t = max(top, 1)
    while True:
        cand = np.flatnonzero(mask & (values >= t))
        if len(cand) >= n or t <= 1:
            break
        t //= 2
    if t <= 1:
        cand = np.flatnonzero(mask)
    order = np.lexsort((cand, -values[cand]))
    return cand[order][:n]


def _model_and_types(proc: GoProcess) -> HeapModel:
    """The heap model built on a second thread while this one types the objects
    (:func:`.heapmodel.start_heap_model`).

    The dominator tree is not built on that thread too: run beside the end of the type
    pass, its working arrays (about 30 bytes an object) and the type pass's peaked
    together. After it, top and suspects on the 1 GiB benchmark core take about 2 s more
    and stay within twice the heap."""
    from gdb_gomem.heap.types.infer import heap_types

    start_heap_model(proc)
    heap_types(proc)
    return heap_model(proc)


@dataclass(frozen=True)
class RootRef:
    """A named root: its kind (global, stack, finalizer, ...), name, goroutine (stack roots)
    and the address of the root word."""

    kind: str
    name: str
    goroutine: int | None
    holder: int


def _root_ref(model: HeapModel, row: int) -> RootRef:
    r = model.roots
    return RootRef(r.kind[row], r.name[row], r.goid[row], int(r.holder[row]))


def holding_root(model: HeapModel, obj: int) -> tuple[RootRef | None, int]:
    """The most telling root holding object ``obj`` directly, and how many more hold it."""
    rows = _root_rows_for(model, obj)
    if not rows:
        return None, 0
    return _root_ref(model, rows[0]), len(rows) - 1


@dataclass(frozen=True)
class PathStep:
    """One object of a chain; ``via`` is the field, element or root that points to it."""

    addr: int
    type: str
    size: int
    via: str


@dataclass(frozen=True)
class RootPath:
    root: RootRef | None
    other_roots: int  # further roots holding the chain's first object
    steps: list[PathStep]


@dataclass(frozen=True)
class PathTarget:
    """The object an address lies in."""

    addr: int
    type: str
    size: int
    live: bool


@dataclass(frozen=True)
class RootPaths:
    """Shortest chains from named roots to the object containing ``addr``; ``target`` is None
    when no allocated heap object contains it."""

    addr: int
    target: PathTarget | None
    paths: list[RootPath]


def find_root_paths(proc: GoProcess, addr: int, max_paths: int = 1) -> RootPaths:
    """Shortest chains from named roots to the object containing ``addr``."""
    model = _model_and_types(proc)
    target = model.objects.find_one(addr)
    if target < 0:
        return RootPaths(addr, None, [])
    types = object_types(proc, model)
    rptr, rsrc = _reverse(proc, model)
    is_root = _ROOT_MASK(proc)
    chains = shortest_root_path(
        len(model.objects), rptr, rsrc, None, is_root, target, max_paths=max_paths
    )
    paths = []
    for chain in chains:
        root, others = holding_root(model, chain[0][0])
        steps = []
        prev = -1
        for obj, _ in chain:
            off = model.graph.edge_offset(prev, obj) if prev >= 0 else -1
            via = root.name if prev < 0 and root else _via(proc, types, prev, off)
            steps.append(
                PathStep(
                    int(model.objects.addr[obj]), types.name(obj), int(model.objects.size[obj]), via
                )
            )
            prev = obj
        paths.append(RootPath(root, others, steps))
    found = PathTarget(
        int(model.objects.addr[target]),
        types.name(target),
        int(model.objects.size[target]),
        bool(model.live[target]),
    )
    return RootPaths(addr, found, paths)


# --------------------------------------------------------------------------- dominators


@dataclass
class DominatorTree:
    """Per object: immediate dominator, retained bytes and the root-held object above it.
    (The preorder the two sums are computed over is not kept: 4 bytes an object.)"""

    idom: np.ndarray  # n = super-root, -1 unreachable
    retained: np.ndarray
    top: np.ndarray  # the root-held object (child of the super-root) above each object, -1


def _build_dominator_tree(proc: GoProcess) -> DominatorTree:
    model = heap_model(proc)
    n = len(model.objects)
    roots = np.asarray(model.roots.obj)
    idom, order = dominators(n, model.graph.indptr, model.graph.dst, roots[roots >= 0])
    retained = retained_sizes(idom, as_int64(model.objects.size), order)  # copies its input
    return DominatorTree(idom, retained, dominator_tops(idom, order))


DOMINATOR_TREE: Lazy[DominatorTree] = Lazy("dominators", _build_dominator_tree, persist=True)


def dominator_tree(proc: GoProcess) -> DominatorTree:
    return DOMINATOR_TREE(proc)


@dataclass(frozen=True)
class ObjectRetained:
    """An object and what it keeps alive alone (its dominator subtree)."""

    addr: int
    type: str
    shallow: int
    retained: int
    share: float  # of the live heap, rounded to 4 digits
    root: RootRef | None  # the root holding its root-held dominator


@dataclass(frozen=True)
class TopObjects:
    rows: list[ObjectRetained]  # largest first
    live_bytes: int
    roots: list[tuple[str, int]]  # ("kind name", retained by its largest sole object)


@dataclass(frozen=True)
class TypeRetained:
    type: str
    count: int
    shallow: int
    retained: int


@dataclass(frozen=True)
class TopTypes:
    rows: list[TypeRetained]  # largest first
    live_bytes: int


def _dominated(
    proc: GoProcess,
) -> tuple[HeapModel, DominatorTree, ObjectTypes, np.ndarray, np.ndarray]:
    """What top works on: the model, its dominator tree, the objects' types and sizes (int64),
    and which objects the tree reaches."""
    model = _model_and_types(proc)
    dt = dominator_tree(proc)
    types = object_types(proc, model)
    return model, dt, types, as_int64(model.objects.size), dt.idom >= 0


def top_types(proc: GoProcess, n: int = 20) -> TopTypes:
    """The biggest retainers by type.

    Retained per type sums the objects whose immediate dominator is of another type, so a
    list or tree of one type counts once, at its head."""
    model, dt, types, size, reached = _dominated(proc)
    live_bytes = model.live_bytes()
    tid = types.type_id
    parent_t = np.where(dt.idom >= 0, tid[np.minimum(dt.idom, len(tid) - 1)], -2)
    parent_t = np.where(dt.idom == len(tid), -2, parent_t)
    heads = reached & (parent_t != tid)
    rows: dict[int, list[int]] = {}
    kept = np.where(heads, dt.retained, 0)[reached].tolist()
    for t, s, r in zip(tid[reached].tolist(), size[reached].tolist(), kept, strict=True):
        row = rows.setdefault(t, [0, 0, 0])
        row[0] += 1
        row[1] += s
        row[2] += r
    out = [
        TypeRetained(types.entries[t].name if t >= 0 else "<untyped>", c, s, r)
        for t, (c, s, r) in rows.items()
    ]
    out.sort(key=lambda x: -x.retained)
    return TopTypes(out[:n], live_bytes)


def top_objects(proc: GoProcess, n: int = 20) -> TopObjects:
    """The biggest retainers: objects by retained size, with the root holding each, and the
    roots by what the largest object only they hold retains."""
    model, dt, types, size, reached = _dominated(proc)
    live_bytes = model.live_bytes()
    best = _largest(dt.retained, reached, n)
    rows = []
    for o in best.tolist():
        top = int(dt.top[o])
        root = holding_root(model, top)[0] if top >= 0 else None
        rows.append(
            ObjectRetained(
                int(model.objects.addr[o]),
                types.name(o),
                int(size[o]),
                int(dt.retained[o]),
                round(int(dt.retained[o]) / live_bytes, 4) if live_bytes else 0.0,
                root,
            )
        )
    per_root: dict[str, int] = {}
    for i in range(len(model.roots)):
        o = int(model.roots.obj[i])
        if o >= 0 and dt.idom[o] == len(model.objects):
            key = f"{model.roots.kind[i]} {model.roots.name[i]}"
            per_root[key] = max(per_root.get(key, 0), int(dt.retained[o]))
    roots_sorted = sorted(per_root.items(), key=lambda kv: -kv[1])[:n]
    return TopObjects(rows, live_bytes, roots_sorted)


# --------------------------------------------------------------------------- suspects


@dataclass(frozen=True)
class Suspect:
    """A leak suspect. ``path_to``: the address whose shortest root path explains it (None:
    no path to show); ``count`` and ``addr`` are None for kinds without them."""

    kind: str  # big retainer, many objects, pinned array, big map, goroutine group, ...
    type: str
    detail: str
    bytes: int | None
    root: RootRef | None
    count: int | None = None
    addr: int | None = None
    path_to: int | None = None


@dataclass(frozen=True)
class Suspects:
    suspects: list[Suspect]  # most bytes first
    live_bytes: int


def find_suspects(proc: GoProcess) -> Suspects:
    """MAT-style leak suspects, each with the address whose root path explains it."""
    model = _model_and_types(proc)
    dt = dominator_tree(proc)
    types = object_types(proc, model)
    live_bytes = model.live_bytes()
    out: list[Suspect] = []
    n = len(model.objects)

    def root_of(o: int) -> RootRef | None:
        top = int(dt.top[o]) if o >= 0 else -1
        return holding_root(model, top)[0] if top >= 0 else None

    # 1. One dominator retaining >= 10% of the live heap (the highest such object on its chain).
    if live_bytes:
        big = np.flatnonzero((dt.retained >= SUSPECT_SHARE * live_bytes) & (dt.idom >= 0))
        bigset = set(big.tolist())
        for o in big.tolist():
            d = int(dt.idom[o])
            dominated_by_big = False
            while 0 <= d < n:
                if d in bigset:
                    dominated_by_big = True
                    break
                d = int(dt.idom[d])
            if dominated_by_big:
                continue
            a = int(model.objects.addr[o])
            out.append(
                Suspect(
                    kind="big retainer",
                    type=types.name(o),
                    addr=a,
                    bytes=int(dt.retained[o]),
                    detail=f"retains {100 * int(dt.retained[o]) / live_bytes:.0f}% of the "
                    "live heap",
                    root=root_of(o),
                    path_to=a,
                )
            )
    # 2. Many objects of one type under one root-held object.
    for top, t, c, b in _many_per_root(model, dt, types):
        a = int(model.objects.addr[top])
        tname = types.entries[t].name if t >= 0 else "<untyped>"
        out.append(
            Suspect(
                kind="many objects",
                type=tname,
                count=c,
                bytes=b,
                addr=a,
                detail=f"{c} {tname} objects held under one root",
                root=root_of(top),
                path_to=a,
            )
        )
    out.extend(_go_suspects(proc, model, types, root_of))
    out.sort(key=lambda s: -int(s.bytes or 0))
    return Suspects(out, live_bytes)


def _many_per_root(
    model: HeapModel,
    dt: DominatorTree,
    types: ObjectTypes,
) -> list[tuple[int, int, int, int]]:
    """(root-held object, type entry or -1, count, bytes) for every type with at least
    MANY_OBJECTS live objects under one root-held object (``dt.top``), in order of object
    then type.

    Counted over only the root-held objects that hold MANY_OBJECTS or more (numbered
    0..B-1), one key per object: in dense bins while B x types stays within the object count
    (no sort of 20 million keys and its copies), else by a sort of the counted keys."""
    n = len(model.objects)
    live = model.live & (dt.top >= 0)
    if not live.any():
        return []
    held = np.where(live, dt.top, n)  # n: not counted
    per_top = np.bincount(held, minlength=n + 1)[:n]
    bigs = np.flatnonzero(per_top >= MANY_OBJECTS)
    del per_top
    nt = len(types.entries) + 1  # type entries, and -1 (untyped) as 0
    if not len(bigs):
        return []
    rank = np.full(n + 1, -1, np.int32)
    rank[bigs] = np.arange(len(bigs), dtype=np.int32)
    r = rank[held]
    del rank, held
    nbins = len(bigs) * nt + 2
    # One key per object, built in place: rank * nt + type + 2, and 0 for objects not
    # counted (not live, or under a root-held object holding fewer than MANY_OBJECTS).
    unheld = r < 0
    key = r if nbins < 1 << 31 else r.astype(np.int64)
    key *= nt
    key += types.type_id
    key += 2
    key[unheld] = 0
    del r, unheld
    size = model.objects.size
    if nbins <= n * DENSE_BINS_PER_OBJECT + 2:
        # Dense bins, no more than the per-object columns: one compiled pass (counts and
        # integer bytes, no float64 copy of the sizes) or two bincounts.
        got = native.histogram(key, live, size, nbins)
        if got is not None:
            counts, sizes = got[0][:nbins], got[1][:nbins]  # bucket nbins: objects not live
        else:
            counts = np.bincount(key, minlength=nbins)
            sizes = np.bincount(key, weights=size, minlength=nbins)
        keys = np.flatnonzero(counts >= MANY_OBJECTS)
        keys = keys[keys > 0]
        groups = zip(keys.tolist(), counts[keys].tolist(), sizes[keys].tolist(), strict=True)
    else:
        # Many big holders times many types: sort the counted keys instead.
        sel = key > 0
        uniq, inv, cnt = np.unique(key[sel], return_inverse=True, return_counts=True)
        sz = np.bincount(inv, weights=size[sel], minlength=len(uniq))
        keep = cnt >= MANY_OBJECTS
        groups = zip(uniq[keep].tolist(), cnt[keep].tolist(), sz[keep].tolist(), strict=True)
    out = []
    for k, c, b in groups:
        rk, t1 = divmod(k - 1, nt)  # k - 1 = rank * nt + (type + 1), type + 1 in [0, nt)
        out.append((int(bigs[rk]), t1 - 1, int(c), int(b)))
    return out


def _go_suspects(
    proc: GoProcess,
    model: HeapModel,
    types: ObjectTypes,
    root_of: Callable[[int], RootRef | None],
) -> list[Suspect]:
    out: list[Suspect] = []
    # Short slices pinning large backing arrays: slice-typed globals (DWARF) whose array object
    # is much larger than the part the slice can reach.
    dw = proc.dw
    for name, var in dw.globals.items():
        t = dw.resolve(var.type)
        if t.kind != 23:
            continue
        try:
            raw = proc.mem.read(var.addr, 24)
        except Exception:  # noqa: BLE001 - an unreadable global is skipped
            continue
        arr, ln, cap = (int.from_bytes(raw[i : i + 8], "little") for i in (0, 8, 16))
        o = model.objects.find_one(arr) if arr else -1
        if o < 0 or ln < 0 or cap < ln:
            continue
        elem = dw.resolve(t.elem).size if t.elem is not None else 1
        used = max(ln * max(elem, 1), 1)
        osize = int(model.objects.size[o])
        if osize >= 64 << 10 and osize >= PIN_RATIO * used:
            out.append(
                Suspect(
                    kind="pinned array",
                    type=types.name(o),
                    addr=arr,
                    bytes=osize,
                    root=RootRef("global", name, None, var.addr),
                    detail=f"{name} has len {ln} (cap {cap}) but keeps a {osize}-byte "
                    "backing array alive",
                    path_to=arr,
                )
            )
    # Maps with very many entries, held by globals (the map header's own count: hmap.count up
    # to Go 1.23, internal/runtime/maps.Map.used from 1.24).
    for name, var in dw.globals.items():
        mt = dw.types[var.type]  # the map typedef carries the Go kind, not what it resolves to
        if mt.kind != 21:
            continue
        try:
            hdr = proc.global_(name)
            while hdr.type.tag == "ptr":
                nxt = hdr.deref()
                if nxt is None:
                    break
                hdr = nxt
            if hdr.type.tag != "struct":
                continue
            field = "count" if hdr.has("count") else "used" if hdr.has("used") else None
            if field is None:
                continue
            entries = hdr[field].int()
        except Exception:  # noqa: BLE001 - an unreadable map is skipped
            continue
        if entries >= BIG_MAP_ENTRIES:
            o = model.objects.find_one(hdr.addr)
            retained = 0
            if o >= 0:
                retained = int(dominator_tree(proc).retained[o])
            out.append(
                Suspect(
                    kind="big map",
                    type=mt.name,
                    count=entries,
                    bytes=retained,
                    addr=hdr.addr,
                    root=RootRef("global", name, None, var.addr),
                    detail=f"{name} holds {entries} entries",
                    path_to=hdr.addr if o >= 0 else None,
                )
            )
    # Goroutines blocked in the same place.
    from gdb_gomem.goroutines.allgs import goroutines
    from gdb_gomem.goroutines.groups import group_goroutines
    from gdb_gomem.heap.leaks import LEAKS

    try:
        lk = LEAKS(proc)
    except GomemError:
        lk = None
    leaked_ids = {g.goid for g in lk.leaked} if lk is not None else set()
    table = goroutines(proc)
    by_id = {x.goid: x for x in table.all}
    for g in group_goroutines(proc, table.all, "stack").groups:
        if set(g.ids) <= leaked_ids:
            continue  # the goroutine-leak suspect below says more about the same goroutines
        if g.count >= GOROUTINE_GROUP and g.status in ("waiting", "mixed"):
            where = next((f.func for f in g.frames if not f.func.startswith("runtime.")), "?")
            # What the group costs at least: its goroutines' stacks (the heap they hold is
            # counted by the retainers above, reached through the stack roots).
            stacks = sum(by_id[i].stack_hi - by_id[i].stack_lo for i in g.ids if i in by_id)
            out.append(
                Suspect(
                    kind="goroutine group",
                    type=where,
                    count=g.count,
                    bytes=stacks or None,
                    root=None,
                    detail=f"{g.count} goroutines blocked in {where} ({g.wait_reason}), "
                    f"{stacks} bytes of stacks",
                )
            )
    # Goroutines that can never wake (heap/leaks.py), one suspect per leak group (the place
    # they block in and the go statement that made them).
    if lk is not None:
        for lg in lk.groups:
            kept = lg.retained_bytes
            heap = "heap not computed" if kept is None else f"{kept} bytes of heap"
            out.append(
                Suspect(
                    kind="goroutine leak",
                    type=lg.where,
                    count=len(lg.ids),
                    bytes=lg.stack_bytes + (kept or 0),
                    root=None,
                    detail=f"{len(lg.ids)} goroutine(s) blocked in {lg.where} "
                    f"({lg.wait_reason}), created by {lg.created_by or '?'}, can never wake: "
                    f"nothing live reaches what they wait on; {lg.stack_bytes} bytes of stacks "
                    f"and {heap} only they keep",
                )
            )
    # Unstopped tickers, grouped by where they were created (else by what holds them).
    from gdb_gomem.heap.timers import find_timers

    try:
        tickers = [t for t in find_timers(proc).timers if t.period > 0]
    except GomemError:
        tickers = []
    groups: dict[str, list[Any]] = {}
    for tk in tickers:
        site = (
            f"created at {tk.created_at}"
            if tk.created_at
            else f"held as {tk.held_by.split(' ')[0] or '?'} (creation site not recorded)"
        )
        groups.setdefault(site, []).append(tk)
    for site, ts in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        periods = sorted({x.period for x in ts})
        shown = ", ".join(f"{p / 1e9:g}s" for p in periods[:5]) + (
            ", ..." if len(periods) > 5 else ""
        )
        first = next((x for x in ts if x.held_by_addr is not None), None)
        o = model.objects.find_one(first.held_by_addr) if first and first.held_by_addr else -1
        out.append(
            Suspect(
                kind="timers",
                type=f"tickers {site}",
                count=len(ts),
                bytes=int(model.objects.size[o]) * len(ts) if o >= 0 else None,
                addr=first.held_by_addr if first else None,
                root=root_of(o) if o >= 0 else None,
                detail=f"{len(ts)} unstopped ticker(s) {site} (period {shown}): a "
                "ticker that is never stopped keeps its timer and channel alive",
                path_to=first.held_by_addr if first and o >= 0 else None,
            )
        )
    # Finalizers: objects waiting for (or registered with) a finalizer.
    fin = [i for i in range(len(model.roots)) if model.roots.kind[i] == "finalizer"]
    if fin:
        out.append(
            Suspect(
                kind="finalizers",
                type="",
                count=len(fin),
                bytes=None,
                root=None,
                detail=f"{len(fin)} finalizer special(s) or queued finalizers keep "
                "objects alive until the finalizer goroutine runs them",
            )
        )
    return out


# --------------------------------------------------------------------------- per root


def retained_by_root(proc: GoProcess) -> dict[str, int]:
    """What each named root keeps alive alone: the retained bytes of the objects it holds
    that no other object dominates, each counted once, under the most telling root that
    holds it (a global before a stack slot, ``ROOT_PREFERENCE``). Keys "kind name"."""
    model = _model_and_types(proc)
    dt = dominator_tree(proc)
    n = len(model.objects)
    r = model.roots
    objs = np.asarray(r.obj, dtype=np.int64)
    rows = np.flatnonzero(objs >= 0)
    rows = rows[dt.idom[objs[rows]] == n]
    if not len(rows):
        return {}
    pref = np.array([ROOT_PREFERENCE.get(r.kind[i], 9) for i in rows.tolist()], np.int64)
    order = np.lexsort((rows, pref, objs[rows]))
    rows = rows[order]
    o = objs[rows]
    first = np.ones(len(rows), bool)
    first[1:] = o[1:] != o[:-1]
    out: dict[str, int] = {}
    for i, obj in zip(rows[first].tolist(), o[first].tolist(), strict=True):
        key = f"{r.kind[i]} {r.name[i]}"
        out[key] = out.get(key, 0) + int(dt.retained[obj])
    return out
