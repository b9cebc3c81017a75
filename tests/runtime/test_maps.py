"""Map iteration (classic buckets 1.21-1.23, Swiss tables 1.24+) against the fixture's manifest.

``main.cache`` is a ``map[string]*Entry`` the program filled with ``cache[key] = &Entry{Key:
key, ...}``; ``main.raceMap`` a ``map[int]int``. The manifest records ``len`` of both, so the
iteration must yield exactly that many distinct entries, and every value's ``Key`` field must
equal the key it is stored under (the program's own invariant).
"""

from __future__ import annotations

import functools

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.runtime.gomaps import map_entries, map_header, map_kind, map_len
from tests.support import SCENARIOS, binary, core, manifest


@functools.lru_cache(maxsize=8)
def proc(version: str, scenario: str = "panic"):
    return open_core(binary(version), core(version, scenario))


def test_cache_map_entries_match_manifest(version: str) -> None:
    p = proc(version)
    m = manifest(version, "panic")
    cache = p.global_("main.cache")
    hdr = map_header(cache)
    assert hdr is not None
    expect_kind = "classic" if tuple(map(int, version.split(".")[:2])) < (1, 24) else "swiss"
    assert map_kind(hdr.type) == expect_kind
    assert map_len(hdr) == m["globals"]["main.cache"]["len"]
    seen = set()
    for k, v in map_entries(cache):
        key = k.string()
        entry = v.deref()
        assert entry is not None
        assert entry["Key"].string() == key
        assert entry["Buf"]["len"].int() == m["globals"]["main.cache"]["entry_buf_len"]
        seen.add(key)
    assert len(seen) == m["globals"]["main.cache"]["len"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_race_map_len_every_scenario(version: str, scenario: str) -> None:
    """``main.raceMap`` (map[int]int, 64 entries; written concurrently in ``mapwrite``)."""
    p = proc(version, scenario)
    m = manifest(version, scenario)
    entries = list(map_entries(p.global_("main.raceMap")))
    keys = {k.int() for k, _v in entries}
    assert len(keys) == len(entries) == m["globals"]["main.raceMap"]["len"]


def test_limit_bounds_iteration(version: str) -> None:
    assert len(list(map_entries(proc(version).global_("main.cache"), limit=7))) == 7
