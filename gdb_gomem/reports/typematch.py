"""What ``--type`` selects: a regular expression searched in the type's name as gomem prints
it (``main\\.`` matches every type of package main, ``map[string]*main.Order`` included), or
``=NAME`` for exactly that name (``=main.Order``: the struct, not the maps and slices of it).
One home for every command that takes ``--type``."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from gdb_gomem.base.errors import GomemError

HINT = "a Python regular expression ('main\\.', '^\\*?main\\.Order$'), or =NAME for exactly NAME"


def type_matcher(text: str | None) -> Callable[[str], bool] | None:
    """A predicate on type names for --type TEXT; None when no --type was given."""
    if not text:
        return None
    if text.startswith("="):
        exact = text[1:]
        return lambda name: name == exact
    try:
        rx = re.compile(text)
    except re.error as exc:
        raise GomemError(f"bad --type regular expression {text!r}: {exc}", HINT) from None
    return lambda name: rx.search(name) is not None


def names_mask(names: list[str], text: str | None) -> np.ndarray:
    """Which of ``names`` (a type table) --type TEXT selects."""
    m = type_matcher(text)
    if m is None:
        return np.ones(len(names), dtype=bool)
    return np.array([m(n) for n in names], dtype=bool)
