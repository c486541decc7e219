#include "feddiff/aggregate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/mpi_util.h"

/* Reddi et al.'s defaults for the adaptive server optimizers. */
static const double SERVER_BETA1 = 0.9, SERVER_BETA2 = 0.99, SERVER_TAU = 1e-3;

void fd_aggregator_init(fd_aggregator *a, const fd_params *p, unsigned shared_parts)
{
    memset(a, 0, sizeof *a);
    a->shared_parts = shared_parts;
    memcpy(a->parts, p->parts, sizeof a->parts);
    if (shared_parts) a->range = fd_params_range(p, shared_parts);
    a->sum = fd_calloc(a->range.count + FD_PART_COUNT, sizeof(double));
}

void fd_aggregator_free(fd_aggregator *a)
{
    free(a->sum);
    memset(a, 0, sizeof *a);
}

void fd_aggregator_zero(fd_aggregator *a)
{
    memset(a->sum, 0, sizeof(double) * (a->range.count + FD_PART_COUNT));
}

void fd_aggregator_add(fd_aggregator *a, const float *params, unsigned upload, double weight)
{
    FD_ASSERT((upload & ~a->shared_parts) == 0);
    double *weights = a->sum + a->range.count;
    for (int part = 0; part < FD_PART_COUNT; part++) {
        if (!(upload & (1u << part))) continue;
        const fd_range r = a->parts[part];
        double *s = a->sum + (r.offset - a->range.offset);
        const float *x = params + r.offset;
#pragma omp parallel for simd if (r.count > 32768) schedule(static)
        for (size_t i = 0; i < r.count; i++) s[i] += weight * (double)x[i];
        weights[part] += weight;
    }
}

void fd_aggregator_reduce(fd_aggregator *a, int root, MPI_Comm comm)
{
    fd_mpi_reduce_sum_doubles(a->sum, a->range.count + FD_PART_COUNT, root, comm);
}

double fd_aggregator_weight(const fd_aggregator *a, enum fd_part part)
{
    return a->sum[a->range.count + part];
}

int fd_server_kind_from_name(const char *name)
{
    if (!strcmp(name, "fedavg")) return FD_SERVER_FEDAVG;
    if (!strcmp(name, "fedadam")) return FD_SERVER_FEDADAM;
    if (!strcmp(name, "fedyogi")) return FD_SERVER_FEDYOGI;
    return -1;
}

void fd_server_opt_init(fd_server_opt *s, enum fd_server_kind kind, double lr, size_t count)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->lr = lr;
    s->beta1 = SERVER_BETA1;
    s->beta2 = SERVER_BETA2;
    s->tau = SERVER_TAU;
    s->count = count;
    if (kind != FD_SERVER_FEDAVG) {
        s->m = fd_calloc(count, sizeof(float));
        s->v = fd_calloc(count, sizeof(float));
    }
}

void fd_server_opt_free(fd_server_opt *s)
{
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

unsigned fd_server_apply(fd_server_opt *s, float *global, const fd_aggregator *a)
{
    unsigned updated = 0;
    for (int part = 0; part < FD_PART_COUNT; part++) {
        const double w = fd_aggregator_weight(a, (enum fd_part)part);
        if (!(a->shared_parts & (1u << part)) || !(w > 0)) continue;
        updated |= 1u << part;
        const fd_range r = a->parts[part];
        const double *sum = a->sum + (r.offset - a->range.offset);
        float *g = global + r.offset;
        if (s->kind == FD_SERVER_FEDAVG) {
#pragma omp parallel for simd if (r.count > 32768) schedule(static)
            for (size_t i = 0; i < r.count; i++) {
                double delta = sum[i] / w - (double)g[i];
                g[i] = (float)((double)g[i] + s->lr * delta);
            }
            continue;
        }
        float *m = s->m + r.offset, *v = s->v + r.offset;
        const double b1 = s->beta1, b2 = s->beta2, lr = s->lr, tau = s->tau;
        const bool yogi = s->kind == FD_SERVER_FEDYOGI;
#pragma omp parallel for if (r.count > 32768) schedule(static)
        for (size_t i = 0; i < r.count; i++) {
            double delta = sum[i] / w - (double)g[i], d2 = delta * delta;
            double mi = b1 * m[i] + (1.0 - b1) * delta;
            double vi = yogi ? v[i] - (1.0 - b2) * d2 *
                                          (v[i] > d2   ? 1.0
                                           : v[i] < d2 ? -1.0
                                                       : 0.0)
                             : b2 * v[i] + (1.0 - b2) * d2;
            m[i] = (float)mi;
            v[i] = (float)vi;
            g[i] = (float)((double)g[i] + lr * mi / (sqrt(vi) + tau));
        }
    }
    return updated;
}
