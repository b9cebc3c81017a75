"""A heap snapshot in memory: what :mod:`.capture` takes from a target and :mod:`.format`
stores; what :mod:`.diff` compares. Nothing here reads a target.

Per object (one row each, by address): ``addr``, ``size`` (the slot's), ``type`` (an index
into ``types``, -1 when the snapshot was taken without the type pass), ``after_cycle`` /
``before_cycle`` (the GC-epoch bound of :mod:`gdb_gomem.heap.epochs`: allocated after GC #N
ended / before GC #N ended, -1 unknown), ``bucket`` (the heap profiler's bucket of a sampled
object, 0 otherwise), ``flags`` (:mod:`gdb_gomem.heap.objects`' ``F_*``: tiny block, unswept
garbage, noscan, large). Per in-use span: ``span_base``, ``span_npages``, ``span_class``,
``span_elemsize``, ``span_nelems``, ``span_freeindex``, ``span_sweepgen``, ``span_alloc_count``
and its allocation bits (``span_bits_off`` into ``alloc_bits``; ``nelems`` bits, LSB first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdb_gomem.heap.objects import F_UNSWEPT_GARBAGE
from gdb_gomem.snapshots.format import FORMAT_VERSION, SnapshotError, decode, encode

UNTYPED = "(untyped)"

#: Object and span columns and their dtypes (the file's arrays).
OBJECT_COLUMNS = {
    "addr": "<u8",
    "size": "<u8",
    "type": "<i4",
    "after_cycle": "<i4",
    "before_cycle": "<i4",
    "bucket": "<u8",
    "flags": "|u1",
}
SPAN_COLUMNS = {
    "span_base": "<u8",
    "span_npages": "<u8",
    "span_class": "<u2",
    "span_elemsize": "<u8",
    "span_nelems": "<u4",
    "span_freeindex": "<u4",
    "span_sweepgen": "<u4",
    "span_alloc_count": "<u4",
    "span_bits_off": "<u8",
}
#: Keys every snapshot's meta carries.
META_KEYS = (
    "format",
    "label",
    "go_version",
    "build_id",
    "binary",
    "target",
    "taken_unix_ns",
    "num_gc",
    "last_gc_unix_ns",
    "last_gc_nanotime",
    "sweep_cycle",
    "typed",
)


@dataclass
class Snapshot:
    meta: dict[str, Any]
    objects: dict[str, np.ndarray]  # OBJECT_COLUMNS, sorted by addr
    spans: dict[str, np.ndarray]  # SPAN_COLUMNS
    alloc_bits: np.ndarray  # uint8
    types: list[str] = field(default_factory=list)
    #: bucket address -> its stack, innermost first ("func (file:line)").
    stacks: dict[int, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.objects["addr"].size)

    @property
    def label(self) -> str:
        return str(self.meta.get("label") or "")

    @property
    def num_gc(self) -> int:
        return int(self.meta.get("num_gc") or 0)

    def alive(self) -> np.ndarray:
        """Objects that are allocated and not garbage the next sweep frees."""
        return (self.objects["flags"] & F_UNSWEPT_GARBAGE) == 0

    def type_names(self) -> np.ndarray:
        """The type name of every object (object dtype), "(untyped)" where none is known."""
        names = np.array([*self.types, UNTYPED], dtype=object)
        t = self.objects["type"]
        return names[np.where(t >= 0, t, len(self.types))]

    def describe(self) -> str:
        m = self.meta
        lab = f" {m['label']!r}" if m.get("label") else ""
        return f"snapshot{lab} of {m.get('target', '?')} ({m.get('go_version', '?')})"

    # ------------------------------------------------------------------ the file

    def to_bytes(self) -> bytes:
        meta = dict(self.meta)
        meta["format"] = FORMAT_VERSION
        meta["types"] = self.types
        meta["stacks"] = {f"{b:#x}": fr for b, fr in self.stacks.items()}
        arrays = {k: self.objects[k].astype(v, copy=False) for k, v in OBJECT_COLUMNS.items()}
        arrays.update({k: self.spans[k].astype(v, copy=False) for k, v in SPAN_COLUMNS.items()})
        arrays["alloc_bits"] = self.alloc_bits.astype("|u1", copy=False)
        return encode(meta, arrays)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "the snapshot") -> Snapshot:
        meta, arrays = decode(data, what)
        hint = "take the snapshot again (heap_snapshot in gdb, or gomem snapshot on a core)"
        try:
            missing = [k for k in (*OBJECT_COLUMNS, *SPAN_COLUMNS, "alloc_bits") if k not in arrays]
            if missing:
                raise ValueError(f"no {', '.join(missing)}")
            n = arrays["addr"].size
            if any(arrays[k].size != n for k in OBJECT_COLUMNS):
                raise ValueError("object columns of different lengths")
            ns = arrays["span_base"].size
            if any(arrays[k].size != ns for k in SPAN_COLUMNS):
                raise ValueError("span columns of different lengths")
            types = [str(t) for t in meta.pop("types", [])]
            t = arrays["type"]
            if n and (int(t.max(initial=-1)) >= len(types) or int(t.min(initial=0)) < -1):
                raise ValueError("a type index outside the type list")
            stacks = {
                int(k, 16): [str(f) for f in v] for k, v in dict(meta.pop("stacks", {})).items()
            }
            if n > 1 and not bool(np.all(arrays["addr"][1:] > arrays["addr"][:-1])):
                raise ValueError("object addresses are not sorted")
            for k in META_KEYS:
                meta.setdefault(k, None)
        except (ValueError, TypeError, AttributeError) as exc:
            raise SnapshotError(f"{what} is damaged ({exc})", hint) from None
        return cls(
            meta,
            {k: arrays[k] for k in OBJECT_COLUMNS},
            {k: arrays[k] for k in SPAN_COLUMNS},
            arrays["alloc_bits"],
            types,
            stacks,
        )
