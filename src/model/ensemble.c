/* ensemble.c: the tree-ensemble evaluator. Checks the trees a loader describes, flattens them
 * into arrays (bushy trees up to depth 10 as complete binary trees with implicit children,
 * walked 16 at a time in `depth` branch-free steps; deep or lopsided trees as explicit child
 * arrays), and evaluates single rows, batches and quantized rows, all in the same summation
 * order, so all three give the same float. */
#include "ensemble_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Trees up to this depth may be padded into complete trees: 2^10 leaves is 4 KiB per tree, and
 * XGBoost's default depth is 6. Deeper (lossguide) trees use the sparse layout. */
#define COMPLETE_DEPTH_MAX 10u
#define FEATURE_MASK 0x7fffffffu
#define DEFAULT_LEFT_BIT 0x80000000u
#define QUANTIZE_CUTS_MAX 65534u
#define QUANTIZE_FEATURES_MAX 32767u /* 2 slots per feature in a uint16 */

/* Missing values without a test per step: each row is first expanded to 2 values per feature,
 * slot 2f with NaN replaced by -inf (for splits whose missing values go left: -inf < t) and
 * slot 2f+1 with NaN replaced by +inf (missing goes right: +inf < t is false). A split then
 * reads its slot and compares once. The one case this cannot express, missing-goes-left at a
 * threshold of -inf, reads a third slot 2F+f that is 0 for missing and 1 otherwise, at
 * threshold 0.5. Quantized rows expand the same way (missing: bin 0 or 0xFFFF). */
#define EXPAND_STACK_FEATURES 2048u

/* A split of a complete tree: node i has children 2i+1 (left) and 2i+2 (right). Go left when
 * expanded_row[slot] < threshold. */
typedef struct complete_node {
    float threshold;
    uint32_t slot;
} complete_node;

/* Half the size of a float split, so more of the model stays in cache. */
typedef struct quantized_node {
    uint16_t bin; /* go left when expanded_bins[slot] < bin */
    uint16_t slot;
} quantized_node;

/* A node of a deep tree; leaves point at themselves, so every walk takes `depth` steps. */
typedef struct sparse_node {
    float threshold;
    uint32_t feature;
    uint32_t child[2]; /* [0] left, [1] right */
    uint32_t bin;
    float value; /* the leaf value (leaves only) */
} sparse_node;

/* Consecutive complete trees are evaluated BLOCK at a time: their walks are independent, so the
 * CPU overlaps BLOCK chains of dependent loads instead of waiting on one (a walk is bound by
 * load latency: 8 chains ran at 2.3 us per row for 300 trees of depth 6, 16 at 1.9). A block's
 * trees are padded to the block's deepest and interleaved: node pos of tree j is at node_offset
 * + pos * BLOCK + j, leaf l at leaf_offset + l * BLOCK + j, so the first levels of all the
 * block's trees share cache lines. A block of fewer trees is padded with all-zero trees whose
 * leaves are not added. A sparse tree is a block of its own. */
#define BLOCK 16u
#define FOR_EACH_CHAIN(X)                                                                          \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

typedef struct tree_block {
    uint32_t count; /* trees in the block, 1..BLOCK */
    uint32_t depth;
    uint32_t complete; /* 1: complete layout at nodes/leaves; 0: sparse at sparse */
    uint32_t node_offset;
    uint32_t leaf_offset;
} tree_block;

/* Where one tree of a block is (for filling). */
typedef struct tree_layout {
    uint32_t depth;
    uint32_t node_offset;
    uint32_t leaf_offset;
    uint32_t stride; /* trees in its block */
} tree_layout;

struct model_ensemble {
    ensemble_spec src;
    uint32_t max_depth;
    bool missing_slots;         /* some split needs the third slot (see EXPAND_STACK_FEATURES) */
    float base_start, base_end; /* sum = ((base_start + tree 0) + tree 1 ...) + base_end */
    uint32_t block_count;
    tree_block *blocks;
    complete_node *nodes;
    quantized_node *qnodes;
    float *leaves;
    sparse_node *sparse;
    /* quantization: the distinct thresholds of feature f are cuts[cut_offset[f] ..
     * cut_offset[f + 1]), ascending */
    bool quantizable;
    uint32_t *cut_offset;
    float *cuts;
};

void ensemble_spec_free(ensemble_spec *s)
{
    if (!s) return;
    for (uint32_t t = 0; s->trees && t < s->tree_count; t++)
        free(s->trees[t].nodes);
    free(s->trees);
    if (s->feature_names) {
        for (uint32_t f = 0; f < s->feature_count; f++)
            free(s->feature_names[f]);
        free(s->feature_names);
    }
    memset(s, 0, sizeof *s);
}

const ensemble_spec *ensemble_source(const model_ensemble *m)
{
    return &m->src;
}

void model_ensemble_free(model_ensemble *m)
{
    if (!m) return;
    ensemble_spec_free(&m->src);
    free(m->blocks);
    free(m->nodes);
    free(m->qnodes);
    free(m->leaves);
    free(m->sparse);
    free(m->cut_offset);
    free(m->cuts);
    free(m);
}

/* ---------------------------------------------------------------- checking */

/* Checks that tree t is a tree and computes its depth (edges on the longest root-leaf path). */
static int check_tree(const ensemble_spec *s, uint32_t t, const char *what, uint32_t *depth_out,
                      surge_error *err)
{
    const ensemble_tree *tree = &s->trees[t];
    uint32_t n = tree->node_count;
    if (n == 0) return surge_fail(err, SURGE_EINVAL, "trees", "%s tree %u has no nodes", what, t);
    if (n > ENSEMBLE_NODES_MAX)
        return surge_fail(err, SURGE_ETOOLARGE, "trees", "%s tree %u has %u nodes (limit %u)", what,
                          t, n, ENSEMBLE_NODES_MAX);
    uint8_t *has_parent = calloc(n, 1);
    uint32_t *queue = malloc(sizeof *queue * n);
    uint32_t *level = malloc(sizeof *level * n);
    if (!has_parent || !queue || !level) {
        free(has_parent), free(queue), free(level);
        return surge_fail(err, SURGE_EINTERNAL, "", "out of memory checking tree %u", t);
    }
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const ensemble_node *nd = &tree->nodes[i];
        if (isnan(nd->value)) {
            rc = surge_fail(err, SURGE_EINVAL, "trees", "%s tree %u node %u: %s is NaN", what, t, i,
                            nd->left < 0 ? "leaf value" : "split threshold");
            break;
        }
        if (nd->left < 0 && nd->right < 0) {
            if (isinf(nd->value))
                rc = surge_fail(err, SURGE_EINVAL, "trees",
                                "%s tree %u node %u: leaf value is infinite", what, t, i);
            continue;
        }
        if (nd->left < 0 || nd->right < 0) {
            rc = surge_fail(err, SURGE_EINVAL, "trees",
                            "%s tree %u node %u: has a %s child but no %s child", what, t, i,
                            nd->left < 0 ? "right" : "left", nd->left < 0 ? "left" : "right");
            break;
        }
        if (nd->feature >= s->feature_count) {
            rc = surge_fail(err, SURGE_EINVAL, "trees",
                            "%s tree %u node %u: feature index %u is out of range (the model has "
                            "%u features)",
                            what, t, i, nd->feature, s->feature_count);
            break;
        }
        int32_t kids[2] = {nd->left, nd->right};
        for (int k = 0; k < 2; k++) {
            if ((uint32_t)kids[k] >= n) {
                rc = surge_fail(err, SURGE_EINVAL, "trees",
                                "%s tree %u node %u: %s child %d is out of range (the tree has "
                                "%u nodes)",
                                what, t, i, k ? "right" : "left", kids[k], n);
                break;
            }
            if (kids[k] == 0 || has_parent[kids[k]]) {
                rc = surge_fail(err, SURGE_EINVAL, "trees",
                                "%s tree %u node %u: child %d already has a parent (a cycle or "
                                "a shared subtree)",
                                what, t, i, kids[k]);
                break;
            }
            has_parent[kids[k]] = 1;
        }
    }
    /* Each non-root node has exactly one parent; it is a tree when all are reached from the
     * root (a detached cycle would not be). */
    uint32_t head = 0, tail = 0, depth = 0;
    if (rc == 0) {
        queue[tail++] = 0;
        level[0] = 0;
        while (head < tail) {
            uint32_t i = queue[head++];
            const ensemble_node *nd = &tree->nodes[i];
            if (level[i] > depth) depth = level[i];
            if (nd->left < 0) continue;
            level[nd->left] = level[nd->right] = level[i] + 1;
            queue[tail++] = (uint32_t)nd->left;
            queue[tail++] = (uint32_t)nd->right;
        }
        if (tail != n) {
            for (uint32_t i = 1; i < n; i++)
                if (!has_parent[i]) {
                    rc =
                        surge_fail(err, SURGE_EINVAL, "trees",
                                   "%s tree %u node %u is not reachable from the root", what, t, i);
                    break;
                }
            if (rc == 0)
                rc = surge_fail(err, SURGE_EINVAL, "trees",
                                "%s tree %u: nodes form a cycle not reachable from the root", what,
                                t);
        }
    }
    free(has_parent);
    free(queue);
    free(level);
    *depth_out = depth;
    return rc;
}

/* ---------------------------------------------------------------- flattening */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The index of the first cut > x among cuts[0..n): the bin of x. Branch-free halving (the
 * comparison becomes a conditional move), since bins are searched once per feature per row. */
static inline uint32_t upper_bound(const float *cuts, uint32_t n, float x)
{
    if (n == 0) return 0;
    const float *p = cuts;
    uint32_t len = n;
    while (len > 1) {
        uint32_t half = len / 2;
        p = p[half] <= x ? p + half : p;
        len -= half;
    }
    return (uint32_t)(p - cuts) + (p[0] <= x);
}

/* A split's quantized threshold: 1 + the index of its threshold among its feature's cuts. */
static uint32_t split_bin(const model_ensemble *m, uint32_t feature, float threshold)
{
    const float *c = m->cuts + m->cut_offset[feature];
    uint32_t n = m->cut_offset[feature + 1] - m->cut_offset[feature];
    return upper_bound(c, n, threshold);
}

static int build_cuts(model_ensemble *m, surge_error *err)
{
    const ensemble_spec *s = &m->src;
    uint32_t nf = s->feature_count;
    m->cut_offset = calloc((size_t)nf + 1, sizeof *m->cut_offset);
    if (!m->cut_offset) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
    size_t splits = 0;
    for (uint32_t t = 0; t < s->tree_count; t++)
        for (uint32_t i = 0; i < s->trees[t].node_count; i++)
            if (s->trees[t].nodes[i].left >= 0) {
                m->cut_offset[s->trees[t].nodes[i].feature + 1]++;
                splits++;
            }
    for (uint32_t f = 0; f < nf; f++)
        m->cut_offset[f + 1] += m->cut_offset[f];
    m->cuts = malloc(sizeof *m->cuts * (splits ? splits : 1));
    uint32_t *fill = malloc(sizeof *fill * nf);
    if (!m->cuts || !fill) {
        free(fill);
        return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
    }
    memcpy(fill, m->cut_offset, sizeof *fill * nf);
    for (uint32_t t = 0; t < s->tree_count; t++)
        for (uint32_t i = 0; i < s->trees[t].node_count; i++) {
            const ensemble_node *nd = &s->trees[t].nodes[i];
            if (nd->left >= 0) m->cuts[fill[nd->feature]++] = nd->value;
        }
    free(fill);
    /* sort and deduplicate each feature's cuts in place, then close the gaps */
    uint32_t out = 0, start = 0;
    m->quantizable = true;
    for (uint32_t f = 0; f < nf; f++) {
        uint32_t end = m->cut_offset[f + 1], n = end - start;
        qsort(m->cuts + start, n, sizeof *m->cuts, cmp_float);
        uint32_t first = out;
        for (uint32_t i = start; i < end; i++)
            if (out == first || m->cuts[i] != m->cuts[out - 1]) m->cuts[out++] = m->cuts[i];
        m->cut_offset[f] = first;
        if (out - first > QUANTIZE_CUTS_MAX) m->quantizable = false;
        if (f >= QUANTIZE_FEATURES_MAX) m->quantizable = false;
        start = end;
    }
    m->cut_offset[nf] = out;
    return 0;
}

/* Writes source node src of tree into the complete tree at position pos of level lvl (a leaf
 * above the last level is repeated into every leaf below it, under splits that go anywhere). */
static void fill_complete(model_ensemble *m, const ensemble_tree *tree, int32_t src, uint32_t pos,
                          uint32_t lvl, uint32_t depth, const tree_layout *lay)
{
    const ensemble_node *nd = &tree->nodes[src];
    uint32_t internal = (1u << depth) - 1;
    if (lvl == depth) {
        m->leaves[lay->leaf_offset + (pos - internal) * lay->stride] = nd->value;
        return;
    }
    complete_node *c = &m->nodes[lay->node_offset + pos * lay->stride];
    quantized_node *q = &m->qnodes[lay->node_offset + pos * lay->stride];
    if (nd->left < 0) {
        c->threshold = 0, c->slot = 0;
        q->bin = 0, q->slot = 0;
        fill_complete(m, tree, src, 2 * pos + 1, lvl + 1, depth, lay);
        fill_complete(m, tree, src, 2 * pos + 2, lvl + 1, depth, lay);
        return;
    }
    uint32_t slot = 2 * nd->feature + (nd->default_left ? 0 : 1);
    c->threshold = nd->value;
    c->slot = slot;
    if (nd->default_left && nd->value == -INFINITY) {
        c->threshold = 0.5f;
        c->slot = 2 * m->src.feature_count + nd->feature;
        m->missing_slots = true;
    }
    q->bin = (uint16_t)split_bin(m, nd->feature, nd->value);
    q->slot = (uint16_t)slot;
    fill_complete(m, tree, nd->left, 2 * pos + 1, lvl + 1, depth, lay);
    fill_complete(m, tree, nd->right, 2 * pos + 2, lvl + 1, depth, lay);
}

model_ensemble *ensemble_build(ensemble_spec *spec, const char *what, surge_error *err)
{
    model_ensemble *m = calloc(1, sizeof *m);
    if (!m) {
        ensemble_spec_free(spec);
        surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        return NULL;
    }
    m->src = *spec;
    memset(spec, 0, sizeof *spec);
    ensemble_spec *s = &m->src;
    if (s->feature_count == 0 || s->feature_count > ENSEMBLE_FEATURES_MAX) {
        surge_fail(err, SURGE_EINVAL, "num_feature", "%s model has %u features (must be 1..%u)",
                   what, s->feature_count, ENSEMBLE_FEATURES_MAX);
        goto fail;
    }
    if (s->tree_count > ENSEMBLE_TREES_MAX) {
        surge_fail(err, SURGE_ETOOLARGE, "trees", "%s model has %u trees (limit %u)", what,
                   s->tree_count, ENSEMBLE_TREES_MAX);
        goto fail;
    }
    if (!isfinite(s->base_margin)) {
        surge_fail(err, SURGE_EINVAL, "base_score", "%s model: base margin %g is not finite", what,
                   (double)s->base_margin);
        goto fail;
    }
    m->base_start = s->base_last ? 0.0f : s->base_margin;
    m->base_end = s->base_last ? s->base_margin : 0.0f;
    uint32_t nt = s->tree_count;
    uint32_t *depths = calloc(nt ? nt : 1, sizeof *depths);
    m->blocks = calloc(nt ? nt : 1, sizeof *m->blocks);
    if (!depths || !m->blocks) {
        free(depths);
        goto oom;
    }
    for (uint32_t t = 0; t < nt; t++) {
        if (check_tree(s, t, what, &depths[t], err)) {
            free(depths);
            goto fail;
        }
        if (depths[t] > m->max_depth) m->max_depth = depths[t];
    }
    /* blocks of consecutive trees, then their offsets */
    for (uint32_t t = 0; t < nt; t++) {
        /* complete only when padding costs little: a lopsided tree (a chain of 10 splits
         * would be 1023 nodes) goes sparse, which also bounds what a small hostile file can make
         * us allocate (a block is at most 16 x 2^depth <= 128 x its trees' nodes + 1024).
         * Every tree of depth <= 7 qualifies. */
        bool complete =
            depths[t] <= COMPLETE_DEPTH_MAX && (1u << depths[t]) <= 8 * s->trees[t].node_count + 64;
        tree_block *b = m->block_count ? &m->blocks[m->block_count - 1] : NULL;
        if (complete && b && b->complete && b->count < BLOCK) {
            b->count++;
            if (depths[t] > b->depth) b->depth = depths[t];
            continue;
        }
        b = &m->blocks[m->block_count++];
        b->count = 1;
        b->depth = depths[t];
        b->complete = complete;
    }
    free(depths);
    size_t nodes = 0, leaves = 0, sparse = 0;
    for (uint32_t k = 0, t = 0; k < m->block_count; t += m->blocks[k].count, k++) {
        tree_block *b = &m->blocks[k];
        if (b->complete) {
            b->node_offset = (uint32_t)nodes;
            b->leaf_offset = (uint32_t)leaves;
            nodes += (size_t)BLOCK * ((1u << b->depth) - 1);
            leaves += (size_t)BLOCK << b->depth;
        } else {
            b->node_offset = (uint32_t)sparse;
            sparse += s->trees[t].node_count;
        }
        if (nodes > UINT32_MAX / 2 || leaves > UINT32_MAX / 2 || sparse > UINT32_MAX / 2) {
            surge_fail(err, SURGE_ETOOLARGE, "trees", "%s model is too large to flatten", what);
            goto fail;
        }
    }
    if (build_cuts(m, err)) goto fail;
    m->nodes = calloc(nodes ? nodes : 1, sizeof *m->nodes); /* zero: the padding trees */
    m->qnodes = calloc(nodes ? nodes : 1, sizeof *m->qnodes);
    m->leaves = calloc(leaves ? leaves : 1, sizeof *m->leaves);
    m->sparse = malloc(sizeof *m->sparse * (sparse ? sparse : 1));
    if (!m->nodes || !m->qnodes || !m->leaves || !m->sparse) goto oom;
    for (uint32_t k = 0, t = 0; k < m->block_count; k++) {
        const tree_block *b = &m->blocks[k];
        for (uint32_t j = 0; j < b->count; j++, t++) {
            const ensemble_tree *tree = &s->trees[t];
            if (b->complete) {
                tree_layout lay = {b->depth, b->node_offset + j, b->leaf_offset + j, BLOCK};
                fill_complete(m, tree, 0, 0, 0, b->depth, &lay);
                continue;
            }
            for (uint32_t i = 0; i < tree->node_count; i++) {
                const ensemble_node *nd = &tree->nodes[i];
                sparse_node *sn = &m->sparse[b->node_offset + i];
                memset(sn, 0, sizeof *sn);
                if (nd->left < 0) {
                    sn->child[0] = sn->child[1] = i;
                    sn->value = nd->value;
                    continue;
                }
                sn->threshold = nd->value;
                sn->feature = nd->feature | (nd->default_left ? DEFAULT_LEFT_BIT : 0);
                sn->child[0] = (uint32_t)nd->left;
                sn->child[1] = (uint32_t)nd->right;
                sn->bin = split_bin(m, nd->feature, nd->value);
            }
        }
    }
    return m;
oom:
    surge_fail(err, SURGE_EINTERNAL, "", "out of memory flattening the %s model", what);
fail:
    model_ensemble_free(m);
    return NULL;
}

/* ---------------------------------------------------------------- evaluation */

/* Fills x (2F or 3F floats, see EXPAND_STACK_FEATURES) from row. */
static inline void expand_row(const model_ensemble *m, const float *row, float *x)
{
    uint32_t nf = m->src.feature_count;
    for (uint32_t f = 0; f < nf; f++) {
        float v = row[f];
        bool missing = isnan(v);
        x[2 * f] = missing ? -INFINITY : v;
        x[2 * f + 1] = missing ? INFINITY : v;
    }
    if (m->missing_slots)
        for (uint32_t f = 0; f < nf; f++)
            x[2 * nf + f] = isnan(row[f]) ? 0.0f : 1.0f;
}

static inline void expand_bins(const model_ensemble *m, const uint16_t *bins, uint16_t *x)
{
    for (uint32_t f = 0; f < m->src.feature_count; f++) {
        uint16_t v = bins[f];
        x[2 * f] = v == MODEL_ENSEMBLE_BIN_MISSING ? 0 : v;
        x[2 * f + 1] = v;
    }
}

/* Deep trees read the plain row. */
static inline float sparse_leaf(const sparse_node *nodes, uint32_t depth, const float *row)
{
    uint32_t i = 0;
    for (uint32_t k = 0; k < depth; k++) {
        const sparse_node *nd = &nodes[i];
        float x = row[nd->feature & FEATURE_MASK];
        uint32_t left = (x < nd->threshold) | (isnan(x) & (nd->feature >> 31));
        i = nd->child[1 - left];
    }
    return nodes[i].value;
}

static inline float quantized_sparse_leaf(const sparse_node *nodes, uint32_t depth,
                                          const uint16_t *bins)
{
    uint32_t i = 0;
    for (uint32_t k = 0; k < depth; k++) {
        const sparse_node *nd = &nodes[i];
        uint32_t b = bins[nd->feature & FEATURE_MASK];
        uint32_t left = (b < nd->bin) | ((b == MODEL_ENSEMBLE_BIN_MISSING) & (nd->feature >> 31));
        i = nd->child[1 - left];
    }
    return nodes[i].value;
}

static inline float finish(const model_ensemble *m, float sum)
{
    sum += m->base_end;
    return m->src.transform == MODEL_TRANSFORM_EXP ? expf(sum) : sum;
}

/* The chains of a block walk as independent scalars (macros, so they stay in registers and
 * the compiler does not turn them into a slow emulated gather). e##j is the element index of
 * tree j's current node, pos * BLOCK + j; its children are 2e + BLOCK - j (left) and BLOCK
 * further (right); at the last level e - internal * BLOCK is its leaf. */
#define CHAIN_START(j) size_t e##j = (j);
#define CHAIN_STEP(j)                                                                              \
    nd = nodes[e##j];                                                                              \
    e##j = 2 * e##j + (BLOCK - (j)) + (x[nd.slot] < nd.COMPARED ? 0 : BLOCK);
#define CHAIN_LEAF(j)                                                                              \
    if ((j) < count) sum += leaves[e##j - internal * BLOCK];

/* Adds the leaves of a block of complete trees (count of them) for one expanded row to sum, in
 * tree order. */
static inline float complete_block(const complete_node *nodes, const float *leaves, uint32_t depth,
                                   uint32_t count, const float *x, float sum)
{
    size_t internal = ((size_t)1 << depth) - 1;
    complete_node nd;
    FOR_EACH_CHAIN(CHAIN_START)
    for (uint32_t k = 0; k < depth; k++) {
#define COMPARED threshold
        FOR_EACH_CHAIN(CHAIN_STEP)
#undef COMPARED
    }
    FOR_EACH_CHAIN(CHAIN_LEAF)
    return sum;
}

static inline float quantized_block(const quantized_node *nodes, const float *leaves,
                                    uint32_t depth, uint32_t count, const uint16_t *x, float sum)
{
    size_t internal = ((size_t)1 << depth) - 1;
    quantized_node nd;
    FOR_EACH_CHAIN(CHAIN_START)
    for (uint32_t k = 0; k < depth; k++) {
#define COMPARED bin
        FOR_EACH_CHAIN(CHAIN_STEP)
#undef COMPARED
    }
    FOR_EACH_CHAIN(CHAIN_LEAF)
    return sum;
}

/* The sum of every tree for one row; x is the row expanded. */
static float predict_expanded(const model_ensemble *m, const float *row, const float *x)
{
    float sum = m->base_start;
    for (uint32_t k = 0; k < m->block_count; k++) {
        const tree_block *b = &m->blocks[k];
        const complete_node *nodes = m->nodes + b->node_offset;
        const float *leaves = m->leaves + b->leaf_offset;
        if (!b->complete) {
            sum += sparse_leaf(m->sparse + b->node_offset, b->depth, row);
        } else {
            sum = complete_block(nodes, leaves, b->depth, b->count, x, sum);
        }
    }
    return finish(m, sum);
}

/* Floats an expanded row needs. */
static inline size_t expanded_size(const model_ensemble *m)
{
    return (size_t)m->src.feature_count * (m->missing_slots ? 3 : 2);
}

void model_ensemble_predict(const model_ensemble *m, const float *row, float *out)
{
    /* models of up to EXPAND_STACK_FEATURES features (all of surge's) expand on the stack;
     * wider ones allocate */
    if (m->src.feature_count <= EXPAND_STACK_FEATURES) {
        float x[3 * EXPAND_STACK_FEATURES];
        expand_row(m, row, x);
        *out = predict_expanded(m, row, x);
        return;
    }
    float *x = malloc(sizeof *x * expanded_size(m));
    if (!x) {
        *out = NAN;
        return;
    }
    expand_row(m, row, x);
    *out = predict_expanded(m, row, x);
    free(x);
}

void model_ensemble_predict_batch(const model_ensemble *m, const float *rows, size_t n,
                                  size_t stride, float *out)
{
    float sum[MODEL_ENSEMBLE_BATCH_MAX];
    if (n > MODEL_ENSEMBLE_BATCH_MAX) n = MODEL_ENSEMBLE_BATCH_MAX;
    size_t width = expanded_size(m);
    float stack[8192]; /* 32 rows of 128 features; wider batches allocate */
    float *xs =
        n * width <= sizeof stack / sizeof stack[0] ? stack : malloc(sizeof *xs * n * width);
    if (!xs) {
        for (size_t r = 0; r < n; r++)
            out[r] = NAN;
        return;
    }
    for (size_t r = 0; r < n; r++) {
        sum[r] = m->base_start;
        expand_row(m, rows + r * stride, xs + r * width);
    }
    /* block by block, every row through a block before the next: the block's nodes (16 trees,
     * 8 KiB at depth 6) stay in L1 while the rows walk them */
    for (uint32_t k = 0; k < m->block_count; k++) {
        const tree_block *b = &m->blocks[k];
        const complete_node *nodes = m->nodes + b->node_offset;
        const float *leaves = m->leaves + b->leaf_offset;
        if (!b->complete) {
            for (size_t r = 0; r < n; r++)
                sum[r] += sparse_leaf(m->sparse + b->node_offset, b->depth, rows + r * stride);
        } else {
            for (size_t r = 0; r < n; r++)
                sum[r] = complete_block(nodes, leaves, b->depth, b->count, xs + r * width, sum[r]);
        }
    }
    for (size_t r = 0; r < n; r++)
        out[r] = finish(m, sum[r]);
    if (xs != stack) free(xs);
}

bool model_ensemble_can_quantize(const model_ensemble *m)
{
    return m->quantizable;
}

int model_ensemble_quantize_row(const model_ensemble *m, const float *row, uint16_t *bins)
{
    if (!m->quantizable) return -1;
    for (uint32_t f = 0; f < m->src.feature_count; f++) {
        float x = row[f];
        if (isnan(x)) {
            bins[f] = MODEL_ENSEMBLE_BIN_MISSING;
            continue;
        }
        uint32_t lo = m->cut_offset[f];
        bins[f] = (uint16_t)upper_bound(m->cuts + lo, m->cut_offset[f + 1] - lo, x);
    }
    return 0;
}

static float predict_quantized_expanded(const model_ensemble *m, const uint16_t *bins,
                                        const uint16_t *x)
{
    float sum = m->base_start;
    for (uint32_t k = 0; k < m->block_count; k++) {
        const tree_block *b = &m->blocks[k];
        const quantized_node *nodes = m->qnodes + b->node_offset;
        const float *leaves = m->leaves + b->leaf_offset;
        if (!b->complete) {
            sum += quantized_sparse_leaf(m->sparse + b->node_offset, b->depth, bins);
        } else {
            sum = quantized_block(nodes, leaves, b->depth, b->count, x, sum);
        }
    }
    return finish(m, sum);
}

void model_ensemble_predict_quantized(const model_ensemble *m, const uint16_t *bins, float *out)
{
    if (m->src.feature_count <= EXPAND_STACK_FEATURES) {
        uint16_t x[2 * EXPAND_STACK_FEATURES];
        expand_bins(m, bins, x);
        *out = predict_quantized_expanded(m, bins, x);
        return;
    }
    uint16_t *x = malloc(sizeof *x * 2 * m->src.feature_count);
    if (!x) {
        *out = NAN;
        return;
    }
    expand_bins(m, bins, x);
    *out = predict_quantized_expanded(m, bins, x);
    free(x);
}

/* ---------------------------------------------------------------- accessors */

uint32_t model_ensemble_feature_count(const model_ensemble *m)
{
    return m->src.feature_count;
}

uint32_t model_ensemble_tree_count(const model_ensemble *m)
{
    return m->src.tree_count;
}

uint32_t model_ensemble_max_depth(const model_ensemble *m)
{
    return m->max_depth;
}

model_transform model_ensemble_transform(const model_ensemble *m)
{
    return m->src.transform;
}

const char *model_ensemble_objective(const model_ensemble *m)
{
    return m->src.objective;
}

float model_ensemble_base_margin(const model_ensemble *m)
{
    return m->src.base_margin;
}

const char *model_ensemble_feature_name(const model_ensemble *m, uint32_t i)
{
    if (!m->src.feature_names || i >= m->src.feature_count) return NULL;
    return m->src.feature_names[i];
}

/* ---------------------------------------------------------------- files */

model_ensemble *model_ensemble_load_file(const char *path, surge_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        surge_fail(err, SURGE_EIO, "path", "cannot open model %s: %s", path, strerror(errno));
        return NULL;
    }
    buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        buf_free(&b);
        surge_fail(err, SURGE_EIO, "path", "cannot read model %s", path);
        return NULL;
    }
    size_t i = 0;
    while (i < b.len &&
           (b.data[i] == ' ' || b.data[i] == '\n' || b.data[i] == '\r' || b.data[i] == '\t'))
        i++;
    model_ensemble *m = i < b.len && b.data[i] == '{'
                            ? model_ensemble_load_xgboost_json(b.data, b.len, err)
                            : model_ensemble_load_onnx(b.data, b.len, err);
    buf_free(&b);
    return m;
}
