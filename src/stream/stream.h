/* stream: event-time processing of the input topics (DESIGN §5). The engine turns input events
 * into per-region window aggregates (tumbling 1 and 5 min, sliding 15 min, sessions) and live
 * features; the runner feeds it from the bus in `surge serve`, writes the features to the online
 * store, publishes closed windows on demand-signals and checkpoints state with the consumed
 * offsets. `surge replay` drives the same engine over the log. docs/stream.md and
 * docs/features.md describe the semantics. */
#ifndef SURGE_STREAM_H
#define SURGE_STREAM_H

#include "../bus/bus.h"
#include "../core/core.h"
#include "../event/event.h"
#include "../store/store.h"

/* The running stream of `surge serve` (below). */
typedef struct stream stream;

/* ---------------------------------------------------------------- the engine */

typedef enum stream_window {
    STREAM_TUMBLING_1M,
    STREAM_TUMBLING_5M,
    STREAM_SLIDING_15M,
    STREAM_NWINDOWS
} stream_window;
/* "tumbling_1m", "tumbling_5m", "sliding_15m". */
extern const char *const STREAM_WINDOW_NAMES[STREAM_NWINDOWS];

/* The aggregates of one region over one closed window: the join of user and supply events by
 * region and window. */
typedef struct stream_aggregate {
    char region_id[GEOHASH_MAX + 1];
    stream_window window;
    int64_t start_ms, end_ms; /* [start, end) */
    int64_t searches, views, bookings, cancels, driver_locations, driver_statuses;
    double cancel_rate; /* cancels / bookings, 0 without bookings */
    /* the region's drivers when the window closed (state, not a window count) */
    int64_t available_drivers, busy_drivers;
} stream_aggregate;

/* Input sources: (topic, partition) pairs of the three input topics; the watermark is the
 * minimum over the sources that have data and are not idle. */
#define STREAM_SOURCES (3 * BUS_PARTITIONS)
/* The source index of an input topic's partition, or -1 for another topic. */
int stream_source_index(bus_topic topic, int partition);

typedef struct stream_engine_config {
    int64_t allowed_lateness_ms; /* default 30 s */
    int64_t session_gap_ms;      /* default 30 min */
    int64_t driver_stale_ms;     /* a driver not heard of for this long is gone; default 15 min */
} stream_engine_config;
void stream_engine_config_defaults(stream_engine_config *cfg);

typedef struct stream_engine_callbacks {
    /* a window closed with at least one counted event; called in order of window end per region */
    void (*window_closed)(void *ctx, const stream_aggregate *agg);
    /* an event arrived after its 1-minute pane closed: excluded from every window and feature */
    void (*late_event)(void *ctx, int source, const event_view *ev, int64_t watermark_ms);
    void *ctx;
} stream_engine_callbacks;

typedef struct stream_engine stream_engine;

/* callbacks may be NULL. The engine is single-threaded: one caller at a time. */
stream_engine *stream_engine_new(const stream_engine_config *cfg,
                                 const stream_engine_callbacks *callbacks);
void stream_engine_free(stream_engine *e);

/* The time zone used for a region's calendar features (UTC when never set). zone is borrowed
 * (tz_load's zones live for the process). */
void stream_engine_set_timezone(stream_engine *e, const char *region_id, const tz_zone *zone);

/* Processes one event read from source. Returns 1 when it was late (and reported), 0 otherwise.
 * Windows close as the watermark passes their end (see stream_engine_advance). */
int stream_engine_process(stream_engine *e, int source, const event_view *ev);

/* Marks a source idle (no data for the idle timeout: it no longer holds the watermark back) or
 * active again; then closes the windows the watermark has passed. */
void stream_engine_set_idle(stream_engine *e, int source, bool idle);

/* Tells the engine a source has records it has not read yet (or no longer has). A source that
 * never delivered an event but is pending holds the watermark back: otherwise the first source
 * read could close windows the others' first events still belong to. */
void stream_engine_set_pending(stream_engine *e, int source, bool pending);

/* True when processing an event at ts_ms would force windows closed: the panes kept reach about
 * two hours past the closed ones, and an event beyond that moves the watermark up to it (events
 * of a lagging source then become late). A reader that can wait for its lagging sources (to
 * deliver, or to go idle) should do so first. */
bool stream_engine_far_ahead(const stream_engine *e, int64_t ts_ms);
/* True when source has delivered data and is not idle (it holds the watermark). */
bool stream_engine_source_active(const stream_engine *e, int source);

/* Closes every window still open (end of a bounded replay). */
void stream_engine_finish(stream_engine *e);

/* The watermark (INT64_MIN before any data) and the stream time (largest event time read). */
int64_t stream_engine_watermark(const stream_engine *e);
int64_t stream_engine_stream_time(const stream_engine *e);

/* The names of every feature the engine writes, in order (a region lacks those it has no data
 * for, e.g. weather before any weather event). */
extern const char *const STREAM_FEATURE_NAMES[];
extern const int STREAM_FEATURE_COUNT;

/* The features of region_id as of at_ms (normally the stream time), by the definitions of
 * docs/features.md. ENOTFOUND for a region the stream never saw. out->source is "stream". */
int stream_engine_features(stream_engine *e, const char *region_id, int64_t at_ms,
                           feature_set *out);

/* Searches of a region per 15 minutes of event time: out[i] = the count in the quarter that
 * starts at first_ms + i * 15 min (first_ms is rounded down to a quarter), for count quarters;
 * NAN where unknown (before the region's first event, or older than the 8 days kept). A quarter
 * after the region's latest event counts 0. ENOTFOUND (all NAN) for a region never seen. The
 * forecaster's lags and baselines read this. */
int stream_engine_demand_history(stream_engine *e, const char *region_id, int64_t first_ms,
                                 int count, float *out);
/* The same through the running stream's lock. */
int stream_demand_history(stream *s, const char *region_id, int64_t first_ms, int count,
                          float *out);

/* Region ids that received events since the last call (each once), at most max. */
size_t stream_engine_take_dirty(stream_engine *e, char (*ids)[GEOHASH_MAX + 1], size_t max);
/* Every region the engine knows, at most max; returns the total count. */
size_t stream_engine_regions(stream_engine *e, char (*ids)[GEOHASH_MAX + 1], size_t max);

/* Closed 1-minute windows of a region with start >= since_ms, oldest first (the last 6 hours
 * are kept), at most max; returns the count written. */
size_t stream_engine_timeline(stream_engine *e, const char *region_id, int64_t since_ms,
                              stream_aggregate *out, size_t max);

typedef struct stream_engine_stats {
    uint64_t events, late_events, windows_closed;
    size_t regions, drivers, users;
} stream_engine_stats;
void stream_engine_stats_get(const stream_engine *e, stream_engine_stats *out);

/* Checkpoints: the whole operator state as bytes (appended to out), and back. load replaces the
 * state of a fresh engine; SURGE_EPARSE when data is not a checkpoint of this version. */
void stream_engine_save(const stream_engine *e, buf *out);
int stream_engine_load(stream_engine *e, const void *data, size_t len, surge_error *err);

/* ---------------------------------------------------------------- the runner (`surge serve`) */

typedef struct stream_config {
    stream_engine_config engine;
    int64_t idle_timeout_ms;        /* a source without new records this long is idle */
    int64_t publish_interval_ms;    /* features of regions with new events, this often */
    int64_t refresh_interval_ms;    /* features of every region, this often (TTL, rolling) */
    int64_t checkpoint_interval_ms; /* state + offsets snapshot; 0 = never */
    int64_t features_ttl_ms;
    char dir[1024]; /* checkpoints and the late-event side output */
} stream_config;

/* Called after each publish cycle that wrote features (the pricing engine invalidates its
 * cached prices). */
typedef void (*stream_published_fn)(void *ctx);

/* Restores the latest checkpoint in cfg->dir (or starts from the beginning of the retained
 * log) and starts the stream thread. db gives the regions' time zones; b, fs and db are
 * borrowed. */
stream *stream_start(const stream_config *cfg, bus *b, feature_store *fs, store_db *db,
                     stream_published_fn published, void *published_ctx, surge_error *err);
/* Stops the thread after a final checkpoint. */
void stream_stop(stream *s);

typedef struct stream_stats {
    stream_engine_stats engine;
    int64_t watermark_ms, stream_time_ms;
    int64_t lag_records;        /* records in the log not processed yet */
    int64_t last_checkpoint_ms; /* wall clock of the last checkpoint, 0 if none */
    uint64_t checkpoints, checkpoint_failures, features_published, signals_published;
    uint64_t decode_errors;
    double events_per_s;      /* over the last few seconds */
    int64_t restored_from_ms; /* when the restored checkpoint was taken; 0: fresh start */
} stream_stats;
void stream_stats_get(stream *s, stream_stats *out);

/* The engine's timeline and features, read under the stream's lock. */
size_t stream_timeline(stream *s, const char *region_id, int64_t since_ms, stream_aggregate *out,
                       size_t max);
int stream_features(stream *s, const char *region_id, feature_set *out);
/* Blocks until every record in the log when called has been processed and its features
 * published, or timeout_ms passed (tests, `surge replay` consistency). 0, or SURGE_EUNAVAILABLE on
 * timeout. */
int stream_sync(stream *s, int64_t timeout_ms);

/* ---------------------------------------------------------------- demand-signals */

/* The Avro binary of agg as a demand-signals record value (schemas/demand_signal.avsc). */
void stream_encode_signal(const stream_aggregate *agg, buf *out);

#endif
