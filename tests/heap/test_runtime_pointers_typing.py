"""Pointers whose type only the Go source states, typed on every version (fixtures/<v>/window).

- ``fmt.ppFree`` is a ``sync.Pool`` whose ``New`` returns ``new(pp)`` (fmt/print.go); its
  ``local`` and ``victim`` words point at ``[P]poolLocal`` arrays (sync/pool.go). After
  ``getSlow`` has emptied the victim cache, ``victimSize`` is 0 while ``victim`` still points at
  the array, which stays reachable: its length then comes from the object's size.
- ``runtime.godebugEnv`` is the runtime's own ``atomic.Pointer[string]`` (runtime/runtime.go),
  whose only field is ``u UnsafePointer``: the ``T`` is in the instantiated name.

Every Go program that prints with fmt holds these, so they are a large part of what stayed
untyped in small programs.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from gdb_gomem.heap.types.infer import heap_types
from gdb_gomem.heap.types.table import HeapTypes
from tests.support import VERSIONS, fixture_process, program_manifest


@functools.lru_cache(maxsize=2)
def _typed(version: str) -> tuple[Any, HeapTypes]:
    program_manifest(version, "window", "panic")
    p = fixture_process(version, "window", "panic")
    return p, heap_types(p)


def _word(p: Any, addr: int) -> int:
    return int.from_bytes(p.mem.read(addr, 8), "little")


def _type_of(ht: HeapTypes, addr: int) -> tuple[str, int]:
    i = int(ht.objects.find_one(addr))
    assert i >= 0 and int(ht.objects.addr[i]) == addr
    return ht.table[ht.type_id[i]].name, int(ht.objects.size[i])


@pytest.mark.parametrize("version", VERSIONS)
def test_sync_pool_arrays_and_what_they_cache(version: str) -> None:
    p, ht = _typed(version)
    dw = p.dw
    pool = dw.globals["fmt.ppFree"].addr
    local_sz = dw.size("sync.poolLocal")
    seen = 0
    for arr_field, size_field in (("local", "localSize"), ("victim", "victimSize")):
        arr = _word(p, pool + dw.offset("sync.Pool", arr_field))
        n = _word(p, pool + dw.offset("sync.Pool", size_field))
        if not arr:
            continue
        seen += 1
        name, osize = _type_of(ht, arr)
        k = n or osize // local_sz
        assert name == f"[{k}]sync.poolLocal", (arr_field, n, name)
        for i in range(k):
            data = _word(p, arr + i * local_sz + 8)  # poolLocalInternal.private's data word
            if data:
                assert _type_of(ht, data)[0] == "fmt.pp"
    assert seen, "fmt.ppFree holds no array in this core"


@pytest.mark.parametrize("version", VERSIONS)
def test_runtime_atomic_pointer_types_its_pointee(version: str) -> None:
    p, ht = _typed(version)
    dw = p.dw
    if "runtime.godebugEnv" not in dw.globals:
        pytest.skip("no runtime.godebugEnv in this release")
    ptr = _word(p, dw.globals["runtime.godebugEnv"].addr)
    assert ptr, "GODEBUG's environment value is stored at start-up"
    name, _size = _type_of(ht, ptr)
    assert name == "string"
    live = np.flatnonzero(ht.objects.addr == ptr)
    assert len(live) == 1
