#include "feddiff/attention.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "feddiff/blas.h"
#include "feddiff/scratch.h"
#include "feddiff/threads.h"

/* Threads: a sample's GEMMs are small (T = 49, C = 64 in the default UNet) and a
 * multi-threaded fd_sgemm on them measured 1-4x SLOWER than one thread (up to T = 784), so the
 * work is always split over an OpenMP team and every fd_sgemm runs single-threaded inside it.
 * The work items are (sample, block of rows): one block per sample when the batch covers the
 * team, more when it does not (small batches, sampling), so every thread has rows to do. The
 * region is entered even for a single item, to keep fd_sgemm off its multi-threaded path. */

/* Rows of a block: fewer would make the GEMMs inefficient. */
enum { MIN_BLOCK_ROWS = 16 };

static int blocks_per_sample(int B, int T)
{
    int threads = fd_threads();
    if (B >= threads) return 1;
    int wanted = (threads + B - 1) / B, most = T / MIN_BLOCK_ROWS;
    if (most < 1) most = 1;
    return wanted < most ? wanted : most;
}

/* Rows [*first, *end) of block `blk` out of `blocks` over T rows. */
static void block_rows(int blk, int blocks, int T, int *first, int *end)
{
    *first = (int)((long)blk * T / blocks);
    *end = (int)((long)(blk + 1) * T / blocks);
}

/* In-place softmax of each row of x [rows][cols], stable: the row maximum is subtracted. A -inf
 * score gets weight 0; a row with no finite score (every score -inf) becomes all zeros rather
 * than 0/0 = NaN. NaN and +inf scores (an overflowed model) still give NaN, as they should. */
static void softmax_rows(float *x, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        float row_max = -INFINITY;
#pragma omp simd reduction(max : row_max)
        for (int j = 0; j < cols; j++) row_max = row[j] > row_max ? row[j] : row_max;
        if (row_max == -INFINITY) row_max = 0.0f;
        float sum = 0.0f;
        for (int j = 0; j < cols; j++) {
            row[j] = expf(row[j] - row_max);
            sum += row[j];
        }
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma omp simd
        for (int j = 0; j < cols; j++) row[j] *= inv;
    }
}

void fd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C)
{
    const int ld = 3 * C; /* row stride of q, k and v inside qkv */
    const float scale = 1.0f / sqrtf((float)C);
    const int blocks = blocks_per_sample(B, T);
    /* Query rows are independent: block [i0, i1) needs only its own rows of q, att and out. */
#pragma omp parallel for schedule(static)
    for (long item = 0; item < (long)B * blocks; item++) {
        int b = (int)(item / blocks), i0, i1;
        block_rows((int)(item % blocks), blocks, T, &i0, &i1);
        const float *q = qkv + (size_t)b * T * ld, *k = q + C, *v = q + 2 * C;
        float *att_rows = att + ((size_t)b * T + i0) * T;
        fd_sgemm(false, true, i1 - i0, T, C, scale, q + (size_t)i0 * ld, ld, k, ld, 0.0f,
                 att_rows, T);
        softmax_rows(att_rows, i1 - i0, T);
        fd_sgemm(false, false, i1 - i0, C, T, 1.0f, att_rows, T, v, ld, 0.0f,
                 out + ((size_t)b * T + i0) * C, C);
    }
}

void fd_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int C)
{
    if (!dqkv) return;
    const int ld = 3 * C;
    const float scale = 1.0f / sqrtf((float)C);
    const int blocks = blocks_per_sample(B, T);
    const long items = (long)B * blocks;
    /* dscores [B][T][T]: the calling thread's scratch, shared by the team (rows are written in
     * the first loop and read by columns in the second). */
    float *dscores = fd_scratch(0, (size_t)B * T * T);
#pragma omp parallel
    {
        /* By blocks of query rows i: ds = att * (datt - rowsum(datt * att)) with
         * datt = dout v^T, then dq += scale ds k (scores = scale q k^T). */
#pragma omp for schedule(static)
        for (long item = 0; item < items; item++) {
            int b = (int)(item / blocks), i0, i1;
            block_rows((int)(item % blocks), blocks, T, &i0, &i1);
            const float *k = qkv + (size_t)b * T * ld + C, *v = k + C;
            float *ds = dscores + ((size_t)b * T + i0) * T;
            fd_sgemm(false, true, i1 - i0, T, C, 1.0f, dout + ((size_t)b * T + i0) * C, C, v, ld,
                     0.0f, ds, T);
            for (int i = 0; i < i1 - i0; i++) {
                const float *a = att + ((size_t)b * T + i0 + i) * T;
                float *d = ds + (size_t)i * T;
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int j = 0; j < T; j++) dot += d[j] * a[j];
#pragma omp simd
                for (int j = 0; j < T; j++) d[j] = a[j] * (d[j] - dot);
            }
            fd_sgemm(false, false, i1 - i0, C, T, scale, ds, T, k, ld, 1.0f,
                     dqkv + ((size_t)b * T + i0) * ld, ld);
        }
        /* By blocks of key rows j (columns j of att and ds): dv += att^T dout,
         * dk += scale ds^T q. The same static schedule keeps a sample on the same thread. */
#pragma omp for schedule(static)
        for (long item = 0; item < items; item++) {
            int b = (int)(item / blocks), j0, j1;
            block_rows((int)(item % blocks), blocks, T, &j0, &j1);
            const float *q = qkv + (size_t)b * T * ld;
            const float *att_b = att + (size_t)b * T * T, *ds_b = dscores + (size_t)b * T * T;
            float *dk = dqkv + ((size_t)b * T + j0) * ld + C, *dv = dk + C;
            fd_sgemm(true, false, j1 - j0, C, T, 1.0f, att_b + j0, T, dout + (size_t)b * T * C, C,
                     1.0f, dv, ld);
            fd_sgemm(true, false, j1 - j0, C, T, scale, ds_b + j0, T, q, ld, 1.0f, dk, ld);
        }
    }
}
