/* features_mem.c: the in-process online feature store ("mem:"), features:{region_id} with a
 * TTL. Reads are the pricing hot path, taken by several threads at once: regions are spread
 * over 64 shards by hash, each behind its own rwlock, and a read allocates nothing. */
#include "store_backend.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_COUNT 64 /* power of two: the shard is the hash's low bits */
#define SHARD_INITIAL_BUCKETS 16
#define CACHE_LINE 64

/* One region's features. Immutable once published in a shard: put builds a new entry and
 * swaps it in, so the only shared mutable state is the shard's chains. */
typedef struct mem_entry {
    struct mem_entry *next; /* bucket chain */
    uint64_t hash;          /* hash_fnv1a64(region_id) */
    char region_id[STORE_REGION_ID_MAX];
    int64_t event_ts_ms, written_ms, expires_ms;
    char source[32];
    int count;
    feature_value values[]; /* count of them, sorted by name (strcmp) for binary search */
} mem_entry;

typedef struct mem_shard {
    /* guards buckets, bucket_count, entry_count and the chains; readers share it. Aligned so
     * that two shards' locks never share a cache line (every rdlock writes to its lock). */
    _Alignas(CACHE_LINE) pthread_rwlock_t lock;
    mem_entry **buckets;
    size_t bucket_count; /* power of two */
    size_t entry_count;
} mem_shard;

typedef struct mem_store {
    mem_shard shards[SHARD_COUNT];
} mem_store;

static uint64_t region_hash(const char *region_id)
{
    return hash_fnv1a64(region_id, strlen(region_id));
}

static mem_shard *shard_of(mem_store *st, uint64_t hash)
{
    return &st->shards[hash & (SHARD_COUNT - 1)];
}

/* The chain a hash belongs to; the bits above the shard bits pick the bucket. */
static mem_entry **bucket_of(mem_shard *sh, uint64_t hash)
{
    return &sh->buckets[(hash / SHARD_COUNT) & (sh->bucket_count - 1)];
}

/* Caller holds the shard's lock (read or write). */
static mem_entry *shard_find(mem_shard *sh, uint64_t hash, const char *region_id)
{
    for (mem_entry *e = *bucket_of(sh, hash); e; e = e->next)
        if (e->hash == hash && strcmp(e->region_id, region_id) == 0) return e;
    return NULL;
}

/* Doubles the bucket array once chains average more than two entries. Caller holds the write
 * lock. A failed allocation only leaves chains longer, so it is not an error. */
static void shard_maybe_grow(mem_shard *sh)
{
    if (sh->entry_count <= sh->bucket_count * 2) return;
    size_t new_count = sh->bucket_count * 2;
    mem_entry **nb = calloc(new_count, sizeof *nb);
    if (!nb) return;
    mem_entry **old = sh->buckets;
    size_t old_count = sh->bucket_count;
    sh->buckets = nb;
    sh->bucket_count = new_count;
    for (size_t i = 0; i < old_count; i++) {
        mem_entry *e = old[i];
        while (e) {
            mem_entry *next = e->next;
            mem_entry **b = bucket_of(sh, e->hash);
            e->next = *b;
            *b = e;
            e = next;
        }
    }
    free(old);
}

static int compare_values_by_name(const void *a, const void *b)
{
    return strcmp(((const feature_value *)a)->name, ((const feature_value *)b)->name);
}

/* Binary search in an entry's sorted values; NULL when absent. */
static const feature_value *entry_lookup(const mem_entry *e, const char *name)
{
    size_t lo = 0, hi = (size_t)e->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, e->values[mid].name);
        if (c == 0) return &e->values[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void entry_copy_meta(const mem_entry *e, feature_set *out)
{
    memcpy(out->region_id, e->region_id, sizeof out->region_id);
    out->event_ts_ms = e->event_ts_ms;
    out->written_ms = e->written_ms;
    out->expires_ms = e->expires_ms;
    memcpy(out->source, e->source, sizeof out->source);
    out->count = e->count;
}

static void *mem_open(const char *url, surge_error *err)
{
    /* "mem:" and "mem://" name the one in-process store; anything more is a typo */
    if (strcmp(url, "mem:") != 0 && strcmp(url, "mem://") != 0) {
        surge_fail(err, SURGE_EINVAL, "store",
                   "feature store URL \"%s\": the in-process store is written \"mem:\" and"
                   " takes no path or options",
                   url);
        return NULL;
    }
    /* aligned_alloc wants a size that is a multiple of the alignment; _Alignas makes it so */
    mem_store *st = aligned_alloc(CACHE_LINE, sizeof *st);
    if (!st) {
        surge_fail(err, SURGE_EINTERNAL, "store", "feature store %s: out of memory", url);
        return NULL;
    }
    memset(st, 0, sizeof *st);
    for (int i = 0; i < SHARD_COUNT; i++) {
        mem_shard *sh = &st->shards[i];
        sh->buckets = calloc(SHARD_INITIAL_BUCKETS, sizeof *sh->buckets);
        if (!sh->buckets || pthread_rwlock_init(&sh->lock, NULL) != 0) {
            free(sh->buckets);
            for (int j = 0; j < i; j++) {
                pthread_rwlock_destroy(&st->shards[j].lock);
                free(st->shards[j].buckets);
            }
            free(st);
            surge_fail(err, SURGE_EINTERNAL, "store", "feature store %s: out of memory", url);
            return NULL;
        }
        sh->bucket_count = SHARD_INITIAL_BUCKETS;
    }
    return st;
}

static void mem_close(void *impl)
{
    mem_store *st = impl;
    if (!st) return;
    for (int i = 0; i < SHARD_COUNT; i++) {
        mem_shard *sh = &st->shards[i];
        for (size_t b = 0; b < sh->bucket_count; b++) {
            mem_entry *e = sh->buckets[b];
            while (e) {
                mem_entry *next = e->next;
                free(e);
                e = next;
            }
        }
        free(sh->buckets);
        pthread_rwlock_destroy(&sh->lock);
    }
    free(st);
}

/* Builds the new entry outside the lock (copy, sort, check for duplicate names), then swaps it
 * in under the write lock. Entries in the same chain that expired by set->written_ms are
 * unlinked on the way: expiry is lazy, so a region nobody writes again keeps one entry until
 * a neighbour in its chain is written. */
static int mem_put(void *impl, const feature_set *set, int64_t ttl_ms, surge_error *err)
{
    mem_store *st = impl;
    mem_entry *e = malloc(sizeof *e + (size_t)set->count * sizeof e->values[0]);
    if (!e)
        return surge_fail(err, SURGE_EINTERNAL, "features", "region %s: out of memory",
                          set->region_id);
    memcpy(e->region_id, set->region_id, sizeof e->region_id);
    e->hash = region_hash(set->region_id);
    e->event_ts_ms = set->event_ts_ms;
    e->written_ms = set->written_ms;
    e->expires_ms = set->written_ms + ttl_ms;
    memcpy(e->source, set->source, sizeof e->source);
    e->count = set->count;
    e->next = NULL;
    if (set->count > 0) {
        memcpy(e->values, set->values, (size_t)set->count * sizeof e->values[0]);
        qsort(e->values, (size_t)set->count, sizeof e->values[0], compare_values_by_name);
    }
    for (int i = 1; i < e->count; i++) {
        if (strcmp(e->values[i - 1].name, e->values[i].name) == 0) {
            int rc = surge_fail(err, SURGE_EINVAL, "features",
                                "region %s: feature \"%s\" appears more than once", set->region_id,
                                e->values[i].name);
            free(e);
            return rc;
        }
    }

    mem_entry *garbage = NULL; /* freed after the lock is released */
    mem_shard *sh = shard_of(st, e->hash);
    pthread_rwlock_wrlock(&sh->lock);
    mem_entry **link = bucket_of(sh, e->hash);
    while (*link) {
        mem_entry *old = *link;
        bool same = old->hash == e->hash && strcmp(old->region_id, e->region_id) == 0;
        if (same || old->expires_ms <= set->written_ms) {
            *link = old->next;
            old->next = garbage;
            garbage = old;
            sh->entry_count--;
        } else {
            link = &old->next;
        }
    }
    *link = e;
    sh->entry_count++;
    shard_maybe_grow(sh);
    pthread_rwlock_unlock(&sh->lock);

    while (garbage) {
        mem_entry *next = garbage->next;
        free(garbage);
        garbage = next;
    }
    return 0;
}

static int mem_get(void *impl, const char *region_id, int64_t now_ms, feature_set *out,
                   surge_error *err)
{
    mem_store *st = impl;
    uint64_t hash = region_hash(region_id);
    mem_shard *sh = shard_of(st, hash);
    int rc = 0;
    pthread_rwlock_rdlock(&sh->lock);
    const mem_entry *e = shard_find(sh, hash, region_id);
    if (e && now_ms < e->expires_ms) {
        entry_copy_meta(e, out);
        memcpy(out->values, e->values, (size_t)e->count * sizeof e->values[0]);
    } else if (e) {
        char when[32];
        time_format_rfc3339(e->expires_ms, when, sizeof when);
        rc = surge_fail(err, SURGE_ENOTFOUND, "region_id",
                        "the features of region %s expired at %s", region_id, when);
    } else {
        rc = surge_fail(err, SURGE_ENOTFOUND, "region_id", "no features for region %s", region_id);
    }
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}

/* The hot path: one shard read lock, one chain walk, a binary search per name, no malloc. */
static int mem_get_values(void *impl, const char *region_id, int64_t now_ms,
                          const char *const *names, int n, double *values,
                          feature_set *meta_without_values)
{
    mem_store *st = impl;
    uint64_t hash = region_hash(region_id);
    mem_shard *sh = shard_of(st, hash);
    int rc = 0;
    pthread_rwlock_rdlock(&sh->lock);
    const mem_entry *e = shard_find(sh, hash, region_id);
    if (e && now_ms < e->expires_ms) {
        for (int i = 0; i < n; i++) {
            const feature_value *v = names[i] ? entry_lookup(e, names[i]) : NULL;
            values[i] = v ? v->value : NAN;
        }
        if (meta_without_values) entry_copy_meta(e, meta_without_values);
    } else {
        for (int i = 0; i < n; i++)
            values[i] = NAN;
        rc = SURGE_ENOTFOUND;
    }
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}

/* Removes the region's entry, expired or not; ENOTFOUND only when there is none at all. */
static int mem_remove(void *impl, const char *region_id, surge_error *err)
{
    mem_store *st = impl;
    uint64_t hash = region_hash(region_id);
    mem_shard *sh = shard_of(st, hash);
    mem_entry *found = NULL;
    pthread_rwlock_wrlock(&sh->lock);
    for (mem_entry **link = bucket_of(sh, hash); *link; link = &(*link)->next) {
        mem_entry *e = *link;
        if (e->hash == hash && strcmp(e->region_id, region_id) == 0) {
            *link = e->next;
            sh->entry_count--;
            found = e;
            break;
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    if (!found)
        return surge_fail(err, SURGE_ENOTFOUND, "region_id", "no features for region %s",
                          region_id);
    free(found);
    return 0;
}

const feature_store_ops feature_store_mem_ops = {
    .scheme = "mem",
    .url_forms = "mem:",
    .open = mem_open,
    .close = mem_close,
    .put = mem_put,
    .get = mem_get,
    .get_values = mem_get_values,
    .remove = mem_remove,
};
