/* rng.c: the simulator's random numbers: splitmix64 seeding, xoshiro256**, and the uniform,
 * bounded and Poisson draws built on them. Never rand(): runs must replay bit for bit on
 * every machine. */
#include "sim/sim.h"

#include <math.h>

uint64_t sim_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_seed(sim_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = sim_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim_rng_uniform(sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sim_rng_below(sim_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)sim_rng_next(r) * n) >> 64);
}

/* Knuth: count uniforms until their product drops below e^-lambda. Small lambdas only: the
 * product of many uniforms underflows and the loop gets long. */
static uint64_t poisson_small(sim_rng *r, double lambda)
{
    double limit = exp(-lambda), product = sim_rng_uniform(r);
    uint64_t k = 0;
    while (product > limit) {
        k++;
        product *= sim_rng_uniform(r);
    }
    return k;
}

uint64_t sim_rng_poisson(sim_rng *r, double lambda)
{
    if (!(lambda > 0)) return 0;
    uint64_t k = 0;
    while (lambda > 16.0) {
        k += poisson_small(r, 16.0);
        lambda -= 16.0;
    }
    return k + poisson_small(r, lambda);
}
