/* Tests of a pricing decision's API JSON and its audit row (src/pricing/decision.c): the exact
 * JSON text, a bit-exact round trip through the audit row, and damaged columns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pricing/pricing.h"

/* 2026-01-11T10:30:00.000Z */
#define TS_MS 1768127400000LL

/* A decision written field by field (no formula), so the expected JSON follows from it alone:
 * contributions 0.3216 - 0.06 + 0.04 + 0.02 + 0.03 = 0.3516 (raw 1.3516), then max change from
 * 1.0 thirty seconds ago: -0.1016, final 1.25; $12.00 * 1.25 = $15.00. */
static pricing_decision known_decision(void)
{
    pricing_decision d;
    memset(&d, 0, sizeof d);
    strcpy(d.request_id, "req-1");
    strcpy(d.trace_id, "0123456789abcdef0123456789abcdef");
    d.ts_ms = TS_MS;
    d.valid_until_ms = TS_MS + 120000;
    strcpy(d.region_id, "dr5ru");
    strcpy(d.product_type, "ride");
    strcpy(d.user_id, "u1");
    d.rule_id = 7;
    d.rounding_cents = 25;
    d.inputs.demand_score = 0.87;
    d.inputs.expected_demand = 40;
    d.inputs.available_supply = 60;
    d.inputs.confidence = 0.94;
    strcpy(d.inputs.model_version, "v42");
    d.inputs.fallback = PRICING_FALLBACK_WEATHER | PRICING_FALLBACK_EVENTS;
    d.inputs.features_ts_ms = TS_MS - 5000;
    pricing_result *r = &d.result;
    r->factor[PRICING_DEMAND] = 0.8040624;
    r->factor[PRICING_SUPPLY] = -0.2;
    r->factor[PRICING_TIME] = 0.2;
    r->factor[PRICING_EVENT] = 0.2;
    r->factor[PRICING_WEATHER] = 0.3;
    r->contribution_e4[PRICING_DEMAND] = 3216;
    r->contribution_e4[PRICING_SUPPLY] = -600;
    r->contribution_e4[PRICING_TIME] = 400;
    r->contribution_e4[PRICING_EVENT] = 200;
    r->contribution_e4[PRICING_WEATHER] = 300;
    r->surge_raw_e4 = 13516;
    r->clip_e4 = 0;
    r->guard_e4[PRICING_GUARD_MAX_CHANGE] = -1016;
    r->guard_acted = 1u << PRICING_GUARD_MAX_CHANGE;
    r->surge_e4 = 12500;
    r->base_price_cents = 1200;
    r->price_cents = 1500;
    r->local_hour = 8;
    r->had_previous = true;
    r->previous_surge_e4 = 10000;
    r->previous_age_ms = 30000;
    r->max_change_per_min_e4 = 5000;
    d.cached = false;
    d.latency_us = 412;
    return d;
}

static void test_json_of_a_known_decision(void **state)
{
    (void)state;
    pricing_decision d = known_decision();
    buf b;
    buf_init(&b);
    pricing_decision_write_json(&d, &b);
    /* limit_per_min: the max change moved the surge to 1.25, 0.25 from 1.0 in 30 s: 0.5/min */
    const char *expected =
        "{\"request_id\":\"req-1\",\"trace_id\":\"0123456789abcdef0123456789abcdef\","
        "\"region_id\":\"dr5ru\",\"product_type\":\"ride\",\"price\":15,\"base_price\":12,"
        "\"surge_multiplier\":1.25,\"demand_score\":0.87,\"confidence\":0.94,"
        "\"factors\":{\"demand\":0.3216,\"supply\":-0.06,\"time_of_day\":0.04,\"events\":0.02,"
        "\"weather\":0.03,\"clip\":0,\"guardrails\":-0.1016},"
        "\"guardrails\":[{\"name\":\"max_change\",\"adjustment\":-0.1016,"
        "\"previous_multiplier\":1,\"limit_per_min\":0.5}],"
        "\"fallback\":[\"weather\",\"events\"],\"valid_until\":\"2026-01-11T10:32:00.000Z\","
        "\"model_version\":\"v42\",\"rule_id\":7,\"user_id\":\"u1\",\"cached\":false,"
        "\"latency_ms\":0.412,\"timestamp\":\"2026-01-11T10:30:00.000Z\"}";
    assert_string_equal(b.data, expected);
    buf_free(&b);
}

static void test_json_lists_freeze_and_cap_and_empty_arrays(void **state)
{
    (void)state;
    pricing_decision d = known_decision();
    pricing_result *r = &d.result;
    /* no guardrail, no fallback, a cached answer with a clip: raw 1.3516 clipped to 1.3 */
    r->guard_e4[PRICING_GUARD_MAX_CHANGE] = 0;
    r->guard_acted = 0;
    r->clip_e4 = -516;
    r->surge_e4 = 13000;
    r->price_cents = 1550; /* $12.00 * 1.3 = $15.60 -> 15.50 */
    d.inputs.fallback = 0;
    d.cached = true;
    d.user_id[0] = 0;
    d.latency_us = 3;
    buf b;
    buf_init(&b);
    pricing_decision_write_json(&d, &b);
    const char *expected =
        "{\"request_id\":\"req-1\",\"trace_id\":\"0123456789abcdef0123456789abcdef\","
        "\"region_id\":\"dr5ru\",\"product_type\":\"ride\",\"price\":15.5,\"base_price\":12,"
        "\"surge_multiplier\":1.3,\"demand_score\":0.87,\"confidence\":0.94,"
        "\"factors\":{\"demand\":0.3216,\"supply\":-0.06,\"time_of_day\":0.04,\"events\":0.02,"
        "\"weather\":0.03,\"clip\":-0.0516,\"guardrails\":0},"
        "\"guardrails\":[],\"fallback\":[],\"valid_until\":\"2026-01-11T10:32:00.000Z\","
        "\"model_version\":\"v42\",\"rule_id\":7,\"user_id\":\"\",\"cached\":true,"
        "\"latency_ms\":0.003,\"timestamp\":\"2026-01-11T10:30:00.000Z\"}";
    assert_string_equal(b.data, expected);

    /* now frozen at 2.5 then capped at 2.0 (from 1.3: +1.2 then -0.5) */
    r->guard_e4[PRICING_GUARD_FREEZE] = 12000;
    r->guard_e4[PRICING_GUARD_CAP] = -5000;
    r->guard_acted = (1u << PRICING_GUARD_FREEZE) | (1u << PRICING_GUARD_CAP);
    r->frozen = true;
    r->frozen_e4 = 25000;
    r->cap_e4 = 20000;
    r->surge_e4 = 20000;
    buf_reset(&b);
    pricing_decision_write_json(&d, &b);
    /* listed in the order they act: freeze before the cap */
    assert_non_null(strstr(b.data, "\"guardrails\":0.7},\"guardrails\":["
                                   "{\"name\":\"freeze\",\"adjustment\":1.2,"
                                   "\"frozen_multiplier\":2.5},"
                                   "{\"name\":\"emergency_cap\",\"adjustment\":-0.5,\"cap\":2}],"));
    buf_free(&b);
}

static void test_json_limit_per_min_is_the_rules_limit(void **state)
{
    (void)state;
    pricing_decision d = known_decision();
    pricing_result *r = &d.result;
    /* 0.35/min over 12.345 s allows 0.0720125 -> 0.0720: from 1.0 to 1.072 (-0.2796) */
    r->previous_age_ms = 12345;
    r->max_change_per_min_e4 = 3500;
    r->guard_e4[PRICING_GUARD_MAX_CHANGE] = -2796;
    r->surge_e4 = 10720;
    buf b;
    buf_init(&b);
    pricing_decision_write_json(&d, &b);
    assert_non_null(strstr(b.data, "{\"name\":\"max_change\",\"adjustment\":-0.2796,"
                                   "\"previous_multiplier\":1,\"limit_per_min\":0.35}"));
    buf_free(&b);
}

/* Asserts a field is bit-for-bit the same in both decisions. */
#define SAME(field) assert_memory_equal(&a->field, &b->field, sizeof a->field)

static void assert_same_decision(const pricing_decision *a, const pricing_decision *b)
{
    assert_string_equal(a->request_id, b->request_id);
    assert_string_equal(a->trace_id, b->trace_id);
    SAME(ts_ms);
    SAME(valid_until_ms);
    assert_string_equal(a->region_id, b->region_id);
    assert_string_equal(a->product_type, b->product_type);
    assert_string_equal(a->user_id, b->user_id);
    assert_string_equal(a->experiment_id, b->experiment_id);
    assert_string_equal(a->variant, b->variant);
    SAME(rule_id);
    SAME(inputs.demand_score);
    SAME(inputs.expected_demand);
    SAME(inputs.available_supply);
    SAME(inputs.weather_severity);
    SAME(inputs.event_score);
    SAME(inputs.confidence);
    assert_string_equal(a->inputs.model_version, b->inputs.model_version);
    SAME(inputs.fallback);
    SAME(inputs.features_ts_ms);
    SAME(result.contribution_e4);
    SAME(result.surge_raw_e4);
    SAME(result.clip_e4);
    SAME(result.guard_e4);
    SAME(result.guard_acted);
    SAME(result.surge_e4);
    SAME(result.base_price_cents);
    SAME(result.price_cents);
    SAME(result.local_hour);
    SAME(result.had_previous);
    SAME(result.previous_surge_e4);
    SAME(result.previous_age_ms);
    SAME(result.cap_e4);
    SAME(result.frozen);
    SAME(result.frozen_e4);
    SAME(cached);
    SAME(latency_us);
}

static store_rule test_rule(void)
{
    store_rule r;
    memset(&r, 0, sizeof r);
    r.rule_id = 11;
    r.base_price_cents = 1337;
    r.min_multiplier = 1.0;
    r.max_multiplier = 3.0;
    r.weight_demand = 0.4;
    r.weight_supply = 0.3;
    r.weight_time = 0.2;
    r.weight_event = 0.1;
    r.weight_weather = 0.1;
    r.demand_k = 6;
    r.demand_threshold = 0.5;
    r.event_coefficient = 0.5;
    for (int h = 0; h < 24; h++)
        r.time_multiplier[h] = 1.0;
    r.time_multiplier[17] = 1.2;
    r.rounding_cents = 25;
    r.max_change_per_min = 0.35;
    return r;
}

/* A decision through the real formula, with doubles that have no short decimal form. */
static pricing_decision computed_decision(bool with_previous)
{
    store_rule rule = test_rule();
    pricing_decision d;
    memset(&d, 0, sizeof d);
    strcpy(d.request_id, "5f0c2a61b7e94d0c9d2b5a4e3c1f0a99");
    strcpy(d.trace_id, "abc123def456");
    d.ts_ms = TS_MS + 123;
    d.valid_until_ms = d.ts_ms + 120000;
    strcpy(d.region_id, "9q8yy");
    strcpy(d.product_type, "delivery");
    strcpy(d.user_id, "user \"quoted\" \\ name");
    d.rule_id = rule.rule_id;
    d.rounding_cents = rule.rounding_cents;
    pricing_inputs_neutral(&d.inputs);
    d.inputs.demand_score = 0.1 + 0.2 + 0.6; /* 0.9000000000000000222... */
    d.inputs.expected_demand = 1.0 / 3.0;
    d.inputs.available_supply = 1e-300;
    d.inputs.weather_severity = 0.7071067811865476;
    d.inputs.event_score = 2.0 / 3.0;
    d.inputs.confidence = 0.123456789012345678;
    strcpy(d.inputs.model_version, "v1.2.3-rc1");
    d.inputs.fallback = PRICING_FALLBACK_FORECAST;
    d.inputs.features_ts_ms = TS_MS - 61000;
    pricing_formula(&rule, &d.inputs, 17, &d.result);
    store_control control = {.frozen = true, .frozen_multiplier = 0, .emergency_cap = 1.5};
    pricing_previous prev = {.valid = with_previous, .surge_e4 = 20000, .at_ms = d.ts_ms - 7321};
    pricing_apply_guardrails(&rule, &control, &prev, d.ts_ms, &d.result);
    d.cached = true;
    d.latency_us = 987654;
    return d;
}

/* Frees the JSON columns to_audit allocated (what store_audit_row_clear does; that belongs to the
 * store module, which this test does not link). */
static void free_row_json(store_audit_row *row)
{
    free(row->factors_json);
    free(row->guardrails_json);
}

static void round_trip(const pricing_decision *d)
{
    store_audit_row row;
    pricing_decision_to_audit(d, &row);
    assert_string_equal(row.request_id, d->request_id);
    assert_int_equal(row.price_cents, d->result.price_cents);
    assert_true(row.surge_multiplier == (double)d->result.surge_e4 / 1e4);

    pricing_decision back;
    surge_error err = {0};
    assert_int_equal(pricing_decision_from_audit(&row, &back, &err), SURGE_OK);
    assert_same_decision(d, &back);
    free_row_json(&row);
}

static void test_audit_round_trip_restores_every_field(void **state)
{
    (void)state;
    pricing_decision d = computed_decision(true);
    /* raw = 1 + .3335 + .3 + .04 + .0333 + .0707 = 1.7775 (demand tanh(1.2)*.4, supply ~1*.3,
     * 17h .2*.2, events 2/3*.5*.1, weather .7071*.1). All three guardrails act: max change
     * from 2.0 over 7.321 s at 0.35/min allows .0427 -> 1.9573; freeze at the previous 2.0;
     * cap 1.5. And every factor is a double with no short decimal form. */
    assert_int_equal(d.result.guard_acted, 7);
    assert_int_equal(d.result.surge_e4, 15000);
    round_trip(&d);

    pricing_decision plain = computed_decision(false);
    assert_false(plain.result.had_previous);
    round_trip(&plain);

    pricing_decision known = known_decision();
    round_trip(&known);
}

/* A decision an experiment chose lists experiment_id and variant (only then) and keeps them
 * through the audit row. */
static void test_json_and_audit_of_an_experiment_decision(void **state)
{
    (void)state;
    pricing_decision d = known_decision();
    strcpy(d.experiment_id, "exp-1");
    strcpy(d.variant, "B");
    buf b;
    buf_init(&b);
    pricing_decision_write_json(&d, &b);
    assert_non_null(strstr(b.data, "\"latency_ms\":0.412,\"experiment_id\":\"exp-1\","
                                   "\"variant\":\"B\",\"timestamp\":"));
    buf_free(&b);
    round_trip(&d);
}

/* The user's bucket is FNV-1a 64 of "exp-1\nuser" mod 100; the buckets below were computed
 * apart from the engine (Python, FNV-1a 64 by its definition). */
static void test_experiment_bucket_and_variant(void **state)
{
    (void)state;
    static const struct {
        const char *user;
        int bucket;
        int of_50_50;     /* A, B */
        int of_10_30_60;  /* A, B, C */
    } cases[] = {{"u1", 34, 0, 1}, {"u2", 23, 0, 1}, {"u3", 12, 0, 1}, {"u4", 1, 0, 0},
                 {"u5", 90, 1, 2}, {"u6", 79, 1, 2}, {"u7", 68, 1, 2}, {"u8", 57, 1, 2},
                 {"rider-42", 45, 0, 2}};
    const double half[] = {50, 50}, thirds[] = {10, 30, 60};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int bucket = pricing_experiment_bucket("exp-1", cases[i].user);
        assert_int_equal(bucket, cases[i].bucket);
        assert_int_equal(pricing_experiment_variant(half, 2, bucket), cases[i].of_50_50);
        assert_int_equal(pricing_experiment_variant(thirds, 3, bucket), cases[i].of_10_30_60);
    }
    /* edges: the cumulative split's bounds, zero shares, a split short of 100 */
    const double zero_first[] = {0, 100}, short_split[] = {30, 30}, none[] = {0, 0};
    assert_int_equal(pricing_experiment_variant(half, 2, 49), 0);
    assert_int_equal(pricing_experiment_variant(half, 2, 50), 1);
    assert_int_equal(pricing_experiment_variant(half, 2, 99), 1);
    assert_int_equal(pricing_experiment_variant(zero_first, 2, 0), 1);
    assert_int_equal(pricing_experiment_variant(short_split, 2, 99), 1);
    assert_int_equal(pricing_experiment_variant(none, 2, 5), -1);
    assert_int_equal(pricing_experiment_variant(half, 0, 5), -1);
}

static void test_audit_keeps_negative_zero_and_integral_doubles(void **state)
{
    (void)state;
    pricing_decision d = known_decision();
    d.inputs.event_score = -0.0;
    d.inputs.expected_demand = 40; /* "%.17g" alone would write 40, read back as an integer */
    round_trip(&d);
}

/* Replaces one column of a fresh audit row of the known decision and decodes it. */
static int decode_damaged(int column, const char *text, surge_error *err)
{
    pricing_decision d = known_decision(), back;
    store_audit_row row;
    pricing_decision_to_audit(&d, &row);
    if (column == 1) {
        snprintf(row.fallback, sizeof row.fallback, "%s", text);
    } else {
        char **col = column == 0 ? &row.factors_json : &row.guardrails_json;
        free(*col);
        *col = text ? strdup(text) : NULL;
    }
    int rc = pricing_decision_from_audit(&row, &back, err);
    free_row_json(&row);
    return rc;
}

static void test_damaged_audit_columns_are_parse_errors(void **state)
{
    (void)state;
    surge_error err;

    memset(&err, 0, sizeof err);
    assert_int_equal(decode_damaged(0, "{\"demand\":0.3216,", &err), SURGE_EPARSE);
    assert_string_equal(err.field, "factors_json");
    assert_non_null(strstr(err.message, "factors_json"));

    memset(&err, 0, sizeof err);
    assert_int_equal(decode_damaged(0, "[1,2]", &err), SURGE_EPARSE);
    assert_string_equal(err.field, "factors_json");

    memset(&err, 0, sizeof err);
    assert_int_equal(decode_damaged(0, "{\"demand\":0.3216}", &err), SURGE_EPARSE);
    assert_non_null(strstr(err.message, "factors_json"));
    assert_non_null(strstr(err.message, "\"supply\""));

    memset(&err, 0, sizeof err);
    assert_int_equal(decode_damaged(1, "forecast,sunshine", &err), SURGE_EPARSE);
    assert_string_equal(err.field, "fallback");
    assert_string_equal(err.message, "audit column fallback: 'sunshine' is not an input name");

    memset(&err, 0, sizeof err);
    assert_int_equal(decode_damaged(2, NULL, &err), SURGE_EPARSE);
    assert_string_equal(err.field, "guardrails_json");
    assert_non_null(strstr(err.message, "guardrails_json is missing"));

    memset(&err, 0, sizeof err);
    assert_int_equal(decode_damaged(2,
                                    "{\"previous\":null,\"cap_e4\":0,\"frozen\":false,"
                                    "\"frozen_e4\":0,\"acted\":[{\"name\":\"curfew\","
                                    "\"adjustment_e4\":5}]}",
                                    &err),
                     SURGE_EPARSE);
    assert_string_equal(err.field, "guardrails_json");
    assert_non_null(strstr(err.message, "acted[].name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_of_a_known_decision),
        cmocka_unit_test(test_json_lists_freeze_and_cap_and_empty_arrays),
        cmocka_unit_test(test_json_limit_per_min_is_the_rules_limit),
        cmocka_unit_test(test_audit_round_trip_restores_every_field),
        cmocka_unit_test(test_audit_keeps_negative_zero_and_integral_doubles),
        cmocka_unit_test(test_json_and_audit_of_an_experiment_decision),
        cmocka_unit_test(test_experiment_bucket_and_variant),
        cmocka_unit_test(test_damaged_audit_columns_are_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
