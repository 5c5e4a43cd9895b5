/* hash.c: FNV-1a for in-process hash tables, Kafka's murmur2 for partitioning, and
 * per-thread random numbers for ids. */
#include "core.h"

#include <string.h>
#include <sys/random.h>

uint64_t hash_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ULL; /* the FNV-1a 64-bit offset basis */
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The same arithmetic as org.apache.kafka.common.utils.Utils.murmur2, so a key lands on the
 * same partition number here as in Kafka. */
uint32_t hash_murmur2(const void *data, size_t len)
{
    const unsigned char *p = data;
    const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        uint32_t k = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 |
                     (uint32_t)p[i * 4 + 2] << 16 | (uint32_t)p[i * 4 + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    size_t tail = len & ~(size_t)3;
    switch (len % 4) {
    case 3: h ^= (uint32_t)p[tail + 2] << 16; /* fall through */
    case 2: h ^= (uint32_t)p[tail + 1] << 8;  /* fall through */
    case 1:
        h ^= p[tail];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/* xoshiro256** per thread, seeded once from the kernel. */
static _Thread_local uint64_t rng_state[4];
static _Thread_local int rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t random_u64(void)
{
    if (!rng_seeded) {
        if (getrandom(rng_state, sizeof rng_state, 0) != (ssize_t)sizeof rng_state) {
            /* getrandom cannot fail for 32 bytes once the pool is ready; fall back to time
             * and the state's address so ids still differ between threads. */
            rng_state[0] = (uint64_t)time_mono_ns();
            rng_state[1] = (uint64_t)(uintptr_t)&rng_state;
            rng_state[2] = (uint64_t)time_now_ms();
            rng_state[3] = 0x9e3779b97f4a7c15ULL;
        }
        rng_seeded = 1;
    }
    uint64_t *s = rng_state;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < nbytes) {
        uint64_t v = random_u64();
        for (int k = 0; k < 8 && i < nbytes; k++, i++) {
            out[2 * i] = hex[(v >> 4) & 15];
            out[2 * i + 1] = hex[v & 15];
            v >>= 8;
        }
    }
    out[2 * nbytes] = 0;
}

void random_id_time(char *out, int64_t now_ms)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t t = (uint64_t)now_ms;
    for (int i = 11; i >= 0; i--) {
        out[i] = hex[t & 15];
        t >>= 4;
    }
    random_hex(out + 12, 10);
}
