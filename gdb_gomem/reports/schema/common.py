"""Pieces shared by several documents: code locations, stack frames, address ranges."""

from __future__ import annotations

from typing import TypedDict


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


class FrameDoc(TypedDict):
    """One frame of a backtrace, innermost first; ``inlined`` frames share their caller's pc."""

    func: str
    file: str
    line: int
    pc: str
    sp: str
    inlined: bool


class StackBounds(TypedDict):
    """``[lo, hi)`` of a stack."""

    lo: str
    hi: str


class AddrRange(TypedDict):
    """``[start, end)`` of an address range."""

    start: str
    end: str
