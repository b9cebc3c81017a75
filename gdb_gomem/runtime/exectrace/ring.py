"""The flight recorder's ring of trace generations, read out of a core.

Go 1.25+'s ``runtime/trace.FlightRecorder`` keeps the execution trace of the last seconds in
the heap (runtime/trace/flightrecorder.go, recorder.go, subscribe.go): ``tracing`` (the
package's ``traceMultiplexer``) points at a ``recorder`` whose ``r`` is the
``FlightRecorder``; its ``header`` holds the 16-byte trace header, ``ring`` the complete
generations (``rawGeneration{gen, size, minTime, batches}``, oldest first) and ``active`` the
generation the trace reader goroutine is still filling. Each batch is a heap byte slice,
exactly as the runtime handed it to ``recorder.Write``: ``[][]byte`` from Go 1.26,
``[]batch{m, time, data}`` in 1.25. Go 1.26+ also stores each generation's one-byte
``EvEndOfGeneration`` batch; 1.25 keeps it out of the ring.

``FlightRecorder.WriteTo`` writes ``header`` then every batch of every ring generation, in
order; :func:`flight_recorder_bytes` rebuilds those bytes from the core. Only the batch
headers are read here (event type, generation, M, timestamp, length: ``internal/trace``'s
``readBatch``); decoding events is :mod:`.parse`'s job. Every length read from memory is
bounded before it is used.

An unrecovered panic calls ``traceAdvance`` before dying (panic.go), and ``traceAdvance``
waits until the reader goroutine has moved the generation into the ring, so a panicking
program's ring ends with the generation of the panic; the few batches written after it sit in
``active`` without their end marker and frequency/clock events, and are dropped like
``WriteTo`` drops them. A ``throw`` does not advance: its last generation never reaches the
ring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

# internal/trace/tracev2/events.go (the same numbering in Go 1.25-1.27).
EV_EVENT_BATCH = 1
EV_EXPERIMENTAL_BATCH = 49
EV_SYNC = 50
EV_END_OF_GENERATION = 52
EV_FREQUENCY = 8
EV_CLOCK_SNAPSHOT = 51
#: tracev2.MaxBatchSize: no batch's payload is longer.
MAX_BATCH_SIZE = 64 << 10
#: A batch header: type byte, experiment byte, four varints of at most 10 bytes.
MAX_BATCH_HEADER = 2 + 4 * 10

#: Bounds on what is read from memory (the runtime's own would be far below these).
MAX_GENERATIONS = 1 << 12
MAX_BATCHES_PER_GENERATION = 1 << 20
MAX_TOTAL_BYTES = 1 << 30

HEADER_LEN = 16
HEADER_PREFIX = b"go 1."
HOW_TO_START = (
    "start one early in main, on Go 1.25+: fr := trace.NewFlightRecorder("
    "trace.FlightRecorderConfig{MinAge: 10 * time.Second}); fr.Start() (package runtime/trace); "
    "GODEBUG=traceallocfree=1 adds every heap allocation and free to the trace"
)


class NoFlightRecorder(GomemError):
    """The core holds no flight recorder ring (why in the message, how to get one in the hint)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"no execution trace in this core: {why}", HOW_TO_START)
        self.why = why


@dataclass(frozen=True)
class BatchHeader:
    """The header of one trace batch (``internal/trace.readBatch``)."""

    kind: str  # "events", "experimental" or "end" (EvEndOfGeneration)
    gen: int
    m: int
    ticks: int  # the batch's base timestamp, in trace clock ticks
    length: int  # header + payload bytes
    first_event: int | None  # the type byte of the payload's first event (EvSync...)


def read_uvarint(b: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the unsigned LEB128 varint at pos; ValueError if malformed."""
    x = shift = 0
    for i in range(10):
        if pos + i >= len(b):
            raise ValueError("truncated varint")
        byte = b[pos + i]
        if byte < 0x80:
            if i == 9 and byte > 1:
                raise ValueError("varint overflows 64 bits")
            return x | byte << shift, pos + i + 1
        x |= (byte & 0x7F) << shift
        shift += 7
    raise ValueError("varint overflows 64 bits")


def batch_header(data: bytes) -> BatchHeader:
    """Check that data is exactly one batch and return its header; ValueError otherwise."""
    if not data:
        raise ValueError("empty batch")
    typ = data[0]
    if typ == EV_END_OF_GENERATION:
        if len(data) != 1:
            raise ValueError(f"end-of-generation batch of {len(data)} bytes")
        return BatchHeader("end", 0, 0, 0, 1, None)
    if typ not in (EV_EVENT_BATCH, EV_EXPERIMENTAL_BATCH):
        raise ValueError(f"not a batch (event type {typ})")
    pos = 2 if typ == EV_EXPERIMENTAL_BATCH else 1
    gen, pos = read_uvarint(data, pos)
    m, pos = read_uvarint(data, pos)
    ticks, pos = read_uvarint(data, pos)
    size, pos = read_uvarint(data, pos)
    if size > MAX_BATCH_SIZE:
        raise ValueError(f"batch size {size} over the maximum {MAX_BATCH_SIZE}")
    if pos + size != len(data):
        raise ValueError(f"batch header says {pos + size} bytes, the slice holds {len(data)}")
    kind = "experimental" if typ == EV_EXPERIMENTAL_BATCH else "events"
    return BatchHeader(kind, gen, m, ticks, len(data), data[pos] if size else None)


@dataclass(frozen=True)
class SyncClock:
    """A generation's sync batch (runtime/tracetime.go traceSyncBatch, Go 1.25+): the trace
    clock's frequency and one reading of the trace, monotonic and wall clocks together."""

    ticks_per_second: int
    ticks: int  # the trace clock at the snapshot
    mono_ns: int  # nanotime() at the snapshot
    unix_ns: int  # the wall clock at the snapshot

    def to_unix_ns(self, ticks: int) -> int:
        """A trace clock reading as Unix nanoseconds (through this snapshot)."""
        return self.unix_ns + (ticks - self.ticks) * 1_000_000_000 // self.ticks_per_second


def sync_clock(data: bytes, hdr: BatchHeader) -> SyncClock | None:
    """Decode the four fixed events of a sync batch: ``EvSync``, ``EvFrequency freq``,
    ``EvClockSnapshot tsDiff mono sec nsec`` (tsDiff from the batch's base timestamp).
    None for any other batch or a layout this reading does not know (a newer Go)."""
    if hdr.kind != "events" or hdr.first_event != EV_SYNC:
        return None
    start = _payload_offset(data)
    try:
        if data[start + 1] != EV_FREQUENCY:
            return None
        freq, pos = read_uvarint(data, start + 2)
        if pos >= len(data) or data[pos] != EV_CLOCK_SNAPSHOT:
            return None
        ts_diff, pos = read_uvarint(data, pos + 1)
        mono, pos = read_uvarint(data, pos)
        sec, pos = read_uvarint(data, pos)
        nsec, pos = read_uvarint(data, pos)
    except (ValueError, IndexError):
        return None
    if not freq:
        return None
    return SyncClock(freq, hdr.ticks + ts_diff, mono, sec * 1_000_000_000 + nsec)


def _payload_offset(data: bytes) -> int:
    """Where a well-formed batch's header ends (its length varint's last byte + 1)."""
    pos = 2 if data[0] == EV_EXPERIMENTAL_BATCH else 1
    for _ in range(4):
        _, pos = read_uvarint(data, pos)
    return pos


@dataclass
class RawGeneration:
    """One generation as the recorder holds it, with what its batch headers say."""

    gen: int  # rawGeneration.gen (the first batch's generation)
    size: int  # rawGeneration.size: payload bytes as the recorder counted them
    min_time_ns: int  # rawGeneration.minTime: earliest batch time, trace clock in ns
    batches: list[bytes] = field(repr=False)
    headers: list[BatchHeader] = field(repr=False)
    problems: list[str] = field(default_factory=list)
    where: str = "ring"  # "ring" or "active"

    @property
    def nbytes(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def has_end(self) -> bool:
        """Ends with its EvEndOfGeneration batch (Go 1.26+ stores it)."""
        return bool(self.headers) and self.headers[-1].kind == "end"

    @property
    def has_sync(self) -> bool:
        """Holds its sync batch (frequency and clock snapshot, written when it began)."""
        return any(
            h.kind == "events" and h.first_event in (EV_SYNC, EV_FREQUENCY) for h in self.headers
        )

    @property
    def clock(self) -> SyncClock | None:
        """The generation's clock snapshot (its sync batch, written when it began)."""
        for data, h in zip(self.batches, self.headers, strict=True):
            c = sync_clock(data, h)
            if c is not None:
                return c
        return None

    def tick_range(self) -> tuple[int, int] | None:
        """(first, last) batch base timestamp in ticks; events run on past the last."""
        ts = [h.ticks for h in self.headers if h.kind != "end" and h.ticks]
        return (min(ts), max(ts)) if ts else None


@dataclass
class FlightRing:
    """Everything the core holds of the flight recorder."""

    recorder_addr: int
    header: bytes
    enabled: bool
    ns_per_tick: float  # FlightRecorder.freq: nanoseconds per trace clock tick
    min_age_ns: int  # wantDur (the MinAge committed to at Start)
    max_bytes: int  # wantSize
    batch_layout: str  # "[][]byte" (1.26+) or "[]batch" (1.25)
    generations: list[RawGeneration]  # the ring, oldest first, as read
    active: RawGeneration | None
    end_markers: bool  # this Go stores EvEndOfGeneration batches in the ring
    #: FlightRecorder.err: the first batch recorder.Write rejected (that batch is in neither
    #: the ring nor WriteTo's output; later batches are kept).
    error: str | None

    @property
    def complete(self) -> list[RawGeneration]:
        """The ring generations WriteTo would write, without those that failed a check.

        A generation that failed a check (unreadable or malformed batch, no end marker on Go
        1.26+, no sync batch) is left out, and so is every generation on its other side from
        the newest run of consecutive good generations: the file never skips a generation.
        """
        runs: list[list[RawGeneration]] = [[]]
        for g in self.generations:
            if g.problems:
                runs.append([])
            else:
                runs[-1].append(g)
        return next((r for r in reversed(runs) if r), [])

    def writeto_bytes(self) -> bytes:
        """header + every batch of every complete generation: FlightRecorder.WriteTo's bytes."""
        out = bytearray(self.header)
        for g in self.complete:
            for b in g.batches:
                out += b
        return bytes(out)


def _byte_slice(proc: GoProcess, v: Val, budget: list[int]) -> bytes:
    arr, n, cap = v.slice_header()
    if n < 0 or n > cap or n > MAX_BATCH_SIZE + MAX_BATCH_HEADER:
        raise ValueError(f"batch slice of len {n}, cap {cap}")
    if n > budget[0]:
        raise ValueError(f"over the {MAX_TOTAL_BYTES} bytes read limit")
    budget[0] -= n
    return proc.mem.read(arr, n) if n else b""


def _generation(
    proc: GoProcess, g: Val, where: str, budget: list[int], end_markers: bool
) -> RawGeneration:
    batches_v = g["batches"]
    _, n, cap = batches_v.slice_header()
    gen = RawGeneration(
        gen=g["gen"].int(),
        size=g["size"].int(),
        min_time_ns=g["minTime"].int(),
        batches=[],
        headers=[],
        where=where,
    )
    if n < 0 or n > cap or n > MAX_BATCHES_PER_GENERATION:
        gen.problems.append(f"batch list of len {n}, cap {cap}")
        return gen
    for i, item in enumerate(batches_v.slice_items(n)):
        data_v = item["data"] if item.has("data") else item  # 1.25: batch{m, time, data}
        try:
            data = _byte_slice(proc, data_v, budget)
            hdr = batch_header(data)
        except (ValueError, UnreadableMemory) as exc:
            gen.problems.append(f"batch {i}: {exc}")
            break
        if hdr.kind != "end" and hdr.gen != gen.gen:
            gen.problems.append(f"batch {i} belongs to generation {hdr.gen}, not {gen.gen}")
            break
        gen.batches.append(data)
        gen.headers.append(hdr)
    if not gen.problems and where == "ring":
        if end_markers and not gen.has_end:
            gen.problems.append("no end-of-generation batch")
        if not gen.has_sync:
            gen.problems.append("no sync batch (frequency and clock snapshot)")
    return gen


def _batch_layout(batches: Val) -> str:
    """How a rawGeneration holds its batches: ``[][]byte`` (1.26+) or ``[]batch`` (1.25)."""
    arr = batches["array"]
    elem = batches.dw.resolve(arr.type.target) if arr.type.target is not None else None
    if elem is not None and any(f.name == "data" for f in elem.fields):
        return "[]batch"
    return "[][]byte"


def _error_text(proc: GoProcess, iface: Val) -> str | None:
    """The message of a non-nil ``error`` whose value starts with a string (errors.New,
    fmt.Errorf); ``"(unreadable)"`` when it does not; None when the error is nil."""
    if not iface.has("tab") or not iface["tab"].ptr():
        return None
    try:
        data = iface["data"].ptr()
        return proc.mem.go_string(data, 512) or "(empty message)"
    except (UnreadableMemory, ValueError, UnicodeDecodeError):
        return "(unreadable)"


def _recorder(proc: GoProcess) -> Val:
    """The FlightRecorder the runtime/trace multiplexer feeds, or NoFlightRecorder."""
    if "runtime/trace.tracing" not in proc.dw.globals:
        if proc.version < (1, 25, 0):
            raise NoFlightRecorder(
                f"the program runs {proc.go_version}; runtime/trace.FlightRecorder is Go 1.25+"
            )
        raise NoFlightRecorder(
            "the program does not link runtime/trace (no runtime/trace.tracing in its DWARF)"
        )
    tracing = proc.global_("runtime/trace.tracing")
    if not tracing.has("flightRecorder"):
        raise NoFlightRecorder(
            f"{proc.go_version}'s runtime/trace has no flight recorder (Go 1.25+ has)"
        )
    rec = tracing["flightRecorder"].deref()
    if rec is None:
        enabled = tracing.get("enabled")
        running = enabled is not None and enabled.bool()
        what = "a trace.Start trace is running, but" if running else "no trace is running and"
        raise NoFlightRecorder(f"{what} no flight recorder is subscribed")
    fr = rec["r"].deref()
    if fr is None:
        raise NoFlightRecorder("the flight recorder subscription has no FlightRecorder")
    return fr


def read_flight_ring(proc: GoProcess) -> FlightRing:
    """The flight recorder's state in the core; NoFlightRecorder when there is none."""
    try:
        fr = _recorder(proc)
        header = fr["header"].raw()
        ring_v = fr["ring"]
        _, n, cap = ring_v.slice_header()
        if n < 0 or n > cap or n > MAX_GENERATIONS:
            raise NoFlightRecorder(f"the ring's slice header is corrupt (len {n}, cap {cap})")
        items = ring_v.slice_items(n)
        end_markers = proc.version >= (1, 26, 0)
        budget = [MAX_TOTAL_BYTES]
        gens = [_generation(proc, g, "ring", budget, end_markers) for g in items]
        active_v = fr["active"]
        active = _generation(proc, active_v, "active", budget, end_markers)
        err = _error_text(proc, fr["err"])
        ring = FlightRing(
            recorder_addr=fr.addr,
            header=header,
            enabled=fr["enabled"].bool(),
            ns_per_tick=fr["freq"].float(),
            min_age_ns=fr["wantDur"].int(),
            max_bytes=fr["wantSize"].int(),
            batch_layout=_batch_layout(fr["active.batches"]),
            generations=gens,
            active=active if active.batches or active.problems else None,
            end_markers=end_markers,
            error=err,
        )
    except (LayoutError, UnreadableMemory) as exc:
        raise NoFlightRecorder(f"the flight recorder cannot be read ({exc})") from None
    if not ring.header.startswith(HEADER_PREFIX):
        raise NoFlightRecorder(
            "the flight recorder has not received the trace header yet"
            if not any(ring.header)
            else f"the flight recorder's header is not a trace header ({ring.header!r})"
        )
    if not ring.enabled:
        raise NoFlightRecorder("the flight recorder was stopped (FlightRecorder.Stop)")
    return ring


def flight_recorder_bytes(proc: GoProcess) -> bytes | None:
    """The bytes ``runtime/trace.FlightRecorder.WriteTo`` would write for the core's
    recorder (header + the ring's complete generations), or None when it holds none."""
    try:
        ring = read_flight_ring(proc)
    except NoFlightRecorder:
        return None
    if not ring.complete:
        return None
    return ring.writeto_bytes()
