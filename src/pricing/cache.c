/* cache.c: the L1 price cache: 16 shards, each a mutex, a chained hash table and an LRU list
 * over entries preallocated at creation, so get and put never allocate. Staleness is by TTL
 * from the stored computed_ms and by a generation counter that invalidate bumps in O(1). */
#include "pricing.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16
#define NIL UINT32_MAX

typedef struct entry {
    pricing_cache_key key; /* normalized: zero past each string's NUL */
    uint64_t hash;
    uint64_t generation; /* the cache generation when stored */
    pricing_cache_value value;
    uint32_t chain;      /* next entry in the same bucket */
    uint32_t prev, next; /* LRU list, most recent at head */
} entry;

/* One shard; everything in it is guarded by lock. Aligned to a cache line so that threads
 * working on different shards do not contend on the same line. */
typedef struct shard {
    _Alignas(64) pthread_mutex_t lock;
    entry *entries;   /* capacity entries, allocated at creation */
    uint32_t *bucket; /* bucket_mask + 1 heads */
    uint32_t bucket_mask;
    uint32_t capacity, used;
    uint32_t head, tail; /* LRU; NIL when empty */
    uint32_t free_list;  /* unused entries, chained through chain */
} shard;

struct pricing_cache {
    shard shards[SHARDS];
    int64_t ttl_ms;
    /* Bumped by pricing_cache_invalidate; an entry is live only while its generation equals
     * this. Atomic because it is read and bumped without any shard lock. */
    _Atomic uint64_t generation;
};

/* Copies key with every byte after each string's NUL set to zero, so that hashing and
 * comparing the whole struct is the same as comparing its fields. */
static void normalize(const pricing_cache_key *in, pricing_cache_key *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->region_id, in->region_id, strnlen(in->region_id, sizeof out->region_id - 1));
    memcpy(out->product_type, in->product_type,
           strnlen(in->product_type, sizeof out->product_type - 1));
    out->rule_id = in->rule_id;
    memcpy(out->model_version, in->model_version,
           strnlen(in->model_version, sizeof out->model_version - 1));
}

/* The shard comes from the top bits, the bucket from the bottom ones, so they are independent. */
static shard *shard_of(pricing_cache *c, uint64_t hash)
{
    return &c->shards[hash >> 60];
}

pricing_cache *pricing_cache_new(size_t capacity, int64_t ttl_ms)
{
    if (capacity > (size_t)UINT32_MAX / 4) return NULL;
    pricing_cache *c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->ttl_ms = ttl_ms;
    atomic_init(&c->generation, 1);
    /* Every shard is valid (locked, empty) before any allocation, so a failure can free. */
    for (int s = 0; s < SHARDS; s++) {
        shard *sh = &c->shards[s];
        pthread_mutex_init(&sh->lock, NULL);
        sh->head = sh->tail = sh->free_list = NIL;
    }
    for (int s = 0; s < SHARDS; s++) {
        shard *sh = &c->shards[s];
        /* Capacity split evenly, the first capacity % SHARDS shards taking one more. With
         * fewer than 16 entries some shards get none: keys that hash there are never kept. */
        sh->capacity = (uint32_t)(capacity / SHARDS + ((size_t)s < capacity % SHARDS));
        if (sh->capacity == 0) continue;
        uint32_t buckets = 1;
        while (buckets < 2 * sh->capacity)
            buckets *= 2; /* load factor <= 1/2 */
        sh->bucket_mask = buckets - 1;
        sh->entries = calloc(sh->capacity, sizeof *sh->entries);
        sh->bucket = malloc(buckets * sizeof *sh->bucket);
        if (!sh->entries || !sh->bucket) {
            pricing_cache_free(c);
            return NULL;
        }
        for (uint32_t b = 0; b < buckets; b++)
            sh->bucket[b] = NIL;
        for (uint32_t i = 0; i < sh->capacity; i++)
            sh->entries[i].chain = i + 1 < sh->capacity ? i + 1 : NIL;
        sh->free_list = 0;
    }
    return c;
}

void pricing_cache_free(pricing_cache *c)
{
    if (!c) return;
    for (int s = 0; s < SHARDS; s++) {
        pthread_mutex_destroy(&c->shards[s].lock);
        free(c->shards[s].entries);
        free(c->shards[s].bucket);
    }
    free(c);
}

static void lru_unlink(shard *sh, uint32_t i)
{
    entry *e = &sh->entries[i];
    if (e->prev != NIL)
        sh->entries[e->prev].next = e->next;
    else
        sh->head = e->next;
    if (e->next != NIL)
        sh->entries[e->next].prev = e->prev;
    else
        sh->tail = e->prev;
}

static void lru_push_front(shard *sh, uint32_t i)
{
    entry *e = &sh->entries[i];
    e->prev = NIL;
    e->next = sh->head;
    if (sh->head != NIL) sh->entries[sh->head].prev = i;
    sh->head = i;
    if (sh->tail == NIL) sh->tail = i;
}

/* Finds key in its bucket; *link points at the index that refers to the match, for unlinking. */
static uint32_t find(shard *sh, const pricing_cache_key *key, uint64_t hash, uint32_t **link)
{
    uint32_t *p = &sh->bucket[hash & sh->bucket_mask];
    while (*p != NIL) {
        entry *e = &sh->entries[*p];
        if (e->hash == hash && memcmp(&e->key, key, sizeof *key) == 0) {
            if (link) *link = p;
            return *p;
        }
        p = &e->chain;
    }
    return NIL;
}

/* Takes entry i out of the table and the LRU and returns it to the free list. */
static void remove_entry(shard *sh, uint32_t i)
{
    entry *e = &sh->entries[i];
    uint32_t *link = NULL;
    find(sh, &e->key, e->hash, &link);
    *link = e->chain;
    lru_unlink(sh, i);
    e->chain = sh->free_list;
    sh->free_list = i;
    sh->used--;
}

bool pricing_cache_get(pricing_cache *c, const pricing_cache_key *key, int64_t now_ms,
                       pricing_cache_value *out)
{
    pricing_cache_key k;
    normalize(key, &k);
    uint64_t hash = hash_fnv1a64(&k, sizeof k);
    shard *sh = shard_of(c, hash);
    if (sh->capacity == 0) return false;
    uint64_t generation = atomic_load(&c->generation);

    bool hit = false;
    pthread_mutex_lock(&sh->lock);
    uint32_t i = find(sh, &k, hash, NULL);
    if (i != NIL) {
        entry *e = &sh->entries[i];
        if (e->generation == generation && e->value.computed_ms + c->ttl_ms > now_ms) {
            memcpy(out, &e->value, sizeof *out); /* bytewise, padding included */
            lru_unlink(sh, i);
            lru_push_front(sh, i);
            hit = true;
        } else {
            /* dead for good (time and generations only move forward): free the slot now */
            remove_entry(sh, i);
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return hit;
}

void pricing_cache_put(pricing_cache *c, const pricing_cache_key *key,
                       const pricing_cache_value *value)
{
    pricing_cache_key k;
    normalize(key, &k);
    uint64_t hash = hash_fnv1a64(&k, sizeof k);
    shard *sh = shard_of(c, hash);
    if (sh->capacity == 0) return;
    uint64_t generation = value->generation ? value->generation : atomic_load(&c->generation);
    /* computed from inputs read before an invalidation: storing it would serve stale data */
    if (generation != atomic_load(&c->generation)) return;

    pthread_mutex_lock(&sh->lock);
    uint32_t i = find(sh, &k, hash, NULL);
    if (i != NIL) {
        lru_unlink(sh, i);
    } else {
        if (sh->free_list == NIL) remove_entry(sh, sh->tail); /* full: evict the LRU */
        i = sh->free_list;
        entry *e = &sh->entries[i];
        sh->free_list = e->chain;
        e->key = k;
        e->hash = hash;
        uint32_t *head = &sh->bucket[hash & sh->bucket_mask];
        e->chain = *head;
        *head = i;
        sh->used++;
    }
    sh->entries[i].generation = generation;
    memcpy(&sh->entries[i].value, value, sizeof *value);
    lru_push_front(sh, i);
    pthread_mutex_unlock(&sh->lock);
}

uint64_t pricing_cache_generation(pricing_cache *c)
{
    return atomic_load(&c->generation);
}

void pricing_cache_invalidate(pricing_cache *c)
{
    atomic_fetch_add(&c->generation, 1);
}

size_t pricing_cache_size(pricing_cache *c)
{
    size_t n = 0;
    for (int s = 0; s < SHARDS; s++) {
        shard *sh = &c->shards[s];
        if (sh->capacity == 0) continue;
        pthread_mutex_lock(&sh->lock);
        n += sh->used;
        pthread_mutex_unlock(&sh->lock);
    }
    return n;
}
