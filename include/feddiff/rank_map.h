/* Which rank simulates which client: a static map, balanced by the clients' expected work.
 *
 * Longest processing time first: clients in decreasing order of cost (ties: lower id first),
 * each to the rank with the least total cost so far (ties: lower rank). Deterministic, so every
 * rank computes the same map; the total cost of the busiest rank is at most 4/3 of the optimum
 * (Graham 1969). */
#ifndef FEDDIFF_RANK_MAP_H
#define FEDDIFF_RANK_MAP_H

typedef struct {
    int n_clients, n_ranks;
    int *owner;   /* [n_clients] rank of each client */
    double *load; /* [n_ranks] total cost per rank */
} fd_rank_map;

/* cost [n_clients] >= 0: e.g. the client's optimizer steps per round. */
void fd_rank_map_build(fd_rank_map *map, const double *cost, int n_clients, int n_ranks);
void fd_rank_map_free(fd_rank_map *map);
/* The clients of `rank` in ascending order into out [n_clients]; returns how many. */
int fd_rank_map_clients(const fd_rank_map *map, int rank, int *out);

#endif
