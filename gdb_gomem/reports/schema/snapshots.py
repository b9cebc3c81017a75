"""The documents of ``gomem snapshot`` (and gdb's ``heap_snapshot``) and ``gomem diff``."""

from __future__ import annotations

from typing import TypedDict


class SnapshotSideDoc(TypedDict):
    """One side of a diff, or the snapshot just taken: where it came from and its totals."""

    source: str  # the file or core it was read from, or "current target"
    kind: str  # "snapshot" (a file) or "core" (snapshotted on the fly) or "target"
    label: str
    target: str
    go_version: str
    build_id: str
    taken_unix_ns: int | None  # when the snapshot was written (wall clock of the taker)
    #: The target's moment: the capture time of a live process, a core's crash-time estimate.
    at_unix_ns: int | None
    at_nanotime: int | None  # the latest nanotime() reading the runtime wrote before it
    num_gc: int  # completed GC cycles at that moment
    last_gc_unix_ns: int | None
    typed: bool
    sampled: bool  # holds sampled allocation stacks
    objects: int  # live objects (unswept garbage left out)
    bytes: int


class SnapshotDoc(TypedDict):
    snapshot: SnapshotSideDoc
    path: str | None  # where it was written
    file_bytes: int
    #: Seconds per phase: "allocation state" (what a live recorder pauses for), "types",
    #: "profile", and "write".
    seconds: dict[str, float]
    notes: list[str]
    errors: list[str]


class DiffRowDoc(TypedDict):
    #: The row's key: a type name, "size N" for untyped sides, a stack, or a root ("global
    #: main.cache"; counts 1/0: the root exists; bytes: what it retains alone).
    type: str
    count_a: int
    count_b: int
    delta_count: int
    bytes_a: int
    bytes_b: int
    delta_bytes: int


class DiffObjectDoc(TypedDict):
    addr: str
    size: int
    type: str


class DiffClassDoc(TypedDict):
    count: int
    bytes: int
    #: The objects of the class, largest first, up to --limit (every one with --by object
    #: and no --limit).
    list: list[DiffObjectDoc]


class DiffObjectsDoc(TypedDict):
    new: DiffClassDoc
    freed: DiffClassDoc
    survived: DiffClassDoc
    #: Survivors a GC between the sides could have freed and reused unseen.
    unconfirmed_survivors: int


class DiffDoc(TypedDict):
    by: str  # "type", "stack", "object" or "root"
    key: str  # what rows are keyed by: "type", "size", "stack" or "root"
    rows: list[DiffRowDoc]
    objects: DiffObjectsDoc
    a: SnapshotSideDoc
    b: SnapshotSideDoc
    threshold: int
    focus: str | None
    notes: list[str]
