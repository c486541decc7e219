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

void fd_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    /* Below about 4M multiply-adds (some 20 us on one core) a BLIS thread team costs more
     * than it saves: measured 28 us on 1 thread against 106 us on 2 for attention's GEMMs. */
    const double work = (double)M * (double)N * (double)K;
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(omp_in_parallel() || work < 4194304.0 ? 1 : fd_threads(), &rntm);
    /* Row-major operands: row stride = leading dimension, column stride = 1. */
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &alpha, (float *)A, lda,
                 1, (float *)B, ldb, 1, &beta, C, ldc, 1, NULL, &rntm);
}
