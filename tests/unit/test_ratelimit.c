/* Unit tests of the token buckets (src/core/ratelimit.c): burst, refill, the
 * Retry-After they compute, independence of keys, and forgetting idle keys when full. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/core.h"

#define SECOND 1000000000LL

static int take(ratelimiter *r, const char *key, int64_t now_ns)
{
    return ratelimiter_take(r, key, strlen(key), now_ns);
}

static void test_burst_then_refusal_with_retry_after(void **state)
{
    (void)state;
    /* 60 per minute = 1 per second, burst 60: the first 60 pass at once, the 61st waits 1 s */
    ratelimiter *r = ratelimiter_new(1.0, 60);
    for (int i = 0; i < 60; i++) assert_int_equal(take(r, "u1", 5 * SECOND), 0);
    assert_int_equal(take(r, "u1", 5 * SECOND), 1);
    /* half a second later there is half a token: still 1 s (rounded up) */
    assert_int_equal(take(r, "u1", 5 * SECOND + SECOND / 2), 1);
    /* a full second after the burst one token has come back */
    assert_int_equal(take(r, "u1", 6 * SECOND + 1), 0);
    assert_int_equal(take(r, "u1", 6 * SECOND + 2), 1);
    ratelimiter_free(r);
}

static void test_retry_after_is_the_time_to_the_next_token(void **state)
{
    (void)state;
    /* 6 per minute = one token every 10 s, burst 1 */
    ratelimiter *r = ratelimiter_new(0.1, 1);
    assert_int_equal(take(r, "ip", 0), 0);
    assert_int_equal(take(r, "ip", 0), 10);
    assert_int_equal(take(r, "ip", 4 * SECOND), 6); /* 0.4 token: 6 s to go */
    assert_int_equal(take(r, "ip", 10 * SECOND), 0);
    ratelimiter_free(r);
}

static void test_keys_are_independent(void **state)
{
    (void)state;
    ratelimiter *r = ratelimiter_new(1.0, 2);
    assert_int_equal(take(r, "a", 0), 0);
    assert_int_equal(take(r, "a", 0), 0);
    assert_int_equal(take(r, "a", 0), 1);
    assert_int_equal(take(r, "b", 0), 0); /* b has its own full bucket */
    assert_int_equal(take(r, "ab", 0), 0);
    ratelimiter_free(r);
}

static void test_refill_never_exceeds_the_burst(void **state)
{
    (void)state;
    ratelimiter *r = ratelimiter_new(1.0, 3);
    assert_int_equal(take(r, "k", 0), 0);
    /* an hour idle refills to 3, not 3600 */
    for (int i = 0; i < 3; i++) assert_int_equal(take(r, "k", 3600 * SECOND), 0);
    assert_int_equal(take(r, "k", 3600 * SECOND), 1);
    ratelimiter_free(r);
}

static void test_many_keys_sweep_idle_buckets_and_keep_limiting(void **state)
{
    (void)state;
    /* 300,000 clients over 6 s, more than the table holds: buckets that refilled are swept
     * away, and the limiter still limits a client that asks twice at once */
    ratelimiter *r = ratelimiter_new(1.0, 1);
    char key[32];
    int64_t t = 0;
    for (int i = 0; i < 300000; i++, t += 20000) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(take(r, key, t), 0);
    }
    assert_int_equal(take(r, "k299999", t), 1); /* its token was taken 20 us ago */
    assert_int_equal(take(r, "late", t), 0);
    assert_int_equal(take(r, "late", t), 1);
    ratelimiter_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refusal_with_retry_after),
        cmocka_unit_test(test_retry_after_is_the_time_to_the_next_token),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_refill_never_exceeds_the_burst),
        cmocka_unit_test(test_many_keys_sweep_idle_buckets_and_keep_limiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
