/* test_event.c: unit tests of src/event: every event type encoded and decoded back with exact
 * field values (enrichment included), every validation rule's exact error, the union branch on
 * the wire, byte-exact agreement with an independent Avro implementation (the vectors below
 * were written by Python's fastavro 1.13 from the topic schemas), garbage that must fail
 * cleanly, and concurrent use of one codec. Times were computed with Python's datetime, and
 * geohashes with a separate Python geohash encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"

static event_codec *codec;

/* 2026-01-11T10:32:00Z and the ingest time every test uses. */
#define TS_MS 1768127520000LL
#define INGEST_MS 1768127520123LL

static const event_enrichment ENRICH = {INGEST_MS, "api:10.0.0.7", 5};

static int setup(void **state)
{
    surge_error err;
    codec = event_codec_new(&err);
    if (!codec) fprintf(stderr, "event_codec_new: %s\n", err.message);
    return codec ? 0 : -1;
}

static int teardown(void **state)
{
    event_codec_free(codec);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j) fail_msg("bad test JSON (%s): %s", jerr.text, text);
    return j;
}

/* A copy of text[0..len) in an allocation of exactly len bytes (no NUL after it), so that
 * AddressSanitizer catches a scanner reading past the end. */
static char *exact_copy(const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    return copy;
}

static void assert_meta_same(const event_meta *a, const event_meta *b, const char *text)
{
    if (a->type != b->type || strcmp(a->event_id, b->event_id) != 0 ||
        strcmp(a->region_id, b->region_id) != 0 || strcmp(a->user_id, b->user_id) != 0 ||
        a->ts_ms != b->ts_ms || a->ingest_ts_ms != b->ingest_ts_ms)
        fail_msg("meta differs between event_encode and event_encode_text for %s", text);
}

/* Encodes text[0..len) both ways: json_loadb(JSON_REJECT_DUPLICATES) then event_encode (what
 * the API did), and event_encode_text. Fails unless they agree exactly: the same record bytes
 * appended after what out held, the same meta; or the same code, field and message with out
 * unchanged. Where jansson refuses the text, event_encode_text must return SURGE_EPARSE with
 * "the event is not valid JSON: ... (byte N)". Returns the code; the record is appended to
 * record and the error copied to error (each when not NULL). */
static int both_ways_len(const char *text, size_t len, const event_enrichment *enrich,
                         buf *record, surge_error *error)
{
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    buf_puts(&a, "prefix");
    buf_puts(&b, "prefix");
    event_meta ma, mb;
    memset(&ma, 0x55, sizeof ma);
    memset(&mb, 0xaa, sizeof mb);
    surge_error ea = {0}, eb = {0};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int ra = root ? event_encode(codec, root, enrich, &a, &ma, &ea) : SURGE_EPARSE;
    char *copy = exact_copy(text, len);
    int rb = event_encode_text(codec, copy, len, enrich, &b, &mb, &eb);
    free(copy);
    char shown[200];
    snprintf(shown, sizeof shown, "%.*s", (int)(len < 150 ? len : 150), text);
    if (!root) {
        if (rb != SURGE_EPARSE || eb.code != SURGE_EPARSE ||
            strncmp(eb.message, "the event is not valid JSON: ", 29) != 0 ||
            !strstr(eb.message, "(byte "))
            fail_msg("jansson refuses %s (%s) but event_encode_text gave %d [%s] %s", shown,
                     jerr.text, rb, eb.field, eb.message);
        ea = eb;
    } else if (ra != rb) {
        fail_msg("%s\n  event_encode      %d [%s] %s\n  event_encode_text %d [%s] %s", shown, ra,
                 ea.field, ea.message, rb, eb.field, eb.message);
    } else if (ra) {
        if (ea.code != eb.code || strcmp(ea.field, eb.field) != 0 ||
            strcmp(ea.message, eb.message) != 0)
            fail_msg("%s\n  event_encode      [%s] %s\n  event_encode_text [%s] %s", shown,
                     ea.field, ea.message, eb.field, eb.message);
    } else {
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            fail_msg("record bytes differ between event_encode and event_encode_text for %s",
                     shown);
        assert_meta_same(&ma, &mb, shown);
    }
    if (ra || !root) { /* out unchanged */
        assert_int_equal(a.len, 6);
        assert_int_equal(b.len, 6);
    }
    if (record) buf_append(record, a.data + 6, a.len - 6);
    if (error) *error = ea;
    json_decref(root);
    buf_free(&a);
    buf_free(&b);
    return root ? ra : SURGE_EPARSE;
}

static int both_ways(const char *text, const event_enrichment *enrich, buf *record,
                     surge_error *error)
{
    return both_ways_len(text, strlen(text), enrich, record, error);
}

/* Fails unless a and b have the same keys and equal values (numbers compared as doubles, so
 * 2 and 2.0 are the same). */
static void assert_json_same(json_t *got, json_t *want, const char *context)
{
    if (json_is_number(want)) {
        if (!json_is_number(got)) fail_msg("%s: not a number", context);
        if (json_number_value(got) != json_number_value(want))
            fail_msg("%s: got %.17g, want %.17g", context, json_number_value(got),
                     json_number_value(want));
        return;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got)) fail_msg("%s: not an object", context);
        const char *key;
        json_t *v;
        json_object_foreach(want, key, v)
        {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", context, key);
            json_t *g = json_object_get(got, key);
            if (!g) fail_msg("%s: missing", sub);
            assert_json_same(g, v, sub);
        }
        json_object_foreach(got, key, v)
        {
            if (!json_object_get(want, key)) fail_msg("%s.%s: unexpected field", context, key);
        }
        return;
    }
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY), *w = json_dumps(want, JSON_ENCODE_ANY);
        fail_msg("%s: got %s, want %s", context, g, w);
    }
}

/* Encodes text, checks the branch byte, decodes it back and compares with want_text. */
static void expect_roundtrip(const char *text, event_type type, int branch, const char *want_text,
                             const char *want_region)
{
    json_t *in = parse(text);
    buf out, js;
    buf_init(&out);
    buf_init(&js);
    event_meta meta;
    memset(&meta, 0x55, sizeof meta);
    surge_error err = {0};
    /* both entry points give these bytes (both_ways checks) */
    if (both_ways(text, &ENRICH, NULL, &err))
        fail_msg("%s rejected: %s: %s", EVENT_TYPE_NAMES[type], err.field, err.message);
    int rc = event_encode_text(codec, text, strlen(text), &ENRICH, &out, &meta, &err);
    assert_int_equal(rc, 0);
    /* the union branch is the first byte: zig-zag varint of branch (< 64) is 2 * branch */
    assert_true(out.len > 1);
    assert_int_equal((unsigned char)out.data[0], 2 * branch);
    assert_int_equal(meta.type, type);
    assert_string_equal(meta.region_id, want_region);
    assert_int_equal(meta.ts_ms, TS_MS);
    assert_int_equal(meta.ingest_ts_ms, INGEST_MS);
    json_t *eid = json_object_get(in, "event_id");
    assert_string_equal(meta.event_id, json_string_value(eid));
    json_t *uid = json_object_get(in, "user_id");
    assert_string_equal(meta.user_id, uid ? json_string_value(uid) : "");

    rc = event_decode_json(codec, event_topic(type), out.data, out.len, &js, &err);
    if (rc) fail_msg("decode of %s failed: %s", EVENT_TYPE_NAMES[type], err.message);
    json_t *got = parse(js.data);
    json_t *want = parse(want_text);
    assert_json_same(got, want, EVENT_TYPE_NAMES[type]);
    json_decref(got);
    json_decref(want);
    json_decref(in);
    buf_free(&out);
    buf_free(&js);
}

/* Encoding text must fail with code, field and message exactly; out must be unchanged. */
static void expect_reject_json(json_t *in, int code, const char *field, const char *message)
{
    buf out;
    buf_init(&out);
    buf_puts(&out, "prefix");
    surge_error err = {0};
    event_meta meta;
    int rc = event_encode(codec, in, &ENRICH, &out, &meta, &err);
    char *text = json_dumps(in, JSON_ENCODE_ANY);
    if (rc == 0) fail_msg("accepted: %s", text);
    if (rc != code || (int)err.code != code || strcmp(err.field, field) != 0 ||
        strcmp(err.message, message) != 0)
        fail_msg("%s\n  got  %d [%s] %s\n  want %d [%s] %s", text, rc, err.field, err.message, code,
                 field, message);
    assert_int_equal(out.len, 6);
    assert_string_equal(out.data, "prefix");
    free(text);
    buf_free(&out);
}

/* Both entry points must refuse text with SURGE_EINVAL, field and message exactly. */
static void expect_reject(const char *text, const char *field, const char *message)
{
    surge_error err = {0};
    int rc = both_ways(text, &ENRICH, NULL, &err); /* identical on both paths, out unchanged */
    if (rc != SURGE_EINVAL || (int)err.code != SURGE_EINVAL || strcmp(err.field, field) != 0 ||
        strcmp(err.message, message) != 0)
        fail_msg("%s\n  got  %d [%s] %s\n  want %d [%s] %s", text, rc, err.field, err.message,
                 SURGE_EINVAL, field, message);
}

/* Both entry points must refuse text[0..len) as JSON (jansson does; event_encode_text says
 * SURGE_EPARSE); when want is not NULL the message must contain it. */
static void expect_parse_error_len(const char *text, size_t len, const char *want)
{
    surge_error err = {0};
    int rc = both_ways_len(text, len, &ENRICH, NULL, &err);
    if (rc != SURGE_EPARSE) fail_msg("accepted as JSON (%d: %s): %.*s", rc, err.message, (int)len, text);
    if (want && !strstr(err.message, want))
        fail_msg("%.*s\n  message '%s' lacks '%s'", (int)len, text, err.message, want);
}

static void expect_parse_error(const char *text, const char *want)
{
    expect_parse_error_len(text, strlen(text), want);
}

/* Decoding data from topic must fail with SURGE_EPARSE and leave out unchanged. */
static void expect_garbage(bus_topic topic, const void *data, size_t len)
{
    buf out;
    buf_init(&out);
    buf_puts(&out, "x");
    surge_error err = {0};
    int rc = event_decode_json(codec, topic, data, len, &out, &err);
    if (rc != SURGE_EPARSE)
        fail_msg("decode of %zu garbage bytes on %s: rc %d (%s), output %s", len,
                 BUS_TOPIC_NAMES[topic], rc, err.message, out.data);
    assert_int_equal(err.code, SURGE_EPARSE);
    assert_string_equal(out.data, "x");
    buf_free(&out);
}

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    return n;
}

/* Appends text's record to out; both entry points must give it. */
static void encode_ok(const char *text, buf *out)
{
    surge_error err = {0};
    if (both_ways(text, &ENRICH, out, &err)) fail_msg("rejected %s: %s", text, err.message);
}

/* ---------------------------------------------------------------- names and topics */

static void test_type_names_round_trip_and_map_to_topics(void **state)
{
    static const bus_topic topics[EVENT_NTYPES] = {
        BUS_USER_EVENTS,     BUS_USER_EVENTS,     BUS_USER_EVENTS,     BUS_USER_EVENTS,
        BUS_SUPPLY_EVENTS,   BUS_SUPPLY_EVENTS,   BUS_EXTERNAL_EVENTS, BUS_EXTERNAL_EVENTS,
        BUS_EXTERNAL_EVENTS, BUS_EXTERNAL_EVENTS, BUS_SYSTEM_EVENTS,   BUS_SYSTEM_EVENTS,
        BUS_SYSTEM_EVENTS,   BUS_SYSTEM_EVENTS};
    static const char *const names[EVENT_NTYPES] = {
        "search",        "view",         "booking",      "cancel",      "driver_location",
        "driver_status", "weather",      "traffic",      "venue_event", "holiday",
        "config_change", "model_update", "price_change", "alert"};
    for (int t = 0; t < EVENT_NTYPES; t++) {
        assert_string_equal(EVENT_TYPE_NAMES[t], names[t]);
        assert_int_equal(event_type_from_name(names[t]), t);
        assert_int_equal(event_topic((event_type)t), topics[t]);
    }
    assert_int_equal(event_type_from_name("Search"), -1);
    assert_int_equal(event_type_from_name(""), -1);
    assert_int_equal(event_type_from_name(NULL), -1);
}

/* ---------------------------------------------------------------- every type, accepted */

static void test_search_from_lat_lon_gets_region_dr5ru(void **state)
{
    expect_roundtrip(
        "{\"event_id\":\"s-1\",\"type\":\"search\",\"ts\":\"2026-01-11T10:32:00Z\","
        "\"lat\":40.7580,\"lon\":-73.9855,\"user_id\":\"u-42\",\"product_type\":\"ride\","
        "\"destination_lat\":40.6413,\"destination_lon\":-73.7781}",
        EVENT_SEARCH, 0,
        "{\"event_id\":\"s-1\",\"type\":\"search\",\"ts\":1768127520000,"
        "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\",\"lat\":40.758,\"lon\":-73.9855,"
        "\"source\":\"api:10.0.0.7\",\"user_id\":\"u-42\",\"product_type\":\"ride\","
        "\"destination_lat\":40.6413,\"destination_lon\":-73.7781}",
        "dr5ru");
}

static void test_view_with_region_and_offset_time(void **state)
{
    expect_roundtrip("{\"event_id\":\"v-1\",\"type\":\"view\",\"ts\":\"2026-01-11T05:32:00-05:00\","
                     "\"region_id\":\"dr5ru\",\"user_id\":\"u-42\",\"product_type\":\"ride\"}",
                     EVENT_VIEW, 1,
                     "{\"event_id\":\"v-1\",\"type\":\"view\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\","
                     "\"source\":\"api:10.0.0.7\",\"user_id\":\"u-42\",\"product_type\":\"ride\"}",
                     "dr5ru");
}

static void test_booking_with_epoch_ms_and_booking_id(void **state)
{
    expect_roundtrip("{\"event_id\":\"b-1\",\"type\":\"booking\",\"ts\":1768127520000,"
                     "\"lat\":40.7580,\"lon\":-73.9855,\"region_id\":\"dr5ru7v\","
                     "\"user_id\":\"u-42\",\"product_type\":\"ride\",\"booking_id\":\"bk-9\"}",
                     EVENT_BOOKING, 2,
                     "{\"event_id\":\"b-1\",\"type\":\"booking\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru7v\",\"lat\":40.758,"
                     "\"lon\":-73.9855,\"source\":\"api:10.0.0.7\",\"user_id\":\"u-42\","
                     "\"product_type\":\"ride\",\"booking_id\":\"bk-9\"}",
                     "dr5ru7v");
}

static void test_cancel_with_null_booking_id_omits_it(void **state)
{
    expect_roundtrip("{\"event_id\":\"c-1\",\"type\":\"cancel\",\"ts\":\"1768127520000\","
                     "\"lat\":40.7580,\"lon\":-73.9855,\"user_id\":\"u-42\","
                     "\"product_type\":\"ride\",\"booking_id\":null}",
                     EVENT_CANCEL, 3,
                     "{\"event_id\":\"c-1\",\"type\":\"cancel\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\",\"lat\":40.758,"
                     "\"lon\":-73.9855,\"source\":\"api:10.0.0.7\",\"user_id\":\"u-42\","
                     "\"product_type\":\"ride\"}",
                     "dr5ru");
}

static void test_driver_location(void **state)
{
    expect_roundtrip("{\"event_id\":\"dl-1\",\"type\":\"driver_location\",\"ts\":1768127520000,"
                     "\"lat\":40.7580,\"lon\":-73.9855,\"driver_id\":\"d-7\"}",
                     EVENT_DRIVER_LOCATION, 0,
                     "{\"event_id\":\"dl-1\",\"type\":\"driver_location\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\",\"lat\":40.758,"
                     "\"lon\":-73.9855,\"source\":\"api:10.0.0.7\",\"driver_id\":\"d-7\"}",
                     "dr5ru");
}

static void test_driver_status(void **state)
{
    expect_roundtrip("{\"event_id\":\"ds-1\",\"type\":\"driver_status\",\"ts\":1768127520000,"
                     "\"region_id\":\"gcpvj\",\"driver_id\":\"d-7\",\"status\":\"offline\"}",
                     EVENT_DRIVER_STATUS, 1,
                     "{\"event_id\":\"ds-1\",\"type\":\"driver_status\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"gcpvj\","
                     "\"source\":\"api:10.0.0.7\",\"driver_id\":\"d-7\",\"status\":\"offline\"}",
                     "gcpvj");
}

static void test_weather_at_range_limits(void **state)
{
    expect_roundtrip("{\"event_id\":\"w-1\",\"type\":\"weather\",\"ts\":1768127520000,"
                     "\"lat\":51.5074,\"lon\":-0.1278,\"temp_c\":-90,\"precip_mm\":0,"
                     "\"severity\":1}",
                     EVENT_WEATHER, 0,
                     "{\"event_id\":\"w-1\",\"type\":\"weather\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"gcpvj\",\"lat\":51.5074,"
                     "\"lon\":-0.1278,\"source\":\"api:10.0.0.7\",\"temp_c\":-90,"
                     "\"precip_mm\":0,\"severity\":1}",
                     "gcpvj");
}

static void test_traffic(void **state)
{
    expect_roundtrip("{\"event_id\":\"t-1\",\"type\":\"traffic\",\"ts\":1768127520000,"
                     "\"region_id\":\"dr5ru\",\"congestion\":0.731}",
                     EVENT_TRAFFIC, 1,
                     "{\"event_id\":\"t-1\",\"type\":\"traffic\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\","
                     "\"source\":\"api:10.0.0.7\",\"congestion\":0.731}",
                     "dr5ru");
}

static void test_venue_event(void **state)
{
    expect_roundtrip("{\"event_id\":\"ve-1\",\"type\":\"venue_event\",\"ts\":1768127520000,"
                     "\"region_id\":\"dr5ru\",\"venue\":\"Madison Square Garden\","
                     "\"start\":\"2026-01-11T19:00:00Z\",\"end\":1768168800000,"
                     "\"expected_attendance\":19500}",
                     EVENT_VENUE_EVENT, 2,
                     "{\"event_id\":\"ve-1\",\"type\":\"venue_event\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\","
                     "\"source\":\"api:10.0.0.7\",\"venue\":\"Madison Square Garden\","
                     "\"start\":1768158000000,\"end\":1768168800000,"
                     "\"expected_attendance\":19500}",
                     "dr5ru");
}

static void test_holiday_without_region_is_global(void **state)
{
    expect_roundtrip("{\"event_id\":\"h-1\",\"type\":\"holiday\",\"ts\":1768127520000,"
                     "\"name\":\"Fête nationale\"}",
                     EVENT_HOLIDAY, 3,
                     "{\"event_id\":\"h-1\",\"type\":\"holiday\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"source\":\"api:10.0.0.7\","
                     "\"name\":\"Fête nationale\"}",
                     "");
}

static void test_config_change(void **state)
{
    expect_roundtrip("{\"event_id\":\"cc-1\",\"type\":\"config_change\",\"ts\":1768127520000,"
                     "\"key\":\"pricing.max_multiplier\",\"value\":\"3.5\",\"actor\":\"ops@x\"}",
                     EVENT_CONFIG_CHANGE, 0,
                     "{\"event_id\":\"cc-1\",\"type\":\"config_change\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"source\":\"api:10.0.0.7\","
                     "\"key\":\"pricing.max_multiplier\",\"value\":\"3.5\",\"actor\":\"ops@x\"}",
                     "");
}

static void test_model_update(void **state)
{
    expect_roundtrip("{\"event_id\":\"mu-1\",\"type\":\"model_update\",\"ts\":1768127520000,"
                     "\"model\":\"demand\",\"version\":\"2026-01-11.3\",\"status\":\"deployed\"}",
                     EVENT_MODEL_UPDATE, 1,
                     "{\"event_id\":\"mu-1\",\"type\":\"model_update\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"source\":\"api:10.0.0.7\","
                     "\"model\":\"demand\",\"version\":\"2026-01-11.3\",\"status\":\"deployed\"}",
                     "");
}

static void test_price_change(void **state)
{
    expect_roundtrip("{\"event_id\":\"pc-1\",\"type\":\"price_change\",\"ts\":1768127520000,"
                     "\"region_id\":\"dr5ru\",\"product_type\":\"ride\","
                     "\"surge_multiplier\":1.37}",
                     EVENT_PRICE_CHANGE, 2,
                     "{\"event_id\":\"pc-1\",\"type\":\"price_change\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\","
                     "\"source\":\"api:10.0.0.7\",\"product_type\":\"ride\","
                     "\"surge_multiplier\":1.37}",
                     "dr5ru");
}

static void test_alert(void **state)
{
    expect_roundtrip("{\"event_id\":\"a-1\",\"type\":\"alert\",\"ts\":1768127520000,"
                     "\"severity\":\"critical\",\"message\":\"bus fsync p99 > 50 ms\"}",
                     EVENT_ALERT, 3,
                     "{\"event_id\":\"a-1\",\"type\":\"alert\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"source\":\"api:10.0.0.7\","
                     "\"severity\":\"critical\",\"message\":\"bus fsync p99 > 50 ms\"}",
                     "");
}

static void test_doubles_that_need_17_digits_round_trip_exactly(void **state)
{
    expect_roundtrip("{\"event_id\":\"t-2\",\"type\":\"traffic\",\"ts\":1768127520000,"
                     "\"region_id\":\"dr5ru\",\"congestion\":0.12345678901234568}",
                     EVENT_TRAFFIC, 1,
                     "{\"event_id\":\"t-2\",\"type\":\"traffic\",\"ts\":1768127520000,"
                     "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\","
                     "\"source\":\"api:10.0.0.7\",\"congestion\":0.12345678901234568}",
                     "dr5ru");
}

static void test_event_id_of_64_bytes_is_accepted_and_in_meta(void **state)
{
    char id[65];
    memset(id, 'k', 64);
    id[64] = 0;
    char text[512], want[512];
    snprintf(text, sizeof text,
             "{\"event_id\":\"%s\",\"type\":\"traffic\",\"ts\":1768127520000,"
             "\"region_id\":\"dr5ru\",\"congestion\":0.5}",
             id);
    snprintf(want, sizeof want,
             "{\"event_id\":\"%s\",\"type\":\"traffic\",\"ts\":1768127520000,"
             "\"ingest_ts\":1768127520123,\"region_id\":\"dr5ru\","
             "\"source\":\"api:10.0.0.7\",\"congestion\":0.5}",
             id);
    expect_roundtrip(text, EVENT_TRAFFIC, 1, want, "dr5ru");
}

/* ---------------------------------------------------------------- the wire format */

/* The Search record as fastavro.schemaless_writer writes it with topics/user-events.avsc:
 * ("surge.events.Search", {event_id "e1", ts, ingest_ts, region_id "dr5ru", lat 40.758,
 * lon -73.9855, source "api:test", user_id "u1", product_type "ride", no destination}). */
static const char SEARCH_BY_FASTAVRO[] =
    "000465310c73656172636880f4e6c9f566f6f5e6c9f5660a6472357275021b2fdd240661444002508d976e127f"
    "52c0106170693a7465737404753108726964650000";

static void test_encoding_matches_fastavro_byte_for_byte(void **state)
{
    const char *text = "{\"event_id\":\"e1\",\"type\":\"search\",\"ts\":1768127520000,"
                       "\"lat\":40.758,\"lon\":-73.9855,\"user_id\":\"u1\","
                       "\"product_type\":\"ride\"}";
    event_enrichment enrich = {INGEST_MS, "api:test", 5};
    buf out;
    buf_init(&out);
    surge_error err;
    assert_int_equal(both_ways(text, &enrich, &out, &err), 0); /* both paths, same bytes */
    unsigned char want[256];
    size_t n = unhex(SEARCH_BY_FASTAVRO, want);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    /* and event_encode_text with meta NULL, as event_encode was called there */
    buf_reset(&out);
    assert_int_equal(event_encode_text(codec, text, strlen(text), &enrich, &out, NULL, &err), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    buf_free(&out);
}

/* A PricingDecision written by fastavro with topics/pricing-decisions.avsc. */
static const char DECISION_BY_FASTAVRO[] =
    "0040303139623963336137663030613162326333643465356636613762386339643006742d3180f4e6c9f5660a"
    "64723572750872696465000000000000803740cdcccccccccc3240000000000000f43f9a9999999999e93fcdcc"
    "ccccccccec3f040c64656d616e64333333333333c33f0e776561746865729a9999999999b93f00047b7d066d2d"
    "330e01";

static void test_decodes_a_pricing_decision_written_by_fastavro(void **state)
{
    unsigned char data[512];
    size_t n = unhex(DECISION_BY_FASTAVRO, data);
    buf js;
    buf_init(&js);
    surge_error err;
    assert_int_equal(event_decode_json(codec, BUS_PRICING_DECISIONS, data, n, &js, &err), 0);
    json_t *got = parse(js.data);
    json_t *want = parse(
        "{\"request_id\":\"019b9c3a7f00a1b2c3d4e5f6a7b8c9d0\",\"trace_id\":\"t-1\","
        "\"timestamp\":1768127520000,\"region_id\":\"dr5ru\",\"product_type\":\"ride\","
        "\"price\":23.5,\"base_price\":18.8,\"surge_multiplier\":1.25,\"demand_score\":0.8,"
        "\"confidence\":0.9,\"factors\":{\"demand\":0.15,\"weather\":0.1},\"guardrails\":\"{}\","
        "\"model_version\":\"m-3\",\"rule_id\":7,\"cached\":true}");
    assert_json_same(got, want, "pricing_decision");
    json_decref(got);
    json_decref(want);
    buf_free(&js);
}

static void test_a_batch_across_topics_appends_records_that_decode_by_topic(void **state)
{
    static const char *const events[] = {
        "{\"event_id\":\"1\",\"type\":\"alert\",\"ts\":1,\"severity\":\"info\",\"message\":\"m\"}",
        "{\"event_id\":\"2\",\"type\":\"search\",\"ts\":2,\"region_id\":\"dr5ru\","
        "\"user_id\":\"u\",\"product_type\":\"ride\"}",
        "{\"event_id\":\"3\",\"type\":\"driver_location\",\"ts\":3,\"lat\":1,\"lon\":2,"
        "\"driver_id\":\"d\"}",
        "{\"event_id\":\"4\",\"type\":\"holiday\",\"ts\":4,\"name\":\"n\"}",
        "{\"event_id\":\"5\",\"type\":\"cancel\",\"ts\":5,\"region_id\":\"dr5ru\","
        "\"user_id\":\"u\",\"product_type\":\"ride\"}",
        "{\"event_id\":\"6\",\"type\":\"price_change\",\"ts\":6,\"region_id\":\"dr5ru\","
        "\"product_type\":\"ride\",\"surge_multiplier\":2.5}",
        "{\"event_id\":\"7\",\"type\":\"weather\",\"ts\":7,\"region_id\":\"dr5ru\","
        "\"temp_c\":21.5,\"precip_mm\":0.2,\"severity\":0.1}",
        "{\"event_id\":\"8\",\"type\":\"driver_status\",\"ts\":8,\"region_id\":\"dr5ru\","
        "\"driver_id\":\"d\",\"status\":\"available\"}",
    };
    static const char *const types[] = {"alert",   "search",       "driver_location",
                                        "holiday", "cancel",       "price_change",
                                        "weather", "driver_status"};
    size_t n = sizeof events / sizeof events[0];
    buf out;
    buf_init(&out);
    size_t offsets[16];
    for (size_t i = 0; i < n; i++) {
        offsets[i] = out.len;
        encode_ok(events[i], &out); /* appended after the previous records */
    }
    offsets[n] = out.len;
    for (size_t i = 0; i < n; i++) {
        buf js;
        buf_init(&js);
        surge_error err;
        event_type t = (event_type)event_type_from_name(types[i]);
        int rc = event_decode_json(codec, event_topic(t), out.data + offsets[i],
                                   offsets[i + 1] - offsets[i], &js, &err);
        if (rc) fail_msg("record %zu: %s", i, err.message);
        json_t *got = parse(js.data);
        assert_string_equal(json_string_value(json_object_get(got, "type")), types[i]);
        assert_int_equal(json_integer_value(json_object_get(got, "ts")), (json_int_t)i + 1);
        json_decref(got);
        /* the same bytes are not a record of another topic's union branch */
        buf_free(&js);
    }
    buf_free(&out);
}

/* ---------------------------------------------------------------- rejected events */

static void test_type_errors_name_the_type_field(void **state)
{
    expect_reject("{\"event_id\":\"x\",\"ts\":1}", "type", "field 'type' is required");
    expect_reject("{\"event_id\":\"x\",\"type\":7,\"ts\":1}", "type",
                  "field 'type' must be a string");
    expect_reject("{\"event_id\":\"x\",\"type\":\"serch\",\"ts\":1}", "type",
                  "field 'type' must be one of search, view, booking, cancel, driver_location, "
                  "driver_status, weather, traffic, venue_event, holiday, config_change, "
                  "model_update, price_change, alert (not 'serch')");
    json_t *arr = parse("[1,2]");
    expect_reject_json(arr, SURGE_EINVAL, "", "an event must be a JSON object");
    json_decref(arr);
    expect_reject("[1,2]", "", "an event must be a JSON object");
    expect_reject(" [{\"event_id\":\"x\"}] ", "", "an event must be a JSON object");
    expect_reject("{\"event_id\":\"x\",\"type\":null,\"ts\":1}", "type",
                  "field 'type' is required");
    expect_reject("{\"type\":[\"search\"]}", "type", "field 'type' must be a string");
    expect_reject("{\"type\":{\"a\":1}}", "type", "field 'type' must be a string");
    expect_reject("{\"type\":\"tr\\u0061ffic\",\"x\":1}", "x",
                  "unknown field 'x' in a traffic event (allowed: event_id, type, ts, region_id, "
                  "lat, lon, congestion)");
}

static void test_missing_and_mistyped_fields_are_named(void **state)
{
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"product_type\":\"ride\"}",
                  "user_id", "field 'user_id' is required");
    expect_reject("{\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\",\"congestion\":0.1}",
                  "event_id", "field 'event_id' is required");
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"region_id\":\"dr5ru\","
                  "\"congestion\":0.1}",
                  "ts", "field 'ts' is required");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"user_id\":42,\"product_type\":\"ride\"}",
                  "user_id", "field 'user_id' must be a string");
    expect_reject("{\"event_id\":\"x\",\"type\":\"weather\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"temp_c\":\"warm\",\"precip_mm\":0,\"severity\":0}",
                  "temp_c", "field 'temp_c' must be a number");
    expect_reject("{\"event_id\":\"x\",\"type\":\"venue_event\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"venue\":\"v\",\"start\":1,\"end\":2,\"expected_attendance\":10.5}",
                  "expected_attendance", "field 'expected_attendance' must be an integer");
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"congestion\":null}",
                  "congestion", "field 'congestion' is required");
    expect_reject("{\"event_id\":\"x\",\"type\":\"driver_location\",\"ts\":1,"
                  "\"region_id\":\"dr5ru\",\"driver_id\":\"d\"}",
                  "lat", "field 'lat' is required");
    /* a NUL can only be in a jansson value made in code: JSON text with \u0000 is refused */
    json_t *nul = parse("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1}");
    json_object_set_new(nul, "name", json_stringn("a\0b", 3));
    expect_reject_json(nul, SURGE_EINVAL, "name", "field 'name' must not contain NUL characters");
    json_decref(nul);
    expect_parse_error("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"a\\u0000b\"}",
                       "\\u0000");
    /* wrong types given as nested values: the same errors on both paths */
    expect_reject("{\"event_id\":[\"x\"],\"type\":\"holiday\",\"ts\":1,\"name\":\"n\"}",
                  "event_id", "field 'event_id' must be a string");
    expect_reject("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":{},\"name\":\"n\"}", "ts",
                  "field 'ts' must be an RFC 3339 time (2026-01-11T10:32:00Z) or epoch "
                  "milliseconds");
    expect_reject("{\"event_id\":\"x\",\"type\":\"driver_status\",\"ts\":1,"
                  "\"region_id\":[],\"driver_id\":\"d\",\"status\":\"busy\"}",
                  "region_id", "field 'region_id' must be a string");
    expect_reject("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\","
                  "\"source\":{\"ip\":\"1.2.3.4\"}}",
                  "source", "field 'source' is set by the server and must not be sent");
    expect_reject("{\"event_id\":\"x\",\"type\":\"driver_status\",\"ts\":1,"
                  "\"region_id\":\"dr5ru\",\"driver_id\":\"d\",\"status\":[\"busy\"]}",
                  "status", "field 'status' must be one of available, busy, offline");
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"congestion\":true}",
                  "congestion", "field 'congestion' must be a number");
}

static void test_out_of_range_numbers_give_value_and_range(void **state)
{
    expect_reject("{\"event_id\":\"x\",\"type\":\"weather\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"temp_c\":60.5,\"precip_mm\":0,\"severity\":0}",
                  "temp_c", "field 'temp_c' = 60.5 is out of range [-90, 60]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"weather\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"temp_c\":10,\"precip_mm\":-1,\"severity\":0}",
                  "precip_mm", "field 'precip_mm' = -1 must be >= 0");
    expect_reject("{\"event_id\":\"x\",\"type\":\"weather\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"temp_c\":10,\"precip_mm\":1,\"severity\":1.01}",
                  "severity", "field 'severity' = 1.01 is out of range [0, 1]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"congestion\":-0.1}",
                  "congestion", "field 'congestion' = -0.1 is out of range [0, 1]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"lat\":90.5,\"lon\":0,"
                  "\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "lat", "field 'lat' = 90.5 is out of range [-90, 90]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"lat\":0,\"lon\":-180.25,"
                  "\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "lon", "field 'lon' = -180.25 is out of range [-180, 180]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"venue_event\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"venue\":\"v\",\"start\":1,\"end\":2,\"expected_attendance\":-1}",
                  "expected_attendance",
                  "field 'expected_attendance' = -1 is out of range [0, 2147483647]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"venue_event\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"venue\":\"v\",\"start\":1,\"end\":2,\"expected_attendance\":3000000000}",
                  "expected_attendance",
                  "field 'expected_attendance' = 3000000000 is out of range [0, 2147483647]");
    expect_reject("{\"event_id\":\"x\",\"type\":\"price_change\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"product_type\":\"ride\",\"surge_multiplier\":-2}",
                  "surge_multiplier", "field 'surge_multiplier' = -2 must be >= 0");
}

static void test_enums_list_their_symbols(void **state)
{
    expect_reject("{\"event_id\":\"x\",\"type\":\"driver_status\",\"ts\":1,"
                  "\"region_id\":\"dr5ru\",\"driver_id\":\"d\",\"status\":\"asleep\"}",
                  "status", "field 'status' must be one of available, busy, offline");
    expect_reject("{\"event_id\":\"x\",\"type\":\"driver_status\",\"ts\":1,"
                  "\"region_id\":\"dr5ru\",\"driver_id\":\"d\",\"status\":1}",
                  "status", "field 'status' must be one of available, busy, offline");
    expect_reject("{\"event_id\":\"x\",\"type\":\"alert\",\"ts\":1,\"severity\":\"fatal\","
                  "\"message\":\"m\"}",
                  "severity", "field 'severity' must be one of info, warning, critical");
}

static void test_unknown_fields_are_rejected_before_other_errors(void **state)
{
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"congestion\":0.5,\"congestoin\":0.5}",
                  "congestoin",
                  "unknown field 'congestoin' in a traffic event (allowed: event_id, type, ts, "
                  "region_id, lat, lon, congestion)");
    /* the typo explains the missing field, so it is what the error names */
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"usr_id\":\"u\",\"product_type\":\"ride\"}",
                  "usr_id",
                  "unknown field 'usr_id' in a search event (allowed: event_id, type, ts, "
                  "region_id, lat, lon, user_id, product_type, destination_lat, "
                  "destination_lon)");
    expect_reject("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\","
                  "\"ingest_ts\":5}",
                  "ingest_ts", "field 'ingest_ts' is set by the server and must not be sent");
    expect_reject("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\","
                  "\"source\":\"me\"}",
                  "source", "field 'source' is set by the server and must not be sent");
}

static void test_event_id_length_and_times_are_checked(void **state)
{
    char text[512], id[66];
    memset(id, 'k', 65);
    id[65] = 0;
    snprintf(text, sizeof text,
             "{\"event_id\":\"%s\",\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\","
             "\"congestion\":0.5}",
             id);
    expect_reject(text, "event_id", "field 'event_id' must be 1 to 64 bytes long (is 65)");
    expect_reject("{\"event_id\":\"\",\"type\":\"traffic\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"congestion\":0.5}",
                  "event_id", "field 'event_id' must be 1 to 64 bytes long (is 0)");
    const char *time_msg = "field 'ts' must be an RFC 3339 time (2026-01-11T10:32:00Z) or epoch "
                           "milliseconds";
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":\"yesterday\","
                  "\"region_id\":\"dr5ru\",\"congestion\":0.5}",
                  "ts", time_msg);
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":\"2026-02-30T00:00:00Z\","
                  "\"region_id\":\"dr5ru\",\"congestion\":0.5}",
                  "ts", time_msg);
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":1.5e12,"
                  "\"region_id\":\"dr5ru\",\"congestion\":0.5}",
                  "ts", time_msg);
    expect_reject("{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":-1,"
                  "\"region_id\":\"dr5ru\",\"congestion\":0.5}",
                  "ts", "field 'ts' must be epoch milliseconds between 1970 and 9999");
    expect_reject("{\"event_id\":\"x\",\"type\":\"venue_event\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"venue\":\"v\",\"start\":\"2026-01-11T19:00:00Z\","
                  "\"end\":\"2026-01-11T19:00:00Z\",\"expected_attendance\":1}",
                  "end", "field 'end' must be after 'start'");
}

static void test_region_rules(void **state)
{
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"user_id\":\"u\","
                  "\"product_type\":\"ride\"}",
                  "region_id",
                  "field 'region_id' (or 'lat' and 'lon') is required for a search "
                  "event");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"lat\":40.758,"
                  "\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "lon", "field 'lon' is required with 'lat'");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":\"dr5ru\","
                  "\"destination_lon\":2,\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "destination_lat", "field 'destination_lat' is required with 'destination_lon'");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":\"dr5rv\","
                  "\"lat\":40.758,\"lon\":-73.9855,\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "region_id",
                  "region_id 'dr5rv' does not contain lat/lon (40.758, -73.9855), which lie in "
                  "'dr5ru'");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":\"DR5RU\","
                  "\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "region_id",
                  "region_id 'DR5RU' is not a geohash (1-12 characters of "
                  "0123456789bcdefghjkmnpqrstuvwxyz)");
    expect_reject("{\"event_id\":\"x\",\"type\":\"search\",\"ts\":1,\"region_id\":5,"
                  "\"user_id\":\"u\",\"product_type\":\"ride\"}",
                  "region_id", "field 'region_id' must be a string");
    expect_reject("{\"event_id\":\"x\",\"type\":\"price_change\",\"ts\":1,"
                  "\"product_type\":\"ride\",\"surge_multiplier\":1}",
                  "region_id",
                  "field 'region_id' (or 'lat' and 'lon') is required for a "
                  "price_change event");
}

/* ---------------------------------------------------------------- garbage in */

static void test_decoding_garbage_fails_cleanly(void **state)
{
    static const bus_topic topics[] = {BUS_USER_EVENTS, BUS_SUPPLY_EVENTS, BUS_EXTERNAL_EVENTS,
                                       BUS_PRICING_DECISIONS, BUS_SYSTEM_EVENTS};
    for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
        expect_garbage(topics[t], "", 0);
        expect_garbage(topics[t], "\x01", 1);         /* branch -1 */
        expect_garbage(topics[t], "\x10", 1);         /* branch 8 */
        expect_garbage(topics[t], "\x80\x80\x80", 3); /* unterminated varint */
        /* branch 0, then a string length of 2^62 */
        expect_garbage(topics[t], "\x00\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11);
        expect_garbage(topics[t], "\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11);
    }
    /* a topic without a schema yet */
    buf out;
    buf_init(&out);
    surge_error err;
    assert_int_equal(event_decode_json(codec, BUS_DEMAND_SIGNALS, "\x00", 1, &out, &err),
                     SURGE_ENOTFOUND);
    assert_int_equal(out.len, 0);

    /* every strict prefix of a valid record, and the record with a byte more */
    encode_ok("{\"event_id\":\"e\",\"type\":\"driver_status\",\"ts\":1,\"region_id\":\"dr5ru\","
              "\"driver_id\":\"d\",\"status\":\"busy\"}",
              &out);
    for (size_t n = 0; n < out.len; n++)
        expect_garbage(BUS_SUPPLY_EVENTS, out.data, n);
    buf_putc(&out, 0);
    expect_garbage(BUS_SUPPLY_EVENTS, out.data, out.len);
    out.len--;
    /* an enum symbol out of range: the last byte is the status */
    out.data[out.len - 1] = 6;
    expect_garbage(BUS_SUPPLY_EVENTS, out.data, out.len);
    /* the same bytes read as another topic's records */
    out.data[out.len - 1] = 2;
    expect_garbage(BUS_USER_EVENTS, out.data, out.len);
    buf_reset(&out);
    /* a string that is not UTF-8 */
    encode_ok("{\"event_id\":\"e\",\"type\":\"holiday\",\"ts\":1,\"name\":\"ab\"}", &out);
    out.data[out.len - 1] = (char)0xff;
    expect_garbage(BUS_EXTERNAL_EVENTS, out.data, out.len);
    buf_free(&out);

    /* random bytes, and random mutations of valid records: EPARSE or a valid JSON object */
    unsigned seed = 12345;
    unsigned char data[96];
    buf valid;
    buf_init(&valid);
    encode_ok("{\"event_id\":\"e\",\"type\":\"search\",\"ts\":1,\"lat\":1,\"lon\":2,"
              "\"user_id\":\"u\",\"product_type\":\"p\",\"destination_lat\":3,"
              "\"destination_lon\":4}",
              &valid);
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len;
        if (i % 2) {
            len = (size_t)(rand_r(&seed) % (int)sizeof data);
            for (size_t k = 0; k < len; k++)
                data[k] = (unsigned char)rand_r(&seed);
        } else {
            len = valid.len;
            memcpy(data, valid.data, len);
            for (int k = 0; k < 1 + i % 3; k++)
                data[rand_r(&seed) % (int)len] = (unsigned char)rand_r(&seed);
        }
        bus_topic topic = topics[(size_t)i % 5];
        buf js;
        buf_init(&js);
        int rc = event_decode_json(codec, topic, data, len, &js, &err);
        if (rc == 0) {
            json_error_t jerr;
            json_t *j = json_loads(js.data, 0, &jerr);
            if (!json_is_object(j)) fail_msg("decoded to invalid JSON: %s", js.data);
            json_decref(j);
            parsed++;
        } else {
            assert_int_equal(rc, SURGE_EPARSE);
            assert_int_equal(js.len, 0);
            rejected++;
        }
        buf_free(&js);
    }
    assert_true(rejected > 10000);
    buf_free(&valid);
}

/* ---------------------------------------------------------------- threads */

#define THREADS 4
#define PER_THREAD 10000

typedef struct worker {
    int id;
    int failures;
    char first_failure[300];
} worker;

static void worker_fail(worker *w, const char *what, const char *detail)
{
    if (!w->failures++) snprintf(w->first_failure, sizeof w->first_failure, "%s: %s", what, detail);
}

static void *encode_worker(void *arg)
{
    worker *w = arg;
    buf out, js;
    buf_init(&out);
    buf_init(&js);
    size_t *offsets = malloc(sizeof(size_t) * (PER_THREAD + 1));
    for (int i = 0; i < PER_THREAD; i++) {
        char text[400];
        switch (i % 4) {
        case 0:
            snprintf(text, sizeof text,
                     "{\"event_id\":\"t%d-%d\",\"type\":\"search\",\"ts\":%d,\"lat\":40.758,"
                     "\"lon\":-73.9855,\"user_id\":\"u%d\",\"product_type\":\"ride\"}",
                     w->id, i, i, i);
            break;
        case 1:
            snprintf(text, sizeof text,
                     "{\"event_id\":\"t%d-%d\",\"type\":\"booking\",\"ts\":%d,"
                     "\"region_id\":\"dr5ru\",\"user_id\":\"u%d\",\"product_type\":\"ride\","
                     "\"booking_id\":\"b%d\"}",
                     w->id, i, i, i, i);
            break;
        case 2:
            snprintf(text, sizeof text,
                     "{\"event_id\":\"t%d-%d\",\"type\":\"booking\",\"ts\":%d,"
                     "\"region_id\":\"dr5ru\",\"user_id\":\"u%d\",\"product_type\":\"ride\"}",
                     w->id, i, i, i);
            break;
        default:
            snprintf(text, sizeof text,
                     "{\"event_id\":\"t%d-%d\",\"type\":\"driver_status\",\"ts\":%d,"
                     "\"region_id\":\"dr5ru\",\"driver_id\":\"d%d\",\"status\":\"busy\"}",
                     w->id, i, i, i);
        }
        surge_error err;
        event_meta meta;
        offsets[i] = out.len;
        if (i % 8 < 4) { /* half through jansson, half through the text fast path */
            json_t *in = json_loads(text, 0, NULL);
            if (!in || event_encode(codec, in, &ENRICH, &out, &meta, &err))
                worker_fail(w, "encode", err.message);
            json_decref(in);
        } else if (event_encode_text(codec, text, strlen(text), &ENRICH, &out, &meta, &err)) {
            worker_fail(w, "encode_text", err.message);
        }
    }
    offsets[PER_THREAD] = out.len;
    for (int i = 0; i < PER_THREAD; i++) {
        surge_error err;
        buf_reset(&js);
        bus_topic topic = i % 4 == 3 ? BUS_SUPPLY_EVENTS : BUS_USER_EVENTS;
        if (event_decode_json(codec, topic, out.data + offsets[i], offsets[i + 1] - offsets[i], &js,
                              &err)) {
            worker_fail(w, "decode", err.message);
            continue;
        }
        json_t *j = json_loads(js.data, 0, NULL);
        char id[32], subject[32];
        snprintf(id, sizeof id, "t%d-%d", w->id, i);
        snprintf(subject, sizeof subject, "%s%d", i % 4 == 3 ? "d" : "u", i);
        const char *subject_field = i % 4 == 3 ? "driver_id" : "user_id";
        if (strcmp(json_string_value(json_object_get(j, "event_id")), id) != 0 ||
            strcmp(json_string_value(json_object_get(j, subject_field)), subject) != 0 ||
            json_integer_value(json_object_get(j, "ts")) != i ||
            strcmp(json_string_value(json_object_get(j, "region_id")), "dr5ru") != 0 ||
            (json_object_get(j, "booking_id") != NULL) != (i % 4 == 1))
            worker_fail(w, "mismatch", js.data);
        json_decref(j);
    }
    free(offsets);
    buf_free(&out);
    buf_free(&js);
    return NULL;
}

static void test_threads_share_one_codec(void **state)
{
    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){.id = t};
        assert_int_equal(pthread_create(&threads[t], NULL, encode_worker, &workers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        if (workers[t].failures)
            fail_msg("thread %d: %d failures, first: %s", t, workers[t].failures,
                     workers[t].first_failure);
    }
}

/* ---------------------------------------------------------------- cost (printed, not asserted) */

static void test_print_encode_and_decode_cost(void **state)
{
    const char *text = "{\"event_id\":\"0f8e2c1a-5b7d-4e3f-9a1b-2c3d4e5f6a7b\",\"type\":"
                       "\"search\",\"ts\":\"2026-01-11T10:32:00Z\",\"lat\":40.7580,"
                       "\"lon\":-73.9855,\"user_id\":\"u-1234567\",\"product_type\":\"ride\"}";
    enum { N = 200000 };
    json_t *in = parse(text);
    buf out;
    buf_init(&out);
    surge_error err;
    event_meta meta;
    int64_t t0 = time_mono_ns();
    for (int i = 0; i < N; i++) {
        buf_reset(&out);
        if (event_encode(codec, in, &ENRICH, &out, &meta, &err)) fail_msg("%s", err.message);
    }
    int64_t t1 = time_mono_ns();
    for (int i = 0; i < N; i++) {
        json_t *j = json_loads(text, 0, NULL);
        buf_reset(&out);
        if (event_encode(codec, j, &ENRICH, &out, &meta, &err)) fail_msg("%s", err.message);
        json_decref(j);
    }
    int64_t t2 = time_mono_ns();
    buf js;
    buf_init(&js);
    for (int i = 0; i < N; i++) {
        buf_reset(&js);
        if (event_decode_json(codec, BUS_USER_EVENTS, out.data, out.len, &js, &err))
            fail_msg("%s", err.message);
    }
    int64_t t3 = time_mono_ns();
    printf("    event cost (%zu-byte JSON, %zu-byte record): encode %.3f us, "
           "jansson parse + encode %.3f us, decode to JSON %.3f us\n",
           strlen(text), out.len, (double)(t1 - t0) / N / 1000, (double)(t2 - t1) / N / 1000,
           (double)(t3 - t2) / N / 1000);
    json_decref(in);
    buf_free(&out);
    buf_free(&js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names_round_trip_and_map_to_topics),
        cmocka_unit_test(test_search_from_lat_lon_gets_region_dr5ru),
        cmocka_unit_test(test_view_with_region_and_offset_time),
        cmocka_unit_test(test_booking_with_epoch_ms_and_booking_id),
        cmocka_unit_test(test_cancel_with_null_booking_id_omits_it),
        cmocka_unit_test(test_driver_location),
        cmocka_unit_test(test_driver_status),
        cmocka_unit_test(test_weather_at_range_limits),
        cmocka_unit_test(test_traffic),
        cmocka_unit_test(test_venue_event),
        cmocka_unit_test(test_holiday_without_region_is_global),
        cmocka_unit_test(test_config_change),
        cmocka_unit_test(test_model_update),
        cmocka_unit_test(test_price_change),
        cmocka_unit_test(test_alert),
        cmocka_unit_test(test_doubles_that_need_17_digits_round_trip_exactly),
        cmocka_unit_test(test_event_id_of_64_bytes_is_accepted_and_in_meta),
        cmocka_unit_test(test_encoding_matches_fastavro_byte_for_byte),
        cmocka_unit_test(test_decodes_a_pricing_decision_written_by_fastavro),
        cmocka_unit_test(test_a_batch_across_topics_appends_records_that_decode_by_topic),
        cmocka_unit_test(test_type_errors_name_the_type_field),
        cmocka_unit_test(test_missing_and_mistyped_fields_are_named),
        cmocka_unit_test(test_out_of_range_numbers_give_value_and_range),
        cmocka_unit_test(test_enums_list_their_symbols),
        cmocka_unit_test(test_unknown_fields_are_rejected_before_other_errors),
        cmocka_unit_test(test_event_id_length_and_times_are_checked),
        cmocka_unit_test(test_region_rules),
        cmocka_unit_test(test_decoding_garbage_fails_cleanly),
        cmocka_unit_test(test_threads_share_one_codec),
        cmocka_unit_test(test_print_encode_and_decode_cost),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
