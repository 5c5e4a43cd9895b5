/* xgb_json.c: XGBoost's JSON model format (Booster.save_model("m.json"), versions 1.x to 3.x):
 * reads it into the evaluator's tree description, checking every field it reads (an error names
 * the JSON path and the rule broken), and writes a model back in XGBoost 1.7's layout. */
#include "ensemble_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "XGBoost JSON"

static json_t *member(json_t *obj, const char *key, json_type type, const char *path,
                      surge_error *err)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v) {
        surge_fail(err, SURGE_EINVAL, key, WHAT ": %s.%s is missing", path, key);
        return NULL;
    }
    if (json_typeof(v) != type) {
        static const char *const names[] = {"an object", "an array", "a string", "an integer",
                                            "a number",  "true",     "false",    "null"};
        surge_fail(err, SURGE_EINVAL, key, WHAT ": %s.%s must be %s", path, key, names[type]);
        return NULL;
    }
    return v;
}

/* XGBoost writes scalar parameters as strings: "10", "5E-1", and in 2.x+ "[5E-1]". */
static int string_float(json_t *obj, const char *key, const char *path, float *out,
                        surge_error *err)
{
    json_t *v = member(obj, key, JSON_STRING, path, err);
    if (!v) return -1;
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    char tmp[64];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++, len -= 2;
    }
    if (len == 0 || len >= sizeof tmp)
        return surge_fail(err, SURGE_EINVAL, key, WHAT ": %s.%s \"%s\" is not a number", path, key,
                          json_string_value(v));
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *end;
    float f = strtof(tmp, &end);
    if (*end != 0 || end == tmp)
        return surge_fail(err, SURGE_EINVAL, key, WHAT ": %s.%s \"%s\" is not one number", path,
                          key, json_string_value(v));
    *out = f;
    return 0;
}

static int string_uint(json_t *obj, const char *key, const char *path, uint32_t max, uint32_t *out,
                       surge_error *err)
{
    json_t *v = member(obj, key, JSON_STRING, path, err);
    if (!v) return -1;
    const char *s = json_string_value(v);
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != 0 || n > max)
        return surge_fail(err, SURGE_EINVAL, key, WHAT ": %s.%s \"%s\" is not an integer in 0..%u",
                          path, key, s, max);
    *out = (uint32_t)n;
    return 0;
}

/* One of a tree's per-node arrays, which must have exactly n entries. */
static json_t *node_array(json_t *tree, const char *key, uint32_t t, size_t n, surge_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "trees[%u]", t);
    json_t *a = member(tree, key, JSON_ARRAY, path, err);
    if (!a) return NULL;
    if (json_array_size(a) != n) {
        surge_fail(err, SURGE_EINVAL, key,
                   WHAT ": trees[%u].%s has %zu entries but the tree has %zu nodes", t, key,
                   json_array_size(a), n);
        return NULL;
    }
    return a;
}

static int read_tree(json_t *tree, uint32_t t, ensemble_tree *out, surge_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "trees[%u]", t);
    json_t *left = member(tree, "left_children", JSON_ARRAY, path, err);
    if (!left) return -1;
    size_t n = json_array_size(left);
    if (n == 0 || n > ENSEMBLE_NODES_MAX)
        return surge_fail(err, SURGE_EINVAL, "left_children",
                          WHAT ": trees[%u] has %zu nodes (must be 1..%u)", t, n,
                          ENSEMBLE_NODES_MAX);
    json_t *right = node_array(tree, "right_children", t, n, err);
    json_t *index = right ? node_array(tree, "split_indices", t, n, err) : NULL;
    json_t *cond = index ? node_array(tree, "split_conditions", t, n, err) : NULL;
    json_t *dleft = cond ? node_array(tree, "default_left", t, n, err) : NULL;
    if (!dleft) return -1;
    json_t *type = json_object_get(tree, "split_type");
    if (type && (!json_is_array(type) || json_array_size(type) != n))
        return surge_fail(err, SURGE_EINVAL, "split_type",
                          WHAT ": trees[%u].split_type must be an array of %zu entries", t, n);
    json_t *tp = json_object_get(tree, "tree_param");
    json_t *leaf_vector = json_is_object(tp) ? json_object_get(tp, "size_leaf_vector") : NULL;
    if (json_is_string(leaf_vector) && strcmp(json_string_value(leaf_vector), "0") != 0 &&
        strcmp(json_string_value(leaf_vector), "1") != 0)
        return surge_fail(err, SURGE_EINVAL, "size_leaf_vector",
                          WHAT ": trees[%u] has vector leaves (size_leaf_vector %s): only "
                               "single-target models are supported",
                          t, json_string_value(leaf_vector));

    out->nodes = calloc(n, sizeof *out->nodes);
    if (!out->nodes) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
    out->node_count = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(left, i), *r = json_array_get(right, i);
        json_t *f = json_array_get(index, i), *c = json_array_get(cond, i);
        json_t *d = json_array_get(dleft, i);
        const char *bad = !json_is_integer(l)                           ? "left_children"
                          : !json_is_integer(r)                         ? "right_children"
                          : !json_is_integer(f)                         ? "split_indices"
                          : !json_is_number(c)                          ? "split_conditions"
                          : !(json_is_integer(d) || json_is_boolean(d)) ? "default_left"
                                                                        : NULL;
        if (bad)
            return surge_fail(err, SURGE_EINVAL, bad, WHAT ": trees[%u].%s[%zu] is not a %s", t,
                              bad, i, strcmp(bad, "split_conditions") ? "integer" : "number");
        json_int_t li = json_integer_value(l), ri = json_integer_value(r);
        json_int_t fi = json_integer_value(f);
        if (type && json_integer_value(json_array_get(type, i)) != 0)
            return surge_fail(err, SURGE_EINVAL, "split_type",
                              WHAT ": trees[%u] node %zu is a categorical split: only numerical "
                                   "splits are supported",
                              t, i);
        ensemble_node *nd = &out->nodes[i];
        if (li == -1 && ri == -1) {
            nd->left = nd->right = -1;
        } else {
            /* out-of-range values become an index ensemble_build rejects with the node named */
            nd->left = li < 0 || li > INT32_MAX ? INT32_MAX : (int32_t)li;
            nd->right = ri < 0 || ri > INT32_MAX ? INT32_MAX : (int32_t)ri;
            if (li == -1) nd->left = -1;
            if (ri == -1) nd->right = -1;
            if (fi < 0 || fi > (json_int_t)ENSEMBLE_FEATURES_MAX)
                return surge_fail(err, SURGE_EINVAL, "split_indices",
                                  WHAT ": trees[%u].split_indices[%zu] = %lld is out of range", t,
                                  i, (long long)fi);
            nd->feature = (uint32_t)fi;
        }
        double v = json_number_value(c);
        if (isnan(v) || (nd->left >= 0 && !isfinite((float)v) && isfinite(v)))
            return surge_fail(err, SURGE_EINVAL, "split_conditions",
                              WHAT ": trees[%u].split_conditions[%zu] is not a float", t, i);
        nd->value = (float)v;
        nd->default_left = json_is_boolean(d) ? json_is_true(d) : json_integer_value(d) != 0;
    }
    return 0;
}

static const struct {
    const char *name;
    model_transform transform;
} OBJECTIVES[] = {
    {"reg:squarederror", MODEL_TRANSFORM_IDENTITY},
    {"reg:linear", MODEL_TRANSFORM_IDENTITY},
    {"reg:squaredlogerror", MODEL_TRANSFORM_IDENTITY},
    {"reg:absoluteerror", MODEL_TRANSFORM_IDENTITY},
    {"reg:pseudohubererror", MODEL_TRANSFORM_IDENTITY},
    {"count:poisson", MODEL_TRANSFORM_EXP},
    {"reg:tweedie", MODEL_TRANSFORM_EXP},
    {"reg:gamma", MODEL_TRANSFORM_EXP},
};

int ensemble_objective_transform(const char *name, model_transform *out)
{
    for (size_t k = 0; k < sizeof OBJECTIVES / sizeof OBJECTIVES[0]; k++)
        if (strcmp(OBJECTIVES[k].name, name) == 0) {
            *out = OBJECTIVES[k].transform;
            return 0;
        }
    return -1;
}

static int read_learner(json_t *root, ensemble_spec *s, surge_error *err)
{
    json_t *learner = member(root, "learner", JSON_OBJECT, "$", err);
    if (!learner) return -1;
    json_t *param = member(learner, "learner_model_param", JSON_OBJECT, "learner", err);
    if (!param) return -1;
    const char *pp = "learner.learner_model_param";
    float base_score = 0;
    if (string_uint(param, "num_feature", pp, ENSEMBLE_FEATURES_MAX, &s->feature_count, err) ||
        string_float(param, "base_score", pp, &base_score, err))
        return -1;
    uint32_t num = 0;
    if (json_object_get(param, "num_class") &&
        (string_uint(param, "num_class", pp, UINT32_MAX, &num, err) || num > 1))
        return num > 1 ? surge_fail(err, SURGE_EINVAL, "num_class",
                                    WHAT ": %s.num_class is %u: only regression (one output) "
                                         "is supported",
                                    pp, num)
                       : -1;
    if (json_object_get(param, "num_target") &&
        (string_uint(param, "num_target", pp, UINT32_MAX, &num, err) || num > 1))
        return num > 1
                   ? surge_fail(err, SURGE_EINVAL, "num_target",
                                WHAT ": %s.num_target is %u: only one target is supported", pp, num)
                   : -1;

    json_t *objective = member(learner, "objective", JSON_OBJECT, "learner", err);
    json_t *oname =
        objective ? member(objective, "name", JSON_STRING, "learner.objective", err) : NULL;
    if (!oname) return -1;
    const char *name = json_string_value(oname);
    size_t k = 0, nobj = sizeof OBJECTIVES / sizeof OBJECTIVES[0];
    while (k < nobj && strcmp(OBJECTIVES[k].name, name) != 0)
        k++;
    if (k == nobj)
        return surge_fail(err, SURGE_EINVAL, "objective",
                          WHAT
                          ": objective \"%.60s\" is not supported (regression objectives "
                          "only: reg:squarederror, count:poisson, reg:tweedie, reg:gamma, ...)",
                          name);
    str_copy(s->objective, sizeof s->objective, name);
    s->transform = OBJECTIVES[k].transform;
    if (s->transform == MODEL_TRANSFORM_EXP) {
        if (!(base_score > 0))
            return surge_fail(err, SURGE_EINVAL, "base_score",
                              WHAT ": base_score %g must be > 0 for %s", (double)base_score, name);
        s->base_margin = logf(base_score); /* XGBoost's ProbToMargin, in float */
        s->base_score = base_score;
    } else {
        s->base_margin = base_score;
        s->base_score = base_score;
    }
    s->base_last = false;

    json_t *names = json_object_get(learner, "feature_names");
    if (names && !json_is_array(names))
        return surge_fail(err, SURGE_EINVAL, "feature_names",
                          WHAT ": learner.feature_names must be an array");
    size_t nn = json_array_size(names);
    if (nn > 0) {
        if (nn != s->feature_count)
            return surge_fail(err, SURGE_EINVAL, "feature_names",
                              WHAT ": learner.feature_names has %zu names for %u features", nn,
                              s->feature_count);
        s->feature_names = calloc(nn, sizeof *s->feature_names);
        if (!s->feature_names) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        for (size_t i = 0; i < nn; i++) {
            json_t *v = json_array_get(names, i);
            if (!json_is_string(v))
                return surge_fail(err, SURGE_EINVAL, "feature_names",
                                  WHAT ": learner.feature_names[%zu] is not a string", i);
            s->feature_names[i] = strdup(json_string_value(v));
            if (!s->feature_names[i]) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
        }
    }

    json_t *booster = member(learner, "gradient_booster", JSON_OBJECT, "learner", err);
    json_t *bname =
        booster ? member(booster, "name", JSON_STRING, "learner.gradient_booster", err) : NULL;
    if (!bname) return -1;
    if (strcmp(json_string_value(bname), "gbtree") != 0)
        return surge_fail(err, SURGE_EINVAL, "gradient_booster",
                          WHAT ": booster \"%.40s\" is not supported (gbtree only)",
                          json_string_value(bname));
    json_t *model = member(booster, "model", JSON_OBJECT, "learner.gradient_booster", err);
    json_t *trees =
        model ? member(model, "trees", JSON_ARRAY, "learner.gradient_booster.model", err) : NULL;
    if (!trees) return -1;
    size_t nt = json_array_size(trees);
    if (nt > ENSEMBLE_TREES_MAX)
        return surge_fail(err, SURGE_ETOOLARGE, "trees", WHAT ": %zu trees (limit %u)", nt,
                          ENSEMBLE_TREES_MAX);
    json_t *info = json_object_get(model, "tree_info");
    if (info && (!json_is_array(info) || json_array_size(info) != nt))
        return surge_fail(err, SURGE_EINVAL, "tree_info",
                          WHAT ": tree_info must be an array of %zu entries (one per tree)", nt);
    s->trees = calloc(nt ? nt : 1, sizeof *s->trees);
    if (!s->trees) return surge_fail(err, SURGE_EINTERNAL, "", "out of memory");
    s->tree_count = (uint32_t)nt;
    for (size_t t = 0; t < nt; t++) {
        if (info && json_integer_value(json_array_get(info, t)) != 0)
            return surge_fail(err, SURGE_EINVAL, "tree_info",
                              WHAT ": tree %zu belongs to output group %lld: only one output "
                                   "is supported",
                              t, (long long)json_integer_value(json_array_get(info, t)));
        json_t *tree = json_array_get(trees, t);
        if (!json_is_object(tree))
            return surge_fail(err, SURGE_EINVAL, "trees", WHAT ": trees[%zu] is not an object", t);
        if (read_tree(tree, (uint32_t)t, &s->trees[t], err)) return -1;
    }
    return 0;
}

model_ensemble *model_ensemble_load_xgboost_json(const void *data, size_t len, surge_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root) {
        surge_fail(err, SURGE_EPARSE, "model", WHAT ": not valid JSON at line %d column %d: %s",
                   jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    ensemble_spec s;
    memset(&s, 0, sizeof s);
    int rc = read_learner(root, &s, err);
    json_decref(root);
    if (rc) {
        ensemble_spec_free(&s);
        return NULL;
    }
    return ensemble_build(&s, WHAT, err);
}

/* ---------------------------------------------------------------- export */

/* The parameter object XGBoost 1.7's loader expects beside each objective's name. */
static const char *objective_params(const char *name)
{
    if (strcmp(name, "count:poisson") == 0)
        return ", \"poisson_regression_param\": {\"max_delta_step\": \"0.699999988\"}";
    if (strcmp(name, "reg:tweedie") == 0)
        return ", \"tweedie_regression_param\": {\"tweedie_variance_power\": \"1.5\"}";
    if (strcmp(name, "reg:pseudohubererror") == 0)
        return ", \"pseudo_huber_param\": {\"huber_slope\": \"1\"}";
    if (strcmp(name, "reg:gamma") == 0 || strcmp(name, "reg:absoluteerror") == 0) return "";
    return ", \"reg_loss_param\": {\"scale_pos_weight\": \"1\"}";
}

/* A finite float in a form XGBoost's JSON reader takes as a float (it refuses "2" where it
 * expects a float); 9 significant digits give back the same float. */
static void put_float(buf *b, float v)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.9g", (double)v);
    if (!strpbrk(tmp, ".e")) snprintf(tmp + n, sizeof tmp - (size_t)n, ".0");
    buf_puts(b, tmp);
}

int model_ensemble_export_xgboost_json(const model_ensemble *m, buf *out, surge_error *err)
{
    const ensemble_spec *s = ensemble_source(m);
    const char *objective =
        strcmp(s->objective, "reg:linear") == 0 ? "reg:squarederror" : s->objective;
    for (uint32_t t = 0; t < s->tree_count; t++)
        for (uint32_t i = 0; i < s->trees[t].node_count; i++)
            if (!isfinite(s->trees[t].nodes[i].value))
                return surge_fail(err, SURGE_EINVAL, "trees",
                                  "tree %u node %u: threshold %g cannot be written in XGBoost JSON",
                                  t, i, (double)s->trees[t].nodes[i].value);
    /* exp objectives keep base_score = exp(margin): an ONNX base value whose exp under- or
     * overflows a float has no XGBoost form that loads back */
    bool exp_objective = s->transform == MODEL_TRANSFORM_EXP;
    if (!isfinite(s->base_score) || (exp_objective && !(s->base_score > 0)))
        return surge_fail(err, SURGE_EINVAL, "base_score",
                          "base score %g (margin %g) cannot be written in XGBoost JSON for %s",
                          (double)s->base_score, (double)s->base_margin, objective);
    int32_t *parent = NULL;
    buf_puts(out, "{\"learner\": {\"attributes\": {}, \"feature_names\": [");
    for (uint32_t f = 0; s->feature_names && f < s->feature_count; f++) {
        if (f) buf_puts(out, ", ");
        json_put_string(out, s->feature_names[f]);
    }
    buf_puts(out, "], \"feature_types\": [], \"gradient_booster\": {\"model\": "
                  "{\"gbtree_model_param\": {\"num_parallel_tree\": \"1\", \"num_trees\": ");
    buf_printf(out, "\"%u\", \"size_leaf_vector\": \"0\"}, \"tree_info\": [", s->tree_count);
    for (uint32_t t = 0; t < s->tree_count; t++)
        buf_puts(out, t ? ", 0" : "0");
    buf_puts(out, "], \"trees\": [");
    for (uint32_t t = 0; t < s->tree_count; t++) {
        const ensemble_tree *tree = &s->trees[t];
        uint32_t n = tree->node_count;
        int32_t *p = realloc(parent, sizeof *parent * n);
        if (!p) {
            free(parent);
            return surge_fail(err, SURGE_EINTERNAL, "", "out of memory exporting XGBoost JSON");
        }
        parent = p;
        parent[0] = INT32_MAX; /* XGBoost's "no parent" */
        for (uint32_t i = 0; i < n; i++)
            if (tree->nodes[i].left >= 0)
                parent[tree->nodes[i].left] = parent[tree->nodes[i].right] = (int32_t)i;
        buf_puts(out, t ? ", {" : "{");
#define NODE_ARRAY(key, expr)                                                                      \
    do {                                                                                           \
        buf_puts(out, "\"" key "\": [");                                                           \
        for (uint32_t i = 0; i < n; i++) {                                                         \
            const ensemble_node *nd = &tree->nodes[i];                                             \
            (void)nd;                                                                              \
            if (i) buf_puts(out, ", ");                                                            \
            expr;                                                                                  \
        }                                                                                          \
        buf_puts(out, "], ");                                                                      \
    } while (0)
        NODE_ARRAY("base_weights", put_float(out, nd->left < 0 ? nd->value : 0.0f));
        buf_puts(out, "\"categories\": [], \"categories_nodes\": [], \"categories_segments\": [], "
                      "\"categories_sizes\": [], ");
        NODE_ARRAY("default_left", buf_putc(out, nd->left >= 0 && nd->default_left ? '1' : '0'));
        buf_printf(out, "\"id\": %u, ", t);
        NODE_ARRAY("left_children", buf_printf(out, "%d", (int)nd->left));
        NODE_ARRAY("loss_changes", buf_puts(out, "0.0"));
        NODE_ARRAY("parents", buf_printf(out, "%d", (int)parent[i]));
        NODE_ARRAY("right_children", buf_printf(out, "%d", (int)nd->right));
        NODE_ARRAY("split_conditions", put_float(out, nd->value));
        NODE_ARRAY("split_indices", buf_printf(out, "%u", nd->left >= 0 ? nd->feature : 0));
        NODE_ARRAY("split_type", buf_putc(out, '0'));
        NODE_ARRAY("sum_hessian", buf_puts(out, "0.0"));
#undef NODE_ARRAY
        buf_printf(out,
                   "\"tree_param\": {\"num_deleted\": \"0\", \"num_feature\": \"%u\", "
                   "\"num_nodes\": \"%u\", \"size_leaf_vector\": \"0\"}}",
                   s->feature_count, n);
    }
    free(parent);
    buf_puts(out, "]}, \"name\": \"gbtree\"}, \"learner_model_param\": {\"base_score\": \"");
    put_float(out, s->base_score);
    buf_printf(out,
               "\", \"boost_from_average\": \"1\", \"num_class\": \"0\", \"num_feature\": "
               "\"%u\", \"num_target\": \"1\"}, \"objective\": {\"name\": ",
               s->feature_count);
    json_put_string(out, objective);
    buf_printf(out, "%s}}, \"version\": [1, 7, 4]}\n", objective_params(objective));
    return 0;
}
