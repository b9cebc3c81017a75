"""Progress of long passes, rendered for a person: the analysis reports, the front end prints.

The analysis context (:mod:`gdb_gomem.target.context`) calls a :data:`ProgressCallback` when a
long pass starts and ends; this module turns those events into lines on a stream. On a
terminal a pass shows as ``gomem: mark...`` while it runs and ``gomem: mark 1.9s`` when done;
elsewhere only passes slower than :data:`SLOW_PASS_S` are named, so logs stay quiet. Notes
(a slower fallback taking over) are always printed.
"""

from __future__ import annotations

import sys
from typing import TextIO

from gdb_gomem.target.context import ProgressCallback, ProgressEvent

#: A pass slower than this reports itself even when the stream is not a terminal.
SLOW_PASS_S = 1.0


def stream_progress(stream: TextIO | None = None) -> ProgressCallback:
    """A callback printing progress lines on ``stream`` (stderr by default)."""

    def render(ev: ProgressEvent) -> None:
        out = stream if stream is not None else sys.stderr
        tty = out.isatty()
        if ev.state == "note":
            print(f"gomem: {ev.phase}", file=out, flush=True)
        elif ev.state == "start":
            if tty:
                print(f"gomem: {ev.phase}...", end="\r", file=out, flush=True)
        elif tty or ev.seconds > SLOW_PASS_S:
            print(f"gomem: {ev.phase} {ev.seconds:.1f}s" + " " * 10, file=out, flush=True)

    return render
