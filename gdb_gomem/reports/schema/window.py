"""The document of ``gomem window``: what was allocated shortly before the crash."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from gdb_gomem.reports.schema.objects import AllocBoundDoc, AllocFrameDoc, CountBytes


class WindowRow(TypedDict):
    """One group: a type name, or with ``--by`` an allocation stack or a goroutine."""

    type: str
    count: int
    bytes: int


class WindowObject(TypedDict):
    addr: str
    size: int
    type: str
    allocated: AllocBoundDoc
    stack: NotRequired[list[AllocFrameDoc] | None]  # sampled allocation stack (null: none)
    goroutine: NotRequired[int | None]  # --by goroutine; null: not known without a trace


class CrashTimeDoc(TypedDict):
    """When the target stopped (:func:`gdb_gomem.runtime.clock.crash_time`)."""

    unix_ns: int | None
    lo_unix_ns: int | None
    hi_unix_ns: int | None
    source: str


class WindowBoundDoc(TypedDict):
    """What the listing proves.

    ``kind``: ``window`` (every object allocated in the requested window is listed and every
    listed one was allocated in it), ``epoch`` (the listing is everything allocated after a
    GC's end, ``since_unix_ns``: later than the window start when the window reaches back
    before that GC's end, earlier when the window is narrower than the time since it),
    ``unresolved`` (no clock in the core: nothing can be placed in time).
    """

    kind: str
    since_unix_ns: int | None
    since_gc: int | None  # the GC whose end since_unix_ns is (null for kind window)
    window_start_unix_ns: int | None
    text: str


class WindowUndecided(TypedDict):
    """Objects that may or may not be in the window (not listed)."""

    count: int
    bytes: int
    older_than_unix_ns: int | None  # allocated at an unknown time before this (a GC's end)


class WindowDoc(TypedDict):
    go_version: str
    duration_ns: int
    selection: str  # all (allocated, reachable or not) or live
    by: str  # type, stack or goroutine
    rows: list[WindowRow]  # smallest first
    total: CountBytes
    objects: list[WindowObject]  # oldest bound first, then by address
    shown: int
    crash_time: CrashTimeDoc
    bound: WindowBoundDoc
    undecided: WindowUndecided
    sources: list[str]
    errors: list[str]
    notes: list[str]
