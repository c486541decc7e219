#include "feddiff/rng.h"

#include <math.h>

enum { PHILOX_ROUNDS = 10 };
#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

void fd_philox4x32_10(uint32_t out[4], const uint32_t counter[4], const uint32_t key[2])
{
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static uint64_t splitmix64(uint64_t x)
{
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

fd_rng fd_rng_stream(uint64_t seed, enum fd_rng_purpose purpose, uint32_t round,
                     uint32_t client, uint32_t step)
{
    uint64_t k = splitmix64(seed ^ splitmix64((uint64_t)purpose));
    fd_rng s = {.key = {(uint32_t)k, (uint32_t)(k >> 32)},
                .step = step, .client = client, .round = round};
    return s;
}

static void block(const fd_rng *s, uint64_t block_index, uint32_t w[4])
{
    uint32_t ctr[4] = {(uint32_t)block_index, s->step, s->client, s->round};
    fd_philox4x32_10(w, ctr, s->key);
}

/* (k + 0.5) / 2^23 for a 23-bit k: exactly representable, so never 0 and never 1. */
static inline float u32_to_uniform(uint32_t w)
{
    return ((float)(w >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/* Two standard normals from two words (Box-Muller); u1 in (0, 1) keeps log finite. */
static inline void box_muller(uint32_t w0, uint32_t w1, float *n0, float *n1)
{
    const double two_pi = 6.283185307179586476925;
    double u1 = ((double)w0 + 0.5) * (1.0 / 4294967296.0);
    double u2 = ((double)w1 + 0.5) * (1.0 / 4294967296.0);
    double r = sqrt(-2.0 * log(u1));
    *n0 = (float)(r * cos(two_pi * u2));
    *n1 = (float)(r * sin(two_pi * u2));
}

uint32_t fd_rng_u32(const fd_rng *s, uint64_t index)
{
    uint32_t w[4];
    block(s, index >> 2, w);
    return w[index & 3];
}

float fd_rng_uniform(const fd_rng *s, uint64_t index) { return u32_to_uniform(fd_rng_u32(s, index)); }

float fd_rng_normal(const fd_rng *s, uint64_t index)
{
    uint32_t w[4];
    float n[4];
    block(s, index >> 2, w);
    box_muller(w[0], w[1], &n[0], &n[1]);
    box_muller(w[2], w[3], &n[2], &n[3]);
    return n[index & 3];
}

uint32_t fd_rng_below(const fd_rng *s, uint64_t index, uint32_t n)
{
    uint32_t w[4];
    block(s, index >> 1, w);
    const uint32_t *pair = (index & 1) ? &w[2] : &w[0];
    uint64_t x = ((uint64_t)pair[1] << 32) | pair[0];
    /* floor(x * n / 2^64) */
    uint64_t hi = (x >> 32) * n, lo = (x & 0xFFFFFFFFu) * n;
    return (uint32_t)((hi + (lo >> 32)) >> 32);
}

void fd_rng_fill_uniform(const fd_rng *s, uint64_t first, size_t n, float *out)
{
    size_t i = 0;
    while (i < n) {
        uint64_t index = first + i;
        uint32_t w[4];
        block(s, index >> 2, w);
        for (unsigned j = (unsigned)(index & 3); j < 4 && i < n; j++, i++)
            out[i] = u32_to_uniform(w[j]);
    }
}

void fd_rng_fill_normal(const fd_rng *s, uint64_t first, size_t n, float *out)
{
    size_t i = 0;
    while (i < n) {
        uint64_t index = first + i;
        uint32_t w[4];
        float z[4];
        block(s, index >> 2, w);
        box_muller(w[0], w[1], &z[0], &z[1]);
        box_muller(w[2], w[3], &z[2], &z[3]);
        for (unsigned j = (unsigned)(index & 3); j < 4 && i < n; j++, i++) out[i] = z[j];
    }
}

void fd_rng_permutation(const fd_rng *s, int *perm, int n)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fd_rng_below(s, (uint64_t)i, (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
