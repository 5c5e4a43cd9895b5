/* runner.c: the stream thread of `surge serve`. It reads the input topics' partitions as a
 * consumer group, feeds the engine, publishes features to the online store and closed windows
 * on demand-signals, writes late events to a side file, and checkpoints the engine state
 * together with the offsets it has consumed, so a restart resumes exactly where the state was
 * taken. */
#include "stream/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* events per round: the stream's lock is held for a round (readers of features and history,
 * e.g. a forecast on a price-cache miss, wait at most that long: about half a millisecond) */
#define ROUND_EVENTS 1024
#define GROUP "surge-stream"
#define CHECKPOINT_FILE "checkpoint.bin"
#define CHECKPOINT_HEADER_MAGIC 0x3154504b43475253ULL /* "SRGCKPT1" */
#define REGIONS_MAX 65536

struct stream {
    stream_config cfg;
    bus *bus;
    feature_store *fs;
    store_db *db;
    stream_published_fn published;
    void *published_ctx;

    pthread_mutex_t lock; /* guards engine, next_offset and the stats below */
    pthread_cond_t progress;
    stream_engine *engine;
    bus_consumer *consumers[STREAM_SOURCES];
    int64_t next_offset[STREAM_SOURCES];
    int64_t last_record_ms[STREAM_SOURCES]; /* wall clock, for idleness */
    /* each source's next record, read and decoded but not processed yet: next_offset is its
     * offset, so a checkpoint never counts it */
    event_view heads[STREAM_SOURCES];
    bool head_valid[STREAM_SOURCES];
    int64_t head_offset[STREAM_SOURCES];
    bool delivered[STREAM_SOURCES]; /* has delivered at least one record since start */
    bool holding[STREAM_SOURCES];   /* no head, but holds the watermark (round start) */
    uint64_t rounds_published;      /* publish cycles done (stream_sync) */
    stream_stats stats;

    buf signals[BUS_PARTITIONS]; /* encoded demand-signals waiting to be produced */
    size_t signal_count[BUS_PARTITIONS];
    buf signal_keys[BUS_PARTITIONS];
    FILE *late_file;

    pthread_t thread;
    bool running;
    atomic_bool stop;
    char (*ids)[GEOHASH_MAX + 1];
    feature_set *set;
};

static const bus_topic INPUT_TOPICS[3] = {BUS_USER_EVENTS, BUS_SUPPLY_EVENTS, BUS_EXTERNAL_EVENTS};

static bus_topic source_topic(int source)
{
    return INPUT_TOPICS[source / BUS_PARTITIONS];
}

static int source_partition(int source)
{
    return source % BUS_PARTITIONS;
}

/* ---------------------------------------------------------------- demand-signals encoding */

void stream_encode_signal(const stream_aggregate *a, buf *out)
{
    event_avro_put_long(out, 0); /* the topic union's only branch */
    event_avro_put_string(out, a->region_id);
    event_avro_put_string(out, STREAM_WINDOW_NAMES[a->window]);
    event_avro_put_long(out, a->start_ms);
    event_avro_put_long(out, a->end_ms);
    event_avro_put_long(out, a->searches);
    event_avro_put_long(out, a->views);
    event_avro_put_long(out, a->bookings);
    event_avro_put_long(out, a->cancels);
    event_avro_put_double(out, a->cancel_rate);
    event_avro_put_long(out, a->driver_locations);
    event_avro_put_long(out, a->driver_statuses);
    event_avro_put_long(out, a->available_drivers);
    event_avro_put_long(out, a->busy_drivers);
}

/* ---------------------------------------------------------------- engine callbacks */

static void on_window(void *ctx, const stream_aggregate *a)
{
    stream *s = ctx;
    int p = bus_partition_for_key(a->region_id, strlen(a->region_id));
    /* length-prefixed records in one buffer per partition, produced after the round */
    uint32_t len_at = (uint32_t)s->signals[p].len;
    uint32_t zero = 0;
    buf_append(&s->signals[p], &zero, sizeof zero);
    stream_encode_signal(a, &s->signals[p]);
    uint32_t len = (uint32_t)(s->signals[p].len - len_at - sizeof zero);
    memcpy(s->signals[p].data + len_at, &len, sizeof len);
    buf_append(&s->signal_keys[p], a->region_id, GEOHASH_MAX + 1);
    s->signal_count[p]++;
}

static void on_late(void *ctx, int source, const event_view *ev, int64_t watermark)
{
    stream *s = ctx;
    if (!s->late_file) return;
    fprintf(s->late_file,
            "{\"topic\":\"%s\",\"partition\":%d,\"type\":\"%s\",\"event_id\":\"%.*s\","
            "\"region_id\":\"%s\",\"ts\":%lld,\"ingest_ts\":%lld,\"watermark\":%lld}\n",
            BUS_TOPIC_NAMES[source_topic(source)], source_partition(source),
            EVENT_TYPE_NAMES[ev->type], (int)ev->event_id_len, ev->event_id, ev->region_id,
            (long long)ev->ts_ms, (long long)ev->ingest_ts_ms, (long long)watermark);
}

/* ---------------------------------------------------------------- checkpoints */

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The checkpoint's payload: next offsets, then the engine state. Taken under the lock (a copy
 * of the state: milliseconds), written outside it. */
static void checkpoint_snapshot(stream *s, buf *payload)
{
    buf_append(payload, s->next_offset, sizeof s->next_offset);
    stream_engine_save(s->engine, payload);
}

/* file: magic, payload length, FNV-1a of the payload; payload as checkpoint_snapshot */
static int checkpoint_file(stream *s, const buf *payload, surge_error *err)
{
    uint64_t header[3] = {CHECKPOINT_HEADER_MAGIC, payload->len,
                          hash_fnv1a64(payload->data, payload->len)};
    char path[1100], tmp[1120];
    snprintf(path, sizeof path, "%s/" CHECKPOINT_FILE, s->cfg.dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0 || write_all(fd, header, sizeof header) ||
        write_all(fd, payload->data, payload->len) || fdatasync(fd)) {
        rc = surge_fail(err, SURGE_EIO, "stream.dir", "cannot write %s: %s", tmp, strerror(errno));
    }
    if (fd >= 0) close(fd);
    if (!rc && rename(tmp, path))
        rc = surge_fail(err, SURGE_EIO, "stream.dir", "cannot rename %s: %s", tmp, strerror(errno));
    if (!rc) {
        int dfd = open(s->cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

static int checkpoint_write(stream *s, surge_error *err)
{
    buf payload;
    buf_init(&payload);
    checkpoint_snapshot(s, &payload);
    int rc = checkpoint_file(s, &payload, err);
    buf_free(&payload);
    return rc;
}

/* Loads the checkpoint into the (fresh) engine and next_offset. ENOTFOUND without one. */
static int checkpoint_read(stream *s, surge_error *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/" CHECKPOINT_FILE, s->cfg.dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return surge_fail(err, SURGE_ENOTFOUND, NULL, "no checkpoint");
        return surge_fail(err, SURGE_EIO, "stream.dir", "cannot read %s: %s", path,
                          strerror(errno));
    }
    uint64_t header[3];
    int rc = 0;
    char *data = NULL;
    if (fread(header, sizeof header, 1, f) != 1 || header[0] != CHECKPOINT_HEADER_MAGIC ||
        header[1] < sizeof s->next_offset || header[1] > ((uint64_t)1 << 34)) {
        rc = surge_fail(err, SURGE_EPARSE, "checkpoint", "%s is not a stream checkpoint", path);
        goto out;
    }
    data = malloc(header[1]);
    if (!data || fread(data, header[1], 1, f) != 1 || hash_fnv1a64(data, header[1]) != header[2]) {
        rc = surge_fail(err, SURGE_EPARSE, "checkpoint", "%s is truncated or damaged", path);
        goto out;
    }
    memcpy(s->next_offset, data, sizeof s->next_offset);
    rc = stream_engine_load(s->engine, data + sizeof s->next_offset,
                            header[1] - sizeof s->next_offset, err);
out:
    free(data);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- the thread */

/* Reads the regions' time zones from the db (no lock held: SQLite may take a while) and then
 * sets them under the lock. */
static void load_time_zones(stream *s, bool locked)
{
    store_region *regions = NULL;
    size_t n = 0;
    surge_error err;
    if (store_region_list(s->db, &regions, &n, &err)) {
        log_warn("stream", "cannot read regions for their time zones: %s", err.message);
        return;
    }
    const tz_zone **zones = calloc(n ? n : 1, sizeof *zones);
    for (size_t i = 0; zones && i < n; i++) zones[i] = tz_load(regions[i].timezone, &err);
    if (!locked) pthread_mutex_lock(&s->lock);
    for (size_t i = 0; zones && i < n; i++)
        if (zones[i]) stream_engine_set_timezone(s->engine, regions[i].region_id, zones[i]);
    if (!locked) pthread_mutex_unlock(&s->lock);
    free(zones);
    free(regions);
}

static void produce_signals(stream *s)
{
    bus_batch batches[BUS_PARTITIONS];
    bus_record *records[BUS_PARTITIONS] = {0};
    size_t nb = 0;
    for (int p = 0; p < BUS_PARTITIONS; p++) {
        if (!s->signal_count[p]) continue;
        bus_record *r = calloc(s->signal_count[p], sizeof *r);
        if (!r) break;
        records[p] = r;
        size_t at = 0;
        for (size_t i = 0; i < s->signal_count[p]; i++) {
            uint32_t len;
            memcpy(&len, s->signals[p].data + at, sizeof len);
            at += sizeof len;
            r[i].value = s->signals[p].data + at;
            r[i].value_len = len;
            r[i].key = s->signal_keys[p].data + i * (GEOHASH_MAX + 1);
            r[i].key_len = strlen(r[i].key);
            at += len;
        }
        batches[nb++] = (bus_batch){
            .topic = BUS_DEMAND_SIGNALS, .partition = p, .records = r, .count = s->signal_count[p]};
    }
    surge_error err;
    if (nb && bus_produce_many(s->bus, batches, nb, &err))
        log_error("stream", "cannot publish demand-signals: %s", err.message);
    uint64_t produced = 0;
    for (size_t i = 0; i < nb; i++)
        if (!batches[i].error) produced += batches[i].count;
    for (int p = 0; p < BUS_PARTITIONS; p++) {
        free(records[p]);
        buf_reset(&s->signals[p]);
        buf_reset(&s->signal_keys[p]);
        s->signal_count[p] = 0;
    }
    s->stats.signals_published += produced;
}

/* Reads the next decodable record of src into its head (skipping, and counting, records that
 * do not decode). The record's bytes stay valid until the next read on that consumer. */
static void head_fill(stream *s, int src)
{
    bus_record rec;
    surge_error err;
    int rc;
    while ((rc = bus_consumer_next(s->consumers[src], &rec, &err)) == 1) {
        if (event_view_decode(source_topic(src), rec.value, rec.value_len, &s->heads[src], &err) ==
            0) {
            s->head_valid[src] = true;
            s->head_offset[src] = rec.offset;
            return;
        }
        s->next_offset[src] = rec.offset + 1;
        if (s->stats.decode_errors++ < 10)
            log_error("stream", "%s/%d offset %lld skipped: %s", BUS_TOPIC_NAMES[source_topic(src)],
                      source_partition(src), (long long)rec.offset, err.message);
    }
    if (rc < 0)
        log_error("stream", "reading %s/%d: %s", BUS_TOPIC_NAMES[source_topic(src)],
                  source_partition(src), err.message);
}

/* One round: the sources' records merged by event time (the earliest head first), up to
 * ROUND_EVENTS, so partitions advance together in event time however unevenly they were
 * written (a backfill posted region by region would otherwise let one partition run hours
 * ahead of another). A source with nothing to read holds the watermark back until it is idle
 * for stream.idle_timeout_s. Returns the events processed. */
static size_t read_round(stream *s, int64_t now)
{
    for (int src = 0; src < STREAM_SOURCES; src++) {
        if (!s->head_valid[src]) head_fill(s, src);
        int64_t end;
        surge_error eerr;
        bool unread = s->head_valid[src];
        if (!unread &&
            bus_end_offset(s->bus, source_topic(src), source_partition(src), &end, &eerr) == 0)
            unread = end > s->next_offset[src];
        if (s->head_valid[src]) s->delivered[src] = true;
        /* like a Flink split: a source that never delivered holds the watermark until it is
         * idle (its first events may be on their way: an ingest request writes its partitions
         * one after another) */
        bool waiting = !s->delivered[src] && now - s->last_record_ms[src] < s->cfg.idle_timeout_ms;
        stream_engine_set_pending(s->engine, src, unread || waiting);
        s->holding[src] =
            !s->head_valid[src] && (waiting || stream_engine_source_active(s->engine, src));
        if (s->head_valid[src]) {
            s->last_record_ms[src] = now;
            stream_engine_set_idle(s->engine, src, false);
        } else if (now - s->last_record_ms[src] >= s->cfg.idle_timeout_ms) {
            stream_engine_set_idle(s->engine, src, true);
        }
    }
    size_t total = 0;
    while (total < ROUND_EVENTS) {
        int best = -1;
        for (int src = 0; src < STREAM_SOURCES; src++)
            if (s->head_valid[src] && (best < 0 || s->heads[src].ts_ms < s->heads[best].ts_ms))
                best = src;
        if (best < 0) break;
        if (stream_engine_far_ahead(s->engine, s->heads[best].ts_ms)) {
            /* a source without a head may be about to deliver older events (a backfill written
             * partition by partition): wait for it, or for it to go idle */
            bool lagging = false;
            for (int src = 0; src < STREAM_SOURCES && !lagging; src++)
                lagging = s->holding[src] && !s->head_valid[src];
            if (lagging) break;
        }
        stream_engine_process(s->engine, best, &s->heads[best]);
        s->next_offset[best] = s->head_offset[best] + 1;
        s->head_valid[best] = false;
        total++;
        head_fill(s, best);
        if (!s->head_valid[best]) break; /* refill the others' status before going on */
    }
    return total;
}

/* Writes the features of the dirty regions (all regions when everything is true). Called
 * without the lock: it takes it for each region's computation only, so readers (a forecast on
 * a price-cache miss) never wait for a whole refresh. */
static void publish(stream *s, bool everything, int64_t now)
{
    pthread_mutex_lock(&s->lock);
    size_t n = stream_engine_take_dirty(s->engine, s->ids, REGIONS_MAX);
    if (everything) n = stream_engine_regions(s->engine, s->ids, REGIONS_MAX);
    if (n > REGIONS_MAX) n = REGIONS_MAX;
    int64_t t = stream_engine_stream_time(s->engine);
    pthread_mutex_unlock(&s->lock);
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        /* an operator's override (admin API) wins until it expires */
        feature_set meta;
        if (feature_store_get_values(s->fs, s->ids[i], now, NULL, 0, NULL, &meta) == 0 &&
            strcmp(meta.source, "stream") != 0)
            continue;
        pthread_mutex_lock(&s->lock);
        int rc = stream_engine_features(s->engine, s->ids[i], t, s->set);
        pthread_mutex_unlock(&s->lock);
        if (rc) continue;
        s->set->written_ms = now;
        surge_error err;
        if (feature_store_put(s->fs, s->set, s->cfg.features_ttl_ms, &err))
            log_error("stream", "cannot write features of %s: %s", s->ids[i], err.message);
        else
            written++;
    }
    pthread_mutex_lock(&s->lock);
    s->stats.features_published += written;
    pthread_mutex_unlock(&s->lock);
    if (written && s->published) s->published(s->published_ctx);
}

static int64_t lag_records(stream *s)
{
    int64_t lag = 0;
    for (int src = 0; src < STREAM_SOURCES; src++) {
        int64_t end;
        surge_error err;
        if (bus_end_offset(s->bus, source_topic(src), source_partition(src), &end, &err) == 0 &&
            end > s->next_offset[src])
            lag += end - s->next_offset[src];
    }
    return lag;
}

static void *stream_main(void *arg)
{
    stream *s = arg;
    int64_t last_publish = 0, last_refresh = 0, last_checkpoint = time_now_ms(), last_zones = 0;
    int64_t rate_at = time_now_ms();
    uint64_t rate_events = 0;
    buf payload;
    buf_init(&payload);
    while (!atomic_load(&s->stop)) {
        int64_t now = time_now_ms();
        if (now - last_zones >= 60000) {
            load_time_zones(s, false);
            last_zones = now;
        }
        pthread_mutex_lock(&s->lock);
        size_t n = read_round(s, now);
        pthread_mutex_unlock(&s->lock);
        produce_signals(s);
        bool refresh = now - last_refresh >= s->cfg.refresh_interval_ms;
        bool published = false;
        if (refresh || now - last_publish >= s->cfg.publish_interval_ms || n == 0) {
            publish(s, refresh, now);
            last_publish = now;
            if (refresh) last_refresh = now;
            published = true;
        }
        bool checkpoint = s->cfg.checkpoint_interval_ms > 0 &&
                          now - last_checkpoint >= s->cfg.checkpoint_interval_ms;
        pthread_mutex_lock(&s->lock);
        if (published) s->rounds_published++;
        stream_engine_stats_get(s->engine, &s->stats.engine);
        s->stats.watermark_ms = stream_engine_watermark(s->engine);
        s->stats.stream_time_ms = stream_engine_stream_time(s->engine);
        if (now - rate_at >= 2000) {
            s->stats.events_per_s =
                (double)(s->stats.engine.events - rate_events) * 1000.0 / (double)(now - rate_at);
            rate_events = s->stats.engine.events;
            rate_at = now;
        }
        if (checkpoint) {
            buf_reset(&payload);
            checkpoint_snapshot(s, &payload); /* state and offsets together, under the lock */
        }
        pthread_cond_broadcast(&s->progress);
        pthread_mutex_unlock(&s->lock);
        if (checkpoint) { /* the file write and its fsyncs happen without the lock */
            surge_error err;
            int rc = checkpoint_file(s, &payload, &err);
            if (rc) log_error("stream", "checkpoint failed: %s", err.message);
            else {
                int64_t offsets[STREAM_SOURCES];
                memcpy(offsets, payload.data, sizeof offsets);
                for (int src = 0; src < STREAM_SOURCES; src++)
                    bus_commit(s->bus, GROUP, source_topic(src), source_partition(src),
                               offsets[src], &err);
            }
            pthread_mutex_lock(&s->lock);
            if (rc) s->stats.checkpoint_failures++;
            else {
                s->stats.checkpoints++;
                s->stats.last_checkpoint_ms = now;
            }
            pthread_mutex_unlock(&s->lock);
            last_checkpoint = now;
            if (s->late_file) fflush(s->late_file);
        }
        if (n == 0) {
            if (s->late_file) fflush(s->late_file);
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    buf_free(&payload);
    return NULL;
}

stream *stream_start(const stream_config *cfg, bus *b, feature_store *fs, store_db *db,
                     stream_published_fn published, void *published_ctx, surge_error *err)
{
    stream *s = calloc(1, sizeof *s);
    if (!s) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->bus = b;
    s->fs = fs;
    s->db = db;
    s->published = published;
    s->published_ctx = published_ctx;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->progress, NULL);
    for (int p = 0; p < BUS_PARTITIONS; p++) {
        buf_init(&s->signals[p]);
        buf_init(&s->signal_keys[p]);
    }
    s->ids = malloc(REGIONS_MAX * sizeof *s->ids);
    s->set = malloc(sizeof *s->set);
    stream_engine_callbacks cb = {.window_closed = on_window, .late_event = on_late, .ctx = s};
    if (!s->ids || !s->set || !(s->engine = stream_engine_new(&cfg->engine, &cb))) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        goto fail;
    }
    if (mkdir(cfg->dir, 0755) && errno != EEXIST) {
        surge_fail(err, SURGE_EIO, "stream.dir", "cannot create %s: %s", cfg->dir, strerror(errno));
        goto fail;
    }
    surge_error cerr;
    int rc = checkpoint_read(s, &cerr);
    if (rc == 0) {
        struct stat st;
        char path[1100];
        snprintf(path, sizeof path, "%s/" CHECKPOINT_FILE, cfg->dir);
        s->stats.restored_from_ms =
            stat(path, &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000
                                 : 1;
        stream_engine_stats es;
        stream_engine_stats_get(s->engine, &es);
        log_info("stream",
                 "restored the checkpoint in %s: %llu events, %zu regions, stream time "
                 "%lld",
                 cfg->dir, (unsigned long long)es.events, es.regions,
                 (long long)stream_engine_stream_time(s->engine));
    } else {
        if (rc != SURGE_ENOTFOUND)
            log_error("stream", "%s: rebuilding the state from the start of the log", cerr.message);
        stream_engine_free(s->engine);
        s->engine = stream_engine_new(&cfg->engine, &cb);
        for (int src = 0; src < STREAM_SOURCES; src++)
            s->next_offset[src] = -1;
    }
    int64_t now = time_now_ms();
    for (int src = 0; src < STREAM_SOURCES; src++) {
        int64_t start;
        if (bus_start_offset(b, source_topic(src), source_partition(src), &start, err)) goto fail;
        if (s->next_offset[src] < start) {
            if (s->next_offset[src] >= 0)
                log_warn("stream",
                         "%s/%d: offsets %lld..%lld were deleted by retention before "
                         "the stream read them",
                         BUS_TOPIC_NAMES[source_topic(src)], source_partition(src),
                         (long long)s->next_offset[src], (long long)start - 1);
            s->next_offset[src] = start;
        }
        s->consumers[src] = bus_consumer_open(b, source_topic(src), source_partition(src),
                                              s->next_offset[src], err);
        if (!s->consumers[src]) goto fail;
        s->last_record_ms[src] = now;
    }
    char late[1100];
    snprintf(late, sizeof late, "%s/late-events.ndjson", cfg->dir);
    s->late_file = fopen(late, "a");
    if (!s->late_file) log_warn("stream", "cannot open %s: %s", late, strerror(errno));
    load_time_zones(s, true);
    if (pthread_create(&s->thread, NULL, stream_main, s)) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "cannot start the stream thread");
        goto fail;
    }
    pthread_setname_np(s->thread, "surge-stream");
    s->running = true;
    return s;
fail:
    stream_stop(s);
    return NULL;
}

void stream_stop(stream *s)
{
    if (!s) return;
    if (s->running) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
        produce_signals(s);
        surge_error err;
        if (s->cfg.checkpoint_interval_ms > 0 && checkpoint_write(s, &err))
            log_error("stream", "final checkpoint failed: %s", err.message);
    }
    for (int src = 0; src < STREAM_SOURCES; src++)
        if (s->consumers[src]) bus_consumer_close(s->consumers[src]);
    if (s->late_file) fclose(s->late_file);
    for (int p = 0; p < BUS_PARTITIONS; p++) {
        buf_free(&s->signals[p]);
        buf_free(&s->signal_keys[p]);
    }
    stream_engine_free(s->engine);
    pthread_cond_destroy(&s->progress);
    pthread_mutex_destroy(&s->lock);
    free(s->ids);
    free(s->set);
    free(s);
}

void stream_stats_get(stream *s, stream_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
    out->lag_records = lag_records(s);
}

size_t stream_timeline(stream *s, const char *region_id, int64_t since_ms, stream_aggregate *out,
                       size_t max)
{
    pthread_mutex_lock(&s->lock);
    size_t n = stream_engine_timeline(s->engine, region_id, since_ms, out, max);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int stream_features(stream *s, const char *region_id, feature_set *out)
{
    pthread_mutex_lock(&s->lock);
    int rc =
        stream_engine_features(s->engine, region_id, stream_engine_stream_time(s->engine), out);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int stream_demand_history(stream *s, const char *region_id, int64_t first_ms, int count, float *out)
{
    pthread_mutex_lock(&s->lock);
    int rc = stream_engine_demand_history(s->engine, region_id, first_ms, count, out);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int stream_sync(stream *s, int64_t timeout_ms)
{
    int64_t ends[STREAM_SOURCES];
    for (int src = 0; src < STREAM_SOURCES; src++) {
        surge_error err;
        if (bus_end_offset(s->bus, source_topic(src), source_partition(src), &ends[src], &err))
            ends[src] = 0;
    }
    int64_t deadline = time_now_ms() + timeout_ms;
    pthread_mutex_lock(&s->lock);
    uint64_t published_before = 0;
    bool caught_up = false;
    while (time_now_ms() < deadline) {
        if (!caught_up) {
            caught_up = true;
            for (int src = 0; src < STREAM_SOURCES; src++)
                if (s->next_offset[src] < ends[src]) caught_up = false;
            if (caught_up) published_before = s->rounds_published;
        } else if (s->rounds_published > published_before) {
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->progress, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return SURGE_EUNAVAILABLE;
}
