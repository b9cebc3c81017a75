"""Where dicts built below the reports layer get their schema types: one cast each.

The goroutines layer writes some JSON-able entries itself (frames, defer and panic records)
and ``describe_pc`` returns a plain dict; the shapes are in
:mod:`gdb_gomem.reports.schema`. Each function here is the one place such a dict enters a
typed document, so a change of shape below has one place to be reflected.
"""

from __future__ import annotations

from typing import cast

from gdb_gomem.goroutines.allgs import Goroutine
from gdb_gomem.goroutines.deferpools import DeferPools
from gdb_gomem.goroutines.defers import GoroutineDefers, defers_json
from gdb_gomem.goroutines.panics import GoroutinePanics, panics_json
from gdb_gomem.goroutines.unwind import Frame
from gdb_gomem.reports.schema.common import CodeLocation, FrameDoc
from gdb_gomem.reports.schema.goroutines import (
    DeferErrorDoc,
    DeferPoolsDoc,
    GoroutineDefersFields,
    GoroutinePanicsFields,
    PanicDoc,
    PanicErrorDoc,
    PendingDeferDoc,
)
from gdb_gomem.target.process import GoProcess


def code_location(proc: GoProcess, pc: int | None) -> CodeLocation | None:
    """``{func, file, line}`` of a code address; None outside Go code."""
    return cast("CodeLocation | None", proc.describe_pc(pc))


def frame_doc(f: Frame) -> FrameDoc:
    return cast(FrameDoc, f.as_json())


def pending_defers(proc: GoProcess, g: Goroutine) -> list[PendingDeferDoc | DeferErrorDoc]:
    """The deferred calls ``g`` has still to run, next first (:func:`defers_json`)."""
    return cast("list[PendingDeferDoc | DeferErrorDoc]", defers_json(proc, g))


def panic_entries(proc: GoProcess, g: Goroutine) -> list[PanicDoc | PanicErrorDoc]:
    """The panics in flight on ``g``, innermost first (:func:`panics_json`)."""
    return cast("list[PanicDoc | PanicErrorDoc]", panics_json(proc, g))


def goroutine_defers_fields(gd: GoroutineDefers) -> GoroutineDefersFields:
    return cast(GoroutineDefersFields, gd.as_json())


def goroutine_panics_fields(gp: GoroutinePanics) -> GoroutinePanicsFields:
    return cast(GoroutinePanicsFields, gp.as_json())


def defer_pools_doc(pools: DeferPools) -> DeferPoolsDoc:
    return cast(DeferPoolsDoc, pools.as_json())
