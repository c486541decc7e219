/* The server side of a round: sample-weighted sums of what the clients upload, reduced over
 * the ranks to rank 0, averaged part by part, and the server's update of the global model.
 *
 * Each rank adds its own clients' uploads (in double, so the result hardly depends on how the
 * clients are spread over ranks), then one reduction brings the sums to the root. A part's
 * average is over the clients that sent that part (usplit: about half of them); a part nobody
 * sent keeps its global value. Server updates, with delta = average - global:
 *   fedavg   global += lr delta                                  (lr = 1: plain averaging)
 *   fedadam  m = b1 m + (1 - b1) delta;  v = b2 v + (1 - b2) delta^2;
 *            global += lr m / (sqrt(v) + tau)                    (Reddi et al. 2021)
 *   fedyogi  as fedadam with v -= (1 - b2) delta^2 sign(v - delta^2) */
#ifndef FEDDIFF_AGGREGATE_H
#define FEDDIFF_AGGREGATE_H

#include <mpi.h>
#include <stdbool.h>

#include "feddiff/params.h"

typedef struct {
    fd_range range;                /* the exchanged range of the arena */
    fd_range parts[FD_PART_COUNT]; /* the arena's part ranges */
    unsigned shared_parts;
    double *sum; /* [range.count] weighted sums, then [FD_PART_COUNT] weight sums per part */
} fd_aggregator;

void fd_aggregator_init(fd_aggregator *a, const fd_params *p, unsigned shared_parts);
void fd_aggregator_free(fd_aggregator *a);
void fd_aggregator_zero(fd_aggregator *a);
/* sum += weight x params (a full arena) over the parts in `upload` (a subset of the shared). */
void fd_aggregator_add(fd_aggregator *a, const float *params, unsigned upload, double weight);
/* Sum every rank's sums into the root's. Collective. */
void fd_aggregator_reduce(fd_aggregator *a, int root, MPI_Comm comm);
/* The total weight that part received (after the reduction: on the root). */
double fd_aggregator_weight(const fd_aggregator *a, enum fd_part part);

enum fd_server_kind { FD_SERVER_FEDAVG, FD_SERVER_FEDADAM, FD_SERVER_FEDYOGI };

typedef struct {
    enum fd_server_kind kind;
    double lr, beta1, beta2, tau;
    size_t count; /* arena size */
    float *m, *v; /* [count] server moments (adaptive kinds), zero at the start */
} fd_server_opt;

/* "fedavg", "fedadam", "fedyogi" <-> the enum; -1 for an unknown name. */
int fd_server_kind_from_name(const char *name);
void fd_server_opt_init(fd_server_opt *s, enum fd_server_kind kind, double lr, size_t count);
void fd_server_opt_free(fd_server_opt *s);
/* Update global (a full arena) from the reduced sums, on the root. Returns the mask of the
 * parts that received an average. */
unsigned fd_server_apply(fd_server_opt *s, float *global, const fd_aggregator *a);

#endif
