#include "feddiff/resample.h"

#include <stddef.h>
#include <string.h>

/* Pure data movement: below this many floats written, an OpenMP team costs more than it saves. */
enum { PARALLEL_MIN_FLOATS = 1 << 15 };

void fd_upsample2x_forward(float *out, const float *inp, int B, int H, int W, int C)
{
    const size_t in_row = (size_t)W * C, out_row = 2 * in_row;
    const long rows = (long)B * H; /* input rows; input row r gives output rows 2r and 2r+1 */
    const size_t out_floats = (size_t)rows * 2 * out_row;
#pragma omp parallel for schedule(static) if (out_floats >= PARALLEL_MIN_FLOATS)
    for (long r = 0; r < rows; r++) {
        const float *src = inp + (size_t)r * in_row;
        float *dst = out + (size_t)(2 * r) * out_row;
        for (int x = 0; x < W; x++) {
            memcpy(dst + (size_t)(2 * x) * C, src + (size_t)x * C, (size_t)C * sizeof(float));
            memcpy(dst + (size_t)(2 * x + 1) * C, src + (size_t)x * C, (size_t)C * sizeof(float));
        }
        memcpy(dst + out_row, dst, out_row * sizeof(float));
    }
}

void fd_upsample2x_backward(float *dinp, const float *dout, int B, int H, int W, int C)
{
    if (!dinp) return;
    const size_t in_row = (size_t)W * C, out_row = 2 * in_row;
    const long rows = (long)B * H;
    const size_t out_floats = (size_t)rows * 2 * out_row;
#pragma omp parallel for schedule(static) if (out_floats >= PARALLEL_MIN_FLOATS)
    for (long r = 0; r < rows; r++) {
        const float *top = dout + (size_t)(2 * r) * out_row, *bottom = top + out_row;
        float *g = dinp + (size_t)r * in_row;
        for (int x = 0; x < W; x++) {
            const float *t0 = top + (size_t)(2 * x) * C, *t1 = t0 + C;
            const float *b0 = bottom + (size_t)(2 * x) * C, *b1 = b0 + C;
            float *gx = g + (size_t)x * C;
#pragma omp simd
            for (int c = 0; c < C; c++) gx[c] += (t0[c] + t1[c]) + (b0[c] + b1[c]);
        }
    }
}

void fd_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb)
{
    const size_t width = (size_t)Ca + Cb;
#pragma omp parallel for schedule(static) if ((size_t)N * width >= PARALLEL_MIN_FLOATS)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * width;
        memcpy(o, a + (size_t)n * Ca, (size_t)Ca * sizeof(float));
        memcpy(o + Ca, b + (size_t)n * Cb, (size_t)Cb * sizeof(float));
    }
}

void fd_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb)
{
    if (!da && !db) return;
    const size_t width = (size_t)Ca + Cb;
#pragma omp parallel for schedule(static) if ((size_t)N * width >= PARALLEL_MIN_FLOATS)
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * width;
        if (da) {
            float *g = da + (size_t)n * Ca;
#pragma omp simd
            for (int c = 0; c < Ca; c++) g[c] += d[c];
        }
        if (db) {
            float *g = db + (size_t)n * Cb;
#pragma omp simd
            for (int c = 0; c < Cb; c++) g[c] += d[Ca + c];
        }
    }
}
