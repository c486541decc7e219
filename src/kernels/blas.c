#include "feddiff/blas.h"

#include <blis.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "feddiff/error.h"
#include "feddiff/threads.h"

static char kernel_reason[160] = "BLIS not initialised (fd_blas_init was not called)";

static bool cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

static bool cpu_has_avx2_fma(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void fd_blas_init(void)
{
    const char *user = getenv("BLIS_ARCH_TYPE");
    if (user && *user) {
        snprintf(kernel_reason, sizeof kernel_reason, "set by BLIS_ARCH_TYPE=%s", user);
    } else {
        /* BLIS reads BLIS_ARCH_TYPE (an arch_t number) once, when it initialises. Its own
         * CPU detection is not exported, so decide from the instruction set: the AVX-512
         * kernels (skx) wherever AVX-512 exists, else the AVX2/FMA ones (zen3 on AMD, haswell
         * on Intel). On this project's AMD family-26 machines skx measured 1.8x zen3. */
        arch_t arch = BLIS_NUM_ARCHS;
        const char *why = NULL;
        if (cpu_has_avx512()) {
            arch = BLIS_ARCH_SKX;
            why = "AVX-512";
        } else if (cpu_has_avx2_fma()) {
            arch = __builtin_cpu_is("amd") ? BLIS_ARCH_ZEN3 : BLIS_ARCH_HASWELL;
            why = "AVX2/FMA";
        }
        if (arch != BLIS_NUM_ARCHS) {
            char value[16];
            snprintf(value, sizeof value, "%d", (int)arch);
            if (setenv("BLIS_ARCH_TYPE", value, 1) != 0)
                FD_FATAL("cannot set BLIS_ARCH_TYPE");
            snprintf(kernel_reason, sizeof kernel_reason,
                     "chosen by feddiff for %s (set BLIS_ARCH_TYPE to override)", why);
        } else {
            snprintf(kernel_reason, sizeof kernel_reason, "BLIS's own CPU detection");
        }
    }
    bli_init();
    if (bli_arch_query_id() == BLIS_ARCH_GENERIC && cpu_has_avx2_fma())
        fd_warn("BLIS runs its slow 'generic' kernels although this CPU has AVX2/FMA (%s)",
                kernel_reason);
}

const char *fd_blas_kernel_set(void) { return bli_arch_string(bli_arch_query_id()); }

const char *fd_blas_kernel_reason(void) { return kernel_reason; }

const char *fd_blas_version(void) { return bli_info_get_version_str(); }

/* One single-threaded BLIS call. Row-major operands: row stride = leading dimension, column
 * stride = 1. */
static void sgemm_one_thread(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                             const float *A, int lda, const float *B, int ldb, float beta, float *C,
                             int ldc)
{
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(1, &rntm);
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &alpha, (float *)A, lda, 1,
                 (float *)B, ldb, 1, &beta, C, ldc, 1, NULL, &rntm);
}

/* Blocks of the split dimension are multiples of this (the micro-tiles of BLIS's kernels). */
enum { SPLIT_GRANULE = 32 };

void fd_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    /* Below about 4M multiply-adds (some 20 us on one core) a thread team costs more than it
     * saves: measured 28 us on 1 thread against 106 us on 2 for attention's GEMMs. */
    const double work = (double)M * (double)N * (double)K;
    const int threads = fd_threads();
    if (omp_in_parallel() || threads == 1 || work < 4194304.0) {
        sgemm_one_thread(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* Split the longer side of C over an OpenMP team, one single-threaded BLIS call per block,
     * rather than let BLIS start its own team: BLIS's barriers spin without ever yielding, so
     * on a shared machine a call loses whole time slices whenever another process holds one of
     * its cores, while OpenMP's waits follow OMP_WAIT_POLICY. Each block reduces over all of K,
     * as BLIS would: the result does not depend on the thread count. */
    const bool split_m = M >= N;
    const int len = split_m ? M : N;
    int blocks = threads;
    const int granules = (len + SPLIT_GRANULE - 1) / SPLIT_GRANULE;
    if (blocks > granules) blocks = granules;
#pragma omp parallel for schedule(static) num_threads(blocks)
    for (int blk = 0; blk < blocks; blk++) {
        const int g0 = (int)((long)granules * blk / blocks),
                  g1 = (int)((long)granules * (blk + 1) / blocks);
        const int lo = g0 * SPLIT_GRANULE, hi = g1 * SPLIT_GRANULE < len ? g1 * SPLIT_GRANULE : len;
        if (split_m) {
            const float *a = trans_a ? A + lo : A + (size_t)lo * lda;
            sgemm_one_thread(trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta,
                             C + (size_t)lo * ldc, ldc);
        } else {
            const float *b = trans_b ? B + (size_t)lo * ldb : B + lo;
            sgemm_one_thread(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo,
                             ldc);
        }
    }
}

void fd_dgemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double *A,
              int lda, const double *B, int ldb, double beta, double *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(1, &rntm);
    bli_dgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &alpha, (double *)A, lda, 1,
                 (double *)B, ldb, 1, &beta, C, ldc, 1, NULL, &rntm);
}
