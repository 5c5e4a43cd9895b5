/* Tests of the surge formula, price rounding and guardrails (src/pricing/formula.c). Every
 * expected value is worked out by hand in the comment next to it; the invariant
 * sum(contributions) + clip + sum(guards) == surge - 1 is checked in every test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pricing/pricing.h"

/* DESIGN §7's defaults, field by field (store_rule_defaults lives in the store module). */
static store_rule test_rule(void)
{
    store_rule r;
    memset(&r, 0, sizeof r);
    r.rule_id = 7;
    strcpy(r.region_id, "dr5ru");
    strcpy(r.product_type, "ride");
    r.base_price_cents = 1200;
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
    r.time_multiplier[7] = r.time_multiplier[8] = 1.2;
    r.time_multiplier[17] = r.time_multiplier[18] = 1.2;
    r.rounding_cents = 25;
    r.max_change_per_min = 0;
    return r;
}

/* The seed-like inputs: demand 0.87, 60 drivers for 40 expected requests (a surplus),
 * events 0.4, weather 0.3, a served model. */
static pricing_inputs seed_inputs(void)
{
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    in.demand_score = 0.87;
    in.expected_demand = 40;
    in.available_supply = 60;
    in.event_score = 0.4;
    in.weather_severity = 0.3;
    in.confidence = 0.94;
    strcpy(in.model_version, "v42");
    in.fallback = 0;
    return in;
}

static void assert_invariant(const pricing_result *r)
{
    int64_t sum = r->clip_e4;
    for (int i = 0; i < PRICING_NFACTORS; i++)
        sum += r->contribution_e4[i];
    for (int i = 0; i < PRICING_NGUARDS; i++)
        sum += r->guard_e4[i];
    assert_int_equal(sum, r->surge_e4 - 10000);
}

static void test_names_are_in_enum_order(void **state)
{
    (void)state;
    assert_string_equal(PRICING_FACTOR_NAMES[PRICING_DEMAND], "demand");
    assert_string_equal(PRICING_FACTOR_NAMES[PRICING_SUPPLY], "supply");
    assert_string_equal(PRICING_FACTOR_NAMES[PRICING_TIME], "time_of_day");
    assert_string_equal(PRICING_FACTOR_NAMES[PRICING_EVENT], "events");
    assert_string_equal(PRICING_FACTOR_NAMES[PRICING_WEATHER], "weather");
    assert_string_equal(PRICING_FALLBACK_NAMES[0], "forecast");
    assert_string_equal(PRICING_FALLBACK_NAMES[1], "supply");
    assert_string_equal(PRICING_FALLBACK_NAMES[2], "weather");
    assert_string_equal(PRICING_FALLBACK_NAMES[3], "events");
    assert_string_equal(PRICING_GUARD_NAMES[PRICING_GUARD_MAX_CHANGE], "max_change");
    assert_string_equal(PRICING_GUARD_NAMES[PRICING_GUARD_CAP], "emergency_cap");
    assert_string_equal(PRICING_GUARD_NAMES[PRICING_GUARD_FREEZE], "freeze");
}

static void test_neutral_inputs_give_surge_one_and_the_rounded_base(void **state)
{
    (void)state;
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    assert_true(in.demand_score == 0.5);
    assert_true(in.expected_demand == 0 && in.available_supply == 0);
    assert_true(in.weather_severity == 0 && in.event_score == 0 && in.confidence == 0);
    assert_string_equal(in.model_version, "none");
    assert_int_equal(in.fallback, 0xf);
    assert_int_equal(in.features_ts_ms, 0);

    store_rule rule = test_rule();
    rule.base_price_cents = 1210;
    pricing_result r;
    pricing_formula(&rule, &in, 12, &r);
    /* demand: 2*sigmoid(6*(0.5-0.5)) - 1 = 2*0.5 - 1 = 0; supply: fallback -> 0;
     * time at 12: 1.0 - 1 = 0; events 0; weather 0. */
    for (int i = 0; i < PRICING_NFACTORS; i++)
        assert_int_equal(r.contribution_e4[i], 0);
    assert_int_equal(r.surge_raw_e4, 10000);
    assert_int_equal(r.clip_e4, 0);
    assert_int_equal(r.surge_e4, 10000);
    assert_int_equal(r.guard_acted, 0);
    assert_int_equal(r.local_hour, 12);
    assert_int_equal(r.base_price_cents, 1210);
    /* $12.10 lies between 12.00 and 12.25, 0.10 from 12.00: rounds to 12.00 */
    assert_int_equal(r.price_cents, 1200);
    assert_invariant(&r);
}

static void test_seed_like_example_contributions(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_inputs in = seed_inputs();
    pricing_result r;
    pricing_formula(&rule, &in, 8, &r);
    /* demand: x = 6*(0.87-0.5) = 2.22; e^-2.22 = 0.1086091; sigmoid = 1/1.1086091 = 0.9020312;
     *   f = 2*0.9020312 - 1 = 0.8040624; 0.4*f = 0.32162496 -> 3216 */
    assert_int_equal(r.contribution_e4[PRICING_DEMAND], 3216);
    /* supply: 2/(1 + 60/40) - 1 = 2/2.5 - 1 = -0.2; 0.3*-0.2 = -0.06 -> -600 */
    assert_int_equal(r.contribution_e4[PRICING_SUPPLY], -600);
    /* time at 8: 1.2 - 1 = 0.2; 0.2*0.2 = 0.04 -> 400 */
    assert_int_equal(r.contribution_e4[PRICING_TIME], 400);
    /* events: 0.4*0.5 = 0.2; 0.1*0.2 = 0.02 -> 200 */
    assert_int_equal(r.contribution_e4[PRICING_EVENT], 200);
    /* weather: 0.3; 0.1*0.3 = 0.03 -> 300 */
    assert_int_equal(r.contribution_e4[PRICING_WEATHER], 300);
    /* 10000 + 3216 - 600 + 400 + 200 + 300 = 13516, inside [1.0, 3.0] */
    assert_int_equal(r.surge_raw_e4, 13516);
    assert_int_equal(r.clip_e4, 0);
    assert_int_equal(r.surge_e4, 13516);
    /* $12.00 * 1.3516 = $16.2192; nearest 0.25 is 16.25 (0.0308 away vs 0.2192) */
    assert_int_equal(r.price_cents, 1625);
    assert_true(r.factor[PRICING_SUPPLY] < -0.199999 && r.factor[PRICING_SUPPLY] > -0.200001);
    assert_invariant(&r);
}

static void test_clip_at_the_top(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.weight_demand = 2.0;
    rule.weight_supply = 1.0;
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    in.fallback = 0;
    in.demand_score = 1.0;
    in.expected_demand = 100;
    in.available_supply = 0;
    pricing_result r;
    pricing_formula(&rule, &in, 12, &r);
    /* demand: 2*sigmoid(3) - 1 = tanh(1.5) = 0.9051483; 2.0*f = 1.8102965 -> 18103 */
    assert_int_equal(r.contribution_e4[PRICING_DEMAND], 18103);
    /* supply: 2/(1 + 0/100) - 1 = 1; 1.0*1 -> 10000 */
    assert_int_equal(r.contribution_e4[PRICING_SUPPLY], 10000);
    /* raw = 10000 + 18103 + 10000 = 38103; max 3.0 -> 30000; clip = 30000 - 38103 = -8103 */
    assert_int_equal(r.surge_raw_e4, 38103);
    assert_int_equal(r.clip_e4, -8103);
    assert_int_equal(r.surge_e4, 30000);
    /* $12.00 * 3 = $36.00 */
    assert_int_equal(r.price_cents, 3600);
    assert_invariant(&r);
}

static void test_clip_at_the_bottom(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    in.fallback = 0;
    in.demand_score = 0.0;
    in.expected_demand = 10;
    in.available_supply = 90;
    pricing_result r;
    pricing_formula(&rule, &in, 3, &r);
    /* demand: 2*sigmoid(-3) - 1 = -tanh(1.5) = -0.9051483; 0.4*f = -0.3620593 -> -3621 */
    assert_int_equal(r.contribution_e4[PRICING_DEMAND], -3621);
    /* supply: 2/(1 + 90/10) - 1 = 0.2 - 1 = -0.8; 0.3*-0.8 = -0.24 -> -2400 */
    assert_int_equal(r.contribution_e4[PRICING_SUPPLY], -2400);
    assert_int_equal(r.contribution_e4[PRICING_TIME], 0);
    /* raw = 10000 - 3621 - 2400 = 3979; min 1.0 -> 10000; clip = 10000 - 3979 = 6021 */
    assert_int_equal(r.surge_raw_e4, 3979);
    assert_int_equal(r.clip_e4, 6021);
    assert_int_equal(r.surge_e4, 10000);
    assert_int_equal(r.price_cents, 1200);
    assert_invariant(&r);
}

static void test_supply_surplus_gives_a_negative_factor(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.min_multiplier = 0.5;
    rule.base_price_cents = 1000;
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    in.fallback = PRICING_FALLBACK_FORECAST | PRICING_FALLBACK_WEATHER | PRICING_FALLBACK_EVENTS;
    in.expected_demand = 50;
    in.available_supply = 150;
    pricing_result r;
    pricing_formula(&rule, &in, 12, &r);
    /* 2/(1 + 150/50) - 1 = 2/4 - 1 = -0.5 exactly; 0.3*-0.5 = -0.15 -> -1500 */
    assert_true(r.factor[PRICING_SUPPLY] == -0.5);
    assert_int_equal(r.contribution_e4[PRICING_SUPPLY], -1500);
    /* 10000 - 1500 = 8500, above the 0.5 floor, so no clip */
    assert_int_equal(r.surge_e4, 8500);
    assert_int_equal(r.clip_e4, 0);
    /* $10.00 * 0.85 = $8.50 */
    assert_int_equal(r.price_cents, 850);
    assert_invariant(&r);
}

static void test_supply_fallback_is_exactly_zero(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    in.expected_demand = 10; /* would give f = 2/(1+0) - 1 = 1 without the fallback bit */
    in.available_supply = 0;
    pricing_result r;
    pricing_formula(&rule, &in, 12, &r);
    assert_true(r.factor[PRICING_SUPPLY] == 0.0);
    assert_int_equal(r.contribution_e4[PRICING_SUPPLY], 0);
    assert_int_equal(r.surge_e4, 10000);
    assert_invariant(&r);
}

static void test_peak_hour_adds_the_time_factor(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    pricing_result peak, noon;
    pricing_formula(&rule, &in, 8, &peak);
    pricing_formula(&rule, &in, 12, &noon);
    /* 8h: (1.2 - 1) * 0.2 = 0.04 -> 400; surge 1.04; $12.00 * 1.04 = $12.48 -> 12.50 */
    assert_int_equal(peak.contribution_e4[PRICING_TIME], 400);
    assert_int_equal(peak.surge_e4, 10400);
    assert_int_equal(peak.price_cents, 1250);
    assert_int_equal(peak.local_hour, 8);
    /* 12h: 1.0 - 1 = 0 */
    assert_int_equal(noon.contribution_e4[PRICING_TIME], 0);
    assert_int_equal(noon.surge_e4, 10000);
    assert_int_equal(noon.price_cents, 1200);
    assert_invariant(&peak);
    assert_invariant(&noon);
}

static void test_rounding_ties_go_away_from_zero(void **state)
{
    (void)state;
    /* $10.00 * 1.125 = $11.25: exactly on a step */
    assert_int_equal(pricing_round_price(1000, 11250, 25), 1125);
    /* $10.00 * 1.0125 = $10.125: half-way between 10.00 and 10.25 -> 10.25 */
    assert_int_equal(pricing_round_price(1000, 10125, 25), 1025);
    /* $10.00 * 1.0124 = $10.124: just under half-way -> 10.00 */
    assert_int_equal(pricing_round_price(1000, 10124, 25), 1000);
    /* the negative tie goes away from zero too: -$10.125 -> -$10.25 */
    assert_int_equal(pricing_round_price(-1000, 10125, 25), -1025);
    /* the seed's example: $12.00 * 1.31 = $15.72 -> 15.75 */
    assert_int_equal(pricing_round_price(1200, 13100, 25), 1575);
    /* rounding 0 means whole cents: 1000 * 1.0005 = 1000.5 cents (a tie) -> 1001 */
    assert_int_equal(pricing_round_price(1000, 10005, 0), 1001);
    /* 1234 * 1.0005 = 1234.617 cents -> 1235 */
    assert_int_equal(pricing_round_price(1234, 10005, -5), 1235);
}

/* The seed-like result (surge 13516, price 1625) as the starting point of guardrail tests. */
static pricing_result seed_result(const store_rule *rule)
{
    pricing_inputs in = seed_inputs();
    pricing_result r;
    pricing_formula(rule, &in, 8, &r);
    assert_int_equal(r.surge_e4, 13516);
    return r;
}

static void test_max_change_limits_a_rise_by_age(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.max_change_per_min = 0.5;
    pricing_result r = seed_result(&rule);
    pricing_previous prev = {.valid = true, .surge_e4 = 10000, .at_ms = 1000000};
    pricing_apply_guardrails(&rule, NULL, &prev, 1030000, &r);
    /* 30 s at 0.5 per minute allows 0.25: at most 1.25; 12500 - 13516 = -1016 */
    assert_int_equal(r.surge_e4, 12500);
    assert_int_equal(r.guard_e4[PRICING_GUARD_MAX_CHANGE], -1016);
    assert_int_equal(r.guard_acted, 1u << PRICING_GUARD_MAX_CHANGE);
    assert_true(r.had_previous);
    assert_int_equal(r.previous_surge_e4, 10000);
    assert_int_equal(r.previous_age_ms, 30000);
    /* $12.00 * 1.25 = $15.00 */
    assert_int_equal(r.price_cents, 1500);
    assert_invariant(&r);
}

static void test_max_change_limits_a_fall_by_age(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.max_change_per_min = 0.5;
    pricing_inputs in;
    pricing_inputs_neutral(&in);
    pricing_result r;
    pricing_formula(&rule, &in, 12, &r);
    pricing_previous prev = {.valid = true, .surge_e4 = 20000, .at_ms = 5000};
    pricing_apply_guardrails(&rule, NULL, &prev, 17000, &r);
    /* 12 s at 0.5 per minute allows 0.1: at least 1.9; 19000 - 10000 = +9000 */
    assert_int_equal(r.surge_e4, 19000);
    assert_int_equal(r.guard_e4[PRICING_GUARD_MAX_CHANGE], 9000);
    assert_int_equal(r.previous_age_ms, 12000);
    /* $12.00 * 1.9 = $22.80 -> 22.75 */
    assert_int_equal(r.price_cents, 2275);
    assert_invariant(&r);
}

static void test_max_change_within_the_limit_does_not_act(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.max_change_per_min = 0.5;
    pricing_result r = seed_result(&rule);
    pricing_previous prev = {.valid = true, .surge_e4 = 13000, .at_ms = 0};
    pricing_apply_guardrails(&rule, NULL, &prev, 60000, &r);
    /* one minute allows 0.5; 1.3516 is within 1.3 +- 0.5 */
    assert_int_equal(r.surge_e4, 13516);
    assert_int_equal(r.guard_acted, 0);
    assert_int_equal(r.guard_e4[PRICING_GUARD_MAX_CHANGE], 0);
    assert_true(r.had_previous);
    assert_int_equal(r.previous_age_ms, 60000);
    assert_int_equal(r.price_cents, 1625);
    assert_invariant(&r);
}

static void test_max_change_with_a_future_previous_allows_no_move(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.max_change_per_min = 0.5;
    pricing_result r = seed_result(&rule);
    /* the previous quote is 5 s in the future (clock skew): age 0, nothing allowed */
    pricing_previous prev = {.valid = true, .surge_e4 = 11000, .at_ms = 105000};
    pricing_apply_guardrails(&rule, NULL, &prev, 100000, &r);
    assert_int_equal(r.previous_age_ms, 0);
    assert_int_equal(r.surge_e4, 11000);
    assert_int_equal(r.guard_e4[PRICING_GUARD_MAX_CHANGE], 11000 - 13516);
    assert_invariant(&r);
}

static void test_freeze_at_an_explicit_multiplier(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_result r = seed_result(&rule);
    store_control control = {.frozen = true, .frozen_multiplier = 1.5};
    pricing_apply_guardrails(&rule, &control, NULL, 0, &r);
    /* 15000 - 13516 = +1484 */
    assert_int_equal(r.surge_e4, 15000);
    assert_int_equal(r.guard_e4[PRICING_GUARD_FREEZE], 1484);
    assert_int_equal(r.guard_acted, 1u << PRICING_GUARD_FREEZE);
    assert_true(r.frozen);
    assert_int_equal(r.frozen_e4, 15000);
    assert_false(r.had_previous);
    /* $12.00 * 1.5 = $18.00 */
    assert_int_equal(r.price_cents, 1800);
    assert_invariant(&r);
}

static void test_freeze_at_the_previous_surge(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_result r = seed_result(&rule);
    store_control control = {.frozen = true, .frozen_multiplier = 0};
    pricing_previous prev = {.valid = true, .surge_e4 = 18000, .at_ms = 0};
    pricing_apply_guardrails(&rule, &control, &prev, 1000, &r);
    /* max change is off (0 per minute), so only the freeze acts: 18000 - 13516 = +4484 */
    assert_int_equal(r.surge_e4, 18000);
    assert_int_equal(r.guard_e4[PRICING_GUARD_FREEZE], 4484);
    assert_int_equal(r.guard_e4[PRICING_GUARD_MAX_CHANGE], 0);
    assert_int_equal(r.guard_acted, 1u << PRICING_GUARD_FREEZE);
    assert_int_equal(r.frozen_e4, 18000);
    assert_true(r.had_previous);
    /* $12.00 * 1.8 = $21.60 -> 21.50 (0.10 away vs 0.15) */
    assert_int_equal(r.price_cents, 2150);
    assert_invariant(&r);
}

static void test_freeze_without_previous_keeps_the_computed_surge(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_result r = seed_result(&rule);
    store_control control = {.frozen = true, .frozen_multiplier = 0};
    pricing_apply_guardrails(&rule, &control, NULL, 0, &r);
    assert_int_equal(r.surge_e4, 13516);
    assert_true(r.frozen);
    assert_int_equal(r.frozen_e4, 13516);
    assert_int_equal(r.guard_acted, 0);
    assert_int_equal(r.price_cents, 1625);
    assert_invariant(&r);
}

static void test_cap_below_the_computed_surge(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_result r = seed_result(&rule);
    store_control control = {.emergency_cap = 1.2};
    pricing_apply_guardrails(&rule, &control, NULL, 0, &r);
    /* 12000 - 13516 = -1516 */
    assert_int_equal(r.surge_e4, 12000);
    assert_int_equal(r.cap_e4, 12000);
    assert_int_equal(r.guard_e4[PRICING_GUARD_CAP], -1516);
    assert_int_equal(r.guard_acted, 1u << PRICING_GUARD_CAP);
    assert_false(r.frozen);
    /* $12.00 * 1.2 = $14.40 -> 14.50 (0.10 away vs 0.15) */
    assert_int_equal(r.price_cents, 1450);
    assert_invariant(&r);
}

static void test_cap_above_the_computed_surge_does_not_act(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_result r = seed_result(&rule);
    store_control control = {.emergency_cap = 2.0};
    pricing_apply_guardrails(&rule, &control, NULL, 0, &r);
    assert_int_equal(r.surge_e4, 13516);
    assert_int_equal(r.cap_e4, 20000);
    assert_int_equal(r.guard_acted, 0);
    assert_invariant(&r);
}

static void test_cap_applies_after_freeze(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    pricing_result r = seed_result(&rule);
    store_control control = {.frozen = true, .frozen_multiplier = 2.5, .emergency_cap = 2.0};
    pricing_apply_guardrails(&rule, &control, NULL, 0, &r);
    /* freeze: 25000 - 13516 = +11484; then cap: 20000 - 25000 = -5000 */
    assert_int_equal(r.guard_e4[PRICING_GUARD_FREEZE], 11484);
    assert_int_equal(r.guard_e4[PRICING_GUARD_CAP], -5000);
    assert_int_equal(r.surge_e4, 20000);
    assert_int_equal(r.guard_acted, (1u << PRICING_GUARD_FREEZE) | (1u << PRICING_GUARD_CAP));
    assert_int_equal(r.frozen_e4, 25000);
    /* $12.00 * 2 = $24.00 */
    assert_int_equal(r.price_cents, 2400);
    assert_invariant(&r);
}

static void test_all_guardrails_compose_in_order(void **state)
{
    (void)state;
    store_rule rule = test_rule();
    rule.max_change_per_min = 0.6;
    pricing_result r = seed_result(&rule);
    store_control control = {.frozen = true, .frozen_multiplier = 0, .emergency_cap = 1.1};
    pricing_previous prev = {.valid = true, .surge_e4 = 12000, .at_ms = 0};
    pricing_apply_guardrails(&rule, &control, &prev, 10000, &r);
    /* max change: 10 s at 0.6/min allows 0.1 -> at most 1.3; 13000 - 13516 = -516.
     * freeze at previous 1.2: 12000 - 13000 = -1000. cap 1.1: 11000 - 12000 = -1000. */
    assert_int_equal(r.guard_e4[PRICING_GUARD_MAX_CHANGE], -516);
    assert_int_equal(r.guard_e4[PRICING_GUARD_FREEZE], -1000);
    assert_int_equal(r.guard_e4[PRICING_GUARD_CAP], -1000);
    assert_int_equal(r.surge_e4, 11000);
    assert_int_equal(r.guard_acted, 7);
    /* $12.00 * 1.1 = $13.20 -> 13.25 */
    assert_int_equal(r.price_cents, 1325);
    assert_invariant(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_in_enum_order),
        cmocka_unit_test(test_neutral_inputs_give_surge_one_and_the_rounded_base),
        cmocka_unit_test(test_seed_like_example_contributions),
        cmocka_unit_test(test_clip_at_the_top),
        cmocka_unit_test(test_clip_at_the_bottom),
        cmocka_unit_test(test_supply_surplus_gives_a_negative_factor),
        cmocka_unit_test(test_supply_fallback_is_exactly_zero),
        cmocka_unit_test(test_peak_hour_adds_the_time_factor),
        cmocka_unit_test(test_rounding_ties_go_away_from_zero),
        cmocka_unit_test(test_max_change_limits_a_rise_by_age),
        cmocka_unit_test(test_max_change_limits_a_fall_by_age),
        cmocka_unit_test(test_max_change_within_the_limit_does_not_act),
        cmocka_unit_test(test_max_change_with_a_future_previous_allows_no_move),
        cmocka_unit_test(test_freeze_at_an_explicit_multiplier),
        cmocka_unit_test(test_freeze_at_the_previous_surge),
        cmocka_unit_test(test_freeze_without_previous_keeps_the_computed_surge),
        cmocka_unit_test(test_cap_below_the_computed_surge),
        cmocka_unit_test(test_cap_above_the_computed_surge_does_not_act),
        cmocka_unit_test(test_cap_applies_after_freeze),
        cmocka_unit_test(test_all_guardrails_compose_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
