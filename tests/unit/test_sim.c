/* Tests of the market simulator (src/sim): the random numbers against an independent reference
 * (splitmix64's published first output, and a Python transcription of xoshiro256** and Knuth's
 * Poisson method that produced the other expected values), the arrival process against its
 * rate, the booking probability, the events' JSON, the history table and the backtest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

/* cmocka's assert_float_equal compares floats; these values are doubles */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

/* Pinned from seed 1: they change whenever a law of the market changes (then update them on
 * purpose, after checking the invariants the tests also assert still hold). */
#define ARRIVALS_SEED1_WEEK 23315
#define BACKTEST_REQUESTS 1828
#define BACKTEST_STATIC_TRIPS 697
#define BACKTEST_STATIC_UNSERVED 820
#define BACKTEST_DYNAMIC_TRIPS 664
#define BACKTEST_DYNAMIC_REVENUE_CENTS 946325

/* ---------------------------------------------------------------- random numbers */

static void test_splitmix64_first_output_is_the_published_one(void **state)
{
    (void)state;
    uint64_t x = 0;
    assert_true(sim_splitmix64(&x) == 0xe220a8397b1dcdafULL);
    assert_true(x == 0x9e3779b97f4a7c15ULL);
}

static void test_xoshiro_outputs_for_seed_1(void **state)
{
    (void)state;
    sim_rng r;
    sim_rng_seed(&r, 1);
    assert_true(sim_rng_next(&r) == 0xb3f2af6d0fc710c5ULL);
    assert_true(sim_rng_next(&r) == 0x853b559647364ceaULL);
    assert_true(sim_rng_next(&r) == 0x92f89756082a4514ULL);
}

static void test_same_seed_same_stream_other_seed_other_stream(void **state)
{
    (void)state;
    sim_rng a, b, c;
    sim_rng_seed(&a, 99);
    sim_rng_seed(&b, 99);
    sim_rng_seed(&c, 100);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sim_rng_next(&a), y = sim_rng_next(&b), z = sim_rng_next(&c);
        assert_true(x == y);
        differ += x != z;
    }
    assert_int_equal(differ, 1000);
}

static void test_uniform_and_below_match_the_reference(void **state)
{
    (void)state;
    sim_rng r;
    sim_rng_seed(&r, 42);
    assert_true(sim_rng_uniform(&r) == 0.08386297105988216);
    assert_true(sim_rng_uniform(&r) == 0.3789802506626686);
    sim_rng_seed(&r, 7);
    static const uint64_t below[8] = {7, 2, 8, 9, 9, 8, 0, 1};
    for (int i = 0; i < 8; i++)
        assert_int_equal(sim_rng_below(&r, 10), below[i]);
}

static void test_poisson_draws_match_the_reference(void **state)
{
    (void)state;
    sim_rng r;
    sim_rng_seed(&r, 2026);
    static const uint64_t small[10] = {9, 6, 3, 4, 5, 2, 2, 4, 4, 8};
    for (int i = 0; i < 10; i++)
        assert_int_equal(sim_rng_poisson(&r, 3.5), small[i]);
    /* lambda 40 is drawn as 16 + 16 + 8 */
    sim_rng_seed(&r, 2026);
    static const uint64_t large[5] = {45, 37, 34, 39, 45};
    for (int i = 0; i < 5; i++)
        assert_int_equal(sim_rng_poisson(&r, 40.0), large[i]);
    sim_rng_seed(&r, 5);
    uint64_t sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += sim_rng_poisson(&r, 0.8);
    assert_int_equal(sum, 774);
}

static void test_poisson_of_zero_rate_is_zero_and_draws_nothing(void **state)
{
    (void)state;
    sim_rng r, untouched;
    sim_rng_seed(&r, 3);
    untouched = r;
    assert_int_equal(sim_rng_poisson(&r, 0.0), 0);
    assert_int_equal(sim_rng_poisson(&r, -1.0), 0);
    assert_int_equal(sim_rng_poisson(&r, NAN), 0);
    assert_memory_equal(&r, &untouched, sizeof r);
}

/* ---------------------------------------------------------------- the laws */

static void test_seasonality_values(void **state)
{
    (void)state;
    /* Monday 08:00: weekday profile 2.00 x Monday 0.92 */
    assert_near(sim_seasonality(8 * 60, 1), 1.84, 1e-12);
    /* Monday 08:30: halfway from 2.00 to 1.50, x 0.92 = 1.75 x 0.92 */
    assert_near(sim_seasonality(8 * 60 + 30, 1), 1.61, 1e-12);
    /* Friday 21:00: 1.10 x Friday night 1.3 x Friday 1.10 */
    assert_near(sim_seasonality(21 * 60, 5), 1.573, 1e-12);
    /* Sunday 23:30: halfway from Sunday's 1.25 to Monday's 00:00 0.35 = 0.80, x Sunday 0.85 */
    assert_near(sim_seasonality(23 * 60 + 30, 7), 0.68, 1e-12);
    /* Saturday 04:00: weekend 0.25 x 1.05 */
    assert_near(sim_seasonality(4 * 60, 6), 0.2625, 1e-12);
}

static void test_booking_probability_follows_the_elasticity(void **state)
{
    (void)state;
    /* at the base price: the conversion */
    assert_near(sim_booking_probability(0.85, 1.2, 1.0), 0.85, 1e-15);
    /* twice the price: 0.85 * 2^-1.2 */
    assert_near(sim_booking_probability(0.85, 1.2, 2.0), 0.36998398940085275, 1e-15);
    /* 1.5x with elasticity 2: 0.5 / 2.25 */
    assert_near(sim_booking_probability(0.5, 2.0, 1.5), 0.2222222222222222, 1e-15);
    /* half price would be 0.85 * 2^1.2 = 1.95: capped at 1 */
    assert_near(sim_booking_probability(0.85, 1.2, 0.5), 1.0, 0);
    /* elasticity 0: price does not matter */
    assert_near(sim_booking_probability(0.6, 0.0, 3.0), 0.6, 1e-15);
    /* a non-positive multiplier counts as the base price */
    assert_near(sim_booking_probability(0.85, 1.2, 0.0), 0.85, 1e-15);
}

/* ---------------------------------------------------------------- the arrival process */

static sim_config small_config(void)
{
    sim_config c;
    sim_config_defaults(&c);
    snprintf(c.timezone, sizeof c.timezone, "UTC");
    time_parse("2026-03-02T00:00:00Z", &c.start_ms); /* a Monday, no holiday that week */
    return c;
}

static void test_arrivals_follow_the_rate(void **state)
{
    (void)state;
    sim_config c = small_config();
    c.regions = 1;
    c.requests_per_region_hour = 120;
    c.drivers_per_region = 0;
    surge_error err = {0};
    sim *s = sim_new(&c, &err);
    assert_non_null(s);
    sim_policy policy = sim_policy_static();
    /* Expected requests in the minutes no venue event touches: rate/60 x seasonality x
     * (1 + 0.8 weather severity), severity being the one the step used (the state after it). */
    double expected = 0;
    uint64_t counted = 0, minutes = 0;
    for (int m = 0; m < 7 * 1440; m++) {
        sim_region_state before, after;
        sim_stats s0, s1;
        sim_region_get_state(s, 0, &before);
        sim_get_stats(s, &s0);
        int64_t t = sim_now_ms(s);
        sim_step(s, &policy, NULL, NULL);
        sim_get_stats(s, &s1);
        sim_region_get_state(s, 0, &after);
        if (before.event_score > 0 || after.event_score > 0) continue;
        int minute = (int)((t / 60000) % 1440);
        int dow = (int)(((t / 86400000) % 7 + 3) % 7) + 1;
        expected += 2.0 * sim_seasonality(minute, dow) * (1 + 0.8 * after.weather_severity);
        counted += s1.requests - s0.requests;
        minutes++;
    }
    sim_stats st;
    sim_get_stats(s, &st);
    sim_free(s);
    assert_true(minutes > 5000);
    /* a Poisson total: within 4 standard deviations of its mean */
    assert_true(fabs((double)counted - expected) < 4 * sqrt(expected));
    /* and exactly this many for seed 1 (any change to the arrival process shows here) */
    assert_int_equal(st.requests, ARRIVALS_SEED1_WEEK);
    assert_int_equal(st.trips[0] + st.trips[1], 0); /* no drivers: nobody rides */
    assert_int_equal(st.unserved, st.bookings);
}

/* ---------------------------------------------------------------- events */

typedef struct capture {
    sim_event first[SIM_NEVENT_TYPES];
    bool seen[SIM_NEVENT_TYPES];
    uint64_t count, last_seq;
    bool in_order;
} capture;

static void capture_event(void *ctx, const sim_event *e)
{
    capture *c = ctx;
    if (c->count && e->seq != c->last_seq + 1) c->in_order = false;
    c->last_seq = e->seq;
    c->count++;
    if (!c->seen[e->type]) c->first[e->type] = *e, c->seen[e->type] = true;
}

static void test_events_are_valid_json_with_the_schema_fields(void **state)
{
    (void)state;
    sim_config c = small_config();
    c.regions = 4;
    c.seed = 11;
    surge_error err = {0};
    sim *s = sim_new(&c, &err);
    assert_non_null(s);
    capture cap = {.in_order = true};
    sim_policy policy = sim_policy_static();
    for (int m = 0; m < 3 * 24 * 60; m++)
        sim_step(s, &policy, capture_event, &cap);
    sim_stats st;
    sim_get_stats(s, &st);
    assert_int_equal(cap.count, st.events);
    assert_true(cap.in_order);
    static const char *const FIELDS[SIM_NEVENT_TYPES] = {"user_id,product_type",
                                                         "user_id,product_type",
                                                         "user_id,product_type,booking_id",
                                                         "user_id,product_type,booking_id",
                                                         "lat,lon,driver_id",
                                                         "driver_id,status",
                                                         "temp_c,precip_mm,severity",
                                                         "congestion",
                                                         "venue,start,end,expected_attendance",
                                                         "name"};
    for (int t = 0; t < SIM_NEVENT_TYPES; t++) {
        if (t == SIM_HOLIDAY) continue; /* no holiday in this week */
        assert_true(cap.seen[t]);
        buf b;
        buf_init(&b);
        sim_event_write_json(s, &cap.first[t], &b);
        json_error_t jerr;
        json_t *o = json_loads(b.data, 0, &jerr);
        assert_non_null(o);
        char id[64];
        snprintf(id, sizeof id, "sim-11-%llu", (unsigned long long)cap.first[t].seq);
        assert_string_equal(json_string_value(json_object_get(o, "event_id")), id);
        assert_string_equal(json_string_value(json_object_get(o, "type")), SIM_EVENT_NAMES[t]);
        assert_int_equal(json_integer_value(json_object_get(o, "ts")), cap.first[t].ts_ms);
        assert_string_equal(json_string_value(json_object_get(o, "region_id")),
                            sim_region_id(s, cap.first[t].region));
        char fields[128];
        snprintf(fields, sizeof fields, "%s", FIELDS[t]);
        size_t nfields = 4;
        for (char *f = strtok(fields, ","); f; f = strtok(NULL, ","), nfields++)
            assert_non_null(json_object_get(o, f));
        assert_int_equal(json_object_size(o), nfields);
        if (t == SIM_DRIVER_LOCATION) {
            /* the point lies in the region's cell */
            char cell[GEOHASH_MAX + 1];
            geohash_encode(json_number_value(json_object_get(o, "lat")),
                           json_number_value(json_object_get(o, "lon")), 5, cell);
            assert_string_equal(cell, sim_region_id(s, cap.first[t].region));
        }
        json_decref(o);
        buf_free(&b);
    }
    sim_free(s);
}

static void test_sixty_four_regions_are_the_sample_city(void **state)
{
    (void)state;
    sim_config c;
    sim_config_defaults(&c);
    c.start_ms = 1767225600000LL;
    surge_error err = {0};
    sim *s = sim_new(&c, &err);
    assert_non_null(s);
    assert_int_equal(sim_region_count(s), 64);
    /* the sample city's centre cell (40.7580,-73.9855) is one of them */
    bool found = false;
    for (int i = 0; i < 64; i++)
        found |= strcmp(sim_region_id(s, i), "dr5ru") == 0;
    assert_true(found);
    sim_free(s);
}

static void test_config_errors_name_the_field(void **state)
{
    (void)state;
    sim_config c;
    surge_error err = {0};
    sim_config_defaults(&c);
    c.regions = 0;
    assert_int_equal(sim_config_check(&c, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "regions");
    sim_config_defaults(&c);
    c.elasticity = -1;
    assert_int_equal(sim_config_check(&c, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "elasticity");
    sim_config_defaults(&c);
    snprintf(c.timezone, sizeof c.timezone, "Mars/Olympus");
    assert_null(sim_new(&c, &err));
}

/* ---------------------------------------------------------------- history and backtest */

static void test_history_has_a_row_per_region_and_slot(void **state)
{
    (void)state;
    sim_config c = small_config();
    c.regions = 2;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    surge_error err = {0};
    assert_int_equal(sim_write_history(&c, 1, f, &err), 0);
    fclose(f);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 1 + 96 * 2);
    assert_true(strncmp(text, "region_id,ts,demand,temperature,precipitation,holiday\n", 54) == 0);
    /* rows from the first slot of the day to its last */
    assert_non_null(strstr(text, ",2026-03-02T00:00:00.000Z,"));
    assert_non_null(strstr(text, ",2026-03-02T23:45:00.000Z,"));
    assert_null(strstr(text, ",2026-03-03T00:00:00.000Z,"));
    free(text);
}

static void test_backtest_is_deterministic_and_static_revenue_is_trips_times_base(void **state)
{
    (void)state;
    sim_config c = small_config();
    c.regions = 2;
    c.seed = 1;
    c.premium_share = 0; /* every rider wants standard, base 12.00 */
    sim_backtest_result a[SIM_BACKTEST_POLICIES], b[SIM_BACKTEST_POLICIES];
    surge_error err = {0};
    assert_int_equal(sim_backtest(&c, 1, a, &err), 0);
    assert_int_equal(sim_backtest(&c, 1, b, &err), 0);
    for (int p = 0; p < SIM_BACKTEST_POLICIES; p++)
        assert_memory_equal(&a[p].stats, &b[p].stats, sizeof a[p].stats);
    assert_string_equal(a[0].policy, "static");
    assert_string_equal(a[1].policy, "dynamic");
    const sim_stats *st = &a[0].stats, *dy = &a[1].stats;
    assert_int_equal(st->trips[1], 0);
    assert_int_equal(st->revenue_cents[0], (int64_t)st->trips[0] * 1200);
    assert_int_equal(st->change_sq_sum == 0, 1); /* static prices never move */
    /* the same riders under both policies */
    assert_int_equal(st->requests, dy->requests);
    assert_int_equal(st->requests, st->declined + st->bookings);
    assert_int_equal(st->bookings, st->unserved + st->cancelled + st->trips[0]);
    assert_int_equal(dy->bookings, dy->unserved + dy->cancelled + dy->trips[0]);
    /* surge never goes below the base price with the sample rule (min multiplier 1) */
    assert_true(dy->multiplier_sum >= (double)dy->region_minutes);
    /* the exact figures of this market */
    assert_int_equal(st->requests, BACKTEST_REQUESTS);
    assert_int_equal(st->trips[0], BACKTEST_STATIC_TRIPS);
    assert_int_equal(st->unserved, BACKTEST_STATIC_UNSERVED);
    assert_int_equal(dy->trips[0], BACKTEST_DYNAMIC_TRIPS);
    assert_int_equal(dy->revenue_cents[0], BACKTEST_DYNAMIC_REVENUE_CENTS);
}

/* The dynamic policy prices with surge's formula on the documented inputs: replayed here from
 * the state the policy saw, with the sample rule built field by field. */
typedef struct replay {
    sim_dynamic dyn;
    pricing_previous previous[4][SIM_PRODUCTS];
    int checked, above_base;
} replay;

static void replay_minute(void *ctx, sim *s, int region, int product, const sim_region_state *st,
                          int64_t now_ms, int64_t *price_cents)
{
    replay *r = ctx;
    sim_policy dynamic = sim_policy_dynamic(&r->dyn);
    dynamic.minute(dynamic.ctx, s, region, product, st, now_ms, price_cents);

    store_rule rule;
    memset(&rule, 0, sizeof rule);
    rule.base_price_cents = product == 0 ? 1200 : 2000;
    rule.min_multiplier = 1.0;
    rule.max_multiplier = 3.0;
    rule.weight_demand = 0.4;
    rule.weight_supply = 0.3;
    rule.weight_time = 0.2;
    rule.weight_event = 0.1;
    rule.weight_weather = 0.1;
    rule.demand_k = 6;
    rule.demand_threshold = 0.5;
    rule.event_coefficient = 0.5;
    for (int h = 0; h < 24; h++)
        rule.time_multiplier[h] = h == 7 || h == 8 || h == 17 || h == 18 ? 1.2 : 1.0;
    rule.rounding_cents = 25;
    rule.max_change_per_min = 0.5;
    pricing_inputs in;
    memset(&in, 0, sizeof in);
    double d = st->requests_15min, b = st->baseline_15min;
    in.demand_score = d + b > 0 ? d / (d + b) : 0.5;
    in.expected_demand = d;
    in.available_supply = st->available_drivers;
    in.weather_severity = st->weather_severity;
    in.event_score = st->event_score;
    pricing_result res;
    pricing_formula(&rule, &in, st->local_hour, &res);
    pricing_previous *prev = &r->previous[region][product];
    pricing_apply_guardrails(&rule, NULL, prev, now_ms, &res);
    *prev = (pricing_previous){true, res.surge_e4, now_ms};
    assert_int_equal(*price_cents, res.price_cents);
    r->checked++;
    r->above_base += res.price_cents > rule.base_price_cents;
}

static void test_dynamic_policy_prices_the_documented_inputs(void **state)
{
    (void)state;
    sim_config c = small_config();
    c.regions = 4;
    replay *r = calloc(1, sizeof *r);
    assert_non_null(r);
    surge_error err = {0};
    sim *s = sim_new(&c, &err);
    assert_non_null(s);
    sim_policy policy = {replay_minute, NULL, r};
    for (int m = 0; m < 2 * 1440; m++)
        sim_step(s, &policy, NULL, NULL);
    /* every region, product and minute was checked; surge acted some of the time */
    assert_int_equal(r->checked, 2 * 1440 * 4 * SIM_PRODUCTS);
    assert_true(r->above_base > 0);
    sim_free(s);
    free(r);
}

static void test_backtest_rejects_bad_days(void **state)
{
    (void)state;
    sim_config c = small_config();
    sim_backtest_result r[SIM_BACKTEST_POLICIES];
    surge_error err = {0};
    assert_int_equal(sim_backtest(&c, 0, r, &err), SURGE_EINVAL);
    assert_string_equal(err.field, "backtest");
}

/* ---------------------------------------------------------------- backfill */

/* Pinned like the values at the top: 4 regions x 24 requests an hour x 48 hours of a weekend
 * (day factors 1.05 and 0.85) is about 4 400 searches. */
#define BACKFILL_SEED7_SEARCHES 4276

/* Drains a backfill in batches of `batch`; returns the events (caller frees) and their count. */
static sim_event *drain_backfill(const sim_config *c, int days, size_t batch, size_t *count)
{
    surge_error err = {0};
    sim_backfill *b = sim_backfill_new(c, days, &err);
    assert_non_null(b);
    size_t cap = 1 << 16, len = 0;
    sim_event *all = malloc(cap * sizeof *all);
    sim_event *chunk = malloc(batch * sizeof *chunk);
    assert_non_null(all);
    assert_non_null(chunk);
    for (;;) {
        size_t n = 99999;
        assert_int_equal(sim_backfill_next(b, chunk, batch, &n, &err), 0);
        assert_true(n <= batch);
        if (n == 0) break;
        if (len + n > cap) {
            cap *= 2;
            all = realloc(all, cap * sizeof *all);
            assert_non_null(all);
        }
        memcpy(all + len, chunk, n * sizeof *chunk);
        len += n;
    }
    sim_backfill_free(b);
    free(chunk);
    *count = len;
    return all;
}

static void test_backfill_is_sorted_unique_deterministic_and_ends_at_the_start(void **state)
{
    (void)state;
    sim_config c = small_config();
    c.regions = 4;
    c.seed = 7;
    time_parse("2026-03-09T00:00:30Z", &c.start_ms); /* rounded down to the minute */
    int64_t end, begin;
    time_parse("2026-03-09T00:00:00Z", &end);
    begin = end - 2 * 86400000LL;
    size_t n = 0, m = 0;
    sim_event *a = drain_backfill(&c, 2, 100, &n);
    sim_event *b = drain_backfill(&c, 2, 7, &m); /* other batch sizes, the same stream */
    assert_int_equal(n, m);
    uint64_t weather = 0, searches = 0;
    bool *seen = calloc(n, sizeof *seen);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++) {
        assert_true(a[i].seq == b[i].seq && a[i].ts_ms == b[i].ts_ms && a[i].type == b[i].type &&
                    a[i].region == b[i].region && a[i].subject == b[i].subject);
        assert_true(a[i].ts_ms >= begin && a[i].ts_ms < end);
        if (i > 0)
            assert_true(a[i - 1].ts_ms < a[i].ts_ms ||
                        (a[i - 1].ts_ms == a[i].ts_ms && a[i - 1].seq < a[i].seq));
        /* ids are the numbers 0..n-1, each once */
        assert_true(a[i].seq < n && !seen[a[i].seq]);
        seen[a[i].seq] = true;
        assert_true(a[i].type == SIM_SEARCH || a[i].type == SIM_WEATHER);
        weather += a[i].type == SIM_WEATHER;
        searches += a[i].type == SIM_SEARCH;
    }
    /* weather every 15 minutes in every region: 2 days x 96 x 4, whatever the draws */
    assert_int_equal(weather, 2 * 96 * 4);
    assert_true(searches > 3500 && searches < 5500); /* the rate's order, pin or not */
    assert_int_equal(searches, BACKFILL_SEED7_SEARCHES);
    free(seen);

    /* the ids name the live run's seed and cannot be a live id "sim-7-<seq>" */
    surge_error err = {0};
    sim_backfill *bf = sim_backfill_new(&c, 2, &err);
    assert_non_null(bf);
    assert_true(sim_backfill_start_ms(bf) == begin && sim_backfill_end_ms(bf) == end);
    buf j;
    buf_init(&j);
    sim_backfill_write_json(bf, &a[n - 1], &j);
    json_t *root = json_loadb(j.data, j.len, 0, NULL);
    assert_non_null(root);
    char want[64];
    snprintf(want, sizeof want, "sim-7-bf-%llu", (unsigned long long)a[n - 1].seq);
    assert_string_equal(json_string_value(json_object_get(root, "event_id")), want);
    json_decref(root);
    buf_free(&j);
    sim_backfill_free(bf);
    free(a);
    free(b);
}

static void test_backfill_rejects_days_outside_1_to_28(void **state)
{
    (void)state;
    sim_config c = small_config();
    surge_error err = {0};
    assert_null(sim_backfill_new(&c, 0, &err));
    assert_int_equal(err.code, SURGE_EINVAL);
    assert_string_equal(err.field, "backfill");
    surge_error err2 = {0};
    assert_null(sim_backfill_new(&c, 29, &err2));
    assert_string_equal(err2.field, "backfill");
    assert_non_null(strstr(err2.message, "1..28"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64_first_output_is_the_published_one),
        cmocka_unit_test(test_xoshiro_outputs_for_seed_1),
        cmocka_unit_test(test_same_seed_same_stream_other_seed_other_stream),
        cmocka_unit_test(test_uniform_and_below_match_the_reference),
        cmocka_unit_test(test_poisson_draws_match_the_reference),
        cmocka_unit_test(test_poisson_of_zero_rate_is_zero_and_draws_nothing),
        cmocka_unit_test(test_seasonality_values),
        cmocka_unit_test(test_booking_probability_follows_the_elasticity),
        cmocka_unit_test(test_arrivals_follow_the_rate),
        cmocka_unit_test(test_events_are_valid_json_with_the_schema_fields),
        cmocka_unit_test(test_sixty_four_regions_are_the_sample_city),
        cmocka_unit_test(test_config_errors_name_the_field),
        cmocka_unit_test(test_history_has_a_row_per_region_and_slot),
        cmocka_unit_test(test_backtest_is_deterministic_and_static_revenue_is_trips_times_base),
        cmocka_unit_test(test_dynamic_policy_prices_the_documented_inputs),
        cmocka_unit_test(test_backtest_rejects_bad_days),
        cmocka_unit_test(test_backfill_is_sorted_unique_deterministic_and_ends_at_the_start),
        cmocka_unit_test(test_backfill_rejects_days_outside_1_to_28),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
