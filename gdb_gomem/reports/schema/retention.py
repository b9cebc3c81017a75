"""What keeps memory alive: ``path``, ``top`` and ``suspects``."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict, final

# ----------------------------------------------------------------------------- path


class RootRefDoc(TypedDict):
    """A named root: a global, a goroutine's stack slot, a finalizer, ..."""

    kind: str  # global, stack, finalizer, cleanup, weak, runtime
    name: str
    goroutine: int | None  # stack roots


class PathRootDoc(RootRefDoc):
    holder: str  # the address of the root word


class PathStepDoc(TypedDict):
    """One object of a chain; ``via`` is the field, element or root that points to it."""

    addr: str
    type: str
    size: int
    via: str


class RootPathDoc(TypedDict):
    root: PathRootDoc | None
    other_roots: int  # further roots holding the first object
    steps: list[PathStepDoc]


class PathObjectDoc(TypedDict):
    addr: str
    type: str
    size: int
    live: bool


class RootPathsDoc(TypedDict):
    """Shortest chains from named roots to the object holding ``addr``."""

    addr: str
    object: PathObjectDoc | None  # null: not inside an allocated heap object
    paths: list[RootPathDoc]  # shortest first, from distinct roots
    error: str | None


class PathDoc(RootPathsDoc):
    """``gomem path``: the first path's root and steps also at top level."""

    root: PathRootDoc | None
    steps: list[PathStepDoc]


# ----------------------------------------------------------------------------- top


class TopObjectRow(TypedDict):
    addr: str
    type: str
    shallow: int
    retained: int
    share: float  # of the live heap
    root: RootRefDoc | None  # the root holding the object's root-held dominator


class TopRootRow(TypedDict):
    root: str  # "kind name"
    retained: int  # by the largest object only this root keeps


@final
class TopObjectsDoc(TypedDict):
    by: Literal["object"]
    rows: list[TopObjectRow]  # largest first
    live_bytes: int
    roots: list[TopRootRow]


class TopTypeRow(TypedDict):
    type: str
    count: int
    shallow: int
    retained: int


@final
class TopTypesDoc(TypedDict):
    by: Literal["type"]
    rows: list[TopTypeRow]  # largest first
    live_bytes: int
    note: str


# ----------------------------------------------------------------------------- suspects


class SuspectDoc(TypedDict):
    """A leak suspect, with the path that explains it (empty when there is none)."""

    kind: str  # big retainer, many objects, pinned array, big map, goroutine group, ...
    type: str
    detail: str
    bytes: int | None
    root: RootRefDoc | None
    path: list[PathStepDoc]
    count: NotRequired[int]
    addr: NotRequired[str]


class SuspectRootDoc(TypedDict):
    """Every finding about one root (or one blocked goroutine group), with what it costs."""

    root: RootRefDoc | None  # null: a goroutine group (no single root)
    what: str  # the root as text ("global main.cache"), or the goroutine group's place
    bytes: int  # the most any of its findings says the root costs
    kinds: list[str]  # the findings' kinds, in the order of ``suspects``
    findings: list[int]  # indexes into ``suspects``


class SuspectsDoc(TypedDict):
    suspects: list[SuspectDoc]  # most bytes first
    live_bytes: int
    #: One entry per root, ranked by what it costs (most bytes first).
    by_root: list[SuspectRootDoc]
