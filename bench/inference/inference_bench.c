/* inference_bench.c: the C side of bench/inference. `train` makes the benchmark's model with
 * libxgboost (fixed seed, synthetic count-like data) and the rows it is measured on; `measure`
 * times surge's evaluator (single row, batch of 32, quantized) and libxgboost's own predictor
 * (XGBoosterPredictFromDense, one thread) on the same rows, checks they agree, and prints one
 * JSON object.
 *   inference_bench train DIR [ROWS TREES DEPTH FEATURES]   -> DIR/model.json, DIR/rows.csv
 *   inference_bench measure MODEL.json ROWS.csv [REPS]      -> JSON on stdout */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

#include "model/model.h"

#define EVAL_ROWS 4096

#define XGB_CHECK(call)                                                                            \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            fprintf(stderr, "inference_bench: %s: %s\n", #call, XGBGetLastError());                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float unit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / (float)(1 << 24);
}

/* Rows like the forecaster's: hour-of-day and weekday-like integers, lags, weather; 10% NaN. */
static void make_rows(float *x, float *y, int n, int nfeat)
{
    for (int r = 0; r < n; r++) {
        float s = 0;
        for (int f = 0; f < nfeat; f++) {
            float v = f % 5 == 0 ? floorf(unit() * 24) : unit() * 100 - 20;
            x[r * nfeat + f] = unit() < 0.1f ? NAN : v;
            if (!isnan(x[r * nfeat + f]))
                s += v * (f % 3 == 0 ? 0.05f : f % 3 == 1 ? -0.02f : 0.01f);
        }
        if (y) y[r] = floorf(fabsf(s) + unit() * 4);
    }
}

static int train(const char *dir, int nrows, int trees, int depth, int nfeat)
{
    float *x = malloc(sizeof *x * (size_t)nrows * nfeat), *y = malloc(sizeof *y * nrows);
    make_rows(x, y, nrows, nfeat);
    DMatrixHandle dm;
    BoosterHandle b;
    XGB_CHECK(XGDMatrixCreateFromMat(x, nrows, nfeat, NAN, &dm));
    XGB_CHECK(XGDMatrixSetFloatInfo(dm, "label", y, nrows));
    XGB_CHECK(XGBoosterCreate(&dm, 1, &b));
    char depth_s[16];
    snprintf(depth_s, sizeof depth_s, "%d", depth);
    XGB_CHECK(XGBoosterSetParam(b, "objective", "reg:squarederror"));
    XGB_CHECK(XGBoosterSetParam(b, "max_depth", depth_s));
    XGB_CHECK(XGBoosterSetParam(b, "eta", "0.05"));
    XGB_CHECK(XGBoosterSetParam(b, "tree_method", "hist"));
    XGB_CHECK(XGBoosterSetParam(b, "min_child_weight", "0"));
    XGB_CHECK(XGBoosterSetParam(b, "seed", "1"));
    XGB_CHECK(XGBoosterSetParam(b, "verbosity", "0"));
    for (int i = 0; i < trees; i++)
        XGB_CHECK(XGBoosterUpdateOneIter(b, i, dm));
    char path[4096];
    snprintf(path, sizeof path, "%s/model.json", dir);
    XGB_CHECK(XGBoosterSaveModel(b, path));
    XGBoosterFree(b);
    XGDMatrixFree(dm);

    make_rows(x, NULL, EVAL_ROWS, nfeat);
    snprintf(path, sizeof path, "%s/rows.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    for (int r = 0; r < EVAL_ROWS; r++)
        for (int c = 0; c < nfeat; c++)
            fprintf(f, "%.9g%c", (double)x[r * nfeat + c], c + 1 < nfeat ? ',' : '\n');
    fclose(f);
    free(x);
    free(y);
    return 0;
}

static float *read_rows(const char *path, int nfeat, int *nrows)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    float *x = malloc(sizeof *x * EVAL_ROWS * nfeat);
    int n = 0;
    while (n < EVAL_ROWS) {
        int c = 0;
        for (; c < nfeat; c++) {
            char tok[64];
            if (fscanf(f, " %63[^,\n]%*c", tok) != 1) break;
            x[n * nfeat + c] = strtof(tok, NULL);
        }
        if (c < nfeat) break;
        n++;
    }
    fclose(f);
    *nrows = n;
    return x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

static volatile float sink;

/* CPU time of this thread: the machine is shared, and time the scheduler gives to other
 * processes must not count against either side. Every peer measured here runs in the calling
 * thread (libxgboost with nthread 1). */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const float *xgb_predict(BoosterHandle b, const float *rows, int n, int nfeat)
{
    char values[256];
    snprintf(values, sizeof values,
             "{\"data\": [%llu, true], \"shape\": [%d, %d], \"typestr\": \"<f4\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)rows, n, nfeat);
    static const char *predict_config = "{\"type\": 0, \"training\": false, \"iteration_begin\": "
                                        "0, \"iteration_end\": 0, \"strict_shape\": false, "
                                        "\"cache_id\": 0, \"missing\": NaN}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    XGB_CHECK(XGBoosterPredictFromDense(b, values, predict_config, NULL, &shape, &dim, &out));
    return out;
}

static int measure(const char *model_path, const char *rows_path, int reps)
{
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_file(model_path, &err);
    if (!m) {
        fprintf(stderr, "inference_bench: %s\n", err.message);
        return 1;
    }
    int nfeat = (int)model_ensemble_feature_count(m), n;
    float *rows = read_rows(rows_path, nfeat, &n);
    BoosterHandle b;
    XGB_CHECK(XGBoosterCreate(NULL, 0, &b));
    XGB_CHECK(XGBoosterLoadModel(b, model_path));
    XGB_CHECK(XGBoosterSetParam(b, "nthread", "1"));

    /* agreement on every row first */
    float *ours = malloc(sizeof *ours * n);
    const float *theirs = xgb_predict(b, rows, n, nfeat);
    double max_diff = 0;
    int exact = 0;
    for (int r = 0; r < n; r++) {
        model_ensemble_predict(m, rows + r * nfeat, &ours[r]);
        double d = fabs((double)ours[r] - theirs[r]);
        if (d > max_diff) max_diff = d;
        exact += ours[r] == theirs[r];
    }
    uint16_t *bins = malloc(sizeof *bins * (size_t)n * nfeat);
    for (int r = 0; r < n; r++)
        model_ensemble_quantize_row(m, rows + r * nfeat, bins + (size_t)r * nfeat);

    double *t = malloc(sizeof *t * reps);
    float out[MODEL_ENSEMBLE_BATCH_MAX];
    /* ours, one row at a time */
    for (int k = 0; k < reps; k++) {
        int64_t t0 = cpu_ns();
        for (int r = 0; r < n; r++) {
            model_ensemble_predict(m, rows + r * nfeat, out);
            sink = out[0];
        }
        t[k] = (double)(cpu_ns() - t0) / n;
    }
    double ours_single_ns = median(t, reps), ours_single_best_ns = t[0];
    /* ours, one row at a time, each call timed (for p99) with the monotonic clock: the thread
     * CPU clock is a system call that costs more than a prediction; so these include whatever
     * the shared machine's scheduler does to a call */
    double *each = malloc(sizeof *each * n);
    for (int r = 0; r < n; r++) {
        int64_t t0 = time_mono_ns();
        model_ensemble_predict(m, rows + r * nfeat, out);
        each[r] = (double)(time_mono_ns() - t0);
        sink = out[0];
    }
    qsort(each, n, sizeof *each, cmp_double);
    double ours_single_p50 = each[n / 2], ours_single_p99 = each[(int)(n * 0.99)];
    /* ours, batches of 32 */
    for (int k = 0; k < reps; k++) {
        int64_t t0 = cpu_ns();
        for (int r = 0; r + MODEL_ENSEMBLE_BATCH_MAX <= n; r += MODEL_ENSEMBLE_BATCH_MAX) {
            model_ensemble_predict_batch(m, rows + r * nfeat, MODEL_ENSEMBLE_BATCH_MAX, nfeat, out);
            sink = out[0];
        }
        t[k] = (double)(cpu_ns() - t0) / (n - n % MODEL_ENSEMBLE_BATCH_MAX);
    }
    double ours_batch_ns = median(t, reps), ours_batch_best_ns = t[0];
    /* ours, quantized rows (already binned) and quantize + predict */
    for (int k = 0; k < reps; k++) {
        int64_t t0 = cpu_ns();
        for (int r = 0; r < n; r++) {
            model_ensemble_predict_quantized(m, bins + (size_t)r * nfeat, out);
            sink = out[0];
        }
        t[k] = (double)(cpu_ns() - t0) / n;
    }
    double ours_quantized_ns = median(t, reps);
    uint16_t *one = malloc(sizeof *one * nfeat);
    for (int k = 0; k < reps; k++) {
        int64_t t0 = cpu_ns();
        for (int r = 0; r < n; r++) {
            model_ensemble_quantize_row(m, rows + r * nfeat, one);
            model_ensemble_predict_quantized(m, one, out);
            sink = out[0];
        }
        t[k] = (double)(cpu_ns() - t0) / n;
    }
    double ours_quantize_predict_ns = median(t, reps);

    /* libxgboost: one row per call, 32 per call, all rows in one call */
    int xreps = reps < 5 ? reps : 5, single_rows = n < 1024 ? n : 1024;
    for (int k = 0; k < xreps; k++) {
        int64_t t0 = cpu_ns();
        for (int r = 0; r < single_rows; r++)
            sink = xgb_predict(b, rows + r * nfeat, 1, nfeat)[0];
        t[k] = (double)(cpu_ns() - t0) / single_rows;
    }
    double xgb_single_ns = median(t, xreps);
    for (int k = 0; k < xreps; k++) {
        int64_t t0 = cpu_ns();
        for (int r = 0; r + 32 <= n; r += 32)
            sink = xgb_predict(b, rows + r * nfeat, 32, nfeat)[0];
        t[k] = (double)(cpu_ns() - t0) / (n - n % 32);
    }
    double xgb_batch_ns = median(t, xreps);
    for (int k = 0; k < xreps; k++) {
        int64_t t0 = cpu_ns();
        sink = xgb_predict(b, rows, n, nfeat)[0];
        t[k] = (double)(cpu_ns() - t0) / n;
    }
    double xgb_all_ns = median(t, xreps);

    printf("{\"rows\": %d, \"features\": %d, \"trees\": %u, \"max_depth\": %u, "
           "\"agree_rows_exact\": %d, \"agree_max_abs_diff\": %.3g, "
           "\"ours_single_ns\": %.1f, \"ours_single_best_ns\": %.1f, \"ours_batch32_best_ns\": "
           "%.1f, \"ours_single_p50_ns\": %.0f, \"ours_single_p99_ns\": %.0f, "
           "\"ours_batch32_ns\": %.1f, \"ours_quantized_ns\": %.1f, "
           "\"ours_quantize_predict_ns\": %.1f, \"xgb_single_ns\": %.1f, \"xgb_batch32_ns\": "
           "%.1f, \"xgb_batch_all_ns\": %.1f}\n",
           n, nfeat, model_ensemble_tree_count(m), model_ensemble_max_depth(m), exact, max_diff,
           ours_single_ns, ours_single_best_ns, ours_batch_best_ns, ours_single_p50,
           ours_single_p99, ours_batch_ns, ours_quantized_ns, ours_quantize_predict_ns,
           xgb_single_ns, xgb_batch_ns, xgb_all_ns);
    free(one);
    free(each);
    free(t);
    free(bins);
    free(ours);
    free(rows);
    XGBoosterFree(b);
    model_ensemble_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "train") == 0)
        return train(argv[2], argc > 3 ? atoi(argv[3]) : 10000, argc > 4 ? atoi(argv[4]) : 300,
                     argc > 5 ? atoi(argv[5]) : 6, argc > 6 ? atoi(argv[6]) : 30);
    if (argc >= 4 && strcmp(argv[1], "measure") == 0)
        return measure(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 15);
    fputs("usage: inference_bench train DIR [ROWS TREES DEPTH FEATURES] | measure MODEL ROWS "
          "[REPS]\n",
          stderr);
    return 2;
}
