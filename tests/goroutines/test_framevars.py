"""Stack slot names against gdb's own evaluation of the DWARF locations.

On a live process paused in main.checkpoint, gdb computes the address of every local and
parameter of main.main that lives in memory; gomem's FrameVars, given the frame gomem's own
unwinder found, must name each of those addresses after the same variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import binary, gdb_batch

pytestmark = pytest.mark.gdb

_SCRIPT = """python
import gdb
from gdb_gomem.adapters.gdbinferior import process_from_gdb
from gdb_gomem.goroutines.framevars import frame_vars
from gdb_gomem.goroutines.allgs import goroutines
from gdb_gomem.goroutines.unwind import goroutine_backtrace
proc = process_from_gdb()
g = goroutines(proc).by_id(1)
fr = next(f for f in goroutine_backtrace(proc, g).frames if f.func == "main.main")
frame = gdb.newest_frame()
while frame is not None and frame.name() != "main.main":
    frame = frame.older()
fv = frame_vars(proc)
block = frame.block()
while block is not None:
    for sym in block:
        if not (sym.is_variable or sym.is_argument):
            continue
        try:
            addr = sym.value(frame).address
        except gdb.error:
            continue
        if addr is None or not fr.sp <= int(addr) < fr.fp + 4096:
            continue
        got = fv.name_of("main.main", fr.pc - 1, fr.fp, int(addr))
        print("SLOT", sym.name, hex(int(addr)), got)
    if block.function is not None:
        break
    block = block.superblock
end"""


def test_main_locals_named_like_gdb(version: str, tmp_path: Path) -> None:
    res = gdb_batch(
        "set startup-with-shell off",
        "break main.checkpoint",
        f"run -scenario=gcore -manifest={tmp_path / 'm.json'}",
        "frame 1",
        _SCRIPT,
        "kill",
        exe=binary(version),
    )
    slots = [ln.split() for ln in res.stdout.splitlines() if ln.startswith("SLOT ")]
    assert slots, res.stdout[-2000:] + res.stderr[-2000:]
    for _, name, _addr, got in slots:
        # The compiler also describes a decomposed variable by parts (`s.ptr`, `s.len`): a slot
        # may be named after the whole variable or the part, with a field path inside it.
        whole = name.split(".")[0]
        ok = (name, whole)
        assert got in ok or got.startswith(tuple(n + sep for n in ok for sep in ".[")), (name, got)
