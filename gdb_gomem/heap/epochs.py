"""When each heap object was allocated, as far as the GC's own bookkeeping proves it.

The runtime's rules (Go 1.21-1.27, ``runtime/mheap.go``, ``malloc.go``, ``mgcsweep.go``,
``mgc.go``):

- slot ``i`` of an in-use span is allocated iff ``i < freeindex || allocBits[i]``; the
  allocator only advances ``freeindex`` (``nextFreeFast``/``nextFreeIndex``), so since the
  span's last sweep (or its creation) it has allocated exactly the slots below ``freeindex``
  whose ``allocBits`` bit is clear, in increasing slot order;
- sweeping installs ``allocBits = gcmarkBits`` and ``freeindex = 0``
  (``sweepLocked.sweep``); a new span starts with zero ``allocBits``, ``freeindex = 0`` and
  ``sweepgen = mheap_.sweepgen`` (``mheap.initSpan``); a large object's span is created
  with ``freeindex = 1`` (``mallocgcLarge``/``largeAlloc``);
- ``mheap_.sweepgen`` starts at 0 and grows by 2 in ``gcSweep``, at mark termination of every
  cycle, before ``memstats.last_gc_unix``/``pause_end[numgc%256]`` are written and
  ``numgc++``; the world restarts after that, and every P flushes its mcache
  (``prepareForSweep``) before it allocates again. So ``sweepgen/2`` is the number of the
  last completed cycle (``numgc``), and no program allocation falls between that cycle's
  sweepgen bump and its recorded end.

Hence, with ``S = sweepgen/2`` and a span's ``d = span.sweepgen - mheap_.sweepgen``:

- swept (``d == 0``, or ``3``: swept then cached in a P's mcache): slots below ``freeindex``
  with a clear ``allocBits`` bit were allocated after GC #S ended (``after_cycle = S``, no
  upper bound but the stop); a set bit means the object survived GC #S (allocated before it
  ended, ``before_cycle = S``, at an unknown time);
- unswept (``d == -2``, or ``1``: cached before the sweep began): the same test speaks of the
  previous cycle: allocated after GC #S-1 ended and before GC #S ended, or survived GC #S-1;
- being swept (``d == -1``): the sweeper may already have installed the new ``allocBits``
  (with ``freeindex`` 0): after GC #S-1, before GC #S, whichever state it is in.

Large objects, tiny-allocator blocks and spans cached in P mcaches (the newest allocations)
follow the same rule: a tiny block's values are all packed in while it is its P's current
block, which ``mcache.releaseAll`` drops at every mark termination. During a mark phase
(``gcphase`` not off at the stop) new objects are allocated black (``gcmarknewobject``): this
touches ``gcmarkBits`` only, so the bound stays the last completed cycle's. Green Tea's inline
mark bits (1.25 experiment, 1.26+) concern marks only, never ``allocBits``. The experimental
``runtimefreegc`` (1.26+, ``GOEXPERIMENT=runtimefreegc``, off by default) frees and reuses
objects outside a GC and breaks the rule: a reused survivor's slot would look older than it is
(a note says so when the build settings name the experiment). From 1.25 ``freeIndexForScan``
stops following ``freeindex`` while the write barrier is on, so during a mark phase the slots
``[freeIndexForScan, freeindex)`` were allocated after that mark began: a tighter bound not
used yet.

Within a span, among the objects allocated since its last sweep, a higher slot is a later
allocation: :attr:`AllocEpochs.order` keeps the slot index (``-1`` for survivors).

Everything is a numpy column operation over the object table; the only per-span work is one
merged read of the first ``ceil(freeindex/8)`` bytes of each span's ``allocBits``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.heap.objects import ObjectTable, as_int64, object_table
from gdb_gomem.runtime import clock
from gdb_gomem.runtime.spans import SpanWalk
from gdb_gomem.target.bulkread import read_many
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

#: ``after_cycle``/``before_cycle`` value meaning "no GC end bounds it" (older than every cycle
#: end the core proves, or allocated up to the stop).
UNKNOWN = -1

#: Span sweep states, as codes of the per-object ``state`` column.
ST_SWEPT, ST_UNSWEPT, ST_SWEEPING, ST_INVALID = 0, 1, 2, 3


@dataclass
class AllocEpochs:
    """Per object of the object table (same order): its allocation bound in GC cycles.

    ``after_cycle`` (int32): allocated after GC #``after_cycle`` ended, or :data:`UNKNOWN`
    (older: allocated before some GC end, at an unknown time). ``before_cycle`` (int32):
    allocated before GC #``before_cycle`` ended, or :data:`UNKNOWN` (up to the stop).
    ``order`` (int32): the slot index within its span for objects allocated since that span's
    last sweep (a higher slot is a later allocation in that span), else -1.
    """

    objects: ObjectTable
    after_cycle: np.ndarray
    before_cycle: np.ndarray
    order: np.ndarray
    epoch: clock.GcEpoch
    sweep_cycle: int  # mheap_.sweepgen / 2: the last cycle whose sweep began
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.after_cycle)

    def cycle_end(self, cycle: int) -> int | None:
        """Unix ns at which GC #``cycle`` ended (``memstats.pause_end``), None if unknown."""
        if cycle < 1:
            return None
        if cycle == self.epoch.num_gc and self.epoch.last_gc_unix_ns:
            return self.epoch.last_gc_unix_ns
        return self.epoch.cycle_end_unix_ns(cycle)

    def _times(self, cycles: np.ndarray) -> np.ndarray:
        out = np.zeros(len(cycles), np.int64)
        for cyc in np.unique(cycles).tolist():
            t = self.cycle_end(int(cyc)) if cyc != UNKNOWN else None
            if t:
                out[cycles == cyc] = t
        return out

    def after_unix_ns(self) -> np.ndarray:
        """int64 per object: the end of the cycle it was allocated after, 0 if unknown."""
        return self._times(self.after_cycle)

    def before_unix_ns(self) -> np.ndarray:
        """int64 per object: the end of the cycle it was allocated before, 0 = the stop."""
        return self._times(self.before_cycle)


def _sweep_deltas(walk: SpanWalk) -> np.ndarray:
    """``span.sweepgen - mheap_.sweepgen`` of every span of the walk (uint32, wrapping)."""
    sg = walk.sweepgen
    raw = np.array([s.sweepgen for s in walk.spans], dtype=np.int64)
    return ((raw - sg + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def build_epochs(proc: GoProcess) -> AllocEpochs:
    """The allocation epochs of every object of :func:`object_table` (see the module doc)."""
    ot = object_table(proc)
    walk = ot.walk
    ep = clock.gc_epoch(proc)
    notes: list[str] = []
    errors: list[str] = []
    sweep_cycle = (walk.sweepgen & 0xFFFFFFFF) // 2
    if sweep_cycle != ep.num_gc:
        notes.append(
            f"mheap_.sweepgen {walk.sweepgen} says {sweep_cycle} GC cycle(s) began sweeping but "
            f"memstats.numgc is {ep.num_gc}: the target stopped inside a mark termination; "
            "cycle numbers follow sweepgen"
        )
    if ep.gc_phase not in ("off", "unknown"):
        notes.append(
            f"GC #{sweep_cycle + 1} was in its {ep.gc_phase} phase at the stop: objects allocated "
            "since marking began are allocated black, which changes only mark bits; bounds "
            f"speak of the last completed cycle, #{sweep_cycle}"
        )
    experiments = proc.binary.build_info.settings.get("GOEXPERIMENT", "")
    if "runtimefreegc" in experiments.lower():
        notes.append(
            "built with GOEXPERIMENT=runtimefreegc: the runtime may free and reuse objects "
            "between GCs, so a reused slot can look older than its allocation"
        )
    n = len(ot)
    spans = walk.spans
    nspan = len(spans)
    # A corrupt descriptor owns no object; its fields (a base of 2^63) must not reach int64.
    sane = [s.error is None for s in spans]
    base = np.array([s.base if k else 0 for s, k in zip(spans, sane, strict=True)], np.int64)
    elem = np.array(
        [max(s.elemsize, 1) if k else 1 for s, k in zip(spans, sane, strict=True)], np.int64
    )
    fidx = np.array(
        [min(s.freeindex, s.nelems) if k else 0 for s, k in zip(spans, sane, strict=True)],
        np.int64,
    )
    d = _sweep_deltas(walk) if nspan else np.zeros(0, np.int64)
    state = np.full(nspan, ST_INVALID, np.int8)
    state[(d == 0) | (d == 3)] = ST_SWEPT
    state[(d == -2) | (d == 1)] = ST_UNSWEPT
    state[d == -1] = ST_SWEEPING

    sp = as_int64(ot.span) if n else np.zeros(0, np.int64)
    slot = (as_int64(ot.addr) - base[sp]) // elem[sp] if n else np.zeros(0, np.int64)
    below = slot < fidx[sp]

    # allocBits, only where they decide anything: the bytes below freeindex.
    used = np.flatnonzero(np.bincount(sp[below], minlength=nspan) > 0) if n else np.zeros(0, int)
    nbytes = (fidx[used] + 7) // 8
    used_l, nbytes_l = used.tolist(), nbytes.tolist()
    raws = read_many(
        proc.mem, [(spans[i].alloc_bits, k) for i, k in zip(used_l, nbytes_l, strict=True)]
    )
    bad = [spans[i].base for i, r in zip(used_l, raws, strict=True) if r is None]
    if bad:
        errors.append(
            f"allocBits of {len(bad)} span(s) unreadable (first at {bad[0]:#x}): their objects "
            "get no allocation bound"
        )
    start = np.zeros(nspan, np.int64)
    readable = np.ones(nspan, bool)
    if len(used):
        st = np.zeros(len(used), np.int64)
        st[1:] = np.cumsum(nbytes[:-1])
        start[used] = st
        readable[used[[r is None for r in raws]]] = False
        buf = np.frombuffer(
            b"".join(r if r is not None else bytes(k) for r, k in zip(raws, nbytes_l, strict=True)),
            dtype=np.uint8,
        )
        rows = np.flatnonzero(below)
        bitpos = start[sp[rows]] * 8 + slot[rows]
        abit = np.zeros(n, bool)
        abit[rows] = ((buf[bitpos >> 3] >> (bitpos & 7).astype(np.uint8)) & 1).astype(bool)
    else:
        abit = np.zeros(n, bool)

    ok = readable[sp] if n else np.zeros(0, bool)
    fresh = below & ~abit & ok  # allocated since the span's last sweep (or creation)
    ost = state[sp] if n else np.zeros(0, np.int8)
    s_cyc, prev = sweep_cycle, sweep_cycle - 1
    after = np.full(n, UNKNOWN, np.int32)
    before = np.full(n, UNKNOWN, np.int32)
    after[fresh & (ost == ST_SWEPT)] = s_cyc
    prev_fresh = fresh & ((ost == ST_UNSWEPT) | (ost == ST_SWEEPING))
    after[prev_fresh] = prev
    before[prev_fresh] = s_cyc
    survived = ~fresh & ok
    before[survived & ((ost == ST_SWEPT) | (ost == ST_SWEEPING))] = s_cyc
    before[survived & (ost == ST_UNSWEPT)] = prev
    after[after < 1] = UNKNOWN  # "after GC #0" is no bound
    before[before < 1] = UNKNOWN
    order = np.where(fresh, slot, -1).astype(np.int32)
    if int((ost == ST_INVALID).sum()):
        errors.append(
            f"{int((ost == ST_INVALID).sum())} object(s) in spans with an invalid sweepgen: "
            "no allocation bound"
        )
    return AllocEpochs(
        objects=ot,
        after_cycle=after,
        before_cycle=before,
        order=order,
        epoch=ep,
        sweep_cycle=sweep_cycle,
        notes=notes,
        errors=errors,
    )


ALLOC_EPOCHS: Lazy[AllocEpochs] = Lazy("allocation epochs", build_epochs, phase=True, persist=True)


def alloc_epochs(proc: GoProcess) -> AllocEpochs:
    """The allocation epochs of this process snapshot, built once."""
    return ALLOC_EPOCHS(proc)
