#include "feddiff/round_plan.h"

#include <stdlib.h>

#include "feddiff/error.h"

typedef struct {
    double cost;
    int index; /* into the round's clients */
} costed;

static int by_cost_descending(const void *a, const void *b)
{
    const costed *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

int fd_round_plan(int *exec, const int *sampled, int k, const double *cost, const int *owner,
                  int n_ranks)
{
    FD_ASSERT(n_ranks > 0 && k >= 0);
    costed *order = fd_malloc(sizeof *order * (size_t)(k > 0 ? k : 1));
    double *load = fd_calloc((size_t)n_ranks, sizeof(double)), total = 0, largest = 0;
    for (int i = 0; i < k; i++) {
        order[i] = (costed){cost[sampled[i]], i};
        total += order[i].cost;
        largest = order[i].cost > largest ? order[i].cost : largest;
    }
    qsort(order, (size_t)k, sizeof *order, by_cost_descending);
    /* The even share, rounded up to whole clients when they cost the same. */
    const double share = total / n_ranks + (largest > 0 ? 1e-9 * largest : 0);
    int moved = 0;
    for (int s = 0; s < k; s++) {
        const int i = order[s].index, home = owner[sampled[i]];
        int r = home;
        if (load[home] + order[s].cost > share + 1e-12 * total) {
            for (int q = 0; q < n_ranks; q++) /* the least loaded, lowest rank on ties */
                if (load[q] < load[r] || (load[q] == load[r] && q < r)) r = q;
            if (load[r] + order[s].cost >= load[home] + order[s].cost) r = home;
        }
        exec[i] = r;
        load[r] += order[s].cost;
        moved += r != home;
    }
    free(order);
    free(load);
    return moved;
}
