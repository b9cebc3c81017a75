"""Runtime struct layouts from our DWARF reader agree with gdb's independent DWARF reader.

Every field of every runtime struct the walkers use, on every fixture version.
"""

from __future__ import annotations

import pytest

from gdb_gomem.symbols.binary import GoBinary
from gdb_gomem.target.process import load_tables
from tests.support import binary, gdb_batch, json_line

STRUCTS = (
    "runtime.mheap",
    "runtime.mspan",
    "runtime.mcentral",
    "runtime.spanSet",
    "runtime.mcache",
    "runtime.g",
    "runtime.m",
    "runtime.p",
    "runtime._defer",
    "runtime._panic",
    "runtime.mstats",
    "runtime.heapStatsDelta",
    "runtime.gcControllerState",
    "runtime.moduledata",
    "runtime.heapArena",
    "runtime.pageAlloc",
)

_GDB_DUMP = """python
import gdb, json
out = {}
for n in %r:
    t = gdb.lookup_type(n).strip_typedefs()
    out[n] = {"size": t.sizeof, "fields": [[f.name, f.bitpos // 8] for f in t.fields()]}
print("LAYOUTS " + json.dumps(out))
end"""


@pytest.mark.gdb
def test_struct_layouts_match_gdb(version: str) -> None:
    exe = binary(version)
    res = gdb_batch(_GDB_DUMP % (STRUCTS,), exe=exe)
    expected = json_line("LAYOUTS", res.stdout)
    dw = load_tables(GoBinary(exe))
    for name in STRUCTS:
        st = dw.resolve(dw.type(name).id)
        ours = [[f.name, f.offset] for f in st.fields]
        assert st.size == expected[name]["size"], name
        assert ours == expected[name]["fields"], name


def test_globals_and_constants(version: str) -> None:
    """Globals the walkers start from are present, and arena constants are linux/amd64's."""
    dw = load_tables(GoBinary(binary(version)))
    for g in (
        "runtime.mheap_",
        "runtime.memstats",
        "runtime.allm",
        "runtime.allp",
        "runtime.allgs",
        "runtime.gcController",
        "runtime.firstmoduledata",
        "runtime.emptymspan",
        "runtime.buildVersion",
    ):
        assert g in dw.globals, g
    # Values fixed by the Go runtime for linux/amd64 (malloc.go): 64 MiB arenas, 8 KiB pages.
    assert dw.constant("runtime.heapArenaBytes") == 64 << 20
    assert dw.constant("runtime.pageSize") == 8192
    assert dw.constant("runtime.arenaBaseOffsetUintptr") & (2**64 - 1) == 0xFFFF800000000000
