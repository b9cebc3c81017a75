/*
 * Whole-graph kernels for gdb-gomem that numpy cannot express: dominators (Lengauer-Tarjan
 * needs a depth-first order and path compression, both sequential) and retained sizes.
 *
 * Plain C99 over caller-owned flat arrays (no Python API): loaded with ctypes by
 * native.py, so the same shared object works in gdb's embedded Python and in the venv.
 * Every array is allocated by the caller or here with malloc and checked; nothing reads
 * past the lengths it is given.
 *
 * Graph: n objects, forward CSR (indptr[n+1] int64, dst[] int32), plus a super-root (node
 * n) with edges to roots[]. Dominators of the "simple" Lengauer-Tarjan algorithm with path
 * compression (Lengauer & Tarjan 1979, section 3), O(m log n), iterative throughout.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t i32;
typedef int64_t i64;

/* eval(v): the vertex of minimum semi on the compressed ancestor path of v. */
static i32 eval_(i32 v, i32 *ancestor, i32 *label, const i32 *semi, i32 *path) {
    if (ancestor[v] < 0)
        return v;
    i32 v0 = v;
    i64 top = 0;
    while (ancestor[ancestor[v]] >= 0) {
        path[top++] = v;
        v = ancestor[v];
    }
    while (top > 0) {
        i32 x = path[--top];
        i32 a = ancestor[x];
        if (semi[label[a]] < semi[label[x]])
            label[x] = label[a];
        ancestor[x] = ancestor[a];
    }
    return label[v0];
}

/*
 * idom_out[n]: immediate dominator of each object, n for the super-root, -1 unreachable.
 * order_out[n]: the depth-first preorder of the reached objects (super-root excluded);
 * a dominator always precedes what it dominates. Returns the number of reached objects,
 * or -1 when memory could not be allocated.
 */
i64 gomem_dominators(i64 n, const i64 *indptr, const i32 *dst, i64 nroots, const i64 *roots,
                     i32 *idom_out, i32 *order_out) {
    i64 N = n + 1;
    i64 m = indptr[n];
    i64 *rptr = calloc((size_t)N + 1, sizeof(i64));
    i32 *rsrc = malloc(((size_t)(m + nroots) + 1) * sizeof(i32));
    i32 *semi = malloc((size_t)N * sizeof(i32));
    i32 *vertex = malloc((size_t)N * sizeof(i32));
    i32 *parent = malloc((size_t)N * sizeof(i32));
    i32 *ancestor = malloc((size_t)N * sizeof(i32));
    i32 *label = malloc((size_t)N * sizeof(i32));
    i32 *bhead = malloc((size_t)N * sizeof(i32));
    i32 *bnext = malloc((size_t)N * sizeof(i32));
    i32 *stack = malloc((size_t)N * sizeof(i32));
    i64 *next = malloc((size_t)N * sizeof(i64));
    i64 reached = -1;
    if (!rptr || !rsrc || !semi || !vertex || !parent || !ancestor || !label || !bhead ||
        !bnext || !stack || !next)
        goto out;

    /* Reverse CSR: predecessors of each node, the super-root's edges included. */
    for (i64 k = 0; k < m; k++)
        rptr[dst[k] + 1]++;
    for (i64 r = 0; r < nroots; r++)
        rptr[roots[r] + 1]++;
    for (i64 v = 0; v < N; v++)
        rptr[v + 1] += rptr[v];
    {
        i64 *fill = next; /* borrowed: next[] is not needed until the DFS */
        memcpy(fill, rptr, (size_t)N * sizeof(i64));
        for (i64 v = 0; v < n; v++)
            for (i64 k = indptr[v]; k < indptr[v + 1]; k++)
                rsrc[fill[dst[k]]++] = (i32)v;
        for (i64 r = 0; r < nroots; r++)
            rsrc[fill[roots[r]]++] = (i32)n;
    }

    for (i64 v = 0; v < N; v++) {
        semi[v] = -1;
        parent[v] = -1;
        ancestor[v] = -1;
        label[v] = (i32)v;
        bhead[v] = -1;
        bnext[v] = -1;
    }

    /* Iterative depth-first search from the super-root. next[v]: next successor slot
     * (for the super-root, an index into roots[]). */
    i64 nv = 0, sp = 0;
    semi[n] = 0;
    vertex[nv++] = (i32)n;
    stack[sp++] = (i32)n;
    next[n] = 0;
    while (sp > 0) {
        i32 v = stack[sp - 1];
        i32 w = -1;
        if (v == n) {
            if (next[v] < nroots)
                w = (i32)roots[next[v]++];
        } else if (next[v] < indptr[v + 1]) {
            w = dst[next[v]++];
        }
        if (w < 0) {
            sp--;
            continue;
        }
        if (semi[w] == -1) {
            parent[w] = v;
            semi[w] = (i32)nv;
            vertex[nv++] = w;
            next[w] = indptr[w];
            stack[sp++] = w;
        }
    }
    i32 *idom = stack; /* the DFS stack is free now: idom over all N nodes */
    i32 *path = (i32 *)next; /* compression path, at most N entries (fits in next[]) */
    for (i64 v = 0; v < N; v++)
        idom[v] = -1;

    for (i64 i = nv - 1; i > 0; i--) {
        i32 w = vertex[i];
        i32 sw = semi[w];
        for (i64 k = rptr[w]; k < rptr[w + 1]; k++) {
            i32 v = rsrc[k];
            if (semi[v] == -1)
                continue; /* predecessor not reached from the super-root */
            i32 u = eval_(v, ancestor, label, semi, path);
            if (semi[u] < sw)
                sw = semi[u];
        }
        semi[w] = sw;
        i32 sv = vertex[sw];
        bnext[w] = bhead[sv];
        bhead[sv] = w;
        i32 p = parent[w];
        ancestor[w] = p;
        for (i32 v = bhead[p]; v != -1; v = bnext[v]) {
            i32 u = eval_(v, ancestor, label, semi, path);
            idom[v] = semi[u] < semi[v] ? u : p;
        }
        bhead[p] = -1;
    }
    for (i64 i = 1; i < nv; i++) {
        i32 w = vertex[i];
        if (idom[w] != vertex[semi[w]])
            idom[w] = idom[idom[w]];
    }
    for (i64 v = 0; v < n; v++)
        idom_out[v] = idom[v];
    for (i64 i = 1; i < nv; i++)
        order_out[i - 1] = vertex[i];
    reached = nv - 1;
out:
    free(rptr);
    free(rsrc);
    free(semi);
    free(vertex);
    free(parent);
    free(ancestor);
    free(label);
    free(bhead);
    free(bnext);
    free(stack);
    free(next);
    return reached;
}

/* retained[v] = size[v] + retained of the objects v immediately dominates: one pass over
 * the preorder backwards (a dominator precedes what it dominates). */
void gomem_retained(i64 n, const i32 *idom, const i32 *order, i64 nreach, i64 *retained) {
    for (i64 i = nreach - 1; i >= 0; i--) {
        i32 v = order[i];
        i32 d = idom[v];
        if (d >= 0 && d < n)
            retained[d] += retained[v];
    }
}

/* top[v]: the object right below the super-root on v's dominator chain (the root-held
 * object that retains v), -1 for unreachable objects; preorder fills a dominator first. */
void gomem_top(i64 n, const i32 *idom, const i32 *order, i64 nreach, i32 *top) {
    for (i64 v = 0; v < n; v++)
        top[v] = -1;
    for (i64 i = 0; i < nreach; i++) {
        i32 v = order[i];
        i32 d = idom[v];
        top[v] = (d == n || d < 0) ? v : top[d];
    }
}
