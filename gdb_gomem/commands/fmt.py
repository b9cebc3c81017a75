"""Small text-formatting helpers shared by the renderers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gdb_gomem.commands import colors as c


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{int(x)} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{n} B"


def kv(key: str, value: str, width: int = 12) -> str:
    """An aligned ``key  value`` line (the key dimmed)."""
    return f"{c.label(key.ljust(width))} {value}"


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Aligned columns; widths from the plain text (colour codes do not count)."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(c.strip(cell)))

    def line(cells: list[str], head: bool = False) -> str:
        out = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - len(c.strip(cell)))
            out.append(pad + cell if i in right else cell + pad)
        text = "  ".join(out).rstrip()
        return c.label(text) if head else text

    return [line(headers, True)] + [line(r) for r in rows]


def trailer(d: Mapping[str, Any]) -> list[str]:
    """A document's ``errors`` and ``notes``, one line each, after the rest."""
    out = [c.error(f"error: {e}") for e in d.get("errors", [])]
    out += [c.warn(f"note: {n}") for n in d.get("notes", [])]
    return out
