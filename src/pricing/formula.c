/* formula.c: the surge formula of DESIGN §7, the guardrails (max change per minute, freeze,
 * emergency cap) and price rounding. Pure functions of their arguments: the engine and explain
 * call the same code, so a replay of stored inputs reproduces the stored price exactly. */
#include "pricing.h"

#include <math.h>
#include <string.h>

const char *const PRICING_FACTOR_NAMES[PRICING_NFACTORS] = {"demand", "supply", "time_of_day",
                                                            "events", "weather"};
const char *const PRICING_FALLBACK_NAMES[PRICING_NFALLBACKS] = {"forecast", "supply", "weather",
                                                                "events"};
const char *const PRICING_GUARD_NAMES[PRICING_NGUARDS] = {"max_change", "emergency_cap", "freeze"};

void pricing_inputs_neutral(pricing_inputs *in)
{
    memset(in, 0, sizeof *in);
    in->demand_score = 0.5;
    in->expected_demand = 0;
    in->available_supply = 0;
    in->weather_severity = 0;
    in->event_score = 0;
    in->confidence = 0;
    str_copy(in->model_version, sizeof in->model_version, "none");
    in->fallback = PRICING_FALLBACK_FORECAST | PRICING_FALLBACK_SUPPLY | PRICING_FALLBACK_WEATHER |
                   PRICING_FALLBACK_EVENTS;
    in->features_ts_ms = 0;
}

/* llround of a value that may be huge or not a number: llround is unspecified outside the
 * int64 range, and a NaN input (a broken feature) must not turn into an arbitrary price. */
static int64_t round_e4(double x)
{
    if (!isfinite(x)) return 0;
    if (x > 1e15) return (int64_t)1e15;
    if (x < -1e15) return (int64_t)-1e15;
    return (int64_t)llround(x);
}

/* A factor that came out NaN or infinite contributes nothing rather than poisoning the sum. */
static double finite_or_zero(double x)
{
    return isfinite(x) ? x : 0.0;
}

void pricing_formula(const store_rule *rule, const pricing_inputs *in, int local_hour,
                     pricing_result *out)
{
    memset(out, 0, sizeof *out); /* padding too: results are compared and copied bytewise */
    /* An out-of-range hour would index past time_multiplier; wrap it like a clock. */
    int hour = ((local_hour % 24) + 24) % 24;
    out->local_hour = hour;

    double x = rule->demand_k * (in->demand_score - rule->demand_threshold);
    double f_demand = 2.0 / (1.0 + exp(-x)) - 1.0;

    double f_supply = 0.0;
    if (!(in->fallback & PRICING_FALLBACK_SUPPLY)) {
        /* Negative supply is meaningless and would make the denominator cross zero. */
        double supply = in->available_supply > 0 ? in->available_supply : 0.0;
        double demand = in->expected_demand > 1e-6 ? in->expected_demand : 1e-6;
        f_supply = 2.0 / (1.0 + supply / demand) - 1.0;
    }

    out->factor[PRICING_DEMAND] = finite_or_zero(f_demand);
    out->factor[PRICING_SUPPLY] = finite_or_zero(f_supply);
    out->factor[PRICING_TIME] = finite_or_zero(rule->time_multiplier[hour] - 1.0);
    out->factor[PRICING_EVENT] = finite_or_zero(in->event_score * rule->event_coefficient);
    out->factor[PRICING_WEATHER] = finite_or_zero(in->weather_severity);

    const double weight[PRICING_NFACTORS] = {rule->weight_demand, rule->weight_supply,
                                             rule->weight_time, rule->weight_event,
                                             rule->weight_weather};
    int64_t sum = 0;
    for (int i = 0; i < PRICING_NFACTORS; i++) {
        out->contribution_e4[i] = round_e4(weight[i] * out->factor[i] * 10000.0);
        sum += out->contribution_e4[i];
    }
    out->surge_raw_e4 = 10000 + sum;

    int64_t min_e4 = round_e4(rule->min_multiplier * 10000.0);
    int64_t max_e4 = round_e4(rule->max_multiplier * 10000.0);
    int64_t clipped = out->surge_raw_e4;
    if (clipped < min_e4) clipped = min_e4;
    if (clipped > max_e4) clipped = max_e4;
    out->clip_e4 = clipped - out->surge_raw_e4;
    out->surge_e4 = clipped;

    out->base_price_cents = rule->base_price_cents;
    out->price_cents =
        pricing_round_price(out->base_price_cents, out->surge_e4, rule->rounding_cents);
}

/* Moves out->surge_e4 to target and books the move against guardrail g. */
static void guard_move(pricing_result *out, enum pricing_guardrail g, int64_t target)
{
    if (target == out->surge_e4) return;
    out->guard_e4[g] += target - out->surge_e4;
    out->guard_acted |= 1u << g;
    out->surge_e4 = target;
}

void pricing_apply_guardrails(const store_rule *rule, const store_control *control,
                              const pricing_previous *prev, int64_t now_ms, pricing_result *out)
{
    /* (a) max change: the previous quote is recorded even when the limit is off, so explain
     * shows what the guardrail saw. */
    out->max_change_per_min_e4 =
        rule->max_change_per_min > 0 ? round_e4(rule->max_change_per_min * 10000.0) : 0;
    if (prev && prev->valid) {
        int64_t age = now_ms - prev->at_ms;
        if (age < 0) age = 0;
        out->had_previous = true;
        out->previous_surge_e4 = prev->surge_e4;
        out->previous_age_ms = age;
        if (rule->max_change_per_min > 0) {
            int64_t allowed = round_e4(rule->max_change_per_min * 10000.0 * (double)age / 60000.0);
            int64_t target = out->surge_e4;
            if (target > prev->surge_e4 + allowed) target = prev->surge_e4 + allowed;
            if (target < prev->surge_e4 - allowed) target = prev->surge_e4 - allowed;
            guard_move(out, PRICING_GUARD_MAX_CHANGE, target);
        }
    }

    /* (b) freeze before (c) cap: an operator's cap is the last word, even over a freeze. */
    if (control && control->frozen) {
        int64_t target = out->surge_e4;
        if (control->frozen_multiplier > 0)
            target = round_e4(control->frozen_multiplier * 10000.0);
        else if (prev && prev->valid)
            target = prev->surge_e4;
        out->frozen = true;
        out->frozen_e4 = target;
        guard_move(out, PRICING_GUARD_FREEZE, target);
    }

    if (control && control->emergency_cap > 0) {
        int64_t cap = round_e4(control->emergency_cap * 10000.0);
        out->cap_e4 = cap;
        if (out->surge_e4 > cap) guard_move(out, PRICING_GUARD_CAP, cap);
    }

    out->price_cents =
        pricing_round_price(out->base_price_cents, out->surge_e4, rule->rounding_cents);
}

int64_t pricing_round_price(int64_t base_price_cents, int64_t surge_e4, int64_t rounding_cents)
{
    if (rounding_cents <= 0) rounding_cents = 1;
    /* value is in 1e-6 dollars (cents * 1e-4); integer division keeps ties exact. */
    int64_t value = base_price_cents * surge_e4;
    int64_t step = rounding_cents * 10000;
    int64_t q = value / step, r = value % step;
    /* C division truncates toward zero, so the remainder has value's sign: a remainder of at
     * least half a step (in magnitude) moves q one step away from zero. */
    if (r >= 0 ? 2 * r >= step : -2 * r >= step) q += value < 0 ? -1 : 1;
    return q * rounding_cents;
}
