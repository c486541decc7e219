#include "feddiff/strategy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/params.h"
#include "feddiff/rng.h"

static const char *const method_names[] = {"full", "udec", "ulatdec", "usplit", "local", "central"};
enum { N_METHODS = sizeof method_names / sizeof method_names[0] };

/* The two halves of usplit. */
static const unsigned USPLIT_FIRST = 1u << FD_PART_TEMB | 1u << FD_PART_ENC | 1u << FD_PART_MID;
static const unsigned USPLIT_SECOND = 1u << FD_PART_DEC;

const char *fd_fed_method_name(enum fd_fed_method method)
{
    FD_ASSERT((int)method >= 0 && (int)method < N_METHODS);
    return method_names[method];
}

int fd_fed_method_from_name(const char *name)
{
    for (int i = 0; i < N_METHODS; i++)
        if (!strcmp(name, method_names[i])) return i;
    return -1;
}

unsigned fd_strategy_local_parts(enum fd_fed_method method)
{
    switch (method) {
    case FD_FED_UDEC:
        return 1u << FD_PART_TEMB | 1u << FD_PART_ENC | 1u << FD_PART_MID;
    case FD_FED_ULATDEC:
        return 1u << FD_PART_TEMB | 1u << FD_PART_ENC;
    case FD_FED_LOCAL:
    case FD_FED_CENTRAL:
        return FD_PARTS_BACKBONE;
    case FD_FED_FULL:
    case FD_FED_USPLIT:
        return 0;
    }
    FD_FATAL("unknown federated method %d", (int)method);
}

unsigned fd_strategy_shared_parts(enum fd_fed_method method)
{
    return FD_PARTS_BACKBONE & ~fd_strategy_local_parts(method);
}

int fd_strategy_sample_clients(int *out, int n_seen, double per_round, uint64_t seed,
                               uint32_t round)
{
    FD_ASSERT(n_seen > 0 && per_round > 0);
    long k = per_round <= 1.0 ? lround(per_round * n_seen) : lround(per_round);
    if (k < 1) k = 1;
    if (k > n_seen) k = n_seen;
    /* The first k of a random permutation, put in order through a flag array. */
    int *perm = fd_malloc(sizeof(int) * (size_t)n_seen);
    unsigned char *chosen = fd_calloc((size_t)n_seen, 1);
    fd_rng s = fd_rng_stream(seed, FD_RNG_CLIENT_SAMPLE, round, 0, 0);
    fd_rng_permutation(&s, perm, n_seen);
    for (long i = 0; i < k; i++) chosen[perm[i]] = 1;
    int n = 0;
    for (int c = 0; c < n_seen; c++)
        if (chosen[c]) out[n++] = c;
    free(perm);
    free(chosen);
    return n;
}

void fd_strategy_upload_parts(unsigned *upload, int k, enum fd_fed_method method, uint64_t seed,
                              uint32_t round)
{
    if (method != FD_FED_USPLIT) {
        for (int i = 0; i < k; i++) upload[i] = fd_strategy_shared_parts(method);
        return;
    }
    int *perm = fd_malloc(sizeof(int) * (size_t)(k > 0 ? k : 1));
    fd_rng s = fd_rng_stream(seed, FD_RNG_PAIRING, round, 0, 0);
    fd_rng_permutation(&s, perm, k);
    /* Pairs (perm[0], perm[1]), (perm[2], perm[3]), ...: the first of each sends the first half. */
    for (int i = 0; i + 1 < k; i += 2) {
        upload[perm[i]] = USPLIT_FIRST;
        upload[perm[i + 1]] = USPLIT_SECOND;
    }
    if (k % 2)
        upload[perm[k - 1]] = fd_rng_u32(&s, (uint64_t)k) & 1u ? USPLIT_SECOND : USPLIT_FIRST;
    free(perm);
}
