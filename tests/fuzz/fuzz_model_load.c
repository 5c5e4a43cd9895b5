/* libFuzzer target for the model loaders (src/model/xgb_json.c, onnx.c, ensemble.c): any bytes,
 * read as XGBoost JSON and as ONNX, must load or fail with a message, never crash, leak or hang;
 * a model that loads must predict, quantize and export (ONNX and XGBoost JSON), and its exports
 * must load back (the ONNX one with the same predictions). The first byte picks the loader (even:
 * JSON, odd: ONNX) so the fuzzer can keep the two corpora apart. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static void exercise(model_ensemble *m)
{
    uint32_t nf = model_ensemble_feature_count(m);
    if (nf > 4096) return; /* keep each input fast */
    float *row = malloc(sizeof *row * nf * 3);
    uint16_t *bins = malloc(sizeof *bins * nf);
    for (uint32_t f = 0; f < nf; f++) {
        row[f] = f % 3 == 0 ? NAN : (float)f - 2.5f;
        row[nf + f] = 0.0f;
        row[2 * nf + f] = f % 2 ? INFINITY : -INFINITY;
    }
    float single[3], batch[3], q;
    for (int r = 0; r < 3; r++)
        model_ensemble_predict(m, row + r * nf, &single[r]);
    model_ensemble_predict_batch(m, row, 3, nf, batch);
    for (int r = 0; r < 3; r++) {
        if (memcmp(&single[r], &batch[r], sizeof(float)) != 0) abort();
        if (model_ensemble_quantize_row(m, row + r * nf, bins) == 0) {
            model_ensemble_predict_quantized(m, bins, &q);
            if (memcmp(&single[r], &q, sizeof(float)) != 0) abort();
        }
    }
    buf out;
    buf_init(&out);
    surge_error err;
    if (model_ensemble_export_onnx(m, &out, &err) == 0) {
        model_ensemble *back = model_ensemble_load_onnx(out.data, out.len, &err);
        if (!back) abort(); /* our own export must load */
        float again;
        model_ensemble_predict(back, row, &again);
        if (memcmp(&single[0], &again, sizeof(float)) != 0) abort();
        model_ensemble_free(back);
    }
    buf_reset(&out);
    /* XGBoost JSON export: refused only for infinite thresholds; what it writes must load */
    if (model_ensemble_export_xgboost_json(m, &out, &err) == 0) {
        model_ensemble *back = model_ensemble_load_xgboost_json(out.data, out.len, &err);
        if (!back) abort();
        model_ensemble_free(back);
    }
    buf_free(&out);
    free(bins);
    free(row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    surge_error err;
    model_ensemble *m = data[0] % 2 == 0
                            ? model_ensemble_load_xgboost_json(data + 1, size - 1, &err)
                            : model_ensemble_load_onnx(data + 1, size - 1, &err);
    if (m) {
        exercise(m);
        model_ensemble_free(m);
    } else if (err.message[0] == 0) {
        abort(); /* every failure says why */
    }
    return 0;
}
