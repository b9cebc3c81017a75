"""Pieces shared by several documents: code locations, stack frames, address ranges."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class CodeLocation(TypedDict):
    """A code address resolved through the pclntab (``describe_pc``)."""

    func: str
    file: str
    line: int


class SiteDoc(TypedDict):
    """A code address and, when it is in Go code, its function and file:line (else nulls)."""

    func: str | None
    file: str | None
    line: int | None
    pc: str


class LocalDoc(TypedDict):
    """An argument or local variable on a frame's stack (``gomem goroutine N``)."""

    name: str  # the variable (a field path for a piece of one: ``s.len``)
    type: str | None
    addr: str
    value: str  # a short rendering: a number, a quoted string, a pointer, a slice header...


class FrameDoc(TypedDict):
    """One frame of a backtrace, innermost first; ``inlined`` frames share their caller's pc."""

    func: str
    file: str
    line: int
    pc: str
    sp: str
    inlined: bool
    #: Arguments and locals with a stack slot at this pc (DWARF locations; values kept only
    #: in registers are not shown), in ``gomem goroutine N``.
    locals: NotRequired[list[LocalDoc]]


class StackBounds(TypedDict):
    """``[lo, hi)`` of a stack."""

    lo: str
    hi: str


class AddrRange(TypedDict):
    """``[start, end)`` of an address range."""

    start: str
    end: str
