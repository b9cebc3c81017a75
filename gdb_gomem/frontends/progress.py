"""Progress of long passes, rendered for a person: the analysis reports, the front end prints.

The analysis context (:mod:`gdb_gomem.target.context`) calls a :data:`ProgressCallback` when a
long pass starts and ends. On a terminal this is one line, rewritten in place as passes start
and end (``gomem: types... (objects 0.8s, graph 2.3s)``) and cleared when the command is done
(:meth:`Progress.close`), so nothing stays above the output or inside a pager. Elsewhere
nothing is printed unless asked (``--progress``): then one line per finished pass, with its
wall time. Notes (a slower fallback taking over) are always printed.
"""

from __future__ import annotations

import sys
from typing import TextIO

from gdb_gomem.target.context import ProgressEvent

#: The in-place line is cut to this width (a narrow terminal would wrap it).
MAX_WIDTH = 100


class Progress:
    """A progress callback for a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, force: bool = False) -> None:
        self.stream = stream
        self.force = force
        self.done: list[str] = []
        self.running: list[str] = []
        self._shown = False

    @property
    def out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def _tty(self) -> bool:
        try:
            return self.out.isatty()
        except (AttributeError, ValueError):
            return False

    def __call__(self, ev: ProgressEvent) -> None:
        out = self.out
        if ev.state == "note":
            self._clear()
            print(f"gomem: {ev.phase}", file=out, flush=True)
            return
        if ev.state == "start":
            self.running.append(ev.phase)
        else:
            if ev.phase in self.running:
                self.running.remove(ev.phase)
            self.done.append(f"{ev.phase} {ev.seconds:.1f}s")
            if not self._tty():
                if self.force:
                    print(f"gomem: {ev.phase} {ev.seconds:.1f}s", file=out, flush=True)
                return
        if self._tty():
            now = ", ".join(self.running) + "..." if self.running else "working..."
            line = f"gomem: {now}" + (f" ({', '.join(self.done[-4:])})" if self.done else "")
            out.write("\r\x1b[K" + line[:MAX_WIDTH])
            out.flush()
            self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False

    def close(self) -> None:
        """Clear the in-place line (call before printing the command's output)."""
        self._clear()


def stream_progress(stream: TextIO | None = None, *, force: bool = False) -> Progress:
    """A callback printing progress on ``stream`` (stderr by default); ``force``: also when
    the stream is not a terminal (``--progress``)."""
    return Progress(stream, force=force)
