"""The JSON contract: the document every command prints with ``--json``, as TypedDicts.

One module per area: :mod:`.info`, :mod:`.structures` (mheap, spans, span, mcentral, mcache,
spanlists, memstats), :mod:`.goroutines` (goroutines, goroutine, threads, defers, panics),
:mod:`.objects` (histogram, objects, obj), :mod:`.retention` (path, top, suspects),
:mod:`.verify`, :mod:`.window`, :mod:`.trace` and :mod:`.snapshots` (snapshot, diff);
:mod:`.common` holds the pieces several share. The builders in :mod:`gdb_gomem.reports` and
the commands' ``run`` functions return these types, so mypy checks every document against
its contract. Keys are stable: add, never rename or remove.

:data:`DOCUMENTS` names each command's document type (two for a command whose document
depends on its options).
"""

from __future__ import annotations

from gdb_gomem.reports.schema.goroutines import (
    DefersDoc,
    GoroutineGroupsDoc,
    GoroutinesDoc,
    PanicsDoc,
    SingleGoroutineDoc,
    ThreadsDoc,
)
from gdb_gomem.reports.schema.info import InfoDoc
from gdb_gomem.reports.schema.objects import HistogramDoc, ObjDoc, ObjectsDoc
from gdb_gomem.reports.schema.report import ReportDoc
from gdb_gomem.reports.schema.retention import PathDoc, SuspectsDoc, TopObjectsDoc, TopTypesDoc
from gdb_gomem.reports.schema.snapshots import DiffDoc, SnapshotDoc
from gdb_gomem.reports.schema.structures import (
    MCacheDoc,
    MCentralDoc,
    MemStatsDoc,
    MHeapDoc,
    SpanAddrDoc,
    SpanListsDoc,
    SpansDoc,
)
from gdb_gomem.reports.schema.timers import TimersDoc
from gdb_gomem.reports.schema.trace import TraceDoc
from gdb_gomem.reports.schema.verify import VerifyDoc
from gdb_gomem.reports.schema.window import WindowDoc

#: Command name -> the TypedDict(s) of its ``--json`` document.
DOCUMENTS: dict[str, tuple[type, ...]] = {
    "info": (InfoDoc,),
    "snapshot": (SnapshotDoc,),
    "diff": (DiffDoc,),
    "report": (ReportDoc,),
    "timers": (TimersDoc,),
    "mheap": (MHeapDoc,),
    "spans": (SpansDoc,),
    "span": (SpanAddrDoc,),
    "mcentral": (MCentralDoc,),
    "mcache": (MCacheDoc,),
    "spanlists": (SpanListsDoc,),
    "memstats": (MemStatsDoc,),
    "goroutines": (GoroutinesDoc, GoroutineGroupsDoc),
    "goroutine": (SingleGoroutineDoc,),
    "threads": (ThreadsDoc,),
    "defers": (DefersDoc,),
    "panics": (PanicsDoc,),
    "histogram": (HistogramDoc,),
    "objects": (ObjectsDoc,),
    "obj": (ObjDoc,),
    "path": (PathDoc,),
    "top": (TopObjectsDoc, TopTypesDoc),
    "suspects": (SuspectsDoc,),
    "verify": (VerifyDoc,),
    "window": (WindowDoc,),
    "trace": (TraceDoc,),
}

__all__ = [
    "DOCUMENTS",
    "DefersDoc",
    "GoroutineGroupsDoc",
    "GoroutinesDoc",
    "HistogramDoc",
    "InfoDoc",
    "MCacheDoc",
    "MCentralDoc",
    "MHeapDoc",
    "MemStatsDoc",
    "ObjDoc",
    "ObjectsDoc",
    "PanicsDoc",
    "PathDoc",
    "SingleGoroutineDoc",
    "SpanAddrDoc",
    "SpanListsDoc",
    "SpansDoc",
    "SuspectsDoc",
    "ThreadsDoc",
    "TopObjectsDoc",
    "TopTypesDoc",
    "VerifyDoc",
    "WindowDoc",
]
