"""Corrupt heap structures end a walk with a reported error line: no hang, no traceback.

Each test patches a copy of a real fixture core (a few bytes of one runtime structure, found
through gdb-gomem's DWARF layer) and runs the command through the CLI's ``main`` with a time
budget. Oldest and newest Go only: the walkers share one code path across versions, and the
field widths that differ (``nelems`` uintptr in 1.21, uint16 later) are covered by both.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.runtime.mcentral import walk_mcentral
from gdb_gomem.runtime.spanlists import all_span_lists
from gdb_gomem.runtime.spans import walk_spans
from tests.support import binary, core, patched_core, run_json_on

#: Every command here must finish well within this on a corrupt core.
BUDGET_S = 20.0


def _timed(version: str, cf: Path, *args: str) -> dict:
    t = time.monotonic()
    d = run_json_on(version, cf, *args)
    assert time.monotonic() - t < BUDGET_S, args
    return d


def test_span_list_that_loops(edge_version: str, tmp_path: Path) -> None:
    """A stack-pool span whose ``next`` points to itself: a cycle error, not a hang."""
    v = edge_version
    proc = open_core(binary(v), core(v, "panic"))
    lst = next(x for x in all_span_lists(proc) if x.spans)
    s = lst.spans[0]
    next_addr = s.addr + proc.dw.offset("runtime.mspan", "next")
    cf = patched_core(core(v, "panic"), tmp_path / "c", {next_addr: struct.pack("<Q", s.addr)})
    d = _timed(v, cf, "spanlists")
    bad = next(x for x in d["lists"] if x["name"] == lst.name)
    assert "cycle" in bad["error"] and bad["count"] == 1
    assert any(lst.name in e and "cycle" in e for e in d["errors"])
    # The heap summary does not depend on that list and still works.
    assert _timed(v, cf, "mheap")["spans"]["in_use"]["spans"] > 0


@pytest.mark.parametrize("cap_too", [False, True])
def test_allspans_with_absurd_length(edge_version: str, cap_too: bool, tmp_path: Path) -> None:
    """``mheap_.allspans`` with a length of 2^40: bounded, reported, the rest still decoded."""
    v = edge_version
    proc = open_core(binary(v), core(v, "panic"))
    hdr = proc.global_("runtime.mheap_")["allspans"]
    patches = {hdr["len"].addr: struct.pack("<Q", 1 << 40)}
    if cap_too:
        patches[hdr["cap"].addr] = struct.pack("<Q", 1 << 40)
    cf = patched_core(core(v, "panic"), tmp_path / "c", patches)
    d = _timed(v, cf, "mheap")
    assert d["errors"], d
    text = " ".join(d["errors"])
    assert ("more than the bound" in text) if cap_too else ("corrupt" in text)
    assert d["spans"]["in_use"]["spans"] > 0  # the real entries were still read
    s = _timed(v, cf, "spans", "--limit", "1")
    assert s["errors"] and s["shown"] == 1


def test_span_with_impossible_nelems(edge_version: str, tmp_path: Path) -> None:
    """A small-object span claiming more objects than fit: flagged corrupt, not read past."""
    v = edge_version
    proc = open_core(binary(v), core(v, "panic"))
    s = next(x for x in walk_spans(proc).in_use() if x.sizeclass and x.npages == 1)
    f = proc.dw.field("runtime.mspan", "nelems")
    width = proc.dw.resolve(f.type).size
    huge = (1 << min(8 * width, 40)) - 1  # 0xffff as uint16 (1.22+), 2^40-1 as uintptr (1.21)
    cf = patched_core(
        core(v, "panic"), tmp_path / "c", {s.addr + f.offset: huge.to_bytes(width, "little")}
    )
    d = _timed(v, cf, "spans", "--state", "all", "--limit", "0")
    bad = next(x for x in d["spans"] if x["mspan"] == hex(s.addr))
    assert bad["error"] and "does not fit" in bad["error"]
    assert bad["allocated"] is None
    assert any(hex(s.addr) in e for e in d["errors"])
    m = _timed(v, cf, "mheap")
    assert any("does not fit" in e for e in m["errors"])


def test_spanset_with_absurd_index(edge_version: str, tmp_path: Path) -> None:
    """A spanSet whose head/tail claim 4 billion entries: an error line, homes reported."""
    v = edge_version
    proc = open_core(binary(v), core(v, "panic"))
    cw = walk_mcentral(proc)
    cls = next(c for c in cw.classes if c.sets["partial_swept"].spans)
    ss = cls.sets["partial_swept"]
    idx = ss.addr + proc.dw.offset("runtime.spanSet", "index")
    cf = patched_core(core(v, "panic"), tmp_path / "c", {idx: struct.pack("<Q", 0xFFFFFFFF)})
    d = _timed(v, cf, "mcentral")
    assert any("more than" in e and f"central[{cls.spanclass}]" in e for e in d["errors"])
    # Its spans are now in no set: the homes check says so instead of failing.
    assert d["check"]["violations"]


def test_unreadable_bitmaps_and_arena_map(edge_version: str, tmp_path: Path) -> None:
    """allocBits pointing nowhere, and a heapArena.spans entry pointing nowhere."""
    v = edge_version
    proc = open_core(binary(v), core(v, "panic"))
    s = next(x for x in walk_spans(proc).in_use() if x.sizeclass)
    ab = s.addr + proc.dw.offset("runtime.mspan", "allocBits")
    # The arena map entry of that span's first page.
    from gdb_gomem.runtime.geometry import span_of

    look = span_of(proc, s.base)
    assert look.heap_arena and look.span_ptr == s.addr
    geo_pages = proc.dw.constant("runtime.pagesPerArena")
    slot = (s.base // proc.dw.constant("runtime.pageSize")) % geo_pages
    entry = look.heap_arena + proc.dw.offset("runtime.heapArena", "spans") + 8 * slot
    wild = struct.pack("<Q", 0xDEAD0000)
    cf = patched_core(core(v, "panic"), tmp_path / "c", {ab: wild, entry: wild})
    d = _timed(v, cf, "spans", "--limit", "0")
    bad = next(x for x in d["spans"] if x["mspan"] == hex(s.addr))
    assert "unreadable" in bad["error"]
    one = _timed(v, cf, "span", hex(s.base))
    assert one["span"] is None and any("unreadable" in n for n in one["notes"])
