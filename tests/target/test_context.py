"""The analysis context: named members built once per target, and progress through a callback.

Members are declared as ``Lazy`` beside their builders; the heap model's passes report their
start and end to whatever callback the front end installed, in the order they run.
"""

from __future__ import annotations

import io
import threading
import time

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.frontends.progress import stream_progress
from gdb_gomem.heap.model import HEAP_MODEL, heap_model
from gdb_gomem.target.context import AnalysisContext, Lazy, ProgressEvent
from tests.support import binary, core, manifest


class _Proc:
    """Just what a Lazy needs of a process: its context."""

    def __init__(self) -> None:
        self.context = AnalysisContext()


def test_lazy_member_is_built_once_even_from_two_threads() -> None:
    calls = []

    def build(proc: object) -> list[int]:
        calls.append(1)
        time.sleep(0.05)  # long enough for the second thread to arrive meanwhile
        return [len(calls)]

    member: Lazy[list[int]] = Lazy("thing", build)
    proc = _Proc()
    assert member.peek(proc) is None
    got: list[list[int]] = []
    threads = [threading.Thread(target=lambda: got.append(member(proc))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert got[0] is got[1] is member.peek(proc)
    other = _Proc()
    assert member(other) is not got[0]  # per target, not global
    assert proc.context.timings == {}  # not a phase: no timing, no progress


def test_heap_model_phases_reach_the_progress_callback(version: str) -> None:
    proc = open_core(binary(version), core(version, "panic"))
    events: list[ProgressEvent] = []
    proc.context.progress = events.append
    hm = heap_model(proc)
    assert HEAP_MODEL.peek(proc) is hm
    phases = [(e.phase, e.state) for e in events]
    assert phases == [
        (p, s) for p in ("objects", "roots", "graph", "mark") for s in ("start", "done")
    ]
    assert all(e.seconds > 0 for e in events if e.state == "done")
    assert set(hm.timings) == {"objects", "roots", "graph", "mark"}
    # The model itself is what the manifest says: every live object of the program's types.
    m = manifest(version, "panic")
    assert len(hm.objects) >= m["memstats_final"]["HeapObjects"]
    heap_model(proc)
    assert len(events) == 8  # built once: no second round of events


def _passes(show: object) -> None:
    for name, secs in (("mark", 0.2), ("types", 3.5)):
        show(ProgressEvent(name, "start"))  # type: ignore[operator]
        show(ProgressEvent(name, "done", secs))  # type: ignore[operator]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_silent_unless_asked() -> None:
    out = io.StringIO()  # not a terminal
    _passes(stream_progress(out))
    assert out.getvalue() == ""
    out = io.StringIO()
    _passes(stream_progress(out, force=True))  # --progress
    assert out.getvalue() == "gomem: mark 0.2s\ngomem: types 3.5s\n"


def test_progress_on_a_terminal_is_one_line_cleared_at_the_end() -> None:
    out = _Tty()
    show = stream_progress(out)
    _passes(show)
    text = out.getvalue()
    assert "\n" not in text  # rewritten in place, never a new line
    assert text.count("\r\x1b[K") == 4
    assert text.endswith("(mark 0.2s, types 3.5s)")  # every pass with its time
    show.close()
    assert out.getvalue().endswith("\r\x1b[K")  # cleared before the output


def test_notes_are_always_printed() -> None:
    out = io.StringIO()
    ctx = AnalysisContext(stream_progress(out))
    ctx.note("compiled kernels unavailable (test); using the slower numpy/Python passes")
    assert out.getvalue() == (
        "gomem: compiled kernels unavailable (test); using the slower numpy/Python passes\n"
    )
