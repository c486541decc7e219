#include "feddiff/rank_map.h"

#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

typedef struct {
    double cost;
    int client;
} costed_client;

static int by_cost_descending(const void *a, const void *b)
{
    const costed_client *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->client > y->client) - (x->client < y->client);
}

void fd_rank_map_build(fd_rank_map *map, const double *cost, int n_clients, int n_ranks)
{
    FD_ASSERT(n_clients >= 0 && n_ranks > 0);
    map->n_clients = n_clients;
    map->n_ranks = n_ranks;
    map->owner = fd_malloc(sizeof(int) * (size_t)(n_clients > 0 ? n_clients : 1));
    map->load = fd_calloc((size_t)n_ranks, sizeof(double));
    costed_client *order = fd_malloc(sizeof *order * (size_t)(n_clients > 0 ? n_clients : 1));
    for (int c = 0; c < n_clients; c++) order[c] = (costed_client){cost[c], c};
    qsort(order, (size_t)n_clients, sizeof *order, by_cost_descending);
    /* A linear scan for the least-loaded rank: ranks are few next to clients x rounds of work. */
    for (int k = 0; k < n_clients; k++) {
        int best = 0;
        for (int r = 1; r < n_ranks; r++)
            if (map->load[r] < map->load[best]) best = r;
        map->owner[order[k].client] = best;
        map->load[best] += order[k].cost;
    }
    free(order);
}

void fd_rank_map_free(fd_rank_map *map)
{
    free(map->owner);
    free(map->load);
    memset(map, 0, sizeof *map);
}

int fd_rank_map_clients(const fd_rank_map *map, int rank, int *out)
{
    int n = 0;
    for (int c = 0; c < map->n_clients; c++)
        if (map->owner[c] == rank) out[n++] = c;
    return n;
}
