#include "feddiff/elementwise.h"

#include <omp.h>

#include "feddiff/scratch.h"
#include "feddiff/threads.h"

/* Below this many values a loop runs on the calling thread: a team costs more than it saves. */
enum { PARALLEL_MIN = 1 << 15 };

/* `omp simd` rather than restrict: out may be a or b, which is fine because each element is
 * read before it is written and no iteration depends on another. */
void fd_add_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void fd_accumulate(float *restrict dst, const float *restrict src, size_t n)
{
    if (!dst) return;
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

void fd_add_channel_bias_forward(float *restrict h, const float *restrict bias, int B, int HW,
                                 int C)
{
    size_t n = (size_t)B * (size_t)HW * (size_t)C;
#pragma omp parallel for collapse(2) schedule(static) if (n >= PARALLEL_MIN)
    for (int b = 0; b < B; b++)
        for (int p = 0; p < HW; p++) {
            float *restrict row = h + ((size_t)b * HW + p) * C;
            const float *restrict bias_b = bias + (size_t)b * C;
#pragma omp simd
            for (int c = 0; c < C; c++) row[c] += bias_b[c];
        }
}

void fd_add_channel_bias_backward(float *restrict dbias, const float *restrict dh, int B, int HW,
                                  int C)
{
    if (!dbias || B <= 0 || C <= 0) return;
    size_t n = (size_t)B * (size_t)HW * (size_t)C;
    /* One sample per iteration, so no two threads write the same dbias row. Sums in double,
     * in a per-thread buffer taken here (thread numbers below the budget). */
    size_t stride = ((size_t)C + 7) & ~(size_t)7; /* a whole number of cache lines per thread */
    double *sums_all = (double *)fd_scratch(0, 2 * stride * (size_t)fd_threads());
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (int b = 0; b < B; b++) {
        double *restrict sums = sums_all + stride * (size_t)omp_get_thread_num();
        for (int c = 0; c < C; c++) sums[c] = 0.0;
        for (int p = 0; p < HW; p++) {
            const float *restrict row = dh + ((size_t)b * HW + p) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) sums[c] += (double)row[c];
        }
        float *restrict dbias_b = dbias + (size_t)b * C;
        for (int c = 0; c < C; c++) dbias_b[c] += (float)sums[c];
    }
}
