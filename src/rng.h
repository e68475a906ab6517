/* rng.h: a small, seedable, serialisable random number generator.
 *
 * xoshiro256** seeded through splitmix64; normals by Box-Muller (the spare
 * value is kept in the state, so a saved state resumes the exact stream).
 * The state is a plain struct owned by the caller: no global RNG. */
#ifndef ICLAB_RNG_H
#define ICLAB_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;     /* second Box-Muller value */
    int has_spare;
} ic_rng;

void ic_rng_seed(ic_rng *r, uint64_t seed);
uint64_t ic_rng_u64(ic_rng *r);
double ic_rng_uniform(ic_rng *r);           /* [0, 1) with 53 random bits */
double ic_rng_normal(ic_rng *r);            /* N(0, 1) */
uint64_t ic_rng_below(ic_rng *r, uint64_t n); /* uniform integer in [0, n), n > 0, unbiased */

#endif
