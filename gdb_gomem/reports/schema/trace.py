"""The document of ``gomem trace``: the execution trace a core holds (flight recorder, runtime
buffers)."""

from __future__ import annotations

from typing import TypedDict


class TraceRecorderDoc(TypedDict):
    """The ``runtime/trace.FlightRecorder`` as read (:mod:`gdb_gomem.runtime.exectrace.ring`)."""

    addr: str
    header: str  # the trace header's text, e.g. "go 1.26 trace"
    min_age_ns: int  # the MinAge committed to at Start (wantDur)
    max_bytes: int  # the MaxBytes committed to at Start (wantSize)
    ns_per_tick: float  # FlightRecorder.freq
    batch_layout: str  # "[][]byte" (Go 1.26+) or "[]batch" (1.25)
    end_markers: bool  # this Go keeps each generation's EvEndOfGeneration batch
    error: str | None  # FlightRecorder.err: the first batch recorder.Write rejected


class TraceGenerationDoc(TypedDict):
    """One generation: a complete one of the ring (``where`` "ring"), one the process died in,
    rebuilt from the recorder's active batches and the runtime's own buffers ("runtime"), or,
    with --ring-only, the recorder's active one left out ("active")."""

    gen: int
    where: str
    batches: int
    bytes: int
    written: bool  # in the output file
    end_marker: bool
    sync: bool  # holds the sync batch (frequency, clock snapshot)
    problems: list[str]  # why a ring generation was left out
    #: The clock snapshot of its sync batch (when it began), then the latest batch start
    #: (its events run on past that) and the next generation's snapshot. Generations overlap
    #: by a little: a thread may still write to one after the next began.
    start_unix_ns: int | None
    last_batch_unix_ns: int | None
    next_start_unix_ns: int | None  # the next generation's snapshot (ring or active), if any
    start_mono_ns: int | None  # nanotime() at the snapshot
    #: What this reader wrote for a "runtime" generation, as traceAdvance would have: the
    #: stack table (symbolized here), the frequency or sync batch, the end marker.
    rebuilt: list[str]
    #: A reader (trace.Start's writer) took some of its batches before the crash: they are
    #: not in the core, so the generation has gaps.
    partial: bool


class TraceOutputDoc(TypedDict):
    """What was (or would be) written: the ring's generations (FlightRecorder.WriteTo's
    bytes) then the rebuilt ones (none with --ring-only)."""

    path: str | None  # --out; null: nothing written
    bytes: int
    generations: list[int]
    from_unix_ns: int | None  # the first written generation's start
    #: About when the last written generation ended: the next generation's snapshot or its
    #: latest batch start, whichever is later (not a proven bound)
    to_unix_ns: int | None
    #: The runtime's last clock reading (the stop came after it; runtime/clock) and how long
    #: after to_unix_ns it came: that stretch of the run is not in the ring (a throw or a
    #: signal does not advance the trace; a panic does)
    stop_after_unix_ns: int | None
    unrecorded_ns: int | None


class TraceDoc(TypedDict):
    """``available`` false: no flight recorder in the core; ``reason`` says why and ``hint``
    how to have one next time (``--out`` then fails with the same message)."""

    go_version: str
    available: bool
    #: Where the trace comes from: "flight recorder", "flight recorder + runtime buffers",
    #: "runtime buffers (trace.Start)"; null when there is none.
    source: str | None
    reason: str | None
    hint: str | None
    recorder: TraceRecorderDoc | None
    generations: list[TraceGenerationDoc]
    output: TraceOutputDoc
    errors: list[str]
    notes: list[str]
