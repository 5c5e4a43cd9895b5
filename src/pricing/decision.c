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

/* ceil(a / b) for b > 0 */
static int64_t div_ceil(int64_t a, int64_t b)
{
    return a / b + (a % b > 0);
}

/* The max-change limit per minute is the rule's, not part of the decision, so it is derived
 * back from the move the guardrail allowed: when it acted, the surge after it sits exactly
 * `allowed` = round(limit_e4 * age / 60000) away from the previous one. Several limits are
 * consistent with one `allowed`; of those this picks the one with the fewest decimals, which
 * is the configured one whenever that is the roundest in range (0.5 rather than 0.5001). */
static bool max_change_limit_e4(const pricing_result *r, int64_t *limit_e4)
{
    int64_t age = r->previous_age_ms;
    int64_t after = r->surge_raw_e4 + r->clip_e4 + r->guard_e4[PRICING_GUARD_MAX_CHANGE];
    int64_t allowed = after - r->previous_surge_e4;
    if (allowed < 0) allowed = -allowed;
    if (age <= 0 || allowed > 1000000000) return false;
    /* allowed - 1/2 <= limit_e4 * age / 60000 < allowed + 1/2, for integer limit_e4 >= 1 */
    int64_t lo = div_ceil((2 * allowed - 1) * 30000, age);
    int64_t hi = div_ceil((2 * allowed + 1) * 30000, age) - 1;
    if (lo < 1) lo = 1;
    if (lo > hi) return false;
    for (int64_t step = 100000000; step >= 1; step /= 10) {
        int64_t candidate = div_ceil(lo, step) * step;
        if (candidate <= hi) {
            *limit_e4 = candidate;
            return true;
        }
    }
    return false;
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
            int64_t limit_e4;
            json_put_key(b, "limit_per_min", true);
            if (max_change_limit_e4(r, &limit_e4))
                json_put_fixed(b, limit_e4, 4);
            else
                buf_puts(b, "null");
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
    json_put_key(out, "timestamp", true);
    put_time(out, d->ts_ms);
    buf_putc(out, '}');
}

/* ---------------------------------------------------------------- audit row */

/* A double that reads back bit for bit: 17 significant digits, always with a '.' or exponent
 * so that JSON parsers keep it a real (and -0 stays -0). Non-finite values have no JSON
 * spelling; they are written as null and read back as NaN. */
static void put_exact_double(buf *b, double v)
{
    if (!isfinite(v)) {
        buf_puts(b, "null");
        return;
    }
    size_t start = b->len;
    buf_printf(b, "%.17g", v);
    if (!strpbrk(b->data + start, ".eE")) buf_puts(b, ".0");
}

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

static void put_inputs(buf *b, const pricing_decision *d)
{
    const pricing_inputs *in = &d->inputs;
    const pricing_result *r = &d->result;
    const struct {
        const char *key;
        double value;
    } numbers[] = {
        {"demand_score", in->demand_score},         {"expected_demand", in->expected_demand},
        {"available_supply", in->available_supply}, {"weather_severity", in->weather_severity},
        {"event_score", in->event_score},           {"confidence", in->confidence},
    };
    buf_putc(b, '{');
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        json_put_key(b, numbers[i].key, i > 0);
        put_exact_double(b, numbers[i].value);
    }
    json_put_key(b, "model_version", true);
    json_put_string(b, in->model_version);
    json_put_key(b, "fallback", true);
    put_fallback(b, in->fallback);
    json_put_key(b, "features_ts", true);
    json_put_int(b, in->features_ts_ms);
    json_put_key(b, "local_hour", true);
    json_put_int(b, r->local_hour);
    json_put_key(b, "factor_values", true);
    buf_putc(b, '{');
    for (int i = 0; i < PRICING_NFACTORS; i++) {
        json_put_key(b, PRICING_FACTOR_NAMES[i], i > 0);
        put_exact_double(b, r->factor[i]);
    }
    buf_putc(b, '}');
    json_put_key(b, "rounding_cents", true);
    json_put_int(b, d->rounding_cents);
    json_put_key(b, "base_price_cents", true);
    json_put_int(b, r->base_price_cents);
    buf_putc(b, '}');
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
    snprintf(row->request_id, sizeof row->request_id, "%s", d->request_id);
    snprintf(row->trace_id, sizeof row->trace_id, "%s", d->trace_id);
    row->ts_ms = d->ts_ms;
    snprintf(row->region_id, sizeof row->region_id, "%s", d->region_id);
    snprintf(row->product_type, sizeof row->product_type, "%s", d->product_type);
    snprintf(row->user_id, sizeof row->user_id, "%s", d->user_id);
    row->price_cents = r->price_cents;
    row->base_price_cents = r->base_price_cents;
    row->surge_multiplier = (double)r->surge_e4 / 1e4;
    row->demand_score = d->inputs.demand_score;
    row->confidence = d->inputs.confidence;
    snprintf(row->model_version, sizeof row->model_version, "%s", d->inputs.model_version);
    row->rule_id = d->rule_id;
    row->cached = d->cached;
    row->latency_us = d->latency_us;

    buf b;
    buf_init(&b);
    put_factors(&b, r);
    row->factors_json = take_buf(&b);
    put_inputs(&b, d);
    row->inputs_json = take_buf(&b);
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

/* A number; null stands for a non-finite double (see put_exact_double). */
static int get_double(json_t *obj, const char *column, const char *key, double *out,
                      surge_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_null(v)) {
        *out = NAN;
        return SURGE_OK;
    }
    if (!json_is_number(v)) return missing(err, column, key, "a number");
    *out = json_number_value(v);
    return SURGE_OK;
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

static int read_inputs(json_t *obj, pricing_decision *d, surge_error *err)
{
    const char *col = "inputs_json";
    pricing_inputs *in = &d->inputs;
    pricing_result *r = &d->result;
    if (get_double(obj, col, "demand_score", &in->demand_score, err) ||
        get_double(obj, col, "expected_demand", &in->expected_demand, err) ||
        get_double(obj, col, "available_supply", &in->available_supply, err) ||
        get_double(obj, col, "weather_severity", &in->weather_severity, err) ||
        get_double(obj, col, "event_score", &in->event_score, err) ||
        get_double(obj, col, "confidence", &in->confidence, err))
        return SURGE_EPARSE;

    json_t *mv = json_object_get(obj, "model_version");
    if (!json_is_string(mv) || strlen(json_string_value(mv)) >= sizeof in->model_version)
        return missing(err, col, "model_version", "a short string");
    snprintf(in->model_version, sizeof in->model_version, "%s", json_string_value(mv));

    json_t *fb = json_object_get(obj, "fallback");
    if (!json_is_array(fb)) return missing(err, col, "fallback", "an array");
    size_t i;
    json_t *item;
    json_array_foreach(fb, i, item)
    {
        int bit = json_is_string(item) ? find_name(PRICING_FALLBACK_NAMES, PRICING_NFALLBACKS,
                                                   json_string_value(item))
                                       : -1;
        if (bit < 0) return missing(err, col, "fallback", "an array of fallback names");
        in->fallback |= 1u << bit;
    }

    int64_t hour;
    if (get_int(obj, col, "features_ts", &in->features_ts_ms, err) ||
        get_int(obj, col, "local_hour", &hour, err) ||
        get_int(obj, col, "rounding_cents", &d->rounding_cents, err) ||
        get_int(obj, col, "base_price_cents", &r->base_price_cents, err))
        return SURGE_EPARSE;
    if (hour < 0 || hour > 23) return missing(err, col, "local_hour", "an hour 0..23");
    r->local_hour = (int)hour;

    json_t *fv = json_object_get(obj, "factor_values");
    if (!json_is_object(fv)) return missing(err, col, "factor_values", "an object");
    for (int f = 0; f < PRICING_NFACTORS; f++)
        if (get_double(fv, col, PRICING_FACTOR_NAMES[f], &r->factor[f], err)) return SURGE_EPARSE;
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
    snprintf(d->request_id, sizeof d->request_id, "%s", row->request_id);
    snprintf(d->trace_id, sizeof d->trace_id, "%s", row->trace_id);
    d->ts_ms = row->ts_ms;
    /* The validity window is the engine's configuration, not part of the row: this is the
     * default two minutes (DESIGN §8), and the engine overwrites it with its configured one. */
    d->valid_until_ms = row->ts_ms + 120000;
    snprintf(d->region_id, sizeof d->region_id, "%s", row->region_id);
    snprintf(d->product_type, sizeof d->product_type, "%s", row->product_type);
    snprintf(d->user_id, sizeof d->user_id, "%s", row->user_id);
    d->rule_id = row->rule_id;
    d->cached = row->cached;
    d->latency_us = row->latency_us;

    json_t *factors = NULL, *inputs = NULL, *guards = NULL;
    int rc = parse_column("factors_json", row->factors_json, &factors, err);
    if (!rc) rc = parse_column("inputs_json", row->inputs_json, &inputs, err);
    if (!rc) rc = parse_column("guardrails_json", row->guardrails_json, &guards, err);
    if (!rc) rc = read_factors(factors, &d->result, err);
    if (!rc) rc = read_inputs(inputs, d, err);
    if (!rc) rc = read_guardrails(guards, &d->result, err);
    json_decref(factors);
    json_decref(inputs);
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
    /* The row's own base price column wins over the copy in inputs_json: it is the one
     * reports query. They are written from the same field, so they agree. */
    r->base_price_cents = row->base_price_cents;
    return SURGE_OK;
}
