"""Reader of the Go execution trace, format "v2" (Go 1.22+), as ``trace.Start`` and
``runtime/trace.FlightRecorder.WriteTo`` write it; and the heap object events of
``GODEBUG=traceallocfree=1`` decoded to addresses and wall-clock times.

The authority is the Go source of each release: ``internal/trace/tracev2`` (event specs),
``internal/trace/{batch,generation,batchcursor,order}.go`` (reader) and the writer in
``runtime/trace*.go``, ``runtime/traceallocfree.go``. In short:

- header ``"go 1.NN trace\\0\\0\\0"`` (16 bytes). Format versions: 22, 23, 25, 26 (Go 1.27
  still writes 26). Events after ``EvUserLog`` are 1.23+, ``EvSync``/``EvClockSnapshot`` 1.25+,
  ``EvEndOfGeneration`` 1.26+ (an in-band one-byte "batch" closing each generation; before
  1.26 a generation ends where a batch of the next generation begins).
- batches: ``EvEventBatch gen m time size data`` or ``EvExperimentalBatch exp gen m time size
  data`` (uvarints; ``m`` is the thread id, ``2**64-1`` for none; ``time`` the batch's base
  tick; ``size`` at most 64 KiB). A batch whose data starts with ``EvStrings``, ``EvStacks``,
  ``EvCPUSamples`` or ``EvSync`` (``EvFrequency`` before 1.25) is a table; any other ordinary
  batch is a run of timed events ``type dt args...`` (uvarints, ``dt`` in ticks after the
  previous event, the first after the batch's base time).
- clocks: ``EvFrequency`` = ticks per second; ``EvClockSnapshot dt mono sec nsec`` (1.25+) ties
  a tick to ``nanotime()`` and to the wall clock, once per generation.
- the goroutine of an event is the one running on its thread (batches are per M): set by
  ``GoStart``, ``GoSwitch*``, ``GoStatus``(Running, or Syscall on this M), ``GoCreateSyscall``;
  cleared by ``GoStop``, ``GoBlock``, ``GoDestroy*``, ``GoSyscallEndBlocked`` (order.go).
- ``traceallocfree``: experimental events 128-136 (``Span*``, ``HeapObject*``,
  ``GoroutineStack*``) inside ordinary batches; two experimental batches (experiment 1,
  ``AllocFree``) in the first generation only: info ``[1, minPageHeapAddr, pageSize,
  MinHeapAlign, fixedStack]`` and types ``[0, {id, addr, size, ptrbytes, len, name}...]``.
  Object id = ``(addr - minPageHeapAddr) / MinHeapAlign``. The flight recorder's own batch
  reader (runtime/trace/batch.go, 1.25-1.27) does not read experimental batch headers, so a
  ``WriteTo`` never holds them: the base must then come from the core
  (``runtime.trace.minPageHeapAddr``).

Reading never raises on damaged input past the header: what cannot be read is skipped with a
note (a torn or unknown batch header ends the reading, keeping the generations before it; a
torn table batch is skipped; an unknown or torn event ends its batch's events). The work is
bounded by the input (at most one event per two bytes) and by ``time_limit``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...base.errors import BadFile

# --- event types (internal/trace/tracev2/events.go) -------------------------------------

EV_EVENT_BATCH = 1
EV_STACKS = 2
EV_STACK = 3
EV_STRINGS = 4
EV_STRING = 5
EV_CPU_SAMPLES = 6
EV_CPU_SAMPLE = 7
EV_FREQUENCY = 8
EV_PROC_START = 10
EV_PROC_STOP = 11
EV_PROC_STEAL = 12
EV_PROC_STATUS = 13
EV_GO_CREATE_SYSCALL = 15
EV_GO_START = 16
EV_GO_DESTROY = 17
EV_GO_DESTROY_SYSCALL = 18
EV_GO_STOP = 19
EV_GO_BLOCK = 20
EV_GO_SYSCALL_END_BLOCKED = 24
EV_GO_STATUS = 25
EV_USER_LOG = 44
EV_GO_SWITCH = 45
EV_GO_SWITCH_DESTROY = 46
EV_GO_STATUS_STACK = 48
EV_EXPERIMENTAL_BATCH = 49
EV_SYNC = 50
EV_CLOCK_SNAPSHOT = 51
EV_END_OF_GENERATION = 52

EV_SPAN = 128
EV_SPAN_ALLOC = 129
EV_SPAN_FREE = 130
EV_HEAP_OBJECT = 131
EV_HEAP_OBJECT_ALLOC = 132
EV_HEAP_OBJECT_FREE = 133
EV_GOROUTINE_STACK = 134
EV_GOROUTINE_STACK_ALLOC = 135
EV_GOROUTINE_STACK_FREE = 136

EXP_ALLOC_FREE = 1
ALLOC_FREE_TYPES_BATCH = 0
ALLOC_FREE_INFO_BATCH = 1

NO_THREAD = (1 << 64) - 1
MAX_BATCH_SIZE = 64 << 10
MAX_FRAMES_PER_STACK = 128
MAX_STRING_SIZE = 1 << 10

GO_STATUS_RUNNING = 2
GO_STATUS_SYSCALL = 3
PROC_STATUS_RUNNING = 1
PROC_STATUS_SYSCALL = 3

#: Timed events: type -> (name, number of uvarint arguments after ``dt``).
TIMED: dict[int, tuple[str, int]] = {
    9: ("ProcsChange", 2),
    10: ("ProcStart", 2),
    11: ("ProcStop", 0),
    12: ("ProcSteal", 3),
    13: ("ProcStatus", 2),
    14: ("GoCreate", 3),
    15: ("GoCreateSyscall", 1),
    16: ("GoStart", 2),
    17: ("GoDestroy", 0),
    18: ("GoDestroySyscall", 0),
    19: ("GoStop", 2),
    20: ("GoBlock", 2),
    21: ("GoUnblock", 3),
    22: ("GoSyscallBegin", 2),
    23: ("GoSyscallEnd", 0),
    24: ("GoSyscallEndBlocked", 0),
    25: ("GoStatus", 3),
    26: ("STWBegin", 2),
    27: ("STWEnd", 0),
    28: ("GCActive", 1),
    29: ("GCBegin", 2),
    30: ("GCEnd", 1),
    31: ("GCSweepActive", 1),
    32: ("GCSweepBegin", 1),
    33: ("GCSweepEnd", 2),
    34: ("GCMarkAssistActive", 1),
    35: ("GCMarkAssistBegin", 1),
    36: ("GCMarkAssistEnd", 0),
    37: ("HeapAlloc", 1),
    38: ("HeapGoal", 1),
    39: ("GoLabel", 1),
    40: ("UserTaskBegin", 4),
    41: ("UserTaskEnd", 2),
    42: ("UserRegionBegin", 3),
    43: ("UserRegionEnd", 3),
    44: ("UserLog", 4),
    45: ("GoSwitch", 2),
    46: ("GoSwitchDestroy", 2),
    47: ("GoCreateBlocked", 3),
    48: ("GoStatusStack", 4),
    51: ("ClockSnapshot", 3),
    128: ("Span", 3),
    129: ("SpanAlloc", 3),
    130: ("SpanFree", 1),
    131: ("HeapObject", 2),
    132: ("HeapObjectAlloc", 2),
    133: ("HeapObjectFree", 1),
    134: ("GoroutineStack", 2),
    135: ("GoroutineStackAlloc", 2),
    136: ("GoroutineStackFree", 1),
}

#: Trace format version -> the highest ordinary event type it defines (version/version.go).
VERSIONS: dict[int, int] = {
    22: EV_USER_LOG,
    23: EV_EXPERIMENTAL_BATCH,
    25: EV_CLOCK_SNAPSHOT,
    26: EV_END_OF_GENERATION,
}
#: The experimental events exist from format 23 (Go 1.23).
FIRST_EXPERIMENTAL_VERSION = 23

#: Memory events kept in ``Trace.mem`` (the AllocFree experiment).
MEM_EVENTS = frozenset(range(EV_SPAN, EV_GOROUTINE_STACK_FREE + 1))

HEADER_SIZE = 16


class TraceFormatError(BadFile):
    """Bytes that are not a Go execution trace of a format this reader knows."""

    hint = "expected a Go 1.22+ execution trace (runtime/trace, FlightRecorder.WriteTo)"


# --- data model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One batch: its header and where its data lies in the trace bytes."""

    gen: int
    m: int  # thread id, -1 for none
    ticks: int  # base time
    exp: int  # experiment id, 0 for an ordinary batch
    start: int  # offset of the data in the trace
    size: int


@dataclass(frozen=True)
class ClockSync:
    """A generation's clocks: ticks per second and, 1.25+, one simultaneous reading of the
    trace clock, ``nanotime()`` and the wall clock."""

    freq: int  # ticks per second
    ticks: int | None = None
    mono_ns: int | None = None
    wall_ns: int | None = None

    @property
    def ns_per_tick(self) -> float:
        return 1e9 / self.freq

    def ns(self, ticks: int) -> int:
        """The trace's own nanoseconds for ticks (Go's ``frequency.mul``)."""
        return int(float(ticks) * self.ns_per_tick)


@dataclass(frozen=True)
class Frame:
    pc: int
    func: str
    file: str
    line: int


@dataclass(frozen=True)
class AllocFreeInfo:
    """The AllocFree experiment's info batch (traceallocfree.go, ``traceSnapshotMemory``)."""

    min_heap_addr: int
    page_size: int
    min_heap_align: int
    min_stack_align: int


@dataclass(frozen=True)
class TraceType:
    id: int
    addr: int
    size: int
    ptr_bytes: int
    name: str


@dataclass
class Generation:
    gen: int
    batches: list[Batch] = field(default_factory=list)
    clock: ClockSync | None = None
    strings: dict[int, str] = field(default_factory=dict)
    stacks: dict[int, tuple[int, ...]] = field(default_factory=dict)  # id -> pcs
    frames: dict[int, Frame] = field(default_factory=dict)  # pc -> frame
    min_ticks: int = 0
    max_ticks: int = 0
    complete: bool = False  # closed by its end marker or by the next generation
    #: Where the wall clock of ``clock`` comes from: "snapshot" (the generation's own
    #: EvClockSnapshot), "core" (a wall/monotonic pair the runtime wrote elsewhere, given to
    #: read_trace), "" (none: times are the trace clock only).
    clock_source: str = ""
    counts: Counter[str] = field(default_factory=Counter)  # wire events per name
    cpu_samples: int = 0

    def stack(self, stack_id: int) -> list[Frame]:
        return [self.frames.get(pc, Frame(pc, "?", "?", 0)) for pc in self.stacks.get(stack_id, ())]

    def seconds(self) -> float:
        if self.clock is None or self.max_ticks < self.min_ticks:
            return 0.0
        return (self.max_ticks - self.min_ticks) / self.clock.freq


@dataclass
class MemEvents:
    """Every AllocFree event in reading order (per thread in time order)."""

    kind: np.ndarray  # uint8 event type (EV_SPAN .. EV_GOROUTINE_STACK_FREE)
    gen: np.ndarray  # int64 generation number
    ticks: np.ndarray  # int64 trace clock
    id: np.ndarray  # uint64 object / span / stack id
    arg: np.ndarray  # uint64 type id, npages or order (0 when none)
    arg2: np.ndarray  # uint64 span kind/class (0 when none)
    g: np.ndarray  # int64 goroutine running on the thread, -1 for none/unknown
    m: np.ndarray  # int64 thread id, -1 for none
    p: np.ndarray  # int64 P held by the thread, -1 for none/unknown

    def __len__(self) -> int:
        return int(self.kind.size)


@dataclass
class Trace:
    version: int  # format version: 22, 23, 25, 26
    size: int
    generations: list[Generation]
    mem: MemEvents
    alloc_info: AllocFreeInfo | None
    types: dict[int, TraceType]
    notes: list[str]
    consumed: int  # bytes read as whole batches

    @property
    def go_version(self) -> str:
        return f"go1.{self.version}"

    def counts(self) -> Counter[str]:
        """Wire events per name over all generations (as ``go tool trace -d=wire`` lists
        them, batch headers and table events included)."""
        out: Counter[str] = Counter()
        for g in self.generations:
            out.update(g.counts)
        return out

    def clock_of(self, gen: int) -> ClockSync | None:
        """The clocks of generation gen, else of the nearest generation that has them."""
        best: tuple[int, ClockSync] | None = None
        for g in self.generations:
            if g.clock is None:
                continue
            d = abs(g.gen - gen)
            if g.gen == gen:
                return g.clock
            if best is None or d < best[0]:
                best = (d, g.clock)
        return best[1] if best else None

    def seconds(self) -> float:
        """Seconds of trace clock the generations with clocks cover (first to last event)."""
        span = [
            (g.clock.ns(g.min_ticks), g.clock.ns(g.max_ticks))
            for g in self.generations
            if g.clock is not None and g.max_ticks >= g.min_ticks
        ]
        if not span:
            return 0.0
        return (max(b for _, b in span) - min(a for a, _ in span)) / 1e9

    def wall_range_ns(self) -> tuple[int, int] | None:
        """Wall-clock unix ns of the first and last event of the generations that carry a
        clock snapshot (1.25+), else None."""
        lo: int | None = None
        hi: int | None = None
        for g in self.generations:
            c = g.clock
            if c is None or c.wall_ns is None or c.ticks is None or g.max_ticks < g.min_ticks:
                continue
            a = c.wall_ns + c.ns(g.min_ticks) - c.ns(c.ticks)
            b = c.wall_ns + c.ns(g.max_ticks) - c.ns(c.ticks)
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
        return None if lo is None or hi is None else (lo, hi)


# --- reading -------------------------------------------------------------------------------


class _Torn(Exception):
    """Input ended or broke inside a structure."""


def _uvarint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    x = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Torn("truncated uvarint")
        c = data[pos]
        pos += 1
        if c < 0x80:
            return x | (c << shift), pos
        x |= (c & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise _Torn("uvarint overflows 64 bits")


def read_header(data: bytes) -> int:
    """The trace format version of the header, or TraceFormatError."""
    if len(data) < HEADER_SIZE:
        raise TraceFormatError(f"not a Go execution trace: {len(data)} byte(s), no header")
    head = bytes(data[:HEADER_SIZE])
    if not head.startswith(b"go 1.") or not head.endswith(b" trace\x00\x00\x00"):
        raise TraceFormatError(f"not a Go execution trace: header {head[:16]!r}")
    try:
        ver = int(head[5 : HEADER_SIZE - len(" trace\x00\x00\x00")])
    except ValueError:
        raise TraceFormatError(f"not a Go execution trace: header {head!r}") from None
    if ver not in VERSIONS:
        if ver < 22:
            raise TraceFormatError(
                f"trace format go 1.{ver} is the old (v1) format, not read by gdb-gomem"
            )
        raise TraceFormatError(f"unknown trace format version go 1.{ver}")
    return ver


def _read_batch_header(data: bytes, pos: int, end: int, ver: int) -> tuple[Batch | None, int]:
    """The batch at pos (None for an end-of-generation marker) and the offset after it."""
    typ = data[pos]
    if typ == EV_END_OF_GENERATION and ver >= 26:
        return None, pos + 1
    if typ not in (EV_EVENT_BATCH, EV_EXPERIMENTAL_BATCH) or (
        typ == EV_EXPERIMENTAL_BATCH and ver < FIRST_EXPERIMENTAL_VERSION
    ):
        raise _Torn(f"expected a batch at offset {pos}, found byte {typ}")
    p = pos + 1
    exp = 0
    if typ == EV_EXPERIMENTAL_BATCH:
        if p >= end:
            raise _Torn("truncated experimental batch header")
        exp = data[p]
        p += 1
    gen, p = _uvarint(data, p, end)
    m, p = _uvarint(data, p, end)
    ts, p = _uvarint(data, p, end)
    size, p = _uvarint(data, p, end)
    if size > MAX_BATCH_SIZE:
        raise _Torn(f"batch at offset {pos}: size {size} > {MAX_BATCH_SIZE}")
    if p + size > end:
        raise _Torn(f"batch at offset {pos}: {size} byte(s) of data, {end - p} left")
    if gen == 0:
        raise _Torn(f"batch at offset {pos}: generation 0")
    return Batch(gen, -1 if m == NO_THREAD else m, ts, exp, p, size), p + size


class _MemCols:
    def __init__(self) -> None:
        self.kind: list[int] = []
        self.gen: list[int] = []
        self.ticks: list[int] = []
        self.id: list[int] = []
        self.arg: list[int] = []
        self.arg2: list[int] = []
        self.g: list[int] = []
        self.m: list[int] = []
        self.p: list[int] = []

    def arrays(self) -> MemEvents:
        return MemEvents(
            kind=np.array(self.kind, dtype=np.uint8),
            gen=np.array(self.gen, dtype=np.int64),
            ticks=np.array(self.ticks, dtype=np.int64),
            id=np.array(self.id, dtype=np.uint64),
            arg=np.array(self.arg, dtype=np.uint64),
            arg2=np.array(self.arg2, dtype=np.uint64),
            g=np.array(self.g, dtype=np.int64),
            m=np.array(self.m, dtype=np.int64),
            p=np.array(self.p, dtype=np.int64),
        )


class _Reader:
    def __init__(
        self,
        data: bytes,
        ver: int,
        deadline: float | None,
        wall_anchor: tuple[int, int] | None = None,
    ) -> None:
        self.data = data
        self.ver = ver
        self.wall_anchor = wall_anchor
        self.notes: list[str] = []
        self.mem = _MemCols()
        self.alloc_info: AllocFreeInfo | None = None
        self.types: dict[int, TraceType] = {}
        # thread -> [goroutine, P]; kept across generations like order.go's mStates.
        self.mstate: dict[int, list[int]] = {}
        self.deadline = deadline
        self._pending_frames: list[tuple[Generation, list[tuple[int, int, int, int]]]] = []
        max_type = VERSIONS[ver]
        self.timed = {
            t: v
            for t, v in TIMED.items()
            if t <= max_type or (t >= EV_SPAN and ver >= FIRST_EXPERIMENTAL_VERSION)
        }

    def note(self, text: str) -> None:
        if len(self.notes) < 50:
            self.notes.append(text)
        elif len(self.notes) == 50:
            self.notes.append("further notes omitted")

    # -- structure

    def split(self) -> tuple[list[Generation], int]:
        data, ver = self.data, self.ver
        end = len(data)
        pos = HEADER_SIZE
        gens: list[Generation] = []
        cur: Generation | None = None
        while pos < end:
            try:
                b, nxt = _read_batch_header(data, pos, end, ver)
            except _Torn as e:
                self.note(f"trace ends in a torn or unknown batch ({e}); the rest is not read")
                break
            pos = nxt
            if b is None:  # EndOfGeneration (1.26+)
                if cur is not None:
                    cur.complete = True
                    cur.counts["EndOfGeneration"] += 1
                    gens.append(cur)
                cur = None
                continue
            if cur is not None and b.gen != cur.gen:
                if ver < 26 and b.gen != cur.gen:
                    cur.complete = True
                else:
                    self.note(f"generation {cur.gen} has no end marker before generation {b.gen}")
                gens.append(cur)
                cur = None
            if cur is None:
                if any(g.gen == b.gen for g in gens):
                    self.note(f"generation {b.gen} appears twice: batches are interleaved")
                cur = Generation(b.gen)
            cur.batches.append(b)
        if cur is not None:
            if ver >= 26:
                self.note(f"generation {cur.gen} is incomplete (no end marker): read as is")
            else:
                # Before 1.26 the last generation ends at the end of the data; it is whole
                # if the trace was written whole, which the bytes alone cannot tell.
                cur.complete = True
            gens.append(cur)
        return gens, pos

    def generation(self, g: Generation) -> None:
        events: list[Batch] = []
        freq = 0
        snap: tuple[int, int, int] | None = None
        snap_ticks: int | None = None
        first_ts: int | None = None
        for b in g.batches:
            g.counts["EventBatch" if b.exp == 0 else "ExperimentalBatch"] += 1
            if first_ts is None or b.ticks < first_ts:
                first_ts = b.ticks
            try:
                if b.exp != 0:
                    self.experimental(b)
                    continue
                if b.size == 0:
                    continue
                head = self.data[b.start]
                if head == EV_STRINGS:
                    self.strings(g, b)
                elif head == EV_STACKS:
                    self.stacks(g, b)
                elif head == EV_CPU_SAMPLES:
                    self.cpu_samples(g, b)
                elif (head == EV_SYNC and self.ver >= 25) or (
                    head == EV_FREQUENCY and self.ver < 25
                ):
                    f, s, st = self.sync(g, b)
                    if f:
                        if freq and f != freq:
                            self.note(f"generation {g.gen}: two frequencies {freq} and {f}")
                        freq = f
                    if s is not None:
                        snap, snap_ticks = s, st
                else:
                    events.append(b)
            except _Torn as e:
                self.note(f"generation {g.gen}: batch at offset {b.start} is torn ({e})")
        if freq:
            if snap is not None:
                g.clock = ClockSync(freq, snap_ticks, snap[0], snap[1] * 1_000_000_000 + snap[2])
                g.clock_source = "snapshot"
            elif self.wall_anchor is not None:
                # The trace clock is nanotime()/div (runtime/tracetime.go): a monotonic
                # reading with its wall time places it.
                unix, mono = self.wall_anchor
                g.clock = ClockSync(freq, mono * freq // 1_000_000_000, mono, unix)
                g.clock_source = "core"
            else:
                g.clock = ClockSync(freq)
                if self.ver >= 25:
                    self.note(f"generation {g.gen} has no clock snapshot")
        else:
            self.note(f"generation {g.gen} has no frequency event: its times are unknown")
        lo = first_ts if first_ts is not None else 0
        hi = lo
        for b in events:
            hi = max(hi, self.events(g, b))
        g.min_ticks, g.max_ticks = lo, hi

    def strings(self, g: Generation, b: Batch) -> None:
        data, end = self.data, b.start + b.size
        p = b.start + 1
        g.counts["Strings"] += 1
        while p < end:
            if data[p] != EV_STRING:
                raise _Torn(f"expected a string event, found {data[p]}")
            sid, p = _uvarint(data, p + 1, end)
            n, p = _uvarint(data, p, end)
            if n > MAX_STRING_SIZE or p + n > end:
                raise _Torn(f"string {sid} of {n} byte(s) overruns its batch")
            g.strings[sid] = bytes(data[p : p + n]).decode("utf-8", "replace")
            p += n
            g.counts["String"] += 1

    def stacks(self, g: Generation, b: Batch) -> None:
        data, end = self.data, b.start + b.size
        p = b.start + 1
        g.counts["Stacks"] += 1
        pending: list[tuple[int, int, int, int]] = []
        while p < end:
            if data[p] != EV_STACK:
                raise _Torn(f"expected a stack event, found {data[p]}")
            sid, p = _uvarint(data, p + 1, end)
            nframes, p = _uvarint(data, p, end)
            if nframes > MAX_FRAMES_PER_STACK:
                raise _Torn(f"stack {sid} has {nframes} frames")
            pcs = []
            for _ in range(nframes):
                pc, p = _uvarint(data, p, end)
                fn, p = _uvarint(data, p, end)
                fl, p = _uvarint(data, p, end)
                line, p = _uvarint(data, p, end)
                pcs.append(pc)
                pending.append((pc, fn, fl, line))
            g.stacks[sid] = tuple(pcs)
            g.counts["Stack"] += 1
        self._pending_frames.append((g, pending))

    def resolve_frames(self) -> None:
        for g, pending in self._pending_frames:
            for pc, fn, fl, line in pending:
                if pc not in g.frames:
                    g.frames[pc] = Frame(pc, g.strings.get(fn, "?"), g.strings.get(fl, "?"), line)

    def cpu_samples(self, g: Generation, b: Batch) -> None:
        data, end = self.data, b.start + b.size
        p = b.start + 1
        g.counts["CPUSamples"] += 1
        while p < end:
            if data[p] != EV_CPU_SAMPLE:
                raise _Torn(f"expected a CPU sample, found {data[p]}")
            p += 1
            for _ in range(5):
                _, p = _uvarint(data, p, end)
            g.cpu_samples += 1
            g.counts["CPUSample"] += 1

    def sync(self, g: Generation, b: Batch) -> tuple[int, tuple[int, int, int] | None, int | None]:
        data, end = self.data, b.start + b.size
        p = b.start
        if self.ver >= 25:
            p += 1
            g.counts["Sync"] += 1
        freq = 0
        snap: tuple[int, int, int] | None = None
        snap_ticks: int | None = None
        last = b.ticks
        while p < end:
            ev = data[p]
            p += 1
            if ev == EV_FREQUENCY:
                freq, p = _uvarint(data, p, end)
                g.counts["Frequency"] += 1
            elif ev == EV_CLOCK_SNAPSHOT and self.ver >= 25:
                dt, p = _uvarint(data, p, end)
                last += dt
                mono, p = _uvarint(data, p, end)
                sec, p = _uvarint(data, p, end)
                nsec, p = _uvarint(data, p, end)
                snap, snap_ticks = (mono, sec, nsec), last
                g.counts["ClockSnapshot"] += 1
            else:
                raise _Torn(f"expected a frequency or clock snapshot event, found {ev}")
        return freq, snap, snap_ticks

    def experimental(self, b: Batch) -> None:
        if b.exp != EXP_ALLOC_FREE or b.size == 0:
            return
        data, end = self.data, b.start + b.size
        p = b.start + 1
        kind = data[b.start]
        if kind == ALLOC_FREE_INFO_BATCH:
            vals = []
            for _ in range(4):
                v, p = _uvarint(data, p, end)
                vals.append(v)
            info = AllocFreeInfo(*vals)
            if self.alloc_info is not None and self.alloc_info != info:
                self.note("two different AllocFree info batches: the first is used")
            else:
                self.alloc_info = info
        elif kind == ALLOC_FREE_TYPES_BATCH:
            while p < end:
                tid, p = _uvarint(data, p, end)
                addr, p = _uvarint(data, p, end)
                size, p = _uvarint(data, p, end)
                ptr, p = _uvarint(data, p, end)
                n, p = _uvarint(data, p, end)
                if p + n > end:
                    raise _Torn("type name overruns its batch")
                name = bytes(data[p : p + n]).decode("utf-8", "replace")
                p += n
                self.types.setdefault(tid, TraceType(tid, addr, size, ptr, name))

    def events(self, g: Generation, b: Batch) -> int:
        """Walk one event batch; returns the tick of its last event."""
        data, end = self.data, b.start + b.size
        timed = self.timed
        counts = g.counts
        mem = self.mem
        st = self.mstate.get(b.m) if b.m >= 0 else None
        if st is None:
            st = [-1, -1]
            if b.m >= 0:
                self.mstate[b.m] = st
        ts = b.ticks
        p = b.start
        args = [0, 0, 0, 0]
        try:
            while p < end:
                typ = data[p]
                spec = timed.get(typ)
                if spec is None:
                    raise _Torn(f"unknown event type {typ}")
                p += 1
                # dt, inlined one-byte fast path
                c = data[p] if p < end else 0x100
                if c < 0x80:
                    dt = c
                    p += 1
                else:
                    dt, p = _uvarint(data, p, end)
                ts += dt
                name, nargs = spec
                for i in range(nargs):
                    c = data[p] if p < end else 0x100
                    if c < 0x80:
                        args[i] = c
                        p += 1
                    else:
                        args[i], p = _uvarint(data, p, end)
                counts[name] += 1
                if typ >= EV_SPAN:
                    mem.kind.append(typ)
                    mem.gen.append(g.gen)
                    mem.ticks.append(ts)
                    mem.id.append(args[0])
                    mem.arg.append(args[1] if nargs > 1 else 0)
                    mem.arg2.append(args[2] if nargs > 2 else 0)
                    mem.g.append(st[0])
                    mem.m.append(b.m)
                    mem.p.append(st[1])
                elif typ in (EV_GO_START, EV_GO_SWITCH, EV_GO_SWITCH_DESTROY):
                    st[0] = args[0]
                elif typ in (
                    EV_GO_STOP,
                    EV_GO_BLOCK,
                    EV_GO_DESTROY,
                    EV_GO_DESTROY_SYSCALL,
                    EV_GO_SYSCALL_END_BLOCKED,
                ):
                    st[0] = -1
                elif typ == EV_GO_CREATE_SYSCALL:
                    st[0] = args[0]
                elif typ in (EV_GO_STATUS, EV_GO_STATUS_STACK):
                    gid, mid, status = args[0], args[1], args[2]
                    if status == GO_STATUS_RUNNING or (status == GO_STATUS_SYSCALL and mid == b.m):
                        st[0] = gid
                    elif status == GO_STATUS_SYSCALL and mid != NO_THREAD:
                        self.mstate.setdefault(mid, [gid, -1])
                elif typ == EV_PROC_START:
                    st[1] = args[0]
                elif typ == EV_PROC_STOP:
                    st[1] = -1
                elif typ == EV_PROC_STATUS:
                    if args[1] in (PROC_STATUS_RUNNING, PROC_STATUS_SYSCALL):
                        st[1] = args[0]
                elif typ == EV_PROC_STEAL:
                    victim = self.mstate.get(args[2])
                    if victim is not None and victim is not st and victim[1] == args[0]:
                        victim[1] = -1
        except _Torn as e:
            self.note(
                f"generation {g.gen}: thread {b.m}'s batch at offset {b.start} stops at "
                f"offset {p}: {e}"
            )
        return ts


def read_trace(
    data: bytes,
    *,
    time_limit: float | None = 60.0,
    wall_anchor: tuple[int, int] | None = None,
) -> Trace:
    """Read a whole trace (``trace.Start`` output or ``FlightRecorder.WriteTo``).

    wall_anchor, (unix ns, nanotime) read together (a core's last GC), gives wall times to the
    generations without a clock snapshot (every one before Go 1.25); their ``clock_source``
    is then "core".

    Raises TraceFormatError when the header is not a v2 trace's; anything broken after it is
    skipped with a note in ``Trace.notes``. time_limit (seconds) bounds the event walk; past
    it the remaining generations are listed without their events (a note says so).
    """
    mv = bytes(data) if not isinstance(data, bytes) else data
    ver = read_header(mv)
    deadline = time.monotonic() + time_limit if time_limit is not None else None
    r = _Reader(mv, ver, deadline, wall_anchor)
    gens, consumed = r.split()
    for g in gens:
        if deadline is not None and time.monotonic() > deadline:
            r.note(f"time limit reached: generation {g.gen} and later not read")
            break
        r.generation(g)
    r.resolve_frames()
    if not gens:
        r.note("the trace holds no generation")
    return Trace(
        version=ver,
        size=len(mv),
        generations=gens,
        mem=r.mem.arrays(),
        alloc_info=r.alloc_info,
        types=r.types,
        notes=r.notes,
        consumed=consumed,
    )


# --- heap objects -----------------------------------------------------------------------------


@dataclass
class HeapObjectEvents:
    """HeapObjectAlloc or HeapObjectFree events, one entry per event, in time order.

    ``addr`` is 0 where the base address is unknown (see ``HeapObjects.addr_known``).
    ``unix_ns`` is the wall clock when ``HeapObjects.clock == "wall"``, else the monotonic
    clock (``nanotime()``) or the trace's own nanoseconds; ``goroutine`` -1 when none ran.
    """

    id: np.ndarray  # uint64
    addr: np.ndarray  # uint64
    unix_ns: np.ndarray  # int64
    ticks: np.ndarray  # int64
    goroutine: np.ndarray  # int64
    gen: np.ndarray  # int64
    typ: np.ndarray  # uint64 type id (0 for a free, or no type)

    def __len__(self) -> int:
        return int(self.id.size)


@dataclass
class HeapObjects:
    allocs: HeapObjectEvents
    frees: HeapObjectEvents
    clock: str  # "wall" (clock snapshot), "monotonic" (nanotime, pre-1.25), "trace"
    addr_known: bool
    min_heap_addr: int | None
    min_heap_align: int
    covered_unix_ns: tuple[int, int] | None  # first and last event the trace holds
    notes: list[str]

    def live_allocs(self) -> HeapObjectEvents:
        """Per address (or id), its latest alloc that no later free follows."""
        return _latest_without_free(self.allocs, self.frees)


def _select(ev: HeapObjectEvents, idx: np.ndarray) -> HeapObjectEvents:
    return HeapObjectEvents(
        id=ev.id[idx],
        addr=ev.addr[idx],
        unix_ns=ev.unix_ns[idx],
        ticks=ev.ticks[idx],
        goroutine=ev.goroutine[idx],
        gen=ev.gen[idx],
        typ=ev.typ[idx],
    )


def _latest_without_free(allocs: HeapObjectEvents, frees: HeapObjectEvents) -> HeapObjectEvents:
    n = len(allocs)
    if n == 0:
        return allocs
    ids = np.concatenate([allocs.id, frees.id])
    ticks = np.concatenate([allocs.ticks, frees.ticks])
    is_alloc = np.concatenate([np.ones(n, bool), np.zeros(len(frees), bool)])
    pos = np.concatenate([np.arange(n), np.full(len(frees), -1)])
    order = np.lexsort((ticks, ids))
    ids_s = ids[order]
    last = np.ones(order.size, bool)
    last[:-1] = ids_s[1:] != ids_s[:-1]
    keep = order[last]
    keep = keep[is_alloc[keep]]
    sel = np.sort(pos[keep])
    return _select(allocs, sel)


def heap_object_allocs(
    trace: Trace,
    *,
    min_heap_addr: int | None = None,
    min_heap_align: int | None = None,
) -> HeapObjects:
    """The HeapObjectAlloc and HeapObjectFree events with addresses and clock times.

    min_heap_addr (``runtime.trace.minPageHeapAddr``, read from a core) is needed when the
    trace lacks the AllocFree info batch: always for a flight recorder's ``WriteTo``; given
    and present, the trace's own wins unless they differ (a note says so).
    """
    notes: list[str] = []
    info = trace.alloc_info
    base = min_heap_addr
    align = min_heap_align or 8
    if info is not None:
        if base is not None and base != info.min_heap_addr:
            notes.append(
                f"the trace's min heap address {info.min_heap_addr:#x} differs from the "
                f"one given ({base:#x}); the trace's is used"
            )
        base = info.min_heap_addr
        align = info.min_heap_align or align
    mem = trace.mem
    clock = "wall"
    gens = sorted({int(x) for x in np.unique(mem.gen)}) if len(mem) else []
    # Per generation: ns = ticks * ns_per_tick + offset.
    offs: dict[int, tuple[float, int]] = {}
    for gen in gens:
        c = trace.clock_of(gen)
        if c is None:
            clock = "trace"
            notes.append(f"generation {gen}: no frequency: times are raw ticks")
            offs[gen] = (1.0, 0)
            continue
        if c.wall_ns is not None and c.ticks is not None:
            offs[gen] = (c.ns_per_tick, c.wall_ns - c.ns(c.ticks))
        else:
            clock = "monotonic" if clock == "wall" else clock
            offs[gen] = (c.ns_per_tick, 0)
    anchored = [g.gen for g in trace.generations if g.clock_source == "core" and g.gen in offs]
    if anchored:
        notes.append(
            f"generation(s) {', '.join(map(str, anchored))} carry no clock snapshot: their wall "
            "times come from a wall/monotonic pair the runtime wrote elsewhere (the last GC's), "
            "through the trace clock being nanotime()/64"
        )
    if clock != "wall" and trace.version < 25:
        notes.append(
            "the trace predates clock snapshots (Go 1.25): times are the trace clock "
            "(nanotime on Linux), not wall time"
        )

    def build(kind: int) -> HeapObjectEvents:
        sel = np.flatnonzero(mem.kind == kind)
        ticks = mem.ticks[sel]
        gen = mem.gen[sel]
        ns = np.zeros(sel.size, np.int64)
        for gnum, (mul, off) in offs.items():
            w = gen == gnum
            if w.any():
                ns[w] = (ticks[w].astype(np.float64) * mul).astype(np.int64) + off
        ids = mem.id[sel]
        if base is not None:
            addr = ids * np.uint64(align) + np.uint64(base)
        else:
            addr = np.zeros(sel.size, np.uint64)
        ev = HeapObjectEvents(
            id=ids,
            addr=addr,
            unix_ns=ns,
            ticks=ticks,
            goroutine=mem.g[sel],
            gen=gen,
            typ=mem.arg[sel] if kind == EV_HEAP_OBJECT_ALLOC else np.zeros(sel.size, np.uint64),
        )
        order = np.argsort(ev.ticks, kind="stable")
        return _select(ev, order)

    if base is None and np.any(mem.kind == EV_HEAP_OBJECT_ALLOC):
        notes.append(
            "the trace does not hold the heap's base address (the AllocFree info batch is "
            "written in the first generation only, and a flight recorder drops it): object "
            "addresses are unknown"
        )
    covered = trace.wall_range_ns() if clock == "wall" else None
    return HeapObjects(
        allocs=build(EV_HEAP_OBJECT_ALLOC),
        frees=build(EV_HEAP_OBJECT_FREE),
        clock=clock,
        addr_known=base is not None,
        min_heap_addr=base,
        min_heap_align=align,
        covered_unix_ns=covered,
        notes=notes,
    )
