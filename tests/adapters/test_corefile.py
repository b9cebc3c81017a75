"""The ELF core reader agrees with gdb's core reader: threads, registers, memory bytes."""

from __future__ import annotations

import pytest

from gdb_gomem.adapters.corefile import CoreFile, CoreMemory, open_core
from gdb_gomem.symbols.binary import GoBinary
from gdb_gomem.target.process import load_tables
from tests.support import SCENARIOS, binary, core, gdb_batch

pytestmark = pytest.mark.gdb

_GDB_DUMP = """python
import gdb
inf = gdb.selected_inferior()
for t in sorted(inf.threads(), key=lambda t: t.num):
    t.switch()
    f = gdb.newest_frame()
    print("THREAD %d %d %d" % (t.ptid[1], int(f.read_register("rip")), int(f.read_register("rsp"))))
    sal = f.find_sal()
    print("FRAME %d %s %s" % (t.ptid[1], f.name(), sal.line))
for a, n in REGIONS:
    print("MEM %d %s" % (a, inf.read_memory(a, n).tobytes().hex()))
end"""


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_core_threads_and_memory_match_gdb(version: str, scenario: str) -> None:
    exe, cf = binary(version), core(version, scenario)
    b = GoBinary(exe)
    dw = load_tables(b)
    # Regions: writable runtime data (from the core) and read-only pclntab (from the binary).
    regions = [
        (dw.globals["runtime.mheap_"].addr, 256),
        (dw.globals["runtime.memstats"].addr, 128),
        (b.sections[".gopclntab"].addr, 64),
        (b.sections[".rodata"].addr + 4096, 64),
    ]
    res = gdb_batch(_GDB_DUMP.replace("REGIONS", repr(regions)), exe=exe, core_file=cf)
    threads = []
    frames = {}
    mem = {}
    for ln in res.stdout.splitlines():
        parts = ln.split()
        if parts[:1] == ["THREAD"]:
            threads.append(tuple(int(x) for x in parts[1:]))
        elif parts[:1] == ["FRAME"]:
            frames[int(parts[1])] = (parts[2], int(parts[3]))
        elif parts[:1] == ["MEM"]:
            mem[int(parts[1])] = bytes.fromhex(parts[2])
    assert threads, res.stderr
    c = CoreFile(cf)
    ours = [(t.lwp, t.regs["rip"], t.regs["rsp"]) for t in c.threads]
    assert ours == threads
    m = CoreMemory(c, b)
    for addr, n in regions:
        assert m.read(addr, n) == mem[addr]
    # Function and line at each thread's PC: our pclntab against gdb's DWARF line table.
    proc = open_core(exe, cf)
    for t in c.threads:
        where = proc.describe_pc(t.regs["rip"])
        assert where is not None
        assert (where["func"], where["line"]) == frames[t.lwp]
