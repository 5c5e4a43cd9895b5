/* model: demand forecasting models (DESIGN §6): the tree-ensemble evaluator and its loaders,
 * training with XGBoost's C API, the model registry with its content-addressed artifacts, and
 * the rollout state machine (shadow, canary, live, rollback). */
#ifndef SURGE_MODEL_H
#define SURGE_MODEL_H

#include "../core/core.h"
#include "../pricing/pricing.h"
#include "../store/store.h"
#include "../stream/stream.h"

/* ---- evaluator */

/* surge's own tree-ensemble evaluator (docs/models.md). A model_ensemble is an immutable,
 * flattened copy of an XGBoost or ONNX TreeEnsembleRegressor model: once loaded it may be
 * shared by any number of threads without locks. Rows are float arrays of
 * model_ensemble_feature_count values; NAN marks a missing value (it follows each split's
 * default direction). Results agree with XGBoost exactly for XGBoost JSON models (go left when
 * x < threshold, sum in float32 from base_score in tree order) and with ONNX Runtime to 1e-5. */

typedef struct model_ensemble model_ensemble;

/* Largest batch model_ensemble_predict_batch takes. */
#define MODEL_ENSEMBLE_BATCH_MAX 32
/* Bin of a missing value in a quantized row. */
#define MODEL_ENSEMBLE_BIN_MISSING 0xFFFFu

/* How the summed margin becomes a prediction. */
typedef enum model_transform {
    MODEL_TRANSFORM_IDENTITY, /* reg:squarederror and the other plain regressions */
    MODEL_TRANSFORM_EXP       /* count:poisson, reg:tweedie, reg:gamma: exp(margin) */
} model_transform;

/* Loads an XGBoost JSON model (Booster.save_model("x.json"), XGBoost 1.x to 3.x): gbtree
 * booster, one target, numerical splits, objectives reg:squarederror, reg:squaredlogerror,
 * reg:absoluteerror, reg:pseudohubererror, count:poisson, reg:tweedie, reg:gamma. Bad input
 * fails with EPARSE (not JSON, truncated) or EINVAL (a field missing, of the wrong type, or
 * breaking a rule: child out of range, a cycle, a NaN threshold, a feature index >=
 * num_feature) and a message naming the tree, node and field. The caller frees the result with
 * model_ensemble_free. */
model_ensemble *model_ensemble_load_xgboost_json(const void *data, size_t len, surge_error *err);
/* Loads an ONNX model whose graph is one ai.onnx.ml TreeEnsembleRegressor (modes BRANCH_LT,
 * BRANCH_LEQ, BRANCH_GT, BRANCH_GTE and LEAF; one target; aggregate SUM; post_transform NONE),
 * optionally followed by an Exp node (how surge exports exp objectives). */
model_ensemble *model_ensemble_load_onnx(const void *data, size_t len, surge_error *err);
/* Reads a file and loads it as XGBoost JSON when its first non-blank byte is '{', else as
 * ONNX. EIO when the file cannot be read. */
model_ensemble *model_ensemble_load_file(const char *path, surge_error *err);
void model_ensemble_free(model_ensemble *m);

uint32_t model_ensemble_feature_count(const model_ensemble *m);
uint32_t model_ensemble_tree_count(const model_ensemble *m);
/* Depth of the deepest tree (0 for a model of single leaves). */
uint32_t model_ensemble_max_depth(const model_ensemble *m);
model_transform model_ensemble_transform(const model_ensemble *m);
/* The objective's name ("reg:squarederror", "count:poisson", ...); ONNX files that surge did
 * not write say "reg:squarederror" or "count:poisson" after their transform. */
const char *model_ensemble_objective(const model_ensemble *m);
/* The margin every prediction starts from (log(base_score) for exp objectives). */
float model_ensemble_base_margin(const model_ensemble *m);
/* Name of feature i, or NULL when the model has no names (or i is out of range). The string
 * lives as long as m. */
const char *model_ensemble_feature_name(const model_ensemble *m, uint32_t i);

/* One prediction for one row (feature_count floats, NAN = missing) into *out. Allocates
 * nothing for models of up to 2048 features; about 2 us for 300 trees of depth 6 on one core
 * (bench/inference). */
void model_ensemble_predict(const model_ensemble *m, const float *row, float *out);
/* n (1..MODEL_ENSEMBLE_BATCH_MAX) rows, row i at rows + i * stride floats; out[i] is exactly
 * what model_ensemble_predict gives for row i. Larger n is a programming error: rows beyond 32
 * are not evaluated and their out[] is left alone. */
void model_ensemble_predict_batch(const model_ensemble *m, const float *rows, size_t n,
                                  size_t stride, float *out);

/* The quantized path: each feature value becomes the index of its bin between the distinct
 * thresholds the model splits that feature at (uint16; MODEL_ENSEMBLE_BIN_MISSING for NAN).
 * Every split decision is the same as on the float row, so predict_quantized gives bit-for-bit
 * what predict gives. A quantized row takes 2 bytes per feature instead of 4 and can be stored
 * or cached. Available when no feature has more than 65534 distinct thresholds and the model
 * has at most 32767 features. */
bool model_ensemble_can_quantize(const model_ensemble *m);
/* Fills bins (feature_count values) from row. Returns 0, or -1 when the model cannot be
 * quantized. */
int model_ensemble_quantize_row(const model_ensemble *m, const float *row, uint16_t *bins);
void model_ensemble_predict_quantized(const model_ensemble *m, const uint16_t *bins, float *out);

/* Appends the model as an ONNX ModelProto (ir_version 8, opsets "" 17 and ai.onnx.ml 3): input
 * "input" float [N, feature_count], output "variable" float [N, 1], one TreeEnsembleRegressor
 * with BRANCH_LT splits (plus an Exp node for exp objectives). The objective and feature names
 * travel in metadata_props, so a model loaded back is the same model. */
int model_ensemble_export_onnx(const model_ensemble *m, buf *out, surge_error *err);
/* Appends the model as XGBoost JSON (the 1.7 layout, which XGBoost 1.7 to 3.x load): a model
 * that came from XGBoost JSON, directly or through surge's ONNX, predicts the same floats in
 * XGBoost; one from another ONNX file is summed in XGBoost's order (base first), a float
 * rounding away from ONNX Runtime's. */
int model_ensemble_export_xgboost_json(const model_ensemble *m, buf *out, surge_error *err);

/* ---- training */

/* Training works on a generic in-memory dataset: one row per (region, ts) with float features,
 * and per horizon a label (demand summed over [ts, ts + horizon)) and the two baselines the
 * metrics compare against. `surge train --input CSV` builds it from a history table
 * (model_dataset_from_csv); a replay of the event log can fill the same struct. */

#define MODEL_HORIZONS_MAX 8
#define MODEL_FEATURES_MAX 96
#define MODEL_FEATURE_NAME_MAX 48
#define MODEL_VERSION_MAX 32
#define MODEL_SHA256_HEX 65 /* 64 hex characters and a NUL */

typedef struct model_dataset {
    int nfeatures;
    char feature_names[MODEL_FEATURES_MAX][MODEL_FEATURE_NAME_MAX];
    int nhorizons;
    int horizons_min[MODEL_HORIZONS_MAX];
    int64_t step_ms;       /* the rows' time step (15 min, 1 h, ...) */
    size_t nrows;
    float *features;       /* nrows x nfeatures, row-major; NAN = missing */
    float *labels;         /* nrows x nhorizons; NAN when the window is not fully known */
    float *naive_week;     /* nrows x nhorizons: the same window one week earlier; NAN unknown */
    float *avg_7d;         /* nrows x nhorizons: mean of the same window on the 7 days before */
    int64_t *ts_ms;        /* nrows, the forecast origin */
    uint32_t *region;      /* nrows, index into region_ids */
    size_t nregions;
    char (*region_ids)[STORE_REGION_ID_MAX]; /* nregions */
    char timezone[STORE_NAME_MAX];           /* of the calendar features */
    char source_sha256[MODEL_SHA256_HEX];    /* of the input file; "" when not from a file */
    size_t source_rows;                      /* data rows read */
} model_dataset;

/* Frees what a dataset owns (not the struct). Safe on a zeroed struct. */
void model_dataset_free(model_dataset *d);

/* Options of the CSV reader: horizons in minutes (each a multiple of the input's step) and
 * the time zone of the calendar features ("UTC" when NULL or ""). */
typedef struct model_csv_options {
    int nhorizons;
    int horizons_min[MODEL_HORIZONS_MAX];
    const char *timezone;
    /* true when the horizons are defaults rather than asked for: those that are not a multiple
     * of the input's step are dropped (15,30,60 on hourly input train 60 only); when none is
     * left, the step itself is the horizon */
    bool drop_off_step_horizons;
} model_csv_options;

/* Reads a history table (header required; columns region_id, ts, demand and any numeric
 * exogenous columns) and derives calendar, lag and rolling features, labels and baselines
 * (docs/models.md lists them). name is used in error messages ("history.csv:12: ..."). Errors
 * name the line and column: a missing column, a non-numeric value, a bad timestamp, rows not
 * sorted by (region_id, ts) or duplicated, a ts off the step grid, a horizon that is not a
 * multiple of the step. Fills *out (free with model_dataset_free). */
int model_dataset_from_csv_text(const char *text, size_t len, const char *name,
                                const model_csv_options *opt, model_dataset *out,
                                surge_error *err);
/* The same from a file; also fills out->source_sha256 with the file's sha256. */
int model_dataset_from_csv(const char *path, const model_csv_options *opt, model_dataset *out,
                           surge_error *err);

/* Hyperparameters and the split. model_train_params_defaults fills every field. */
typedef struct model_train_params {
    int rounds;               /* boosting rounds, 200 */
    int max_depth;            /* 6 */
    double eta;               /* learning rate, 0.1 */
    double subsample;         /* 1 */
    double colsample_bytree;  /* 1 */
    double min_child_weight;  /* 1 */
    double lambda;            /* L2 regularisation, 1 */
    uint64_t seed;            /* 0 */
    int threads;              /* XGBoost nthread, 1: deterministic and polite */
    double interval;          /* conformal coverage of the prediction intervals, 0.9 */
    double calibration_fraction; /* the last part of the training time range held out to
                                  * calibrate the intervals, 0.2 */
    int64_t test_from_ms;     /* rows with ts >= this are the test tail; 0: the last 20% of
                               * the time range, on the step grid */
} model_train_params;

void model_train_params_defaults(model_train_params *p);
/* Sets one hyperparameter by name from text ("rounds", "max_depth", "eta", "subsample",
 * "colsample_bytree", "min_child_weight", "lambda", "seed", "threads", "interval",
 * "calibration_fraction"), checking its range. */
int model_train_param_set(model_train_params *p, const char *name, const char *value,
                          surge_error *err);
/* Reads a JSON object of those names (numbers) from a file. */
int model_train_params_load(model_train_params *p, const char *path, surge_error *err);
/* Writes the parameters as one JSON object. */
void model_train_params_json(const model_train_params *p, buf *out);

/* The metrics of one horizon on the test tail (rows with ts >= test_from whose label and both
 * baselines are known). */
typedef struct model_horizon_metrics {
    int horizon_min;
    size_t test_rows;
    size_t mape_rows;         /* rows with actual != 0: MAPE skips the others */
    double mape;              /* mean |e| / actual, a fraction */
    double wape;              /* sum |e| / sum actual */
    double mae;
    double mae_seasonal_naive;/* same window one week earlier */
    double mase;              /* mae / mae_seasonal_naive */
    double mae_avg_7d;        /* mean of the same window on the previous 7 days */
    double mase_avg_7d;       /* mae / mae_avg_7d */
    double interval_half_width; /* conformal quantile of |residual| on the calibration rows */
    double coverage;          /* share of test rows inside [lower, upper] */
    size_t train_rows, calibration_rows;
    char sha256[MODEL_SHA256_HEX]; /* of the booster's JSON */
} model_horizon_metrics;

/* One held-out prediction (for --predictions-out). */
typedef struct model_prediction {
    uint32_t region;
    int64_t ts_ms;
    int horizon_min;
    float actual, predicted, lower, upper;
} model_prediction;

typedef struct model_feature_score {
    char name[MODEL_FEATURE_NAME_MAX];
    double gain_share; /* this feature's share of the total split gain, 0..1 */
} model_feature_score;

typedef struct model_train_result {
    int nhorizons;
    model_horizon_metrics horizons[MODEL_HORIZONS_MAX];
    buf booster_json[MODEL_HORIZONS_MAX]; /* XGBoost JSON of each horizon's booster */
    /* importance over all horizons' boosters, sorted by gain_share descending */
    int nimportance;
    model_feature_score importance[MODEL_FEATURES_MAX];
    model_prediction *predictions; /* test rows x horizons */
    size_t npredictions;
    int64_t test_from_ms, calibration_from_ms;
    char sha256[MODEL_SHA256_HEX]; /* the version's identity: sha256 of the boosters' sha256s */
} model_train_result;

void model_train_result_free(model_train_result *r);

/* Called between boosting rounds (done of total, over all horizons) for a progress line. */
typedef void (*model_progress_fn)(void *ctx, int done, int total);

/* Trains one booster per horizon on the rows before the calibration split, calibrates the
 * intervals on the rows between it and test_from, and measures on the test tail. Same dataset
 * and parameters (threads included) give byte-identical boosters. */
int model_train(const model_dataset *d, const model_train_params *p, model_progress_fn progress,
                void *progress_ctx, model_train_result *out, surge_error *err);

/* Writes the metrics of a result, as the registry stores and `surge train --json` prints. */
void model_train_metrics_json(const model_dataset *d, const model_train_params *p,
                              const model_train_result *r, buf *out);

/* sha256 of data as 64 lower-case hex characters and a NUL. */
void model_sha256_hex(const void *data, size_t len, char out[MODEL_SHA256_HEX]);

/* ---- registry and rollout */

/* Status of a registered version. staged: trained, serves nothing. shadow: predicts beside the
 * live version, its answers are recorded, never served. canary: serves `percent` % of users.
 * live: serves everyone else. retired: serves nothing (replaced or rolled back). */
typedef enum model_status {
    MODEL_STAGED,
    MODEL_SHADOW,
    MODEL_CANARY,
    MODEL_LIVE,
    MODEL_RETIRED,
} model_status;

/* "staged", "shadow", "canary", "live", "retired" */
extern const char *const MODEL_STATUS_NAMES[5];
int model_status_parse(const char *s, model_status *out);

typedef enum model_action {
    MODEL_ACTION_PROMOTE, /* the version becomes live; the live one retires */
    MODEL_ACTION_SHADOW,  /* the version becomes the shadow candidate */
    MODEL_ACTION_CANARY,  /* the version becomes the canary candidate at percent */
    MODEL_ACTION_ROLLBACK /* drop the candidate, or else restore the previous live */
} model_action;

/* One version as the state machine sees it. */
typedef struct model_version_state {
    char version[MODEL_VERSION_MAX];
    model_status status;
    int percent;                      /* canary: 1..100; else 0 */
    char previous[MODEL_VERSION_MAX]; /* live: the version it replaced ("" none) */
} model_version_state;

/* The rollout state machine, pure (no I/O). Given every version of one model, works out what
 * action does: *nchanges entries of changes (at most 2) are the versions whose state changes,
 * with their new state. Errors (ECONFLICT, EINVAL, ENOTFOUND) say which rule the action broke.
 * Rules (docs/models.md): at most one live and one candidate (shadow or canary); promote,
 * shadow and canary take a staged, shadow, canary or retired version, never the live one;
 * canary needs a live version and 1 <= percent <= 100; rollback retires the candidate if
 * there is one, else retires the live version and makes the one it replaced live again. */
int model_rollout_plan(const model_version_state *versions, size_t n, model_action action,
                       const char *version, int percent, model_version_state *changes,
                       size_t *nchanges, surge_error *err);

/* The stable traffic bucket of a user, 0..99: fnv1a64(user_id) mod 100. A user is in a canary
 * at percent P when bucket < P, so raising P only adds users. */
int model_user_bucket(const char *user_id);

/* Realised absolute errors of one version (the canary guard's input). */
typedef struct model_error_stats {
    uint64_t count;
    double abs_error_sum;
} model_error_stats;

typedef enum model_guard_decision {
    MODEL_GUARD_WAIT,     /* fewer than min_samples on either side */
    MODEL_GUARD_ADVANCE,  /* candidate MAE <= live MAE: next step (10 -> 50 -> 100 -> live) */
    MODEL_GUARD_ROLLBACK, /* candidate MAE > live MAE */
} model_guard_decision;

/* The automatic canary guard. *next_percent is the next step of 10 -> 50 -> 100 (101 means
 * "promote to live") when the decision is ADVANCE. */
model_guard_decision model_canary_guard(int percent, const model_error_stats *live,
                                        const model_error_stats *candidate, uint64_t min_samples,
                                        int *next_percent);

/* Which versions serve, for the serving side. Thread-safe: set replaces the routing state
 * atomically (under a lock) and pick reads it. */
typedef struct model_router model_router;

model_router *model_router_new(void);
void model_router_free(model_router *r);
/* live, candidate: "" for none. percent only matters for a canary candidate. Resets the error
 * statistics when the candidate changes. */
void model_router_set(model_router *r, const char *live, const char *candidate,
                      model_status candidate_status, int percent);
/* The version that serves user_id now (into serve, "" when none), and the shadow version that
 * must also predict without being served (into shadow, "" when none). */
void model_router_pick(model_router *r, const char *user_id, char serve[MODEL_VERSION_MAX],
                       char shadow[MODEL_VERSION_MAX]);
/* Records one realised absolute error of version (live or candidate; others are ignored). */
void model_router_observe(model_router *r, const char *version, double abs_error);
/* Copies the error statistics of the live version and of the candidate. */
void model_router_stats(model_router *r, model_error_stats *live, model_error_stats *candidate);
/* Forgets them (each canary step is judged on errors observed at its own percentage). */
void model_router_reset_errors(model_router *r);

/* The most recently used loaded models (the 3 most recent versions stay loaded, DESIGN §6).
 * Values are whatever load returns (an evaluator); warm runs before a version takes traffic. */
typedef struct model_lru model_lru;
typedef void *(*model_lru_load_fn)(void *ctx, const char *version, surge_error *err);
typedef int (*model_lru_warm_fn)(void *ctx, void *model, surge_error *err);
typedef void (*model_lru_free_fn)(void *ctx, void *model);

model_lru *model_lru_new(int capacity, model_lru_load_fn load, model_lru_warm_fn warm,
                         model_lru_free_fn free_model, void *ctx);
void model_lru_free(model_lru *l);
/* The loaded and warmed model of version, loading (and evicting the least recently used)
 * when needed. The pointer stays valid until capacity later loads evict it. Thread-safe. */
void *model_lru_get(model_lru *l, const char *version, surge_error *err);
/* How many are loaded, and whether version is one of them. */
int model_lru_count(model_lru *l);
bool model_lru_contains(model_lru *l, const char *version);

/* True when s is MAJOR.MINOR.PATCH (digits, no leading zeros). */
bool model_semver_valid(const char *s);

/* The registry: rows in the relational store, artifacts under <data_dir>/models. */

/* Writes bytes to <data_dir>/models/<sha256>.json atomically (temporary file, fsync, rename);
 * an existing file of that name already holds these bytes and is left alone. */
int model_artifact_write(const char *data_dir, const void *bytes, size_t len,
                         char sha256[MODEL_SHA256_HEX], surge_error *err);

/* The next automatic version of name: 0.(highest minor + 1).0, "0.1.0" for the first. */
int model_registry_next_version(store_db *db, const char *name, char out[MODEL_VERSION_MAX],
                                surge_error *err);

/* Writes the artifacts of a trained result and registers it as staged under name and version
 * ("" picks the next one; the chosen one is written back to version). dataset_json describes
 * the input (kind, path, sha256, rows). */
int model_registry_register(store_db *db, const char *data_dir, const char *name,
                            char version[MODEL_VERSION_MAX], const model_dataset *d,
                            const model_train_params *p, const model_train_result *r,
                            const char *dataset_json, const char *actor, surge_error *err);

/* A model trained elsewhere (`surge models import`): one file, one horizon. */
typedef struct model_import_spec {
    int nfeatures;
    const char *const *features; /* the model's columns in order, by the names the forecaster
                                  * reads (docs/models.md, "Importing a model trained
                                  * elsewhere") */
    int horizon_min;             /* the window it forecasts: a multiple of step_min, <= 1440 */
    int step_min;                /* the demand step of its lag features: a multiple of 15 that
                                  * divides a day */
    double interval_half_width;  /* the conformal half-width served around it (>= 0) */
    const char *timezone;        /* of its calendar features; "UTC" when NULL or "" */
} model_import_spec;

/* Registers an already loaded model m whose file held bytes (XGBoost JSON or ONNX, stored as
 * they are at <data_dir>/models/<sha256>.json) as a staged version of name, with a manifest
 * of the shape model_registry_register writes, metrics {"imported":true} and dataset_json as
 * its dataset reference. version "" picks the next one (written back). EINVAL when spec breaks
 * a rule (feature count other than m's, an empty, long or repeated name, a step or horizon the
 * forecaster cannot serve, an unknown time zone, a negative half-width), ECONFLICT when the
 * version exists. m and bytes stay the caller's. */
int model_registry_import(store_db *db, const char *data_dir, const char *name,
                          char version[MODEL_VERSION_MAX], const model_ensemble *m,
                          const void *bytes, size_t len, const model_import_spec *spec,
                          const char *dataset_json, const char *actor, surge_error *err);

/* Applies a rollout action to the registry (one transaction). The versions that changed are
 * written to changed (up to 2) with their new state; *nchanged says how many. */
int model_registry_apply(store_db *db, const char *name, model_action action,
                         const char *version, int percent, const char *actor,
                         model_version_state *changed, size_t *nchanged, surge_error *err);

/* Writes one registry row as JSON (the admin API's and `surge models show --json`'s form). */
void model_registry_row_json(const store_model *m, buf *out);

/* Points router at the registry's live version and candidate of name (call at start and on
 * every model_update). */
int model_registry_router_sync(store_db *db, const char *name, model_router *router,
                               surge_error *err);

/* One step of the automatic canary guard for name: reads the router's error statistics and,
 * when the guard decides, moves the canary to its next percentage, promotes it (after 100 %)
 * or rolls it back, then re-syncs the router and resets its error statistics. *decision says
 * what happened (WAIT when there is no canary); changed/nchanged as model_registry_apply. */
int model_registry_guard_step(store_db *db, const char *name, model_router *router,
                              uint64_t min_samples, const char *actor,
                              model_guard_decision *decision, model_version_state *changed,
                              size_t *nchanged, surge_error *err);

/* ---- serving: the forecaster (forecast.c) */

/* Forecasts for the pricing engine and GET /api/v1/forecast/demand. It builds each served
 * version's feature row from the stream's demand history and live features with the trainer's
 * derivations (docs/models.md), keeps the 3 most recent versions loaded (warmed before they
 * serve), routes users by model_router (canary, shadow), records shadow predictions in
 * <data_dir>/models/shadow-predictions.ndjson and scores served forecasts once their window has
 * passed (the canary guard's errors). Thread-safe. */
typedef struct model_forecaster model_forecaster;

typedef struct model_forecast_point {
    int64_t origin_ms;   /* the step the forecast starts at (now rounded down to the step) */
    int horizon_min;     /* it covers [origin, origin + horizon) */
    double expected;     /* forecast requests in that window */
    double lower, upper; /* conformal interval */
    double baseline;     /* mean of the same window over the 7 previous days; NAN unknown */
} model_forecast_point;

/* st and fs may be NULL (no live history: lags are missing). db and the others are borrowed. */
model_forecaster *model_forecaster_new(store_db *db, const char *data_dir, const char *name,
                                       stream *st, feature_store *fs, surge_error *err);
void model_forecaster_free(model_forecaster *f);
/* Re-reads which versions serve from the registry and warms them (at start and after every
 * model change). */
int model_forecaster_reload(model_forecaster *f, surge_error *err);
/* Where a forecast's live features came from: the online store, recomputed from the stream's
 * state on a miss (the seed's fallback), or nowhere (lags and calendar only). */
typedef enum model_features_from {
    MODEL_FEATURES_ONLINE_STORE,
    MODEL_FEATURES_RECOMPUTED,
    MODEL_FEATURES_NONE
} model_features_from;

/* The forecast of the version that serves user_id (NULL or "": the live one), one point per
 * horizon of the model (at most max). Returns the count, or minus an error code (ENOTFOUND
 * when no version is live; err filled). version receives the version used; *from (if not NULL)
 * where the live features came from. */
int model_forecaster_forecast(model_forecaster *f, const char *region_id, const char *user_id,
                              int64_t now_ms, model_forecast_point *points, int max,
                              char version[MODEL_VERSION_MAX], model_features_from *from,
                              surge_error *err);
/* The pricing source that adds the forecast (expected demand, demand_score against the 7-day
 * baseline, confidence = 1 - relative interval width) to the online features. */
pricing_source model_forecaster_source(model_forecaster *f);
/* Scores the served and shadow forecasts whose window ended before watermark_ms against the
 * realised demand (into the router's error statistics). Returns how many were scored. */
int model_forecaster_score(model_forecaster *f, int64_t watermark_ms);

typedef struct model_forecaster_stats {
    uint64_t forecasts, shadow_predictions, scored, failures;
    size_t pending;
    model_error_stats live, candidate;
} model_forecaster_stats;
void model_forecaster_get_stats(model_forecaster *f, model_forecaster_stats *out);
model_router *model_forecaster_router(model_forecaster *f);
const char *model_forecaster_name(const model_forecaster *f);

#endif
