/* replay.c: `surge replay`, the stream engine run over the retained log: backfills features,
 * rebuilds window aggregates, and writes the point-in-time feature snapshots that training
 * reads. The partitions are merged by event time, so a bounded replay sees the events in the
 * order they happened (within a partition's own order) and its result does not depend on how
 * the log's partitions were interleaved when it was written. */
#include "cli.h"
#include "event/event.h"
#include "stream/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

const char CLI_REPLAY_USAGE[] =
    "Usage: surge replay [--from T] [--to T] [--aggregates-out FILE.csv]\n"
    "                    [--features-out FILE.csv] [--every-minutes N] [--late-out FILE]\n"
    "                    [--json] [--quiet] [--data-dir DIR] [--config FILE] [--set K=V]...\n"
    "\n"
    "Runs the stream processor's code over the event log of the data dir (read-only: it works\n"
    "beside a running server) and writes what it computes:\n"
    "  --aggregates-out  every closed window: region_id,window,window_start,window_end,\n"
    "                    searches,views,bookings,cancels,cancel_rate,driver_locations,\n"
    "                    driver_statuses (docs/stream.md)\n"
    "  --features-out    a snapshot of every region's features every N minutes of event time\n"
    "                    (--every-minutes, default 1): region_id,ts, then the features of\n"
    "                    docs/features.md; a snapshot at ts uses only events before ts\n"
    "  --late-out        events later than stream.allowed_lateness_s, as JSON lines\n"
    "--from/--to select events by event time (RFC 3339 or epoch ms; from inclusive, to\n"
    "exclusive). --json prints a summary object on stdout. A progress line goes to stderr every\n"
    "2 s unless --quiet.\n";

typedef struct replay {
    FILE *aggregates, *late;
    uint64_t windows, late_count;
} replay;

static void on_window(void *ctx, const stream_aggregate *a)
{
    replay *r = ctx;
    r->windows++;
    if (!r->aggregates) return;
    fprintf(r->aggregates, "%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%.17g,%lld,%lld\n", a->region_id,
            STREAM_WINDOW_NAMES[a->window], (long long)a->start_ms, (long long)a->end_ms,
            (long long)a->searches, (long long)a->views, (long long)a->bookings,
            (long long)a->cancels, a->cancel_rate, (long long)a->driver_locations,
            (long long)a->driver_statuses);
}

static const bus_topic INPUTS[3] = {BUS_USER_EVENTS, BUS_SUPPLY_EVENTS, BUS_EXTERNAL_EVENTS};

static void on_late(void *ctx, int source, const event_view *ev, int64_t watermark)
{
    replay *r = ctx;
    r->late_count++;
    if (!r->late) return;
    fprintf(r->late,
            "{\"topic\":\"%s\",\"partition\":%d,\"type\":\"%s\",\"event_id\":\"%.*s\","
            "\"region_id\":\"%s\",\"ts\":%lld,\"watermark\":%lld}\n",
            BUS_TOPIC_NAMES[INPUTS[source / BUS_PARTITIONS]], source % BUS_PARTITIONS,
            EVENT_TYPE_NAMES[ev->type], (int)ev->event_id_len, ev->event_id, ev->region_id,
            (long long)ev->ts_ms, (long long)watermark);
}

/* The head of each source: its next in-range event, decoded. */
typedef struct head {
    bus_consumer *consumer;
    event_view ev;
    bool valid;
    int64_t offset, end;
} head;

/* Reads the source's next event with from <= ts < to into h->ev. */
static int head_advance(head *h, bus_topic topic, int64_t from, int64_t to, uint64_t *skipped,
                        uint64_t *decode_errors, surge_error *err)
{
    h->valid = false;
    bus_record rec;
    int rc;
    while ((rc = bus_consumer_next(h->consumer, &rec, err)) == 1) {
        h->offset = rec.offset + 1;
        surge_error derr;
        if (event_view_decode(topic, rec.value, rec.value_len, &h->ev, &derr)) {
            if ((*decode_errors)++ < 10)
                fprintf(stderr, "surge: %s offset %lld skipped: %s\n", BUS_TOPIC_NAMES[topic],
                        (long long)rec.offset, derr.message);
            continue;
        }
        if (h->ev.ts_ms < from || h->ev.ts_ms >= to) {
            (*skipped)++;
            continue;
        }
        h->valid = true;
        return 0;
    }
    return rc < 0 ? rc : 0;
}

static void write_features_header(FILE *f)
{
    fputs("region_id,ts", f);
    for (int i = 0; i < STREAM_FEATURE_COUNT; i++)
        fprintf(f, ",%s", STREAM_FEATURE_NAMES[i]);
    fputc('\n', f);
}

/* One row per region the engine knows, as of just before boundary_ms. */
static void write_snapshot(FILE *f, stream_engine *e, int64_t boundary_ms,
                           char (*ids)[GEOHASH_MAX + 1], size_t max, feature_set *set)
{
    size_t n = stream_engine_regions(e, ids, max);
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) {
        if (stream_engine_features(e, ids[i], boundary_ms - 1, set)) continue;
        fprintf(f, "%s,%lld", ids[i], (long long)boundary_ms);
        int at = 0; /* features come in STREAM_FEATURE_NAMES order, some missing */
        for (int k = 0; k < STREAM_FEATURE_COUNT; k++) {
            fputc(',', f);
            if (at < set->count && strcmp(set->values[at].name, STREAM_FEATURE_NAMES[k]) == 0)
                fprintf(f, "%.10g", set->values[at++].value);
        }
        fputc('\n', f);
    }
}

/* A boundary callback: called when the merged event time first reaches at_ms (a multiple of
 * every_ms), before any event at or after it is processed. */
typedef void (*boundary_fn)(void *ctx, stream_engine *e, int64_t at_ms);

typedef struct replay_stats {
    uint64_t events, skipped, decode_errors;
    double elapsed_s;
} replay_stats;

/* Runs the engine over the data dir's log for events with from <= ts < to, merging the sources
 * by event time, calling boundary every every_ms of event time (every_ms 0: never), then
 * closes every window. e is a fresh engine (time zones already set). */
static int replay_log(const config *cfg, stream_engine *e, int64_t from, int64_t to,
                      int64_t every_ms, boundary_fn boundary, void *ctx, bool quiet,
                      replay_stats *st, surge_error *err)
{
    memset(st, 0, sizeof *st);
    char url[1200];
    bus_config bc;
    cli_bus_settings(cfg, url, sizeof url, &bc);
    bc.read_only = true;
    bus *b = bus_open(url, &bc, err);
    if (!b) return err->code;
    head heads[STREAM_SOURCES];
    memset(heads, 0, sizeof heads);
    int rc = 0;
    int64_t total = 0, t0 = time_mono_ns(), last_progress = t0;
    for (int src = 0; src < STREAM_SOURCES && !rc; src++) {
        bus_topic topic = INPUTS[src / BUS_PARTITIONS];
        int p = src % BUS_PARTITIONS;
        int64_t start;
        if (bus_start_offset(b, topic, p, &start, err) ||
            bus_end_offset(b, topic, p, &heads[src].end, err) ||
            !(heads[src].consumer = bus_consumer_open(b, topic, p, start, err)) ||
            head_advance(&heads[src], topic, from, to, &st->skipped, &st->decode_errors, err))
            rc = err->code ? err->code : SURGE_EIO;
        else
            total += heads[src].end - start;
    }
    int64_t next_boundary = INT64_MIN;
    while (!rc) {
        /* the source whose head is earliest in event time (ties: the lowest source) */
        int best = -1;
        for (int src = 0; src < STREAM_SOURCES; src++)
            if (heads[src].valid && (best < 0 || heads[src].ev.ts_ms < heads[best].ev.ts_ms))
                best = src;
        if (best < 0) break;
        head *h = &heads[best];
        if (every_ms > 0) {
            int64_t floor = h->ev.ts_ms - ((h->ev.ts_ms % every_ms) + every_ms) % every_ms;
            if (next_boundary == INT64_MIN) next_boundary = floor + every_ms;
            while (h->ev.ts_ms >= next_boundary) {
                boundary(ctx, e, next_boundary);
                next_boundary += every_ms;
            }
        }
        stream_engine_process(e, best, &h->ev);
        st->events++;
        if (head_advance(h, INPUTS[best / BUS_PARTITIONS], from, to, &st->skipped,
                         &st->decode_errors, err)) {
            rc = err->code ? err->code : SURGE_EIO;
            break;
        }
        /* a source that has no more events must not hold the watermark back */
        if (!h->valid) stream_engine_set_idle(e, best, true);
        if (!quiet && (st->events & 0xffff) == 0) {
            int64_t now = time_mono_ns();
            if (now - last_progress >= 2000000000LL) {
                int64_t done = 0;
                for (int src = 0; src < STREAM_SOURCES; src++)
                    done += heads[src].offset;
                char ts[40];
                time_format_rfc3339(stream_engine_stream_time(e), ts, sizeof ts);
                fprintf(stderr, "replay: %llu events (%.0f/s), event time %s, %.0f%% of the log\n",
                        (unsigned long long)st->events, st->events / ((now - t0) / 1e9), ts,
                        total ? 100.0 * (double)done / (double)total : 100.0);
                last_progress = now;
            }
        }
    }
    if (!rc && every_ms > 0 && next_boundary != INT64_MIN) boundary(ctx, e, next_boundary);
    if (!rc) stream_engine_finish(e);
    st->elapsed_s = (time_mono_ns() - t0) / 1e9;
    for (int src = 0; src < STREAM_SOURCES; src++)
        if (heads[src].consumer) bus_consumer_close(heads[src].consumer);
    bus_close(b);
    return rc;
}

/* Sets every configured region's time zone, as the server does. */
static void set_time_zones(const config *cfg, stream_engine *e)
{
    char db_url[1200];
    surge_error err;
    if (cli_prepare_data_dir(cfg, db_url, sizeof db_url, &err)) return;
    store_db *db = store_db_open(db_url, &err);
    store_region *regions = NULL;
    size_t nr = 0;
    if (db && store_region_list(db, &regions, &nr, &err) == 0) {
        for (size_t i = 0; i < nr; i++) {
            const tz_zone *z = tz_load(regions[i].timezone, &err);
            if (z) stream_engine_set_timezone(e, regions[i].region_id, z);
        }
        free(regions);
    }
    store_db_close(db);
}

typedef struct snapshot_ctx {
    FILE *out;
    char (*ids)[GEOHASH_MAX + 1];
    feature_set *set;
} snapshot_ctx;

static void on_snapshot(void *ctx, stream_engine *e, int64_t at_ms)
{
    snapshot_ctx *c = ctx;
    write_snapshot(c->out, e, at_ms, c->ids, 65536, c->set);
}

/* ---------------------------------------------------------------- the training table */

#define QUARTER_MS 900000LL
/* exogenous columns of the table and the features they are read from (the forecaster maps
 * them back the same way, src/model/forecast.c) */
static const char *const HISTORY_COLUMNS[][2] = {
    {"temperature", "weather_temp_c"},
    {"precipitation", "weather_precip_mm"},
    {"holiday", "is_holiday"},
    {"weather_severity", "weather_severity"},
    {"nearby_event_score", "nearby_event_score"},
    {"available_drivers", "available_drivers"},
};
#define HISTORY_NCOLUMNS 6

typedef struct history_row {
    char region[GEOHASH_MAX + 1];
    int64_t ts;
    float demand;
    float exog[HISTORY_NCOLUMNS];
} history_row;

typedef struct history_ctx {
    history_row *rows;
    size_t n, cap;
    size_t filled; /* rows before this one have their demand */
    char (*ids)[GEOHASH_MAX + 1];
    feature_set *set;
    bool oom;
} history_ctx;

static void history_fill(history_ctx *h, stream_engine *e, int64_t complete_before)
{
    while (h->filled < h->n && h->rows[h->filled].ts + QUARTER_MS <= complete_before) {
        history_row *r = &h->rows[h->filled++];
        float d;
        stream_engine_demand_history(e, r->region, r->ts, 1, &d);
        r->demand = d;
    }
}

/* At each quarter: the exogenous values known just before it for every region, and the demand
 * of the quarters that ended at least a quarter ago (late events within the allowed lateness
 * have arrived by then). */
static void on_quarter(void *ctx, stream_engine *e, int64_t at_ms)
{
    history_ctx *h = ctx;
    history_fill(h, e, at_ms - QUARTER_MS);
    size_t n = stream_engine_regions(e, h->ids, 65536);
    if (n > 65536) n = 65536;
    for (size_t i = 0; i < n; i++) {
        if (stream_engine_features(e, h->ids[i], at_ms - 1, h->set)) continue;
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 4096;
            history_row *rows = realloc(h->rows, cap * sizeof *rows);
            if (!rows) {
                h->oom = true;
                return;
            }
            h->rows = rows;
            h->cap = cap;
        }
        history_row *r = &h->rows[h->n++];
        memcpy(r->region, h->ids[i], sizeof r->region);
        r->ts = at_ms;
        r->demand = NAN;
        for (int c = 0; c < HISTORY_NCOLUMNS; c++) {
            r->exog[c] = NAN;
            for (int k = 0; k < h->set->count; k++)
                if (strcmp(h->set->values[k].name, HISTORY_COLUMNS[c][1]) == 0)
                    r->exog[c] = (float)h->set->values[k].value;
        }
    }
}

static int compare_rows(const void *a, const void *b)
{
    const history_row *x = a, *y = b;
    int c = strcmp(x->region, y->region);
    return c ? c : (x->ts > y->ts) - (x->ts < y->ts);
}

int cli_replay_history(const config *cfg, int64_t from, int64_t to, bool quiet, buf *csv,
                       uint64_t *events, surge_error *err)
{
    stream_config sc;
    cli_stream_settings(cfg, &sc);
    stream_engine *e = stream_engine_new(&sc.engine, NULL);
    history_ctx h = {0};
    h.ids = malloc(65536 * sizeof *h.ids);
    h.set = malloc(sizeof *h.set);
    if (!e || !h.ids || !h.set) {
        stream_engine_free(e);
        free(h.ids);
        free(h.set);
        return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    }
    set_time_zones(cfg, e);
    replay_stats st;
    int rc = replay_log(cfg, e, from, to, QUARTER_MS, on_quarter, &h, quiet, &st, err);
    if (!rc && h.oom) rc = surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    if (!rc) {
        /* quarters that ended by the last event are complete; the one in progress is not */
        history_fill(&h, e, stream_engine_stream_time(e) + 1);
        if (h.filled) qsort(h.rows, h.filled, sizeof *h.rows, compare_rows);
        buf_puts(csv, "region_id,ts,demand");
        for (int c = 0; c < HISTORY_NCOLUMNS; c++)
            buf_printf(csv, ",%s", HISTORY_COLUMNS[c][0]);
        buf_putc(csv, '\n');
        for (size_t i = 0; i < h.filled; i++) {
            history_row *r = &h.rows[i];
            if (isnan(r->demand))
                continue; /* older than the engine's 8 days: cannot happen
                           * when filled a quarter later */
            buf_printf(csv, "%s,%lld,%.0f", r->region, (long long)r->ts, r->demand);
            for (int c = 0; c < HISTORY_NCOLUMNS; c++) {
                if (isnan(r->exog[c]))
                    buf_putc(csv, ',');
                else
                    buf_printf(csv, ",%.9g", r->exog[c]);
            }
            buf_putc(csv, '\n');
        }
        if (events) *events = st.events;
        if (h.filled == 0)
            rc = surge_fail(err, SURGE_EINVAL, "log",
                            "the log holds no complete 15-minute quarter of events in that "
                            "range: nothing to train on");
    }
    stream_engine_free(e);
    free(h.rows);
    free(h.ids);
    free(h.set);
    return rc;
}

int cli_replay_command(int argc, char **argv)
{
    surge_error err;
    cli_common common;
    config *cfg = cli_config(argc, argv, environ, &common, &err);
    if (!cfg) {
        fprintf(stderr, "surge: %s\n", err.message);
        return 2;
    }
    const char *from_s = NULL, *to_s = NULL, *agg_path = NULL, *feat_path = NULL, *late_path = NULL,
               *every_s = NULL;
    bool json = false, quiet = false;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        if (!argv[i]) continue;
        const char *a = argv[i];
        const char **slot = strcmp(a, "--from") == 0             ? &from_s
                            : strcmp(a, "--to") == 0             ? &to_s
                            : strcmp(a, "--aggregates-out") == 0 ? &agg_path
                            : strcmp(a, "--features-out") == 0   ? &feat_path
                            : strcmp(a, "--late-out") == 0       ? &late_path
                            : strcmp(a, "--every-minutes") == 0  ? &every_s
                                                                 : NULL;
        if (slot) {
            if (i + 1 >= argc || !argv[i + 1]) {
                fprintf(stderr, "surge: %s needs a value\n", a);
                goto out;
            }
            *slot = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else {
            fprintf(stderr, "surge: unknown option '%s'\n\n%s", a, CLI_REPLAY_USAGE);
            goto out;
        }
    }
    int64_t from = INT64_MIN, to = INT64_MAX, every = 1;
    if (from_s && time_parse(from_s, &from)) {
        fprintf(stderr, "surge: --from '%s' is not an RFC 3339 time or epoch milliseconds\n",
                from_s);
        goto out;
    }
    if (to_s && time_parse(to_s, &to)) {
        fprintf(stderr, "surge: --to '%s' is not an RFC 3339 time or epoch milliseconds\n", to_s);
        goto out;
    }
    if (from >= to) {
        fprintf(stderr, "surge: --from must be before --to\n");
        goto out;
    }
    if (every_s) {
        char *end;
        every = strtoll(every_s, &end, 10);
        if (!*every_s || *end || every < 1 || every > 10080) {
            fprintf(stderr, "surge: --every-minutes must be an integer in 1..10080, got '%s'\n",
                    every_s);
            goto out;
        }
    }

    rc = 1;
    replay r = {0};
    stream_engine *e = NULL;
    FILE *features = NULL;
    char(*ids)[GEOHASH_MAX + 1] = malloc(65536 * sizeof *ids);
    feature_set *set = malloc(sizeof *set);
    if ((agg_path && !(r.aggregates = fopen(agg_path, "w"))) ||
        (late_path && !(r.late = fopen(late_path, "w"))) ||
        (feat_path && !(features = fopen(feat_path, "w")))) {
        perror("surge: cannot open the output file");
        goto close;
    }
    if (r.aggregates)
        fputs("region_id,window,window_start,window_end,searches,views,bookings,cancels,"
              "cancel_rate,driver_locations,driver_statuses\n",
              r.aggregates);
    if (features) write_features_header(features);
    stream_config sc;
    cli_stream_settings(cfg, &sc);
    stream_engine_callbacks cb = {.window_closed = on_window, .late_event = on_late, .ctx = &r};
    e = stream_engine_new(&sc.engine, &cb);
    if (!e || !ids || !set) goto close;
    set_time_zones(cfg, e);
    snapshot_ctx snap = {features, ids, set};
    replay_stats st;
    if (replay_log(cfg, e, from, to, features ? every * 60000 : 0, on_snapshot, &snap, quiet, &st,
                   &err)) {
        fprintf(stderr, "surge: %s\n", err.message);
        goto close;
    }
    stream_engine_stats es;
    stream_engine_stats_get(e, &es);
    if (json)
        printf("{\"events\":%llu,\"late_events\":%llu,\"windows\":%llu,\"regions\":%zu,"
               "\"skipped_out_of_range\":%llu,\"decode_errors\":%llu,\"elapsed_s\":%.3f,"
               "\"events_per_s\":%.0f}\n",
               (unsigned long long)st.events, (unsigned long long)r.late_count,
               (unsigned long long)r.windows, es.regions, (unsigned long long)st.skipped,
               (unsigned long long)st.decode_errors, st.elapsed_s,
               st.elapsed_s > 0 ? st.events / st.elapsed_s : 0);
    else if (!quiet)
        fprintf(stderr, "replay: %llu events (%llu late), %llu windows, %zu regions in %.2f s\n",
                (unsigned long long)st.events, (unsigned long long)r.late_count,
                (unsigned long long)r.windows, es.regions, st.elapsed_s);
    rc = 0;
close:
    stream_engine_free(e);
    if (r.aggregates && fclose(r.aggregates)) rc = 1;
    if (r.late && fclose(r.late)) rc = 1;
    if (features && fclose(features)) rc = 1;
    free(ids);
    free(set);
out:
    config_free(cfg);
    return rc;
}
