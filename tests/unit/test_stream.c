/* test_stream.c: unit tests of src/stream: window semantics on hand-made event sequences
 * (boundaries, overlaps, out-of-order within lateness, late beyond it, idle and pending
 * sources), sessions, driver state, exact feature values, checkpoints that continue exactly,
 * and the decoders/encoders at the stream's edges (event_view, demand-signals). Expected values
 * are worked out by hand in the comments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "stream/stream.h"

#define MIN 60000LL
#define HOUR 3600000LL
/* 2027-01-15T08:00:00Z: a multiple of 5 minutes and of an hour */
#define T0 1800000000000LL

#define COLLECT_MAX 20000

typedef struct collected {
    stream_aggregate *windows; /* COLLECT_MAX, freed by done() */
    int count;
    int late;
} collected;

static void on_window(void *ctx, const stream_aggregate *a)
{
    collected *c = ctx;
    assert_true(c->count < COLLECT_MAX);
    c->windows[c->count++] = *a;
}

static void on_late(void *ctx, int source, const event_view *ev, int64_t wm)
{
    collected *c = ctx;
    c->late++;
}

static stream_engine *engine(collected *c)
{
    stream_engine_config cfg;
    stream_engine_config_defaults(&cfg);
    stream_engine_callbacks cb = {on_window, on_late, c};
    memset(c, 0, sizeof *c);
    c->windows = calloc(COLLECT_MAX, sizeof *c->windows);
    assert_non_null(c->windows);
    stream_engine *e = stream_engine_new(&cfg, &cb);
    assert_non_null(e);
    return e;
}

static void done(stream_engine *e, collected *c)
{
    stream_engine_free(e);
    free(c->windows);
    c->windows = NULL;
}

static event_view ev(event_type type, int64_t ts, const char *region, const char *subject)
{
    event_view v;
    memset(&v, 0, sizeof v);
    v.type = type;
    v.ts_ms = ts;
    strcpy(v.region_id, region);
    v.subject = subject;
    v.subject_len = strlen(subject);
    v.event_id = "x";
    v.event_id_len = 1;
    return v;
}

static void send(stream_engine *e, int source, event_type type, int64_t ts, const char *region,
                 const char *subject)
{
    event_view v = ev(type, ts, region, subject);
    stream_engine_process(e, source, &v);
}

static const stream_aggregate *find(const collected *c, stream_window w, int64_t start)
{
    for (int i = 0; i < c->count; i++)
        if (c->windows[i].window == w && c->windows[i].start_ms == start) return &c->windows[i];
    return NULL;
}

static void expect_window(const collected *c, stream_window w, int64_t start, int64_t searches,
                          int64_t bookings, int64_t cancels)
{
    const stream_aggregate *a = find(c, w, start);
    if (!a)
        fail_msg("no %s window starting at T0%+lld min", STREAM_WINDOW_NAMES[w],
                 (long long)((start - T0) / MIN));
    assert_int_equal(a->searches, searches);
    assert_int_equal(a->bookings, bookings);
    assert_int_equal(a->cancels, cancels);
    assert_int_equal(a->end_ms - a->start_ms, w == STREAM_TUMBLING_1M   ? MIN
                                              : w == STREAM_TUMBLING_5M ? 5 * MIN
                                                                        : 15 * MIN);
}

static int count_kind(const collected *c, stream_window w)
{
    int n = 0;
    for (int i = 0; i < c->count; i++)
        n += c->windows[i].window == w;
    return n;
}

static double feature(const feature_set *s, const char *name)
{
    for (int i = 0; i < s->count; i++)
        if (strcmp(s->values[i].name, name) == 0) return s->values[i].value;
    return NAN;
}

/* ---------------------------------------------------------------- windows */

static void windows_have_exact_counts_at_boundaries(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    send(e, 0, EVENT_SEARCH, T0, "dr5ru", "u1");          /* pane 0 (first ms) */
    send(e, 0, EVENT_SEARCH, T0 + 59999, "dr5ru", "u1");  /* pane 0 (last ms) */
    send(e, 0, EVENT_BOOKING, T0 + 60000, "dr5ru", "u1"); /* pane 1 */
    send(e, 0, EVENT_CANCEL, T0 + 60001, "dr5ru", "u1");  /* pane 1 */
    send(e, 0, EVENT_SEARCH, T0 + 299999, "dr5ru", "u1"); /* pane 4 */
    send(e, 0, EVENT_SEARCH, T0 + 300000, "dr5ru", "u1"); /* pane 5 */
    stream_engine_finish(e);
    /* 1 min: panes 0, 1, 4, 5 */
    assert_int_equal(count_kind(&c, STREAM_TUMBLING_1M), 4);
    expect_window(&c, STREAM_TUMBLING_1M, T0, 2, 0, 0);
    expect_window(&c, STREAM_TUMBLING_1M, T0 + MIN, 0, 1, 1);
    assert_true(find(&c, STREAM_TUMBLING_1M, T0 + MIN)->cancel_rate == 1.0);
    expect_window(&c, STREAM_TUMBLING_1M, T0 + 4 * MIN, 1, 0, 0);
    expect_window(&c, STREAM_TUMBLING_1M, T0 + 5 * MIN, 1, 0, 0);
    /* 5 min: [0, 5) and [5, 10) */
    assert_int_equal(count_kind(&c, STREAM_TUMBLING_5M), 2);
    expect_window(&c, STREAM_TUMBLING_5M, T0, 3, 1, 1);
    expect_window(&c, STREAM_TUMBLING_5M, T0 + 5 * MIN, 1, 0, 0);
    /* sliding 15 min ending at every minute 1..20 (the last one holding pane 5) */
    assert_int_equal(count_kind(&c, STREAM_SLIDING_15M), 20);
    expect_window(&c, STREAM_SLIDING_15M, T0 - 14 * MIN, 2, 0, 0); /* [-14, 1) */
    expect_window(&c, STREAM_SLIDING_15M, T0 - 13 * MIN, 2, 1, 1); /* [-13, 2) */
    expect_window(&c, STREAM_SLIDING_15M, T0 - 10 * MIN, 3, 1, 1); /* [-10, 5) */
    expect_window(&c, STREAM_SLIDING_15M, T0 - 9 * MIN, 4, 1, 1);  /* [-9, 6) */
    expect_window(&c, STREAM_SLIDING_15M, T0, 4, 1, 1);            /* [0, 15) */
    expect_window(&c, STREAM_SLIDING_15M, T0 + MIN, 2, 1, 1);      /* [1, 16) */
    expect_window(&c, STREAM_SLIDING_15M, T0 + 2 * MIN, 2, 0, 0);  /* [2, 17) */
    expect_window(&c, STREAM_SLIDING_15M, T0 + 4 * MIN, 2, 0, 0);  /* [4, 19) */
    expect_window(&c, STREAM_SLIDING_15M, T0 + 5 * MIN, 1, 0, 0);  /* [5, 20) */
    assert_null(find(&c, STREAM_SLIDING_15M, T0 + 6 * MIN));
    assert_null(find(&c, STREAM_SLIDING_15M, T0 - 15 * MIN));
    assert_int_equal(c.count, 26);
    assert_int_equal(c.late, 0);
    done(e, &c);
}

static void out_of_order_within_lateness_counts_and_beyond_is_late(void **state)
{
    collected c;
    stream_engine *e = engine(&c);                       /* allowed lateness 30 s */
    send(e, 0, EVENT_SEARCH, T0 + 40000, "dr5ru", "u1"); /* watermark T0+10 s */
    send(e, 0, EVENT_SEARCH, T0 + 20000, "dr5ru", "u2"); /* out of order, pane 0 open */
    assert_int_equal(c.count, 0);
    send(e, 0, EVENT_SEARCH, T0 + 90000, "dr5ru", "u3"); /* watermark T0+60 s: pane 0 closes */
    expect_window(&c, STREAM_TUMBLING_1M, T0, 2, 0, 0);
    send(e, 0, EVENT_SEARCH, T0 + 58000, "dr5ru", "u4"); /* its pane closed: late */
    assert_int_equal(c.late, 1);
    send(e, 0, EVENT_SEARCH, T0 + 60500, "dr5ru", "u5"); /* pane 1 still open */
    assert_int_equal(c.late, 1);
    stream_engine_finish(e);
    expect_window(&c, STREAM_TUMBLING_1M, T0 + MIN, 2, 0, 0);
    expect_window(&c, STREAM_TUMBLING_5M, T0, 4, 0, 0); /* the late one is in no window */
    stream_engine_stats st;
    stream_engine_stats_get(e, &st);
    assert_int_equal(st.events, 4);
    assert_int_equal(st.late_events, 1);
    done(e, &c);
}

static void idle_source_stops_holding_the_watermark(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    send(e, 0, EVENT_SEARCH, T0 + 10000, "dr5ru", "u1");
    send(e, 1, EVENT_SEARCH, T0 + 10000, "dr5rv", "u2");
    send(e, 0, EVENT_SEARCH, T0 + 200000, "dr5ru", "u1");
    /* source 1 is at T0+10 s: the watermark is T0-20 s, nothing closes */
    assert_int_equal(c.count, 0);
    assert_int_equal(stream_engine_watermark(e), T0 - 20000);
    stream_engine_set_idle(e, 1, true);
    /* now source 0 alone: watermark T0+170 s, windows ending at minutes 1 and 2 close */
    assert_int_equal(stream_engine_watermark(e), T0 + 170000);
    expect_window(&c, STREAM_TUMBLING_1M, T0, 1, 0, 0);
    assert_non_null(find(&c, STREAM_TUMBLING_1M, T0)); /* dr5ru */
    int ru = 0, rv = 0;
    for (int i = 0; i < c.count; i++) {
        ru += strcmp(c.windows[i].region_id, "dr5ru") == 0;
        rv += strcmp(c.windows[i].region_id, "dr5rv") == 0;
    }
    /* per region: 1-min [0,1) and sliding ending at 1 and 2 */
    assert_int_equal(ru, 3);
    assert_int_equal(rv, 3);
    done(e, &c);
}

static void pending_source_holds_the_watermark_until_its_first_event(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    stream_engine_set_pending(e, 5, true);
    send(e, 0, EVENT_SEARCH, T0 + 10000, "dr5ru", "u1");
    send(e, 0, EVENT_SEARCH, T0 + 500000, "dr5ru", "u1");
    assert_int_equal(c.count, 0);
    send(e, 5, EVENT_SEARCH, T0 + 20000, "dr5rv", "u2"); /* not late: nothing closed yet */
    assert_int_equal(c.late, 0);
    stream_engine_set_pending(e, 5, false);
    stream_engine_set_idle(e, 5, true);
    expect_window(&c, STREAM_TUMBLING_1M, T0, 1, 0, 0);
    done(e, &c);
}

/* ---------------------------------------------------------------- state and features */

static void sessions_split_after_the_gap(void **state)
{
    collected c;
    stream_engine *e = engine(&c); /* gap 30 min */
    send(e, 0, EVENT_SEARCH, T0, "dr5ru", "u1");
    send(e, 0, EVENT_SEARCH, T0 + 10 * MIN, "dr5ru", "u1");
    send(e, 0, EVENT_SEARCH, T0 + 45 * MIN, "dr5ru", "u1"); /* 35 min later: a new session */
    feature_set *s = malloc(sizeof *s);
    assert_int_equal(stream_engine_features(e, "dr5ru", T0 + 45 * MIN + 1, s), 0);
    assert_true(feature(s, "active_sessions") == 1);
    assert_true(feature(s, "sessions_started_15min") == 1);
    /* the first session: 10 minutes, 2 searches, ended in pane 10 (within the hour) */
    assert_true(feature(s, "avg_session_length_min_1h") == 10.0);
    assert_true(feature(s, "searches_per_session_1h") == 2.0);
    free(s);
    done(e, &c);
}

static void drivers_latest_status_by_event_time_wins(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    event_view v = ev(EVENT_DRIVER_STATUS, T0 + 1000, "dr5ru", "d1");
    v.driver_status = 0;
    stream_engine_process(e, 12, &v);
    v.ts_ms = T0 + 3000;
    v.driver_status = 1; /* busy */
    stream_engine_process(e, 12, &v);
    v.ts_ms = T0 + 2000; /* older, arrives last: changes nothing */
    v.driver_status = 0;
    stream_engine_process(e, 12, &v);
    event_view d2 = ev(EVENT_DRIVER_STATUS, T0 + 1000, "dr5ru", "d2");
    d2.driver_status = 0;
    stream_engine_process(e, 12, &d2);
    event_view moved = ev(EVENT_DRIVER_LOCATION, T0 + 4000, "dr5rv", "d2");
    stream_engine_process(e, 12, &moved);
    feature_set *s = malloc(sizeof *s);
    assert_int_equal(stream_engine_features(e, "dr5ru", T0 + 5000, s), 0);
    assert_true(feature(s, "available_drivers") == 0);
    assert_true(feature(s, "busy_drivers") == 1);
    assert_true(feature(s, "utilization_ratio") == 1.0);
    /* dr5rv is dr5ru's northern neighbour */
    assert_true(feature(s, "neighbour_available_drivers") == 1);
    assert_int_equal(stream_engine_features(e, "dr5rv", T0 + 5000, s), 0);
    assert_true(feature(s, "available_drivers") == 1);
    assert_true(feature(s, "busy_drivers") == 0);
    free(s);
    done(e, &c);
}

static void demand_features_from_history_are_exact(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    const int64_t H0 = T0; /* an hour boundary */
    /* one search at the start of each of 48 hours, five in hours 0 and 24 */
    for (int h = 0; h < 48; h++) {
        int n = (h == 0 || h == 24) ? 5 : 1;
        for (int i = 0; i < n; i++)
            send(e, 0, EVENT_SEARCH, H0 + h * HOUR + i, "dr5ru", "u1");
    }
    /* hour 48, minute 10: three searches in the current pane */
    int64_t t = H0 + 48 * HOUR + 10 * MIN + 30000;
    for (int i = 0; i < 3; i++)
        send(e, 0, EVENT_SEARCH, t - 20000 + i, "dr5ru", "u2");
    send(e, 0, EVENT_BOOKING, t - 5000, "dr5ru", "u2");
    feature_set *s = malloc(sizeof *s);
    assert_int_equal(stream_engine_features(e, "dr5ru", t, s), 0);
    assert_true(feature(s, "search_count_1min") == 3);
    assert_true(feature(s, "search_volume_15min") == 3);
    assert_true(feature(s, "expected_demand") == 3);
    assert_true(feature(s, "booking_count_1min") == 1);
    assert_true(feature(s, "conversion_rate_15min") == 1.0 / 3.0);
    /* 48 covered hours holding 46 + 10 = 56 searches */
    assert_true(feature(s, "history_hours") == 48);
    assert_true(feature(s, "rolling_avg_demand_7d") == 56.0 / 48.0);
    /* the same hour on the two previous days: 5 and 5 */
    assert_true(feature(s, "seasonality_score") == 5.0 / (56.0 / 48.0));
    /* hourly rate of the last 15 min = 12 against the usual 5 for this hour */
    assert_true(feature(s, "demand_score") == 12.0 / 17.0);
    assert_true(feature(s, "rolling_avg_demand_1h") == 3.0 / 60.0);
    assert_true(feature(s, "time_since_last_booking_s") == 5.0);
    assert_true(feature(s, "last_event_ts_ms") == (double)(t - 5000));
    /* 2027-01-17T08:10:30Z is a Sunday (ISO 7), 08 h UTC */
    assert_true(feature(s, "hour_of_day") == 8);
    assert_true(feature(s, "day_of_week") == 7);
    assert_true(feature(s, "is_weekend") == 1);
    assert_true(feature(s, "is_peak_hour") == 1);
    assert_true(isnan(feature(s, "weather_severity"))); /* no weather yet: absent */
    assert_true(isnan(feature(s, "same_slot_last_week"))); /* two days of history only */
    /* a week later: the same hour one week earlier is hour 48 (3 searches), not this hour */
    send(e, 0, EVENT_SEARCH, t + 168 * HOUR - 1000, "dr5ru", "u3");
    assert_int_equal(stream_engine_features(e, "dr5ru", t + 168 * HOUR, s), 0);
    assert_true(feature(s, "same_slot_last_week") == 3);
    free(s);
    done(e, &c);
}

static void demand_history_counts_searches_per_quarter(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    float out[6];
    assert_int_equal(stream_engine_demand_history(e, "dr5ru", T0, 6, out), SURGE_ENOTFOUND);
    assert_true(isnan(out[0]));
    /* T0 is an hour boundary: quarters 0..3 of that hour */
    send(e, 0, EVENT_SEARCH, T0 + 1000, "dr5ru", "u1");      /* quarter 0 */
    send(e, 0, EVENT_SEARCH, T0 + 14 * MIN, "dr5ru", "u1");  /* quarter 0 */
    send(e, 0, EVENT_SEARCH, T0 + 31 * MIN, "dr5ru", "u1");  /* quarter 2 */
    send(e, 0, EVENT_BOOKING, T0 + 20 * MIN, "dr5ru", "u1"); /* not a search */
    assert_int_equal(stream_engine_demand_history(e, "dr5ru", T0 - 15 * MIN + 5, 6, out), 0);
    /* before the first event's hour: unknown; then 2, 0, 1, 0 and a future quarter 0 */
    assert_true(isnan(out[0]));
    assert_true(out[1] == 2 && out[2] == 0 && out[3] == 1 && out[4] == 0 && out[5] == 0);
    done(e, &c);
}

static void weather_and_venue_events_feed_the_external_features(void **state)
{
    collected c;
    stream_engine *e = engine(&c);
    send(e, 0, EVENT_SEARCH, T0, "dr5ru", "u1");
    event_view w = ev(EVENT_WEATHER, T0 + 1000, "dr5rv", "");
    w.temp_c = 3.5;
    w.precip_mm = 2.0;
    w.severity = 0.6;
    stream_engine_process(e, 24, &w);
    event_view v = ev(EVENT_VENUE_EVENT, T0 + 2000, "dr5ru", "garden");
    v.venue_start_ms = T0 + 30 * MIN;
    v.venue_end_ms = T0 + 3 * HOUR;
    v.attendance = 10000;
    stream_engine_process(e, 24, &v);
    feature_set *s = malloc(sizeof *s);
    assert_int_equal(stream_engine_features(e, "dr5ru", T0 + 3000, s), 0);
    /* no weather of its own: the neighbour's */
    assert_true(feature(s, "weather_severity") == 0.6);
    assert_true(feature(s, "weather_from_neighbour") == 1);
    assert_true(feature(s, "is_raining") == 1);
    assert_true(feature(s, "weather_age_s") == 2.0);
    /* 10000/20000 = 0.5 size, 30 min before the start: ramp 1 - 1797000/3600000 */
    double ramp = 1.0 - (double)(30 * MIN - 3000) / HOUR;
    assert_true(fabs(feature(s, "nearby_event_score") - 0.5 * ramp) < 1e-12);
    assert_true(feature(s, "minutes_to_next_event") == (30 * MIN - 3000) / 60000.0);
    assert_true(feature(s, "active_venue_events") == 0);
    free(s);
    done(e, &c);
}

/* ---------------------------------------------------------------- checkpoints */

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

static void feed(stream_engine *e, int from, int to)
{
    static const char *regions[] = {"dr5ru", "dr5rv", "dr5rs"};
    static const char *users[] = {"u1", "u2", "u3", "u4", "u5", "u6", "u7"};
    uint64_t x = 42;
    for (int i = 0; i < to; i++) {
        int64_t ts = T0 + (int64_t)i * 7000 + (int64_t)(lcg(&x) % 10000);
        int kind = (int)(lcg(&x) % 6);
        const char *region = regions[lcg(&x) % 3];
        const char *who = users[lcg(&x) % 7];
        int status = (int)(lcg(&x) % 3);
        if (i < from) continue;
        event_view v = ev(kind < 4 ? (event_type)kind : EVENT_DRIVER_STATUS, ts, region, who);
        v.driver_status = status;
        stream_engine_process(e, kind < 4 ? (int)(region[4] % 2) : 12, &v);
    }
}

static void checkpoint_restores_a_state_that_continues_identically(void **state)
{
    collected whole, first, second;
    stream_engine *a = engine(&whole);
    feed(a, 0, 2000);
    stream_engine *b = engine(&first);
    feed(b, 0, 1000);
    buf saved;
    buf_init(&saved);
    stream_engine_save(b, &saved);
    stream_engine *c = engine(&second);
    surge_error err;
    assert_int_equal(stream_engine_load(c, saved.data, saved.len, &err), 0);
    feed(c, 1000, 2000);
    assert_int_equal(first.count + second.count, whole.count);
    assert_true(whole.count > 100);
    assert_memory_equal(first.windows, whole.windows, first.count * sizeof(stream_aggregate));
    assert_memory_equal(second.windows, whole.windows + first.count,
                        second.count * sizeof(stream_aggregate));
    feature_set *fa = malloc(sizeof *fa), *fc = malloc(sizeof *fc);
    const char *regions[] = {"dr5ru", "dr5rv", "dr5rs"};
    for (int i = 0; i < 3; i++) {
        int64_t t = stream_engine_stream_time(a);
        assert_int_equal(stream_engine_features(a, regions[i], t, fa), 0);
        assert_int_equal(stream_engine_features(c, regions[i], t, fc), 0);
        assert_int_equal(fa->count, fc->count);
        assert_memory_equal(fa->values, fc->values, fa->count * sizeof fa->values[0]);
    }
    /* a damaged checkpoint is refused with a reason, never half-loaded */
    collected third;
    stream_engine *d = engine(&third);
    saved.data[saved.len / 2] ^= 0xff;
    assert_int_equal(stream_engine_load(d, saved.data, saved.len - 1, &err), SURGE_EPARSE);
    assert_non_null(strstr(err.message, "does not match"));
    free(fa);
    free(fc);
    buf_free(&saved);
    done(a, &whole);
    done(b, &first);
    done(c, &second);
    stream_engine_free(d);
    free(third.windows);
}

/* ---------------------------------------------------------------- edges: decode and encode */

static void event_view_decodes_every_input_type(void **state)
{
    surge_error err;
    event_codec *codec = event_codec_new(&err);
    assert_non_null(codec);
    static const struct {
        const char *json;
        event_type type;
        const char *subject;
    } cases[] = {
        {"{\"event_id\":\"s1\",\"type\":\"search\",\"ts\":1800000000123,\"lat\":40.75,"
         "\"lon\":-73.98,\"user_id\":\"alice\",\"product_type\":\"standard\","
         "\"destination_lat\":40.7,\"destination_lon\":-74.0}",
         EVENT_SEARCH, "alice"},
        {"{\"event_id\":\"v1\",\"type\":\"view\",\"ts\":1800000000123,\"region_id\":\"dr5ru\","
         "\"user_id\":\"bob\",\"product_type\":\"premium\"}",
         EVENT_VIEW, "bob"},
        {"{\"event_id\":\"b1\",\"type\":\"booking\",\"ts\":1800000000123,\"region_id\":\"dr5ru\","
         "\"user_id\":\"bob\",\"product_type\":\"standard\",\"booking_id\":\"bk9\"}",
         EVENT_BOOKING, "bob"},
        {"{\"event_id\":\"c1\",\"type\":\"cancel\",\"ts\":1800000000123,\"region_id\":\"dr5ru\","
         "\"user_id\":\"bob\",\"product_type\":\"standard\"}",
         EVENT_CANCEL, "bob"},
        {"{\"event_id\":\"l1\",\"type\":\"driver_location\",\"ts\":1800000000123,\"lat\":40.75,"
         "\"lon\":-73.98,\"driver_id\":\"drv7\"}",
         EVENT_DRIVER_LOCATION, "drv7"},
        {"{\"event_id\":\"d1\",\"type\":\"driver_status\",\"ts\":1800000000123,\"region_id\":"
         "\"dr5ru\",\"driver_id\":\"drv7\",\"status\":\"offline\"}",
         EVENT_DRIVER_STATUS, "drv7"},
        {"{\"event_id\":\"w1\",\"type\":\"weather\",\"ts\":1800000000123,\"region_id\":\"dr5ru\","
         "\"temp_c\":-2.5,\"precip_mm\":4.25,\"severity\":0.75}",
         EVENT_WEATHER, ""},
        {"{\"event_id\":\"t1\",\"type\":\"traffic\",\"ts\":1800000000123,\"region_id\":\"dr5ru\","
         "\"congestion\":0.5}",
         EVENT_TRAFFIC, ""},
        {"{\"event_id\":\"e1\",\"type\":\"venue_event\",\"ts\":1800000000123,\"region_id\":"
         "\"dr5ru\",\"venue\":\"garden\",\"start\":1800003600000,\"end\":1800010800000,"
         "\"expected_attendance\":19000}",
         EVENT_VENUE_EVENT, "garden"},
        {"{\"event_id\":\"h1\",\"type\":\"holiday\",\"ts\":1800000000123,\"region_id\":\"dr5ru\","
         "\"name\":\"New Year\"}",
         EVENT_HOLIDAY, "New Year"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf out;
        buf_init(&out);
        event_meta meta;
        event_enrichment en = {
            .ingest_ts_ms = 1800000000999, .source = "api:test", .region_precision = 5};
        if (event_encode_text(codec, cases[i].json, strlen(cases[i].json), &en, &out, &meta, &err))
            fail_msg("case %zu: %s", i, err.message);
        event_view v;
        if (event_view_decode(event_topic(cases[i].type), out.data, out.len, &v, &err))
            fail_msg("case %zu: %s", i, err.message);
        assert_int_equal(v.type, cases[i].type);
        assert_int_equal(v.ts_ms, 1800000000123);
        assert_int_equal(v.ingest_ts_ms, 1800000000999);
        assert_string_equal(v.region_id, "dr5ru");
        assert_int_equal(v.subject_len, strlen(cases[i].subject));
        assert_memory_equal(v.subject, cases[i].subject, v.subject_len);
        if (v.type == EVENT_DRIVER_STATUS) assert_int_equal(v.driver_status, 2);
        if (v.type == EVENT_WEATHER) {
            assert_true(v.temp_c == -2.5 && v.precip_mm == 4.25 && v.severity == 0.75);
        }
        if (v.type == EVENT_TRAFFIC) assert_true(v.congestion == 0.5);
        if (v.type == EVENT_VENUE_EVENT) {
            assert_int_equal(v.venue_start_ms, 1800003600000);
            assert_int_equal(v.venue_end_ms, 1800010800000);
            assert_int_equal(v.attendance, 19000);
        }
        if (v.type <= EVENT_CANCEL) assert_true(v.product_type_len > 0);
        /* every truncation is refused, never read past the end */
        for (size_t cut = 0; cut < out.len; cut++)
            assert_int_equal(event_view_decode(event_topic(cases[i].type), out.data, cut, &v, &err),
                             SURGE_EPARSE);
        buf_free(&out);
    }
    event_codec_free(codec);
}

static void demand_signal_encodes_to_its_schema(void **state)
{
    surge_error err;
    event_codec *codec = event_codec_new(&err);
    assert_non_null(codec);
    stream_aggregate a;
    memset(&a, 0, sizeof a);
    strcpy(a.region_id, "dr5ru");
    a.window = STREAM_SLIDING_15M;
    a.start_ms = T0;
    a.end_ms = T0 + 15 * MIN;
    a.searches = 300;
    a.views = -1 + 2;
    a.bookings = 4;
    a.cancels = 1;
    a.cancel_rate = 0.25;
    a.driver_locations = 70;
    a.driver_statuses = 3;
    a.available_drivers = 12;
    a.busy_drivers = 5;
    buf bytes, json;
    buf_init(&bytes);
    buf_init(&json);
    stream_encode_signal(&a, &bytes);
    assert_int_equal(
        event_decode_json(codec, BUS_DEMAND_SIGNALS, bytes.data, bytes.len, &json, &err), 0);
    buf_putc(&json, 0);
    assert_string_equal(json.data,
                        "{\"region_id\":\"dr5ru\",\"window\":\"sliding_15m\",\"window_start\":"
                        "1800000000000,\"window_end\":1800000900000,\"searches\":300,\"views\":1,"
                        "\"bookings\":4,\"cancels\":1,\"cancel_rate\":0.25,\"driver_locations\":"
                        "70,\"driver_statuses\":3,\"available_drivers\":12,\"busy_drivers\":5}");
    buf_free(&bytes);
    buf_free(&json);
    event_codec_free(codec);
}

static void every_feature_name_is_listed_once(void **state)
{
    for (int i = 0; i < STREAM_FEATURE_COUNT; i++)
        for (int j = i + 1; j < STREAM_FEATURE_COUNT; j++)
            assert_string_not_equal(STREAM_FEATURE_NAMES[i], STREAM_FEATURE_NAMES[j]);
    assert_true(STREAM_FEATURE_COUNT >= 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_have_exact_counts_at_boundaries),
        cmocka_unit_test(out_of_order_within_lateness_counts_and_beyond_is_late),
        cmocka_unit_test(idle_source_stops_holding_the_watermark),
        cmocka_unit_test(pending_source_holds_the_watermark_until_its_first_event),
        cmocka_unit_test(sessions_split_after_the_gap),
        cmocka_unit_test(drivers_latest_status_by_event_time_wins),
        cmocka_unit_test(demand_features_from_history_are_exact),
        cmocka_unit_test(weather_and_venue_events_feed_the_external_features),
        cmocka_unit_test(demand_history_counts_searches_per_quarter),
        cmocka_unit_test(checkpoint_restores_a_state_that_continues_identically),
        cmocka_unit_test(event_view_decodes_every_input_type),
        cmocka_unit_test(demand_signal_encodes_to_its_schema),
        cmocka_unit_test(every_feature_name_is_listed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
