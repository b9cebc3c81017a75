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
 * n) with edges to roots[]. Dominators by semi-NCA: the semidominators of the "simple"
 * Lengauer-Tarjan algorithm with path compression (Lengauer & Tarjan 1979, section 3),
 * then nearest common ancestors; iterative throughout.
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
 * Reverse CSR over N nodes into rptr[N + 1] and rsrc[]: the sources of each node's incoming
 * edges, in increasing order (a stable sort by target). Edges of nodes 0..n-1 come from
 * indptr/dst (targets outside [0, n) skipped), then nroots edges from node n to roots[]
 * (the dominators' super-root; N = n + 1 then). Filled backwards from each node's end, so
 * no cursor array: each rptr[d + 1] ends at d's start, then all shift back by one.
 */
static void reverse_csr(i64 n, i64 N, const i64 *indptr, const i32 *dst, i64 nroots,
                        const i64 *roots, i64 *rptr, i32 *rsrc) {
    i64 m = indptr[n];
    memset(rptr, 0, (size_t)(N + 1) * sizeof(i64));
    for (i64 k = 0; k < m; k++)
        if (dst[k] >= 0 && dst[k] < n)
            rptr[dst[k] + 1]++;
    for (i64 r = 0; r < nroots; r++)
        rptr[roots[r] + 1]++;
    for (i64 v = 0; v < N; v++)
        rptr[v + 1] += rptr[v];
    i64 total = rptr[N];
    for (i64 r = nroots - 1; r >= 0; r--)
        rsrc[--rptr[roots[r] + 1]] = (i32)n;
    for (i64 v = n - 1; v >= 0; v--)
        for (i64 k = indptr[v + 1] - 1; k >= indptr[v]; k--)
            if (dst[k] >= 0 && dst[k] < n)
                rsrc[--rptr[dst[k] + 1]] = (i32)v;
    if (N > 0)
        memmove(rptr, rptr + 1, (size_t)N * sizeof(i64));
    rptr[N] = total;
}

/*
 * idom_out[n + 1]: immediate dominator of each object, n for the super-root, -1
 * unreachable (idom_out[n], the super-root's own, is -1). order_out[n + 1]: the super-root,
 * then the depth-first preorder of the reached objects; a dominator always precedes what
 * it dominates. Returns the number of reached objects, or -1 when memory could not be
 * allocated.
 *
 * Semi-NCA (Georgiadis 2005; Georgiadis, Tarjan & Werneck 2006): semidominators exactly as
 * in Lengauer-Tarjan, then each vertex in preorder takes as immediate dominator the nearest
 * dominator-tree ancestor of its DFS parent numbered no higher than its semidominator. No
 * buckets; the outputs double as the preorder (vertex) and the link forest (ancestor),
 * and label becomes the preorder numbers: five N-sized arrays besides the outputs and the
 * reverse graph. The DFS keeps each vertex's edge cursor on its stack frame, and the
 * compression path is a separate array: both are malloc'd at full size but only touched as
 * deep as the search and the compressed paths go.
 */
typedef struct {
    i32 v;
    i64 k; /* next successor slot (for the super-root, an index into roots[]) */
} dfs_frame;

i64 gomem_dominators(i64 n, const i64 *indptr, const i32 *dst, i64 nroots, const i64 *roots,
                     i32 *idom_out, i32 *order_out) {
    i64 N = n + 1;
    i64 m = indptr[n];
    i64 *rptr = malloc(((size_t)N + 1) * sizeof(i64));
    i32 *rsrc = malloc(((size_t)(m + nroots) + 1) * sizeof(i32));
    i32 *semi = malloc((size_t)N * sizeof(i32));
    i32 *vertex = order_out;
    i32 *parent = malloc((size_t)N * sizeof(i32));
    i32 *ancestor = idom_out;
    i32 *label = malloc((size_t)N * sizeof(i32));
    dfs_frame *stack = malloc((size_t)N * sizeof(dfs_frame));
    i32 *path = malloc((size_t)N * sizeof(i32));
    i64 reached = -1;
    if (!rptr || !rsrc || !semi || !parent || !label || !stack || !path)
        goto out;

    /* Predecessors of each node, the super-root's edges included. */
    reverse_csr(n, N, indptr, dst, nroots, roots, rptr, rsrc);

    for (i64 v = 0; v < N; v++) {
        semi[v] = -1;
        parent[v] = -1;
        ancestor[v] = -1;
        label[v] = (i32)v;
    }

    /* Iterative depth-first search from the super-root; semi[] is the preorder number. */
    i64 nv = 0, sp = 0;
    semi[n] = 0;
    vertex[nv++] = (i32)n;
    stack[sp].v = (i32)n;
    stack[sp++].k = 0;
    while (sp > 0) {
        dfs_frame *f = &stack[sp - 1];
        i32 v = f->v;
        i32 w = -1;
        if (v == n) {
            if (f->k < nroots)
                w = (i32)roots[f->k++];
        } else if (f->k < indptr[v + 1]) {
            w = dst[f->k++];
        }
        if (w < 0) {
            sp--;
            continue;
        }
        if (semi[w] == -1) {
            parent[w] = v;
            semi[w] = (i32)nv;
            vertex[nv++] = w;
            stack[sp].v = w;
            stack[sp++].k = indptr[w];
        }
    }

    /* Semidominators, in reverse preorder (Lengauer-Tarjan's link and eval). */
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
        ancestor[w] = parent[w];
    }

    /* Nearest common ancestors, in preorder: label becomes the preorder number, ancestor
     * the immediate dominator. */
    i32 *pre = label;
    i32 *idom = ancestor;
    for (i64 v = 0; v < N; v++) {
        pre[v] = -1;
        idom[v] = -1;
    }
    for (i64 i = 0; i < nv; i++)
        pre[vertex[i]] = (i32)i;
    for (i64 i = 1; i < nv; i++) {
        i32 w = vertex[i];
        i32 x = parent[w];
        while (pre[x] > semi[w])
            x = idom[x];
        idom[w] = x;
    }
    reached = nv - 1;
out:
    free(rptr);
    free(rsrc);
    free(semi);
    free(parent);
    free(label);
    free(stack);
    free(path);
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

/* The object holding address a, or -1 (ObjectTable.find for a dense page table,
 * objects.py): page = (a - arena_base) >> page_shift - gp0 (uintptr arithmetic, as spanOf);
 * page_span[page] is the in-use span there (-1 none); the slot is (a - base) / elem, valid
 * below nelems; slot_obj[slot0 + slot] is the object (-1 a free slot). */
static inline i64 locate(uint64_t a, uint64_t arena_base, i64 page_shift, i64 gp0,
                         i64 npages, const i32 *page_span, const i64 *span_base,
                         const i64 *span_elem, const i64 *span_nelems, const i64 *span_slot0,
                         i64 nslots, i32 *span_out, i64 *slot_out) {
    i64 gp = (i64)((a - arena_base) >> page_shift) - gp0;
    if (gp < 0 || gp >= npages)
        return -1;
    i32 s = page_span[gp];
    if (s < 0)
        return -1;
    i64 off = (i64)a - span_base[s];
    if (off < 0)
        return -1;
    i64 e = span_elem[s] > 0 ? span_elem[s] : 1;
    i64 slot = off / e;
    if (slot >= span_nelems[s])
        return -1;
    i64 g = span_slot0[s] + slot;
    *span_out = s;
    *slot_out = slot;
    return (g >= 0 && g < nslots) ? g : -1;
}

/* The slot index (into slot_obj) of address a, or -1. */
static inline i64 slot_of(uint64_t a, uint64_t arena_base, i64 page_shift, i64 gp0,
                          i64 npages, const i32 *page_span, const i64 *span_base,
                          const i64 *span_elem, const i64 *span_nelems, const i64 *span_slot0,
                          i64 nslots) {
    i32 s;
    i64 slot;
    return locate(a, arena_base, page_shift, gp0, npages, page_span, span_base, span_elem,
                  span_nelems, span_slot0, nslots, &s, &slot);
}

static inline i32 find1(uint64_t a, uint64_t arena_base, i64 page_shift, i64 gp0, i64 npages,
                        const i32 *page_span, const i64 *span_base, const i64 *span_elem,
                        const i64 *span_nelems, const i64 *span_slot0, i64 nslots,
                        const i32 *slot_obj) {
    i64 g = slot_of(a, arena_base, page_shift, gp0, npages, page_span, span_base, span_elem,
                    span_nelems, span_slot0, nslots);
    return g >= 0 ? slot_obj[g] : -1;
}

/*
 * Prefetching. The batch kernels look up addresses in no useful order, so nearly every
 * lookup misses the cache twice in a row (the slot table, then the object's columns); one
 * at a time the core waits for each miss. Looking PF_FAR elements ahead to fetch the slot,
 * and PF_NEAR ahead (the slot is cached by then) to fetch the object's columns, keeps many
 * misses in flight. The look-ahead only reads and prefetches: results are unchanged.
 */
#define PF_FAR 16
#define PF_NEAR 8
#define FIND_ARGS arena_base, page_shift, gp0, npages, page_span, span_base, span_elem, \
                  span_nelems, span_slot0, nslots
#define PF(p) __builtin_prefetch((p), 0, 1)

/* Object i's data_off (span s): read only where span_hdr says the span has malloc headers,
 * elsewhere 0. Its data start is then span_base[s] + slot * span_elem[s] (its address, as
 * gomem_alloc_objects made it) plus this. */
static inline i64 data_off_at(i32 s, i32 i, const uint8_t *span_hdr, const uint8_t *data_off) {
    return span_hdr[s] ? data_off[i] : 0;
}

/* The type pass's check of a value of DWARF type tid at object i's data start: 1 new (then
 * first[i] = tid), 0 already scanned as tid, -1 another type's start (the caller's exact
 * per-type set decides). */
static inline int first_visit(i32 *first, i32 i, i32 tid) {
    if (first[i] == -1) {
        first[i] = tid;
        return 1;
    }
    return first[i] == tid ? 0 : -1;
}

/* Prefetch the slot of address a (look-ahead stage 1). */
static inline void pf_slot(uint64_t a, uint64_t arena_base, i64 page_shift, i64 gp0,
                           i64 npages, const i32 *page_span, const i64 *span_base,
                           const i64 *span_elem, const i64 *span_nelems,
                           const i64 *span_slot0, i64 nslots, const i32 *slot_obj) {
    i64 g = slot_of(a, FIND_ARGS);
    if (g >= 0)
        PF(&slot_obj[g]);
}

/* The object of address a if its slot is cached (look-ahead stage 2), else -1. */
#define OBJ_AHEAD(a) find1((a), FIND_ARGS, slot_obj)

/* The 8-byte word at address a of an image made of segments (vaddr[k], byte offset off[k]
 * into buf, len[k] bytes, sorted by vaddr), into *v; 0 when a is unaligned or outside
 * every segment. *k is the last segment hit, tried first (addresses come in runs). */
static inline int read_word(i64 a, i64 *k, i64 nseg, const i64 *vaddr, const i64 *off,
                            const i64 *len, const uint64_t *buf, i64 nwords, uint64_t *v) {
    if (nseg == 0 || (a & 7))
        return 0;
    if (!(a >= vaddr[*k] && a + 8 <= vaddr[*k] + len[*k])) {
        i64 lo = 0, hi = nseg; /* last segment with vaddr <= a */
        while (hi - lo > 1) {
            i64 mid = (lo + hi) / 2;
            if (vaddr[mid] <= a)
                lo = mid;
            else
                hi = mid;
        }
        *k = lo;
        if (!(a >= vaddr[lo] && a + 8 <= vaddr[lo] + len[lo]))
            return 0;
    }
    i64 w = (off[*k] + (a - vaddr[*k])) >> 3;
    if (w < 0 || w >= nwords)
        return 0;
    *v = buf[w];
    return 1;
}

/* The object that the pointer word at address a points to (read_word, then find1), or -1:
 * nil, outside the heap, or unreadable (then *bad counts it). */
static inline i32 target_of(i64 a, i64 *k, i64 *bad, i64 nseg, const i64 *vaddr,
                            const i64 *off, const i64 *len, const uint64_t *buf, i64 nwords,
                            uint64_t arena_base, i64 page_shift, i64 gp0, i64 npages,
                            const i32 *page_span, const i64 *span_base, const i64 *span_elem,
                            const i64 *span_nelems, const i64 *span_slot0, i64 nslots,
                            const i32 *slot_obj) {
    uint64_t v = 0;
    if (!read_word(a, k, nseg, vaddr, off, len, buf, nwords, &v)) {
        (*bad)++;
        return -1;
    }
    if (v == 0)
        return -1;
    return find1(v, arena_base, page_shift, gp0, npages, page_span, span_base, span_elem,
                 span_nelems, span_slot0, nslots, slot_obj);
}

/* ObjectTable.find over many addresses (find1 each). */
void gomem_find(i64 n, const uint64_t *addrs, uint64_t arena_base, i64 page_shift, i64 gp0,
                i64 npages, const i32 *page_span, const i64 *span_base, const i64 *span_elem,
                const i64 *span_nelems, const i64 *span_slot0, i64 nslots, const i32 *slot_obj,
                i32 *out) {
    for (i64 i = 0; i < n; i++) {
        if (i + PF_FAR < n)
            pf_slot(addrs[i + PF_FAR], FIND_ARGS, slot_obj);
        out[i] = find1(addrs[i], FIND_ARGS, slot_obj);
    }
}

/* HeapImage.words_multi: the words at addrs[j] + offs[k] for every value j and offset k,
 * into out[k*n + j], ok[k*n + j] = 0 and out 0 where unreadable (read_word): the words of one value are read together, so each of its cache lines is
 * fetched once rather than once per pointer field. */
void gomem_words_multi(i64 n, const uint64_t *addrs, i64 m, const i64 *offs, i64 nseg,
                       const i64 *vaddr, const i64 *off, const i64 *len, const uint64_t *buf,
                       i64 nwords, uint64_t *out, uint8_t *ok) {
    i64 k = 0;
    for (i64 j = 0; j < n; j++) {
        for (i64 q = 0; q < m; q++) {
            uint64_t v = 0;
            ok[q * n + j] = (uint8_t)read_word((i64)(addrs[j] + (uint64_t)offs[q]), &k, nseg,
                                               vaddr, off, len, buf, nwords, &v);
            out[q * n + j] = v;
        }
    }
}

/*
 * The graph's inner loop (heapgraph.build_graph): for pointer word j of object src[j] at
 * waddr[j], read the word from the image (read_word) and, when it points
 * into an allocated object, emit the edge (src, dst object, byte offset in src) compacted
 * into the outputs. Returns the edge count; *bad counts unreadable words.
 */
i64 gomem_edges(i64 n, const i32 *src, const uint64_t *waddr, i64 nseg, const i64 *vaddr,
                const i64 *off, const i64 *len, const uint64_t *buf, i64 nwords,
                uint64_t arena_base, i64 page_shift, i64 gp0, i64 npages, const i32 *page_span,
                const i64 *span_base, const i64 *span_elem, const i64 *span_nelems,
                const i64 *span_slot0, i64 nslots, const i32 *slot_obj,
                const uint64_t *obj_addr, i32 *out_src, i32 *out_dst, uint32_t *out_off,
                i64 *bad) {
    i64 m = 0, k = 0, nbad = 0;
    for (i64 j = 0; j < n; j++) {
        i64 a = (i64)waddr[j];
        i32 d = target_of(a, &k, &nbad, nseg, vaddr, off, len, buf, nwords, arena_base,
                          page_shift, gp0, npages, page_span, span_base, span_elem,
                          span_nelems, span_slot0, nslots, slot_obj);
        if (d < 0)
            continue;
        i32 s = src[j];
        out_src[m] = s;
        out_dst[m] = d;
        out_off[m] = (uint32_t)((uint64_t)a - obj_addr[s]);
        m++;
    }
    *bad = nbad;
    return m;
}

/* Mark (mark.py): live[v] = 1 for every object reachable from roots[] over the CSR.
 * Depth-first with an explicit stack; each object is pushed once, when first marked, so
 * the stack never holds more than n entries. Returns the live count, -1 without memory. */
i64 gomem_mark(i64 n, const i64 *indptr, const i32 *dst, i64 nroots, const i64 *roots,
               uint8_t *live) {
    i32 *stack = malloc((size_t)(n > 0 ? n : 1) * sizeof(i32));
    if (!stack)
        return -1;
    i64 sp = 0, nlive = 0;
    memset(live, 0, (size_t)n);
    for (i64 r = 0; r < nroots; r++) {
        i64 v = roots[r];
        if (v >= 0 && v < n && !live[v]) {
            live[v] = 1;
            nlive++;
            stack[sp++] = (i32)v;
        }
    }
    while (sp > 0) {
        i32 v = stack[--sp];
        for (i64 k = indptr[v]; k < indptr[v + 1]; k++) {
            i32 w = dst[k];
            if (w >= 0 && w < n && !live[w]) {
                live[w] = 1;
                nlive++;
                stack[sp++] = w;
            }
        }
    }
    free(stack);
    return nlive;
}

/*
 * Allocated slots (objects.build_objects): slot i of span j holds an object iff
 * i < freeindex[j] or bit i of its allocBits (abits from byte abyte[j]; aok[j] = 0 when the
 * bitmap was unreadable: no objects). Spans come sorted by base, so objects come out
 * sorted by address. Fills slot_obj (one int32 per slot of every span, -1 free) and the
 * object columns; returns the object count, or -1 when cap is too small.
 */
i64 gomem_alloc_objects(i64 nspans, const i64 *base, const i64 *nelems, const i64 *elem,
                        const i64 *osize, const i64 *freeidx, const i64 *abyte,
                        const uint8_t *aok, const uint8_t *abits, i64 cap, i32 *slot_obj,
                        uint64_t *oaddr, uint64_t *osz, i32 *ospan) {
    i64 m = 0, g = 0;
    for (i64 j = 0; j < nspans; j++) {
        const uint8_t *bits = abits + abyte[j];
        for (i64 i = 0; i < nelems[j]; i++, g++) {
            int on = aok[j] && (i < freeidx[j] || ((bits[i >> 3] >> (i & 7)) & 1));
            if (!on) {
                slot_obj[g] = -1;
                continue;
            }
            if (m >= cap)
                return -1;
            slot_obj[g] = (i32)m;
            oaddr[m] = (uint64_t)(base[j] + i * elem[j]);
            osz[m] = (uint64_t)osize[j];
            ospan[m] = (i32)j;
            m++;
        }
    }
    return m;
}

/*
 * heap/types ScanQueue.fresh: which queued values of one DWARF type (tid) are new. A value
 * at an object's data start (addr + data_off) is remembered in first[object] (the first
 * type scanned there; the type pass passes its arr_tid column, where an array of that type
 * from the start is remembered too), as first_visit decides; anything else (another type at
 * that start, a value inside an object or outside the heap) goes to rest[] for the caller's
 * exact per-type set. Returns the number of new values in out_new.
 *
 * The data start comes from the span (data_off_at): per value, the slot table and first[]
 * are the only reads outside the small per-span arrays.
 */
i64 gomem_fresh(i64 n, const uint64_t *cand, i32 tid, uint64_t arena_base, i64 page_shift,
                i64 gp0, i64 npages, const i32 *page_span, const i64 *span_base,
                const i64 *span_elem, const i64 *span_nelems, const i64 *span_slot0,
                i64 nslots, const i32 *slot_obj, const uint8_t *span_hdr, const uint8_t *data_off,
                i32 *first, uint64_t *out_new, uint64_t *out_rest, i64 *nrest) {
    i64 m = 0, r = 0;
    for (i64 j = 0; j < n; j++) {
        if (j + PF_FAR < n)
            pf_slot(cand[j + PF_FAR], FIND_ARGS, slot_obj);
        if (j + PF_NEAR < n) {
            i32 ia = OBJ_AHEAD(cand[j + PF_NEAR]);
            if (ia >= 0)
                PF(&first[ia]);
        }
        uint64_t a = cand[j];
        i32 s;
        i64 slot;
        i64 g = locate(a, FIND_ARGS, &s, &slot);
        i32 i = g >= 0 ? slot_obj[g] : -1;
        int v = -1;
        if (i >= 0 && a == (uint64_t)(span_base[s] + slot * span_elem[s] +
                                      data_off_at(s, i, span_hdr, data_off)))
            v = first_visit(first, i, tid);
        if (v == 1)
            out_new[m++] = a;
        else if (v < 0)
            out_rest[r++] = a;
    }
    *nrest = r;
    return m;
}

/*
 * The type pass's pointer batch (heap/types/decode/pointers.py) with its fresh() check folded in: pointers w[j] (0 skipped)
 * of static type *T, T = DWARF type tid of tsize bytes. Per pointer:
 *  - into a tiny block (T < 16 bytes): the block gets e_tiny at priority p_guess, unless it
 *    has a type of that priority or higher;
 *  - exactly an object's data start with room for one T: e_single at p_dwarf, likewise;
 *  - exactly a data start of an object holding k >= 2 T's (T >= 16 bytes): out_guess, for
 *    the caller's array guess (it types and queues those itself);
 *  - everything else, and the two above, is a value of T to scan (when follow): at an
 *    object's data start, first_visit decides as in gomem_fresh (out_new: new, now marked;
 *    skipped if already scanned as T); off any data start, out_rest (the caller's exact
 *    per-type set).
 * A second pointer to one object in a batch finds it already typed and marked: sequential
 * updates give what the vectorised passes give.
 */
void gomem_ptr_batch(i64 n, const uint64_t *w, i64 tsize, i32 tiny_class, i32 tid, int follow,
                     uint64_t arena_base, i64 page_shift, i64 gp0, i64 npages,
                     const i32 *page_span, const i64 *span_base, const i64 *span_elem,
                     const i64 *span_nelems, const i64 *span_slot0, i64 nslots,
                     const i32 *slot_obj, const i64 *span_osize, const uint16_t *span_class,
                     const uint8_t *span_hdr, const uint8_t *data_off, int8_t *prio, i32 *otid,
                     i32 e_tiny, i32 e_single, int8_t p_guess, int8_t p_dwarf, i32 *first,
                     uint64_t *out_guess, i64 *nguess, uint64_t *out_new, i64 *nnew,
                     uint64_t *out_rest, i64 *nrest) {
    i64 ng = 0, nn = 0, nr = 0;
    for (i64 j = 0; j < n; j++) {
        if (j + PF_FAR < n)
            pf_slot(w[j + PF_FAR], FIND_ARGS, slot_obj);
        if (j + PF_NEAR < n) {
            i32 ia = OBJ_AHEAD(w[j + PF_NEAR]);
            if (ia >= 0) {
                PF(&prio[ia]);
                PF(&first[ia]);
            }
        }
        uint64_t a = w[j];
        if (a == 0)
            continue;
        i32 s;
        i64 slot;
        i64 g = locate(a, FIND_ARGS, &s, &slot);
        i32 i = g >= 0 ? slot_obj[g] : -1;
        if (i < 0) {
            if (follow)
                out_rest[nr++] = a;
            continue;
        }
        i64 doff = data_off_at(s, i, span_hdr, data_off);
        uint64_t base = (uint64_t)(span_base[s] + slot * span_elem[s] + doff);
        if (span_class[s] == tiny_class && tsize < 16) {
            if (prio[i] < p_guess) {
                prio[i] = p_guess;
                otid[i] = e_tiny;
            }
        } else if (a == base) {
            i64 k = tsize > 0 ? (span_osize[s] - doff) / tsize : 0;
            if (k < 2) {
                if (prio[i] < p_dwarf) {
                    prio[i] = p_dwarf;
                    otid[i] = e_single;
                }
            } else if (tsize >= 16) {
                out_guess[ng++] = a;
                continue;
            }
        }
        if (!follow)
            continue;
        int v = a == base ? first_visit(first, i, tid) : -1;
        if (v == 1)
            out_new[nn++] = a;
        else if (v < 0)
            out_rest[nr++] = a;
    }
    *nguess = ng;
    *nnew = nn;
    *nrest = nr;
}

/*
 * The type pass's string batch (heap/types/decode/sequences.py): string headers (data p[j], length len[j]). The object
 * holding the data becomes "tiny block" (e_tiny, p_guess) when in a tiny block and shorter
 * than 16 bytes, else "string data" (e_str) at p_dwarf when the data starts at the object,
 * or at p_guess when it starts inside a noscan object (a substring of a larger buffer).
 * Three passes in that order, as the vectorised version assigns them.
 */
void gomem_string_batch(i64 n, const uint64_t *p, const uint64_t *len, i32 tiny_class,
                        uint64_t arena_base, i64 page_shift, i64 gp0, i64 npages,
                        const i32 *page_span, const i64 *span_base, const i64 *span_elem,
                        const i64 *span_nelems, const i64 *span_slot0, i64 nslots,
                        const i32 *slot_obj, const uint16_t *span_class, int8_t *prio,
                        i32 *otid, i32 e_tiny, i32 e_str, int8_t p_guess, int8_t p_dwarf,
                        i32 *idx, uint8_t *kind) {
    for (i64 j = 0; j < n; j++) {
        if (j + PF_FAR < n)
            pf_slot(p[j + PF_FAR], FIND_ARGS, slot_obj);
        kind[j] = 0;
        idx[j] = -1;
        uint64_t a = p[j], l = len[j];
        if (a == 0 || l == 0 || l >= ((uint64_t)1 << 40))
            continue;
        i32 s;
        i64 slot;
        i64 g = locate(a, FIND_ARGS, &s, &slot);
        i32 i = g >= 0 ? slot_obj[g] : -1;
        if (i < 0)
            continue;
        idx[j] = i;
        int tiny = span_class[s] == tiny_class && l < 16;
        if (tiny)
            kind[j] = 1;
        else if (a == (uint64_t)(span_base[s] + slot * span_elem[s]))
            kind[j] = 2;
        else if (span_class[s] & 1)
            kind[j] = 3;
    }
    for (int pass = 1; pass <= 3; pass++) {
        int8_t pr = pass == 2 ? p_dwarf : p_guess;
        i32 e = pass == 1 ? e_tiny : e_str;
        for (i64 j = 0; j < n; j++) {
            if (kind[j] != pass)
                continue;
            i32 i = idx[j];
            if (prio[i] < pr) {
                prio[i] = pr;
                otid[i] = e;
            }
        }
    }
}

/* The transposed graph (HeapGraph.predecessors) by a counting sort: rptr[n+1], and per
 * incoming edge its source, sources in increasing order (a stable sort by target). */
void gomem_reverse(i64 n, const i64 *indptr, const i32 *dst, i64 *rptr, i32 *rsrc) {
    reverse_csr(n, n, indptr, dst, 0, NULL, rptr, rsrc);
}

/* Append B edges (sorted by source) while their source is below `limit`. */
static i64 flush_b(i64 limit, const i32 *bsrc, const i32 *bdst, const uint32_t *boff, i64 nb,
                   i64 *bpos, i32 *out_dst, uint32_t *out_off, i32 *counts, i64 m, i64 cap) {
    while (*bpos < nb && bsrc[*bpos] < limit) {
        if (m >= cap)
            return -1;
        out_dst[m] = bdst[*bpos];
        out_off[m] = boff[*bpos];
        counts[bsrc[*bpos]]++;
        m++;
        (*bpos)++;
    }
    return m;
}

/*
 * Go 1.22+ small scan spans (heapbits.span_bitmap_groups): bit b of bitmap word k of span j
 * (words[wstart[j] + k], k < nw[j]) marks word 64k+b of the span as a pointer; each such
 * word inside an allocated object is read and, if it points into an object, becomes an
 * edge, written straight into the final CSR arrays: the group's edges come with
 * increasing sources, and the other edges (header and large objects: bsrc, sorted, never a
 * source of these spans) are merged in before each source, so out_dst/out_off are in CSR
 * order and counts[] gives indptr. *fpos is the write position (in/out), *bpos the next B
 * edge. Returns 0, or -1 when cap is too small (the caller grows and never resumes a group:
 * it reserves the group's popcount plus the remaining B edges first). With nspans = 0 and
 * flush_all, appends the remaining B edges.
 */
i64 gomem_span_edges_csr(i64 nspans, const i64 *sbase, const i64 *widx, const uint64_t *words,
                         const i64 *wstart, const i64 *nw, i64 nseg, const i64 *vaddr,
                         const i64 *off, const i64 *len, const uint64_t *buf, i64 nwords,
                         uint64_t arena_base, i64 page_shift, i64 gp0, i64 npages,
                         const i32 *page_span, const i64 *span_base, const i64 *span_elem,
                         const i64 *span_nelems, const i64 *span_slot0, i64 nslots,
                         const i32 *slot_obj, const uint64_t *obj_addr, const i32 *bsrc,
                         const i32 *bdst, const uint32_t *boff, i64 nb, i64 *bpos,
                         int flush_all, i64 cap, i32 *out_dst, uint32_t *out_off,
                         i32 *counts, i64 *fpos, i64 *total, i64 *bad) {
    i64 m = *fpos, k = 0, ntot = 0, nbad = 0;
    for (i64 j = 0; j < nspans; j++) {
        i64 ws = widx[j];
        i64 e = span_elem[ws] > 0 ? span_elem[ws] : 1;
        for (i64 q = 0; q < nw[j]; q++) {
            uint64_t bits = words[wstart[j] + q];
            while (bits) {
                int b = __builtin_ctzll(bits);
                bits &= bits - 1;
                i64 a = sbase[j] + (q * 64 + b) * 8;
                i64 slot = (a - sbase[j]) / e;
                if (slot >= span_nelems[ws])
                    continue;
                i64 g = span_slot0[ws] + slot;
                if (g < 0 || g >= nslots)
                    continue;
                i32 o = slot_obj[g];
                if (o < 0)
                    continue;
                ntot++;
                i32 d = target_of(a, &k, &nbad, nseg, vaddr, off, len, buf, nwords,
                                  arena_base, page_shift, gp0, npages, page_span, span_base,
                                  span_elem, span_nelems, span_slot0, nslots, slot_obj);
                if (d < 0)
                    continue;
                m = flush_b(o, bsrc, bdst, boff, nb, bpos, out_dst, out_off, counts, m, cap);
                if (m < 0 || m >= cap)
                    return -1;
                out_dst[m] = d;
                out_off[m] = (uint32_t)((uint64_t)a - obj_addr[o]);
                counts[o]++;
                m++;
            }
        }
    }
    if (flush_all) {
        m = flush_b(INT32_MAX + (i64)1, bsrc, bdst, boff, nb, bpos, out_dst, out_off, counts, m,
                    cap);
        if (m < 0)
            return -1;
    }
    *fpos = m;
    *total += ntot;
    *bad += nbad;
    return 0;
}

/* types_docs histogram --by type: per key k < nk (a type-table entry) the count and bytes
 * of the selected objects (sel[i] != 0) with that key; unselected objects and keys out of
 * range go to bucket nk. One pass, integer bytes, no per-object temporaries. */
void gomem_histogram(i64 n, const i32 *key, const uint8_t *sel, const uint64_t *size, i64 nk,
                     i64 *counts, uint64_t *bytes) {
    memset(counts, 0, (size_t)(nk + 1) * sizeof(i64));
    memset(bytes, 0, (size_t)(nk + 1) * sizeof(uint64_t));
    for (i64 i = 0; i < n; i++) {
        i64 k = key[i];
        if (!sel[i] || k < 0 || k >= nk)
            k = nk;
        counts[k]++;
        bytes[k] += size[i];
    }
}
