"""Graph algorithms against their definitions, on random graphs (brute force is the oracle).

- v's dominators are the nodes whose removal makes v unreachable from the super-root;
- the retained size of d is the total size of the nodes d dominates (itself included);
- the shortest root path has the length of a forward breadth-first search from the roots.
"""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest

from gdb_gomem.heap import native
from gdb_gomem.heap.graphalgo import (
    UNREACHABLE,
    dominator_tops,
    dominator_tops_py,
    dominators,
    dominators_py,
    retained_sizes,
    retained_sizes_py,
    shortest_root_path,
    transpose,
)

#: Both implementations are checked against the definitions: the compiled kernel (what runs
#: when a C compiler is present) and the pure-Python fallback.
IMPLS = {
    "native": (dominators, retained_sizes),
    "python": (dominators_py, retained_sizes_py),
}


@pytest.fixture(params=sorted(IMPLS))
def impl(request: pytest.FixtureRequest):
    if request.param == "native" and native.kernels() is None:
        pytest.fail(f"compiled kernels unavailable: {native.unavailable}")
    return IMPLS[request.param]


def random_graph(
    seed: int, n: int, m: int, nroots: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    roots = sorted(set(rng.integers(0, n, nroots).tolist()))
    return indptr, dst.astype(np.int64), roots


def reach(
    n: int, indptr: np.ndarray, dst: np.ndarray, roots: list[int], removed: int = -1
) -> set[int]:
    seen = {r for r in roots if r != removed}
    q = deque(seen)
    while q:
        v = q.popleft()
        for w in dst[indptr[v] : indptr[v + 1]].tolist():
            if w != removed and w not in seen:
                seen.add(w)
                q.append(w)
    return seen


@pytest.mark.parametrize("seed", range(40))
def test_dominators_match_definition(seed: int, impl) -> None:
    dominators, retained_sizes = impl
    n = 12 + seed
    indptr, dst, roots = random_graph(seed, n, int(n * (1.2 + seed % 3 * 0.5)), 1 + seed % 4)
    idom, order = dominators(n, indptr, dst, roots)
    reached = reach(n, indptr, dst, roots)
    doms = {
        v: {d for d in reached if d != v and v not in reach(n, indptr, dst, roots, d)}
        for v in reached
    }
    for v in range(n):
        if v not in reached:
            assert idom[v] == UNREACHABLE
            continue
        if not doms[v]:
            assert idom[v] == n  # only the super-root dominates it
        else:
            # The immediate dominator is the strict dominator dominated by all the others.
            imm = [d for d in doms[v] if doms[v] - {d} <= doms[d]]
            assert imm == [int(idom[v])]
    assert sorted(order.tolist()) == sorted(reached)
    size = np.arange(1, n + 1, dtype=np.int64) * 8
    ret = retained_sizes(idom, size, order)
    for d in range(n):
        owned = {d} | {v for v in reached if d in doms[v]}
        assert ret[d] == sum(int(size[v]) for v in owned)


@pytest.mark.parametrize("seed", range(25))
def test_shortest_root_path(seed: int) -> None:
    n = 30 + seed
    indptr, dst, roots = random_graph(100 + seed, n, 2 * n, 2)
    dist = {r: 0 for r in roots}
    q = deque(roots)
    while q:
        v = q.popleft()
        for w in dst[indptr[v] : indptr[v + 1]].tolist():
            if w not in dist:
                dist[w] = dist[v] + 1
                q.append(w)
    ip_in, src_in, edge_in = transpose(n, indptr, dst)
    is_root = np.zeros(n, dtype=bool)
    is_root[roots] = True
    for target in range(n):
        paths = shortest_root_path(n, ip_in, src_in, edge_in, is_root, target, max_paths=3)
        if target not in dist:
            assert paths == []
            continue
        assert paths and len(paths[0]) - 1 == dist[target]
        for p in paths:
            assert is_root[p[0][0]] and p[-1][0] == target
            for (a, _), (b, e) in itertools.pairwise(p):
                assert indptr[a] <= e < indptr[a + 1] and dst[e] == b  # a real edge a -> b
        assert len({p[0][0] for p in paths}) == len(paths)  # distinct roots


def test_deep_chain_is_iterative(impl) -> None:
    """A 200k-long linked list: no recursion limit, linear time."""
    dominators, retained_sizes = impl
    n = 200_000
    indptr = np.arange(n + 1, dtype=np.int64)
    indptr[-1] = n - 1
    dst = np.arange(1, n, dtype=np.int64)
    indptr = np.concatenate([np.arange(n, dtype=np.int64), [n - 1]])
    idom, order = dominators(n, indptr, dst, [0])
    assert idom[0] == n and idom[n - 1] == n - 2
    ret = retained_sizes(idom, np.ones(n, dtype=np.int64), order)
    assert ret[0] == n and ret[n - 1] == 1


def test_native_matches_python_on_a_large_random_graph() -> None:
    """Both implementations agree node for node on a graph too big to brute-force."""
    if native.kernels() is None:
        pytest.fail(f"compiled kernels unavailable: {native.unavailable}")
    n = 30_000
    indptr, dst, roots = random_graph(7, n, 3 * n, 20)
    a, oa = dominators(n, indptr, dst, roots)
    b, ob = dominators_py(n, indptr, dst, roots)
    assert np.array_equal(np.asarray(a, np.int64), np.asarray(b, np.int64))
    assert np.array_equal(np.asarray(oa, np.int64), np.asarray(ob, np.int64))
    size = np.arange(n, dtype=np.int64) % 97 + 16
    assert np.array_equal(retained_sizes(a, size, oa), retained_sizes_py(b, size, ob))
    assert np.array_equal(dominator_tops(a, oa), dominator_tops_py(b, ob))


def test_native_rejects_out_of_range_edges() -> None:
    """The kernel trusts nothing it is given: an edge past the last object is refused
    before any C code runs."""
    if native.kernels() is None:
        pytest.fail(f"compiled kernels unavailable: {native.unavailable}")
    indptr = np.array([0, 1, 1], dtype=np.int64)
    with pytest.raises(ValueError):
        native.dominators(2, indptr, np.array([5], dtype=np.int32), np.array([0]))
