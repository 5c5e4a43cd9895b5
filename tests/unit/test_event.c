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

/* jansson 2.14 drops one NUL byte that directly follows a number or true/false/null (its
 * lex_unget of that byte leaves the stream buffer looking empty), so it accepts {"a":1\0}; the
 * scanner refuses such text, the one deliberate difference. True when message, an error of the
 * fast path about text, is exactly that case. */
static bool jansson_nul_quirk(const char *text, size_t len, const char *message)
{
    const char *b = strstr(message, "found byte 0x00 (byte ");
    if (!b) return false;
    size_t at = (size_t)strtoull(b + 22, NULL, 10);
    if (at == 0 || at >= len || text[at] != 0) return false;
    char prev = text[at - 1];
    return (prev >= '0' && prev <= '9') || prev == 'e' || prev == 'l';
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
    } else if (rb == SURGE_EPARSE && jansson_nul_quirk(text, len, eb.message)) {
        ea = eb; /* the known difference: the fast path is the strict one */
        a.len = 6;
        ra = rb;
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
    /* demand-signals (the stream's records): a branch and nothing else is truncated */
    buf out;
    buf_init(&out);
    surge_error err;
    assert_int_equal(event_decode_json(codec, BUS_DEMAND_SIGNALS, "\x00", 1, &out, &err),
                     SURGE_EPARSE);
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

/* ---------------------------------------------------------------- the text fast path: JSON */

#define HOLIDAY_HEAD "{\"event_id\":\"h\",\"type\":\"holiday\",\"ts\":1,\"name\":"
#define PRICE_HEAD                                                                             \
    "{\"event_id\":\"p\",\"type\":\"price_change\",\"ts\":1,\"region_id\":\"dr5ru\","          \
    "\"product_type\":\"ride\",\"surge_multiplier\":"

/* Both ways, the holiday whose name is the JSON text name_json. */
static int holiday_named(const char *name_json, buf *record, surge_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, HOLIDAY_HEAD "%s}", name_json);
    return both_ways(text, &ENRICH, record, err);
}

/* The name, given as name_json, must decode to want (raw UTF-8). */
static void expect_name(const char *name_json, const char *want)
{
    buf rec, js;
    buf_init(&rec);
    buf_init(&js);
    surge_error err;
    if (holiday_named(name_json, &rec, &err)) fail_msg("%s refused: %s", name_json, err.message);
    assert_int_equal(event_decode_json(codec, BUS_EXTERNAL_EVENTS, rec.data, rec.len, &js, &err),
                     0);
    json_t *j = parse(js.data);
    const char *got = json_string_value(json_object_get(j, "name"));
    if (!got || strcmp(got, want) != 0) fail_msg("%s decoded to '%s'", name_json, got);
    json_decref(j);
    buf_free(&rec);
    buf_free(&js);
}

static void expect_name_parse_error(const char *name_json, const char *want)
{
    char text[1024];
    snprintf(text, sizeof text, HOLIDAY_HEAD "%s}", name_json);
    expect_parse_error(text, want);
}

static void test_text_strings_escapes_and_unicode(void **state)
{
    expect_name("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\te\"", "a\"b\\c/d\b\f\n\r\te");
    expect_name("\"\\u00e9\\u4E2D\\ud83d\\ude00\"", "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
    expect_name("\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"", "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
    expect_name("\"\\u0041\\u007f\\u0080\\u07FF\\u0800\\uFFFF\\uDBFF\\uDFFF\"",
                "A\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf");
    expect_name("\"\\u0001\\u001f\x7f\"", "\x01\x1f\x7f");
    /* UTF-8 at the edges of what is valid */
    expect_name("\"\xc2\x80\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"",
                "\xc2\x80\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    /* escaped keys are the same keys */
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    encode_ok("{\"event_id\":\"h\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\"}", &a);
    encode_ok("{\"ev\\u0065nt_id\":\"h\",\"\\u0074ype\":\"hol\\u0069day\",\"ts\":1,\"n\\u0061me\":\"n\"}",
              &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_free(&a);
    buf_free(&b);

    expect_name_parse_error("\"a\\xb\"", "invalid escape '\\x' in a string (byte 49)");
    expect_name_parse_error("\"a\\'\"", "invalid escape '\\''");
    expect_name_parse_error("\"\\u12\"", "invalid \\u escape");
    expect_name_parse_error("\"\\u12G4\"", "invalid \\u escape");
    expect_name_parse_error("\"\\U0041\"", "invalid escape '\\U'");
    expect_name_parse_error("\"\\ud800\"", "unpaired UTF-16 surrogate \\uD800");
    expect_name_parse_error("\"\\ud800x\"", "unpaired UTF-16 surrogate \\uD800");
    expect_name_parse_error("\"\\ud800\\u0041\"", "unpaired UTF-16 surrogate \\uD800");
    expect_name_parse_error("\"\\ud800\\n\"", "unpaired UTF-16 surrogate \\uD800");
    expect_name_parse_error("\"\\ud800\\udbff\"", "unpaired UTF-16 surrogate \\uD800");
    expect_name_parse_error("\"\\ud800\\u12\"", "invalid \\u escape");
    expect_name_parse_error("\"\\udc00\"", "unpaired UTF-16 surrogate \\uDC00");
    expect_name_parse_error("\"\\udfff\\ud800\"", "unpaired UTF-16 surrogate \\uDFFF");
    expect_name_parse_error("\"a\\u0000b\"", "\\u0000 (NUL) is not allowed");
    expect_name_parse_error("\"a\x01z\"", "unescaped control character 0x01 in a string");
    expect_name_parse_error("\"a\tb\"", "unescaped control character 0x09");
    expect_name_parse_error("\"a\nb\"", "unescaped line break");
    /* invalid UTF-8: bad lead bytes, overlong forms, surrogates, beyond U+10FFFF, truncated */
    static const char *const bad_utf8[] = {
        "\xff",         "\xfe",         "\x80",     "\xbf",         "\xc0\x80",
        "\xc1\xbf",     "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80", "\xe2\x82", "\xc3", "\xf0\x9f\x98", "\xc3\x28", "\xe2\x28\xa1",
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "\"a%sz\"", bad_utf8[i]);
        expect_name_parse_error(name, "invalid UTF-8");
    }
    expect_parse_error(HOLIDAY_HEAD "\"never closed}", "unterminated string (it starts at byte 47) (byte 61)");
    expect_parse_error(HOLIDAY_HEAD "\"ends in a backslash\\", "unterminated string");
    expect_parse_error("{\"a\\u0000\":1}", "\\u0000");
    expect_parse_error("{\"a\xff\":1}", "invalid UTF-8");
    /* string lengths are bytes of the decoded value, on both paths */
    expect_reject(HOLIDAY_HEAD "\"\"}", "name", "field 'name' must be 1 to 256 bytes long (is 0)");
    char text[2048];
    int n = snprintf(text, sizeof text, "%s\"", HOLIDAY_HEAD);
    for (int i = 0; i < 130; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "\\u00e9"); /* 2 bytes each */
    snprintf(text + n, sizeof text - (size_t)n, "\"}");
    expect_reject(text, "name", "field 'name' must be 1 to 256 bytes long (is 260)");
}

/* The surge_multiplier given as the JSON text number, both ways; the record's last 8 bytes are
 * the double. */
static int price_with(const char *number, buf *record, surge_error *err)
{
    char text[512];
    snprintf(text, sizeof text, PRICE_HEAD "%s}", number);
    return both_ways(text, &ENRICH, record, err);
}

static double price_double(const char *number)
{
    buf rec;
    buf_init(&rec);
    surge_error err;
    if (price_with(number, &rec, &err)) fail_msg("%s refused: %s", number, err.message);
    double d;
    memcpy(&d, rec.data + rec.len - 8, 8); /* little-endian, as Avro writes it */
    buf_free(&rec);
    return d;
}

static void expect_number_parse_error(const char *number, const char *want)
{
    char text[512];
    snprintf(text, sizeof text, PRICE_HEAD "%s}", number);
    expect_parse_error(text, want);
}

static void test_text_numbers(void **state)
{
    assert_true(price_double("0") == 0 && !signbit(price_double("0")));
    /* -0 is jansson's integer 0 (+0.0 as a double); -0.0 is a real with its sign */
    assert_true(price_double("-0") == 0 && !signbit(price_double("-0")));
    assert_true(price_double("-0.0") == 0 && signbit(price_double("-0.0")));
    assert_true(price_double("-0e5") == 0 && signbit(price_double("-0e5")));
    assert_true(price_double("1e3") == 1000);
    assert_true(price_double("1E3") == 1000);
    assert_true(price_double("1.5E-2") == 0.015);
    assert_true(price_double("1.5e+2") == 150);
    assert_true(price_double("0.1") == 0.1);
    assert_true(price_double("1e-400") == 0);
    assert_true(price_double("4.9e-324") == 4.9e-324);
    assert_true(price_double("1.7976931348623157e308") == 1.7976931348623157e308);
    assert_true(price_double("9007199254740993") == 9007199254740992.0);
    assert_true(price_double("9007199254740993.0") == 9007199254740992.0);
    assert_true(price_double("9007199254740995.0") == 9007199254740996.0);
    assert_true(price_double("1e23") == 1e23);
    assert_true(price_double("0.000000000000000000000000000001") == 1e-30);
    assert_true(price_double("123456789012345.6") == 123456789012345.6);
    assert_true(price_double("12345678901234.5") == 12345678901234.5);
    assert_true(price_double("1.00000000000000011102230246251565404236316680908203125") ==
                1.00000000000000011102230246251565404236316680908203125);
    assert_true(price_double("2.2250738585072011e-308") == 2.2250738585072011e-308);
    assert_true(price_double("123456789012345678901234567890.0") ==
                123456789012345678901234567890.0);
    assert_true(price_double("9223372036854775807") == 9223372036854775807.0);

    /* integers where the schema wants one: a real never is, whatever its value */
    const char *venue = "{\"event_id\":\"x\",\"type\":\"venue_event\",\"ts\":1,"
                        "\"region_id\":\"dr5ru\",\"venue\":\"v\",\"start\":1,\"end\":2,"
                        "\"expected_attendance\":%s}";
    char text[512];
    snprintf(text, sizeof text, venue, "1e3");
    expect_reject(text, "expected_attendance", "field 'expected_attendance' must be an integer");
    snprintf(text, sizeof text, venue, "1000.0");
    expect_reject(text, "expected_attendance", "field 'expected_attendance' must be an integer");
    snprintf(text, sizeof text, venue, "-0");
    assert_int_equal(both_ways(text, &ENRICH, NULL, NULL), 0);
    const char *traffic = "{\"event_id\":\"x\",\"type\":\"traffic\",\"ts\":%s,"
                          "\"region_id\":\"dr5ru\",\"congestion\":0.5}";
    const char *epoch = "field 'ts' must be epoch milliseconds between 1970 and 9999";
    snprintf(text, sizeof text, traffic, "9223372036854775807");
    expect_reject(text, "ts", epoch);
    snprintf(text, sizeof text, traffic, "-9223372036854775808");
    expect_reject(text, "ts", epoch);
    snprintf(text, sizeof text, traffic, "9223372036854775808");
    expect_parse_error(text, "integer out of the 64-bit range (byte 38)");
    snprintf(text, sizeof text, traffic, "-9223372036854775809");
    expect_parse_error(text, "integer out of the 64-bit range");
    snprintf(text, sizeof text, traffic, "123456789012345678901234567890");
    expect_parse_error(text, "integer out of the 64-bit range");
    /* negative values give the same range errors */
    buf none;
    buf_init(&none);
    surge_error err;
    assert_int_equal(price_with("-1.5e-3", &none, &err), SURGE_EINVAL);
    assert_string_equal(err.message, "field 'surge_multiplier' = -0.0015 must be >= 0");
    buf_free(&none);

    expect_number_parse_error("01", "invalid number (no leading zeros)");
    expect_number_parse_error("-01", "invalid number (no leading zeros)");
    expect_number_parse_error("00", "invalid number (no leading zeros)");
    expect_number_parse_error("00.5", "invalid number (no leading zeros)");
    expect_number_parse_error("-", "invalid number (a digit must follow '-')");
    expect_number_parse_error("-x", "invalid number (a digit must follow '-')");
    expect_number_parse_error("- 1", "invalid number");
    expect_number_parse_error("--1", "invalid number");
    expect_number_parse_error("+1", "expected a JSON value, found '+'");
    expect_number_parse_error(".5", "expected a JSON value, found '.'");
    expect_number_parse_error("1.", "invalid number (a digit must follow '.')");
    expect_number_parse_error("1.e3", "invalid number (a digit must follow '.')");
    expect_number_parse_error("1e", "invalid number (a digit must follow the exponent's 'e')");
    expect_number_parse_error("1e+", "invalid number");
    expect_number_parse_error("1E-", "invalid number");
    expect_number_parse_error("0x10", "expected ',' or '}' in an object, found 'x'");
    expect_number_parse_error("1.5.5", "expected ',' or '}' in an object, found '.'");
    expect_number_parse_error("1e309", "number out of the range of a double");
    expect_number_parse_error("-1e309", "number out of the range of a double");
    char huge[400]; /* 2 * 10^308, written out: beyond DBL_MAX */
    memset(huge, '0', sizeof huge);
    huge[0] = '2';
    memcpy(huge + 309, ".5", 3);
    expect_number_parse_error(huge, "number out of the range of a double");
    huge[0] = '1'; /* 10^308 is not */
    assert_true(price_double(huge) == 1e308);
    /* long runs of fraction digits: far below a double (0), or scaled back up by the exponent */
    memset(huge, '0', sizeof huge);
    memcpy(huge, "0.", 2);
    memcpy(huge + 390, "1", 2);
    assert_true(price_double(huge) == 0);
    memcpy(huge + 390, "1e389", 6); /* 389 fraction digits */
    assert_true(price_double(huge) == 1.0);
    memcpy(huge + 390, "1e999", 6);
    expect_number_parse_error(huge, "number out of the range of a double");
    expect_number_parse_error("Infinity", "expected a JSON value, found 'I'");
    expect_number_parse_error("NaN", "expected a JSON value");
    expect_number_parse_error("1 2", "expected ',' or '}' in an object, found '2'");

    /* random numbers of every shape: identical doubles (record bytes) or identical errors */
    unsigned seed = 4242;
    int accepted = 0;
    for (int i = 0; i < 30000; i++) {
        char num[96];
        int k = 0;
        if (rand_r(&seed) % 10 == 0) num[k++] = '-';
        int int_digits = rand_r(&seed) % 4 == 0 ? 1 : 1 + rand_r(&seed) % 22;
        for (int d = 0; d < int_digits; d++)
            num[k++] = (char)('0' + (d == 0 && int_digits > 1 ? 1 + rand_r(&seed) % 9
                                                             : rand_r(&seed) % 10));
        if (int_digits == 1 && rand_r(&seed) % 3 == 0) num[k - 1] = '0';
        if (rand_r(&seed) % 2) {
            num[k++] = '.';
            int frac = 1 + rand_r(&seed) % 24;
            int zeros = rand_r(&seed) % 3 == 0 ? rand_r(&seed) % 12 : 0;
            for (int d = 0; d < frac; d++)
                num[k++] = (char)(d < zeros ? '0' : '0' + rand_r(&seed) % 10);
        }
        if (rand_r(&seed) % 2) {
            num[k++] = rand_r(&seed) % 2 ? 'e' : 'E';
            int r = rand_r(&seed) % 3;
            if (r == 1) num[k++] = '-';
            if (r == 2) num[k++] = '+';
            k += snprintf(num + k, sizeof num - (size_t)k, "%d", rand_r(&seed) % 340);
        }
        num[k] = 0;
        if (price_with(num, NULL, NULL) == 0) accepted++;
    }
    assert_true(accepted > 20000);
}

static void test_text_literals_whitespace_and_structure(void **state)
{
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    encode_ok("{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\",\"region_id\":null}",
              &a);
    encode_ok(" \t\r\n{ \"event_id\" : \"x\" ,\n\t\"type\"\r:\"holiday\" ,\"ts\"\n:\n1\n, "
              "\"name\" :\"n\" , \"region_id\" : null \t}\r\n ",
              &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_free(&a);
    buf_free(&b);
    expect_reject("{}", "type", "field 'type' is required");
    expect_reject(" { } ", "type", "field 'type' is required");
    expect_reject(HOLIDAY_HEAD "\"n\",\"lat\":true,\"lon\":false}", "lat",
                  "field 'lat' must be a number");
    expect_parse_error(HOLIDAY_HEAD "nul}", "expected a JSON value, found 'n' (byte 47)");
    expect_parse_error(HOLIDAY_HEAD "True}", "expected a JSON value, found 'T'");
    expect_parse_error(HOLIDAY_HEAD "nulll}", "expected ',' or '}' in an object, found 'l'");
    expect_parse_error(HOLIDAY_HEAD "truex}", "expected ',' or '}'");
    expect_parse_error(HOLIDAY_HEAD "'n'}", "expected a JSON value, found '''");

    /* duplicate keys, however spelled, as JSON_REJECT_DUPLICATES */
    expect_parse_error("{\"event_id\":\"a\",\"event_id\":\"b\",\"type\":\"holiday\"}",
                       "duplicate key 'event_id' (byte 16)");
    expect_parse_error("{\"type\":\"holiday\",\"t\\u0079pe\":\"holiday\"}", "duplicate key 'type'");
    expect_parse_error("{\"name\":null,\"name\":\"x\"}", "duplicate key 'name'");
    expect_parse_error("{\"x\":1,\"type\":\"holiday\",\"x\":1}", "duplicate key 'x'");
    /* inside a nested value too (jansson reads those) */
    expect_parse_error(HOLIDAY_HEAD "\"n\",\"extra\":{\"a\":1,\"a\":2}}", "duplicate object key");
    expect_parse_error(HOLIDAY_HEAD "\"n\",\"extra\":[1,}", NULL);
    expect_reject(HOLIDAY_HEAD "\"n\",\"extra\":[1,{\"a\":[]}]}", "extra",
                  "unknown field 'extra' in a holiday event (allowed: event_id, type, ts, "
                  "region_id, lat, lon, name)");

    /* the object itself */
    static const struct {
        const char *text, *want;
        size_t nuls; /* NUL bytes the text has at its end (strlen stops before them) */
    } bad[] = {
        {"", "expected '{' (an event is a JSON object), found the end of the input (byte 0)", 0},
        {"   ", "found the end of the input (byte 3)", 0},
        {"5", "expected '{' (an event is a JSON object), found '5'", 0},
        {"\"x\"", "expected '{'", 0},
        {"null", "expected '{'", 0},
        {"\xef\xbb\xbf{}", "found byte 0xef", 0},
        {"{", "expected a string key or '}', found the end of the input (byte 1)", 0},
        {"}", "expected '{'", 0},
        {"{\"a\"}", "expected ':' after an object key, found '}' (byte 4)", 0},
        {"{\"a\":}", "expected a JSON value, found '}'", 0},
        {"{\"a\":1,}", "expected a string key, found '}' (byte 7)", 0},
        {"{,}", "expected a string key or '}', found ','", 0},
        {"{\"a\" 1}", "expected ':' after an object key, found '1'", 0},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}' in an object, found '\"'", 0},
        {"{'a':1}", "expected a string key or '}', found '''", 0},
        {"{a:1}", "expected a string key or '}', found 'a'", 0},
        {"{\"a\":1}}", "expected the end of the event after its closing '}', found '}' (byte 7)", 0},
        {"{\"a\":1} x", "found 'x' (byte 8)", 0},
        {"{}{}", "found '{' (byte 2)", 0},
        {"{\"a\":1}\x00", "found byte 0x00", 1},
        {"{\"a\":\x00\x00", "expected a JSON value, found byte 0x00", 2},
        {"{\"a\":1,\"b\":[}", NULL, 0},
        {"[", NULL, 0},
        {"[{\"a\":1}", NULL, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse_error_len(bad[i].text, strlen(bad[i].text) + bad[i].nuls, bad[i].want);

    /* the one difference: jansson 2.14 drops a NUL byte right after a number or literal (a bug
     * in its lex_unget) and accepts this; the scanner refuses it as the invalid JSON it is */
    static const char nul_after_number[] = HOLIDAY_HEAD "\"n\",\"lat\":1\0,\"lon\":2}";
    json_error_t jerr;
    json_t *quirk = json_loadb(nul_after_number, sizeof nul_after_number - 1,
                               JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(quirk);
    json_decref(quirk);
    surge_error qerr;
    buf qout;
    buf_init(&qout);
    assert_int_equal(event_encode_text(codec, nul_after_number, sizeof nul_after_number - 1,
                                       &ENRICH, &qout, NULL, &qerr),
                     SURGE_EPARSE);
    assert_string_equal(qerr.message, "the event is not valid JSON: expected ',' or '}' in an "
                                      "object, found byte 0x00 (byte 58)");
    buf_free(&qout);

    /* more keys than any event has fields: jansson's path, the same first unknown key */
    char text[4096];
    int n = snprintf(text, sizeof text, "{\"type\":\"holiday\"");
    for (int i = 0; i < 40; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, ",\"k%d\":%d", i, i);
    snprintf(text + n, sizeof text - (size_t)n, "}");
    expect_reject(text, "k0",
                  "unknown field 'k0' in a holiday event (allowed: event_id, type, ts, region_id, "
                  "lat, lon, name)");
    snprintf(text + n, sizeof text - (size_t)n, ",\"k3\":1}");
    expect_parse_error(text, "duplicate object key");

    /* nesting: jansson's limit is 2048 levels, the object being the first */
    for (int depth = 2046; depth <= 2050; depth++) {
        buf deep;
        buf_init(&deep);
        buf_puts(&deep, "{\"type\":\"holiday\",\"x\":");
        for (int i = 0; i < depth - 1; i++)
            buf_putc(&deep, '[');
        for (int i = 0; i < depth - 1; i++)
            buf_putc(&deep, ']');
        buf_putc(&deep, '}');
        surge_error e;
        int rc = both_ways_len(deep.data, deep.len, &ENRICH, NULL, &e);
        assert_int_equal(rc, depth <= 2048 ? SURGE_EINVAL : SURGE_EPARSE);
        buf_free(&deep);
    }
}

static void test_text_every_prefix_and_random_mutations(void **state)
{
    const char *valid[] = {
        "{\"event_id\":\"s-\\u00e9\\ud83d\\ude00\",\"type\":\"search\",\"ts\":\"2026-01-11T10:32:00Z\","
        "\"lat\":40.7580,\"lon\":-73.9855e0,\"user_id\":\"u\\\"42\",\"product_type\":\"ride\","
        "\"destination_lat\":4.06413E1,\"destination_lon\":null}",
        " {\n \"event_id\" : \"ve-1\", \"type\" : \"venue_event\", \"ts\" : 1768127520000,\r\n"
        " \"region_id\" : \"dr5ru\", \"venue\" : \"Caf\xc3\xa9 \\/ [x] {y}\", \"start\" : 1,"
        " \"end\" : 2, \"expected_attendance\" : 19500 } ",
        ("{\"event_id\":\"ds\",\"type\":\"driver_status\",\"ts\":-0,\"region_id\":\"gcpvj\","
         "\"driver_id\":\"d\",\"status\":\"busy\",\"lat\":null,\"lon\":null}"),
    };
    for (size_t v = 0; v < sizeof valid / sizeof valid[0]; v++) {
        size_t len = strlen(valid[v]);
        int rc = both_ways_len(valid[v], len, &ENRICH, NULL, NULL);
        assert_true(rc == 0 || rc == SURGE_EINVAL);
        /* every strict prefix is not JSON (the last '}' is missing at least) */
        size_t last = len;
        while (valid[v][last - 1] != '}')
            last--;
        for (size_t n = 0; n < last; n++)
            expect_parse_error_len(valid[v], n, NULL);
    }
    /* random mutations: whatever either path says, the other says the same */
    static const char alphabet[] = "{}[]\":,\\ u0e1-.+tfnl\xc3\xa9\xff\x01\n";
    unsigned seed = 777;
    int counts[16] = {0};
    for (int i = 0; i < 40000; i++) {
        const char *base = valid[(size_t)i % 3];
        size_t len = strlen(base);
        char text[512];
        memcpy(text, base, len);
        int edits = 1 + rand_r(&seed) % 3;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % len;
            switch (rand_r(&seed) % 4) {
            case 0: /* delete a byte */
                memmove(text + at, text + at + 1, len - at - 1);
                len--;
                break;
            case 1: /* insert one */
                if (len + 1 < sizeof text) {
                    memmove(text + at + 1, text + at, len - at);
                    text[at] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
                    len++;
                }
                break;
            default:
                text[at] = rand_r(&seed) % 4 ? alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)]
                                             : (char)rand_r(&seed);
            }
        }
        counts[both_ways_len(text, len, &ENRICH, NULL, NULL)]++;
    }
    assert_true(counts[0] > 100);
    assert_true(counts[SURGE_EINVAL] > 1000);
    assert_true(counts[SURGE_EPARSE] > 10000);
}

/* ---------------------------------------------------------------- the text fast path: bodies */

/* Splits body (copied to an exact-size allocation); returns the code. */
static int split(const char *body, size_t len, bool ndjson, size_t max, event_span **spans,
                 size_t *count, surge_error *err)
{
    char *copy = exact_copy(body, len);
    *spans = (event_span *)1;
    *count = 12345;
    int rc = event_split_batch(copy, len, ndjson, spans, count, max, err);
    free(copy);
    if (rc) {
        assert_null(*spans);
        assert_int_equal(*count, 0);
        assert_int_equal(err->code, rc);
    }
    return rc;
}

static void expect_span(const char *body, const event_span *sp, const char *want_text)
{
    if (!sp->ok) fail_msg("span not ok: %s", sp->error.message);
    assert_int_equal(sp->error.code, SURGE_OK);
    assert_string_equal(sp->error.message, "");
    if (sp->len != strlen(want_text) || memcmp(body + sp->offset, want_text, sp->len) != 0)
        fail_msg("span is '%.*s', want '%s'", (int)sp->len, body + sp->offset, want_text);
}

static void expect_bad_span(const event_span *sp, const char *message)
{
    assert_false(sp->ok);
    assert_int_equal(sp->error.code, SURGE_EPARSE);
    assert_string_equal(sp->error.field, "");
    assert_string_equal(sp->error.message, message);
}

static void expect_body_error(const char *body, size_t len, bool ndjson, size_t max, int code,
                              const char *message)
{
    event_span *spans;
    size_t count;
    surge_error err;
    int rc = split(body, len, ndjson, max, &spans, &count, &err);
    if (rc != code || strcmp(err.message, message) != 0)
        fail_msg("%.*s\n  got  %d %s\n  want %d %s", (int)len, body, rc, err.message, code,
                 message);
    assert_string_equal(err.field, "");
}

static void test_split_objects_and_arrays(void **state)
{
    event_span *spans;
    size_t count;
    surge_error err;
    const char *one = " \r\n{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\"}\n ";
    assert_int_equal(split(one, strlen(one), false, 10, &spans, &count, &err), 0);
    assert_int_equal(count, 1);
    expect_span(one, &spans[0], "{\"event_id\":\"x\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\"}");
    assert_int_equal(spans[0].offset, 3);
    free(spans);

    /* brackets, braces and escaped quotes inside strings are not structure */
    const char *e1 = "{\"event_id\":\"a]}\\\"[{\",\"type\":\"holiday\",\"ts\":1,"
                     "\"name\":\"}]\\\\\"}";
    const char *e2 = "{\"event_id\":\"b\" ,\"type\":\"holiday\",\"ts\":2,\"name\":\"[[[\\\"{\"}";
    char body[512];
    snprintf(body, sizeof body, "[ %s\n,\t%s ]", e1, e2);
    assert_int_equal(split(body, strlen(body), false, 10, &spans, &count, &err), 0);
    assert_int_equal(count, 2);
    expect_span(body, &spans[0], e1);
    expect_span(body, &spans[1], e2);
    buf rec;
    buf_init(&rec);
    for (size_t i = 0; i < count; i++) { /* each span is an event both paths encode alike */
        assert_int_equal(both_ways_len(body + spans[i].offset, spans[i].len, &ENRICH, &rec, NULL),
                         0);
    }
    buf_free(&rec);
    free(spans);

    /* empty arrays */
    const char *empties[] = {"[]", " [ \n ] ", "\t[]\r\n"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(split(empties[i], strlen(empties[i]), false, 10, &spans, &count, &err),
                         0);
        assert_int_equal(count, 0);
        free(spans);
    }

    /* elements that are not objects */
    const char *mixed = "[{\"a\":1}, 5, \"x\", [1,{}], null, {\"b\":{\"c\":[]}}, -1.5e3, true]";
    assert_int_equal(split(mixed, strlen(mixed), false, 10, &spans, &count, &err), 0);
    assert_int_equal(count, 8);
    expect_span(mixed, &spans[0], "{\"a\":1}");
    expect_bad_span(&spans[1], "event 1 is not a JSON object");
    expect_bad_span(&spans[2], "event 2 is not a JSON object");
    expect_bad_span(&spans[3], "event 3 is not a JSON object");
    assert_int_equal(spans[3].len, 6);
    assert_memory_equal(mixed + spans[3].offset, "[1,{}]", 6);
    expect_bad_span(&spans[4], "event 4 is not a JSON object");
    expect_span(mixed, &spans[5], "{\"b\":{\"c\":[]}}");
    expect_bad_span(&spans[6], "event 6 is not a JSON object");
    expect_bad_span(&spans[7], "event 7 is not a JSON object");
    free(spans);

    /* bodies that are not JSON, or not an object or array */
    const char *not_event = "the body must be an event (JSON object) or a JSON array of events";
    expect_body_error("", 0, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected a JSON value, found the end of the "
                      "input (byte 0)");
    expect_body_error("  \n", 3, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected a JSON value, found the end of the "
                      "input (byte 3)");
    expect_body_error("[{\"a\":1}", 8, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected ',' or ']' in an array, found the end "
                      "of the input (byte 8)");
    expect_body_error("[1,]", 4, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected a JSON value, found ']' (byte 3)");
    expect_body_error("[{\"a\":}]", 8, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected a JSON value, found '}' (byte 6)");
    expect_body_error("[{\"a\":1}] x", 11, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected the end of the body after the JSON "
                      "value, found 'x' (byte 10)");
    expect_body_error("{\"a\":1}{", 8, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected the end of the body after the JSON "
                      "value, found '{' (byte 7)");
    expect_body_error("[\"a]\"", 5, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected ',' or ']' in an array, found the end "
                      "of the input (byte 5)");
    expect_body_error("[\"a\\\"]", 6, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: unterminated string (it starts at byte 1) "
                      "(byte 6)");
    expect_body_error("[{\"a\":\"\\u0000\"}]", 16, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: \\u0000 (NUL) is not allowed in a string "
                      "(byte 7)");
    expect_body_error("[\"\xff\"]", 5, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: invalid UTF-8 (byte 0xff) in a string (byte 2)");
    expect_body_error("[{\"a\":1}, tru]", 14, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected a JSON value, found 't' (byte 10)");
    expect_body_error("5", 1, false, 10, SURGE_EPARSE, not_event);
    expect_body_error(" \"x\" ", 5, false, 10, SURGE_EPARSE, not_event);
    expect_body_error("null", 4, false, 10, SURGE_EPARSE, not_event);
    expect_body_error("5 6", 3, false, 10, SURGE_EPARSE,
                      "the body is not valid JSON: expected the end of the body after the JSON "
                      "value, found '6' (byte 2)");

    /* max_events: counted over the whole array; validity is checked first */
    const char *three = "[{\"a\":1},{\"b\":2},3]";
    expect_body_error(three, strlen(three), false, 2, SURGE_ETOOLARGE,
                      "3 events in one request; at most 2 (ingest.max_events)");
    expect_body_error("[{},{},{},", 10, false, 2, SURGE_EPARSE,
                      "the body is not valid JSON: expected a JSON value, found the end of the "
                      "input (byte 10)");
    assert_int_equal(split(three, strlen(three), false, 3, &spans, &count, &err), 0);
    assert_int_equal(count, 3);
    free(spans);
    expect_body_error("{}", 2, false, 0, SURGE_ETOOLARGE,
                      "1 events in one request; at most 0 (ingest.max_events)");

    /* nesting as deep as jansson allows: 2048 levels, the array being the first */
    for (int depth = 2047; depth <= 2049; depth++) {
        buf deep;
        buf_init(&deep);
        for (int i = 0; i < depth; i++)
            buf_putc(&deep, '[');
        for (int i = 0; i < depth; i++)
            buf_putc(&deep, ']');
        int rc = split(deep.data, deep.len, false, 10, &spans, &count, &err);
        assert_int_equal(rc, depth <= 2048 ? 0 : SURGE_EPARSE);
        if (!rc) free(spans);
        json_error_t jerr;
        json_t *j = json_loadb(deep.data, deep.len, 0, &jerr);
        assert_int_equal(j != NULL, depth <= 2048);
        json_decref(j);
        buf_free(&deep);
    }
}

static void test_split_ndjson(void **state)
{
    const char *body = "{\"a\":1}\n"             /* 1 */
                       "\n"                      /* 2: blank */
                       "  \t\r\n"                /* 3: blank */
                       "{\"b\":\"x\\\"}\\n\"}\r\n" /* 4: CRLF */
                       "[1]\n"                   /* 5 */
                       " 5 \n"                   /* 6 */
                       "{\"c\":\n"               /* 7 */
                       "{} {}\n"                 /* 8 */
                       "\"{\\\"\n"               /* 9 */
                       "   {\"d\":[{}]}   ";     /* 10: no final newline */
    event_span *spans;
    size_t count;
    surge_error err;
    assert_int_equal(split(body, strlen(body), true, 100, &spans, &count, &err), 0);
    assert_int_equal(count, 8);
    expect_span(body, &spans[0], "{\"a\":1}");
    expect_span(body, &spans[1], "{\"b\":\"x\\\"}\\n\"}");
    expect_bad_span(&spans[2], "line 5 is not a JSON object");
    expect_bad_span(&spans[3], "line 6 is not a JSON object");
    expect_bad_span(&spans[4], "line 7 is not valid JSON: expected a JSON value, found the end of "
                               "the input (byte 5 of the line)");
    expect_bad_span(&spans[5], "line 8 is not valid JSON: expected the end of the line after the "
                               "JSON value, found '{' (byte 3 of the line)");
    expect_bad_span(&spans[6], "line 9 is not valid JSON: unterminated string (it starts at byte "
                               "0) (byte 4 of the line)");
    expect_span(body, &spans[7], "{\"d\":[{}]}");
    free(spans);

    /* nothing but blank lines: no events */
    const char *blank[] = {"", "\n", "\r\n\r\n", " \n\t\n"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(split(blank[i], strlen(blank[i]), true, 10, &spans, &count, &err), 0);
        assert_int_equal(count, 0);
        free(spans);
    }
    /* max_events counts lines that are not blank, bad ones included */
    const char *three = "{}\n\n{}\r\n\nnot json\n\n";
    expect_body_error(three, strlen(three), true, 2, SURGE_ETOOLARGE,
                      "more than 2 events in one request (ingest.max_events)");
    assert_int_equal(split(three, strlen(three), true, 3, &spans, &count, &err), 0);
    assert_int_equal(count, 3);
    expect_bad_span(&spans[2], "line 5 is not valid JSON: expected a JSON value, found 'n' (byte 0 "
                               "of the line)");
    free(spans);
    /* a string cannot hide a line break: each line stands alone */
    const char *split_string = "{\"a\":\"x\n\"}\n";
    assert_int_equal(split(split_string, strlen(split_string), true, 10, &spans, &count, &err),
                     0);
    assert_int_equal(count, 2);
    assert_false(spans[0].ok);
    assert_false(spans[1].ok);
    free(spans);
}

/* Whatever jansson (flags 0: duplicates are each event's business) says of a body, the splitter
 * says too: valid or not, how many elements and which are objects. */
static void check_split_like_jansson(const char *body, size_t len, bool ndjson, int *objects)
{
    event_span *spans;
    size_t count;
    surge_error err;
    int rc = split(body, len, ndjson, 1000, &spans, &count, &err);
    json_error_t jerr;
    if (ndjson) {
        assert_int_equal(rc, 0);
        const char *p = body, *end = body + len;
        size_t k = 0;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
            const char *q = p;
            while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r'))
                q++;
            if (q < stop) {
                json_t *j = json_loadb(p, (size_t)(stop - p), JSON_DECODE_ANY, &jerr);
                assert_true(k < count);
                if (j && jansson_nul_quirk(p, (size_t)(stop - p), spans[k].error.message)) {
                    /* the known difference */
                } else if (spans[k].ok != json_is_object(j) ||
                           (!j) != (strstr(spans[k].error.message, "is not valid JSON") != NULL))
                    fail_msg("line '%.*s': jansson %s, span %s", (int)(stop - p), p,
                             j ? "parses it" : jerr.text, spans[k].error.message);
                if (spans[k].ok) {
                    (*objects)++;
                    both_ways_len(body + spans[k].offset, spans[k].len, &ENRICH, NULL, NULL);
                }
                json_decref(j);
                k++;
            }
            p = nl ? nl + 1 : end;
        }
        assert_int_equal(k, count);
        free(spans);
        return;
    }
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (root && rc == SURGE_EPARSE && jansson_nul_quirk(body, len, err.message)) {
        json_decref(root);
        return;
    }
    if (!root) {
        if (rc != SURGE_EPARSE || strncmp(err.message, "the body is not valid JSON: ", 28) != 0)
            fail_msg("jansson refuses '%.*s' (%s) but the splitter gave %d %s", (int)len, body,
                     jerr.text, rc, err.message);
        return;
    }
    if (!json_is_object(root) && !json_is_array(root)) {
        assert_int_equal(rc, SURGE_EPARSE);
        assert_string_equal(err.message,
                            "the body must be an event (JSON object) or a JSON array of events");
    } else {
        if (rc) fail_msg("jansson reads '%.*s' but the splitter gave %s", (int)len, body, err.message);
        size_t n = json_is_array(root) ? json_array_size(root) : 1;
        assert_int_equal(count, n);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_is_array(root) ? json_array_get(root, i) : root;
            assert_int_equal(spans[i].ok, json_is_object(e));
            if (spans[i].ok) {
                (*objects)++;
                both_ways_len(body + spans[i].offset, spans[i].len, &ENRICH, NULL, NULL);
            }
        }
        free(spans);
    }
    json_decref(root);
}

static void test_split_agrees_with_jansson(void **state)
{
    const char *bodies[] = {
        "[{\"event_id\":\"a]\\\"\",\"type\":\"holiday\",\"ts\":1,\"name\":\"[{\"},\n"
        " {\"event_id\":\"b\",\"type\":\"alert\",\"ts\":2,\"severity\":\"info\",\"message\":\"m\"},"
        " {\"event_id\":\"c\",\"type\":\"traffic\",\"ts\":3,\"region_id\":\"dr5ru\","
        "\"congestion\":0.5e0}, [1, {\"x\": null}], \"s\", -0.5]",
        ("{\"event_id\":\"d\",\"type\":\"driver_location\",\"ts\":4,\"lat\":1,\"lon\":2,"
         "\"driver_id\":\"\\u00e9\"}"),
    };
    const char *ndjson = "{\"event_id\":\"a\",\"type\":\"holiday\",\"ts\":1,\"name\":\"n\"}\n"
                         "\r\n"
                         "{\"event_id\":\"b\",\"type\":\"alert\",\"ts\":2,\"severity\":\"info\","
                         "\"message\":\"}{\"}\r\n"
                         "[{}]\n"
                         "{\"event_id\":\"c\",\"type\":\"view\",\"ts\":3,\"region_id\":\"dr5ru\","
                         "\"user_id\":\"u\",\"product_type\":\"ride\"}";
    static const char alphabet[] = "{}[]\":, \\u0-.e\n\r\xff";
    unsigned seed = 99;
    int objects = 0;
    for (int i = 0; i < 12000; i++) {
        bool nd = i % 3 == 2;
        const char *base = nd ? ndjson : bodies[i % 2];
        size_t len = strlen(base);
        char text[1024];
        memcpy(text, base, len);
        if (i >= 3) {
            int edits = 1 + rand_r(&seed) % 3;
            for (int e = 0; e < edits; e++) {
                size_t at = (size_t)rand_r(&seed) % len;
                if (rand_r(&seed) % 3 == 0) {
                    memmove(text + at, text + at + 1, len - at - 1);
                    len--;
                } else {
                    text[at] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
                }
            }
        }
        check_split_like_jansson(text, len, nd, &objects);
    }
    assert_true(objects > 5000);
}

static void test_split_is_linear(void **state)
{
    /* 200k events, and one string of a million escaped quotes and brackets */
    buf body;
    buf_init(&body);
    buf_putc(&body, '[');
    for (int i = 0; i < 200000; i++)
        buf_puts(&body, i ? ",{\"a\":\"]\"}" : "{\"a\":\"]\"}");
    buf_puts(&body, ",{\"s\":\"");
    for (int i = 0; i < 250000; i++)
        buf_puts(&body, "\\\"[{");
    buf_puts(&body, "\"}]");
    event_span *spans;
    size_t count;
    surge_error err;
    int64_t t0 = time_mono_ns();
    assert_int_equal(event_split_batch(body.data, body.len, false, &spans, &count, 1000000, &err),
                     0);
    int64_t t1 = time_mono_ns();
    assert_int_equal(count, 200001);
    assert_int_equal(spans[200000].len, 1000000 + 8); /* {"s":" ... "} */
    free(spans);
    printf("    split of a %.1f MB array of %zu events: %.1f ms\n", (double)body.len / 1e6, count,
           (double)(t1 - t0) / 1e6);
    buf_free(&body);
}

/* ---------------------------------------------------------------- cost of a batch */

static void test_print_batch_cost_jansson_vs_text(void **state)
{
    enum { EVENTS = 1000, ROUNDS = 100 };
    buf body;
    buf_init(&body);
    buf_putc(&body, '[');
    for (int i = 0; i < EVENTS; i++) {
        if (i) buf_puts(&body, ",\n");
        switch (i % 4) {
        case 0:
            buf_printf(&body,
                       "{\"event_id\":\"0f8e2c1a-5b7d-4e3f-9a1b-%012d\",\"type\":\"search\","
                       "\"ts\":\"2026-01-11T10:32:00Z\",\"lat\":40.7580,\"lon\":-73.9855,"
                       "\"user_id\":\"u-%07d\",\"product_type\":\"ride\"}",
                       i, i);
            break;
        case 1:
            buf_printf(&body,
                       "{\"event_id\":\"0f8e2c1a-5b7d-4e3f-9a1b-%012d\",\"type\":\"booking\","
                       "\"ts\":1768127520000,\"region_id\":\"dr5ru\",\"user_id\":\"u-%07d\","
                       "\"product_type\":\"ride\",\"booking_id\":\"bk-%d\"}",
                       i, i, i);
            break;
        case 2:
            buf_printf(&body,
                       "{\"event_id\":\"0f8e2c1a-5b7d-4e3f-9a1b-%012d\",\"type\":"
                       "\"driver_location\",\"ts\":1768127520000,\"lat\":40.7%04d,"
                       "\"lon\":-73.98%03d,\"driver_id\":\"d-%d\"}",
                       i, i, i % 1000, i);
            break;
        default:
            buf_printf(&body,
                       "{\"event_id\":\"0f8e2c1a-5b7d-4e3f-9a1b-%012d\",\"type\":\"driver_status\","
                       "\"ts\":1768127520000,\"region_id\":\"dr5ru\",\"driver_id\":\"d-%d\","
                       "\"status\":\"busy\"}",
                       i, i);
        }
    }
    buf_putc(&body, ']');
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    surge_error err;
    event_meta meta;
    int64_t t0 = time_mono_ns();
    for (int r = 0; r < ROUNDS; r++) { /* what the API did: parse the body, encode each event */
        buf_reset(&a);
        json_error_t jerr;
        json_t *root = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(root);
        for (size_t i = 0; i < json_array_size(root); i++)
            if (event_encode(codec, json_array_get(root, i), &ENRICH, &a, &meta, &err))
                fail_msg("%s", err.message);
        json_decref(root);
    }
    int64_t t1 = time_mono_ns();
    for (int r = 0; r < ROUNDS; r++) { /* the fast path */
        buf_reset(&b);
        event_span *spans;
        size_t count;
        assert_int_equal(event_split_batch(body.data, body.len, false, &spans, &count, 10000, &err),
                         0);
        for (size_t i = 0; i < count; i++)
            if (event_encode_text(codec, body.data + spans[i].offset, spans[i].len, &ENRICH, &b,
                                  &meta, &err))
                fail_msg("%s", err.message);
        free(spans);
    }
    int64_t t2 = time_mono_ns();
    for (int r = 0; r < ROUNDS; r++) { /* the split alone */
        event_span *spans;
        size_t count;
        assert_int_equal(event_split_batch(body.data, body.len, false, &spans, &count, 10000, &err),
                         0);
        free(spans);
    }
    int64_t t3 = time_mono_ns();
    assert_int_equal(a.len, b.len); /* the same records */
    assert_memory_equal(a.data, b.data, a.len);
    double n = (double)EVENTS * ROUNDS;
    printf("    a %d-event array (%zu bytes): json_loadb + event_encode %.3f us/event, "
           "event_split_batch + event_encode_text %.3f us/event (the split alone %.3f)\n",
           EVENTS, body.len, (double)(t1 - t0) / n / 1000, (double)(t2 - t1) / n / 1000,
           (double)(t3 - t2) / n / 1000);
    buf_free(&a);
    buf_free(&b);
    buf_free(&body);
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
        cmocka_unit_test(test_text_strings_escapes_and_unicode),
        cmocka_unit_test(test_text_numbers),
        cmocka_unit_test(test_text_literals_whitespace_and_structure),
        cmocka_unit_test(test_text_every_prefix_and_random_mutations),
        cmocka_unit_test(test_split_objects_and_arrays),
        cmocka_unit_test(test_split_ndjson),
        cmocka_unit_test(test_split_agrees_with_jansson),
        cmocka_unit_test(test_split_is_linear),
        cmocka_unit_test(test_threads_share_one_codec),
        cmocka_unit_test(test_print_encode_and_decode_cost),
        cmocka_unit_test(test_print_batch_cost_jansson_vs_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
