"""Addresses a function's machine code takes with ``LEAQ sym(SB), reg`` and calls (amd64).

The Go compiler materialises the address of a static symbol (a type descriptor, a function's
entry, a funcval) with a RIP-relative ``LEAQ``: ``REX.W 8D /r`` with ``mod=00 rm=101`` and a
32-bit displacement from the next instruction. A function that makes a heap closure loads the
closure struct's type descriptor for ``runtime.newobject`` and then the closure function's
entry for the struct's ``F`` word; :mod:`gdb_gomem.heap.types.decode.closures` pairs the two.

The scan reads bytes, not instructions, so a match can start inside another instruction;
callers validate every target (a function entry, a type descriptor) before using it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gdb_gomem.base.errors import GomemError

if TYPE_CHECKING:
    from gdb_gomem.symbols.binary import GoBinary

#: REX.W (optionally REX.R) + LEA opcode + ModRM with mod=00, rm=101 (RIP-relative).
_LEA_RIP = re.compile(rb"[\x48\x4c]\x8d[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]", re.DOTALL)

#: Code scanned per function.
MAX_CODE = 1 << 20


def function_code(binary: GoBinary, entry: int, end: int) -> bytes | None:
    """The machine code of the function at ``[entry, end)`` as the executable holds it, or
    None when it is empty, longer than :data:`MAX_CODE`, or unreadable."""
    if not 0 < end - entry <= MAX_CODE:
        return None
    try:
        return binary.read_static(entry, end - entry)
    except (GomemError, OSError, ValueError):
        return None


def lea_targets(code: bytes, base: int) -> list[tuple[int, int]]:
    """``(instruction address, target address)`` of every RIP-relative ``LEAQ`` in ``code``,
    which starts at address ``base``, in address order."""
    out: list[tuple[int, int]] = []
    end = min(len(code), MAX_CODE)
    for m in _LEA_RIP.finditer(code, 0, end):
        i = m.start()
        if i + 7 > end:
            break
        disp = int.from_bytes(code[i + 3 : i + 7], "little", signed=True)
        out.append((base + i, base + i + 7 + disp))
    return out


def call_targets(code: bytes, base: int) -> list[int]:
    """Targets of every direct ``CALL rel32`` (``E8`` and a displacement from the next
    instruction) in ``code``, which starts at address ``base``, without repeats. A byte scan:
    callers keep only targets that are function entries."""
    out: dict[int, None] = {}
    end = min(len(code), MAX_CODE)
    i = code.find(b"\xe8", 0, end)
    while i >= 0 and i + 5 <= end:
        disp = int.from_bytes(code[i + 1 : i + 5], "little", signed=True)
        out[base + i + 5 + disp] = None
        i = code.find(b"\xe8", i + 1, end)
    return list(out)
