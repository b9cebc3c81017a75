"""Memory held only through a frame's aggregate locals and unnamed stack objects is typed, on
fixtures/<v>/growth (one run cored by gdb at three markers).

``main.main`` of that program keeps, across every marker, two things on its own stack only:

- ``var transitions [2]*Transition``, an array of pointers the frame's stack map lists word
  by word: each live word types its ``main.Transition`` and, through it, the ``[]record``
  lists whose lengths the manifest gives per transition;
- ``w := &jw{b: make([]byte, 0, 512<<10)}``: ``jw`` does not escape, so the compiler keeps
  it in an unnamed stack object (``autotmp``) and drops ``w`` from DWARF; the 512 KiB buffer
  holds, at each marker, exactly the manifest the program wrote just before it (ground
  truth that identifies the buffer without trusting the tool).
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import numpy as np
import pytest

from gdb_gomem.frontends import cli
from gdb_gomem.heap.roots import ROOTS
from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.reports.objects import live_mask
from gomem_fixtures import store
from tests.support import VERSIONS, fixture_process, program_manifest

MIN_TYPED_LIVE = 0.99
#: ``w := &jw{b: make([]byte, 0, 512<<10)}`` in fixtures/src/growth/main.go.
JW_CAP = 512 << 10
#: ``Transition.lists``: new, freed, kept, reused (the program's ``listNames``).
LISTS = ("new", "freed", "kept", "reused")
MARKERS = (1, 2, 3)


def _core(version: str, n: int) -> Any:
    program_manifest(version, "growth", "markers")
    return fixture_process(version, "growth", f"m{n}")


@pytest.mark.parametrize("n", MARKERS)
@pytest.mark.parametrize("version", VERSIONS)
def test_live_bytes_typed(version: str, n: int) -> None:
    """At least 99% of live bytes typed at every marker (it was 49-80% while the buffer and
    the transitions' lists were reached only through the stack)."""
    p = _core(version, n)
    ht = heap_types(p)
    live = live_mask(p, ht)
    assert live is not None
    size = ht.objects.size.astype(np.int64)
    typed = (ht.type_id >= 0) & np.array(
        [not ht.table[t].name.startswith("<unknown") for t in ht.type_id]
    )
    share = int(size[live & typed].sum()) / int(size[live].sum())
    assert share >= MIN_TYPED_LIVE, f"{share:.2%} of live bytes typed"


@pytest.mark.parametrize("n", MARKERS)
@pytest.mark.parametrize("version", VERSIONS)
def test_unnamed_stack_object_types_its_buffer(version: str, n: int) -> None:
    """The buffer whose bytes are the manifest written before marker ``n`` is a
    ``[524288]uint8``, and its path names the unnamed ``main.jw`` stack object's field."""
    p = _core(version, n)
    ht = heap_types(p)
    m = program_manifest(version, "growth", "markers")
    want = {k: v for k, v in m.items() if k not in ("harness",)}
    want["markers"] = m["markers"][:n]
    want["transitions"] = m["transitions"][: n - 1]
    found = []
    for i in np.flatnonzero(ht.objects.size == JW_CAP).tolist():
        data = p.mem.read(int(ht.objects.addr[i]), JW_CAP)
        if data.startswith(b'{"schema":1,"program":"growth"'):
            found.append((i, json.loads(data[: data.index(b"\n")])))
    assert len(found) == 1
    i, doc = found[0]
    # The buffer is the manifest as the program wrote it at that marker: the final file's
    # markers and transitions up to n (later keys written at exit are not compared).
    assert doc["markers"] == want["markers"]
    assert doc["transitions"] == want["transitions"]
    assert ht.table[ht.type_id[i]].name == f"[{JW_CAP}]uint8"
    out, err = io.StringIO(), io.StringIO()
    exe = store.fixture_file(version, "growth", "growth")
    core = store.fixture_file(version, "growth", f"m{n}.core")
    addr = hex(int(ht.objects.addr[i]))
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(["path", addr, "--json", "--binary", str(exe), "--core", str(core)])
    assert rc == 0, err.getvalue()
    root = json.loads(out.getvalue())["root"]
    assert root["kind"] == "stack" and root["goroutine"] == 1
    assert root["name"].startswith("main.main:autotmp(main.jw).b")


@pytest.mark.parametrize("n", (2, 3))
@pytest.mark.parametrize("version", VERSIONS)
def test_pointer_array_local_types_what_each_element_keeps(version: str, n: int) -> None:
    """Each live word of ``transitions`` types a ``main.Transition`` whose lists are record
    arrays as long as the manifest's samples of that transition."""
    p = _core(version, n)
    ht = heap_types(p)
    m = program_manifest(version, "growth", "markers")
    roots = ROOTS(p)
    dw = p.dw
    lists_off = dw.offset("main.Transition", "lists")
    for j, tr in enumerate(m["transitions"][: n - 1]):
        rows = [k for k in range(len(roots)) if roots.name[k] == f"main.main:transitions[{j}]"]
        assert len(rows) == 1
        t_addr = int(roots.value[rows[0]])
        k = int(ht.objects.find_one(t_addr))
        assert int(ht.objects.addr[k]) == t_addr
        assert ht.table[ht.type_id[k]].name == "main.Transition"
        for li, name in enumerate(LISTS):
            hdr = p.mem.read(t_addr + lists_off + 24 * li, 16)
            arr = int.from_bytes(hdr[:8], "little")
            ln = int.from_bytes(hdr[8:], "little")
            assert ln == len(tr[name])
            o = int(ht.objects.find_one(arr))
            got = ht.table[ht.type_id[o]].name
            assert got.startswith("[") and got.endswith("]main.record"), got
            assert int(got[1 : got.index("]")]) >= ln
