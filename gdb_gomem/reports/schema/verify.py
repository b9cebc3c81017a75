"""``gomem verify``: heap consistency checks and the problems they found."""

from __future__ import annotations

from typing import TypedDict


class VerifyCheckDoc(TypedDict):
    check: str
    checked: int
    errors: int


class ProblemDoc(TypedDict):
    kind: str
    addr: str  # "0x0" when the problem has no address
    detail: str


class VerifyDoc(TypedDict):
    checks: list[VerifyCheckDoc]
    objects: int
    errors: int  # problems found; only the first 1000 are listed
    problems: list[ProblemDoc]
