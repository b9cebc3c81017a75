"""The whole execution trace a core holds, as one trace file: the flight recorder's complete
generations (:mod:`.ring`, byte for byte what ``FlightRecorder.WriteTo`` writes), then every
generation the runtime had not finished handing out (:mod:`.inflight`), rebuilt the way the
runtime would have finished it.

The runtime ends a generation (``traceAdvance``) by flushing every M's buffer, writing the
stack table (symbolized: ``traceStackTable.dump``), the string table's last buffer and, before
Go 1.25, the ``EvFrequency`` batch; Go 1.26+ then marks the end with ``EvEndOfGeneration``.
For a generation the process died in, this module does the same from the core:

- the open buffers are taken with their sizes patched (:mod:`.inflight`);
- the stack table is symbolized from the binary's function table with inlined calls expanded
  (``fpunwindExpand`` + ``CallersFrames``); function and file names go into a new string batch
  with ids above the ones the runtime handed out (``traceStringTable.emit`` does the same);
- the frequency is the one of the trace's other generations, else the runtime's constant on
  Linux (``nanotime() / 64``: ``traceClockUnitsPerSecond``); a Go 1.25+ generation whose sync
  batch a reader already took gets a sync batch with that frequency and no clock snapshot.

What a reader took from a generation before the crash (``trace.Start``'s writer, which the
core does not hold) is missing from it: such a generation is partial, and the document says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gdb_gomem.base.errors import GomemError
from gdb_gomem.runtime.clock import CRASH_TIME
from gdb_gomem.runtime.exectrace.inflight import (
    LOGICAL_STACK_SENTINEL,
    RuntimeTraceState,
    StackRecord,
    read_runtime_trace,
)
from gdb_gomem.runtime.exectrace.ring import (
    EV_CLOCK_SNAPSHOT,
    EV_END_OF_GENERATION,
    EV_EVENT_BATCH,
    EV_FREQUENCY,
    EV_SYNC,
    MAX_BATCH_SIZE,
    FlightRing,
    NoFlightRecorder,
    RawGeneration,
    batch_header,
    read_flight_ring,
)
from gdb_gomem.symbols.inltree import InlineTree, callers_frames
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

EV_STACKS = 2
EV_STACK = 3
EV_STRINGS = 4
EV_STRING = 5
NO_THREAD = (1 << 64) - 1
#: tracev2.MaxFramesPerStack and MaxEventTrailerDataSize.
MAX_FRAMES_PER_STACK = 128
MAX_STRING = 1 << 10
#: traceClockUnitsPerSecond where the trace clock is nanotime()/64 (every OS but Windows).
LINUX_TICKS_PER_SECOND = 1_000_000_000 // 64
#: The trace header each v2 format is announced with (runtime/trace.go ReadTrace).
_HEADER_RE = re.compile(rb"go 1\.(\d\d) trace\x00\x00\x00")


@dataclass
class GenerationSource:
    """Where one generation of the file comes from."""

    gen: int
    where: str  # "ring" (the recorder's complete generation) or "runtime" (rebuilt)
    batches: int
    bytes: int
    held_batches: int = 0  # batches taken from the runtime's buffers
    patched: int = 0  # of those, open buffers whose size this reader wrote
    recorder_batches: int = 0  # batches from the recorder's active generation
    stacks: int = 0  # stack records symbolized here
    synthesized: list[str] = field(default_factory=list)  # tables this reader wrote
    #: A reader took batches of this generation before the crash (trace.Start): they are lost.
    partial: bool = False


@dataclass
class CoreTrace:
    """The trace file a core yields, and where each of its generations came from."""

    data: bytes
    source: str  # "flight recorder", "trace.Start", "flight recorder (stopped)"...
    generations: list[GenerationSource]
    ring: FlightRing | None
    runtime: RuntimeTraceState | None
    notes: list[str]

    @property
    def rebuilt(self) -> list[GenerationSource]:
        return [g for g in self.generations if g.where == "runtime"]


def _uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    out.append(v)
    return bytes(out)


def _batch(gen: int, ticks: int, payload: bytes) -> bytes:
    """An ordinary batch of no thread (as the runtime writes its tables)."""
    return (
        bytes([EV_EVENT_BATCH])
        + _uvarint(gen)
        + _uvarint(NO_THREAD)
        + _uvarint(ticks)
        + _uvarint(len(payload))
        + payload
    )


def _table_batches(gen: int, ticks: int, kind: int, records: Sequence[bytes]) -> list[bytes]:
    """Records split into batches of at most MAX_BATCH_SIZE, each opening with kind."""
    out: list[bytes] = []
    cur = bytearray([kind])
    for rec in records:
        if len(cur) + len(rec) > MAX_BATCH_SIZE - 64 and len(cur) > 1:
            out.append(_batch(gen, ticks, bytes(cur)))
            cur = bytearray([kind])
        cur += rec
    if len(cur) > 1:
        out.append(_batch(gen, ticks, bytes(cur)))
    return out


def trace_header(proc: GoProcess) -> bytes:
    """The header ``ReadTrace`` of this binary writes: the newest ``go 1.NN trace`` string
    its read-only data holds (Go 1.22 also carries the old tracer's ``go 1.21``)."""
    try:
        rodata = proc.binary.section_bytes(".rodata")
    except (GomemError, KeyError, OSError):
        rodata = b""
    found = [int(m.group(1)) for m in _HEADER_RE.finditer(rodata)]
    if found:
        return b"go 1.%d trace\x00\x00\x00" % max(found)
    major, minor, _ = proc.version
    nn = 26 if minor >= 26 else 25 if minor == 25 else 23 if minor >= 23 else 22
    return b"go %d.%d trace\x00\x00\x00" % (major, nn)


class _Symbolizer:
    """Stack records to trace frames, as ``fpunwindExpand`` then ``makeTraceFrames`` do."""

    def __init__(self, proc: GoProcess, first_id: int) -> None:
        self.tab = proc.pclntab
        self.inl = InlineTree(self.tab, proc.dw, proc.mem.read)
        self.next_id = first_id
        self.ids: dict[str, int] = {}
        self.records: list[bytes] = []
        self.cache: dict[int, list[tuple[int, str, str, int]]] = {}

    def string(self, s: str) -> int:
        if not s:
            return 0
        s = s[-MAX_STRING:]
        sid = self.ids.get(s)
        if sid is None:
            sid = self.ids[s] = self.next_id
            self.next_id += 1
            raw = s.encode("utf-8", "replace")[:MAX_STRING]
            self.records.append(bytes([EV_STRING]) + _uvarint(sid) + _uvarint(len(raw)) + raw)
        return sid

    def logical(self, ret_pc: int) -> list[tuple[int, str, str, int]]:
        """The logical frames of one return address (innermost first): (pc, func, file, line)."""
        got = self.cache.get(ret_pc)
        if got is None:
            call_pc = ret_pc - 1
            f = self.tab.find_func(call_pc)
            if f is None:
                got = [(call_pc, "", "", 0)]
            else:
                try:
                    got = [(fr.pc, fr.func, fr.file, fr.line) for fr in self.inl.frames(f, call_pc)]
                except (GomemError, ValueError):
                    got = [(call_pc, f.name, "", 0)]
            if len(self.cache) < 1 << 16:
                self.cache[ret_pc] = got
        return got

    def stack(self, rec: StackRecord) -> bytes:
        pcs = rec.pcs
        frames: list[tuple[int, str, str, int]] = []
        if pcs and pcs[0] == LOGICAL_STACK_SENTINEL:
            # Logical PCs (virtual ones for inlined frames): CallersFrames' rules.
            try:
                got = callers_frames(list(pcs[1:]), self.tab.find_func, self.inl)
            except (GomemError, ValueError):
                got = [(pc, None) for pc in pcs[1:]]
            frames = [
                (fr.pc, fr.func, fr.file, fr.line) if fr else (pc - 1, "", "", 0) for pc, fr in got
            ][:MAX_FRAMES_PER_STACK]
        elif pcs:
            # Return addresses from frame pointers: fpunwindExpand gives every inlined level.
            skip, rets = min(pcs[0], len(pcs)), pcs[1:]
            for ret in rets:
                frames += self.logical(ret)
                if len(frames) >= skip + MAX_FRAMES_PER_STACK:
                    break
            frames = frames[skip : skip + MAX_FRAMES_PER_STACK]
        out = bytearray([EV_STACK]) + _uvarint(rec.id) + _uvarint(len(frames))
        for pc, func, file, line in frames:
            out += _uvarint(pc) + _uvarint(self.string(func)) + _uvarint(self.string(file))
            out += _uvarint(line)
        return bytes(out)


def _frequency(ring: FlightRing | None) -> int:
    if ring is not None:
        for g in ring.complete:
            c = g.clock
            if c is not None:
                return c.ticks_per_second
    return LINUX_TICKS_PER_SECOND


def _is_sync(data: bytes) -> bool:
    h = batch_header(data)
    return h.kind == "events" and h.first_event in (EV_SYNC, EV_FREQUENCY)


def _sync_batch(proc: GoProcess, gen: int, base: int, freq: int, src: GenerationSource) -> bytes:
    """The frequency batch (before Go 1.25) or sync batch (1.25+) a reader took or the
    runtime never wrote. A 1.25+ sync batch also needs a clock snapshot: it is made from the
    core's wall/monotonic pair (the last GC's), at the trace tick of its monotonic reading."""
    if proc.version < (1, 25, 0):
        src.synthesized.append("frequency batch")
        return _batch(gen, base, bytes([EV_FREQUENCY]) + _uvarint(freq))
    payload = bytes([EV_SYNC, EV_FREQUENCY]) + _uvarint(freq)
    pair = CRASH_TIME(proc).pair
    if pair is None:
        src.synthesized.append("sync batch (no clock snapshot: the core holds no wall time)")
        return _batch(gen, base, payload)
    unix, mono = pair
    ticks = mono * freq // 1_000_000_000
    sec, nsec = divmod(unix, 1_000_000_000)
    payload += bytes([EV_CLOCK_SNAPSHOT]) + _uvarint(1) + _uvarint(mono)
    payload += _uvarint(sec) + _uvarint(nsec)
    src.synthesized.append(f"sync batch (clock snapshot from {CRASH_TIME(proc).pair_source})")
    return _batch(gen, max(ticks - 1, 0), payload)


def _rebuild(
    proc: GoProcess,
    gen: int,
    state: RuntimeTraceState,
    active: RawGeneration | None,
    freq: int,
    first_gen_of_reader: int,
) -> tuple[list[bytes], GenerationSource]:
    """The batches of one generation the process died in, tables added as traceAdvance would."""
    batches: list[bytes] = []
    src = GenerationSource(gen, "runtime", 0, 0)
    if active is not None and active.gen == gen:
        batches += active.batches
        src.recorder_batches = len(active.batches)
    have = set(batches)
    for b in state.batches_of(gen):
        if b.data in have:
            continue
        batches.append(b.data)
        have.add(b.data)
        src.held_batches += 1
        src.patched += b.patched
    ticks = [batch_header(b).ticks for b in batches]
    base = min((t for t in ticks if t), default=0)
    if gen > state.flushed_gen:
        records = state.stacks.get(gen, [])
        sym = _Symbolizer(proc, state.string_seq.get(gen, 0) + 1)
        stacks = [sym.stack(r) for r in records]
        src.stacks = len(records)
        batches += _table_batches(gen, base, EV_STRINGS, sym.records)
        batches += _table_batches(gen, base, EV_STACKS, stacks)
        src.synthesized.append(f"stack table ({len(records)} stacks)")
        if not any(_is_sync(b) for b in batches):
            batches.append(_sync_batch(proc, gen, base, freq, src))
        if proc.version >= (1, 26, 0):
            batches.append(bytes([EV_END_OF_GENERATION]))
            src.synthesized.append("end-of-generation marker")
    # A reader (trace.Start's) took this generation's first batches before the crash when
    # it read past the generation's start (readerGen) and no recorder kept them.
    src.partial = active is None and first_gen_of_reader <= gen
    src.batches = len(batches)
    src.bytes = sum(len(b) for b in batches)
    return batches, src


def build_core_trace(proc: GoProcess) -> CoreTrace | None:
    """The core's execution trace as one file; None when the core holds none."""
    notes: list[str] = []
    ring: FlightRing | None = None
    try:
        ring = read_flight_ring(proc)
    except NoFlightRecorder:
        ring = None
    state = read_runtime_trace(proc)
    if state is not None:
        notes += [f"runtime trace buffers: {p}" for p in state.problems]
    if ring is None and (state is None or not state.batches):
        return None
    header = ring.header if ring is not None else trace_header(proc)
    out = bytearray(header)
    gens: list[GenerationSource] = []
    last = 0
    if ring is not None:
        for g in ring.complete:
            for b in g.batches:
                out += b
            gens.append(GenerationSource(g.gen, "ring", len(g.batches), g.nbytes))
            last = g.gen
    if state is not None:
        active = ring.active if ring is not None else None
        todo = sorted(
            {g for g in state.generations() if g > last}
            | ({active.gen} if active is not None and active.gen > last else set())
        )
        freq = _frequency(ring)
        # trace.Start's reader: everything up to readerGen's start went to the writer.
        first_partial = state.reader_gen if ring is None else 1 << 62
        for gen in todo:
            if gens and gen != gens[-1].gen + 1:
                notes.append(
                    f"generation {gen} follows generation {gens[-1].gen}: the ones between "
                    "were read out before the crash and are not in the core"
                )
            batches, src = _rebuild(proc, gen, state, active, freq, first_partial)
            for b in batches:
                out += b
            gens.append(src)
    if not gens:
        return None
    if ring is not None:
        source = "flight recorder" + (
            " + runtime buffers" if any(g.where == "runtime" for g in gens) else ""
        )
    else:
        source = "runtime buffers (trace.Start)"
    return CoreTrace(bytes(out), source, gens, ring, state, notes)


#: The core's execution trace, assembled once per target.
CORE_TRACE: Lazy[CoreTrace | None] = Lazy("execution trace in the core", build_core_trace)
