/* make_model_seeds.c: writes seed inputs for tests/fuzz/fuzz_model_load.c into a directory: a
 * few small XGBoost JSON models (a plain regression, a Poisson model, a lopsided deep tree that
 * takes the sparse layout) and surge's ONNX export of each, every file prefixed with the byte
 * that picks its loader (0 JSON, 1 ONNX).
 *   make_model_seeds DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static const char *const MODELS[] = {
    /* x0 < 2 ? (x1 < 0.5 ? 1 : 2) : 3 */
    "{\"learner\": {\"feature_names\": [\"a\", \"b\"], \"learner_model_param\": {\"num_feature\": "
    "\"2\", \"base_score\": \"5E-1\", \"num_class\": \"0\", \"num_target\": \"1\"}, "
    "\"objective\": {\"name\": \"reg:squarederror\"}, \"gradient_booster\": {\"name\": "
    "\"gbtree\", \"model\": {\"tree_info\": [0], \"trees\": [{\"left_children\": [1, 3, -1, -1, "
    "-1], \"right_children\": [2, 4, -1, -1, -1], \"split_indices\": [0, 1, 0, 0, 0], "
    "\"split_conditions\": [2.0, 0.5, 3.0, 1.0, 2.0], \"default_left\": [0, 1, 0, 0, 0], "
    "\"split_type\": [0, 0, 0, 0, 0]}]}}}, \"version\": [1, 7, 4]}",
    /* two trees, Poisson, base_score in the 2.x form */
    "{\"learner\": {\"learner_model_param\": {\"num_feature\": \"3\", \"base_score\": "
    "\"[1.5E0]\"}, \"objective\": {\"name\": \"count:poisson\"}, \"gradient_booster\": "
    "{\"name\": \"gbtree\", \"model\": {\"trees\": [{\"left_children\": [1, -1, -1], "
    "\"right_children\": [2, -1, -1], \"split_indices\": [2, 0, 0], \"split_conditions\": [0.25, "
    "-0.5, 0.75], \"default_left\": [1, 0, 0]}, {\"left_children\": [-1], \"right_children\": "
    "[-1], \"split_indices\": [0], \"split_conditions\": [0.125], \"default_left\": [0]}]}}}}",
    /* a chain of 12 splits on x0 (sparse layout) */
    "{\"learner\": {\"learner_model_param\": {\"num_feature\": \"1\", \"base_score\": \"0\"}, "
    "\"objective\": {\"name\": \"reg:squarederror\"}, \"gradient_booster\": {\"name\": "
    "\"gbtree\", \"model\": {\"trees\": [{\"left_children\": [1, 3, -1, 5, -1, 7, -1, 9, -1, 11, "
    "-1, 13, -1, 15, -1, 17, -1, 19, -1, 21, -1, 23, -1, -1, -1], \"right_children\": [2, 4, -1, "
    "6, -1, 8, -1, 10, -1, 12, -1, 14, -1, 16, -1, 18, -1, 20, -1, 22, -1, 24, -1, -1, -1], "
    "\"split_indices\": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
    "0], \"split_conditions\": [12, 11, 1, 10, 2, 9, 3, 8, 4, 7, 5, 6, 6, 5, 7, 4, 8, 3, 9, 2, 10, "
    "1, 11, 12, 13], \"default_left\": [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, "
    "1, 0, 0, 0, 0, 0]}]}}}}",
};

static int write_seed(const char *dir, const char *name, char kind, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputc(kind, f) == EOF || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: make_model_seeds DIR\n", stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++) {
        surge_error err = {0};
        model_ensemble *m = model_ensemble_load_xgboost_json(MODELS[i], strlen(MODELS[i]), &err);
        if (!m) {
            fprintf(stderr, "make_model_seeds: model %zu: %s\n", i, err.message);
            return 1;
        }
        char name[32];
        snprintf(name, sizeof name, "json-%zu", i);
        if (write_seed(argv[1], name, 0, MODELS[i], strlen(MODELS[i]))) return 1;
        buf onnx;
        buf_init(&onnx);
        if (model_ensemble_export_onnx(m, &onnx, &err)) {
            fprintf(stderr, "make_model_seeds: model %zu: %s\n", i, err.message);
            return 1;
        }
        snprintf(name, sizeof name, "onnx-%zu", i);
        if (write_seed(argv[1], name, 1, onnx.data, onnx.len)) return 1;
        buf_free(&onnx);
        model_ensemble_free(m);
    }
    return 0;
}
