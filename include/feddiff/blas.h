/* BLIS: kernel-set selection and the one sgemm entry point of feddiff.
 *
 * Debian's BLIS 0.9 does not recognise some recent CPUs (AMD family 26 among them) and falls
 * back to its portable `generic` kernels, about 6x slower. fd_blas_init picks a real kernel set
 * from the CPU's instruction set before BLIS initialises; the user's BLIS_ARCH_TYPE wins. */
#ifndef FEDDIFF_BLAS_H
#define FEDDIFF_BLAS_H

#include <stdbool.h>

/* Call once at start-up, before any thread is started and before any BLIS call. */
void fd_blas_init(void);
/* The kernel set BLIS runs ("skx", "zen3", "haswell", ... or "generic"). */
const char *fd_blas_kernel_set(void);
/* How it was chosen, e.g. "chosen by feddiff for AVX-512 (set BLIS_ARCH_TYPE to override)". */
const char *fd_blas_kernel_reason(void);
const char *fd_blas_version(void);

/* Row-major C = alpha * op(A) * op(B) + beta * C with op(A) M x K, op(B) K x N, C M x N.
 * Runs on the rank's thread budget as an OpenMP team, each thread one single-threaded BLIS
 * call on a block of C (BLIS never starts threads of its own); on one thread when called
 * inside a parallel region or when the product is too small to repay a team. The result does
 * not depend on the thread count. */
void fd_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* The same in double, on one thread (feddiff's double products are the evaluation's feature
 * statistics, small; callers run independent ones in parallel). */
void fd_dgemm(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double *A,
              int lda, const double *B, int ldb, double beta, double *C, int ldc);

#endif
