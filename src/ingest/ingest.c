/* ingest.c: validation, deduplication, rate limits and produce for POST /api/v1/events.
 *
 * Deduplication keeps a 64-bit fingerprint of every event_id with the time it was accepted, in
 * sharded open-addressing tables. An id is reserved (inserted) before its event is produced, so
 * two concurrent requests carrying the same id cannot both be accepted; a failed produce
 * releases the reservation. Expired entries are skipped on lookup and swept when a table fills.
 * On start the tables are rebuilt from the `event_id` headers of the last window of records, so
 * duplicates are caught across restarts. */
#include "ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const char *const INGEST_STATUS_NAMES[4] = {"accepted", "duplicate", "rejected", "rate_limited"};

/* ---------------------------------------------------------------- dedup */

#define DEDUP_SHARDS 16
#define DEDUP_MIN_CAPACITY 1024

typedef struct dedup_entry {
    uint64_t fp; /* 0: empty */
    int64_t at_ms;
} dedup_entry;

typedef struct dedup_shard {
    pthread_mutex_t lock;
    dedup_entry *slots;
    size_t capacity; /* power of two */
    size_t used;     /* occupied slots, live or expired */
} dedup_shard;

typedef struct dedup {
    dedup_shard shards[DEDUP_SHARDS];
    int64_t window_ms;
    size_t max_per_shard;
    _Atomic int64_t effective_window_ms;
} dedup;

static uint64_t fingerprint(const char *id)
{
    uint64_t h = hash_fnv1a64(id, strlen(id));
    /* mix (FNV's low bits are weak) and keep 0 for "empty" */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static int dedup_init(dedup *d, int64_t window_ms, size_t max_entries)
{
    memset(d, 0, sizeof *d);
    d->window_ms = window_ms;
    d->max_per_shard = max_entries / DEDUP_SHARDS;
    if (d->max_per_shard < DEDUP_MIN_CAPACITY / 2) d->max_per_shard = DEDUP_MIN_CAPACITY / 2;
    atomic_store(&d->effective_window_ms, window_ms);
    for (int i = 0; i < DEDUP_SHARDS; i++) {
        dedup_shard *s = &d->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->capacity = DEDUP_MIN_CAPACITY;
        s->slots = calloc(s->capacity, sizeof *s->slots);
        if (!s->slots) return -1;
    }
    return 0;
}

static void dedup_destroy(dedup *d)
{
    for (int i = 0; i < DEDUP_SHARDS; i++) {
        free(d->shards[i].slots);
        pthread_mutex_destroy(&d->shards[i].lock);
    }
}

static int cmp_time(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Rebuilds a shard's table with only the entries still inside the window, into a table sized
 * for them (doubling while allowed). When even that would exceed the memory bound, the oldest
 * entries are dropped until half the bound is left, shortening the effective window. */
static void shard_rebuild(dedup *d, dedup_shard *s, int64_t now_ms)
{
    int64_t horizon = now_ms - d->window_ms;
    size_t live = 0;
    for (size_t i = 0; i < s->capacity; i++)
        if (s->slots[i].fp && s->slots[i].at_ms >= horizon) live++;
    if (live > d->max_per_shard) {
        /* keep the newest max/2: find the age cut by sampling the live entries' times */
        int64_t *times = malloc(live * sizeof *times);
        size_t n = 0;
        if (times) {
            for (size_t i = 0; i < s->capacity; i++)
                if (s->slots[i].fp && s->slots[i].at_ms >= horizon) times[n++] = s->slots[i].at_ms;
            qsort(times, n, sizeof *times, cmp_time); /* rare: only when memory runs out */
            horizon = times[n - d->max_per_shard / 2];
            free(times);
        }
        atomic_store(&d->effective_window_ms, now_ms - horizon);
        live = 0;
        for (size_t i = 0; i < s->capacity; i++)
            if (s->slots[i].fp && s->slots[i].at_ms >= horizon) live++;
    }
    size_t capacity = DEDUP_MIN_CAPACITY;
    while (capacity < live * 2 + 2) capacity *= 2;
    dedup_entry *fresh = calloc(capacity, sizeof *fresh);
    if (!fresh) return; /* keep the old table: correct, just fuller */
    for (size_t i = 0; i < s->capacity; i++) {
        dedup_entry e = s->slots[i];
        if (!e.fp || e.at_ms < horizon) continue;
        size_t j = e.fp & (capacity - 1);
        while (fresh[j].fp) j = (j + 1) & (capacity - 1);
        fresh[j] = e;
    }
    free(s->slots);
    s->slots = fresh;
    s->capacity = capacity;
    s->used = live;
}

/* Reserves fp at at_ms. Returns true when it was new (or only seen outside the window), false
 * for a duplicate. */
static bool dedup_reserve(dedup *d, uint64_t fp, int64_t at_ms, int64_t now_ms)
{
    dedup_shard *s = &d->shards[fp >> 60];
    int64_t horizon = now_ms - d->window_ms;
    pthread_mutex_lock(&s->lock);
    if ((s->used + 1) * 10 > s->capacity * 7) shard_rebuild(d, s, now_ms);
    size_t mask = s->capacity - 1, j = fp & mask, reuse = SIZE_MAX;
    bool fresh = true;
    for (;;) {
        dedup_entry *e = &s->slots[j];
        if (!e->fp) break;
        if (e->fp == fp) {
            fresh = e->at_ms < horizon;
            if (fresh || at_ms > e->at_ms) e->at_ms = at_ms;
            pthread_mutex_unlock(&s->lock);
            return fresh;
        }
        if (reuse == SIZE_MAX && e->at_ms < horizon) reuse = j;
        j = (j + 1) & mask;
    }
    if (reuse != SIZE_MAX) {
        s->slots[reuse].fp = fp;
        s->slots[reuse].at_ms = at_ms;
    } else {
        s->slots[j].fp = fp;
        s->slots[j].at_ms = at_ms;
        s->used++;
    }
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Releases a reservation whose event was not written: marks it expired so the id is new again
 * (the slot stays occupied, keeping probe chains intact). */
static void dedup_release(dedup *d, uint64_t fp)
{
    dedup_shard *s = &d->shards[fp >> 60];
    pthread_mutex_lock(&s->lock);
    size_t mask = s->capacity - 1, j = fp & mask;
    while (s->slots[j].fp) {
        if (s->slots[j].fp == fp) {
            s->slots[j].at_ms = INT64_MIN;
            break;
        }
        j = (j + 1) & mask;
    }
    pthread_mutex_unlock(&s->lock);
}

static uint64_t dedup_count(dedup *d)
{
    uint64_t n = 0;
    for (int i = 0; i < DEDUP_SHARDS; i++) {
        pthread_mutex_lock(&d->shards[i].lock);
        n += d->shards[i].used;
        pthread_mutex_unlock(&d->shards[i].lock);
    }
    return n;
}

/* ---------------------------------------------------------------- the ingester */

struct ingest {
    bus *bus;
    event_codec *codec;
    ingest_config cfg;
    dedup dedup;
    ratelimiter *rl_user, *rl_region;
    _Atomic uint64_t accepted, duplicates, rejected, rate_limited;
};

static const bus_topic INPUT_TOPICS[] = {BUS_USER_EVENTS, BUS_SUPPLY_EVENTS, BUS_EXTERNAL_EVENTS,
                                         BUS_SYSTEM_EVENTS};

/* Re-reads the event ids of the last window of records into the dedup tables. */
static int dedup_rebuild(ingest *in, int64_t now_ms, surge_error *err)
{
    int64_t since = now_ms - in->cfg.dedup_window_ms, total = 0;
    for (size_t t = 0; t < sizeof INPUT_TOPICS / sizeof INPUT_TOPICS[0]; t++) {
        for (int p = 0; p < BUS_PARTITIONS; p++) {
            int64_t from;
            bus_consumer *c = NULL;
            if (bus_offset_for_time(in->bus, INPUT_TOPICS[t], p, since, &from, err) ||
                !(c = bus_consumer_open(in->bus, INPUT_TOPICS[t], p, from, err))) {
                /* a damaged partition must not stop ingestion: `surge log verify` reports it,
                 * and ids in it are not remembered (a resend may be stored again) */
                log_error("ingest", "dedup rebuild skips %s/%d: %s",
                          BUS_TOPIC_NAMES[INPUT_TOPICS[t]], p, err ? err->message : "error");
                continue;
            }
            bus_record r;
            int rc;
            while ((rc = bus_consumer_next(c, &r, err)) == 1) {
                for (int h = 0; h < r.header_count; h++) {
                    if (strcmp(r.headers[h].name, "event_id") || r.headers[h].value_len > EVENT_ID_MAX)
                        continue;
                    char id[EVENT_ID_MAX + 1];
                    memcpy(id, r.headers[h].value, r.headers[h].value_len);
                    id[r.headers[h].value_len] = 0;
                    dedup_reserve(&in->dedup, fingerprint(id), r.timestamp_ms, now_ms);
                    total++;
                }
            }
            bus_consumer_close(c);
            if (rc < 0) {
                /* a corrupt batch: report it, but a damaged log must not stop ingestion */
                log_error("ingest", "dedup rebuild: %s/%d: %s", BUS_TOPIC_NAMES[INPUT_TOPICS[t]],
                          p, err ? err->message : "read error");
            }
        }
    }
    log_info("ingest", "dedup window rebuilt from the log: %lld event ids of the last %lld s",
             (long long)total, (long long)(in->cfg.dedup_window_ms / 1000));
    return 0;
}

ingest *ingest_new(bus *b, event_codec *codec, const ingest_config *cfg, surge_error *err)
{
    ingest *in = calloc(1, sizeof *in);
    if (!in) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    in->bus = b;
    in->codec = codec;
    in->cfg = *cfg;
    if (dedup_init(&in->dedup, cfg->dedup_window_ms, cfg->dedup_max_entries)) {
        surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory for the dedup tables");
        goto fail;
    }
    if (cfg->rate_user_per_min > 0)
        in->rl_user = ratelimiter_new(cfg->rate_user_per_min / 60.0, (double)cfg->rate_user_per_min);
    if (cfg->rate_region_per_min > 0)
        in->rl_region =
            ratelimiter_new(cfg->rate_region_per_min / 60.0, (double)cfg->rate_region_per_min);
    if (dedup_rebuild(in, time_now_ms(), err)) goto fail;
    return in;
fail:
    ingest_free(in);
    return NULL;
}

void ingest_free(ingest *in)
{
    if (!in) return;
    dedup_destroy(&in->dedup);
    ratelimiter_free(in->rl_user);
    ratelimiter_free(in->rl_region);
    free(in);
}

/* One accepted event waiting to be produced. */
typedef struct pending {
    size_t index;       /* into results */
    int group;          /* topic * BUS_PARTITIONS + partition */
    size_t value_off, value_len;
    uint64_t fp;
    event_meta meta;
} pending;

static int cmp_pending(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->group != y->group) return x->group - y->group;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int rate_check(ratelimiter *rl, const char *key)
{
    if (!rl || !*key) return 0;
    return ratelimiter_take(rl, key, strlen(key), time_mono_ns());
}

/* Where the events of a batch come from: parsed JSON (admin events) or the request body's
 * bytes with the spans event_split_batch found (the jansson-free fast path). */
typedef struct batch_source {
    json_t *const *events;
    const surge_error *parse_errors;
    const char *body;
    const event_span *spans;
} batch_source;

/* The event_id of an event's text, for echoing it in a rejection: only a plain string value
 * (no escapes) is copied; "" otherwise. */
static void text_event_id(const char *text, size_t len, char *out, size_t size)
{
    out[0] = 0;
    const char *end = text + len, *p = text;
    static const char key[] = "\"event_id\"";
    while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1))) {
        p += sizeof key - 1;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
        if (p >= end || *p != ':') continue;
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
        if (p >= end || *p != '"') return;
        const char *q = ++p;
        while (q < end && *q != '"' && *q != '\\') q++;
        if (q >= end || *q != '"' || (size_t)(q - p) >= size) return;
        memcpy(out, p, (size_t)(q - p));
        out[q - p] = 0;
        return;
    }
}

static int ingest_run(ingest *in, const batch_source *src, size_t n, const char *source,
                      int64_t now_ms, ingest_result *results, surge_error *err);

int ingest_batch(ingest *in, json_t *const *events, const surge_error *parse_errors, size_t n,
                 const char *source, int64_t now_ms, ingest_result *results, surge_error *err)
{
    batch_source src = {.events = events, .parse_errors = parse_errors};
    return ingest_run(in, &src, n, source, now_ms, results, err);
}

int ingest_batch_text(ingest *in, const char *body, const event_span *spans, size_t n,
                      const char *source, int64_t now_ms, ingest_result *results,
                      surge_error *err)
{
    batch_source src = {.body = body, .spans = spans};
    return ingest_run(in, &src, n, source, now_ms, results, err);
}

static int ingest_run(ingest *in, const batch_source *src, size_t n, const char *source,
                      int64_t now_ms, ingest_result *results, surge_error *err)
{
    pending *todo = malloc((n ? n : 1) * sizeof *todo);
    bus_record *records = malloc((n ? n : 1) * sizeof *records);
    buf values;
    buf_init(&values);
    if (!todo || !records) {
        free(todo);
        free(records);
        for (size_t i = 0; i < n; i++) {
            memset(&results[i], 0, sizeof results[i]);
            results[i].status = INGEST_REJECTED;
            results[i].offset = -1;
            surge_fail(&results[i].error, SURGE_EUNAVAILABLE, NULL,
                       "out of memory; the event was not accepted, send it again");
        }
        return surge_fail(err, SURGE_EINTERNAL, NULL, "out of memory");
    }
    event_enrichment enrich = {.ingest_ts_ms = now_ms, .source = source,
                               .region_precision = in->cfg.region_precision};
    size_t ntodo = 0;
    for (size_t i = 0; i < n; i++) {
        ingest_result *res = &results[i];
        memset(res, 0, sizeof *res);
        res->offset = -1;
        res->type = -1;
        event_meta meta;
        size_t before = values.len;
        int rc;
        if (src->spans) {
            const event_span *sp = &src->spans[i];
            if (!sp->ok) {
                res->status = INGEST_REJECTED;
                res->error = sp->error;
                continue;
            }
            rc = event_encode_text(in->codec, src->body + sp->offset, sp->len, &enrich, &values,
                                   &meta, &res->error);
            if (rc) text_event_id(src->body + sp->offset, sp->len, res->event_id,
                                  sizeof res->event_id);
        } else {
            if (!src->events[i]) {
                res->status = INGEST_REJECTED;
                res->error = src->parse_errors[i];
                continue;
            }
            json_t *id = json_object_get(src->events[i], "event_id");
            if (json_is_string(id))
                str_copy(res->event_id, sizeof res->event_id, json_string_value(id));
            rc = event_encode(in->codec, src->events[i], &enrich, &values, &meta, &res->error);
        }
        if (!rc) str_copy(res->event_id, sizeof res->event_id, meta.event_id);
        if (rc) {
            res->status = INGEST_REJECTED;
            values.len = before;
            continue;
        }
        res->type = meta.type;
        res->topic = event_topic(meta.type);
        const char *key = meta.region_id[0] ? meta.region_id : "global";
        res->partition = bus_partition_for_key(key, strlen(key));
        uint64_t fp = fingerprint(meta.event_id);
        if (!dedup_reserve(&in->dedup, fp, now_ms, now_ms)) {
            res->status = INGEST_DUPLICATE;
            values.len = before;
            continue;
        }
        const char *limited = "user_id";
        int wait = rate_check(in->rl_user, meta.user_id);
        if (!wait) {
            limited = "region_id";
            wait = rate_check(in->rl_region, meta.region_id);
        }
        if (wait) {
            dedup_release(&in->dedup, fp);
            res->status = INGEST_RATE_LIMITED;
            res->retry_after_s = wait;
            surge_fail(&res->error, SURGE_ELIMIT, limited,
                       "rate limit of this %s exceeded (ingest.%s); retry after %d s",
                       strcmp(limited, "user_id") ? "region" : "user",
                       strcmp(limited, "user_id") ? "region_per_min" : "user_per_min", wait);
            values.len = before;
            continue;
        }
        pending *p = &todo[ntodo++];
        p->index = i;
        p->group = (int)res->topic * BUS_PARTITIONS + res->partition;
        p->value_off = before;
        p->value_len = values.len - before;
        p->fp = fp;
        p->meta = meta;
    }
    qsort(todo, ntodo, sizeof *todo, cmp_pending);

    /* one batch per (topic, partition), all made durable together */
    bus_batch batches[BUS_NTOPICS * BUS_PARTITIONS];
    size_t group_start[BUS_NTOPICS * BUS_PARTITIONS + 1], ngroups = 0;
    for (size_t g = 0; g < ntodo;) {
        size_t end = g;
        while (end < ntodo && todo[end].group == todo[g].group) end++;
        for (size_t k = g; k < end; k++) {
            pending *p = &todo[k];
            bus_record *r = &records[k];
            memset(r, 0, sizeof *r);
            r->key = p->meta.region_id[0] ? p->meta.region_id : "global";
            r->key_len = strlen(r->key);
            r->value = values.data + p->value_off;
            r->value_len = p->value_len;
            r->timestamp_ms = now_ms;
            r->header_count = 2;
            r->headers[0] = (bus_header){"event_id", p->meta.event_id, strlen(p->meta.event_id)};
            r->headers[1] = (bus_header){"type", EVENT_TYPE_NAMES[p->meta.type],
                                         strlen(EVENT_TYPE_NAMES[p->meta.type])};
        }
        batches[ngroups] = (bus_batch){.topic = (bus_topic)(todo[g].group / BUS_PARTITIONS),
                                       .partition = todo[g].group % BUS_PARTITIONS,
                                       .records = &records[g],
                                       .count = end - g};
        group_start[ngroups++] = g;
        g = end;
    }
    group_start[ngroups] = ntodo;
    surge_error perr;
    int rc = ngroups ? bus_produce_many(in->bus, batches, ngroups, &perr) : 0;
    if (rc) {
        if (err) *err = perr;
        log_error("ingest", "producing events failed: %s", perr.message);
    }
    for (size_t gi = 0; gi < ngroups; gi++) {
        for (size_t k = group_start[gi]; k < group_start[gi + 1]; k++) {
            ingest_result *res = &results[todo[k].index];
            if (batches[gi].error) {
                /* not written: not acknowledged, and the id may be sent again */
                dedup_release(&in->dedup, todo[k].fp);
                res->status = INGEST_REJECTED;
                surge_fail(&res->error, SURGE_EUNAVAILABLE, NULL,
                           "the event could not be made durable (%s); it was not accepted, "
                           "send it again",
                           perr.message);
            } else {
                res->status = INGEST_ACCEPTED;
                res->offset = batches[gi].base_offset + (int64_t)(k - group_start[gi]);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        switch (results[i].status) {
        case INGEST_ACCEPTED: atomic_fetch_add(&in->accepted, 1); break;
        case INGEST_DUPLICATE: atomic_fetch_add(&in->duplicates, 1); break;
        case INGEST_REJECTED: atomic_fetch_add(&in->rejected, 1); break;
        case INGEST_RATE_LIMITED: atomic_fetch_add(&in->rate_limited, 1); break;
        }
    }
    free(todo);
    free(records);
    buf_free(&values);
    return rc;
}

void ingest_get_stats(ingest *in, ingest_stats *out)
{
    memset(out, 0, sizeof *out);
    out->accepted = atomic_load(&in->accepted);
    out->duplicates = atomic_load(&in->duplicates);
    out->rejected = atomic_load(&in->rejected);
    out->rate_limited = atomic_load(&in->rate_limited);
    out->dedup_entries = dedup_count(&in->dedup);
    out->dedup_window_effective_ms = atomic_load(&in->dedup.effective_window_ms);
}
