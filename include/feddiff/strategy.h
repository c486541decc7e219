/* Federated methods as part masks (DESIGN.md section 1): which parts of the network each
 * client keeps to itself, which it exchanges with the server, and, for the random pairs of
 * `usplit`, which half each sampled client uploads in a round. Also the seeded choice of the
 * clients that take part in a round.
 *
 *   method    kept by each client     exchanged (down and up)
 *   full      -                       temb enc mid dec
 *   udec      temb enc mid            dec
 *   ulatdec   temb enc                mid dec
 *   usplit    -                       down: all; up: temb+enc+mid or dec (one of each per pair)
 *   local     temb enc mid dec        nothing
 *   central   (one model on the pooled data: no clients)
 * The client part (SPIRE's per-client embedding row) always stays with its client. */
#ifndef FEDDIFF_STRATEGY_H
#define FEDDIFF_STRATEGY_H

#include <stdint.h>

enum fd_fed_method {
    FD_FED_FULL,
    FD_FED_UDEC,
    FD_FED_ULATDEC,
    FD_FED_USPLIT,
    FD_FED_LOCAL,
    FD_FED_CENTRAL,
};

/* "full", ... <-> the enum; -1 for an unknown name. */
const char *fd_fed_method_name(enum fd_fed_method method);
int fd_fed_method_from_name(const char *name);

/* Bit masks of parts (1 << FD_PART_x). Local and shared parts are each one contiguous range of
 * the parameter arena. */
unsigned fd_strategy_local_parts(enum fd_fed_method method);
unsigned fd_strategy_shared_parts(enum fd_fed_method method);

/* The clients of `round`: per_round <= 1 is a fraction of n_seen (rounded, at least one),
 * above 1 a count (at most n_seen); drawn without replacement from the CLIENT_SAMPLE stream of
 * (seed, round). Writes them in ascending order to out [n_seen] and returns how many. */
int fd_strategy_sample_clients(int *out, int n_seen, double per_round, uint64_t seed,
                               uint32_t round);

/* upload[i] = the parts that sampled client i (of k) sends in `round`. For usplit the clients
 * are paired at random (PAIRING stream); in each pair one sends temb+enc+mid, the other dec; an
 * odd one out sends one of the two halves, chosen by the same stream. */
void fd_strategy_upload_parts(unsigned *upload, int k, enum fd_fed_method method, uint64_t seed,
                              uint32_t round);

#endif
