"""Go source lines beside frames, when the source files are at hand: highlighted with
pygments on a terminal, plain otherwise.

A frame names its file as the binary recorded it: an absolute path, or a module path with
``-trimpath`` (``example.com/svc/cache.go``). The file is looked up as given, then under each
source directory (``--source DIR``, default the current directory) with leading path
components dropped one at a time (``svc/cache.go``, ``cache.go``), so a checkout of the
module is found wherever it is.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from gdb_gomem.commands import colors as c

#: Files read at most this big (a generated file is not worth it).
MAX_FILE = 4 << 20


@lru_cache(maxsize=256)
def _lines(path: str) -> tuple[str, ...] | None:
    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size > MAX_FILE:
            return None
        return tuple(p.read_text(errors="replace").splitlines())
    except OSError:
        return None


def find_source(file: str, roots: list[str]) -> str | None:
    """The local path of a frame's file, or None."""
    if not file or file.startswith("<"):
        return None
    cand = Path(file)
    if cand.is_absolute() and cand.is_file():
        return str(cand)
    parts = cand.parts[1:] if cand.is_absolute() else cand.parts
    for root in roots or ["."]:
        for k in range(len(parts)):
            p = Path(root, *parts[k:])
            if p.is_file():
                return str(p)
    return None


def _highlight(text: str) -> str:
    if not c.enabled():
        return text
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import GoLexer
    except ImportError:
        return text
    return highlight(text, GoLexer(), TerminalFormatter()).rstrip("\n")


def source_line(file: str, line: int, roots: list[str]) -> str | None:
    """``  NNN | code`` for file:line, or None when the file is not at hand."""
    path = find_source(file, roots)
    if path is None or line <= 0:
        return None
    lines = _lines(path)
    if lines is None or line > len(lines):
        return None
    return f"{c.hint(f'{line:>6} |')} {_highlight(lines[line - 1].strip())}"
