/* onnx.c: ONNX import and export of tree ensembles. Reads a ModelProto (parsed by protobuf-c from
 * src/model/onnx.proto, our subset of upstream's messages) whose graph is one ai.onnx.ml
 * TreeEnsembleRegressor, optionally followed by Exp, and writes models in the same form. */
#include "ensemble_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define WHAT "ONNX"
#define ONNX_FLOAT 1
#define ONNX_DOUBLE 11

/* ---------------------------------------------------------------- attributes */

static const Onnx__AttributeProto *attribute(const Onnx__NodeProto *node, const char *name)
{
    for (size_t i = 0; i < node->n_attribute; i++)
        if (node->attribute[i]->name && strcmp(node->attribute[i]->name, name) == 0)
            return node->attribute[i];
    return NULL;
}

/* A float list attribute, given as floats or (ai.onnx.ml 3) as a float/double tensor named
 * <name>_as_tensor. *out is malloc'd (NULL when absent and not required). */
static int float_list(const Onnx__NodeProto *node, const char *name, bool required, float **out,
                      size_t *n, surge_error *err)
{
    *out = NULL, *n = 0;
    const Onnx__AttributeProto *a = attribute(node, name);
    char tname[64];
    snprintf(tname, sizeof tname, "%s_as_tensor", name);
    const Onnx__AttributeProto *ta = attribute(node, tname);
    if (a && a->n_floats) {
        *out = malloc(sizeof **out * a->n_floats);
        if (!*out) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        memcpy(*out, a->floats, sizeof **out * a->n_floats);
        *n = a->n_floats;
        return 0;
    }
    if (ta && ta->t) {
        const Onnx__TensorProto *t = ta->t;
        size_t count;
        if (t->data_type == ONNX_FLOAT) {
            count = t->n_float_data ? t->n_float_data : t->raw_data.len / 4;
            if (!t->n_float_data && t->raw_data.len % 4)
                return surge_fail(err, SURGE_EINVAL, tname,
                                  WHAT ": %s raw_data is not a whole number of floats", tname);
        } else if (t->data_type == ONNX_DOUBLE) {
            count = t->n_double_data ? t->n_double_data : t->raw_data.len / 8;
            if (!t->n_double_data && t->raw_data.len % 8)
                return surge_fail(err, SURGE_EINVAL, tname,
                                  WHAT ": %s raw_data is not a whole number of doubles", tname);
        } else {
            return surge_fail(err, SURGE_EINVAL, tname,
                              WHAT ": %s has data type %d (float or double expected)", tname,
                              t->data_type);
        }
        *out = malloc(sizeof **out * (count ? count : 1));
        if (!*out) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        for (size_t i = 0; i < count; i++) {
            if (t->data_type == ONNX_FLOAT) {
                if (t->n_float_data) {
                    (*out)[i] = t->float_data[i];
                } else {
                    uint32_t bits = 0;
                    for (int b = 0; b < 4; b++)
                        bits |= (uint32_t)t->raw_data.data[i * 4 + b] << (8 * b);
                    memcpy(&(*out)[i], &bits, 4);
                }
            } else {
                double d;
                if (t->n_double_data) {
                    d = t->double_data[i];
                } else {
                    uint64_t bits = 0;
                    for (int b = 0; b < 8; b++)
                        bits |= (uint64_t)t->raw_data.data[i * 8 + b] << (8 * b);
                    memcpy(&d, &bits, 8);
                }
                (*out)[i] = (float)d;
            }
        }
        *n = count;
        return 0;
    }
    if (required)
        return surge_fail(err, SURGE_EINVAL, name,
                          WHAT ": TreeEnsembleRegressor attribute %s is missing", name);
    return 0;
}

static const int64_t *int_list(const Onnx__NodeProto *node, const char *name, size_t *n)
{
    const Onnx__AttributeProto *a = attribute(node, name);
    *n = a ? a->n_ints : 0;
    return a ? a->ints : NULL;
}

/* A string attribute's value compared with want; absent counts as dflt. */
static bool string_is(const Onnx__NodeProto *node, const char *name, const char *dflt,
                      const char *want, char *seen, size_t seen_size)
{
    const Onnx__AttributeProto *a = attribute(node, name);
    if (!a || !a->has_s) {
        str_copy(seen, seen_size, dflt);
    } else {
        size_t len = a->s.len < seen_size - 1 ? a->s.len : seen_size - 1;
        memcpy(seen, a->s.data, len);
        seen[len] = 0;
    }
    return strcmp(seen, want) == 0;
}

/* ---------------------------------------------------------------- import */

typedef struct node_ref {
    int64_t tree, node;
    uint32_t index; /* position in the nodes_* attribute arrays */
} node_ref;

static int cmp_ref(const void *a, const void *b)
{
    const node_ref *x = a, *y = b;
    if (x->tree != y->tree) return x->tree < y->tree ? -1 : 1;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return 0;
}

/* Position of (tree, node) in refs[0..n), or -1. */
static int64_t find_ref(const node_ref *refs, size_t n, int64_t tree, int64_t node)
{
    size_t lo = 0, hi = n;
    node_ref key = {tree, node, 0};
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_ref(&refs[mid], &key);
        if (c == 0) return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

typedef struct tree_slice {
    int64_t tree;
    size_t first, end;    /* refs[first..end) are its nodes */
    uint32_t first_index; /* lowest attribute position: where the tree first appears */
    uint32_t out;         /* its index in spec->trees */
} tree_slice;

static int cmp_first_seen(const void *a, const void *b)
{
    const tree_slice *x = *(tree_slice *const *)a, *y = *(tree_slice *const *)b;
    return (x->first_index > y->first_index) - (x->first_index < y->first_index);
}

typedef enum branch_mode { MODE_LEAF, MODE_LT, MODE_LEQ, MODE_GT, MODE_GTE } branch_mode;

static int parse_mode(const ProtobufCBinaryData *s, branch_mode *out)
{
    static const struct {
        const char *name;
        branch_mode mode;
    } modes[] = {{"LEAF", MODE_LEAF},
                 {"BRANCH_LT", MODE_LT},
                 {"BRANCH_LEQ", MODE_LEQ},
                 {"BRANCH_GT", MODE_GT},
                 {"BRANCH_GTE", MODE_GTE}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (s->len == strlen(modes[i].name) && memcmp(s->data, modes[i].name, s->len) == 0) {
            *out = modes[i].mode;
            return 0;
        }
    return -1;
}

typedef struct tree_attrs {
    size_t n;
    const int64_t *treeids, *nodeids, *featureids, *trueids, *falseids, *missing_true;
    const ProtobufCBinaryData *modes;
    float *values;
    size_t nt;
    const int64_t *t_treeids, *t_nodeids, *t_ids;
    float *t_weights;
} tree_attrs;

/* Builds spec->trees from the attributes: trees in the order their ids first appear (ONNX
 * Runtime sums them in that order), nodes renumbered per tree with the root first. */
static int build_trees(const tree_attrs *a, ensemble_spec *s, uint32_t *max_feature,
                       surge_error *err)
{
    int rc = -1;
    node_ref *refs = malloc(sizeof *refs * (a->n ? a->n : 1));
    uint8_t *referenced = calloc(a->n ? a->n : 1, 1);
    int64_t *local = malloc(sizeof *local * (a->n ? a->n : 1)); /* sorted pos -> local index */
    tree_slice *slices = malloc(sizeof *slices * (a->n ? a->n : 1));
    tree_slice **byfirst = malloc(sizeof *byfirst * (a->n ? a->n : 1));
    if (!refs || !referenced || !local || !slices || !byfirst) {
        surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < a->n; i++)
        refs[i] = (node_ref){a->treeids[i], a->nodeids[i], (uint32_t)i};
    qsort(refs, a->n, sizeof *refs, cmp_ref);
    for (size_t i = 1; i < a->n; i++)
        if (cmp_ref(&refs[i - 1], &refs[i]) == 0) {
            surge_fail(err, SURGE_EINVAL, "nodes_nodeids",
                       WHAT ": tree %lld has two nodes with id %lld", (long long)refs[i].tree,
                       (long long)refs[i].node);
            goto done;
        }
    /* the trees: slices of refs (sorted by tree id), then ordered by first appearance */
    size_t ntrees = 0;
    for (size_t p = 0; p < a->n; p++) {
        if (p == 0 || refs[p].tree != refs[p - 1].tree) {
            if (ntrees >= ENSEMBLE_TREES_MAX) {
                surge_fail(err, SURGE_ETOOLARGE, "nodes_treeids", WHAT ": more than %u trees",
                           ENSEMBLE_TREES_MAX);
                goto done;
            }
            slices[ntrees++] = (tree_slice){refs[p].tree, p, p, refs[p].index, 0};
        }
        tree_slice *sl = &slices[ntrees - 1];
        sl->end = p + 1;
        if (refs[p].index < sl->first_index) sl->first_index = refs[p].index;
    }
    for (size_t t = 0; t < ntrees; t++)
        byfirst[t] = &slices[t];
    qsort(byfirst, ntrees, sizeof *byfirst, cmp_first_seen);
    for (size_t t = 0; t < ntrees; t++)
        byfirst[t]->out = (uint32_t)t;
    s->trees = calloc(ntrees ? ntrees : 1, sizeof *s->trees);
    if (!s->trees) {
        surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        goto done;
    }
    s->tree_count = (uint32_t)ntrees;
    *max_feature = 0;
    for (size_t t = 0; t < ntrees; t++) {
        int64_t tid = byfirst[t]->tree;
        size_t first = byfirst[t]->first, end = byfirst[t]->end;
        size_t count = end - first;
        if (count > ENSEMBLE_NODES_MAX) {
            surge_fail(err, SURGE_ETOOLARGE, "nodes_nodeids",
                       WHAT ": tree %lld has %zu nodes (limit %u)", (long long)tid, count,
                       ENSEMBLE_NODES_MAX);
            goto done;
        }
        /* children must exist in the same tree; find the root (nobody's child) */
        for (size_t p = first; p < end; p++) {
            uint32_t i = refs[p].index;
            branch_mode mode;
            if (parse_mode(&a->modes[i], &mode)) {
                surge_fail(err, SURGE_EINVAL, "nodes_modes",
                           WHAT ": tree %lld node %lld: mode \"%.*s\" is not supported (LEAF, "
                                "BRANCH_LT, BRANCH_LEQ, BRANCH_GT, BRANCH_GTE)",
                           (long long)tid, (long long)refs[p].node,
                           (int)(a->modes[i].len > 32 ? 32 : a->modes[i].len),
                           (const char *)a->modes[i].data);
                goto done;
            }
            if (mode == MODE_LEAF) continue;
            int64_t kids[2] = {a->trueids[i], a->falseids[i]};
            for (int k = 0; k < 2; k++) {
                int64_t q = find_ref(refs, a->n, tid, kids[k]);
                if (q < 0) {
                    surge_fail(err, SURGE_EINVAL, k ? "nodes_falsenodeids" : "nodes_truenodeids",
                               WHAT ": tree %lld node %lld: %s node id %lld does not exist",
                               (long long)tid, (long long)refs[p].node, k ? "false" : "true",
                               (long long)kids[k]);
                    goto done;
                }
                referenced[q] = 1;
            }
        }
        size_t root = end;
        for (size_t p = first; p < end && root == end; p++)
            if (!referenced[p]) root = p;
        if (root == end) {
            surge_fail(err, SURGE_EINVAL, "nodes_truenodeids",
                       WHAT ": tree %lld has no root (every node is a child: a cycle)",
                       (long long)tid);
            goto done;
        }
        for (size_t p = first; p < end; p++)
            local[p] = (int64_t)(p - first);
        local[root] = 0;
        local[first] = (int64_t)(root - first);

        ensemble_tree *tree = &s->trees[t];
        tree->nodes = calloc(count, sizeof *tree->nodes);
        if (!tree->nodes) {
            surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
            goto done;
        }
        tree->node_count = (uint32_t)count;
        for (size_t p = first; p < end; p++) {
            uint32_t i = refs[p].index;
            ensemble_node *nd = &tree->nodes[local[p]];
            branch_mode mode;
            parse_mode(&a->modes[i], &mode);
            if (mode == MODE_LEAF) {
                nd->left = nd->right = -1;
                nd->value = 0;
                continue;
            }
            if (a->featureids[i] < 0 || a->featureids[i] >= (int64_t)ENSEMBLE_FEATURES_MAX) {
                surge_fail(err, SURGE_EINVAL, "nodes_featureids",
                           WHAT ": tree %lld node %lld: feature id %lld is out of range",
                           (long long)tid, (long long)refs[p].node, (long long)a->featureids[i]);
                goto done;
            }
            float v = a->values[i];
            if (isnan(v)) {
                surge_fail(err, SURGE_EINVAL, "nodes_values",
                           WHAT ": tree %lld node %lld: threshold is NaN", (long long)tid,
                           (long long)refs[p].node);
                goto done;
            }
            int32_t t_kid = (int32_t)local[find_ref(refs, a->n, tid, a->trueids[i])];
            int32_t f_kid = (int32_t)local[find_ref(refs, a->n, tid, a->falseids[i])];
            bool missing_true = a->missing_true && a->missing_true[i] != 0;
            nd->feature = (uint32_t)a->featureids[i];
            if (nd->feature + 1 > *max_feature) *max_feature = nd->feature + 1;
            /* everything becomes "left when x < threshold": x <= v is x < next float after v;
             * GT and GTE are the negations of LEQ and LT with the children swapped */
            bool swap = mode == MODE_GT || mode == MODE_GTE;
            if ((mode == MODE_LEQ || mode == MODE_GT) && v == INFINITY) {
                /* x <= +inf holds for x = +inf, and no float is above +inf to compare with */
                surge_fail(err, SURGE_EINVAL, "nodes_values",
                           WHAT ": tree %lld node %lld: threshold +inf is not supported with %s",
                           (long long)tid, (long long)refs[p].node,
                           mode == MODE_LEQ ? "BRANCH_LEQ" : "BRANCH_GT");
                goto done;
            }
            nd->value = (mode == MODE_LEQ || mode == MODE_GT) ? nextafterf(v, INFINITY) : v;
            nd->left = swap ? f_kid : t_kid;
            nd->right = swap ? t_kid : f_kid;
            /* NaN fails every comparison, so it takes the false branch unless tracked true */
            nd->default_left = swap ? !missing_true : missing_true;
        }
    }
    /* leaf weights */
    for (size_t k = 0; k < a->nt; k++) {
        if (a->t_ids && a->t_ids[k] != 0) {
            surge_fail(err, SURGE_EINVAL, "target_ids",
                       WHAT ": target_ids[%zu] = %lld: only one target is supported", k,
                       (long long)a->t_ids[k]);
            goto done;
        }
        int64_t p = find_ref(refs, a->n, a->t_treeids[k], a->t_nodeids[k]);
        ensemble_node *nd = NULL;
        if (p >= 0) {
            size_t lo = 0, hi = ntrees; /* the slice holding p */
            while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if (slices[mid].first <= (size_t)p)
                    lo = mid;
                else
                    hi = mid;
            }
            nd = &s->trees[slices[lo].out].nodes[local[p]];
        }
        if (!nd || nd->left >= 0) {
            surge_fail(err, SURGE_EINVAL, "target_nodeids",
                       WHAT ": target %zu names tree %lld node %lld, which is not a leaf", k,
                       (long long)a->t_treeids[k], (long long)a->t_nodeids[k]);
            goto done;
        }
        nd->value += a->t_weights[k];
    }
    rc = 0;
done:
    free(refs);
    free(referenced);
    free(local);
    free(slices);
    free(byfirst);
    return rc;
}

static const char *metadata(const Onnx__ModelProto *model, const char *key)
{
    for (size_t i = 0; i < model->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = model->metadata_props[i];
        if (e->key && e->value && strcmp(e->key, key) == 0) return e->value;
    }
    return NULL;
}

static int read_model(const Onnx__ModelProto *model, ensemble_spec *s, surge_error *err)
{
    const Onnx__GraphProto *g = model->graph;
    if (!g) return surge_fail(err, SURGE_EINVAL, "graph", WHAT ": the model has no graph");
    const Onnx__NodeProto *trees = NULL, *exp_node = NULL;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        const char *op = nd->op_type ? nd->op_type : "";
        const char *domain = nd->domain ? nd->domain : "";
        if (strcmp(op, "TreeEnsembleRegressor") == 0 && strcmp(domain, "ai.onnx.ml") == 0 &&
            !trees) {
            trees = nd;
        } else if (strcmp(op, "Exp") == 0 && (!*domain || strcmp(domain, "ai.onnx") == 0) &&
                   !exp_node) {
            exp_node = nd;
        } else {
            return surge_fail(err, SURGE_EINVAL, "graph",
                              WHAT
                              ": graph node %zu (%.40s%s%.40s) is not supported: the graph "
                              "must be one ai.onnx.ml TreeEnsembleRegressor, optionally followed "
                              "by Exp",
                              i, domain, *domain ? "." : "", op);
        }
    }
    if (!trees)
        return surge_fail(err, SURGE_EINVAL, "graph",
                          WHAT ": the graph has no ai.onnx.ml TreeEnsembleRegressor node");
    if (exp_node && (exp_node->n_input != 1 || trees->n_output < 1 ||
                     strcmp(exp_node->input[0], trees->output[0]) != 0))
        return surge_fail(err, SURGE_EINVAL, "graph",
                          WHAT ": the Exp node must take the TreeEnsembleRegressor's output");
    char seen[48];
    if (!string_is(trees, "aggregate_function", "SUM", "SUM", seen, sizeof seen))
        return surge_fail(err, SURGE_EINVAL, "aggregate_function",
                          WHAT ": aggregate_function %s is not supported (SUM only)", seen);
    if (!string_is(trees, "post_transform", "NONE", "NONE", seen, sizeof seen))
        return surge_fail(err, SURGE_EINVAL, "post_transform",
                          WHAT ": post_transform %s is not supported (NONE only)", seen);
    const Onnx__AttributeProto *nt = attribute(trees, "n_targets");
    if (nt && nt->i != 1)
        return surge_fail(err, SURGE_EINVAL, "n_targets",
                          WHAT ": n_targets is %lld: only one target is supported",
                          (long long)nt->i);

    tree_attrs a;
    memset(&a, 0, sizeof a);
    size_t n;
    a.treeids = int_list(trees, "nodes_treeids", &a.n);
    const struct {
        const char *name;
        const int64_t **dst;
        bool optional;
    } lists[] = {{"nodes_nodeids", &a.nodeids, false},
                 {"nodes_featureids", &a.featureids, false},
                 {"nodes_truenodeids", &a.trueids, false},
                 {"nodes_falsenodeids", &a.falseids, false},
                 {"nodes_missing_value_tracks_true", &a.missing_true, true}};
    if (!a.treeids || a.n == 0)
        return surge_fail(err, SURGE_EINVAL, "nodes_treeids",
                          WHAT ": TreeEnsembleRegressor attribute nodes_treeids is missing");
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        *lists[k].dst = int_list(trees, lists[k].name, &n);
        if (lists[k].optional && n == 0) {
            *lists[k].dst = NULL;
            continue;
        }
        if (n != a.n)
            return surge_fail(err, SURGE_EINVAL, lists[k].name,
                              WHAT ": %s has %zu entries, nodes_treeids has %zu", lists[k].name, n,
                              a.n);
    }
    const Onnx__AttributeProto *modes = attribute(trees, "nodes_modes");
    if (!modes || modes->n_strings != a.n)
        return surge_fail(err, SURGE_EINVAL, "nodes_modes",
                          WHAT ": nodes_modes has %zu entries, nodes_treeids has %zu",
                          modes ? modes->n_strings : 0, a.n);
    a.modes = modes->strings;
    a.t_treeids = int_list(trees, "target_treeids", &a.nt);
    a.t_nodeids = int_list(trees, "target_nodeids", &n);
    if (n != a.nt)
        return surge_fail(err, SURGE_EINVAL, "target_nodeids",
                          WHAT ": target_nodeids has %zu entries, target_treeids has %zu", n, a.nt);
    a.t_ids = int_list(trees, "target_ids", &n);
    if (n != a.nt && !(n == 0 && a.t_ids == NULL))
        return surge_fail(err, SURGE_EINVAL, "target_ids",
                          WHAT ": target_ids has %zu entries, target_treeids has %zu", n, a.nt);
    float *base = NULL;
    size_t nbase = 0;
    int rc = -1;
    if (float_list(trees, "nodes_values", true, &a.values, &n, err)) goto done;
    if (n != a.n) {
        surge_fail(err, SURGE_EINVAL, "nodes_values",
                   WHAT ": nodes_values has %zu entries, nodes_treeids has %zu", n, a.n);
        goto done;
    }
    if (float_list(trees, "target_weights", a.nt > 0, &a.t_weights, &n, err)) goto done;
    if (n != a.nt) {
        surge_fail(err, SURGE_EINVAL, "target_weights",
                   WHAT ": target_weights has %zu entries, target_treeids has %zu", n, a.nt);
        goto done;
    }
    if (float_list(trees, "base_values", false, &base, &nbase, err)) goto done;
    if (nbase > 1) {
        surge_fail(err, SURGE_EINVAL, "base_values",
                   WHAT ": base_values has %zu entries: only one target is supported", nbase);
        goto done;
    }
    s->base_margin = nbase ? base[0] : 0.0f;
    s->transform = exp_node ? MODEL_TRANSFORM_EXP : MODEL_TRANSFORM_IDENTITY;
    const char *objective = metadata(model, "surge.objective");
    model_transform said;
    if (objective && (ensemble_objective_transform(objective, &said) || said != s->transform)) {
        surge_fail(err, SURGE_EINVAL, "surge.objective",
                   WHAT ": metadata surge.objective \"%.48s\" is not a supported objective %s",
                   objective, exp_node ? "with an Exp node" : "without an Exp node");
        goto done;
    }
    str_copy(s->objective, sizeof s->objective,
             objective  ? objective
             : exp_node ? "count:poisson"
                        : "reg:squarederror");
    /* XGBoost's base_score for an exp objective is exp(margin); surge's files carry the exact
     * value, since logf(expf(m)) need not give m back */
    const char *base_score = metadata(model, "surge.base_score");
    char *end = NULL;
    s->base_score = base_score ? strtof(base_score, &end) : 0;
    if (!base_score || end == base_score || *end != 0)
        s->base_score = exp_node ? expf(s->base_margin) : s->base_margin;
    const char *order = metadata(model, "surge.sum_order");
    s->base_last = !(order && strcmp(order, "base_first") == 0);

    uint32_t used = 0;
    if (build_trees(&a, s, &used, err)) goto done;

    /* features: the input's declared width, else one past the highest feature used */
    s->feature_count = used ? used : 1;
    if (g->n_input >= 1 && g->input[0]->type &&
        g->input[0]->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        const Onnx__TypeProto__Tensor *tt = g->input[0]->type->tensor_type;
        if (tt->has_elem_type && tt->elem_type != ONNX_FLOAT) {
            surge_fail(err, SURGE_EINVAL, "input",
                       WHAT ": input %s has element type %d: only float (1) is supported",
                       g->input[0]->name ? g->input[0]->name : "", tt->elem_type);
            goto done;
        }
        if (tt->shape && tt->shape->n_dim == 2 &&
            tt->shape->dim[1]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            int64_t d = tt->shape->dim[1]->dim_value;
            if (d < 1 || d > (int64_t)ENSEMBLE_FEATURES_MAX) {
                surge_fail(err, SURGE_EINVAL, "input",
                           WHAT ": input width %lld is out of range (1..%u)", (long long)d,
                           ENSEMBLE_FEATURES_MAX);
                goto done;
            }
            s->feature_count = (uint32_t)d;
        }
    }
    const char *names = metadata(model, "surge.feature_names");
    if (names) {
        json_t *arr = json_loads(names, 0, NULL);
        if (!json_is_array(arr) || json_array_size(arr) != s->feature_count) {
            json_decref(arr);
            surge_fail(err, SURGE_EINVAL, "surge.feature_names",
                       WHAT ": metadata surge.feature_names must be a JSON array of %u names",
                       s->feature_count);
            goto done;
        }
        s->feature_names = calloc(s->feature_count, sizeof *s->feature_names);
        for (size_t i = 0; s->feature_names && i < s->feature_count; i++) {
            json_t *v = json_array_get(arr, i);
            s->feature_names[i] = strdup(json_is_string(v) ? json_string_value(v) : "");
        }
        json_decref(arr);
    }
    rc = 0;
done:
    free(a.values);
    free(a.t_weights);
    free(base);
    return rc;
}

model_ensemble *model_ensemble_load_onnx(const void *data, size_t len, surge_error *err)
{
    Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, len, data);
    if (!model) {
        surge_fail(err, SURGE_EPARSE, "model",
                   WHAT ": not a valid ModelProto (%zu bytes: truncated or not protobuf)", len);
        return NULL;
    }
    ensemble_spec s;
    memset(&s, 0, sizeof s);
    int rc = read_model(model, &s, err);
    onnx__model_proto__free_unpacked(model, NULL);
    if (rc) {
        ensemble_spec_free(&s);
        return NULL;
    }
    return ensemble_build(&s, WHAT, err);
}

/* ---------------------------------------------------------------- export */

static Onnx__AttributeProto *new_attribute(const char *name,
                                           Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = malloc(sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    return a;
}

static Onnx__ValueInfoProto *
tensor_info(const char *name, int64_t width, Onnx__TypeProto *type, Onnx__TypeProto__Tensor *tensor,
            Onnx__TensorShapeProto *shape, Onnx__TensorShapeProto__Dimension dims[2],
            Onnx__TensorShapeProto__Dimension *dimp[2], Onnx__ValueInfoProto *info)
{
    onnx__value_info_proto__init(info);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tensor);
    onnx__tensor_shape_proto__init(shape);
    for (int i = 0; i < 2; i++) {
        onnx__tensor_shape_proto__dimension__init(&dims[i]);
        dimp[i] = &dims[i];
    }
    dims[0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    dims[0].dim_param = (char *)"N";
    dims[1].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    dims[1].dim_value = width;
    shape->n_dim = 2;
    shape->dim = dimp;
    tensor->has_elem_type = 1;
    tensor->elem_type = ONNX_FLOAT;
    tensor->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    info->name = (char *)name;
    info->type = type;
    return info;
}

int model_ensemble_export_onnx(const model_ensemble *m, buf *out, surge_error *err)
{
    const ensemble_spec *s = ensemble_source(m);
    size_t n = 0, leaves = 0;
    for (uint32_t t = 0; t < s->tree_count; t++) {
        n += s->trees[t].node_count;
        for (uint32_t i = 0; i < s->trees[t].node_count; i++)
            leaves += s->trees[t].nodes[i].left < 0;
    }
    size_t nn = n ? n : 1, nl = leaves ? leaves : 1;
    int64_t *treeids = malloc(sizeof(int64_t) * nn), *nodeids = malloc(sizeof(int64_t) * nn);
    int64_t *featureids = malloc(sizeof(int64_t) * nn), *trueids = malloc(sizeof(int64_t) * nn);
    int64_t *falseids = malloc(sizeof(int64_t) * nn), *missing = malloc(sizeof(int64_t) * nn);
    float *values = malloc(sizeof(float) * nn);
    ProtobufCBinaryData *modes = malloc(sizeof *modes * nn);
    int64_t *t_treeids = malloc(sizeof(int64_t) * nl), *t_nodeids = malloc(sizeof(int64_t) * nl);
    int64_t *t_ids = calloc(nl, sizeof(int64_t));
    float *t_weights = malloc(sizeof(float) * nl);
    enum {
        A_TREE,
        A_NODE,
        A_FEAT,
        A_MODE,
        A_VAL,
        A_TRUE,
        A_FALSE,
        A_MISS,
        A_TTREE,
        A_TNODE,
        A_TID,
        A_TW,
        A_BASE,
        A_NT,
        A_AGG,
        A_POST,
        A_COUNT
    };
    Onnx__AttributeProto *attrs[A_COUNT] = {0};
    int rc = -1;
    if (!treeids || !nodeids || !featureids || !trueids || !falseids || !missing || !values ||
        !modes || !t_treeids || !t_nodeids || !t_ids || !t_weights) {
        surge_fail(err, SURGE_EINTERNAL, "", "out of memory exporting ONNX");
        goto done;
    }
    size_t k = 0, l = 0;
    for (uint32_t t = 0; t < s->tree_count; t++)
        for (uint32_t i = 0; i < s->trees[t].node_count; i++, k++) {
            const ensemble_node *nd = &s->trees[t].nodes[i];
            treeids[k] = t, nodeids[k] = i;
            bool leaf = nd->left < 0;
            featureids[k] = leaf ? 0 : nd->feature;
            modes[k].data = (uint8_t *)(leaf ? "LEAF" : "BRANCH_LT");
            modes[k].len = leaf ? 4 : 9;
            values[k] = leaf ? 0 : nd->value;
            trueids[k] = leaf ? 0 : nd->left;
            falseids[k] = leaf ? 0 : nd->right;
            missing[k] = leaf ? 0 : nd->default_left;
            if (leaf) {
                t_treeids[l] = t, t_nodeids[l] = i, t_weights[l] = nd->value;
                l++;
            }
        }
    static const char *const names[A_COUNT] = {
        "nodes_treeids",      "nodes_nodeids",
        "nodes_featureids",   "nodes_modes",
        "nodes_values",       "nodes_truenodeids",
        "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids",     "target_nodeids",
        "target_ids",         "target_weights",
        "base_values",        "n_targets",
        "aggregate_function", "post_transform"};
    int64_t *ints[A_COUNT] = {[A_TREE] = treeids,    [A_NODE] = nodeids,    [A_FEAT] = featureids,
                              [A_TRUE] = trueids,    [A_FALSE] = falseids,  [A_MISS] = missing,
                              [A_TTREE] = t_treeids, [A_TNODE] = t_nodeids, [A_TID] = t_ids};
    float base = s->base_margin;
    for (int a = 0; a < A_COUNT; a++) {
        Onnx__AttributeProto__AttributeType type =
            ints[a]       ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
            : a == A_MODE ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
            : a == A_NT   ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
            : a >= A_AGG  ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
                          : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
        attrs[a] = new_attribute(names[a], type);
        if (!attrs[a]) {
            surge_fail(err, SURGE_EINTERNAL, "", "out of memory exporting ONNX");
            goto done;
        }
        bool per_leaf = a >= A_TTREE && a <= A_TW;
        if (ints[a]) {
            attrs[a]->n_ints = per_leaf ? leaves : n;
            attrs[a]->ints = ints[a];
        }
    }
    attrs[A_MODE]->n_strings = n, attrs[A_MODE]->strings = modes;
    attrs[A_VAL]->n_floats = n, attrs[A_VAL]->floats = values;
    attrs[A_TW]->n_floats = leaves, attrs[A_TW]->floats = t_weights;
    attrs[A_BASE]->n_floats = 1, attrs[A_BASE]->floats = &base;
    attrs[A_NT]->has_i = 1, attrs[A_NT]->i = 1;
    attrs[A_AGG]->has_s = 1, attrs[A_AGG]->s = (ProtobufCBinaryData){3, (uint8_t *)"SUM"};
    attrs[A_POST]->has_s = 1, attrs[A_POST]->s = (ProtobufCBinaryData){4, (uint8_t *)"NONE"};

    bool with_exp = s->transform == MODEL_TRANSFORM_EXP;
    char *in_name = (char *)"input", *margin_name = (char *)"margin";
    char *out_name = (char *)"variable";
    Onnx__NodeProto tree_node, exp_node, *nodes[2] = {&tree_node, &exp_node};
    onnx__node_proto__init(&tree_node);
    tree_node.name = (char *)"trees";
    tree_node.op_type = (char *)"TreeEnsembleRegressor";
    tree_node.domain = (char *)"ai.onnx.ml";
    tree_node.n_input = 1, tree_node.input = &in_name;
    tree_node.n_output = 1, tree_node.output = with_exp ? &margin_name : &out_name;
    tree_node.n_attribute = A_COUNT, tree_node.attribute = attrs;
    onnx__node_proto__init(&exp_node);
    exp_node.name = (char *)"exp";
    exp_node.op_type = (char *)"Exp";
    exp_node.domain = (char *)"";
    exp_node.n_input = 1, exp_node.input = &margin_name;
    exp_node.n_output = 1, exp_node.output = &out_name;

    Onnx__TypeProto types[2];
    Onnx__TypeProto__Tensor tensors[2];
    Onnx__TensorShapeProto shapes[2];
    Onnx__TensorShapeProto__Dimension dims[2][2], *dimp[2][2];
    Onnx__ValueInfoProto infos[2], *inputs[1], *outputs[1];
    inputs[0] = tensor_info("input", s->feature_count, &types[0], &tensors[0], &shapes[0], dims[0],
                            dimp[0], &infos[0]);
    outputs[0] =
        tensor_info("variable", 1, &types[1], &tensors[1], &shapes[1], dims[1], dimp[1], &infos[1]);

    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = (char *)"surge_tree_ensemble";
    graph.n_node = with_exp ? 2 : 1, graph.node = nodes;
    graph.n_input = 1, graph.input = inputs;
    graph.n_output = 1, graph.output = outputs;

    Onnx__OperatorSetIdProto opsets[2], *opsetp[2] = {&opsets[0], &opsets[1]};
    onnx__operator_set_id_proto__init(&opsets[0]);
    opsets[0].domain = (char *)"";
    opsets[0].has_version = 1, opsets[0].version = 17;
    onnx__operator_set_id_proto__init(&opsets[1]);
    opsets[1].domain = (char *)"ai.onnx.ml";
    opsets[1].has_version = 1, opsets[1].version = 3;

    /* what ONNX cannot say itself: the objective, XGBoost's summation order (so a model read
     * back sums exactly like XGBoost), XGBoost's base_score and the feature names */
    buf names_json;
    buf_init(&names_json);
    char base_score[32];
    snprintf(base_score, sizeof base_score, "%.9g", (double)s->base_score);
    Onnx__StringStringEntryProto props[4], *propp[4];
    const char *keys[4] = {"surge.objective", "surge.sum_order", "surge.base_score",
                           "surge.feature_names"};
    const char *vals[4] = {s->objective, s->base_last ? "base_last" : "base_first", base_score,
                           NULL};
    if (s->feature_names) {
        buf_putc(&names_json, '[');
        for (uint32_t f = 0; f < s->feature_count; f++) {
            if (f) buf_putc(&names_json, ',');
            json_put_string(&names_json, s->feature_names[f]);
        }
        buf_putc(&names_json, ']');
        vals[3] = names_json.data;
    }
    size_t nprops = vals[3] ? 4 : 3;
    for (size_t i = 0; i < nprops; i++) {
        onnx__string_string_entry_proto__init(&props[i]);
        props[i].key = (char *)keys[i];
        props[i].value = (char *)vals[i];
        propp[i] = &props[i];
    }

    Onnx__ModelProto model;
    onnx__model_proto__init(&model);
    model.has_ir_version = 1, model.ir_version = 8;
    model.n_opset_import = 2, model.opset_import = opsetp;
    model.producer_name = (char *)"surge";
    model.producer_version = (char *)SURGE_VERSION;
    model.graph = &graph;
    model.n_metadata_props = nprops, model.metadata_props = propp;

    size_t size = onnx__model_proto__get_packed_size(&model);
    buf_reserve(out, size);
    size_t written = onnx__model_proto__pack(&model, (uint8_t *)out->data + out->len);
    out->len += written;
    out->data[out->len] = 0;
    buf_free(&names_json);
    rc = 0;
done:
    for (int a = 0; a < A_COUNT; a++)
        free(attrs[a]);
    free(treeids), free(nodeids), free(featureids), free(trueids), free(falseids);
    free(missing), free(values), free(modes), free(t_treeids), free(t_nodeids), free(t_ids);
    free(t_weights);
    return rc;
}
