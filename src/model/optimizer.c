#include "feddiff/optimizer.h"

#include <math.h>
#include <omp.h>

#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "feddiff/threads.h"

fd_adamw_config fd_adamw_defaults(void)
{
    fd_adamw_config c = {
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    return c;
}

void fd_adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                     const fd_adamw_config *cfg, float weight_decay, long step)
{
    FD_ASSERT(step >= 1);
    const float b1 = cfg->beta1, b2 = cfg->beta2, lr = cfg->lr, eps = cfg->eps;
    /* The operations of torch.optim.AdamW (1.13, single-tensor path), in the same order:
     * scalars in double as Python computes them, tensor arithmetic in float32. */
    const float step_size = (float)((double)lr / (1.0 - pow((double)b1, (double)step)));
    const float bias2_sqrt = (float)sqrt(1.0 - pow((double)b2, (double)step));
    const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
#pragma omp parallel for simd if (n > 32768) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float mi = m[i] * b1 + g * (1.0f - b1);
        float vi = v[i] * b2 + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bias2_sqrt + eps;
        param[i] = param[i] * decay - step_size * mi / denom;
    }
}

void fd_params_adamw_step(fd_params *p, unsigned part_mask, const fd_adamw_config *cfg, long step)
{
    FD_ASSERT(p->finalized);
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        if (!(part_mask & (1u << t->part))) continue;
        fd_adamw_update(p->data + t->offset, p->grad + t->offset, p->adam_m + t->offset,
                        p->adam_v + t->offset, t->count, cfg, t->decay ? cfg->weight_decay : 0.0f,
                        step);
    }
}

double fd_global_norm(const float *x, size_t n)
{
    /* Per-thread partial sums over static ranges, added in thread order: an OpenMP reduction
     * combines in whatever order threads finish, and a last-bit change in the norm changes the
     * clipped gradient, so repeat runs would not be bitwise identical. */
    double partial[FD_SCRATCH_MAX_THREADS];
    FD_ASSERT(fd_threads() <= FD_SCRATCH_MAX_THREADS);
    int team = 1;
#pragma omp parallel if (n > 32768)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n * (size_t)t / (size_t)nt, hi = n * (size_t)(t + 1) / (size_t)nt;
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (size_t i = lo; i < hi; i++) sum += (double)x[i] * (double)x[i];
        partial[t] = sum;
        if (t == 0) team = nt;
    }
    double total = 0.0;
    for (int t = 0; t < team; t++) total += partial[t];
    return sqrt(total);
}

double fd_clip_grad_norm(float *grad, size_t n, double max_norm)
{
    double norm = fd_global_norm(grad, n);
    if (isfinite(norm) && norm > max_norm) {
        const float scale = (float)(max_norm / (norm + 1e-6));
#pragma omp parallel for simd if (n > 32768) schedule(static)
        for (size_t i = 0; i < n; i++) grad[i] *= scale;
    }
    return norm;
}
