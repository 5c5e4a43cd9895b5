/* ratelimit.c: token buckets keyed by user, IP or one global key. Sharded hash tables with a
 * lock per shard; a full shard forgets its least recently used buckets (a forgotten bucket
 * comes back full, which only ever errs in the client's favour). */
#include "core.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RL_SHARDS 32
#define RL_SLOTS 4096 /* per shard: 131072 keys tracked at once */
#define RL_KEY_MAX 72

typedef struct bucket {
    char key[RL_KEY_MAX];
    uint8_t keylen;
    bool used;
    double tokens;
    int64_t last_ns;
} bucket;

typedef struct rl_shard {
    pthread_mutex_t lock;
    bucket *slots;
    size_t used;
} rl_shard;

struct ratelimiter {
    double rate_per_ns, burst;
    rl_shard shards[RL_SHARDS];
};

ratelimiter *ratelimiter_new(double rate_per_s, double burst)
{
    ratelimiter *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->rate_per_ns = rate_per_s / 1e9;
    r->burst = burst < 1 ? 1 : burst;
    for (int i = 0; i < RL_SHARDS; i++) pthread_mutex_init(&r->shards[i].lock, NULL);
    return r;
}

void ratelimiter_free(ratelimiter *r)
{
    if (!r) return;
    for (int i = 0; i < RL_SHARDS; i++) {
        pthread_mutex_destroy(&r->shards[i].lock);
        free(r->shards[i].slots);
    }
    free(r);
}

int ratelimiter_take(ratelimiter *r, const char *key, size_t keylen, int64_t now_ns)
{
    if (keylen >= RL_KEY_MAX) keylen = RL_KEY_MAX - 1;
    uint64_t h = hash_fnv1a64(key, keylen);
    rl_shard *s = &r->shards[h % RL_SHARDS];
    pthread_mutex_lock(&s->lock);
    if (!s->slots && !(s->slots = calloc(RL_SLOTS, sizeof *s->slots))) {
        pthread_mutex_unlock(&s->lock);
        return 0; /* cannot track: let the request through rather than refuse everyone */
    }
    if (s->used >= RL_SLOTS * 3 / 4) {
        /* forget every bucket that has refilled completely: they carry no information */
        for (size_t i = 0; i < RL_SLOTS; i++) {
            bucket *b = &s->slots[i];
            if (b->used && b->tokens + (now_ns - b->last_ns) * r->rate_per_ns >= r->burst)
                b->used = false;
        }
        /* rebuild the probe chains */
        bucket *old = s->slots;
        s->slots = calloc(RL_SLOTS, sizeof *s->slots);
        if (!s->slots) {
            s->slots = old;
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
        s->used = 0;
        for (size_t i = 0; i < RL_SLOTS; i++) {
            if (!old[i].used) continue;
            size_t j = hash_fnv1a64(old[i].key, old[i].keylen) / RL_SHARDS % RL_SLOTS;
            while (s->slots[j].used) j = (j + 1) % RL_SLOTS;
            s->slots[j] = old[i];
            s->used++;
        }
        free(old);
        if (s->used >= RL_SLOTS * 3 / 4) {
            /* every tracked client is actively limited: start over rather than stop */
            memset(s->slots, 0, RL_SLOTS * sizeof *s->slots);
            s->used = 0;
        }
    }
    size_t i = h / RL_SHARDS % RL_SLOTS;
    bucket *b;
    for (;;) {
        b = &s->slots[i];
        if (!b->used) {
            b->used = true;
            memcpy(b->key, key, keylen);
            b->keylen = (uint8_t)keylen;
            b->tokens = r->burst;
            b->last_ns = now_ns;
            s->used++;
            break;
        }
        if (b->keylen == keylen && memcmp(b->key, key, keylen) == 0) break;
        i = (i + 1) % RL_SLOTS;
    }
    double tokens = b->tokens + (double)(now_ns - b->last_ns) * r->rate_per_ns;
    if (tokens > r->burst) tokens = r->burst;
    b->last_ns = now_ns;
    int wait = 0;
    if (tokens >= 1) {
        tokens -= 1;
    } else {
        double seconds = (1 - tokens) / (r->rate_per_ns * 1e9);
        wait = (int)ceil(seconds);
        if (wait < 1) wait = 1;
    }
    b->tokens = tokens;
    pthread_mutex_unlock(&s->lock);
    return wait;
}
