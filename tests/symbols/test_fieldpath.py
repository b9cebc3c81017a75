"""Field paths inside the fixture's own types, with gdb's DWARF reader as the oracle for offsets."""

from __future__ import annotations

import pytest

from gdb_gomem.symbols.binary import GoBinary
from gdb_gomem.symbols.fieldpath import field_path
from gdb_gomem.target.process import load_tables
from tests.support import binary, gdb_batch, json_line

pytestmark = pytest.mark.gdb

_DUMP = """python
import gdb, json
out = {}
COMPOSITE = (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_ARRAY)
for n in ("main.Entry", "main.Tagged", "main.Node", "main.Resource", "main.Dropped"):
    t = gdb.lookup_type(n).strip_typedefs()
    out[n] = [[f.name, f.bitpos // 8, f.type.strip_typedefs().code in COMPOSITE,
               f.type.sizeof] for f in t.fields()]
print("FIELDS " + json.dumps(out))
end"""


def test_field_paths_match_gdb_offsets(version: str) -> None:
    exe = binary(version)
    res = gdb_batch(_DUMP, exe=exe)
    fields = json_line("FIELDS", res.stdout)
    dw = load_tables(GoBinary(exe))
    for tname, flist in fields.items():
        t = dw.type(tname)
        for name, off, is_struct, size in flist:
            got = field_path(dw, t, off)
            if is_struct:  # strings, slices, arrays, nested structs: the field comes first
                assert got.startswith(f".{name}"), (tname, name, got)
            else:
                assert got == f".{name}", (tname, name, got)
            if size > 8 and not is_struct:
                assert field_path(dw, t, off + 8).startswith(f".{name}")
        arr = dw.find(f"[4]{tname}")
        if arr is not None:  # an array of the type, if the program has one
            assert field_path(dw, arr, 2 * dw.resolve(t.id).size) == f"[2]{field_path(dw, t, 0)}"
