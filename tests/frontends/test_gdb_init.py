"""`source gdb_gomem/init.py` from any directory: one line, commands registered, idempotent."""

from __future__ import annotations

import pytest

from gdb_gomem import __version__
from tests.support import INIT, binary, core, gdb_batch

pytestmark = pytest.mark.gdb


def test_source_prints_one_line_and_registers(version: str) -> None:
    res = gdb_batch("help gomem info", exe=binary(version))  # gdb_batch runs from cwd "/"
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("gdb-gomem")]
    assert len(lines) == 1
    assert lines[0].startswith(f"gdb-gomem {__version__} loaded: gomem {{")
    assert lines[0].endswith("} (help gomem)")
    for name in ("info", "goroutines", "goroutine", "threads"):
        assert name in lines[0].split("{")[1].split("}")[0].split(",")
    assert "usage: gomem info [-h] [--json]" in res.stdout  # argparse help via `help gomem info`


def test_source_twice_is_harmless(version: str) -> None:
    res = gdb_batch(
        f"source {INIT}",
        "echo @@\\n",
        "gomem info",
        exe=binary(version),
        core_file=core(version, "panic"),
    )
    assert "Traceback" not in res.stderr
    after = res.stdout.split("@@", 1)[1]
    assert after.count("Go program") == 1  # one command, not two registrations


def test_unreadable_address_is_a_typed_error(version: str) -> None:
    """Both backends raise UnreadableMemory for an unmapped address (here: page 1)."""
    import pytest

    from gdb_gomem.adapters.corefile import open_core
    from gdb_gomem.base.errors import UnreadableMemory

    proc = open_core(binary(version), core(version, "panic"))
    with pytest.raises(UnreadableMemory):
        proc.mem.read(0x1000, 8)
    res = gdb_batch(
        "python from gdb_gomem.adapters.gdbinferior import process_from_gdb",
        "python p = process_from_gdb()",
        "python\ntry:\n  p.mem.read(0x1000, 8)\n"
        "except Exception as e:\n  print('RAISED', type(e).__name__)\nend",
        exe=binary(version),
        core_file=core(version, "panic"),
    )
    assert "RAISED UnreadableMemory" in res.stdout


def test_gdb_expressions_as_addresses(version: str) -> None:
    """In gdb an address argument may be an expression: the crashing thread's $rsp lies in a
    stack span (the signal or goroutine stack the runtime allocated from the heap)."""
    res = gdb_batch("gomem span $rsp", exe=binary(version), core_file=core(version, "panic"))
    assert "manual, stack" in res.stdout, res.stdout + res.stderr
