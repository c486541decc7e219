#include "feddiff/groupnorm.h"

#include <math.h>
#include <omp.h>

#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "feddiff/threads.h"

/* Below this many values the kernels run on the calling thread. */
enum { PARALLEL_MIN = 1 << 15 };

/* Both kernels give each thread whole samples: a sample's [HW][C] block is contiguous, its
 * rows vectorise over channels, and it is small enough (at most 784 x 96 floats = 300 KB) to
 * stay in L2 between the reduction pass and the output pass, so each kernel streams its
 * tensors from memory about once. Per-thread buffers of doubles come from the calling
 * thread's scratch, one slice per thread, so the kernels also work inside a parallel region. */

/* Doubles per thread slice, rounded to whole cache lines. */
static size_t slice_doubles(int C, int arrays)
{
    return ((size_t)arrays * (size_t)C + 7) & ~(size_t)7;
}

static double *thread_slices(size_t per_thread)
{
    return (double *)fd_scratch(0, 2 * per_thread * (size_t)fd_threads());
}

/* The row loops, as functions so that restrict on their parameters lets the compiler
 * vectorise over channels without run-time alias checks on every row. */

/* sum[c] += x - shift[c], sumsq[c] += (x - shift[c])^2 over the HW rows of x [HW][C]. */
static void channel_sums(double *restrict sum, double *restrict sumsq, const double *restrict shift,
                         const float *restrict x, int HW, int C)
{
    for (int p = 0; p < HW; p++) {
        const float *restrict row = x + (size_t)p * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            double d = (double)row[c] - shift[c];
            sum[c] += d;
            sumsq[c] += d * d;
        }
    }
}

/* y = (x - mean[c]) scale[c] + beta[c] over rows [HW][C]. */
static void normalise(float *restrict y, const float *restrict x, const float *restrict mean,
                      const float *restrict scale, const float *restrict beta, int HW, int C)
{
    for (int p = 0; p < HW; p++) {
        const float *restrict row = x + (size_t)p * C;
        float *restrict out_row = y + (size_t)p * C;
#pragma omp simd
        for (int c = 0; c < C; c++) out_row[c] = (row[c] - mean[c]) * scale[c] + beta[c];
    }
}

/* sum_dy[c] += dy, sum_dy_xc[c] += dy (x - mean[c]) over rows [HW][C]. */
static void gradient_sums(double *restrict sum_dy, double *restrict sum_dy_xc,
                          const float *restrict dy, const float *restrict x,
                          const float *restrict mean, int HW, int C)
{
    for (int p = 0; p < HW; p++) {
        const float *restrict row = x + (size_t)p * C, *restrict dy_row = dy + (size_t)p * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            sum_dy[c] += (double)dy_row[c];
            sum_dy_xc[c] += (double)dy_row[c] * ((double)row[c] - (double)mean[c]);
        }
    }
}

/* dx += k_dy[c] dy - k_xc[c] (x - mean[c]) - k_const[c] over rows [HW][C]. */
static void input_gradient(float *restrict dx, const float *restrict dy, const float *restrict x,
                           const float *restrict mean, const float *restrict k_dy,
                           const float *restrict k_xc, const float *restrict k_const, int HW, int C)
{
    for (int p = 0; p < HW; p++) {
        const float *restrict row = x + (size_t)p * C, *restrict dy_row = dy + (size_t)p * C;
        float *restrict dx_row = dx + (size_t)p * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            dx_row[c] += k_dy[c] * dy_row[c] - k_xc[c] * (row[c] - mean[c]) - k_const[c];
    }
}

void fd_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *gamma, const float *beta, int B, int HW, int C, int G)
{
    FD_ASSERT(G > 0 && C % G == 0);
    if (B <= 0 || HW <= 0 || C <= 0) return;
    const int Cg = C / G;
    const double count = (double)HW * Cg;
    const size_t sample = (size_t)HW * C;
    /* Slice: shift, sum, sum of squares [C] in double; then mean, scale [C] as floats. */
    const size_t per_thread = slice_doubles(C, 4);
    double *slices = thread_slices(per_thread);
#pragma omp parallel for schedule(static) if (B > 1 && (size_t)B * sample >= PARALLEL_MIN)
    for (int b = 0; b < B; b++) {
        double *slice = slices + per_thread * (size_t)omp_get_thread_num();
        double *restrict shift = slice, *restrict sum = slice + C, *restrict sumsq = slice + 2 * C;
        float *restrict chan_mean = (float *)(slice + 3 * C), *restrict chan_scale = chan_mean + C;
        const float *x = inp + (size_t)b * sample;
        float *y = out + (size_t)b * sample;

        /* Sums of x - shift, with shift the group's first value: the variance is then
         * E[(x-k)^2] - E[x-k]^2 with E[x-k] of the order of the deviation, so a large common
         * offset costs no precision. */
        for (int c = 0; c < C; c++) {
            shift[c] = (double)x[c - c % Cg];
            sum[c] = 0.0;
            sumsq[c] = 0.0;
        }
        channel_sums(sum, sumsq, shift, x, HW, C);
        for (int g = 0; g < G; g++) {
            double s = 0.0, ss = 0.0;
            for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                s += sum[c];
                ss += sumsq[c];
            }
            double offset = s / count, var = ss / count - offset * offset;
            if (var < 0.0) var = 0.0;
            float m = (float)(shift[g * Cg] + offset);
            float r = (float)(1.0 / sqrt(var + (double)FD_GROUPNORM_EPS));
            mean[(size_t)b * G + g] = m;
            rstd[(size_t)b * G + g] = r;
            for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                chan_mean[c] = m;
                chan_scale[c] = r * gamma[c];
            }
        }

        normalise(y, x, chan_mean, chan_scale, beta, HW, C);
    }
}

/* With xhat = (x - mean) rstd and dy = dout, per (sample, group) of n values:
 *   dinp   += rstd (gamma dy - mean(gamma dy) - xhat mean(gamma dy xhat))
 *   dgamma += sum over samples and positions of dy xhat,   dbeta += sum of dy.
 * One pass gathers, per (sample, channel), sum dy and sum dy (x - mean); the group means
 * and the parameter gradients follow from those; a second pass writes dinp. */
void fd_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int B, int HW, int C, int G)
{
    FD_ASSERT(G > 0 && C % G == 0);
    if ((!dinp && !dgamma && !dbeta) || B <= 0 || HW <= 0 || C <= 0) return;
    const int Cg = C / G;
    const double count = (double)HW * Cg;
    const size_t sample = (size_t)HW * C;
    /* Slice: dgamma and dbeta partials over this thread's samples, sum dy and
     * sum dy (x - mean) [C] in double; then mean and three dinp coefficients [C] as floats. */
    const size_t per_thread = slice_doubles(C, 6);
    double *slices = thread_slices(per_thread);
#pragma omp parallel if (B > 1 && (size_t)B * sample >= PARALLEL_MIN)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        double *slice = slices + per_thread * (size_t)t;
        double *restrict dgamma_part = slice, *restrict dbeta_part = slice + C;
        double *restrict sum_dy = slice + 2 * C, *restrict sum_dy_xc = slice + 3 * C;
        float *restrict chan_mean = (float *)(slice + 4 * C), *restrict k_dy = chan_mean + C,
                        *restrict k_xc = k_dy + C, *restrict k_const = k_xc + C;
        for (int c = 0; c < C; c++) {
            dgamma_part[c] = 0.0;
            dbeta_part[c] = 0.0;
        }

#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            const float *x = inp + (size_t)b * sample, *dy = dout + (size_t)b * sample;
            for (int c = 0; c < C; c++) {
                chan_mean[c] = mean[(size_t)b * G + c / Cg];
                sum_dy[c] = 0.0;
                sum_dy_xc[c] = 0.0;
            }
            gradient_sums(sum_dy, sum_dy_xc, dy, x, chan_mean, HW, C);
            for (int g = 0; g < G; g++) {
                const double r = (double)rstd[(size_t)b * G + g];
                double gdy = 0.0, gdy_xhat = 0.0;
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    dbeta_part[c] += sum_dy[c];
                    dgamma_part[c] += r * sum_dy_xc[c];
                    gdy += (double)gamma[c] * sum_dy[c];
                    gdy_xhat += (double)gamma[c] * r * sum_dy_xc[c];
                }
                const double mean_gdy = gdy / count, mean_gdy_xhat = gdy_xhat / count;
                /* dinp += rstd gamma dy - rstd^2 mean(gamma dy xhat) (x - mean) - rstd mean(gamma
                 * dy) */
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    k_dy[c] = (float)(r * (double)gamma[c]);
                    k_xc[c] = (float)(r * r * mean_gdy_xhat);
                    k_const[c] = (float)(r * mean_gdy);
                }
            }
            if (dinp)
                input_gradient(dinp + (size_t)b * sample, dy, x, chan_mean, k_dy, k_xc, k_const, HW,
                               C);
        }

        /* The implicit barrier of the loop above makes every partial visible. Add them in
         * thread order, each thread a block of channels. */
        const int c_lo = (int)((long long)C * t / nt), c_hi = (int)((long long)C * (t + 1) / nt);
        for (int c = c_lo; c < c_hi; c++) {
            double g_sum = 0.0, b_sum = 0.0;
            for (int k = 0; k < nt; k++) {
                g_sum += slices[per_thread * (size_t)k + (size_t)c];
                b_sum += slices[per_thread * (size_t)k + (size_t)C + (size_t)c];
            }
            if (dgamma) dgamma[c] += (float)g_sum;
            if (dbeta) dbeta[c] += (float)b_sum;
        }
    }
}
