"""Corrupt runtime structures end a walk with a reported error line: no hang, no traceback.

Each test patches a copy of a real fixture core (the bytes of one runtime field) and runs the
standalone command with a time limit.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.goroutines.allgs import goroutines
from tests.support import binary, core, gomem_cli, patched_core


def _run(version: str, cf: Path, *args: str) -> dict:
    res = gomem_cli(*args, "--json", "--binary", str(binary(version)), "--core", str(cf))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return json.loads(res.stdout)


def test_allgs_with_absurd_length(version: str, tmp_path: Path) -> None:
    proc = open_core(binary(version), core(version, "panic"))
    allgs = proc.global_("runtime.allgs")
    len_addr = allgs["len"].addr
    cf = patched_core(
        core(version, "panic"), tmp_path / "c", {len_addr: struct.pack("<Q", 1 << 60)}
    )
    d = _run(version, cf, "goroutines", "--no-frames")
    assert d["goroutines"] == []
    assert any("allgs has a corrupt length" in n for n in d["notes"])


def test_goroutine_with_wild_stack_pointer(version: str, tmp_path: Path) -> None:
    """A parked goroutine whose saved SP is garbage: its backtrace says so, others are fine."""
    proc = open_core(binary(version), core(version, "panic"))
    g = next(x for x in goroutines(proc).all if x.wait_reason == "chan receive")
    sp_addr = g.addr + proc.dw.offset("runtime.g", "sched.sp")
    cf = patched_core(
        core(version, "panic"), tmp_path / "c", {sp_addr: struct.pack("<Q", 0xDEAD0000)}
    )
    d = _run(version, cf, "goroutines")
    bad = next(x for x in d["goroutines"] if x["id"] == g.goid)
    assert bad["frames"] == [] and "off its stack" in bad["frames_error"]
    others = [x for x in d["goroutines"] if x["id"] != g.goid and x["status"] == "waiting"]
    assert others and all(x["frames_error"] is None for x in others)


def test_stack_with_looping_return_address(version: str, tmp_path: Path) -> None:
    """A return address overwritten to point back into the same frame: the walk is bounded."""
    proc = open_core(binary(version), core(version, "panic"))
    g = next(x for x in goroutines(proc).all if x.wait_reason == "chan receive")
    # The word just above gopark's frame is its return address into chanrecv: make it gopark's
    # own pc, and the saved SP of the caller equal to the callee's. The walk must end.
    from gdb_gomem.goroutines.unwind import goroutine_backtrace

    frames = goroutine_backtrace(proc, g).frames
    first = frames[0]
    cf = patched_core(
        core(version, "panic"), tmp_path / "c", {first.fp - 8: struct.pack("<Q", first.pc)}
    )
    d = _run(version, cf, "goroutine", str(g.goid))
    assert d["frames_error"] is not None
    assert len(d["frames"]) < 5000
