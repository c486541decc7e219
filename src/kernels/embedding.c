#include "feddiff/embedding.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "feddiff/error.h"

/* A few hundred rows of width D <= a few hundred: microseconds of work, so these kernels run
 * on the calling thread (an OpenMP team would cost more than it saves). */

/* f_i = exp(-ln(10000) i / (half - 1)), in double: with t up to 1000, a float t f_i would be
 * off by up to ~6e-5 rad, so the argument is formed in double and only sin/cos are rounded. */
static double timestep_frequency(int i, int half)
{
    return exp(-log(10000.0) * (double)i / (double)(half - 1));
}

void fd_timestep_embedding_forward(float *out, const float *t, int B, int D)
{
    FD_ASSERT(D % 2 == 0 && D >= 4);
    const int half = D / 2;
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * D;
        for (int i = 0; i < half; i++) {
            double arg = (double)t[b] * timestep_frequency(i, half);
            o[i] = (float)sin(arg);
            o[half + i] = (float)cos(arg);
        }
    }
}

void fd_timestep_embedding_backward(float *dt, const float *dout, const float *t, int B, int D)
{
    if (!dt) return;
    FD_ASSERT(D % 2 == 0 && D >= 4);
    const int half = D / 2;
    for (int b = 0; b < B; b++) {
        const float *d = dout + (size_t)b * D;
        double sum = 0.0;
        for (int i = 0; i < half; i++) {
            double f = timestep_frequency(i, half), arg = (double)t[b] * f;
            sum += f * ((double)d[i] * cos(arg) - (double)d[half + i] * sin(arg));
        }
        dt[b] += (float)sum;
    }
}

void fd_embedding_forward(float *out, const float *table, const int *ids, int B, int D)
{
    for (int b = 0; b < B; b++) {
        FD_ASSERT(ids[b] >= 0);
        memcpy(out + (size_t)b * D, table + (size_t)ids[b] * D, (size_t)D * sizeof(float));
    }
}

/* Serial over b: repeated ids add into the same row, which parallel rows would race on. */
void fd_embedding_backward(float *dtable, const float *dout, const int *ids, int B, int D)
{
    if (!dtable) return;
    for (int b = 0; b < B; b++) {
        FD_ASSERT(ids[b] >= 0);
        float *row = dtable + (size_t)ids[b] * D;
        const float *d = dout + (size_t)b * D;
#pragma omp simd
        for (int j = 0; j < D; j++) row[j] += d[j];
    }
}
