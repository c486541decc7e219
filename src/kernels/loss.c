#include "feddiff/loss.h"

#include <math.h>
#include <omp.h>

#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "feddiff/threads.h"

/* Below this many values a loop runs on the calling thread: a team costs more than it saves. */
enum { PARALLEL_MIN = 1 << 15 };

float fd_mse_forward(const float *pred, const float *target, size_t n)
{
    if (n == 0) return 0.0f;
    /* Per-thread partial sums over contiguous ranges, added in thread order: the result does
     * not depend on which thread finishes first. */
    double partial[FD_SCRATCH_MAX_THREADS];
    FD_ASSERT(fd_threads() <= FD_SCRATCH_MAX_THREADS);
    int team = 1;
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n * (size_t)t / (size_t)nt, hi = n * (size_t)(t + 1) / (size_t)nt;
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (size_t i = lo; i < hi; i++) {
            double d = (double)pred[i] - (double)target[i];
            sum += d * d;
        }
        partial[t] = sum;
        if (t == 0) team = nt;
    }
    double total = 0.0;
    for (int t = 0; t < team; t++) total += partial[t];
    return (float)(total / (double)n);
}

void fd_mse_backward(float *restrict dpred, const float *restrict pred,
                     const float *restrict target, size_t n, float dloss)
{
    if (!dpred || n == 0) return;
    float scale = (float)(2.0 * (double)dloss / (double)n);
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dpred[i] += scale * (pred[i] - target[i]);
}

float fd_softmax_xent_forward(float *restrict probs, const float *restrict logits,
                              const int *restrict labels, int B, int C)
{
    if (B <= 0) return 0.0f;
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * (size_t)C;
        float *p = probs + (size_t)b * (size_t)C;
        FD_ASSERT(labels[b] >= 0 && labels[b] < C);
        double max = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > max) max = z[c];
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += exp((double)z[c] - max);
        for (int c = 0; c < C; c++) p[c] = (float)(exp((double)z[c] - max) / sum);
        total += max + log(sum) - (double)z[labels[b]];
    }
    return (float)(total / (double)B);
}

void fd_softmax_xent_backward(float *restrict dlogits, const float *restrict probs,
                              const int *restrict labels, int B, int C, float dloss)
{
    if (!dlogits || B <= 0) return;
    const float scale = (float)((double)dloss / (double)B);
    for (int b = 0; b < B; b++) {
        const float *p = probs + (size_t)b * (size_t)C;
        float *d = dlogits + (size_t)b * (size_t)C;
        for (int c = 0; c < C; c++) d[c] += scale * (p[c] - (c == labels[b] ? 1.0f : 0.0f));
    }
}
