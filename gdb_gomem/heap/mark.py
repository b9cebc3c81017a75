"""Mark: which objects are reachable from the roots through the object graph.

A breadth-first frontier expansion in numpy (gather every edge of the frontier at once). Deep
narrow structures (a linked list of a million nodes) would cost one numpy round per node, so
while the frontier is small the expansion continues as a plain depth-first walk over the CSR
arrays, bounded in steps, then returns to the vectorised rounds.
"""

from __future__ import annotations

import numpy as np

from gdb_gomem.heap.graph import HeapGraph

#: Below this frontier size, expand with a bounded scalar walk instead of numpy rounds.
SMALL_FRONTIER = 64
#: Scalar steps per switch to the walk, before the pending set goes back to numpy.
SCALAR_BUDGET = 1 << 16


def mark(graph: HeapGraph, roots: np.ndarray, nobjects: int) -> np.ndarray:
    """``live[i]``: object ``i`` is reachable from one of ``roots`` (object indexes, -1
    skipped). A compiled depth-first walk where :mod:`.native` is available (0.3 s instead of
    2 s on 20 million objects), else :func:`mark_np`."""
    from gdb_gomem.heap import native

    fast = native.mark(graph.indptr, graph.dst, np.asarray(roots), nobjects)
    return fast if fast is not None else mark_np(graph, roots, nobjects)


def mark_np(graph: HeapGraph, roots: np.ndarray, nobjects: int) -> np.ndarray:
    """:func:`mark` as numpy rounds (and a bounded scalar walk for narrow frontiers)."""
    live = np.zeros(nobjects, dtype=bool)
    r = np.unique(roots[roots >= 0]).astype(np.int64)
    live[r] = True
    frontier = r
    indptr, dst = graph.indptr, graph.dst
    # Dedupe scratch: stamp[j] = the position of one occurrence of j among the candidates
    # (a scatter then a gather: O(n), where np.unique would sort or hash).
    stamp = np.zeros(nobjects, dtype=np.int64)
    rounds = 0
    while len(frontier) and rounds <= nobjects + 1:
        rounds += 1
        if len(frontier) < SMALL_FRONTIER:
            frontier = _scalar_walk(frontier.tolist(), indptr, dst, live)
            continue
        starts = indptr[frontier]
        counts = indptr[frontier + 1] - starts
        tot = int(counts.sum())
        if tot == 0:
            break
        pos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(tot)
        nxt = dst[pos]
        nxt = nxt[~live[nxt]].astype(np.int64)
        ar = np.arange(len(nxt), dtype=np.int64)
        stamp[nxt] = ar  # with repeats one position wins; exactly that one passes below
        nxt = nxt[stamp[nxt] == ar]
        live[nxt] = True
        frontier = nxt
    return live


def _scalar_walk(
    stack: list[int],
    indptr: np.ndarray,
    dst: np.ndarray,
    live: np.ndarray,
) -> np.ndarray:
    """Depth-first expansion for at most SCALAR_BUDGET nodes; returns what is still pending."""
    steps = 0
    while stack and steps < SCALAR_BUDGET:
        i = stack.pop()
        steps += 1
        a, b = int(indptr[i]), int(indptr[i + 1])
        if b - a > 256:
            # A wide node: hand its children to numpy in one go.
            ch = dst[a:b]
            ch = np.unique(ch[~live[ch]])
            live[ch] = True
            stack.extend(ch.tolist())
            continue
        for j in dst[a:b].tolist():
            if not live[j]:
                live[j] = True
                stack.append(j)
    return np.array(stack, dtype=np.int64)
