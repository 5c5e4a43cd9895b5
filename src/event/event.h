/* event: the event types of DESIGN §4, their Avro schemas (schemas/<type>.avsc, the single source of
 * truth, compiled into the binary), validation of JSON events against them with precise errors,
 * enrichment, and Avro binary encoding/decoding of bus record values. */
#ifndef SURGE_EVENT_H
#define SURGE_EVENT_H

#include <jansson.h>

#include "../bus/bus.h"
#include "../core/core.h"

typedef enum event_type {
    EVENT_SEARCH,
    EVENT_VIEW,
    EVENT_BOOKING,
    EVENT_CANCEL,
    EVENT_DRIVER_LOCATION,
    EVENT_DRIVER_STATUS,
    EVENT_WEATHER,
    EVENT_TRAFFIC,
    EVENT_VENUE_EVENT,
    EVENT_HOLIDAY,
    EVENT_CONFIG_CHANGE,
    EVENT_MODEL_UPDATE,
    EVENT_PRICE_CHANGE,
    EVENT_ALERT,
    EVENT_NTYPES
} event_type;

/* "search", "view", ... as in the JSON `type` field, in enum order. */
extern const char *const EVENT_TYPE_NAMES[EVENT_NTYPES];
/* The type named name, or -1. */
int event_type_from_name(const char *name);
/* The topic an event type travels on: user-events, supply-events, external-events or
 * system-events. */
bus_topic event_topic(event_type type);

#define EVENT_ID_MAX 64

/* What ingestion needs to know about an event beyond its encoded bytes. */
typedef struct event_meta {
    event_type type;
    char event_id[EVENT_ID_MAX + 1];
    char region_id[GEOHASH_MAX + 1]; /* given, or derived from lat/lon; "" for global events */
    char user_id[EVENT_ID_MAX + 1];  /* "" when the type has none */
    int64_t ts_ms;                   /* event time */
    int64_t ingest_ts_ms;
} event_meta;

/* Enrichment applied to every accepted event. */
typedef struct event_enrichment {
    int64_t ingest_ts_ms;
    const char *source;   /* e.g. "api:10.0.0.7"; stored in the event's `source` field */
    int region_precision; /* geohash precision for lat/lon -> region_id */
} event_enrichment;

typedef struct event_codec event_codec;

/* Loads the compiled-in schemas. Thread-safe to use from any number of threads. */
event_codec *event_codec_new(surge_error *err);
/* Frees c; no thread may be using it any more. */
void event_codec_free(event_codec *c);

/* Validates one JSON event against the schema of its type, enriches it and appends the Avro
 * binary of its topic's record (the bus record value) to out. Fills meta. On a bad event
 * returns SURGE_EINVAL with err->field naming the field ("ts", "lat", "severity", ...) and the
 * message the rule it broke; out is then unchanged. */
int event_encode(event_codec *c, json_t *event, const event_enrichment *enrich, buf *out,
                 event_meta *meta, surge_error *err);

/* ---------------------------------------------------------------- the jansson-free fast path */

/* event_encode for the bytes of one event: text[0..len) is a JSON object (whitespace around it
 * allowed; no NUL terminator needed). The object is scanned directly, without jansson, and runs
 * through the same validation and Avro filling as event_encode, so for any text
 *   event_encode_text(c, text, len, ...)
 * and
 *   json_loadb(text, len, JSON_REJECT_DUPLICATES, &e) then event_encode(c, that, ...)
 * append the same bytes, fill the same meta and fail with the same code, field and message;
 * except that where jansson refuses the text, this returns SURGE_EPARSE with its own message:
 * "the event is not valid JSON: <what was expected or is wrong> (byte N)", N the 0-based offset
 * into text. The JSON accepted is exactly jansson's: strict UTF-8, escapes incl. \uXXXX and
 * surrogate pairs, no \u0000, no duplicate keys, integers within int64, reals within double
 * (but not jansson 2.14's bug of skipping a raw NUL byte right after a number or literal).
 * A nested object or array value (no event has one; only invalid input does) is handed to
 * jansson and event_encode as a whole. */
int event_encode_text(event_codec *c, const char *text, size_t len,
                      const event_enrichment *enrich, buf *out, event_meta *meta,
                      surge_error *err);

/* One event of a request body: its bytes are body[offset .. offset + len). When ok is false
 * the span is not an event (error says why: SURGE_EPARSE) and should be answered with error
 * rather than encoded; its offset/len then cover the element or the line. */
typedef struct event_span {
    size_t offset, len;
    surge_error error; /* code SURGE_OK and empty strings when ok */
    bool ok;
} event_span;

/* Splits a request body into events, in linear time, without decoding them:
 *   - JSON (ndjson false): the body is one value. An object is 1 span; an array gives one span
 *     per element, and an element that is not an object gets ok = false with "event N is not a
 *     JSON object" (N from 0); an empty array gives 0 spans. The whole body is checked as JSON
 *     (duplicate keys excepted: event_encode_text refuses those per event): when it is not,
 *     SURGE_EPARSE "the body is not valid JSON: <what> (byte N)"; a valid body that is neither
 *     object nor array: SURGE_EPARSE "the body must be an event (JSON object) or a JSON array of
 *     events". More than max_events elements: SURGE_ETOOLARGE "N events in one request; at most
 *     M (ingest.max_events)".
 *   - NDJSON: one span per line that is not blank (only spaces, tabs and CRs; lines end at
 *     '\n', so CRLF works). A line that is not one JSON value gets ok = false with "line N is not
 *     valid JSON: <what> (byte K of the line)", one that is valid JSON but not an object "line N
 *     is not a JSON object" (N from 1). No blank line gives 0 spans. The (max_events + 1)-th
 *     event: SURGE_ETOOLARGE "more than M events in one request (ingest.max_events)".
 * An ok span covers the object from '{' to '}'. On success *spans (malloc'd: the caller frees
 * it; NULL when *count is 0) holds *count spans; on an error *spans is NULL and *count 0. */
int event_split_batch(const char *text, size_t len, bool ndjson, event_span **spans,
                      size_t *count, size_t max_events, surge_error *err);

/* Decodes a record value read from topic back into the event's JSON object text (appended to
 * out). SURGE_EPARSE when the bytes are not a valid record of that topic. Field names are the
 * schema's, null fields are omitted and times are epoch milliseconds. pricing-decisions records
 * decode too; demand-signals has no schema yet (SURGE_ENOTFOUND). */
int event_decode_json(event_codec *c, bus_topic topic, const void *data, size_t len, buf *out,
                      surge_error *err);

/* The fields of an input event (user-, supply- or external-events) that the stream processor
 * reads, decoded straight from the record value. Strings point into the record bytes (valid
 * while they are) and are not NUL-terminated. */
typedef struct event_view {
    event_type type;
    int64_t ts_ms, ingest_ts_ms;
    char region_id[GEOHASH_MAX + 1];
    const char *event_id;
    size_t event_id_len;
    /* user_id (user events), driver_id (driver events), venue (venue_event), name (holiday) */
    const char *subject;
    size_t subject_len;
    const char *product_type; /* user events */
    size_t product_type_len;
    int driver_status; /* driver_status: 0 available, 1 busy, 2 offline */
    double temp_c, precip_mm, severity; /* weather */
    double congestion;                  /* traffic */
    int64_t venue_start_ms, venue_end_ms, attendance; /* venue_event */
} event_view;

/* Decodes one record value of an input topic. SURGE_EPARSE (err says what and at which byte)
 * when the bytes are not a record of that topic; SURGE_EINVAL for a topic that is not an input
 * topic. */
int event_view_decode(bus_topic topic, const void *data, size_t len, event_view *out,
                      surge_error *err);

/* A pricing decision as published on pricing-decisions (schemas/pricing_decision.avsc). The
 * strings are borrowed. */
typedef struct event_pricing_decision {
    const char *request_id, *trace_id;
    int64_t timestamp_ms;
    const char *region_id, *product_type;
    const char *user_id; /* NULL or "" is written as null */
    double price, base_price, surge_multiplier, demand_score, confidence;
    int factor_count;
    const char *factor_names[8];
    double factor_values[8];
    const char *guardrails_json;
    const char *model_version;
    int64_t rule_id;
    bool cached;
} event_pricing_decision;

/* Avro binary writers for records written by hand (pricing decisions, demand signals): a long
 * (zig-zag varint), a string (length and bytes; NULL is ""), a double (8 bytes little-endian). */
void event_avro_put_long(buf *out, int64_t v);
void event_avro_put_string(buf *out, const char *s);
void event_avro_put_double(buf *out, double d);

/* Appends the Avro binary of d as a pricing-decisions record value (the topic union's branch 0).
 * Written directly, without libavro: it runs for every decision, and
 * tests/unit/test_event.c decodes it with libavro against the schema. */
void event_encode_pricing_decision(const event_pricing_decision *d, buf *out);

#endif
