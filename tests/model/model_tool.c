/* model_tool.c: a test helper (not installed) that drives the evaluator from the outside, so
 * tests/integration/test_model_onnx.py can compare it with python xgboost and ONNX Runtime:
 *   model_tool info MODEL                      one JSON line: features, trees, depth, objective
 *   model_tool export-onnx MODEL OUT.onnx      writes MODEL (XGBoost JSON or ONNX) as ONNX
 *   model_tool export-xgboost-json MODEL OUT.json   ... as XGBoost JSON
 *   model_tool predict MODEL ROWS.csv [single|batch|quantized]
 *                                              one prediction per CSV row (%.9g), to stdout
 * ROWS.csv: one row of feature values per line, comma-separated; "nan" or empty = missing.
 * Errors go to stderr as "model_tool: <message>" with exit code 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static int fail(const surge_error *err)
{
    fprintf(stderr, "model_tool: %s\n", err->message);
    return 1;
}

/* Reads the CSV into a row-major float array of nfeat columns. */
static float *read_rows(const char *path, uint32_t nfeat, size_t *nrows)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return NULL;
    }
    size_t cap = 1024, n = 0;
    float *rows = malloc(sizeof *rows * cap * nfeat);
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        if (line[0] == '\n') continue;
        if (n == cap) {
            cap *= 2;
            rows = realloc(rows, sizeof *rows * cap * nfeat);
        }
        char *p = line;
        for (uint32_t c = 0; c < nfeat; c++) {
            char *end;
            float v = strtof(p, &end);
            if (end == p) v = NAN; /* empty field */
            rows[n * nfeat + c] = v;
            p = strchr(end, ',');
            if (!p && c + 1 < nfeat) {
                fprintf(stderr, "model_tool: %s line %zu has %u values, want %u\n", path, n + 1,
                        c + 1, nfeat);
                free(line);
                free(rows);
                fclose(f);
                return NULL;
            }
            if (p) p++;
        }
        n++;
    }
    free(line);
    fclose(f);
    *nrows = n;
    return rows;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: model_tool info|export-onnx|predict MODEL ...\n", stderr);
        return 2;
    }
    surge_error err = {0};
    model_ensemble *m = model_ensemble_load_file(argv[2], &err);
    if (!m) return fail(&err);
    int rc = 0;
    if (strcmp(argv[1], "info") == 0) {
        printf("{\"features\": %u, \"trees\": %u, \"max_depth\": %u, \"objective\": \"%s\", "
               "\"base_margin\": %.9g, \"quantizable\": %s}\n",
               model_ensemble_feature_count(m), model_ensemble_tree_count(m),
               model_ensemble_max_depth(m), model_ensemble_objective(m),
               (double)model_ensemble_base_margin(m),
               model_ensemble_can_quantize(m) ? "true" : "false");
    } else if ((strcmp(argv[1], "export-onnx") == 0 ||
                strcmp(argv[1], "export-xgboost-json") == 0) &&
               argc == 4) {
        buf out;
        buf_init(&out);
        if (strcmp(argv[1], "export-onnx") == 0
                ? model_ensemble_export_onnx(m, &out, &err)
                : model_ensemble_export_xgboost_json(m, &out, &err)) {
            rc = fail(&err);
        } else {
            FILE *f = fopen(argv[3], "wb");
            if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
                perror(argv[3]);
                rc = 1;
            }
        }
        buf_free(&out);
    } else if (strcmp(argv[1], "predict") == 0 && (argc == 4 || argc == 5)) {
        const char *mode = argc == 5 ? argv[4] : "single";
        uint32_t nfeat = model_ensemble_feature_count(m);
        size_t n;
        float *rows = read_rows(argv[3], nfeat, &n);
        if (!rows) {
            model_ensemble_free(m);
            return 1;
        }
        float *out = malloc(sizeof *out * (n ? n : 1));
        uint16_t *bins = malloc(sizeof *bins * nfeat);
        for (size_t r = 0; r < n;) {
            if (strcmp(mode, "batch") == 0) {
                size_t k = n - r < MODEL_ENSEMBLE_BATCH_MAX ? n - r : MODEL_ENSEMBLE_BATCH_MAX;
                model_ensemble_predict_batch(m, rows + r * nfeat, k, nfeat, out + r);
                r += k;
            } else if (strcmp(mode, "quantized") == 0) {
                if (model_ensemble_quantize_row(m, rows + r * nfeat, bins)) {
                    fputs("model_tool: the model cannot be quantized\n", stderr);
                    rc = 1;
                    break;
                }
                model_ensemble_predict_quantized(m, bins, out + r);
                r++;
            } else {
                model_ensemble_predict(m, rows + r * nfeat, out + r);
                r++;
            }
        }
        for (size_t r = 0; rc == 0 && r < n; r++)
            printf("%.9g\n", (double)out[r]);
        free(bins);
        free(out);
        free(rows);
    } else {
        fprintf(stderr, "model_tool: unknown command or arguments: %s\n", argv[1]);
        rc = 2;
    }
    model_ensemble_free(m);
    return rc;
}
