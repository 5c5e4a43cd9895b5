/* decision.c: a pricing decision as the API's JSON answer (hot path: written straight into a
 * buf, no printf), as an audit row (its inputs kept bit-exact so explain can replay them) and
 * back from an audit row alone. */
#include "pricing.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The order guardrails act in (see pricing_apply_guardrails), which is also the order they are
 * listed in: each adjustment applies to the surge the previous one left. */
static const enum pricing_guardrail GUARD_ORDER[PRICING_NGUARDS] = {
    PRICING_GUARD_MAX_CHANGE, PRICING_GUARD_FREEZE, PRICING_GUARD_CAP};

static int64_t guard_sum(const pricing_result *r)
{
    int64_t sum = 0;
    for (int i = 0; i < PRICING_NGUARDS; i++)
        sum += r->guard_e4[i];
    return sum;
}

/* {"demand":..,...,"clip":..,"guardrails":..}: every value is an e4 integer written exactly,
 * so the values sum to surge_multiplier - 1 to the last digit. */
static void put_factors(buf *b, const pricing_result *r)
{
    buf_putc(b, '{');
    for (int i = 0; i < PRICING_NFACTORS; i++) {
        json_put_key(b, PRICING_FACTOR_NAMES[i], i > 0);
        json_put_fixed(b, r->contribution_e4[i], 4);
    }
    json_put_key(b, "clip", true);
    json_put_fixed(b, r->clip_e4, 4);
    json_put_key(b, "guardrails", true);
    json_put_fixed(b, guard_sum(r), 4);
    buf_putc(b, '}');
}

static void put_fallback(buf *b, uint32_t fallback)
{
    buf_putc(b, '[');
    bool first = true;
    for (int i = 0; i < PRICING_NFALLBACKS; i++) {
        if (!(fallback & (1u << i))) continue;
        if (!first) buf_putc(b, ',');
        json_put_string(b, PRICING_FALLBACK_NAMES[i]);
        first = false;
    }
    buf_putc(b, ']');
}

static void put_time(buf *b, int64_t ms)
{
    char text[40];
    int n = time_format_rfc3339(ms, text, sizeof text);
    json_put_string_n(b, text, n > 0 ? (size_t)n : 0);
}

static void put_guardrails(buf *b, const pricing_result *r)
{
    buf_putc(b, '[');
    bool first = true;
    for (int k = 0; k < PRICING_NGUARDS; k++) {
        enum pricing_guardrail g = GUARD_ORDER[k];
        if (!(r->guard_acted & (1u << g))) continue;
        if (!first) buf_putc(b, ',');
        first = false;
        buf_putc(b, '{');
        json_put_key(b, "name", false);
        json_put_string(b, PRICING_GUARD_NAMES[g]);
        json_put_key(b, "adjustment", true);
        json_put_fixed(b, r->guard_e4[g], 4);
        if (g == PRICING_GUARD_MAX_CHANGE) {
            json_put_key(b, "previous_multiplier", true);
            json_put_fixed(b, r->previous_surge_e4, 4);
            json_put_key(b, "limit_per_min", true);
            json_put_fixed(b, r->max_change_per_min_e4, 4);
        } else if (g == PRICING_GUARD_CAP) {
            json_put_key(b, "cap", true);
            json_put_fixed(b, r->cap_e4, 4);
        } else {
            json_put_key(b, "frozen_multiplier", true);
            json_put_fixed(b, r->frozen_e4, 4);
        }
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

void pricing_decision_write_json(const pricing_decision *d, buf *out)
{
    const pricing_result *r = &d->result;
    buf_putc(out, '{');
    json_put_key(out, "request_id", false);
    json_put_string(out, d->request_id);
    json_put_key(out, "trace_id", true);
    json_put_string(out, d->trace_id);
    json_put_key(out, "region_id", true);
    json_put_string(out, d->region_id);
    json_put_key(out, "product_type", true);
    json_put_string(out, d->product_type);
    json_put_key(out, "price", true);
    json_put_fixed(out, r->price_cents, 2);
    json_put_key(out, "base_price", true);
    json_put_fixed(out, r->base_price_cents, 2);
    json_put_key(out, "surge_multiplier", true);
    json_put_fixed(out, r->surge_e4, 4);
    json_put_key(out, "demand_score", true);
    json_put_double(out, d->inputs.demand_score);
    json_put_key(out, "confidence", true);
    json_put_double(out, d->inputs.confidence);
    json_put_key(out, "factors", true);
    put_factors(out, r);
    json_put_key(out, "guardrails", true);
    put_guardrails(out, r);
    json_put_key(out, "fallback", true);
    put_fallback(out, d->inputs.fallback);
    json_put_key(out, "valid_until", true);
    put_time(out, d->valid_until_ms);
    json_put_key(out, "model_version", true);
    json_put_string(out, d->inputs.model_version);
    json_put_key(out, "rule_id", true);
    json_put_int(out, d->rule_id);
    json_put_key(out, "user_id", true);
    json_put_string(out, d->user_id);
    json_put_key(out, "cached", true);
    json_put_bool(out, d->cached);
    json_put_key(out, "latency_ms", true);
    json_put_fixed(out, d->latency_us, 3);
    if (d->experiment_id[0]) {
        json_put_key(out, "experiment_id", true);
        json_put_string(out, d->experiment_id);
        json_put_key(out, "variant", true);
        json_put_string(out, d->variant);
    }
    json_put_key(out, "timestamp", true);
    put_time(out, d->ts_ms);
    buf_putc(out, '}');
}

/* ---------------------------------------------------------------- audit row */

static char *take_buf(buf *b)
{
    char *s = b->data;
    if (!s) {
        s = malloc(1);
        if (!s) abort(); /* as buf_reserve: out of memory is not recoverable here */
        s[0] = 0;
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

/* The fallback bits as the audit's comma-separated text ("forecast,weather"). */
static void fallback_text(uint32_t fallback, char *out, size_t size)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < PRICING_NFALLBACKS; i++) {
        if (!(fallback & (1u << i))) continue;
        size_t len = strlen(PRICING_FALLBACK_NAMES[i]);
        if (n + len + 2 > size) break;
        if (n) out[n++] = ',';
        memcpy(out + n, PRICING_FALLBACK_NAMES[i], len + 1);
        n += len;
    }
}

static void put_guard_inputs(buf *b, const pricing_result *r)
{
    buf_putc(b, '{');
    json_put_key(b, "previous", false);
    if (r->had_previous) {
        buf_putc(b, '{');
        json_put_key(b, "surge_e4", false);
        json_put_int(b, r->previous_surge_e4);
        json_put_key(b, "age_ms", true);
        json_put_int(b, r->previous_age_ms);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    json_put_key(b, "cap_e4", true);
    json_put_int(b, r->cap_e4);
    json_put_key(b, "frozen", true);
    json_put_bool(b, r->frozen);
    json_put_key(b, "frozen_e4", true);
    json_put_int(b, r->frozen_e4);
    json_put_key(b, "acted", true);
    buf_putc(b, '[');
    bool first = true;
    for (int k = 0; k < PRICING_NGUARDS; k++) {
        enum pricing_guardrail g = GUARD_ORDER[k];
        if (!(r->guard_acted & (1u << g))) continue;
        if (!first) buf_putc(b, ',');
        first = false;
        buf_putc(b, '{');
        json_put_key(b, "name", false);
        json_put_string(b, PRICING_GUARD_NAMES[g]);
        json_put_key(b, "adjustment_e4", true);
        json_put_int(b, r->guard_e4[g]);
        buf_putc(b, '}');
    }
    buf_puts(b, "]}");
}

void pricing_decision_to_audit(const pricing_decision *d, store_audit_row *row)
{
    const pricing_result *r = &d->result;
    memset(row, 0, sizeof *row);
    str_copy(row->request_id, sizeof row->request_id, d->request_id);
    str_copy(row->trace_id, sizeof row->trace_id, d->trace_id);
    row->ts_ms = d->ts_ms;
    str_copy(row->region_id, sizeof row->region_id, d->region_id);
    str_copy(row->product_type, sizeof row->product_type, d->product_type);
    str_copy(row->user_id, sizeof row->user_id, d->user_id);
    row->price_cents = r->price_cents;
    row->base_price_cents = r->base_price_cents;
    row->surge_multiplier = (double)r->surge_e4 / 1e4;
    const pricing_inputs *in = &d->inputs;
    row->demand_score = in->demand_score;
    row->expected_demand = in->expected_demand;
    row->available_supply = in->available_supply;
    row->weather_severity = in->weather_severity;
    row->event_score = in->event_score;
    row->confidence = in->confidence;
    fallback_text(in->fallback, row->fallback, sizeof row->fallback);
    row->features_ts_ms = in->features_ts_ms;
    row->local_hour = r->local_hour;
    str_copy(row->model_version, sizeof row->model_version, d->inputs.model_version);
    row->rule_id = d->rule_id;
    row->cached = d->cached;
    row->latency_us = d->latency_us;
    str_copy(row->experiment_id, sizeof row->experiment_id, d->experiment_id);
    str_copy(row->variant, sizeof row->variant, d->variant);

    buf b;
    buf_init(&b);
    put_factors(&b, r);
    row->factors_json = take_buf(&b);
    put_guard_inputs(&b, r);
    row->guardrails_json = take_buf(&b);
}

/* ---------------------------------------------------------------- back from the audit */

static int parse_column(const char *column, const char *text, json_t **out, surge_error *err)
{
    if (!text) return surge_fail(err, SURGE_EPARSE, column, "audit column %s is missing", column);
    json_error_t jerr;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out)
        return surge_fail(err, SURGE_EPARSE, column,
                          "audit column %s is not valid JSON: %s (line %d, column %d)", column,
                          jerr.text, jerr.line, jerr.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return surge_fail(err, SURGE_EPARSE, column, "audit column %s is not a JSON object",
                          column);
    }
    return SURGE_OK;
}

static int missing(surge_error *err, const char *column, const char *key, const char *what)
{
    return surge_fail(err, SURGE_EPARSE, column, "audit column %s: key \"%s\" is missing or not %s",
                      column, key, what);
}

static int get_int(json_t *obj, const char *column, const char *key, int64_t *out, surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return missing(err, column, key, "an integer");
    *out = (int64_t)json_integer_value(v);
    return SURGE_OK;
}

/* An e4 quantity written with json_put_fixed(.., 4): exact after rounding. */
static int get_e4(json_t *obj, const char *column, const char *key, int64_t *out, surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) return missing(err, column, key, "a number");
    double x = json_number_value(v) * 1e4;
    if (!(fabs(x) < 9e18)) return missing(err, column, key, "a multiplier in range");
    *out = (int64_t)llround(x);
    return SURGE_OK;
}

static int find_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static int read_factors(json_t *obj, pricing_result *r, surge_error *err)
{
    const char *col = "factors_json";
    for (int i = 0; i < PRICING_NFACTORS; i++)
        if (get_e4(obj, col, PRICING_FACTOR_NAMES[i], &r->contribution_e4[i], err))
            return SURGE_EPARSE;
    if (get_e4(obj, col, "clip", &r->clip_e4, err)) return SURGE_EPARSE;
    return SURGE_OK;
}

/* The audit's fallback text back to bits; an unknown name is a damaged row. */
static int read_fallback(const char *text, uint32_t *bits, surge_error *err)
{
    *bits = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < PRICING_NFALLBACKS && found < 0; i++)
            if (strlen(PRICING_FALLBACK_NAMES[i]) == len &&
                strncmp(PRICING_FALLBACK_NAMES[i], p, len) == 0)
                found = i;
        if (found < 0)
            return surge_fail(err, SURGE_EPARSE, "fallback",
                              "audit column fallback: '%.*s' is not an input name", (int)len, p);
        *bits |= 1u << found;
        p += len;
        if (*p == ',') p++;
    }
    return SURGE_OK;
}

static int read_guardrails(json_t *obj, pricing_result *r, surge_error *err)
{
    const char *col = "guardrails_json";
    json_t *prev = json_object_get(obj, "previous");
    if (json_is_object(prev)) {
        r->had_previous = true;
        if (get_int(prev, col, "surge_e4", &r->previous_surge_e4, err) ||
            get_int(prev, col, "age_ms", &r->previous_age_ms, err))
            return SURGE_EPARSE;
    } else if (!json_is_null(prev)) {
        return missing(err, col, "previous", "an object or null");
    }
    if (get_int(obj, col, "cap_e4", &r->cap_e4, err) ||
        get_int(obj, col, "frozen_e4", &r->frozen_e4, err))
        return SURGE_EPARSE;
    json_t *frozen = json_object_get(obj, "frozen");
    if (!json_is_boolean(frozen)) return missing(err, col, "frozen", "a boolean");
    r->frozen = json_is_true(frozen);

    json_t *acted = json_object_get(obj, "acted");
    if (!json_is_array(acted)) return missing(err, col, "acted", "an array");
    size_t i;
    json_t *item;
    json_array_foreach(acted, i, item)
    {
        json_t *name = json_object_get(item, "name");
        int g = json_is_string(name)
                    ? find_name(PRICING_GUARD_NAMES, PRICING_NGUARDS, json_string_value(name))
                    : -1;
        if (g < 0) return missing(err, col, "acted[].name", "a guardrail name");
        if (get_int(item, col, "adjustment_e4", &r->guard_e4[g], err)) return SURGE_EPARSE;
        r->guard_acted |= 1u << g;
    }
    return SURGE_OK;
}

int pricing_decision_from_audit(const store_audit_row *row, pricing_decision *d, surge_error *err)
{
    memset(d, 0, sizeof *d);
    str_copy(d->request_id, sizeof d->request_id, row->request_id);
    str_copy(d->trace_id, sizeof d->trace_id, row->trace_id);
    d->ts_ms = row->ts_ms;
    /* The validity window is the engine's configuration, not part of the row: this is the
     * default two minutes (DESIGN §8), and the engine overwrites it with its configured one. */
    d->valid_until_ms = row->ts_ms + 120000;
    str_copy(d->region_id, sizeof d->region_id, row->region_id);
    str_copy(d->product_type, sizeof d->product_type, row->product_type);
    str_copy(d->user_id, sizeof d->user_id, row->user_id);
    d->rule_id = row->rule_id;
    d->cached = row->cached;
    d->latency_us = row->latency_us;
    str_copy(d->experiment_id, sizeof d->experiment_id, row->experiment_id);
    str_copy(d->variant, sizeof d->variant, row->variant);

    pricing_inputs *in = &d->inputs;
    in->demand_score = row->demand_score;
    in->expected_demand = row->expected_demand;
    in->available_supply = row->available_supply;
    in->weather_severity = row->weather_severity;
    in->event_score = row->event_score;
    in->confidence = row->confidence;
    in->features_ts_ms = row->features_ts_ms;
    str_copy(in->model_version, sizeof in->model_version, row->model_version);
    if (row->local_hour < 0 || row->local_hour > 23)
        return surge_fail(err, SURGE_EPARSE, "local_hour",
                          "audit column local_hour = %d is not an hour 0..23", row->local_hour);
    d->result.local_hour = row->local_hour;

    json_t *factors = NULL, *guards = NULL;
    int rc = read_fallback(row->fallback, &in->fallback, err);
    if (!rc) rc = parse_column("factors_json", row->factors_json, &factors, err);
    if (!rc) rc = parse_column("guardrails_json", row->guardrails_json, &guards, err);
    if (!rc) rc = read_factors(factors, &d->result, err);
    if (!rc) rc = read_guardrails(guards, &d->result, err);
    json_decref(factors);
    json_decref(guards);
    if (rc) return rc;

    pricing_result *r = &d->result;
    int64_t sum = 0;
    for (int i = 0; i < PRICING_NFACTORS; i++)
        sum += r->contribution_e4[i];
    r->surge_raw_e4 = 10000 + sum;
    if (!(fabs(row->surge_multiplier) < 1e14))
        return surge_fail(err, SURGE_EPARSE, "surge_multiplier",
                          "audit column surge_multiplier is not a finite multiplier");
    r->surge_e4 = (int64_t)llround(row->surge_multiplier * 1e4);
    r->price_cents = row->price_cents;
    r->base_price_cents = row->base_price_cents;
    return SURGE_OK;
}
