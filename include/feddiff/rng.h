/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every draw is a pure function of (seed, purpose, round, client, step, index): no generator
 * state is carried between calls, so results never depend on rank count, thread count, or the
 * order in which clients or threads happen to run. A stream fixes everything but the index.
 *
 * Layout: key = mix(seed, purpose) (64 bits); counter = (index / 4, step, client, round); each
 * Philox block yields four 32-bit words, so index < 2^34 per stream. */
#ifndef FEDDIFF_RNG_H
#define FEDDIFF_RNG_H

#include <stddef.h>
#include <stdint.h>

/* What a stream is for. Values are part of the file format of reproducibility: append only. */
enum fd_rng_purpose {
    FD_RNG_TEST = 0,
    FD_RNG_INIT = 1,          /* parameter initialisation */
    FD_RNG_PARTITION = 2,     /* splitting a dataset into clients */
    FD_RNG_CLIENT_SAMPLE = 3, /* which clients take part in a round */
    FD_RNG_BATCH = 4,         /* minibatch order */
    FD_RNG_TIMESTEP = 5,      /* diffusion timesteps t */
    FD_RNG_NOISE = 6,         /* diffusion noise e */
    FD_RNG_SAMPLER = 7,       /* noise of the reverse-process samplers */
    FD_RNG_DATA = 8,          /* built-in datasets */
    FD_RNG_PRIVACY = 9,       /* PFDM's one-shot noising */
    FD_RNG_DROPOUT = 10,      /* clients that drop out of a round */
    FD_RNG_PAIRING = 11,      /* usplit's random pairs */
    FD_RNG_CLASSIFIER = 12,   /* minibatch order of the evaluation classifier */
    FD_RNG_EVAL = 13,         /* evaluation: KID subsets */
};

typedef struct {
    uint32_t key[2];
    uint32_t step, client, round;
} fd_rng;

/* The Philox4x32 bijection with 10 rounds. */
void fd_philox4x32_10(uint32_t out[4], const uint32_t counter[4], const uint32_t key[2]);

fd_rng fd_rng_stream(uint64_t seed, enum fd_rng_purpose purpose, uint32_t round, uint32_t client,
                     uint32_t step);

uint32_t fd_rng_u32(const fd_rng *s, uint64_t index);
/* Uniform on the open interval (0, 1), 23 random bits. */
float fd_rng_uniform(const fd_rng *s, uint64_t index);
/* Standard normal (Box-Muller on the block's word pairs, computed in double). */
float fd_rng_normal(const fd_rng *s, uint64_t index);
/* Uniform integer in [0, n) from 64 random bits (bias below n / 2^64). */
uint32_t fd_rng_below(const fd_rng *s, uint64_t index, uint32_t n);

/* out[i] = fd_rng_uniform(s, first + i) and fd_rng_normal(s, first + i), in bulk. */
void fd_rng_fill_uniform(const fd_rng *s, uint64_t first, size_t n, float *out);
void fd_rng_fill_normal(const fd_rng *s, uint64_t first, size_t n, float *out);

/* perm = a uniformly random permutation of [0, n): Fisher-Yates from the end, the swap partner of
 * position i drawn with index i. */
void fd_rng_permutation(const fd_rng *s, int *perm, int n);

#endif
