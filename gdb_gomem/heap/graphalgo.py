"""Graph algorithms on the heap's object graph, in compact arrays (CSR), no gdb, no process.

The heap graph is ``n`` objects with edges ``src -> dst`` stored as CSR (``indptr`` of length
n+1, ``dst``); roots are a set of object indices reachable from a virtual super-root (node n).

- :func:`shortest_root_path`: breadth-first search *backwards* from one object over incoming
  edges until an object held by a root is met. It visits only the object's ancestors, so a path
  query stays fast on a 20-million-object heap and is not slowed by long linked lists (a
  forward, level-synchronous search would need one step per list element).
- :func:`dominators`: from the super-root, ``idom[v]`` is the closest object every root path
  to ``v`` passes through (``n`` = only the super-root, i.e. held by several roots; ``-1`` =
  unreachable). The compiled kernel is semi-NCA (Lengauer-Tarjan's semidominators, then
  nearest common ancestors, less memory); the Python fallback is Lengauer-Tarjan with path
  compression. Both iterative, no recursion; dominators are unique, so they agree.
- :func:`retained_sizes`: the size of each dominator subtree (Eclipse MAT's retained size).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Sequence

import numpy as np

UNREACHABLE = -1


def transpose(
    n: int, indptr: np.ndarray, dst: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Incoming edges: (indptr_in, src_in, edge_id) where edge_id indexes the forward ``dst``."""
    dst = np.asarray(dst, dtype=np.int64)
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    order = np.argsort(dst, kind="stable")
    counts = np.bincount(dst, minlength=n)
    indptr_in = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr_in[1:])
    return indptr_in, src[order], order


def shortest_root_path(
    n: int,
    indptr_in: np.ndarray,
    src_in: np.ndarray,
    edge_in: np.ndarray | None,
    is_root: np.ndarray,
    target: int,
    *,
    max_paths: int = 1,
    max_visits: int = 50_000_000,
) -> list[list[tuple[int, int]]]:
    """Shortest chains from root-held objects to ``target``.

    Returns up to ``max_paths`` paths, each a list of ``(object, edge)`` from the root-held
    object down to ``target``; ``edge`` is ``edge_in``'s value for the edge used to reach that
    object (-1 for the first, and everywhere without ``edge_in``). Paths for distinct
    root-held objects, shortest first. Bounded by ``max_visits``.
    """
    parent = {target: (-1, -1)}  # object -> (child it leads to, edge id child<-object)
    paths: list[list[tuple[int, int]]] = []
    q: deque[int] = deque([target])
    visits = 0
    while q and len(paths) < max_paths and visits < max_visits:
        v = q.popleft()
        visits += 1
        if is_root[v]:
            # parent[x] = (next object towards the target, edge x -> next)
            chain = [(v, -1)]
            cur = v
            while True:
                nxt, e = parent[cur]
                if nxt == -1:
                    break
                chain.append((nxt, e))
                cur = nxt
            paths.append(chain)
            continue
        lo, hi = int(indptr_in[v]), int(indptr_in[v + 1])
        for k in range(lo, hi):
            u = int(src_in[k])
            if u not in parent:
                parent[u] = (v, int(edge_in[k]) if edge_in is not None else -1)
                q.append(u)
    return paths


def dominators(
    n: int, indptr: np.ndarray, dst: np.ndarray, roots: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Immediate dominators from a super-root (index ``n``) with edges to every root object.

    Returns ``(idom, order)`` as :func:`dominators_py` defines them. The compiled kernel
    (:mod:`.native`, the same algorithm in C: 20 million objects in seconds, not minutes)
    runs when it is available, this module's Python otherwise.
    """
    from gdb_gomem.heap import native

    root_arr = np.unique(np.asarray(roots, dtype=np.int64))
    fast = native.dominators(n, indptr, dst, root_arr)
    if fast is not None:
        return fast
    return dominators_py(n, indptr, dst, root_arr)


def dominators_py(
    n: int, indptr: np.ndarray, dst: np.ndarray, roots: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Immediate dominators from a super-root (index ``n``) with edges to every root object.

    Returns ``(idom, order)``: ``idom`` (int64, length n) is the immediate dominator object,
    ``n`` when it is the super-root, ``-1`` when unreachable; ``order`` is the DFS preorder of
    the reached objects (a dominator always comes before the objects it dominates).
    Lengauer-Tarjan, "simple" version with path compression, O(E log V); iterative throughout,
    flat integer arrays (no per-node Python lists) so that 20 million objects fit in memory.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    root_arr = np.unique(np.asarray(roots, dtype=np.int64))
    N = n + 1
    # Forward CSR including the super-root's edges to the roots.
    f_ptr = array("q", np.concatenate([indptr, [indptr[-1] + len(root_arr)]]).tolist())
    f_dst = array("q", np.concatenate([dst, root_arr]).tolist())
    # Reverse CSR (predecessors), the super-root included.
    src_all = np.concatenate(
        [
            np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr)),
            np.full(len(root_arr), n, dtype=np.int64),
        ]
    )
    dst_all = np.concatenate([dst, root_arr])
    order_e = np.argsort(dst_all, kind="stable")
    r_ptr_np = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst_all, minlength=N), out=r_ptr_np[1:])
    r_ptr = array("q", r_ptr_np.tolist())
    r_src = array("q", src_all[order_e].tolist())
    del src_all, dst_all, order_e, r_ptr_np

    semi = array("q", [-1]) * N
    parent = array("q", [-1]) * N
    vertex = array("q")
    # Iterative DFS from the super-root; next_edge[v] is the next successor slot to try.
    next_edge = array("q", f_ptr)
    semi[n] = 0
    vertex.append(n)
    stack = array("q", [n])
    while stack:
        v = stack[-1]
        k = next_edge[v]
        if k < f_ptr[v + 1]:
            next_edge[v] = k + 1
            w = f_dst[k]
            if semi[w] == -1:
                parent[w] = v
                semi[w] = len(vertex)
                vertex.append(w)
                stack.append(w)
        else:
            stack.pop()
    del next_edge, stack
    reached = len(vertex)
    ancestor = array("q", [-1]) * N
    label = array("q", range(N))
    idom = array("q", [-1]) * N
    # Buckets as singly linked lists: head per vertex, next per member.
    b_head = array("q", [-1]) * N
    b_next = array("q", [-1]) * N
    path = array("q")

    def evaluate(v: int) -> int:
        if ancestor[v] == -1:
            return v
        # Path compression along ancestor links, iteratively.
        del path[:]
        while ancestor[ancestor[v]] != -1:
            path.append(v)
            v = ancestor[v]
        for x in reversed(path):
            a = ancestor[x]
            if semi[label[a]] < semi[label[x]]:
                label[x] = label[a]
            ancestor[x] = ancestor[a]
        return label[path[0]] if path else label[v]

    for i in range(reached - 1, 0, -1):
        w = vertex[i]
        sw = semi[w]
        for k in range(r_ptr[w], r_ptr[w + 1]):
            v = r_src[k]
            if semi[v] == -1:
                continue  # predecessor not reached from the super-root
            u = evaluate(v)
            if semi[u] < sw:
                sw = semi[u]
        semi[w] = sw
        sv = vertex[sw]
        b_next[w] = b_head[sv]
        b_head[sv] = w
        p = parent[w]
        ancestor[w] = p
        v = b_head[p]
        while v != -1:
            u = evaluate(v)
            idom[v] = u if semi[u] < semi[v] else p
            v = b_next[v]
        b_head[p] = -1
    for i in range(1, reached):
        w = vertex[i]
        if idom[w] != vertex[semi[w]]:
            idom[w] = idom[idom[w]]
    out = np.frombuffer(idom, dtype=np.int64)[:n].copy()
    reached_mask = np.zeros(N, dtype=bool)
    order = np.frombuffer(vertex, dtype=np.int64)[1:].copy()
    reached_mask[order] = True
    out[~reached_mask[:n]] = UNREACHABLE
    return out, order


def retained_sizes(idom: np.ndarray, size: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Retained size of every object (:func:`retained_sizes_py`), in C when available."""
    from gdb_gomem.heap import native

    fast = native.retained_sizes(idom, size, order)
    return fast if fast is not None else retained_sizes_py(idom, size, order)


def retained_sizes_py(idom: np.ndarray, size: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Retained size of every object: its own size plus its dominator subtree's.

    ``order`` is the DFS preorder from :func:`dominators`: an object's dominator precedes it,
    so one pass in reverse preorder folds every subtree into its root. Unreachable objects
    retain only themselves.
    """
    n = len(idom)
    retained = array("q", np.asarray(size, dtype=np.int64).tolist())
    idom_a = array("q", np.asarray(idom, dtype=np.int64).tolist())
    for v in reversed(order.tolist()):
        d = idom_a[v]
        if 0 <= d < n:
            retained[d] += retained[v]
    return np.frombuffer(retained, dtype=np.int64).copy()


def dominator_tops(idom: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per object, the root-held object (child of the super-root) whose dominator subtree
    holds it, -1 when unreachable; in C when available."""
    from gdb_gomem.heap import native

    fast = native.dominator_tops(idom, order)
    return fast if fast is not None else dominator_tops_py(idom, order)


def dominator_tops_py(idom: np.ndarray, order: np.ndarray) -> np.ndarray:
    """:func:`dominator_tops` in Python: preorder visits a dominator before what it
    dominates, so each object copies its dominator's answer."""
    n = len(idom)
    idom_l = np.asarray(idom, dtype=np.int64).tolist()
    top_l = [-1] * n
    for v in np.asarray(order, dtype=np.int64).tolist():
        d = idom_l[v]
        top_l[v] = v if d == n or d < 0 else top_l[d]
    return np.asarray(top_l, dtype=np.int64)
