"""Compare two snapshots of one program's heap: growth per type, per sampled allocation
stack, and per object.

Go never moves objects, so one address in both snapshots is one slot; whether it still holds
the same object is decided by the runtime's rules, per slot of B:

- **new** when B's object was provably allocated after A was taken: its GC-epoch bound says
  "allocated after GC #c ended" with c > A's completed cycles (a GC that ended after A), or
  its size, type or sampled allocation record differs from A's; a slot allocated only in B
  is new too;
- **freed** when A's object is not in B (or B's is new in its slot);
- **survived** otherwise. A slot freed and reused between A and B, with a GC between the
  reuse and B and no other difference, cannot be told from a survivor by two snapshots: the
  live recorder's ring (one snapshot per interval) narrows that, and the counts say how many
  survivors the epochs could not confirm.

Objects a sweep would free (allocated in an unswept span, unmarked) are not counted as alive.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.snapshots.format import SnapshotError
from gdb_gomem.snapshots.model import UNTYPED, Snapshot

NOT_SAMPLED = "(not sampled)"
BY_CHOICES = ("type", "stack", "object", "root")


@dataclass
class DiffRow:
    key: str
    count_a: int
    count_b: int
    bytes_a: int
    bytes_b: int

    @property
    def delta_count(self) -> int:
        return self.count_b - self.count_a

    @property
    def delta_bytes(self) -> int:
        return self.bytes_b - self.bytes_a


@dataclass
class ObjectClasses:
    """Indexes into A (freed, survived) and B (new, survived) of each class."""

    new_b: np.ndarray
    freed_a: np.ndarray
    survived_a: np.ndarray
    survived_b: np.ndarray
    #: Survivors whose slot could have been reused unseen (no epoch bound proves them old).
    unconfirmed: int = 0


@dataclass
class HeapDiff:
    a: Snapshot
    b: Snapshot
    by: str
    rows: list[DiffRow]
    classes: ObjectClasses
    key_kind: str  # "type", "size" (a side is untyped), "stack"
    notes: list[str] = field(default_factory=list)


def check_same_program(a: Snapshot, b: Snapshot, what_a: str, what_b: str) -> None:
    ida, idb = a.meta.get("build_id"), b.meta.get("build_id")
    if ida and idb and ida != idb:
        raise SnapshotError(
            f"{what_a} and {what_b} come from different binaries (Go build IDs {ida} and {idb})",
            "a diff compares two moments of one program: take both from the same binary",
        )


def classify(a: Snapshot, b: Snapshot) -> ObjectClasses:
    la, lb = a.alive(), b.alive()
    ia = np.flatnonzero(la)
    ib = np.flatnonzero(lb)
    addr_a, addr_b = a.objects["addr"][ia], b.objects["addr"][ib]
    _, pa, pb = np.intersect1d(addr_a, addr_b, assume_unique=True, return_indices=True)
    sa, sb = ia[pa], ib[pb]
    # B's object provably allocated after A: after a GC that ended after A was taken.
    a_cycles = int(a.meta.get("sweep_cycle") or a.num_gc)
    newer = b.objects["after_cycle"][sb] > a_cycles
    newer |= a.objects["size"][sa] != b.objects["size"][sb]
    ta, tb = a.objects["type"][sa], b.objects["type"][sb]
    if a.types and b.types:
        na = np.array([*a.types, UNTYPED], dtype=object)[np.where(ta >= 0, ta, len(a.types))]
        nb = np.array([*b.types, UNTYPED], dtype=object)[np.where(tb >= 0, tb, len(b.types))]
        newer |= na != nb
    ka, kb = a.objects["bucket"][sa], b.objects["bucket"][sb]
    newer |= (ka != 0) & (kb != 0) & (ka != kb)
    only_a = np.setdiff1d(ia, sa, assume_unique=True)
    only_b = np.setdiff1d(ib, sb, assume_unique=True)
    surv_a, surv_b = sa[~newer], sb[~newer]
    # A survivor is confirmed when no GC ran between A and B, or B's bound says it was
    # allocated before a GC that ended no later than A's last one.
    b_cycles = int(b.meta.get("sweep_cycle") or b.num_gc)
    bb = b.objects["before_cycle"][surv_b]
    confirmed = (b_cycles <= a_cycles) | ((bb >= 1) & (bb <= a_cycles))
    return ObjectClasses(
        new_b=np.sort(np.concatenate([only_b, sb[newer]])),
        freed_a=np.sort(np.concatenate([only_a, sa[newer]])),
        survived_a=surv_a,
        survived_b=surv_b,
        unconfirmed=int((~confirmed).sum()),
    )


def stack_labels(s: Snapshot) -> np.ndarray:
    """Per object its sampled stack's label: the allocating function, then two callers."""
    labels: dict[int, str] = {}
    for bkt, frames in s.stacks.items():
        k = 0
        while k < len(frames) - 1 and frames[k].startswith("runtime."):
            k += 1
        rest = frames[k:]
        labels[bkt] = (
            " <- ".join([rest[0], *(f.split(" (", 1)[0] for f in rest[1:3])])
            if rest
            else "(empty stack)"
        )
    bk = s.objects["bucket"]
    uniq, inv = np.unique(bk, return_inverse=True)
    names = np.array(
        [labels.get(int(u), NOT_SAMPLED) if u else NOT_SAMPLED for u in uniq.tolist()], dtype=object
    )
    return names[inv] if len(bk) else np.zeros(0, dtype=object)


def _keys(s: Snapshot, kind: str) -> np.ndarray:
    if kind == "type":
        return s.type_names()
    if kind == "stack":
        return stack_labels(s)
    return np.array([f"size {int(x)}" for x in s.objects["size"].tolist()], dtype=object)


def _root_rows(a: Snapshot, b: Snapshot) -> list[DiffRow]:
    ra, rb = a.meta.get("roots") or {}, b.meta.get("roots") or {}
    rows = [
        DiffRow(k, int(k in ra), int(k in rb), int(ra.get(k, 0)), int(rb.get(k, 0)))
        for k in sorted(set(ra) | set(rb))
    ]
    rows.sort(key=lambda r: (-r.delta_bytes, r.key))
    return rows


def _rows(a: Snapshot, b: Snapshot, kind: str) -> list[DiffRow]:
    acc: dict[str, list[int]] = {}
    for side, s in ((0, a), (1, b)):
        alive = s.alive()
        keys = _keys(s, kind)[alive]
        size = s.objects["size"][alive].astype(np.int64)
        if not len(keys):
            continue
        uniq, inv = np.unique(keys.astype(str), return_inverse=True)
        cnt = np.bincount(inv, minlength=len(uniq))
        byt = np.bincount(inv, weights=size, minlength=len(uniq))
        for k, c, nb in zip(uniq.tolist(), cnt.tolist(), byt.tolist(), strict=True):
            r = acc.setdefault(k, [0, 0, 0, 0])
            r[side] += int(c)
            r[2 + side] += int(nb)
    rows = [DiffRow(k, v[0], v[1], v[2], v[3]) for k, v in acc.items()]
    rows.sort(key=lambda r: (-r.delta_bytes, -r.delta_count, r.key))
    return rows


def diff(
    a: Snapshot,
    b: Snapshot,
    *,
    by: str = "type",
    threshold: int = 0,
    focus: str | None = None,
) -> HeapDiff:
    """The diff of A (older) to B (newer), rows sorted by growth in bytes."""
    notes: list[str] = []
    kind = by if by in ("type", "stack") else "type"
    if by == "root":
        if a.meta.get("roots") is not None and b.meta.get("roots") is not None:
            kind = "root"
        else:
            notes.append(
                "--by root needs what each root retains on both sides: take snapshots with "
                "--roots (a core is snapshotted with it); rows are by type"
            )
    if kind == "type" and not (a.meta.get("typed") and b.meta.get("typed")):
        kind = "size"
        notes.append("a snapshot was taken without the type pass: rows are keyed by object size")
    if kind == "stack" and not (a.stacks or b.stacks):
        notes.append(
            "neither snapshot holds sampled allocation stacks (the heap profiler was off or not "
            "linked): every object is '(not sampled)'"
        )
    rows = _root_rows(a, b) if kind == "root" else _rows(a, b, kind)
    if focus:
        rows = [r for r in rows if fnmatch.fnmatchcase(r.key, focus)]
    if threshold > 0:
        rows = [r for r in rows if abs(r.delta_bytes) >= threshold]
    cls = classify(a, b)
    if cls.unconfirmed:
        notes.append(
            f"{cls.unconfirmed} survivor(s) sit in slots a GC between the two snapshots could "
            "have freed and reused unseen (their epochs prove neither): counted as survivors"
        )
    if a.num_gc > b.num_gc:
        notes.append(
            f"the older side has seen more GCs ({a.num_gc}) than the newer ({b.num_gc}): "
            "are they in the right order, and from one run?"
        )
    return HeapDiff(a, b, by, rows, cls, kind, notes)
