"""Small text-formatting helpers shared by the renderers."""

from __future__ import annotations

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
