/* forecast_api.c: GET /api/v1/forecast/demand, the forecast of the version that serves the
 * caller, and the hook every model change goes through (reload, re-route, drop cached
 * prices). */
#include "api/api_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void api_models_changed(api_server *s)
{
    if (s->cfg.forecaster) {
        surge_error err;
        if (model_forecaster_reload(s->cfg.forecaster, &err))
            log_error("api", "reloading models: %s", err.message);
    }
    pricing_engine_invalidate(s->engine);
}

static void put_number(buf *o, double v)
{
    if (isfinite(v))
        json_put_double(o, v);
    else
        buf_puts(o, "null");
}

void handle_forecast_demand(api_request *r)
{
    const char *region = api_query(r, "region_id");
    const char *hs = api_query(r, "horizon");
    const char *user = api_query(r, "user_id");
    if (!region || !*region) {
        api_fail(r, SURGE_EINVAL, "region_id", "region_id is required (a geohash region)");
        return;
    }
    if (!geohash_valid(region) || strlen(region) >= STORE_REGION_ID_MAX) {
        api_fail(r, SURGE_EINVAL, "region_id", "'%.40s' is not a geohash region id", region);
        return;
    }
    long horizon = 60;
    if (hs) {
        char *end;
        horizon = strtol(hs, &end, 10);
        if (!*hs || *end || horizon < 15 || horizon > 1440 || horizon % 15) {
            api_fail(r, SURGE_EINVAL, "horizon",
                     "horizon must be minutes in 15..1440, a multiple of 15; got '%.20s'", hs);
            return;
        }
    }
    if (!pricing_engine_has_region(r->server->engine, region, NULL)) {
        api_fail(r, SURGE_ENOTFOUND, "region_id",
                 "region '%s' is not configured (list regions with GET /api/v1/admin/regions)",
                 region);
        return;
    }
    if (!r->server->cfg.forecaster) {
        api_fail(r, SURGE_EUNAVAILABLE, NULL, "forecasting is not running in this server");
        return;
    }
    model_forecast_point p[MODEL_HORIZONS_MAX];
    char version[MODEL_VERSION_MAX];
    model_features_from from;
    surge_error err;
    int n = model_forecaster_forecast(r->server->cfg.forecaster, region, user, r->now_ms, p,
                                      MODEL_HORIZONS_MAX, version, &from, &err);
    if (n < 0) {
        api_error(r, &err);
        return;
    }
    char ts[40];
    buf *o = &r->out;
    buf_puts(o, "{\"region_id\":");
    json_put_string(o, region);
    buf_puts(o, ",\"model_version\":");
    json_put_string(o, version);
    buf_puts(o, ",\"generated_at\":");
    time_format_rfc3339(r->now_ms, ts, sizeof ts);
    json_put_string(o, ts);
    buf_puts(o, ",\"horizon_min\":");
    json_put_int(o, horizon);
    buf_puts(o, ",\"features\":");
    json_put_string(o, from == MODEL_FEATURES_ONLINE_STORE ? "online_store"
                       : from == MODEL_FEATURES_RECOMPUTED ? "recomputed_from_stream"
                                                           : "none");
    buf_puts(o, ",\"points\":[");
    int written = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].horizon_min > horizon) continue;
        buf_puts(o, written++ ? ",{\"ts\":" : "{\"ts\":");
        time_format_rfc3339(p[i].origin_ms, ts, sizeof ts);
        json_put_string(o, ts);
        buf_puts(o, ",\"horizon_min\":");
        json_put_int(o, p[i].horizon_min);
        buf_puts(o, ",\"expected\":");
        put_number(o, p[i].expected);
        buf_puts(o, ",\"lower\":");
        put_number(o, p[i].lower);
        buf_puts(o, ",\"upper\":");
        put_number(o, p[i].upper);
        buf_puts(o, ",\"baseline_7d\":");
        put_number(o, p[i].baseline);
        buf_putc(o, '}');
    }
    buf_puts(o, "]}");
}

void metrics_write_models(buf *o, model_forecaster *f)
{
    model_forecaster_stats st;
    model_forecaster_get_stats(f, &st);
    buf_printf(o,
               "# HELP surge_model_forecasts_total Forecasts served (pricing and the forecast "
               "endpoint).\n"
               "# TYPE surge_model_forecasts_total counter\n"
               "surge_model_forecasts_total %llu\n"
               "# HELP surge_model_shadow_predictions_total Predictions of the shadow version, "
               "recorded and not served.\n"
               "# TYPE surge_model_shadow_predictions_total counter\n"
               "surge_model_shadow_predictions_total %llu\n"
               "# HELP surge_model_failures_total Forecasts that failed (a version could not be "
               "loaded).\n"
               "# TYPE surge_model_failures_total counter\n"
               "surge_model_failures_total %llu\n"
               "# HELP surge_model_scored_total Forecasts compared with the realised demand once "
               "their window passed (the canary guard's input).\n"
               "# TYPE surge_model_scored_total counter\n"
               "surge_model_scored_total %llu\n"
               "# HELP surge_model_pending_forecasts Forecasts waiting for their window to pass.\n"
               "# TYPE surge_model_pending_forecasts gauge\n"
               "surge_model_pending_forecasts %zu\n"
               "# HELP surge_model_mae Mean absolute error of the scored forecasts since the "
               "candidate last changed, by role.\n"
               "# TYPE surge_model_mae gauge\n"
               "surge_model_mae{role=\"live\"} %.6f\n"
               "surge_model_mae{role=\"candidate\"} %.6f\n",
               (unsigned long long)st.forecasts, (unsigned long long)st.shadow_predictions,
               (unsigned long long)st.failures, (unsigned long long)st.scored, st.pending,
               st.live.count ? st.live.abs_error_sum / (double)st.live.count : 0.0,
               st.candidate.count ? st.candidate.abs_error_sum / (double)st.candidate.count : 0.0);
}
