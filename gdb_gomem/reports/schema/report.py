"""The document of ``gomem report``: one forensic report, made of the very documents the
subcommands print with ``--json`` (each section is that command's document, or null with an
entry in ``errors`` when it could not be made)."""

from __future__ import annotations

from typing import TypedDict

from gdb_gomem.reports.schema.goroutines import (
    DefersDoc,
    GoroutineGroupsDoc,
    PanicsDoc,
    SingleGoroutineDoc,
)
from gdb_gomem.reports.schema.info import InfoDoc
from gdb_gomem.reports.schema.objects import AllocFrameDoc, HistogramDoc
from gdb_gomem.reports.schema.retention import SuspectsDoc, TopObjectsDoc
from gdb_gomem.reports.schema.structures import MemStatsDoc
from gdb_gomem.reports.schema.window import WindowDoc


class AllocStackRow(TypedDict):
    """Objects in use of one type allocated at one sampled stack (``frames`` null: not
    sampled), for the flame graph and the pprof profile."""

    type: str
    frames: list[AllocFrameDoc] | None  # innermost first
    count: int
    bytes: int


class ReportErrorDoc(TypedDict):
    section: str
    error: str


class ReportDoc(TypedDict):
    report_version: int
    gomem_version: str
    generated_unix_ns: int
    binary: str
    target: str
    #: The subcommand line each section was made with (e.g. "histogram --limit 50").
    commands: dict[str, str]
    info: InfoDoc | None
    crash_goroutine: SingleGoroutineDoc | None  # the goroutine that crashed, when one did
    memstats: MemStatsDoc | None
    histogram: HistogramDoc | None
    top: TopObjectsDoc | None
    suspects: SuspectsDoc | None  # each suspect with its root path (suspects[].path)
    goroutine_groups: GoroutineGroupsDoc | None
    defers: DefersDoc | None
    panics: PanicsDoc | None
    window: WindowDoc | None
    alloc_stacks: list[AllocStackRow]  # most bytes first
    #: Share of in-use bytes whose allocation stack is known (sampled).
    sampled_bytes_share: float
    errors: list[ReportErrorDoc]
    notes: list[str]
