/* stream_api.c: what the stream processor exposes over HTTP: its status (watermark, lag,
 * throughput, checkpoints), a region's timeline of closed minutes for the portal, and its
 * metrics. */
#include "api/api_internal.h"

#include <stdlib.h>
#include <string.h>

#define TIMELINE_MAX_MINUTES 360

static bool stream_or_fail(api_request *r)
{
    if (r->server->cfg.stream) return true;
    api_fail(r, SURGE_EUNAVAILABLE, NULL,
             "the stream processor is not running (stream.enabled = false)");
    return false;
}

void handle_stream_status(api_request *r)
{
    if (!stream_or_fail(r)) return;
    stream_stats st;
    stream_stats_get(r->server->cfg.stream, &st);
    buf *o = &r->out;
    buf_puts(o, "{\"watermark_ms\":");
    json_put_int(o, st.watermark_ms == INT64_MIN ? 0 : st.watermark_ms);
    buf_puts(o, ",\"stream_time_ms\":");
    json_put_int(o, st.stream_time_ms == INT64_MIN ? 0 : st.stream_time_ms);
    buf_puts(o, ",\"events_total\":");
    json_put_int(o, (int64_t)st.engine.events);
    buf_puts(o, ",\"events_per_s\":");
    json_put_double(o, st.events_per_s);
    buf_puts(o, ",\"lag_records\":");
    json_put_int(o, st.lag_records);
    buf_puts(o, ",\"late_events_total\":");
    json_put_int(o, (int64_t)st.engine.late_events);
    buf_puts(o, ",\"windows_closed_total\":");
    json_put_int(o, (int64_t)st.engine.windows_closed);
    buf_puts(o, ",\"regions\":");
    json_put_int(o, (int64_t)st.engine.regions);
    buf_puts(o, ",\"drivers\":");
    json_put_int(o, (int64_t)st.engine.drivers);
    buf_puts(o, ",\"open_sessions\":");
    json_put_int(o, (int64_t)st.engine.users);
    buf_puts(o, ",\"checkpoints_total\":");
    json_put_int(o, (int64_t)st.checkpoints);
    buf_puts(o, ",\"last_checkpoint_ms\":");
    json_put_int(o, st.last_checkpoint_ms);
    buf_puts(o, ",\"restored_from_checkpoint\":");
    json_put_bool(o, st.restored_from_ms != 0);
    buf_putc(o, '}');
}

void handle_region_timeline(api_request *r)
{
    if (!stream_or_fail(r)) return;
    const char *region = r->params[0];
    if (!geohash_valid(region)) {
        api_fail(r, SURGE_EINVAL, "region_id", "'%.40s' is not a geohash region id", region);
        return;
    }
    long minutes = 180;
    const char *q = api_query(r, "minutes");
    if (q) {
        char *end;
        minutes = strtol(q, &end, 10);
        if (!*q || *end || minutes < 1 || minutes > TIMELINE_MAX_MINUTES) {
            api_fail(r, SURGE_EINVAL, "minutes", "minutes must be an integer in 1..%d, got '%.20s'",
                     TIMELINE_MAX_MINUTES, q);
            return;
        }
    }
    stream_aggregate *points = malloc(TIMELINE_MAX_MINUTES * sizeof *points);
    if (!points) {
        api_fail(r, SURGE_EINTERNAL, NULL, "out of memory");
        return;
    }
    stream_stats st;
    stream_stats_get(r->server->cfg.stream, &st);
    int64_t until = st.stream_time_ms == INT64_MIN ? 0 : st.stream_time_ms;
    size_t n = stream_timeline(r->server->cfg.stream, region, until - minutes * 60000, points,
                               TIMELINE_MAX_MINUTES);
    buf *o = &r->out;
    buf_puts(o, "{\"region_id\":");
    json_put_string(o, region);
    buf_puts(o, ",\"pane_ms\":60000,\"points\":[");
    for (size_t i = 0; i < n; i++) {
        const stream_aggregate *a = &points[i];
        buf_puts(o, i ? ",{\"ts\":" : "{\"ts\":");
        json_put_int(o, a->start_ms);
        buf_puts(o, ",\"searches\":");
        json_put_int(o, a->searches);
        buf_puts(o, ",\"views\":");
        json_put_int(o, a->views);
        buf_puts(o, ",\"bookings\":");
        json_put_int(o, a->bookings);
        buf_puts(o, ",\"cancels\":");
        json_put_int(o, a->cancels);
        buf_puts(o, ",\"available_drivers\":");
        json_put_int(o, a->available_drivers);
        buf_puts(o, ",\"busy_drivers\":");
        json_put_int(o, a->busy_drivers);
        buf_putc(o, '}');
    }
    buf_puts(o, "]}");
    free(points);
}

void metrics_write_stream(buf *o, stream *st)
{
    stream_stats s;
    stream_stats_get(st, &s);
    buf_printf(o,
               "# HELP surge_stream_events_total Input events the stream processed.\n"
               "# TYPE surge_stream_events_total counter\n"
               "surge_stream_events_total %llu\n"
               "# HELP surge_stream_late_events_total Events that arrived after their window "
               "closed (allowed lateness exceeded); written to stream/late-events.ndjson.\n"
               "# TYPE surge_stream_late_events_total counter\n"
               "surge_stream_late_events_total %llu\n"
               "# HELP surge_stream_windows_closed_total Windows closed and published on "
               "demand-signals.\n"
               "# TYPE surge_stream_windows_closed_total counter\n"
               "surge_stream_windows_closed_total %llu\n"
               "# HELP surge_stream_watermark_ms The event-time watermark.\n"
               "# TYPE surge_stream_watermark_ms gauge\n"
               "surge_stream_watermark_ms %lld\n"
               "# HELP surge_stream_lag_records Input records in the log not processed yet.\n"
               "# TYPE surge_stream_lag_records gauge\n"
               "surge_stream_lag_records %lld\n"
               "# HELP surge_stream_regions Regions the stream keeps state for.\n"
               "# TYPE surge_stream_regions gauge\n"
               "surge_stream_regions %zu\n"
               "# HELP surge_stream_checkpoints_total Checkpoints written (state + offsets).\n"
               "# TYPE surge_stream_checkpoints_total counter\n"
               "surge_stream_checkpoints_total %llu\n"
               "# HELP surge_stream_checkpoint_failures_total Checkpoints that failed.\n"
               "# TYPE surge_stream_checkpoint_failures_total counter\n"
               "surge_stream_checkpoint_failures_total %llu\n"
               "# HELP surge_stream_features_published_total Feature sets written to the "
               "online store.\n"
               "# TYPE surge_stream_features_published_total counter\n"
               "surge_stream_features_published_total %llu\n"
               "# HELP surge_stream_decode_errors_total Input records that could not be "
               "decoded (skipped).\n"
               "# TYPE surge_stream_decode_errors_total counter\n"
               "surge_stream_decode_errors_total %llu\n",
               (unsigned long long)s.engine.events, (unsigned long long)s.engine.late_events,
               (unsigned long long)s.engine.windows_closed,
               (long long)(s.watermark_ms == INT64_MIN ? 0 : s.watermark_ms),
               (long long)s.lag_records, s.engine.regions, (unsigned long long)s.checkpoints,
               (unsigned long long)s.checkpoint_failures, (unsigned long long)s.features_published,
               (unsigned long long)s.decode_errors);
}
