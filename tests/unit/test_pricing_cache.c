/* Tests of the L1 price cache (src/pricing/cache.c): hits, expiry by TTL, invalidation, LRU
 * eviction within a shard, the disabled cache, and four threads hammering one cache. The LRU
 * tests rely on the documented shard choice: the top 4 bits of FNV-1a over the key struct with
 * every byte past each string's NUL zeroed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pricing/pricing.h"

static pricing_cache_key make_key(int n)
{
    pricing_cache_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.region_id, sizeof k.region_id, "r%d", n);
    strcpy(k.product_type, "ride");
    k.rule_id = 1;
    strcpy(k.model_version, "v1");
    return k;
}

static int shard_of(int n)
{
    pricing_cache_key k = make_key(n);
    return (int)(hash_fnv1a64(&k, sizeof k) >> 60);
}

/* The first `count` key numbers that land in shard s. */
static void keys_in_shard(int s, int count, int *out)
{
    int found = 0;
    for (int n = 0; found < count; n++)
        if (shard_of(n) == s) out[found++] = n;
}

/* A value whose every field says which key n it belongs to. */
static pricing_cache_value make_value(int n, int64_t computed_ms)
{
    pricing_cache_value v;
    memset(&v, 0, sizeof v);
    pricing_inputs_neutral(&v.inputs);
    v.inputs.demand_score = n;
    v.inputs.expected_demand = n;
    snprintf(v.inputs.model_version, sizeof v.inputs.model_version, "m%d", n);
    for (int i = 0; i < PRICING_NFACTORS; i++) {
        v.result.factor[i] = n;
        v.result.contribution_e4[i] = n;
    }
    v.result.surge_e4 = 10000 + n;
    v.result.price_cents = n;
    v.computed_ms = computed_ms;
    return v;
}

static bool has(pricing_cache *c, int n, int64_t now_ms)
{
    pricing_cache_key k = make_key(n);
    pricing_cache_value v;
    return pricing_cache_get(c, &k, now_ms, &v);
}

static void put(pricing_cache *c, int n, int64_t computed_ms)
{
    pricing_cache_key k = make_key(n);
    pricing_cache_value v = make_value(n, computed_ms);
    pricing_cache_put(c, &k, &v);
}

static void test_get_after_put_hits_with_the_stored_value(void **state)
{
    (void)state;
    pricing_cache *c = pricing_cache_new(100, 30000);
    assert_non_null(c);
    pricing_cache_key k = make_key(5);
    pricing_cache_value in = make_value(5, 1000), out;
    assert_false(pricing_cache_get(c, &k, 1000, &out));
    pricing_cache_put(c, &k, &in);
    assert_true(pricing_cache_get(c, &k, 1000, &out));
    assert_memory_equal(&in, &out, sizeof in);
    assert_int_equal(pricing_cache_size(c), 1);

    /* every key field matters: another rule, product or model is another entry */
    pricing_cache_key other = k;
    other.rule_id = 2;
    assert_false(pricing_cache_get(c, &other, 1000, &out));
    other = k;
    strcpy(other.model_version, "v2");
    assert_false(pricing_cache_get(c, &other, 1000, &out));
    other = k;
    strcpy(other.product_type, "rides");
    assert_false(pricing_cache_get(c, &other, 1000, &out));

    /* bytes after the NUL are not part of the key */
    other = k;
    memset(other.region_id + 3, 'x', sizeof other.region_id - 3);
    other.region_id[2] = 0;
    assert_string_equal(other.region_id, "r5");
    assert_true(pricing_cache_get(c, &other, 1000, &out));

    /* a second put of the same key replaces the value without growing */
    pricing_cache_value newer = make_value(5, 2000);
    newer.result.price_cents = 999;
    pricing_cache_put(c, &k, &newer);
    assert_true(pricing_cache_get(c, &k, 2000, &out));
    assert_int_equal(out.result.price_cents, 999);
    assert_int_equal(pricing_cache_size(c), 1);
    pricing_cache_free(c);
}

static void test_value_computed_before_an_invalidate_is_not_stored(void **state)
{
    (void)state;
    pricing_cache *c = pricing_cache_new(100, 30000);
    pricing_cache_key k = make_key(7);
    /* a compute read its inputs, then an override invalidated the cache, then it finished */
    pricing_cache_value v = make_value(7, 1000);
    v.generation = pricing_cache_generation(c);
    pricing_cache_invalidate(c);
    pricing_cache_put(c, &k, &v);
    assert_false(has(c, 7, 1000));
    assert_int_equal(pricing_cache_size(c), 0);
    /* with the current generation it is stored */
    v.generation = pricing_cache_generation(c);
    pricing_cache_put(c, &k, &v);
    assert_true(has(c, 7, 1000));
    pricing_cache_free(c);
}

static void test_entry_expires_ttl_after_it_was_computed(void **state)
{
    (void)state;
    pricing_cache *c = pricing_cache_new(100, 30000);
    put(c, 1, 10000);
    /* computed at 10 000 with a 30 000 ms TTL: live while 10 000 + 30 000 > now */
    assert_true(has(c, 1, 10000));
    assert_true(has(c, 1, 39999));
    assert_false(has(c, 1, 40000));
    /* the expired entry is gone for good, even for an earlier clock */
    assert_false(has(c, 1, 20000));
    assert_int_equal(pricing_cache_size(c), 0);
    pricing_cache_free(c);
}

static void test_invalidate_makes_older_entries_miss(void **state)
{
    (void)state;
    pricing_cache *c = pricing_cache_new(100, 30000);
    put(c, 1, 0);
    put(c, 2, 0);
    pricing_cache_invalidate(c);
    assert_false(has(c, 1, 0));
    assert_false(has(c, 2, 0));
    /* entries stored after the invalidate hit again */
    put(c, 1, 0);
    assert_true(has(c, 1, 0));
    assert_false(has(c, 2, 0));
    pricing_cache_free(c);
}

static void test_full_shard_of_one_keeps_the_newest(void **state)
{
    (void)state;
    /* capacity 16 over 16 shards: one entry per shard */
    pricing_cache *c = pricing_cache_new(16, 30000);
    int same[2], other[1];
    keys_in_shard(3, 2, same);
    keys_in_shard(9, 1, other);
    put(c, same[0], 0);
    put(c, other[0], 0);
    put(c, same[1], 0); /* shard 3 is full: evicts same[0] */
    assert_false(has(c, same[0], 0));
    assert_true(has(c, same[1], 0));
    assert_true(has(c, other[0], 0)); /* another shard is untouched */
    assert_int_equal(pricing_cache_size(c), 2);
    pricing_cache_free(c);
}

static void test_get_protects_an_entry_from_eviction(void **state)
{
    (void)state;
    /* capacity 32: two entries per shard */
    pricing_cache *c = pricing_cache_new(32, 30000);
    int k[4];
    keys_in_shard(7, 4, k);
    put(c, k[0], 0);
    put(c, k[1], 0);
    /* LRU order is now k1, k0; reading k0 makes it the most recent: k0, k1 */
    assert_true(has(c, k[0], 0));
    put(c, k[2], 0); /* evicts the least recent, k1: k2, k0 */
    assert_false(has(c, k[1], 0));
    assert_true(has(c, k[0], 0)); /* k0, k2 */
    assert_true(has(c, k[2], 0)); /* k2, k0 */
    put(c, k[3], 0);              /* evicts k0: k3, k2 */
    assert_false(has(c, k[0], 0));
    assert_true(has(c, k[2], 0));
    assert_true(has(c, k[3], 0));
    assert_int_equal(pricing_cache_size(c), 2);
    pricing_cache_free(c);
}

static void test_capacity_remainder_goes_to_the_first_shards(void **state)
{
    (void)state;
    /* capacity 17: shard 0 takes 2, shards 1..15 one each (17 = 16 + 1) */
    pricing_cache *c = pricing_cache_new(17, 30000);
    int k0[3], k1[2];
    keys_in_shard(0, 3, k0);
    keys_in_shard(1, 2, k1);
    put(c, k0[0], 0);
    put(c, k0[1], 0);
    put(c, k1[0], 0);
    put(c, k1[1], 0);
    assert_true(has(c, k0[0], 0));
    assert_true(has(c, k0[1], 0));
    assert_false(has(c, k1[0], 0));
    assert_true(has(c, k1[1], 0));
    put(c, k0[2], 0); /* shard 0 full: LRU there is k0[0] (k0[1] was read after it) */
    assert_false(has(c, k0[0], 0));
    assert_true(has(c, k0[1], 0));
    pricing_cache_free(c);

    /* capacity 10: shards 0..9 take one each, shards 10..15 none, so their keys never stay */
    c = pricing_cache_new(10, 30000);
    int k9[1], k12[1];
    keys_in_shard(9, 1, k9);
    keys_in_shard(12, 1, k12);
    put(c, k9[0], 0);
    put(c, k12[0], 0);
    assert_true(has(c, k9[0], 0));
    assert_false(has(c, k12[0], 0));
    assert_int_equal(pricing_cache_size(c), 1);
    pricing_cache_free(c);
}

static void test_capacity_zero_never_hits(void **state)
{
    (void)state;
    pricing_cache *c = pricing_cache_new(0, 30000);
    assert_non_null(c);
    for (int n = 0; n < 64; n++)
        put(c, n, 0);
    for (int n = 0; n < 64; n++)
        assert_false(has(c, n, 0));
    assert_int_equal(pricing_cache_size(c), 0);
    pricing_cache_invalidate(c);
    pricing_cache_free(c);
}

/* ---------------------------------------------------------------- threads */

#define HAMMER_THREADS 4
#define HAMMER_KEYS 200
#define HAMMER_ROUNDS 40000

typedef struct hammer_arg {
    pricing_cache *cache;
    unsigned seed;
    bool invalidates;
    int hits, misses, bad;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    unsigned x = a->seed;
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        x = x * 1103515245u + 12345u; /* a private LCG: rand() is not thread-safe */
        int n = (int)((x >> 8) % HAMMER_KEYS);
        pricing_cache_key k = make_key(n);
        pricing_cache_value v;
        if (pricing_cache_get(a->cache, &k, 0, &v)) {
            /* a hit must be exactly what some put stored for this key: never torn, never
             * another key's */
            pricing_cache_value expected = make_value(n, 0);
            if (memcmp(&v, &expected, sizeof v) != 0) a->bad++;
            a->hits++;
        } else {
            pricing_cache_value fresh = make_value(n, 0);
            pricing_cache_put(a->cache, &k, &fresh);
            a->misses++;
        }
        if (a->invalidates && i % 5000 == 4999) pricing_cache_invalidate(a->cache);
    }
    return NULL;
}

static void test_four_threads_see_consistent_entries(void **state)
{
    (void)state;
    pricing_cache *c = pricing_cache_new(64, 1000000);
    pthread_t threads[HAMMER_THREADS];
    hammer_arg args[HAMMER_THREADS];
    for (int t = 0; t < HAMMER_THREADS; t++) {
        args[t] =
            (hammer_arg){.cache = c, .seed = 17u + (unsigned)t * 7919u, .invalidates = t == 0};
        assert_int_equal(pthread_create(&threads[t], NULL, hammer, &args[t]), 0);
    }
    int hits = 0, misses = 0;
    for (int t = 0; t < HAMMER_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(args[t].bad, 0);
        hits += args[t].hits;
        misses += args[t].misses;
    }
    assert_int_equal(hits + misses, HAMMER_THREADS * HAMMER_ROUNDS);
    /* 64 slots for 200 keys: both outcomes must occur */
    assert_true(hits > 0);
    assert_true(misses > 0);
    assert_true(pricing_cache_size(c) <= 64);

    /* after the storm the cache still works as a plain cache */
    pricing_cache_invalidate(c);
    put(c, 3, 0);
    assert_true(has(c, 3, 0));
    pricing_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_after_put_hits_with_the_stored_value),
        cmocka_unit_test(test_value_computed_before_an_invalidate_is_not_stored),
        cmocka_unit_test(test_entry_expires_ttl_after_it_was_computed),
        cmocka_unit_test(test_invalidate_makes_older_entries_miss),
        cmocka_unit_test(test_full_shard_of_one_keeps_the_newest),
        cmocka_unit_test(test_get_protects_an_entry_from_eviction),
        cmocka_unit_test(test_capacity_remainder_goes_to_the_first_shards),
        cmocka_unit_test(test_capacity_zero_never_hits),
        cmocka_unit_test(test_four_threads_see_consistent_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
