/* Tests of the tree-ensemble evaluator (src/model/ensemble.c, xgb_json.c, onnx.c): models
 * trained here with libxgboost's C API on random data with missing values, then our
 * predictions compared bit for bit with XGBoosterPredictFromDense on random rows; the batch and
 * quantized paths against the single-row one; ONNX export and re-import; and the exact error
 * of each kind of malformed model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include "model/model.h"

#define XGB_OK(call)                                                                               \
    do {                                                                                           \
        if ((call) != 0) fail_msg("%s: %s", #call, XGBGetLastError());                             \
    } while (0)

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* uniform in [0, 1) */
static float rng_unit(void)
{
    return (float)(rng_next() >> 40) / (float)(1 << 24);
}

typedef struct trained {
    BoosterHandle booster;
    char *json; /* the saved model */
    size_t json_len;
} trained;

/* Trains rounds trees on nrows random rows of nfeat features (missing_share of them NaN) with
 * the given objective and depth, and saves the model as JSON. extra: more "name=value"
 * parameters or NULL. */
static trained train_model(int nrows, int nfeat, float missing_share, const char *objective,
                           int depth, int rounds, const char *const *extra)
{
    float *x = malloc(sizeof *x * (size_t)nrows * nfeat);
    float *y = malloc(sizeof *y * (size_t)nrows);
    for (int r = 0; r < nrows; r++) {
        float signal = 0;
        for (int f = 0; f < nfeat; f++) {
            float v = rng_unit() * 10 - 3;
            /* a coarse grid for some features so many rows sit exactly on thresholds */
            if (f % 3 == 0) v = floorf(v);
            x[r * nfeat + f] = rng_unit() < missing_share ? NAN : v;
            if (!isnan(x[r * nfeat + f])) signal += (f % 2 ? 1.0f : -0.5f) * v;
        }
        y[r] = fabsf(signal) + rng_unit() * 3; /* counts-like, >= 0 */
        if (strcmp(objective, "count:poisson") == 0) y[r] = floorf(y[r]);
    }
    DMatrixHandle dm;
    XGB_OK(XGDMatrixCreateFromMat(x, (bst_ulong)nrows, (bst_ulong)nfeat, NAN, &dm));
    XGB_OK(XGDMatrixSetFloatInfo(dm, "label", y, (bst_ulong)nrows));
    trained t;
    XGB_OK(XGBoosterCreate(&dm, 1, &t.booster));
    char depth_s[16];
    snprintf(depth_s, sizeof depth_s, "%d", depth);
    XGB_OK(XGBoosterSetParam(t.booster, "objective", objective));
    XGB_OK(XGBoosterSetParam(t.booster, "max_depth", depth_s));
    XGB_OK(XGBoosterSetParam(t.booster, "eta", "0.3"));
    XGB_OK(XGBoosterSetParam(t.booster, "nthread", "1"));
    XGB_OK(XGBoosterSetParam(t.booster, "seed", "7"));
    XGB_OK(XGBoosterSetParam(t.booster, "verbosity", "0"));
    for (int i = 0; extra && extra[i]; i += 2)
        XGB_OK(XGBoosterSetParam(t.booster, extra[i], extra[i + 1]));
    for (int i = 0; i < rounds; i++)
        XGB_OK(XGBoosterUpdateOneIter(t.booster, i, dm));
    bst_ulong len;
    const char *data;
    XGB_OK(XGBoosterSaveModelToBuffer(t.booster, "{\"format\": \"json\"}", &len, &data));
    t.json = malloc(len + 1);
    memcpy(t.json, data, len);
    t.json[len] = 0;
    t.json_len = len;
    XGDMatrixFree(dm);
    free(x);
    free(y);
    return t;
}

static void trained_free(trained *t)
{
    XGBoosterFree(t->booster);
    free(t->json);
}

/* XGBoost's own predictions for rows (n x nfeat) into out. */
static void xgb_predict(BoosterHandle booster, const float *rows, int n, int nfeat, float *out)
{
    char values[256];
    snprintf(values, sizeof values,
             "{\"data\": [%llu, true], \"shape\": [%d, %d], \"typestr\": \"<f4\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)rows, n, nfeat);
    const char *predict_config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false, \"cache_id\": 0, "
                                 "\"missing\": NaN}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *result;
    XGB_OK(XGBoosterPredictFromDense(booster, values, predict_config, NULL, &shape, &dim, &result));
    memcpy(out, result, sizeof *out * (size_t)n);
}

/* Random rows: a share NaN, some exactly on the grid the training data used, some far out. */
static float *random_rows(int n, int nfeat)
{
    float *rows = malloc(sizeof *rows * (size_t)n * nfeat);
    for (int i = 0; i < n * nfeat; i++) {
        float u = rng_unit();
        rows[i] = u < 0.15f   ? NAN
                  : u < 0.35f ? floorf(rng_unit() * 10 - 3)
                  : u < 0.40f ? (rng_unit() - 0.5f) * 1e6f
                              : rng_unit() * 12 - 4;
    }
    return rows;
}

static bool same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Our single, batch and quantized predictions against XGBoost on nrows random rows: all four
 * must be the same float, bit for bit. */
static void check_against_xgboost(const trained *t, const model_ensemble *m, int nfeat, int nrows)
{
    float *rows = random_rows(nrows, nfeat);
    float *want = malloc(sizeof *want * (size_t)nrows);
    xgb_predict(t->booster, rows, nrows, nfeat, want);
    uint16_t *bins = malloc(sizeof *bins * (size_t)nfeat);
    int mismatches = 0;
    double max_diff = 0;
    for (int r = 0; r < nrows; r++) {
        float got, quantized;
        model_ensemble_predict(m, rows + (size_t)r * nfeat, &got);
        assert_int_equal(model_ensemble_quantize_row(m, rows + (size_t)r * nfeat, bins), 0);
        model_ensemble_predict_quantized(m, bins, &quantized);
        if (!same_bits(got, want[r])) mismatches++;
        if (fabs((double)got - want[r]) > max_diff) max_diff = fabs((double)got - want[r]);
        if (!same_bits(got, quantized))
            fail_msg("row %d: quantized %.9g != float %.9g", r, (double)quantized, (double)got);
    }
    if (mismatches)
        fail_msg("%d of %d rows differ from XGBoost (max |diff| %g)", mismatches, nrows, max_diff);
    for (int r = 0; r + MODEL_ENSEMBLE_BATCH_MAX <= nrows; r += 29) {
        float batch[MODEL_ENSEMBLE_BATCH_MAX];
        size_t n = 1 + (size_t)r % MODEL_ENSEMBLE_BATCH_MAX;
        model_ensemble_predict_batch(m, rows + (size_t)r * nfeat, n, (size_t)nfeat, batch);
        for (size_t i = 0; i < n; i++)
            if (!same_bits(batch[i], want[r + (int)i]))
                fail_msg("batch row %zu of %zu: %.9g != %.9g", i, n, (double)batch[i],
                         (double)want[r + (int)i]);
    }
    free(bins);
    free(want);
    free(rows);
}

static void test_random_models_match_xgboost_exactly(void **state)
{
    (void)state;
    static const char *const objectives[] = {"reg:squarederror", "count:poisson", "reg:tweedie",
                                             "reg:absoluteerror"};
    for (int seed = 1; seed <= 8; seed++) {
        rng_state = 0x9E3779B97F4A7C15ull * (uint64_t)seed;
        int nfeat = 3 + seed % 9, depth = 1 + seed % 8;
        const char *objective = objectives[seed % 4];
        trained t = train_model(600, nfeat, 0.2f, objective, depth, 30, NULL);
        surge_error err = {0};
        model_ensemble *m = model_ensemble_load_xgboost_json(t.json, t.json_len, &err);
        if (!m) fail_msg("seed %d: %s", seed, err.message);
        assert_int_equal(model_ensemble_feature_count(m), nfeat);
        assert_int_equal(model_ensemble_tree_count(m), 30);
        assert_string_equal(model_ensemble_objective(m), objective);
        assert_true(model_ensemble_max_depth(m) <= (uint32_t)depth);
        assert_int_equal(model_ensemble_transform(m), seed % 4 == 1 || seed % 4 == 2
                                                          ? MODEL_TRANSFORM_EXP
                                                          : MODEL_TRANSFORM_IDENTITY);
        check_against_xgboost(&t, m, nfeat, 2000);
        model_ensemble_free(m);
        trained_free(&t);
    }
}

/* Trees deeper than 10 use the sparse layout; lossguide growth makes lopsided trees. */
static void test_deep_lossguide_trees_match_xgboost(void **state)
{
    (void)state;
    rng_state = 0xDEADBEEFCAFEull;
    static const char *const extra[] = {
        "grow_policy",      "lossguide", "max_leaves", "200", "tree_method", "hist",
        "min_child_weight", "0",         "lambda",     "0",   NULL};
    trained t = train_model(3000, 6, 0.1f, "reg:squarederror", 0, 12, extra);
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(t.json, t.json_len, &err);
    if (!m) fail_msg("%s", err.message);
    if (model_ensemble_max_depth(m) <= 10)
        fail_msg("the trees are only %u deep: the sparse layout is not exercised",
                 model_ensemble_max_depth(m));
    check_against_xgboost(&t, m, 6, 2000);
    model_ensemble_free(m);
    trained_free(&t);
}

static void test_feature_names_are_read(void **state)
{
    (void)state;
    rng_state = 42;
    trained t = train_model(200, 3, 0, "reg:squarederror", 3, 3, NULL);
    /* XGBoost's C API sets names on a DMatrix only; edit the saved JSON instead */
    const char *key = "\"feature_names\":[]";
    char *at = strstr(t.json, key);
    assert_non_null(at);
    size_t len = strlen(t.json) + 64;
    char *json = malloc(len);
    snprintf(json, len, "%.*s\"feature_names\":[\"hour\",\"rain\",\"lag_1\"]%s", (int)(at - t.json),
             t.json, at + strlen(key));
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(json, strlen(json), &err);
    if (!m) fail_msg("%s", err.message);
    assert_string_equal(model_ensemble_feature_name(m, 0), "hour");
    assert_string_equal(model_ensemble_feature_name(m, 2), "lag_1");
    assert_null(model_ensemble_feature_name(m, 3));
    model_ensemble_free(m);
    free(json);
    trained_free(&t);
}

/* ---------------------------------------------------------------- hand-written models */

/* A one-tree model: node arrays as JSON text. */
static char *tree_json(const char *left, const char *right, const char *index, const char *cond,
                       const char *dleft, const char *num_feature, const char *objective,
                       const char *base_score)
{
    char *s = malloc(4096);
    snprintf(s, 4096,
             "{\"learner\": {\"learner_model_param\": {\"num_feature\": \"%s\", \"base_score\": "
             "\"%s\", \"num_class\": \"0\"}, \"objective\": {\"name\": \"%s\"}, "
             "\"gradient_booster\": {\"name\": \"gbtree\", \"model\": {\"tree_info\": [0], "
             "\"trees\": [{\"left_children\": %s, \"right_children\": %s, \"split_indices\": "
             "%s, \"split_conditions\": %s, \"default_left\": %s}]}}}, \"version\": [1, 7, 4]}",
             num_feature, base_score, objective, left, right, index, cond, dleft);
    return s;
}

/* x0 < 2 ? (x1 < 0.5 ? 1 : 2) : 3, missing x0 goes right, missing x1 goes left */
#define GOOD_LEFT "[1, 3, -1, -1, -1]"
#define GOOD_RIGHT "[2, 4, -1, -1, -1]"
#define GOOD_INDEX "[0, 1, 0, 0, 0]"
#define GOOD_COND "[2.0, 0.5, 3.0, 1.0, 2.0]"
#define GOOD_DLEFT "[0, 1, 0, 0, 0]"

static void test_hand_written_tree_follows_xgboost_rules(void **state)
{
    (void)state;
    char *json = tree_json(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, GOOD_COND, GOOD_DLEFT, "2",
                           "reg:squarederror", "[5E-1]");
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(json, strlen(json), &err);
    if (!m) fail_msg("%s", err.message);
    struct {
        float x0, x1, want;
    } cases[] = {
        {1.0f, 0.0f, 1.5f}, /* left, left: 0.5 + 1 */
        {1.0f, 0.5f, 2.5f}, /* x1 == 0.5 is not < 0.5: right */
        {2.0f, 0.0f, 3.5f}, /* x0 == 2 goes right */
        {NAN, 0.0f, 3.5f},  /* missing x0: default right */
        {1.0f, NAN, 1.5f},  /* missing x1: default left */
        {-INFINITY, 9, 2.5f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float row[2] = {cases[i].x0, cases[i].x1}, got, q;
        uint16_t bins[2];
        model_ensemble_predict(m, row, &got);
        assert_float_equal(got, cases[i].want, 0);
        assert_int_equal(model_ensemble_quantize_row(m, row, bins), 0);
        model_ensemble_predict_quantized(m, bins, &q);
        assert_float_equal(q, cases[i].want, 0);
    }
    /* bins: feature 0 splits only at 2 -> bins 0 (< 2) and 1 (>= 2) */
    float row[2] = {5.0f, NAN};
    uint16_t bins[2];
    model_ensemble_quantize_row(m, row, bins);
    assert_int_equal(bins[0], 1);
    assert_int_equal(bins[1], MODEL_ENSEMBLE_BIN_MISSING);
    assert_float_equal(model_ensemble_base_margin(m), 0.5f, 0);
    assert_int_equal(model_ensemble_max_depth(m), 2);
    model_ensemble_free(m);
    free(json);
}

static void test_poisson_base_score_is_a_log_margin(void **state)
{
    (void)state;
    char *json = tree_json("[-1]", "[-1]", "[0]", "[0.25]", "[0]", "1", "count:poisson", "2E0");
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(json, strlen(json), &err);
    if (!m) fail_msg("%s", err.message);
    float row[1] = {0}, got;
    model_ensemble_predict(m, row, &got);
    assert_true(same_bits(got, expf(logf(2.0f) + 0.25f)));
    assert_int_equal(model_ensemble_max_depth(m), 0);
    model_ensemble_free(m);
    free(json);
}

/* Models wider than the evaluator's stack buffers (2048 features single, 8192 floats a batch)
 * take the allocating path and still agree; batches honour a stride wider than the row. */
static void test_wide_models_and_strided_batches(void **state)
{
    (void)state;
    /* x4999 < 0.5 ? (x0 < 2 ? 1 : 2) : 3; missing x4999 goes left, missing x0 right */
    char *json =
        tree_json("[1, 3, -1, -1, -1]", "[2, 4, -1, -1, -1]", "[4999, 0, 0, 0, 0]",
                  "[0.5, 2.0, 3.0, 1.0, 2.0]", "[1, 0, 0, 0, 0]", "5000", "reg:squarederror", "0");
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(json, strlen(json), &err);
    if (!m) fail_msg("%s", err.message);
    size_t nf = 5000, stride = nf + 7, n = 5;
    float *rows = malloc(sizeof *rows * stride * n);
    for (size_t i = 0; i < stride * n; i++)
        rows[i] = 100.0f; /* also the padding columns: they must never be read as features */
    float x0[5] = {1, 1, 5, NAN, 1}, xl[5] = {0, NAN, 0, 0, 7};
    float want[5] = {1, 1, 2, 2, 3};
    for (size_t r = 0; r < n; r++) {
        rows[r * stride] = x0[r];
        rows[r * stride + 4999] = xl[r];
    }
    float batch[5];
    model_ensemble_predict_batch(m, rows, n, stride, batch);
    uint16_t *bins = malloc(sizeof *bins * nf);
    for (size_t r = 0; r < n; r++) {
        float one, q;
        model_ensemble_predict(m, rows + r * stride, &one);
        assert_int_equal(model_ensemble_quantize_row(m, rows + r * stride, bins), 0);
        model_ensemble_predict_quantized(m, bins, &q);
        assert_float_equal(one, want[r], 0);
        assert_float_equal(batch[r], want[r], 0);
        assert_float_equal(q, want[r], 0);
    }
    free(bins);
    free(rows);
    model_ensemble_free(m);
    free(json);
}

/* Each malformed model fails with this exact message. */
static void expect_error(const char *json, surge_code code, const char *message)
{
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(json, strlen(json), &err);
    if (m) {
        model_ensemble_free(m);
        fail_msg("loaded, expected: %s", message);
    }
    assert_string_equal(err.message, message);
    assert_int_equal(err.code, code);
}

static void expect_tree_error(const char *left, const char *right, const char *index,
                              const char *cond, const char *dleft, const char *message)
{
    char *json = tree_json(left, right, index, cond, dleft, "2", "reg:squarederror", "5E-1");
    expect_error(json, SURGE_EINVAL, message);
    free(json);
}

static void test_malformed_json_models_fail_precisely(void **state)
{
    (void)state;
    expect_error("{\"learner\": ", SURGE_EPARSE,
                 "XGBoost JSON: not valid JSON at line 1 column 12: unexpected token near end "
                 "of file");
    expect_error("{\"version\": [1]}", SURGE_EINVAL, "XGBoost JSON: $.learner is missing");
    expect_error("{\"learner\": {\"learner_model_param\": []}}", SURGE_EINVAL,
                 "XGBoost JSON: learner.learner_model_param must be an object");
    expect_tree_error("[1, 3, -1, -1, -1]", "[2, 9, -1, -1, -1]", GOOD_INDEX, GOOD_COND, GOOD_DLEFT,
                      "XGBoost JSON tree 0 node 1: right child 9 is out of range (the tree has 5 "
                      "nodes)");
    expect_tree_error("[1, 3, -1, 0, -1]", "[2, 4, -1, 1, -1]", GOOD_INDEX, GOOD_COND, GOOD_DLEFT,
                      "XGBoost JSON tree 0 node 3: child 0 already has a parent (a cycle or a "
                      "shared subtree)");
    expect_tree_error("[1, 3, 3, -1, -1]", "[2, 4, 4, -1, -1]", GOOD_INDEX, GOOD_COND, GOOD_DLEFT,
                      "XGBoost JSON tree 0 node 2: child 3 already has a parent (a cycle or a "
                      "shared subtree)");
    expect_tree_error("[1, 3, -1, -1, -1]", "[2, -1, -1, -1, -1]", GOOD_INDEX, GOOD_COND,
                      GOOD_DLEFT,
                      "XGBoost JSON tree 0 node 1: has a left child but no right child");
    expect_tree_error("[1, 3, -1, -1, -1]", "[2, 4, -1, -1, -1]", "[0, 7, 0, 0, 0]", GOOD_COND,
                      GOOD_DLEFT,
                      "XGBoost JSON tree 0 node 1: feature index 7 is out of range (the model "
                      "has 2 features)");
    expect_tree_error(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, "[2.0, \"0.5\", 3.0, 1.0, 2.0]",
                      GOOD_DLEFT, "XGBoost JSON: trees[0].split_conditions[1] is not a number");
    expect_tree_error(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, "[2.0, 0.5, 3.0, 1.0]", GOOD_DLEFT,
                      "XGBoost JSON: trees[0].split_conditions has 4 entries but the tree has 5 "
                      "nodes");
    expect_tree_error("[1, 3, -1, -1, -1, 5]", "[2, 4, -1, -1, -1, 5]", "[0, 1, 0, 0, 0, 0]",
                      "[2.0, 0.5, 3.0, 1.0, 2.0, 1.0]", "[0, 1, 0, 0, 0, 0]",
                      "XGBoost JSON tree 0 node 5: child 5 already has a parent (a cycle or a "
                      "shared subtree)");
    expect_tree_error(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, "[2.0, 0.5, 3.0, 1e39, 2.0]", GOOD_DLEFT,
                      "XGBoost JSON tree 0 node 3: leaf value is infinite");
    char *json = tree_json(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, GOOD_COND, GOOD_DLEFT, "2",
                           "multi:softprob", "5E-1");
    expect_error(json, SURGE_EINVAL,
                 "XGBoost JSON: objective \"multi:softprob\" is not supported (regression "
                 "objectives only: reg:squarederror, count:poisson, reg:tweedie, reg:gamma, ...)");
    free(json);
    json = tree_json(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, GOOD_COND, GOOD_DLEFT, "2",
                     "reg:squarederror", "[5E-1,1]");
    expect_error(json, SURGE_EINVAL,
                 "XGBoost JSON: learner.learner_model_param.base_score \"[5E-1,1]\" is not one "
                 "number");
    free(json);
    json = tree_json(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, GOOD_COND, GOOD_DLEFT, "0",
                     "reg:squarederror", "5E-1");
    expect_error(json, SURGE_EINVAL, "XGBoost JSON model has 0 features (must be 1..1048576)");
    free(json);
}

/* ---------------------------------------------------------------- ONNX */

static void test_onnx_export_reloads_to_identical_predictions(void **state)
{
    (void)state;
    rng_state = 0x1234567ull;
    for (int k = 0; k < 2; k++) {
        const char *objective = k ? "count:poisson" : "reg:squarederror";
        trained t = train_model(500, 7, 0.2f, objective, 5, 25, NULL);
        surge_error err = {0};
        model_ensemble *m = model_ensemble_load_xgboost_json(t.json, t.json_len, &err);
        if (!m) fail_msg("%s", err.message);
        buf onnx;
        buf_init(&onnx);
        assert_int_equal(model_ensemble_export_onnx(m, &onnx, &err), 0);
        model_ensemble *back = model_ensemble_load_onnx(onnx.data, onnx.len, &err);
        if (!back) fail_msg("%s", err.message);
        assert_int_equal(model_ensemble_feature_count(back), 7);
        assert_int_equal(model_ensemble_tree_count(back), 25);
        assert_string_equal(model_ensemble_objective(back), objective);
        assert_int_equal(model_ensemble_transform(back), model_ensemble_transform(m));
        float *rows = random_rows(1000, 7);
        for (int r = 0; r < 1000; r++) {
            float a, b;
            model_ensemble_predict(m, rows + r * 7, &a);
            model_ensemble_predict(back, rows + r * 7, &b);
            if (!same_bits(a, b)) fail_msg("row %d: %.9g != %.9g", r, (double)a, (double)b);
        }
        /* also exact against XGBoost */
        check_against_xgboost(&t, back, 7, 1000);
        free(rows);
        model_ensemble_free(back);
        model_ensemble_free(m);
        buf_free(&onnx);
        trained_free(&t);
    }
}

/* XGBoost JSON written by surge loads into libxgboost, which then predicts the same floats;
 * also after a detour through surge's ONNX. */
static void test_xgboost_json_export_loads_into_xgboost(void **state)
{
    (void)state;
    static const char *const objectives[] = {
        "reg:squarederror",  "count:poisson",        "reg:tweedie",        "reg:gamma",
        "reg:absoluteerror", "reg:pseudohubererror", "reg:squaredlogerror"};
    rng_state = 0xABCDEF12345ull;
    for (size_t k = 0; k < sizeof objectives / sizeof objectives[0]; k++) {
        trained t = train_model(400, 5, 0.2f, objectives[k], 4, 12, NULL);
        surge_error err = {0};
        model_ensemble *m = model_ensemble_load_xgboost_json(t.json, t.json_len, &err);
        if (!m) fail_msg("%s: %s", objectives[k], err.message);
        buf onnx;
        buf_init(&onnx);
        assert_int_equal(model_ensemble_export_onnx(m, &onnx, &err), 0);
        model_ensemble *via_onnx = model_ensemble_load_onnx(onnx.data, onnx.len, &err);
        if (!via_onnx) fail_msg("%s: %s", objectives[k], err.message);
        const model_ensemble *sources[2] = {m, via_onnx};
        for (int v = 0; v < 2; v++) {
            buf json;
            buf_init(&json);
            assert_int_equal(model_ensemble_export_xgboost_json(sources[v], &json, &err), 0);
            trained back = {0};
            XGB_OK(XGBoosterCreate(NULL, 0, &back.booster));
            XGB_OK(XGBoosterLoadModelFromBuffer(back.booster, json.data, json.len));
            /* XGBoost's own predictions from our file, against ours */
            check_against_xgboost(&back, m, 5, 500);
            /* and our loader reads our file back */
            model_ensemble *again = model_ensemble_load_xgboost_json(json.data, json.len, &err);
            if (!again) fail_msg("%s: %s", objectives[k], err.message);
            assert_string_equal(model_ensemble_objective(again), objectives[k]);
            model_ensemble_free(again);
            XGBoosterFree(back.booster);
            buf_free(&json);
        }
        model_ensemble_free(via_onnx);
        model_ensemble_free(m);
        buf_free(&onnx);
        trained_free(&t);
    }
}

/* Every prefix of a real ONNX file fails cleanly (or, cut after the trees, loads the same
 * trees), and every single-byte corruption neither crashes nor loads a different tree count
 * silently beyond what the bytes say. */
static void test_truncated_and_corrupt_onnx_fail_cleanly(void **state)
{
    (void)state;
    rng_state = 99;
    trained t = train_model(200, 4, 0.2f, "reg:squarederror", 3, 4, NULL);
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_xgboost_json(t.json, t.json_len, &err);
    if (!m) fail_msg("%s", err.message);
    buf onnx;
    buf_init(&onnx);
    assert_int_equal(model_ensemble_export_onnx(m, &onnx, &err), 0);
    int failures = 0;
    for (size_t len = 0; len < onnx.len; len++) {
        model_ensemble *p = model_ensemble_load_onnx(onnx.data, len, &err);
        if (p) {
            assert_int_equal(model_ensemble_tree_count(p), 4);
            model_ensemble_free(p);
            continue;
        }
        failures++;
        if (strncmp(err.message, "ONNX", 4) != 0) fail_msg("prefix %zu: %s", len, err.message);
    }
    assert_true(failures > (int)onnx.len / 2);
    err = (surge_error){0};
    assert_null(model_ensemble_load_onnx(onnx.data, 10, &err));
    assert_int_equal(err.code, SURGE_EPARSE);
    assert_string_equal(err.message,
                        "ONNX: not a valid ModelProto (10 bytes: truncated or not protobuf)");
    for (size_t i = 0; i < onnx.len; i++) {
        char saved = onnx.data[i];
        onnx.data[i] = (char)(saved ^ 0x5a);
        model_ensemble *p = model_ensemble_load_onnx(onnx.data, onnx.len, &err);
        model_ensemble_free(p);
        onnx.data[i] = saved;
    }
    model_ensemble_free(m);
    buf_free(&onnx);
    trained_free(&t);
}

static void test_load_file_detects_the_format(void **state)
{
    (void)state;
    char dir[] = "/tmp/surge_model_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/model.json", dir);
    char *json = tree_json(GOOD_LEFT, GOOD_RIGHT, GOOD_INDEX, GOOD_COND, GOOD_DLEFT, "2",
                           "reg:squarederror", "5E-1");
    FILE *f = fopen(path, "w");
    fputs("\n ", f);
    fputs(json, f);
    fclose(f);
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_file(path, &err);
    if (!m) fail_msg("%s", err.message);
    buf onnx;
    buf_init(&onnx);
    assert_int_equal(model_ensemble_export_onnx(m, &onnx, &err), 0);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    f = fopen(path, "wb");
    fwrite(onnx.data, 1, onnx.len, f);
    fclose(f);
    model_ensemble *o = model_ensemble_load_file(path, &err);
    if (!o) fail_msg("%s", err.message);
    float row[2] = {1.0f, NAN}, got;
    model_ensemble_predict(o, row, &got);
    assert_float_equal(got, 1.5f, 0);
    remove(path);
    snprintf(path, sizeof path, "%s/model.json", dir);
    remove(path);
    assert_null(model_ensemble_load_file(path, &err));
    assert_int_equal(err.code, SURGE_EIO);
    char want[512];
    snprintf(want, sizeof want, "cannot open model %s: No such file or directory", path);
    assert_string_equal(err.message, want);
    rmdir(dir);
    model_ensemble_free(o);
    model_ensemble_free(m);
    buf_free(&onnx);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_models_match_xgboost_exactly),
        cmocka_unit_test(test_deep_lossguide_trees_match_xgboost),
        cmocka_unit_test(test_feature_names_are_read),
        cmocka_unit_test(test_hand_written_tree_follows_xgboost_rules),
        cmocka_unit_test(test_poisson_base_score_is_a_log_margin),
        cmocka_unit_test(test_wide_models_and_strided_batches),
        cmocka_unit_test(test_malformed_json_models_fail_precisely),
        cmocka_unit_test(test_onnx_export_reloads_to_identical_predictions),
        cmocka_unit_test(test_xgboost_json_export_loads_into_xgboost),
        cmocka_unit_test(test_truncated_and_corrupt_onnx_fail_cleanly),
        cmocka_unit_test(test_load_file_detects_the_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
