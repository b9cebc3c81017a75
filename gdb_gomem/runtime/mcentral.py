"""mcentral spanSets per span class, and the check that each in-use span has exactly one home.

From ``runtime/mcentral.go`` and ``mspanset.go`` (1.21-1.27):

- ``mheap_.central[spanClass].mcentral`` has ``partial[2]`` and ``full[2]`` spanSets; the
  swept ones are ``[sweepgen/2 % 2]``, the unswept ones ``[1 - sweepgen/2 % 2]``;
- a spanSet is a spine (``spine``, ``spineLen``, ``spineCap``) of blocks of
  ``spanSetBlockEntries`` span pointers; ``index`` packs ``head<<32 | tail`` and the live
  entries are ``[head, tail)`` of the concatenated blocks; popped slots are nil. The block
  header grew from 24 to 512 bytes in 1.25 (``spanSetBlockHeader2``), so the ``spans`` offset
  comes from DWARF;
- large-object spans (size class 0) are pushed on ``fullSwept`` of class 0 by
  ``mcache.allocLarge`` and stay there until swept;
- a span in a P's mcache is in no spanSet. The sweeper may sweep a span it cannot remove
  from an unswept set; such stale entries (span already swept) are skipped by the runtime
  (``mcentral.cacheSpan``, ``nextSpanForSweep``) and are reported here as stale, not errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.runtime.mcache import MCacheInfo
from gdb_gomem.runtime.mspan import SpanClassMixin
from gdb_gomem.runtime.spans import SpanWalk, sweep_state
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

#: A spanSet holding more entries than this is corrupt (2^24 spans >= 128 GiB in one class).
MAX_SET_ENTRIES = 1 << 24
SET_NAMES = ("partial_swept", "partial_unswept", "full_swept", "full_unswept")


@dataclass
class SpanSetContents:
    name: str
    addr: int
    head: int = 0
    tail: int = 0
    spans: list[int] = field(default_factory=list)  # descriptor addresses, nil slots skipped
    nils: int = 0
    error: str | None = None


@dataclass
class CentralClass(SpanClassMixin):
    spanclass: int
    sets: dict[str, SpanSetContents] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(s.spans) for s in self.sets.values())


@dataclass
class CentralWalk:
    sweepgen: int
    swept_index: int
    classes: list[CentralClass] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _SetLayout:
    """spanSet, mcentral and spanSetBlock offsets (DWARF, through the typed layer)."""

    def __init__(self, proc: GoProcess) -> None:
        dw = proc.dw
        self.set = Layout(dw, "runtime.spanSet", ("spine.a", "spineLen", "spineCap", "index.u"))
        self.set_size = self.set.size
        self.partial = dw.offset("runtime.mcentral", "partial")
        self.full = dw.offset("runtime.mcentral", "full")
        self.block_spans = dw.offset("runtime.spanSetBlock", "spans")
        self.entries = dw.constant("runtime.spanSetBlockEntries")


def read_span_set(
    proc: GoProcess, lay: _SetLayout, raw: bytes, off: int, addr: int, name: str
) -> SpanSetContents:
    """The live entries of one spanSet whose bytes start at ``raw[off:]``; bounded."""
    res = SpanSetContents(name=name, addr=addr)
    rec = raw[off : off + lay.set_size]
    index = lay.set.get(rec, "index.u")
    res.head, res.tail = index >> 32, index & 0xFFFFFFFF
    if res.head >= res.tail:
        return res
    if res.tail - res.head > MAX_SET_ENTRIES:
        res.error = f"head {res.head} / tail {res.tail}: more than {MAX_SET_ENTRIES} entries"
        return res
    spine = lay.set.get(rec, "spine.a")
    spine_len = lay.set.get(rec, "spineLen")
    spine_cap = lay.set.get(rec, "spineCap")
    e = lay.entries
    top0, top1 = res.head // e, (res.tail - 1) // e
    if spine == 0 or spine_len > spine_cap or top1 >= spine_len:
        res.error = (
            f"spine {spine:#x} len {spine_len} cap {spine_cap} cannot hold entries "
            f"[{res.head}, {res.tail})"
        )
        return res
    try:
        blocks = np.frombuffer(
            proc.mem.read(spine + 8 * top0, 8 * (top1 - top0 + 1)), dtype="<u8"
        ).tolist()
        for k, block in enumerate(blocks):
            top = top0 + k
            lo = max(res.head, top * e) - top * e
            hi = min(res.tail, (top + 1) * e) - top * e
            if block == 0:
                res.error = f"spine slot {top} is nil but holds entries {lo}..{hi - 1}"
                return res
            ents = np.frombuffer(
                proc.mem.read(block + lay.block_spans + 8 * lo, 8 * (hi - lo)), dtype="<u8"
            ).tolist()
            for p in ents:
                if p:
                    res.spans.append(p)
                else:
                    res.nils += 1
    except UnreadableMemory as exc:
        res.error = f"unreadable: {exc}"
    return res


def walk_mcentral(proc: GoProcess, sizeclass: int | None = None) -> CentralWalk:
    """Every (or one size class's) mcentral: the four spanSets of each span class."""
    mheap = proc.global_("runtime.mheap_")
    sg = mheap["sweepgen"].int()
    walk = CentralWalk(sweepgen=sg, swept_index=sg // 2 % 2)
    lay = _SetLayout(proc)
    central = mheap["central"]
    n = len(central)
    elem = central.index(0)
    mc_off = elem["mcentral"].addr - elem.addr
    esize = elem.size
    try:
        raw = proc.mem.read(central.addr, n * esize)
    except UnreadableMemory as exc:
        walk.errors.append(f"mheap_.central unreadable: {exc}")
        return walk
    si = walk.swept_index
    for spc in range(n):
        if sizeclass is not None and spc >> 1 != sizeclass:
            continue
        cls = CentralClass(spanclass=spc)
        base = spc * esize + mc_off
        for kind, koff in (("partial", lay.partial), ("full", lay.full)):
            for j in (si, 1 - si):
                label = f"{kind}_{'swept' if j == si else 'unswept'}"
                off = base + koff + j * lay.set_size
                ss = read_span_set(proc, lay, raw, off, central.addr + off, label)
                cls.sets[label] = ss
                if ss.error:
                    walk.errors.append(f"central[{spc}].{kind}[{j}] ({label}): {ss.error}")
        walk.classes.append(cls)
    return walk


@dataclass
class HomeCheck:
    """Where every in-use span lives: spanSets, mcaches; and what breaks the rule."""

    checked: int = 0
    in_sets: int = 0
    in_mcaches: int = 0
    stale: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def check_homes(
    walk: SpanWalk,
    central: CentralWalk,
    caches: list[MCacheInfo],
    sizeclass: int | None = None,
) -> HomeCheck:
    """Each in-use heap span sits in exactly one spanSet or one P's mcache (mcentral.go).

    Also: set entries are in-use spans of that set's class, swept sets hold swept spans,
    cached spans carry the cached sweepgens. Spans being swept (sg-1) are in no set by design.
    ``central`` must cover ``sizeclass`` (or every class when it is None).
    """
    res = HomeCheck()
    by_addr = walk.by_addr()
    sg = walk.sweepgen
    homes: dict[int, list[str]] = {}
    for cls in central.classes:
        for label, ss in cls.sets.items():
            for p in ss.spans:
                where = f"central[{cls.spanclass}].{label}"
                s = by_addr.get(p)
                if s is None:
                    res.violations.append(f"{where} holds {p:#x}, which is not in allspans")
                    continue
                if s.state != 1:
                    res.violations.append(f"{where} holds {p:#x} in state {s.state_name}")
                    continue
                if s.spanclass != cls.spanclass:
                    res.violations.append(
                        f"{where} holds span {s.base:#x} of span class {s.spanclass}"
                    )
                st = sweep_state(s.sweepgen, sg)
                if label.endswith("_unswept") and st == "swept":
                    res.stale.append(f"{where}: span {s.base:#x} already swept (stale entry)")
                    continue
                if label.endswith("_swept") and not label.endswith("_unswept") and st != "swept":
                    res.violations.append(f"{where}: span {s.base:#x} is {st}, in a swept set")
                homes.setdefault(p, []).append(where)
    for c in caches:
        for spc, p in c.spans.items():
            if sizeclass is not None and spc >> 1 != sizeclass:
                continue
            where = f"P{c.p_id}.mcache.alloc[{spc}]"
            s = by_addr.get(p)
            if s is None:
                res.violations.append(f"{where} holds {p:#x}, which is not in allspans")
                continue
            if s.spanclass != spc or s.state != 1:
                res.violations.append(
                    f"{where} holds span {s.base:#x} ({s.state_name}, class {s.spanclass})"
                )
            st = sweep_state(s.sweepgen, sg)
            if st not in ("cached swept", "cached unswept"):
                res.violations.append(f"{where}: cached span {s.base:#x} has sweep state {st}")
            homes.setdefault(p, []).append(where)
    for s in walk.in_use():
        if sizeclass is not None and s.sizeclass != sizeclass:
            continue
        if s.user_arena:
            continue  # user arena chunks live on mheap_.userArena lists too
        res.checked += 1
        owners = homes.get(s.addr, [])
        if len(owners) == 1:
            if owners[0].startswith("P"):
                res.in_mcaches += 1
            else:
                res.in_sets += 1
            continue
        if not owners:
            if sweep_state(s.sweepgen, sg) == "sweeping":
                continue  # owned by the sweeper right now
            res.violations.append(
                f"span {s.base:#x} (class {s.sizeclass}{' noscan' if s.noscan else ''}) is in "
                "no spanSet and no mcache"
            )
        else:
            res.violations.append(
                f"span {s.base:#x} is in {len(owners)} places: {', '.join(owners)}"
            )
    return res
