"""The heap profile as the runtime holds it: its settings, its buckets, each sampled object's
allocation stack (``runtime/mprof.go``, ``mheap.go`` specials; Go 1.21-1.27).

- ``runtime.disableMemoryProfiling`` is set by the linker when nothing in the program can
  read the profile (``runtime.MemProfile``/``memProfileInternal`` unreachable): ``schedinit``
  then forces ``MemProfileRate`` to 0 and no allocation is ever sampled.
- ``runtime.MemProfileRate`` (default 512 KiB; ``GODEBUG=memprofilerate=N``, or set early in
  main) is the sampling rate at the stop; 1 samples every allocation.
- ``mProfCycle.value`` is ``cycle << 1 | flushed``; the cycle advances at every mark
  termination (``mProf_NextCycle``). ``mProf_Malloc`` counts into the stack's bucket's
  ``memRecord.future[(C+2)%3]``: sampled allocations since the last GC, per stack. 1.27 drops
  the byte fields (``alloc_bytes``/``free_bytes``); the counts are in every version.
- Buckets are chained from ``runtime.mbuckets`` (an ``atomic.UnsafePointer``) through
  ``allnext``; a bucket is a header, ``nstk`` PCs, then the memRecord.
- Each sampled object has a ``specialprofile`` (kind ``_KindSpecialProfile``) in its span's
  ``specials`` list, at the object's offset, pointing at its bucket: its allocation stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

#: Bounds on what a corrupt chain can cost.
MAX_BUCKETS = 1 << 20
MAX_SPECIALS_PER_SPAN = 1 << 16
#: A stack longer than this is not a bucket (maxProfStackDepth is 1024 in 1.23+, 32 before).
MAX_NSTK = 4096

#: How to get allocation stacks into the next core, for notes.
HOW_TO_SAMPLE = (
    "to record allocation stacks next time: reference the heap profiler (import _ "
    '"runtime/pprof", or any use of runtime.MemProfile/pprof), and sample every allocation '
    "with runtime.MemProfileRate = 1 early in main (or GODEBUG=memprofilerate=1)"
)


@dataclass(frozen=True)
class MemProfileFacts:
    """The heap profiler's state at the stop."""

    disabled_by_linker: bool | None  # runtime.disableMemoryProfiling (None: not readable)
    rate: int | None  # runtime.MemProfileRate at the stop
    cycle: int | None  # mProfCycle: mark terminations seen by the profiler
    flushed: bool | None  # the flushed bit of mProfCycle
    buckets: int  # memory-profile buckets chained from mbuckets
    recent_allocs: int | None  # sum over buckets of future[(C+2)%3].allocs
    recent_by_bucket: dict[int, int] = field(default_factory=dict)  # bucket -> that count
    notes: tuple[str, ...] = ()

    @property
    def sampling(self) -> bool:
        return not self.disabled_by_linker and bool(self.rate)

    def summary(self) -> str:
        """One line: what the heap profile can tell, e.g. for a document's ``sources``."""
        if self.disabled_by_linker:
            return "heap profile: disabled by the linker (the program never references it)"
        if self.rate is None:
            return "heap profile: MemProfileRate unreadable"
        if not self.rate:
            return "heap profile: off (MemProfileRate 0)"
        every = "every allocation" if self.rate == 1 else f"one sample per {self.rate} B"
        recent = (
            f", {self.recent_allocs} sampled allocation(s) since the last GC"
            if self.recent_allocs is not None
            else ""
        )
        return f"heap profile: rate {self.rate} ({every}){recent}"


def _global_int(proc: GoProcess, name: str) -> int | None:
    try:
        v = proc.find_global(name)
        return v.int() if v is not None else None
    except (LayoutError, UnreadableMemory):
        return None


def _bucket_layout(proc: GoProcess) -> tuple[int, int, int, int, int, int] | None:
    """(bucket header size, nstk, allnext, typ offsets, memRecord.future offset,
    memRecordCycle size); None when the binary lacks the types."""
    dw = proc.dw
    try:
        return (
            dw.size("runtime.bucket"),
            dw.offset("runtime.bucket", "nstk"),
            dw.offset("runtime.bucket", "allnext"),
            dw.offset("runtime.bucket", "typ"),
            dw.offset("runtime.memRecord", "future"),
            dw.size("runtime.memRecordCycle"),
        )
    except (LayoutError, GomemError, KeyError):
        return None


def mem_profile(proc: GoProcess) -> MemProfileFacts:
    """The profiler's settings and per-bucket counts since the last GC (``MEM_PROFILE``)."""
    notes: list[str] = []
    dis_v = _global_int(proc, "runtime.disableMemoryProfiling")
    disabled = None if dis_v is None else bool(dis_v)
    rate = _global_int(proc, "runtime.MemProfileRate")
    raw_cycle = None
    try:
        mc = proc.find_global("runtime.mProfCycle")
        if mc is not None:
            # mProfCycleHolder{value atomic.Uint32}; atomic.Uint32 wraps its uint32 as value.
            v = mc.get("value.value") or mc.get("value")
            raw_cycle = v.int() if v is not None else None
    except (LayoutError, UnreadableMemory):
        raw_cycle = None
    cycle = None if raw_cycle is None else raw_cycle >> 1
    flushed = None if raw_cycle is None else bool(raw_cycle & 1)
    lay = _bucket_layout(proc)
    nb = 0
    recent: int | None = None
    by_bucket: dict[int, int] = {}
    if lay is not None and cycle is not None:
        hdr, o_nstk, o_allnext, o_typ, o_future, rec_size = lay
        mem_profile_typ = proc.dw.constants.get("runtime.memProfile", 1)
        idx = (cycle + 2) % 3
        try:
            b = proc.global_("runtime.mbuckets")["value"].ptr()
        except (LayoutError, UnreadableMemory):
            b = 0
        recent = 0
        seen: set[int] = set()
        while b and nb < MAX_BUCKETS and b not in seen:
            seen.add(b)
            try:
                head = proc.mem.read(b, hdr)
                nstk = int.from_bytes(head[o_nstk : o_nstk + 8], "little")
                typ = int.from_bytes(head[o_typ : o_typ + 4], "little")
                if nstk > MAX_NSTK:
                    notes.append(f"memory-profile bucket {b:#x} has nstk {nstk}: walk stopped")
                    break
                if typ == mem_profile_typ:
                    at = b + hdr + 8 * nstk + o_future + idx * rec_size
                    allocs = proc.mem.u64(at)
                    by_bucket[b] = allocs
                    recent += allocs
                nb += 1
                b = int.from_bytes(head[o_allnext : o_allnext + 8], "little")
            except UnreadableMemory as exc:
                notes.append(f"memory-profile bucket chain unreadable at {b:#x} ({exc})")
                break
    return MemProfileFacts(
        disabled_by_linker=disabled,
        rate=rate,
        cycle=cycle,
        flushed=flushed,
        buckets=nb,
        recent_allocs=recent,
        recent_by_bucket=by_bucket,
        notes=tuple(notes),
    )


MEM_PROFILE: Lazy[MemProfileFacts] = Lazy("heap profile", mem_profile)


@dataclass(frozen=True)
class _SpecialLayout:
    kind: int
    o_next: int
    o_off: int
    off_size: int
    o_kind: int
    o_b: int


def _special_layout(proc: GoProcess) -> _SpecialLayout | None:
    dw = proc.dw
    kind = dw.constants.get("runtime._KindSpecialProfile")
    if kind is None or dw.find("runtime.specialprofile") is None:
        return None
    return _SpecialLayout(
        kind=kind,
        o_next=dw.offset("runtime.special", "next"),
        o_off=dw.offset("runtime.special", "offset"),
        off_size=dw.resolve(dw.field("runtime.special", "offset").type).size,
        o_kind=dw.offset("runtime.special", "kind"),
        o_b=dw.offset("runtime.specialprofile", "b"),
    )


def object_bucket(proc: GoProcess, specials: int, lo: int, hi: int | None = None) -> int | None:
    """The profile bucket of the object at span offsets ``[lo, hi)`` (``hi`` defaults to
    ``lo + 1``) in a span whose ``specials`` list starts at ``specials``; None when it was not
    sampled. The record sits at the pointer ``mallocgc`` returned: past a malloc header
    (1.22+), or at a tiny value inside a tiny block; the list is sorted by offset, so the
    first record in range is the lowest."""
    lay = _special_layout(proc)
    if lay is None or not specials:
        return None
    hi = lo + 1 if hi is None else hi
    mem = proc.mem
    sp, hops = specials, 0
    while sp and hops < MAX_SPECIALS_PER_SPAN:
        hops += 1
        try:
            if (
                mem.u8(sp + lay.o_kind) == lay.kind
                and lo <= mem.uint(sp + lay.o_off, lay.off_size) < hi
            ):
                return mem.u64(sp + lay.o_b)
            sp = mem.u64(sp + lay.o_next)
        except UnreadableMemory:
            return None
    return None


def profile_specials(proc: GoProcess, spans: Sequence[tuple[int, int]]) -> dict[int, int]:
    """Address -> profile bucket of every sampled object in the given spans ((span base,
    specials list head) pairs). The lists are walked in lockstep: one merged read of all the
    current nodes per step, never a read per node."""
    lay = _special_layout(proc)
    out: dict[int, int] = {}
    if lay is None:
        return out
    width = max(lay.o_next, lay.o_off + lay.off_size, lay.o_kind + 1, lay.o_b) + 8
    cur = [(base, head) for base, head in spans if head]
    hops = 0
    while cur and hops < MAX_SPECIALS_PER_SPAN:
        hops += 1
        raws = read_many(proc.mem, [(node, width) for _b, node in cur])
        nxt: list[tuple[int, int]] = []
        for (base, _node), raw in zip(cur, raws, strict=True):
            if raw is None:
                continue
            if raw[lay.o_kind] == lay.kind:
                off = int.from_bytes(raw[lay.o_off : lay.o_off + lay.off_size], "little")
                out[base + off] = int.from_bytes(raw[lay.o_b : lay.o_b + 8], "little")
            n = int.from_bytes(raw[lay.o_next : lay.o_next + 8], "little")
            if n:
                nxt.append((base, n))
        cur = nxt
    return out


def bucket_pcs(proc: GoProcess, bucket: int, limit: int) -> list[int] | None:
    """The first ``limit`` PCs of a bucket's stack (``bucket.stk`` follows the header),
    innermost first; None when the bucket is unreadable or implausible."""
    dw = proc.dw
    try:
        hdr = dw.size("runtime.bucket")
        n = proc.mem.u64(bucket + dw.offset("runtime.bucket", "nstk"))
        if n > limit * 16:
            return None
        raw = proc.mem.read(bucket + hdr, 8 * min(n, limit))
    except UnreadableMemory:
        return None
    return [int.from_bytes(raw[8 * k : 8 * k + 8], "little") for k in range(min(n, limit))]
