"""What the type pass produces: a small table of types, and per heap object a row of it.

Storage is columnar so that reports stay numpy operations over tens of millions of objects:
``type_id`` holds one int32 per object (a histogram is one ``np.bincount``), and the
:class:`TypeEntry` rows, a few hundred, say what each id means. A row is one way of typing
objects (name, how it was learned, array length), so the same Go type reached through a
malloc header and through DWARF is two rows: reports can tell how sure each count is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdb_gomem.heap.objects import ObjectTable

#: How an object's type was learned (:attr:`TypeEntry.source`).
SRC_HEADER = "malloc header"
SRC_LARGE = "largeType"
SRC_FINALIZER = "finalizer"
SRC_DWARF = "dwarf"
SRC_INFERRED = "inferred"

#: Confidence of each way of typing an object; a stronger one replaces a weaker one.
P_NONE, P_GUESS, P_DWARF, P_FINALIZER, P_HEADER = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class TypeEntry:
    """One row of the type table: objects of this name, typed the same way."""

    id: int
    name: str  # as Go prints it (see gonames)
    source: str  # SRC_*
    count: int = 1  # array length when the object is an array ([count]elem)
    elem: str = ""  # element type name of an array
    package: str = ""
    dwarf: int | None = None  # DWARF type of the object's (element) data

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "count": self.count,
            "package": self.package,
        }


class TypeTable:
    """The rows handed out so far. A row's id is its position, given on first request, so
    the table (and every id in it) depends only on the order the pass meets types in."""

    def __init__(self) -> None:
        self.entries: list[TypeEntry] = []
        self._ids: dict[tuple[str, str, int], int] = {}

    def entry(
        self,
        name: str,
        source: str,
        count: int = 1,
        elem: str = "",
        dwarf: int | None = None,
        package: str = "",
    ) -> int:
        """The id of the row (name, source, count), added with the other fields if new."""
        key = (name, source, count)
        hit = self._ids.get(key)
        if hit is None:
            hit = len(self.entries)
            self.entries.append(TypeEntry(hit, name, source, count, elem, package, dwarf))
            self._ids[key] = hit
        return hit


@dataclass
class HeapTypes:
    """The result: per object (of the process's :class:`ObjectTable`) a type id into
    ``table``, and where its data starts (8 bytes in behind a malloc header, else 0)."""

    objects: ObjectTable
    type_id: np.ndarray  # int32, one per object
    table: list[TypeEntry]
    data_off: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # header
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def addr(self) -> np.ndarray:
        return self.objects.addr

    @property
    def size(self) -> np.ndarray:
        return self.objects.size

    def entry_of(self, i: int) -> TypeEntry:
        return self.table[int(self.type_id[i])]

    def typed_mask(self) -> np.ndarray:
        src = np.array([e.source != SRC_INFERRED for e in self.table], dtype=bool)
        return src[self.type_id] if len(self.type_id) else np.zeros(0, dtype=bool)

    def typed_fraction(self, mask: np.ndarray | None = None) -> tuple[int, int]:
        """(typed bytes, all bytes) over the objects selected by ``mask`` (all by default)."""
        sel = np.ones(len(self.type_id), dtype=bool) if mask is None else mask
        sizes = self.objects.size.astype(np.int64)
        return int(sizes[sel & self.typed_mask()].sum()), int(sizes[sel].sum())
