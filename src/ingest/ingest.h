/* ingest: events in (DESIGN §4). Validates each event against its schema, drops duplicates by
 * event_id over a time window, applies per-user and per-region rate limits, enriches, and
 * produces the Avro records to the bus, returning only once they are durable. */
#ifndef SURGE_INGEST_H
#define SURGE_INGEST_H

#include "../bus/bus.h"
#include "../core/core.h"
#include "../event/event.h"

typedef struct ingest_config {
    int64_t dedup_window_ms;     /* an event_id seen within this window is a duplicate */
    size_t dedup_max_entries;    /* memory bound; beyond it the oldest ids are forgotten early */
    int64_t rate_user_per_min;   /* events per minute per user_id; 0 disables */
    int64_t rate_region_per_min; /* events per minute per region; 0 disables */
    int region_precision;
} ingest_config;

typedef enum ingest_status {
    INGEST_ACCEPTED,
    INGEST_DUPLICATE,
    INGEST_REJECTED,
    INGEST_RATE_LIMITED,
} ingest_status;

/* "accepted", "duplicate", "rejected", "rate_limited" */
extern const char *const INGEST_STATUS_NAMES[4];

typedef struct ingest_result {
    ingest_status status;
    char event_id[EVENT_ID_MAX + 1];
    event_type type;      /* when known */
    bus_topic topic;      /* accepted and duplicate: where it is */
    int partition;
    int64_t offset;       /* accepted: its offset; duplicate: -1 */
    int retry_after_s;    /* rate_limited */
    surge_error error;    /* rejected: which field, which rule */
} ingest_result;

typedef struct ingest_stats {
    uint64_t accepted, duplicates, rejected, rate_limited;
    uint64_t dedup_entries;
    int64_t dedup_window_effective_ms; /* shorter than configured when memory ran out */
} ingest_stats;

typedef struct ingest ingest;

/* Creates the ingester and rebuilds the dedup window from the bus (the event ids of the last
 * dedup_window_ms of records), so duplicates are caught across restarts. bus and codec are
 * borrowed. */
ingest *ingest_new(bus *b, event_codec *codec, const ingest_config *cfg, surge_error *err);
void ingest_free(ingest *in);

/* Ingests n parsed JSON events (NULL entries are events that did not parse: parse_errors[i]
 * says why, and they are reported as rejected). Fills results[i] for each. Returns 0 when every
 * accepted event is durable, or an error (EIO) when the bus failed: then the events it could
 * not write are reported as rejected with that error, and their ids are not remembered. */
int ingest_batch(ingest *in, json_t *const *events, const surge_error *parse_errors, size_t n,
                 const char *source, int64_t now_ms, ingest_result *results, surge_error *err);

/* The same for a request body as it arrived: spans (from event_split_batch) say where each
 * event's bytes are; a span that is not ok is reported as rejected with its error. The events
 * are validated without building a JSON tree (event_encode_text). */
int ingest_batch_text(ingest *in, const char *body, const event_span *spans, size_t n,
                      const char *source, int64_t now_ms, ingest_result *results,
                      surge_error *err);

void ingest_get_stats(ingest *in, ingest_stats *out);

#endif
