"""The analysis context of one stopped target: named, typed members built once, and progress.

Everything derived from one target (the span walk, the goroutine table, the heap model, the
types of every object) is built at most once and lives exactly as long as the target's
:class:`~gdb_gomem.target.process.GoProcess`. Each such member is declared once, next to the
code that builds it, as a :class:`Lazy`::

    SPAN_WALK: Lazy[SpanWalk] = Lazy("span walk", walk_spans)
    ...
    walk = SPAN_WALK(proc)          # built on first use, then the same object

The declaration carries the member's name (for progress and timings), its builder and its
type, so a type checker knows what ``SPAN_WALK(proc)`` returns, and a reader finds every
member of the context by looking for ``Lazy(``. The context itself lives in the target layer
and knows no higher layer: members declared in the runtime, goroutine or heap layers are
stored here by identity.

Long passes declared with ``phase=True`` report their start and end (with wall time) to the
context's progress callback, which each front end renders its own way (a line on the
terminal's stderr, gdb's output); the analysis never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

if TYPE_CHECKING:
    from gdb_gomem.target.analysiscache import AnalysisStore
    from gdb_gomem.target.process import GoProcess

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long pass: ``start`` (seconds 0) or ``done`` (its wall time); or a
    ``note`` the user should see once (``phase`` is then the message), such as a slower
    fallback taking over."""

    phase: str
    state: Literal["start", "done", "note"]
    seconds: float = 0.0


#: What a front end hands the context to hear about long passes.
ProgressCallback = Callable[[ProgressEvent], None]


#: Members declared ``persist=True``, by name, in declaration order.
PERSISTED: dict[str, Lazy[Any]] = {}


class Lazy(Generic[T]):
    """A named member of the analysis context, built from the process on first use.

    ``persist``: kept on disk between standalone commands on the same core
    (:mod:`gdb_gomem.target.analysiscache`); ``restore`` then reconnects a value read from
    disk to the process (e.g. the object table to the target's memory)."""

    def __init__(
        self,
        name: str,
        build: Callable[[GoProcess], T],
        *,
        phase: bool = False,
        persist: bool = False,
        restore: Callable[[T, GoProcess], None] | None = None,
    ):
        self.name = name
        self.build = build
        self.phase = phase
        self.persist = persist
        self.restore = restore
        if persist:
            PERSISTED[name] = self

    def __call__(self, proc: GoProcess) -> T:
        return proc.context.get(self, proc)

    def peek(self, proc: GoProcess) -> T | None:
        """The member if it was built already, else None (never builds)."""
        return proc.context.peek(self)

    def __repr__(self) -> str:
        return f"Lazy({self.name!r})"


class AnalysisContext:
    """The members built so far for one target, their wall times, and the progress sink.

    Thread-safe: the heap model may be built on a second thread while the caller's thread
    types objects (:func:`gdb_gomem.heap.model.start_heap_model`); each member is built once,
    and a second caller waits for the first.
    """

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.progress: ProgressCallback | None = progress
        # Keyed by the member's declaration; each value has the type its Lazy[T] declares.
        self._values: dict[Lazy[Any], Any] = {}
        self._locks: dict[Lazy[Any], threading.RLock] = {}
        self._lock = threading.Lock()
        #: Wall seconds of each phase built so far, by name, in the order they finished.
        self.timings: dict[str, float] = {}
        #: Where persisted members are kept between commands (None: nowhere).
        self.store: AnalysisStore | None = None
        self._restored = False
        self._built_persisted = False

    def _restore(self, proc: GoProcess) -> None:
        self._restored = True
        if self.store is None:
            return
        t0 = time.perf_counter()
        bundle = self.store.load()
        if not bundle:
            return
        for name, lazy in PERSISTED.items():
            if name in bundle and lazy not in self._values:
                self._values[lazy] = bundle[name]
        for name, lazy in PERSISTED.items():
            if name in bundle and lazy.restore is not None:
                lazy.restore(bundle[name], proc)
        self.timings["analysis read from disk"] = time.perf_counter() - t0

    def save(self) -> str | None:
        """Write the persisted members to the store when this run built any; why not, or
        None."""
        if self.store is None or not self._built_persisted:
            return None
        bundle = {n: self._values[lz] for n, lz in PERSISTED.items() if lz in self._values}
        return self.store.save(bundle)

    def peek(self, lazy: Lazy[T]) -> T | None:
        return cast("T | None", self._values.get(lazy))

    def built(self, lazy: Lazy[T]) -> bool:
        return lazy in self._values

    def get(self, lazy: Lazy[T], proc: GoProcess) -> T:
        values = self._values
        if lazy in values:
            return cast("T", values[lazy])
        if lazy.persist and not self._restored:
            with self._lock:
                if not self._restored:
                    self._restore(proc)
            if lazy in values:
                return cast("T", values[lazy])
        with self._lock:
            lock = self._locks.setdefault(lazy, threading.RLock())
        with lock:
            if lazy not in values:
                values[lazy] = self.run_phase(lazy.name, lambda: lazy.build(proc), lazy.phase)
                if lazy.persist:
                    self._built_persisted = True
        return cast("T", values[lazy])

    def run_phase(self, name: str, build: Callable[[], T], report: bool = True) -> T:
        """Run one pass; when ``report``, tell the progress callback and keep its time."""
        if not report:
            return build()
        self.report(ProgressEvent(name, "start"))
        t0 = time.perf_counter()
        out = build()
        dt = time.perf_counter() - t0
        self.timings[name] = dt
        self.report(ProgressEvent(name, "done", dt))
        return out

    def note(self, message: str) -> None:
        """Tell the user something about how the analysis runs (not about the target)."""
        self.report(ProgressEvent(message, "note"))

    def report(self, event: ProgressEvent) -> None:
        cb = self.progress
        if cb is not None:
            cb(event)
