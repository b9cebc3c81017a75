"""The execution trace the runtime still holds in its own buffers when the process died.

The runtime writes trace events into per-thread buffers (runtime/tracebuf.go): each ``traceBuf``
is one batch, ``arr[:pos]``, whose header (``EvEventBatch gen m time size``) reserves ten bytes
for ``size`` at ``lenPos``; ``traceBufFlush`` writes the size there and queues the buffer on
``trace.full[gen%2]``, from which the trace reader goroutine (``ReadTrace``) hands it to
``trace.Start``'s writer or to a ``FlightRecorder``. What no reader took when the process died
is in the core and nowhere else:

- ``trace.full[0..1]``: flushed batches not read yet (a reader blocked, or a throw that stopped
  every goroutine);
- ``trace.reading``: the batch last handed to the reader (its bytes may not have reached the
  writer);
- each M's ``m.trace.buf[gen%2]`` (``[gen%2][experiment]`` from Go 1.24): the batch it is
  still filling, its size not written yet: it is patched here as ``traceBufFlush`` would;
- ``trace.stringTab[gen%2].buf``: the strings of the running generation, written as they are
  added, also unflushed;
- ``trace.stackTab[gen%2]``: the stacks of the running generation, which the runtime only
  writes out (symbolized) when the generation ends: a hash table of ``traceMapNode``s (Go 1.22)
  or a 4-ary hash trie (1.23+), each node holding an id and the stack's PCs.

Only the generation(s) above what the reader finished matter: ``trace.gen`` is the one being
written, ``gen - 1`` may still have unread batches while the generation advances. Every pointer
chain and every length read from memory is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdb_gomem.base.errors import GomemError, LayoutError, UnreadableMemory
from gdb_gomem.runtime.exectrace.ring import (
    EV_EVENT_BATCH,
    EV_EXPERIMENTAL_BATCH,
    MAX_BATCH_SIZE,
    batch_header,
)
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Val

#: ``traceBytesPerNumber``: the room reserved for the batch size at ``lenPos``.
BYTES_PER_NUMBER = 10
#: ``runtime.logicalStackSentinel``: a stack record holding logical PCs, not return addresses.
LOGICAL_STACK_SENTINEL = (1 << 64) - 1
#: Bounds on what is read from memory (the runtime's own are far below these).
MAX_MS = 1 << 14
MAX_QUEUE = 1 << 16
MAX_MAP_NODES = 1 << 20
#: ``tracev2.MaxFramesPerStack`` + the skip count, with room to spare.
MAX_STACK_WORDS = 1 << 10


@dataclass(frozen=True)
class HeldBatch:
    """One batch the runtime holds, as the trace file would carry it."""

    data: bytes
    gen: int
    where: str  # "full", "reading", "m <procid>", "strings"
    #: The size was written by this reader, not by traceBufFlush (the buffer was still open).
    patched: bool


@dataclass(frozen=True)
class StackRecord:
    """One entry of a running generation's stack table: its id and its PCs as stored (first
    a skip count or the logical-stack sentinel, then return addresses or logical PCs)."""

    id: int
    pcs: tuple[int, ...]


@dataclass
class RuntimeTraceState:
    """What the runtime's tracer holds in the core."""

    gen: int  # trace.gen: the generation being written (0: no trace running)
    flushed_gen: int  # trace.flushedGen: the last generation whose tables were written out
    reader_gen: int  # trace.readerGen
    shutdown: bool
    batches: list[HeldBatch]
    #: gen -> its stack table (only for generations whose table is still in memory).
    stacks: dict[int, list[StackRecord]]
    #: gen -> the last id the generation's string table handed out (new strings go above).
    string_seq: dict[int, int]
    problems: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.gen != 0 and not self.shutdown

    def batches_of(self, gen: int) -> list[HeldBatch]:
        return [b for b in self.batches if b.gen == gen]

    def generations(self) -> list[int]:
        return sorted({b.gen for b in self.batches})


def _patched(arr: bytes, len_pos: int) -> bytes:
    """arr with the batch size written at len_pos the way ``traceBuf.varintAt`` writes it."""
    size = len(arr) - (len_pos + BYTES_PER_NUMBER)
    enc = bytearray()
    v = size
    for i in range(BYTES_PER_NUMBER):
        enc.append((0x80 | (v & 0x7F)) if i < BYTES_PER_NUMBER - 1 else v & 0x7F)
        v >>= 7
    return arr[:len_pos] + bytes(enc) + arr[len_pos + BYTES_PER_NUMBER :]


class _Reader:
    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.problems: list[str] = []
        self.seen: set[int] = set()

    def buffer(self, buf: Val | None, where: str, *, open_: bool) -> HeldBatch | None:
        """The batch in one traceBuf; None for nil, an empty batch, or a bad one (noted)."""
        if buf is None or buf.addr in self.seen:
            return None
        self.seen.add(buf.addr)
        try:
            pos = buf["traceBufHeader.pos"].int()
            len_pos = buf["traceBufHeader.lenPos"].int()
            arr = buf["arr"]
            cap = len(arr)
            if not 0 < pos <= min(cap, MAX_BATCH_SIZE):
                raise ValueError(f"write position {pos} outside the buffer")
            if len_pos <= 0 or len_pos + BYTES_PER_NUMBER > pos:
                raise ValueError(f"size position {len_pos} outside the written bytes")
            if pos == len_pos + BYTES_PER_NUMBER:
                return None  # a header and no event: the runtime would write nothing more
            raw = self.proc.mem.read(arr.addr, pos)
            if raw[0] not in (EV_EVENT_BATCH, EV_EXPERIMENTAL_BATCH):
                raise ValueError(f"starts with event type {raw[0]}, not a batch")
            data = _patched(raw, len_pos)
            hdr = batch_header(data)
        except (ValueError, UnreadableMemory, LayoutError) as exc:
            self.problems.append(f"trace buffer at {buf.addr:#x} ({where}): {exc}")
            return None
        patched = data != raw
        return HeldBatch(data, hdr.gen, where, patched=patched and open_)

    def queue(self, q: Val, where: str) -> list[HeldBatch]:
        out: list[HeldBatch] = []
        buf = q["head"].deref()
        for _ in range(MAX_QUEUE):
            if buf is None:
                return out
            b = self.buffer(buf, where, open_=False)
            if b is not None:
                out.append(b)
            nxt = buf["traceBufHeader.link"].deref()
            if nxt is not None and nxt.addr in self.seen:
                self.problems.append(f"{where}: the queue loops at {nxt.addr:#x}")
                return out
            buf = nxt
        self.problems.append(f"{where}: over {MAX_QUEUE} buffers, the rest not read")
        return out

    def m_buffers(self) -> list[HeldBatch]:
        out: list[HeldBatch] = []
        m = self.proc.global_("runtime.allm").deref()
        ms: set[int] = set()
        for _ in range(MAX_MS):
            if m is None or m.addr in ms:
                return out
            ms.add(m.addr)
            here = m.addr
            try:
                where = f"m {m['procid'].int()}"
                slots = m["trace.buf"]
                for i in range(len(slots)):
                    slot = slots.index(i)
                    ptrs = (
                        [slot.index(j) for j in range(len(slot))]
                        if slot.type.tag == "array"
                        else [slot]
                    )
                    for p in ptrs:
                        b = self.buffer(p.deref(), where, open_=True)
                        if b is not None:
                            out.append(b)
                m = m["alllink"].deref()
            except (LayoutError, UnreadableMemory) as exc:
                self.problems.append(f"the M list at {here:#x}: {exc}")
                return out
        self.problems.append(f"over {MAX_MS} Ms, the rest not read")
        return out

    def map_nodes(self, tab: Val) -> list[tuple[int, bytes]]:
        """(id, data) of every node of a traceMap: a trie from ``root`` (1.23+) or the
        buckets ``tab[]`` with ``link`` chains (1.22)."""
        node_t = self.proc.dw.type("runtime.traceMapNode")
        todo: list[int] = []
        if tab.has("root"):
            todo.append(tab["root"].int())
        else:
            buckets = tab["tab"]
            raw = buckets.raw()
            todo += [int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), 8)]
        out: list[tuple[int, bytes]] = []
        seen: set[int] = set()
        while todo:
            addr = todo.pop()
            if not addr or addr in seen:
                continue
            if len(seen) >= MAX_MAP_NODES:
                self.problems.append(f"a trace table of over {MAX_MAP_NODES} entries, cut")
                break
            seen.add(addr)
            node = Val(self.proc.mem, self.proc.dw, addr, node_t)
            try:
                arr, n, cap = node["data"].slice_header()
                if not 0 <= n <= cap or n > 8 * MAX_STACK_WORDS:
                    raise ValueError(f"data of len {n}, cap {cap}")
                out.append((node["id"].int(), self.proc.mem.read(arr, n) if n else b""))
                if node.has("children"):
                    kids = node["children"]
                    todo += [kids.index(i).int() for i in range(len(kids))]
                else:
                    todo.append(node["link"].int())
            except (ValueError, UnreadableMemory, LayoutError) as exc:
                self.problems.append(f"trace table node at {addr:#x}: {exc}")
        return out


def _flag(v: Val) -> bool:
    """An atomic.Bool ({_ noCopy; u atomic.Uint32}) or a plain bool."""
    return (v["u"] if v.has("u") else v).int() != 0


def read_runtime_trace(proc: GoProcess) -> RuntimeTraceState | None:
    """The tracer's buffers and tables in the core; None when the program has no v2 tracer
    (Go 1.21) or never started a trace. Damage is noted in ``problems``, never raised."""
    if proc.version < (1, 22, 0):
        return None
    try:
        t = proc.find_global("runtime.trace")
        if t is None or not t.has("full") or not t.has("flushedGen"):
            return None
        gen = t["gen"].int()
        state = RuntimeTraceState(
            gen=gen,
            flushed_gen=t["flushedGen"].int(),
            reader_gen=t["readerGen"].int(),
            shutdown=_flag(t["shutdown"]) if t.has("shutdown") else False,
            batches=[],
            stacks={},
            string_seq={},
        )
    except (GomemError, ValueError) as exc:
        return RuntimeTraceState(0, 0, 0, False, [], {}, {}, [f"runtime.trace: {exc}"])
    r = _Reader(proc)
    try:
        full = t["full"]
        for i in range(len(full)):
            state.batches += r.queue(full.index(i), f"full[{i}]")
        b = r.buffer(t["reading"].deref(), "reading", open_=False)
        if b is not None:
            state.batches.append(b)
        state.batches += r.m_buffers()
        strings = t["stringTab"]
        for i in range(len(strings)):
            b = r.buffer(strings.index(i)["buf"].deref(), "strings", open_=True)
            if b is not None:
                state.batches.append(b)
        # Tables still in memory: the running generation's, and the one before while its
        # end is written (flushedGen not yet raised to it).
        stacks = t["stackTab"]
        for g in {gen, gen - 1}:
            if g <= 0 or g <= state.flushed_gen:
                continue
            state.stacks[g] = [
                StackRecord(
                    sid,
                    tuple(
                        int.from_bytes(data[k : k + 8], "little")
                        for k in range(0, len(data) - 7, 8)
                    ),
                )
                for sid, data in r.map_nodes(stacks.index(g % 2)["tab"])
            ]
            state.string_seq[g] = strings.index(g % 2)["tab.seq"].int()
    except (GomemError, ValueError) as exc:
        r.problems.append(f"runtime.trace: {exc}")
    state.problems = r.problems
    if not state.batches and not state.running:
        return None
    return state
