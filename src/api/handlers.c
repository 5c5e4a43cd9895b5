/* handlers.c: the public endpoints: health, readiness, metrics, compute, explain and features,
 * plus the strict JSON field readers every handler uses for precise 4xx messages. */
#include "api_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- JSON field readers */

int jin_check_keys(json_t *obj, const char *const *allowed, const char *where, surge_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, key) == 0;
        if (!ok) {
            char list[512] = "";
            for (const char *const *a = allowed; *a; a++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", *a);
            }
            return surge_fail(err, SURGE_EINVAL, key, "unknown field '%.64s' in %s (allowed: %s)",
                              key, where, list);
        }
    }
    return 0;
}

int jin_string(json_t *obj, const char *key, bool required, char *out, size_t cap,
               surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return surge_fail(err, SURGE_EINVAL, key, "field '%s' is required", key);
        return 0;
    }
    if (!json_is_string(v))
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' must be a string", key);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len >= cap)
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' is longer than %zu characters",
                          key, cap - 1);
    if (memchr(s, 0, len))
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' must not contain NUL characters",
                          key);
    if (required && len == 0)
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' must not be empty", key);
    memcpy(out, s, len + 1);
    return 0;
}

int jin_number(json_t *obj, const char *key, bool required, double min, double max,
               double *out, surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return surge_fail(err, SURGE_EINVAL, key, "field '%s' is required", key);
        return 0;
    }
    if (!json_is_number(v))
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' must be a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' = %g is out of range [%g, %g]",
                          key, d, min, max);
    *out = d;
    return 0;
}

int jin_bool(json_t *obj, const char *key, bool required, bool *out, surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return surge_fail(err, SURGE_EINVAL, key, "field '%s' is required", key);
        return 0;
    }
    if (!json_is_boolean(v))
        return surge_fail(err, SURGE_EINVAL, key, "field '%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int jin_time(json_t *obj, const char *key, bool required, int64_t *out_ms, surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return surge_fail(err, SURGE_EINVAL, key, "field '%s' is required", key);
        return 0;
    }
    if (json_is_integer(v)) {
        json_int_t ms = json_integer_value(v);
        if (ms < 0 || ms > 253402300799999LL)
            return surge_fail(err, SURGE_EINVAL, key,
                              "field '%s' must be epoch milliseconds between 1970 and 9999", key);
        *out_ms = ms;
        return 0;
    }
    if (!json_is_string(v) || time_parse(json_string_value(v), out_ms) ||
        *out_ms < 0 || *out_ms > 253402300799999LL)
        return surge_fail(err, SURGE_EINVAL, key,
                          "field '%s' must be an RFC 3339 time (2026-01-11T10:32:00Z) or epoch "
                          "milliseconds",
                          key);
    return 0;
}

/* ---------------------------------------------------------------- health and metrics */

void handle_healthz(api_request *r)
{
    buf_puts(&r->out, "{\"status\":\"ok\",\"version\":\"" SURGE_VERSION "\"}");
}

void handle_readyz(api_request *r)
{
    surge_error err;
    bool ready = atomic_load(&r->server->ready);
    bool db_ok = store_db_ping(r->server->db, &err) == 0;
    pricing_stats ps;
    pricing_engine_stats(r->server->engine, &ps);
    r->status = ready && db_ok ? 200 : 503;
    buf_puts(&r->out, "{\"status\":");
    json_put_string(&r->out, r->status == 200 ? "ready" : "not_ready");
    buf_puts(&r->out, ",\"checks\":{\"server\":");
    json_put_string(&r->out, ready ? "ok" : "starting or stopping");
    buf_puts(&r->out, ",\"db\":");
    json_put_string(&r->out, db_ok ? "ok" : err.message);
    buf_puts(&r->out, ",\"audit_queue_depth\":");
    json_put_int(&r->out, (int64_t)ps.audit_queue_depth);
    buf_puts(&r->out, "}}");
}

void handle_metrics(api_request *r)
{
    static const char *names[METRIC_ROUTES_MAX], *methods[METRIC_ROUTES_MAX];
    for (int i = 0; i < API_NROUTES; i++) {
        names[i] = API_ROUTES[i].pattern;
        methods[i] = API_ROUTES[i].method;
    }
    names[API_NROUTES] = "unmatched";
    methods[API_NROUTES] = "";
    pricing_stats ps;
    pricing_engine_stats(r->server->engine, &ps);
    metrics_write(&r->out, API_NROUTES, names, methods, &ps, r->server->start_ms);
    buf *o = &r->out;
    if (r->server->ingest) {
        ingest_stats is;
        ingest_get_stats(r->server->ingest, &is);
        buf_printf(o,
                   "# HELP surge_events_total Events received by POST /api/v1/events, by outcome.\n"
                   "# TYPE surge_events_total counter\n"
                   "surge_events_total{status=\"accepted\"} %llu\n"
                   "surge_events_total{status=\"duplicate\"} %llu\n"
                   "surge_events_total{status=\"rejected\"} %llu\n"
                   "surge_events_total{status=\"rate_limited\"} %llu\n"
                   "# HELP surge_ingest_dedup_entries Slots of the dedup tables in use: remembered event ids, "
                   "plus expired ones until their table is next rebuilt.\n"
                   "# TYPE surge_ingest_dedup_entries gauge\n"
                   "surge_ingest_dedup_entries %llu\n"
                   "# HELP surge_ingest_dedup_window_seconds Window duplicates are caught in (less "
                   "than configured when ingest.dedup_max_entries was reached).\n"
                   "# TYPE surge_ingest_dedup_window_seconds gauge\n"
                   "surge_ingest_dedup_window_seconds %.3f\n",
                   (unsigned long long)is.accepted, (unsigned long long)is.duplicates,
                   (unsigned long long)is.rejected, (unsigned long long)is.rate_limited,
                   (unsigned long long)is.dedup_entries, is.dedup_window_effective_ms / 1000.0);
    }
    if (r->server->cfg.stream) metrics_write_stream(o, r->server->cfg.stream);
    if (r->server->cfg.forecaster) metrics_write_models(o, r->server->cfg.forecaster);
    if (r->server->bus) {
        bus_stats bs;
        bus_recovery_report rr;
        bus_get_stats(r->server->bus, &bs);
        bus_recovery(r->server->bus, &rr);
        buf_printf(o,
                   "# HELP surge_bus_batches_written_total Record batches appended to the log.\n"
                   "# TYPE surge_bus_batches_written_total counter\n"
                   "surge_bus_batches_written_total %llu\n"
                   "# HELP surge_bus_records_written_total Records appended to the log.\n"
                   "# TYPE surge_bus_records_written_total counter\n"
                   "surge_bus_records_written_total %llu\n"
                   "# HELP surge_bus_bytes_written_total Bytes appended to the log.\n"
                   "# TYPE surge_bus_bytes_written_total counter\n"
                   "surge_bus_bytes_written_total %llu\n"
                   "# HELP surge_bus_fsyncs_total fsync calls on the log.\n"
                   "# TYPE surge_bus_fsyncs_total counter\n"
                   "surge_bus_fsyncs_total %llu\n"
                   "# HELP surge_bus_recovery_truncated_bytes Torn or corrupt tail bytes cut at "
                   "start-up.\n"
                   "# TYPE surge_bus_recovery_truncated_bytes gauge\n"
                   "surge_bus_recovery_truncated_bytes %lld\n"
                   "# HELP surge_bus_recovery_truncated_partitions Partitions whose tail was cut "
                   "at start-up.\n"
                   "# TYPE surge_bus_recovery_truncated_partitions gauge\n"
                   "surge_bus_recovery_truncated_partitions %d\n",
                   (unsigned long long)bs.batches_written, (unsigned long long)bs.records_written,
                   (unsigned long long)bs.bytes_written, (unsigned long long)bs.fsyncs,
                   (long long)rr.truncated_bytes, rr.truncated_partitions);
    }
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The portal's page (portal.c serves it from the assets built into the binary). */
void handle_index(api_request *r)
{
    handle_portal_asset(r);
}

/* ---------------------------------------------------------------- compute */

static bool rate_limited(api_request *r, ratelimiter *rl, int scope, const char *key,
                         const char *what)
{
    if (!rl) return false;
    int wait = ratelimiter_take(rl, key, strlen(key), time_mono_ns());
    if (!wait) return false;
    metrics_count_rate_limited(scope);
    snprintf(r->retry_after, sizeof r->retry_after, "%d", wait);
    api_fail(r, SURGE_ELIMIT, NULL, "rate limit exceeded for %s; retry after %d s", what, wait);
    return true;
}

void handle_compute(api_request *r)
{
    api_server *s = r->server;
    if (rate_limited(r, s->rl_global, 2, "global", "the whole service")) return;
    if (rate_limited(r, s->rl_ip, 1, r->client_ip, "this client IP")) return;
    json_t *root = api_body_json(r);
    if (!root) return;
    static const char *const allowed[] = {"region_id", "lat", "lon", "product_type", "user_id",
                                          NULL};
    surge_error err;
    pricing_request req;
    memset(&req, 0, sizeof req);
    double lat = NAN, lon = NAN;
    char region[64] = "";
    if (jin_check_keys(root, allowed, "the request", &err) ||
        jin_string(root, "region_id", false, region, sizeof region, &err) ||
        jin_number(root, "lat", false, -90, 90, &lat, &err) ||
        jin_number(root, "lon", false, -180, 180, &lon, &err) ||
        jin_string(root, "product_type", true, req.product_type, sizeof req.product_type,
                   &err) ||
        jin_string(root, "user_id", false, req.user_id, 65, &err))
        goto fail;
    bool has_ll = json_object_get(root, "lat") || json_object_get(root, "lon");
    if (region[0] && has_ll) {
        surge_fail(&err, SURGE_EINVAL, "region_id",
                   "give either region_id or lat and lon, not both");
        goto fail;
    }
    if (region[0]) {
        if (!geohash_valid(region) || strlen(region) >= sizeof req.region_id) {
            surge_fail(&err, SURGE_EINVAL, "region_id",
                       "region_id '%.40s' is not a geohash (1-12 characters of "
                       "0123456789bcdefghjkmnpqrstuvwxyz)",
                       region);
            goto fail;
        }
        memcpy(req.region_id, region, strlen(region) + 1);
    } else if (has_ll) {
        if (isnan(lat) || isnan(lon)) {
            surge_fail(&err, SURGE_EINVAL, isnan(lat) ? "lat" : "lon",
                       "field '%s' is required with '%s'", isnan(lat) ? "lat" : "lon",
                       isnan(lat) ? "lon" : "lat");
            goto fail;
        }
        geohash_encode(lat, lon, s->cfg.region_precision, req.region_id);
    } else {
        surge_fail(&err, SURGE_EINVAL, "region_id", "field 'region_id' (or 'lat' and 'lon') is "
                   "required");
        goto fail;
    }
    json_decref(root);
    root = NULL;
    if (req.user_id[0] &&
        rate_limited(r, s->rl_user, 0, req.user_id, "this user_id"))
        return;
    memcpy(req.trace_id, r->trace_id, sizeof req.trace_id);
    pricing_decision d;
    if (pricing_engine_compute(s->engine, &req, r->now_ms, &d, &err)) goto fail;
    if (!d.cached) {
        for (int i = 0; i < PRICING_NGUARDS; i++)
            if (d.result.guard_acted & (1u << i)) metrics_count_guardrail(i);
        for (int i = 0; i < PRICING_NFALLBACKS; i++)
            if (d.inputs.fallback & (1u << i)) metrics_count_fallback(i);
    }
    pricing_decision_write_json(&d, &r->out);
    return;
fail:
    json_decref(root);
    api_error(r, &err);
}

/* ---------------------------------------------------------------- explain */

void handle_explain(api_request *r)
{
    const char *id = api_query(r, "request_id");
    if (!id || !*id) {
        api_fail(r, SURGE_EINVAL, "request_id", "query parameter 'request_id' is required");
        return;
    }
    size_t n = strlen(id);
    bool ok = n == 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!ok) {
        api_fail(r, SURGE_EINVAL, "request_id",
                 "request_id must be the 32 lower-case hex characters a price response returned");
        return;
    }
    pricing_decision d;
    store_rule rule;
    bool reproduced = false;
    surge_error err;
    if (pricing_engine_explain(r->server->engine, id, &d, &rule, &reproduced, &err)) {
        api_error(r, &err);
        return;
    }
    buf *o = &r->out;
    pricing_decision_write_json(&d, o);
    o->len--; /* reopen the object to append the explanation */
    buf_puts(o, ",\"reproduced\":");
    json_put_bool(o, reproduced);
    buf_puts(o, ",\"inputs\":{\"demand_score\":");
    json_put_double(o, d.inputs.demand_score);
    buf_puts(o, ",\"expected_demand\":");
    json_put_double(o, d.inputs.expected_demand);
    buf_puts(o, ",\"available_supply\":");
    json_put_double(o, d.inputs.available_supply);
    buf_puts(o, ",\"weather_severity\":");
    json_put_double(o, d.inputs.weather_severity);
    buf_puts(o, ",\"event_score\":");
    json_put_double(o, d.inputs.event_score);
    buf_puts(o, ",\"local_hour\":");
    json_put_int(o, d.result.local_hour);
    buf_puts(o, ",\"features_ts\":");
    if (d.inputs.features_ts_ms) {
        char ts[40];
        time_format_rfc3339(d.inputs.features_ts_ms, ts, sizeof ts);
        json_put_string(o, ts);
    } else {
        buf_puts(o, "null");
    }
    buf_puts(o, "},\"breakdown\":[");
    const double weights[PRICING_NFACTORS] = {rule.weight_demand, rule.weight_supply,
                                              rule.weight_time, rule.weight_event,
                                              rule.weight_weather};
    for (int i = 0; i < PRICING_NFACTORS; i++) {
        if (i) buf_putc(o, ',');
        buf_puts(o, "{\"factor\":");
        json_put_string(o, PRICING_FACTOR_NAMES[i]);
        buf_puts(o, ",\"value\":");
        json_put_double(o, d.result.factor[i]);
        buf_puts(o, ",\"weight\":");
        json_put_double(o, weights[i]);
        buf_puts(o, ",\"contribution\":");
        json_put_fixed(o, d.result.contribution_e4[i], 4);
        buf_putc(o, '}');
    }
    buf_puts(o, "],\"surge_raw\":");
    json_put_fixed(o, d.result.surge_raw_e4, 4);
    buf_puts(o, ",\"rule\":");
    write_rule_json(o, &rule, NULL);
    buf_putc(o, '}');
}

/* ---------------------------------------------------------------- features */

void write_features_json(buf *out, const feature_set *set, int64_t now_ms)
{
    char ts[40];
    buf_puts(out, "{\"region_id\":");
    json_put_string(out, set->region_id);
    buf_puts(out, ",\"event_ts\":");
    time_format_rfc3339(set->event_ts_ms, ts, sizeof ts);
    json_put_string(out, ts);
    buf_puts(out, ",\"written_at\":");
    time_format_rfc3339(set->written_ms, ts, sizeof ts);
    json_put_string(out, ts);
    buf_puts(out, ",\"expires_at\":");
    time_format_rfc3339(set->expires_ms, ts, sizeof ts);
    json_put_string(out, ts);
    buf_puts(out, ",\"age_ms\":");
    json_put_int(out, now_ms - set->event_ts_ms);
    buf_puts(out, ",\"source\":");
    json_put_string(out, set->source);
    buf_puts(out, ",\"features\":{");
    for (int i = 0; i < set->count; i++) {
        json_put_key(out, set->values[i].name, i > 0);
        json_put_double(out, set->values[i].value);
    }
    buf_puts(out, "}}");
}

void handle_features_get(api_request *r)
{
    const char *region = r->params[0];
    if (!geohash_valid(region)) {
        api_fail(r, SURGE_EINVAL, "region_id", "'%.40s' is not a geohash region id", region);
        return;
    }
    feature_set *set = malloc(sizeof *set);
    if (!set) {
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        return;
    }
    surge_error err;
    if (feature_store_get(r->server->fs, region, r->now_ms, set, &err)) {
        if (err.code == SURGE_ENOTFOUND)
            api_fail(r, SURGE_ENOTFOUND, "region_id",
                     "no live features for region '%s' (none written, or older than their TTL)",
                     region);
        else
            api_error(r, &err);
    } else {
        write_features_json(&r->out, set, r->now_ms);
    }
    free(set);
}
