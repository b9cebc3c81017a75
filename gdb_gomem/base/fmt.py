"""How values are spelled in documents, the same in every layer that builds one.

Addresses are hex strings (readable, and exact beyond 2^53, where JSON numbers stop being
integers in many readers); wall-clock times are ISO-8601 UTC with milliseconds.
"""

from __future__ import annotations

import datetime as _dt
from typing import overload


@overload
def hexaddr(addr: int) -> str: ...


@overload
def hexaddr(addr: None) -> None: ...


@overload
def hexaddr(addr: int | None) -> str | None: ...


def hexaddr(addr: int | None) -> str | None:
    """Addresses are hex strings in JSON: readable, and exact beyond 2^53."""
    return None if addr is None else f"{addr:#x}"


def unix_ns_to_iso(ns: int) -> str | None:
    """A Unix time in nanoseconds as ISO-8601 UTC (``...T12:00:00.000Z``); None when unset."""
    if ns <= 0:
        return None
    t = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
