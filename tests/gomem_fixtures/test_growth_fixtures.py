"""The committed growth fixtures (three cores of one run, for heap snapshots and `gomem diff`).

Reads the manifest the program wrote and the harness facts scripts/make_fixtures added, then
restores the three cores and reads a few objects straight from their PT_LOAD segments (a
dozen lines of ELF here, not gomem's reader): every listed object holds its type's magic and
its ID in the core of each marker it was alive at. No gdb; a few seconds on first restore.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gomem_fixtures import store
from gomem_fixtures.build import core_notes
from tests.support import VERSIONS, fixture_file, need_fixtures

PROGRAM = "growth"
SCENARIO = "markers"
TYPES = ("main.Item", "main.Upload", "upload_data")
SIZES = {"main.Item": 64, "main.Upload": 48, "upload_data": 4096}
NAMES = ("base", "grow", "churn")
# Live objects at each marker, by the program's plan (its main.go header).
COUNTS = [
    {"main.Item": 3000, "main.Upload": 0, "upload_data": 0},
    {"main.Item": 3200, "main.Upload": 400, "upload_data": 400},
    {"main.Item": 3100, "main.Upload": 350, "upload_data": 350},
]
# Objects allocated and shed in the phase leading to marker 2 and marker 3.
NEW = [
    {"main.Item": 1200, "main.Upload": 400, "upload_data": 400},
    {"main.Item": 500, "main.Upload": 100, "upload_data": 100},
]
FREED = [
    {"main.Item": 1000, "main.Upload": 0, "upload_data": 0},
    {"main.Item": 600, "main.Upload": 150, "upload_data": 150},
]
LISTS = ("new", "freed", "kept", "reused")
LIST_CAP = 100  # per type and list


def growth_manifest(version: str) -> dict[str, Any]:
    need_fixtures()
    if not store.has_fixture(version, PROGRAM):
        pytest.fail(f"no fixtures/{version}/{PROGRAM} (scripts/make_fixtures --programs growth)")
    return store.manifest(version, PROGRAM, SCENARIO)


def core_reader(path: Path) -> Callable[[int, int], bytes | None]:
    """read(addr, size) from the PT_LOAD segments of an x86-64 ELF core (None: not dumped)."""
    with open(path, "rb") as f:
        ehdr = f.read(64)
        assert ehdr[:4] == b"\x7fELF" and struct.unpack_from("<H", ehdr, 16)[0] == 4  # ET_CORE
        phoff = struct.unpack_from("<Q", ehdr, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and filesz:
            loads.append((vaddr, offset, filesz))

    def read(addr: int, size: int) -> bytes | None:
        for vaddr, offset, filesz in loads:
            if vaddr <= addr and addr + size <= vaddr + filesz:
                with open(path, "rb") as f:
                    f.seek(offset + addr - vaddr)
                    return f.read(size)
        return None

    return read


def test_growth_exists_for_every_version() -> None:
    need_fixtures()
    missing = [
        v for v in VERSIONS if store.has_fixture(v, "leaky") and not store.has_fixture(v, PROGRAM)
    ]
    assert not missing
    assert store.core_names(PROGRAM, SCENARIO) == ("m1.core", "m2.core", "m3.core")
    assert store.PROGRAM_SCENARIOS[PROGRAM] == (SCENARIO,)


def test_markers(version: str) -> None:
    m = growth_manifest(version)
    assert (m["schema"], m["program"], m["scenario"]) == (1, PROGRAM, SCENARIO)
    assert m["go_version"] == f"go{version}" and m["gc_percent"] == -1
    assert m["godebug"] == m["harness"]["env"]["GODEBUG"] == store.run_env(PROGRAM)["GODEBUG"]
    assert "memprofilerate=1" in m["godebug"]
    assert {t: m["types"][t]["size"] for t in TYPES} == SIZES
    markers = m["markers"]
    assert [k["n"] for k in markers] == [1, 2, 3]
    assert [k["name"] for k in markers] == list(NAMES)
    assert [k["counts"] for k in markers] == COUNTS
    assert all(k["sizes"] == SIZES for k in markers)
    # GC off from the start: the program's own runtime.GC(), once per phase, and nothing else.
    assert [k["num_gc"] for k in markers] == [1, 2, 3]
    assert m["memstats_final"]["NumGC"] == 3
    prev = 0
    for k in markers:
        assert prev < k["alloc_t_before_unix_ns"] <= k["alloc_t_after_unix_ns"] <= k["unix_ns"]
        assert prev < k["last_gc_unix_ns"] <= k["gc_unix_ns"] <= k["unix_ns"]
        if k["n"] == 1:  # allocate, then GC
            assert k["alloc_t_after_unix_ns"] <= k["last_gc_unix_ns"]
        else:  # shed, GC, then allocate: every new object is younger than the last GC
            assert k["gc_unix_ns"] <= k["alloc_t_before_unix_ns"]
        prev = k["unix_ns"]
    assert m["manifest_unix_ns"] >= prev


def test_transitions_add_up(version: str) -> None:
    m = growth_manifest(version)
    transitions = m["transitions"]
    assert [(t["from"], t["to"]) for t in transitions] == [(1, 2), (2, 3)]
    for i, t in enumerate(transitions):
        before, after = COUNTS[i], COUNTS[i + 1]
        tot = t["totals"]
        assert tot["new"] == NEW[i] and tot["freed"] == FREED[i]
        for typ in TYPES:
            assert t["counts_delta"][typ] == after[typ] - before[typ]
            assert tot["new"][typ] - tot["freed"][typ] == t["counts_delta"][typ]
            assert tot["kept"][typ] + tot["freed"][typ] == before[typ]
            assert tot["kept"][typ] + tot["new"][typ] == after[typ]
            assert tot["reused"][typ] <= tot["new"][typ]
        # Every shed Item of grow left a swept slot that a new Item of the same class took.
        assert sum(tot["reused"].values()) > 0


def test_listed_objects_are_distinct(version: str) -> None:
    m = growth_manifest(version)
    for t in m["transitions"]:
        addrs: dict[str, set[int]] = {}
        for kind in LISTS:
            listed = t[kind]
            got = [int(e["addr"], 16) for e in listed]
            assert all(a > 0 and a % 16 == 0 for a in got), kind
            assert len(set(got)) == len(got), kind
            for typ in TYPES:
                ids = [e["id"] for e in listed if e["type"] == typ]
                assert len(ids) == min(t["totals"][kind][typ], LIST_CAP), (kind, typ)
                assert len(set(ids)) == len(ids) and all(i > 0 for i in ids)
            addrs[kind] = set(got)
        assert not addrs["kept"] & (addrs["new"] | addrs["freed"] | addrs["reused"])
        # A listed address both new and freed is a reused one.
        assert addrs["new"] & addrs["freed"] <= addrs["reused"]
        for e in t["reused"]:
            assert e["freed_type"] in TYPES
            assert (e["type"], e["id"]) != (e["freed_type"], e["freed_id"])
        ids = {kind: {(e["type"], e["id"]) for e in t[kind]} for kind in LISTS}
        assert not ids["new"] & (ids["kept"] | ids["freed"])
        assert not ids["kept"] & ids["freed"]


def test_heap_profile_saw_each_gc(version: str) -> None:
    """runtime.MemProfile as the marker's GC published it: in use = what that GC kept alive."""
    m = growth_manifest(version)
    expected = [COUNTS[0], *(t["totals"]["kept"] for t in m["transitions"])]
    for k, live in zip(m["markers"], expected, strict=True):
        prof = k["heap_profile"]
        assert {t: prof[t]["alloc_objects"] - prof[t]["free_objects"] for t in TYPES} == live
        for typ in TYPES:
            assert prof[typ]["alloc_bytes"] == prof[typ]["alloc_objects"] * SIZES[typ]


def test_harness_stopped_at_each_marker(version: str) -> None:
    m = growth_manifest(version)
    h = m["harness"]
    assert h["exit_code"] == 0
    assert h["coredump_filter"] == f"{store.MARKER_COREDUMP_FILTER:#x}"
    assert [s["manifest_markers"] for s in h["stops"]] == [[1], [1, 2], [1, 2, 3]]
    assert [s["core"] for s in h["stops"]] == list(store.core_names(PROGRAM, SCENARIO))
    assert all(s["frames"][-1] == store.MARKER_FUNCTION for s in h["stops"])
    assert list(h["cores"]) == list(store.core_names(PROGRAM, SCENARIO))
    log = fixture_file(version, PROGRAM, f"{SCENARIO}.gdb.log").read_text()
    assert "exited normally" in log


def test_cores_restore_and_hold_the_listed_objects(version: str) -> None:
    m = growth_manifest(version)
    binary = fixture_file(version, PROGRAM, PROGRAM)
    assert binary.read_bytes()[:4] == b"\x7fELF"
    readers = []
    for name in store.core_names(PROGRAM, SCENARIO):
        core = fixture_file(version, PROGRAM, name)
        assert core.parent != store.FIXTURES / version / PROGRAM  # restored into the cache
        notes = core_notes(core)
        assert notes.threads == m["harness"]["cores"][name]["threads"] >= 1
        readers.append(core_reader(core))
    magic = {t: int(m["types"][t]["magic"], 16) for t in TYPES}

    def holds(read: Callable[[int, int], bytes | None], addr: str, typ: str, oid: int) -> bool:
        head = read(int(addr, 16), 16)
        return head is not None and struct.unpack("<Qq", head) == (magic[typ], oid)

    for t in m["transitions"]:
        early, late = readers[t["from"] - 1], readers[t["to"] - 1]
        for e in itertools.chain(t["freed"], t["kept"]):
            assert holds(early, e["addr"], e["type"], e["id"]), (t["from"], e)
        for e in itertools.chain(t["new"], t["kept"], t["reused"]):
            assert holds(late, e["addr"], e["type"], e["id"]), (t["to"], e)
        for e in t["reused"]:  # the freed object's bytes were there before
            assert holds(early, e["addr"], e["freed_type"], e["freed_id"]), (t["from"], e)
