"""Semantic colours (pwndbg style): code asks for *meaning*, one switch turns colour off.

Colour is on only when the output is a terminal, ``NO_COLOR`` is unset and ``--no-color`` (CLI)
or ``gomem-color off`` (gdb) was not given.
"""

from __future__ import annotations

import os
import re

from pygments.console import colorize

_enabled: bool = False

_STYLE = {
    "title": "bold",
    "label": "brightblack",
    "value": "",
    "number": "cyan",
    "address": "blue",
    "name": "green",
    "warn": "yellow",
    "error": "red",
    "hint": "brightblack",
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def set_enabled(on: bool) -> None:
    """Colour when asked and the environment allows: never with NO_COLOR set or TERM=dumb."""
    global _enabled
    _enabled = on and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def enabled() -> bool:
    return _enabled


def paint(role: str, text: object) -> str:
    s = str(text)
    style = _STYLE.get(role, "")
    if not _enabled or not style:
        return s
    out = s
    for part in style.split("+"):
        out = colorize(part, out)
    return out


def strip(text: str) -> str:
    return _ANSI.sub("", text)


def title(t: object) -> str:
    return paint("title", t)


def label(t: object) -> str:
    return paint("label", t)


def number(t: object) -> str:
    return paint("number", t)


def address(a: int | str | None) -> str:
    if a is None:
        return "-"
    return paint("address", a if isinstance(a, str) else f"{a:#x}")


def name(t: object) -> str:
    return paint("name", t)


def warn(t: object) -> str:
    return paint("warn", t)


def error(t: object) -> str:
    return paint("error", t)


def hint(t: object) -> str:
    return paint("hint", t)
