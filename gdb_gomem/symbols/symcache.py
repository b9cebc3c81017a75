"""Per-binary cache of parsed symbol tables, keyed by the binary's content hash.

Parsing DWARF costs about a second; every later open of the same binary (in gdb or the CLI)
loads the pickled tables instead. The cache lives in ``$GOMEM_CACHE`` or ``~/.cache/gdb-gomem``;
an unreadable or stale entry is silently rebuilt.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

#: Bump when the pickled classes change shape or module (3: analysis/ split into packages).
SCHEMA = 3

T = TypeVar("T")


def cache_dir() -> Path:
    base = os.environ.get("GOMEM_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "gdb-gomem"


def cached(kind: str, key: str, build: Callable[[], T]) -> T:
    """Return the cached object ``kind``/``key``, building and storing it on a miss."""
    if os.environ.get("GOMEM_NO_CACHE"):
        return build()
    path = cache_dir() / "symbols" / f"{key}.{kind}.v{SCHEMA}.pickle"
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - any unreadable entry is just a miss
        pass
    obj = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs time
    return obj
