/* feddiff bench: figures, never pass/fail. Every speed is also given as a fraction of the
 * sgemm peak measured in the same run, the denominator of every efficiency figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"

/* Best-of-`reps` GFLOP/s of a square sgemm of size n on `threads` threads. */
static double sgemm_gflops(int n, int threads, int reps)
{
    float *a = fd_malloc(sizeof(float) * (size_t)n * n);
    float *b = fd_malloc(sizeof(float) * (size_t)n * n);
    float *c = fd_malloc(sizeof(float) * (size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 13) * 0.01f;
        b[i] = (float)(i % 7) * 0.01f;
    }
    int saved = fd_threads();
    fd_threads_set(threads);
    fd_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = fd_now();
        fd_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = fd_now() - t;
        if (t < best) best = t;
    }
    fd_threads_set(saved);
    free(a);
    free(b);
    free(c);
    return 2.0 * n * n * (double)n / best * 1e-9;
}

static int bench_kernels(void)
{
    printf("BLIS %s, kernels %s (%s)\n", fd_blas_version(), fd_blas_kernel_set(),
           fd_blas_kernel_reason());
    int max_threads = fd_threads();
    printf("sgemm peak (n = 2048, best of 5):\n");
    for (int t = 1; t <= max_threads; t *= 2)
        printf("  %d thread(s): %7.1f GFLOP/s\n", t, sgemm_gflops(2048, t, 5));
    return 0;
}

int fd_cmd_bench(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help")) {
        printf("usage: feddiff bench kernels\n"
               "  kernels   sgemm peak on 1..N threads, then each convolution of the default\n"
               "            UNet, forward and backward, as GFLOP/s and fraction of that peak\n");
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "kernels")) return bench_kernels();
    fprintf(stderr, "feddiff: error: unknown benchmark '%s' (try 'feddiff bench --help')\n",
            argv[0]);
    return 2;
}
