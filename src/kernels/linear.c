#include "feddiff/linear.h"

#include <omp.h>
#include <stdbool.h>

#include "feddiff/blas.h"
#include "feddiff/scratch.h"
#include "feddiff/threads.h"

/* Below this many values a loop runs on the calling thread: a team costs more than it saves. */
enum { PARALLEL_MIN = 1 << 15 };

void fd_linear_forward(float *restrict out, const float *restrict inp, const float *restrict weight,
                       const float *restrict bias, int N, int IC, int OC)
{
    if (N <= 0 || OC <= 0) return;
    float beta = 0.0f;
    if (bias) {
        /* Start from the bias and let the GEMM add inp W^T to it (beta = 1). */
        size_t n = (size_t)N * (size_t)OC;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
        for (int r = 0; r < N; r++) {
            float *restrict row = out + (size_t)r * OC;
#pragma omp simd
            for (int o = 0; o < OC; o++) row[o] = bias[o];
        }
        beta = 1.0f;
    }
    fd_sgemm(false, true, N, OC, IC, 1.0f, inp, IC, weight, IC, beta, out, OC);
}

/* dbias[o] += sum over rows of dout[r][o]. Each thread sums a contiguous block of rows into
 * its own double buffer; the buffers are then added in thread order, each thread taking a
 * block of columns, so the result does not depend on timing. */
static void bias_backward(float *restrict dbias, const float *restrict dout, int N, int OC)
{
    size_t stride = ((size_t)OC + 7) & ~(size_t)7; /* a whole number of cache lines */
    double *partials = (double *)fd_scratch(0, 2 * stride * (size_t)fd_threads());
    size_t n = (size_t)N * (size_t)OC;
#pragma omp parallel if (n >= PARALLEL_MIN)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        double *restrict mine = partials + stride * (size_t)t;
        for (int o = 0; o < OC; o++) mine[o] = 0.0;
        int lo = (int)((long long)N * t / nt), hi = (int)((long long)N * (t + 1) / nt);
        for (int r = lo; r < hi; r++) {
            const float *restrict row = dout + (size_t)r * OC;
#pragma omp simd
            for (int o = 0; o < OC; o++) mine[o] += (double)row[o];
        }
#pragma omp barrier
        int o_lo = (int)((long long)OC * t / nt), o_hi = (int)((long long)OC * (t + 1) / nt);
        for (int o = o_lo; o < o_hi; o++) {
            double sum = 0.0;
            for (int k = 0; k < nt; k++) sum += partials[stride * (size_t)k + (size_t)o];
            dbias[o] += (float)sum;
        }
    }
}

void fd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int N, int IC, int OC)
{
    if (N <= 0 || OC <= 0) return;
    if (dbias) bias_backward(dbias, dout, N, OC);
    /* dinp [N][IC] += dout [N][OC] W [OC][IC] */
    if (dinp) fd_sgemm(false, false, N, IC, OC, 1.0f, dout, OC, weight, IC, 1.0f, dinp, IC);
    /* dweight [OC][IC] += dout^T [OC][N] inp [N][IC] */
    if (dweight) fd_sgemm(true, false, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dweight, IC);
}
