/* Which rank trains which of a round's clients.
 *
 * A client's data and state live on the rank the static map gave it (rank_map.h), but a round
 * samples only some clients, so one rank may draw more of them than another. The plan keeps a
 * client on its owner while that rank's load stays within the round's even share, and gives the
 * rest to the least loaded ranks; such a client's data and state travel to the rank that trains
 * it and its state comes back after training. Deterministic: a pure function of the round's
 * clients, their costs and owners, so every rank computes the same plan, and the results do not
 * depend on it (a client trains the same way on any rank). */
#ifndef FEDDIFF_ROUND_PLAN_H
#define FEDDIFF_ROUND_PLAN_H

/* exec[i] = the rank that trains sampled[i] (i < k), from cost[c] and owner[c] per client c.
 * Returns how many clients move away from their owner. */
int fd_round_plan(int *exec, const int *sampled, int k, const double *cost, const int *owner,
                  int n_ranks);

#endif
