/* forecast.c: serving forecasts. The forecaster builds a model's feature row for a region from
 * the stream's demand history and live features (the same derivations the trainer uses on a
 * history table), evaluates the per-horizon ensembles of the version that serves the user, and
 * turns the result into the pricing inputs of DESIGN §6: expected demand, conformal interval,
 * confidence and demand_score against the 7-day baseline. It also records shadow predictions
 * and scores every served forecast once its window has passed, which is what the canary guard
 * judges. */
#include "model/model.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define QUARTER_MS 900000LL
#define DAY_MS 86400000LL
#define WEEK_MS (7 * DAY_MS)
/* history read per forecast: a week and a day of quarters (the week lag, the 7-day means) */
#define HISTORY_QUARTERS (8 * 96)
#define PENDING_MAX 65536

/* One loaded version: its manifest and one ensemble per horizon. */
typedef struct loaded_model {
    char version[MODEL_VERSION_MAX];
    int nfeatures;
    char (*features)[MODEL_FEATURE_NAME_MAX];
    int64_t step_ms;
    const tz_zone *zone;
    int nhorizons;
    int horizons_min[MODEL_HORIZONS_MAX];
    double half_width[MODEL_HORIZONS_MAX];
    model_ensemble *ensembles[MODEL_HORIZONS_MAX];
} loaded_model;

/* A served forecast waiting for its window to pass (the canary guard's errors). */
typedef struct pending {
    char version[MODEL_VERSION_MAX];
    char region[STORE_REGION_ID_MAX];
    int64_t origin_ms, end_ms;
    float predicted;
} pending;

struct model_forecaster {
    store_db *db;
    char data_dir[1024];
    char name[STORE_NAME_MAX];
    stream *stream;
    feature_store *fs;
    pricing_source features; /* the online store's inputs (supply, weather, events) */
    model_router *router;
    model_lru *lru;
    pthread_mutex_t lock; /* guards pending and the shadow file */
    pending *pending;
    size_t npending;
    FILE *shadow;
    atomic_ullong forecasts, shadow_predictions, scored, failures;
};

/* ---------------------------------------------------------------- loading a version */

static void loaded_free(void *ctx, void *p)
{
    loaded_model *m = p;
    if (!m) return;
    for (int h = 0; h < m->nhorizons; h++)
        model_ensemble_free(m->ensembles[h]);
    free(m->features);
    free(m);
}

static void *loaded_load(void *ctx, const char *version, surge_error *err)
{
    model_forecaster *f = ctx;
    store_model row;
    memset(&row, 0, sizeof row);
    if (store_model_get(f->db, f->name, version, &row, err)) return NULL;
    loaded_model *m = calloc(1, sizeof *m);
    json_error_t jerr;
    json_t *man = row.manifest_json ? json_loads(row.manifest_json, 0, &jerr) : NULL;
    json_t *feats = json_object_get(man, "features"), *arts = json_object_get(man, "artifacts");
    if (!m || !man || !json_is_array(feats) || !json_is_array(arts) ||
        !json_is_integer(json_object_get(man, "step_min")) ||
        json_array_size(arts) > MODEL_HORIZONS_MAX || json_array_size(arts) == 0) {
        surge_fail(err, SURGE_EINVAL, "manifest", "model %s %s has no usable manifest", f->name,
                   version);
        goto fail;
    }
    str_copy(m->version, sizeof m->version, version);
    m->step_ms = json_integer_value(json_object_get(man, "step_min")) * 60000;
    const char *tz = json_string_value(json_object_get(man, "timezone"));
    m->zone = tz_load(tz && *tz ? tz : "UTC", err);
    if (!m->zone || m->step_ms < QUARTER_MS || m->step_ms % QUARTER_MS || m->step_ms > DAY_MS) {
        if (m->zone)
            surge_fail(err, SURGE_EINVAL, "step_min",
                       "model %s step of %lld min cannot be served: live history has 15-minute "
                       "resolution (use a multiple of 15 min up to a day)",
                       version, (long long)(m->step_ms / 60000));
        goto fail;
    }
    m->nfeatures = (int)json_array_size(feats);
    m->features = calloc((size_t)m->nfeatures + 1, sizeof *m->features);
    if (!m->features) goto fail;
    for (int i = 0; i < m->nfeatures; i++)
        str_copy(m->features[i], MODEL_FEATURE_NAME_MAX,
                 json_string_value(json_array_get(feats, (size_t)i)) ?: "");
    for (size_t h = 0; h < json_array_size(arts); h++) {
        json_t *a = json_array_get(arts, h);
        const char *file = json_string_value(json_object_get(a, "file"));
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", f->data_dir, file ? file : "");
        if (!file || !(m->ensembles[h] = model_ensemble_load_file(path, err))) goto fail;
        m->nhorizons++;
        m->horizons_min[h] = (int)json_integer_value(json_object_get(a, "horizon_min"));
        m->half_width[h] = json_number_value(json_object_get(a, "interval_half_width"));
        if (model_ensemble_feature_count(m->ensembles[h]) > (uint32_t)m->nfeatures) {
            surge_fail(err, SURGE_EINVAL, "features",
                       "model %s horizon %d reads %u features, its manifest names %d", version,
                       m->horizons_min[h], model_ensemble_feature_count(m->ensembles[h]),
                       m->nfeatures);
            goto fail;
        }
    }
    json_decref(man);
    store_model_clear(&row);
    return m;
fail:
    json_decref(man);
    store_model_clear(&row);
    loaded_free(ctx, m);
    return NULL;
}

/* A version is warmed before it serves: one prediction per horizon on a row of missing values
 * touches every tree once. */
static int loaded_warm(void *ctx, void *p, surge_error *err)
{
    loaded_model *m = p;
    float *row = malloc(((size_t)m->nfeatures + 1) * sizeof *row);
    if (!row) return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    for (int i = 0; i < m->nfeatures; i++)
        row[i] = NAN;
    for (int h = 0; h < m->nhorizons; h++) {
        float out;
        model_ensemble_predict(m->ensembles[h], row, &out);
    }
    free(row);
    return 0;
}

/* ---------------------------------------------------------------- feature rows */

/* A region's searches per quarter for the 8 days before an origin: one read of the stream (one
 * lock) per forecast, shared by the feature row and the baselines. q[i] is the quarter that
 * starts at first + i * 15 min; NAN where unknown. */
typedef struct history {
    int64_t first; /* origin - HISTORY_QUARTERS quarters */
    float q[HISTORY_QUARTERS];
} history;

static void history_read(model_forecaster *f, const char *region, int64_t origin, history *h)
{
    h->first = origin - (int64_t)HISTORY_QUARTERS * QUARTER_MS;
    if (!f->stream || stream_demand_history(f->stream, region, h->first, HISTORY_QUARTERS, h->q))
        for (int i = 0; i < HISTORY_QUARTERS; i++)
            h->q[i] = NAN;
}

/* Demand in [from, to) from the history (NAN when any quarter of it is unknown or outside). */
static double history_sum(const history *h, int64_t from, int64_t to)
{
    int64_t a = (from - h->first) / QUARTER_MS, b = (to - h->first) / QUARTER_MS;
    if (from < h->first || a >= b || b > HISTORY_QUARTERS) return NAN;
    double s = 0;
    for (int64_t i = a; i < b; i++)
        s += h->q[i];
    return s; /* NAN propagates */
}

static double mean_known(const float *v, int from, int to)
{
    double s = 0;
    int c = 0;
    for (int i = from; i < to; i++)
        if (!isnan(v[i])) {
            s += v[i];
            c++;
        }
    return c ? s / c : NAN;
}

/* Maps an exogenous column of a training table to a live feature. */
static const char *exogenous_feature(const char *name)
{
    if (strcmp(name, "temperature") == 0 || strcmp(name, "temp_c") == 0) return "weather_temp_c";
    if (strcmp(name, "precipitation") == 0 || strcmp(name, "precip_mm") == 0)
        return "weather_precip_mm";
    if (strcmp(name, "holiday") == 0) return "is_holiday";
    return name;
}

static double live_feature(const feature_set *live, const char *name)
{
    if (!live) return NAN;
    for (int i = 0; i < live->count; i++)
        if (strcmp(live->values[i].name, name) == 0) return live->values[i].value;
    return NAN;
}

/* The feature row of m for region at origin (a step boundary), as the trainer derives it from a
 * history table (src/model/train.c, docs/models.md): calendar in the model's time zone, lags and
 * means of demand per step, exogenous columns from the live features. */
static void build_row(const loaded_model *m, const history *h, int64_t origin,
                      const feature_set *live, float *row)
{
    int per_day = (int)(DAY_MS / m->step_ms), per_week = (int)(WEEK_MS / m->step_ms);
    int per_hour = (int)(3600000 / m->step_ms) > 0 ? (int)(3600000 / m->step_ms) : 1;
    int n = per_week + 1;
    float steps[8 * 96 + 1];
    if (n > (int)(sizeof steps / sizeof steps[0])) n = (int)(sizeof steps / sizeof steps[0]);
    for (int i = 0; i < n; i++) {
        int64_t start = origin - (int64_t)(n - i) * m->step_ms;
        steps[i] = (float)history_sum(h, start, start + m->step_ms);
    }
    /* steps[n - k] is the step k steps before origin */
    int hour, dow;
    tz_local_hour(m->zone, origin, &hour, &dow);
    int64_t local = origin + (int64_t)tz_offset_s(m->zone, origin) * 1000;
    int64_t minute = ((local % DAY_MS + DAY_MS) % DAY_MS) / 60000;
    double day_angle = 2 * M_PI * (double)minute / 1440.0;
    double week_angle = 2 * M_PI * (double)((dow - 1) * 1440 + minute) / 10080.0;
    for (int i = 0; i < m->nfeatures; i++) {
        const char *name = m->features[i];
        double v;
        if (strcmp(name, "hour_of_day") == 0)
            v = hour;
        else if (strcmp(name, "minute_of_day") == 0)
            v = (double)minute;
        else if (strcmp(name, "day_of_week") == 0)
            v = dow;
        else if (strcmp(name, "is_weekend") == 0)
            v = dow >= 6;
        else if (strcmp(name, "day_sin") == 0)
            v = (float)sin(day_angle);
        else if (strcmp(name, "day_cos") == 0)
            v = (float)cos(day_angle);
        else if (strcmp(name, "week_sin") == 0)
            v = (float)sin(week_angle);
        else if (strcmp(name, "week_cos") == 0)
            v = (float)cos(week_angle);
        else if (strcmp(name, "lag_1") == 0)
            v = steps[n - 1];
        else if (strcmp(name, "lag_2") == 0)
            v = steps[n - 2];
        else if (strcmp(name, "lag_1d") == 0)
            v = steps[n - per_day];
        else if (strcmp(name, "lag_1w") == 0)
            v = steps[n - per_week];
        else if (strcmp(name, "mean_1h") == 0)
            v = mean_known(steps, n - per_hour, n);
        else if (strcmp(name, "mean_1d") == 0)
            v = mean_known(steps, n - per_day, n);
        else if (strcmp(name, "mean_7d") == 0)
            v = mean_known(steps, n - per_week, n);
        else
            v = live_feature(live, exogenous_feature(name));
        row[i] = (float)v;
    }
}

/* The 7-day baseline of DESIGN §6: mean demand of the same window [origin, origin + horizon)
 * on each of the 7 previous days (NAN unless all seven are known). */
static double baseline_7d(const history *h, int64_t origin, int horizon_min)
{
    double total = 0;
    for (int d = 1; d <= 7; d++) {
        int64_t from = origin - d * DAY_MS;
        total += history_sum(h, from, from + (int64_t)horizon_min * 60000);
    }
    return total / 7.0;
}

/* ---------------------------------------------------------------- forecasting */

static void remember(model_forecaster *f, const char *version, const char *region, int64_t origin,
                     int64_t end, float predicted)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = f->npending; i-- > 0 && i + 64 >= f->npending;) {
        pending *p = &f->pending[i];
        if (p->origin_ms == origin && strcmp(p->region, region) == 0 &&
            strcmp(p->version, version) == 0) {
            pthread_mutex_unlock(&f->lock);
            return;
        }
    }
    if (f->npending < PENDING_MAX) {
        pending *p = &f->pending[f->npending++];
        str_copy(p->version, sizeof p->version, version);
        str_copy(p->region, sizeof p->region, region);
        p->origin_ms = origin;
        p->end_ms = end;
        p->predicted = predicted;
    }
    pthread_mutex_unlock(&f->lock);
}

/* Forecasts with one loaded version: points[h] for each of its horizons. */
static int predict_version(model_forecaster *f, const loaded_model *m, const char *region,
                           int64_t now_ms, const feature_set *live, model_forecast_point *points)
{
    int64_t origin = now_ms - ((now_ms % m->step_ms) + m->step_ms) % m->step_ms;
    float *row = malloc(((size_t)m->nfeatures + 1) * sizeof *row);
    history *hist = malloc(sizeof *hist);
    if (!row || !hist) {
        free(row);
        free(hist);
        return 0;
    }
    history_read(f, region, origin, hist);
    build_row(m, hist, origin, live, row);
    for (int k = 0; k < m->nhorizons; k++) {
        float y;
        model_ensemble_predict(m->ensembles[k], row, &y);
        double expected = y < 0 ? 0 : y;
        model_forecast_point *p = &points[k];
        p->origin_ms = origin;
        p->horizon_min = m->horizons_min[k];
        p->expected = expected;
        p->lower = expected - m->half_width[k] < 0 ? 0 : expected - m->half_width[k];
        p->upper = expected + m->half_width[k];
        p->baseline = baseline_7d(hist, origin, m->horizons_min[k]);
    }
    free(row);
    free(hist);
    return m->nhorizons;
}

int model_forecaster_forecast(model_forecaster *f, const char *region_id, const char *user_id,
                              int64_t now_ms, model_forecast_point *points, int max,
                              char version[MODEL_VERSION_MAX], model_features_from *from,
                              surge_error *err)
{
    if (from) *from = MODEL_FEATURES_NONE;
    char serve[MODEL_VERSION_MAX], shadow[MODEL_VERSION_MAX];
    model_router_pick(f->router, user_id ? user_id : "", serve, shadow);
    str_copy(version, MODEL_VERSION_MAX, serve);
    if (!serve[0])
        return -surge_fail(err, SURGE_ENOTFOUND, "model",
                           "no model version is live: train one (surge train) and promote it "
                           "(surge models promote VERSION)");
    loaded_model *m = model_lru_get(f->lru, serve, err);
    if (!m) {
        atomic_fetch_add(&f->failures, 1);
        return -(err->code ? (int)err->code : (int)SURGE_EINTERNAL);
    }
    /* the online store first; on a miss, recompute from the stream's state (seed) */
    feature_set *live = malloc(sizeof *live);
    model_features_from got = MODEL_FEATURES_ONLINE_STORE;
    if (live && (!f->fs || feature_store_get(f->fs, region_id, now_ms, live, err))) {
        got = f->stream && stream_features(f->stream, region_id, live) == 0
                  ? MODEL_FEATURES_RECOMPUTED
                  : MODEL_FEATURES_NONE;
        if (got == MODEL_FEATURES_NONE) {
            free(live);
            live = NULL;
        }
    }
    if (from) *from = live ? got : MODEL_FEATURES_NONE;
    model_forecast_point tmp[MODEL_HORIZONS_MAX];
    int n = predict_version(f, m, region_id, now_ms, live, tmp);
    if (n > max) n = max;
    memcpy(points, tmp, (size_t)n * sizeof *points);
    atomic_fetch_add(&f->forecasts, 1);
    if (n > 0)
        remember(f, serve, region_id, tmp[0].origin_ms,
                 tmp[0].origin_ms + (int64_t)tmp[0].horizon_min * 60000, (float)tmp[0].expected);
    if (shadow[0]) {
        loaded_model *s = model_lru_get(f->lru, shadow, err);
        model_forecast_point sp[MODEL_HORIZONS_MAX];
        if (s && predict_version(f, s, region_id, now_ms, live, sp) > 0 && n > 0) {
            atomic_fetch_add(&f->shadow_predictions, 1);
            remember(f, shadow, region_id, sp[0].origin_ms,
                     sp[0].origin_ms + (int64_t)sp[0].horizon_min * 60000, (float)sp[0].expected);
            pthread_mutex_lock(&f->lock);
            if (f->shadow)
                fprintf(f->shadow,
                        "{\"ts\":%lld,\"region_id\":\"%s\",\"origin\":%lld,\"horizon_min\":%d,"
                        "\"live_version\":\"%s\",\"live\":%.6g,\"shadow_version\":\"%s\","
                        "\"shadow\":%.6g}\n",
                        (long long)now_ms, region_id, (long long)tmp[0].origin_ms,
                        tmp[0].horizon_min, serve, tmp[0].expected, shadow, sp[0].expected);
            pthread_mutex_unlock(&f->lock);
        }
    }
    free(live);
    return n;
}

/* ---------------------------------------------------------------- the pricing source */

static const char *source_version(void *ctx, const char *region_id, const char *user_id)
{
    model_forecaster *f = ctx;
    /* the router's strings stay put until the next set; a thread-local copy keeps them
     * valid for the caller's cache key */
    static _Thread_local char serve[MODEL_VERSION_MAX];
    char shadow[MODEL_VERSION_MAX];
    model_router_pick(f->router, user_id ? user_id : "", serve, shadow);
    return serve[0] ? serve : NULL;
}

static void source_fetch(void *ctx, const char *region_id, const char *product_type,
                         const char *user_id, int64_t now_ms, pricing_inputs *out)
{
    model_forecaster *f = ctx;
    f->features.fetch(f->features.ctx, region_id, product_type, user_id, now_ms, out);
    model_forecast_point p[MODEL_HORIZONS_MAX];
    char version[MODEL_VERSION_MAX];
    surge_error err;
    if (model_forecaster_forecast(f, region_id, user_id, now_ms, p, MODEL_HORIZONS_MAX, version,
                                  NULL, &err) <= 0)
        return; /* the stream's nowcast (or the neutral value) stays, flagged as it was */
    /* the first (shortest) horizon drives the price */
    double y = p[0].expected, b = p[0].baseline;
    out->expected_demand = y;
    if (isfinite(b)) out->demand_score = y + b > 0 ? y / (y + b) : 0.5;
    double width = p[0].upper - p[0].lower;
    double conf = y > 0 ? 1.0 - width / y : 0.0;
    out->confidence = conf < 0 ? 0 : conf > 1 ? 1 : conf;
    str_copy(out->model_version, sizeof out->model_version, version);
    out->fallback &= ~(uint32_t)PRICING_FALLBACK_FORECAST;
}

pricing_source model_forecaster_source(model_forecaster *f)
{
    pricing_source s = {.fetch = source_fetch, .model_version = source_version, .ctx = f};
    return s;
}

/* ---------------------------------------------------------------- life cycle */

model_forecaster *model_forecaster_new(store_db *db, const char *data_dir, const char *name,
                                       stream *st, feature_store *fs, surge_error *err)
{
    model_forecaster *f = calloc(1, sizeof *f);
    if (!f) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    f->db = db;
    str_copy(f->data_dir, sizeof f->data_dir, data_dir);
    str_copy(f->name, sizeof f->name, name && *name ? name : "demand");
    f->stream = st;
    f->fs = fs;
    f->features = pricing_source_features(fs);
    pthread_mutex_init(&f->lock, NULL);
    f->pending = calloc(PENDING_MAX, sizeof *f->pending);
    f->router = model_router_new();
    f->lru = model_lru_new(3, loaded_load, loaded_warm, loaded_free, f);
    char path[1200];
    snprintf(path, sizeof path, "%s/models", data_dir);
    if (mkdir(path, 0755) && errno != EEXIST)
        log_warn("model", "cannot create %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/models/shadow-predictions.ndjson", data_dir);
    f->shadow = fopen(path, "a");
    if (!f->pending || !f->router || !f->lru) {
        model_forecaster_free(f);
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (model_forecaster_reload(f, err)) {
        model_forecaster_free(f);
        return NULL;
    }
    return f;
}

void model_forecaster_free(model_forecaster *f)
{
    if (!f) return;
    model_lru_free(f->lru);
    model_router_free(f->router);
    if (f->shadow) fclose(f->shadow);
    free(f->pending);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int model_forecaster_reload(model_forecaster *f, surge_error *err)
{
    if (model_registry_router_sync(f->db, f->name, f->router, err)) return err->code;
    /* warm what will serve before it takes traffic */
    char serve[MODEL_VERSION_MAX], shadow[MODEL_VERSION_MAX];
    const char *probes[] = {"", "warm-0", "warm-1", "warm-2", "warm-3"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        model_router_pick(f->router, probes[i], serve, shadow);
        surge_error lerr;
        if (serve[0] && !model_lru_get(f->lru, serve, &lerr))
            log_error("model", "cannot load model %s %s: %s", f->name, serve, lerr.message);
        if (shadow[0] && !model_lru_get(f->lru, shadow, &lerr))
            log_error("model", "cannot load model %s %s: %s", f->name, shadow, lerr.message);
    }
    return 0;
}

int model_forecaster_score(model_forecaster *f, int64_t watermark_ms)
{
    int scored = 0;
    pthread_mutex_lock(&f->lock);
    size_t keep = 0;
    for (size_t i = 0; i < f->npending; i++) {
        pending p = f->pending[i];
        if (p.end_ms > watermark_ms) {
            f->pending[keep++] = p;
            continue;
        }
        int nq = (int)((p.end_ms - p.origin_ms) / QUARTER_MS);
        float q[96];
        double actual = 0;
        bool known = nq > 0 && nq <= 96 && f->stream &&
                     stream_demand_history(f->stream, p.region, p.origin_ms, nq, q) == 0;
        for (int k = 0; known && k < nq; k++) {
            if (isnan(q[k]))
                known = false;
            else
                actual += q[k];
        }
        if (known) {
            model_router_observe(f->router, p.version, fabs(actual - p.predicted));
            scored++;
        }
    }
    f->npending = keep;
    if (f->shadow) fflush(f->shadow);
    pthread_mutex_unlock(&f->lock);
    atomic_fetch_add(&f->scored, (unsigned long long)scored);
    return scored;
}

void model_forecaster_get_stats(model_forecaster *f, model_forecaster_stats *out)
{
    out->forecasts = atomic_load(&f->forecasts);
    out->shadow_predictions = atomic_load(&f->shadow_predictions);
    out->scored = atomic_load(&f->scored);
    out->failures = atomic_load(&f->failures);
    model_router_stats(f->router, &out->live, &out->candidate);
    pthread_mutex_lock(&f->lock);
    out->pending = f->npending;
    pthread_mutex_unlock(&f->lock);
}

model_router *model_forecaster_router(model_forecaster *f)
{
    return f->router;
}

const char *model_forecaster_name(const model_forecaster *f)
{
    return f->name;
}
