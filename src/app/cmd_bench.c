/* feddiff bench: figures, never pass/fail. Every speed is also given as a fraction of the
 * sgemm peak measured in the same run, the denominator of every efficiency figure. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "feddiff/blas.h"
#include "feddiff/conv2d.h"
#include "feddiff/error.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"

double fd_bench_sgemm_gflops(int n, int threads, int reps)
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

/* The convolutions of the default UNet (width 32, multipliers 1,2,2 at 28, 14, 7), each
 * distinct shape once. conv_in and conv_out (one channel) are degenerate GEMMs. */
typedef struct {
    const char *name;
    int C_in, C_out, K, stride, H;
    bool degenerate;
} conv_case;

static const conv_case unet_convs[] = {
    {"conv_in", 1, 32, 3, 1, 28, true},     {"res", 32, 32, 3, 1, 28, false},
    {"down", 32, 32, 3, 2, 28, false},      {"res", 32, 64, 3, 1, 14, false},
    {"skip", 32, 64, 1, 1, 14, false},      {"res", 64, 64, 3, 1, 14, false},
    {"down", 64, 64, 3, 2, 14, false},      {"res", 64, 64, 3, 1, 7, false},
    {"res up", 128, 64, 3, 1, 7, false},    {"skip up", 128, 64, 1, 1, 7, false},
    {"upsample", 64, 64, 3, 1, 14, false},  {"res up", 128, 64, 3, 1, 14, false},
    {"skip up", 128, 64, 1, 1, 14, false},  {"res up", 96, 64, 3, 1, 14, false},
    {"skip up", 96, 64, 1, 1, 14, false},   {"upsample", 64, 64, 3, 1, 28, false},
    {"res up", 96, 32, 3, 1, 28, false},    {"skip up", 96, 32, 1, 1, 28, false},
    {"res up", 64, 32, 3, 1, 28, false},    {"skip up", 64, 32, 1, 1, 28, false},
    {"conv_out", 32, 1, 3, 1, 28, true},
};

static void fill_pattern(float *x, size_t n, unsigned seed)
{
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)(state >> 8) * (1.0f / 16777216.0f) - 0.5f;
    }
}

typedef struct {
    const conv_case *c;
    int B, Ho, Wo;
    float *inp, *out, *weight, *bias, *dout, *dinp, *dweight, *dbias;
} conv_run;

static void conv_run_forward(const conv_run *r)
{
    const conv_case *c = r->c;
    fd_conv2d_forward(r->out, r->inp, r->weight, r->bias, r->B, c->H, c->H, c->C_in, c->C_out,
                      c->K, c->stride);
}

/* conv_in's input is the image: no input gradient, as in training. */
static void conv_run_backward(const conv_run *r)
{
    const conv_case *c = r->c;
    fd_conv2d_backward(c->C_in == 1 ? NULL : r->dinp, r->dweight, r->dbias, r->dout, r->inp,
                       r->weight, r->B, c->H, c->H, c->C_in, c->C_out, c->K, c->stride);
}

/* Best wall time of one call: at least `min_reps` calls and `min_seconds` in all. */
static double best_time(void (*call)(const conv_run *), const conv_run *r, int min_reps,
                        double min_seconds)
{
    call(r); /* warm-up: scratch growth, page faults */
    double best = 1e30, start = fd_now();
    for (int rep = 0; rep < min_reps || fd_now() - start < min_seconds; rep++) {
        double t = fd_now();
        call(r);
        t = fd_now() - t;
        if (t < best) best = t;
    }
    return best;
}

/* Best times of forward and backward for one shape at batch B; returns their flop counts. */
static void measure_conv(const conv_case *c, int B, double min_seconds, double *fwd_seconds,
                         double *bwd_seconds, double *fwd_flops, double *bwd_flops)
{
    conv_run r = {.c = c, .B = B};
    r.Ho = r.Wo = fd_conv2d_out_size(c->H, c->K, c->stride);
    size_t n_inp = (size_t)B * c->H * c->H * c->C_in;
    size_t n_out = (size_t)B * r.Ho * r.Wo * c->C_out;
    size_t n_w = (size_t)c->C_out * c->C_in * c->K * c->K;
    r.inp = fd_malloc(sizeof(float) * n_inp);
    r.dinp = fd_calloc(n_inp, sizeof(float));
    r.out = fd_malloc(sizeof(float) * n_out);
    r.dout = fd_malloc(sizeof(float) * n_out);
    r.weight = fd_malloc(sizeof(float) * n_w);
    r.dweight = fd_calloc(n_w, sizeof(float));
    r.bias = fd_malloc(sizeof(float) * c->C_out);
    r.dbias = fd_calloc((size_t)c->C_out, sizeof(float));
    fill_pattern(r.inp, n_inp, 1);
    fill_pattern(r.dout, n_out, 2);
    fill_pattern(r.weight, n_w, 3);
    fill_pattern(r.bias, (size_t)c->C_out, 4);

    *fwd_flops = 2.0 * n_out * c->C_in * c->K * c->K;
    *bwd_flops = (c->C_in == 1 ? 1.0 : 2.0) * *fwd_flops;
    *fwd_seconds = best_time(conv_run_forward, &r, 5, min_seconds);
    *bwd_seconds = best_time(conv_run_backward, &r, 5, min_seconds);
    free(r.inp);
    free(r.dinp);
    free(r.out);
    free(r.dout);
    free(r.weight);
    free(r.dweight);
    free(r.bias);
    free(r.dbias);
}

typedef struct {
    double seconds[2], flops[2]; /* forward, backward */
} tally;

static void tally_add(tally *t, const double seconds[2], const double flops[2])
{
    for (int pass = 0; pass < 2; pass++) {
        t->seconds[pass] += seconds[pass];
        t->flops[pass] += flops[pass];
    }
}

/* The figures of one table row after its 32-character label. */
static void print_figures(const tally *t, double peak, const char *note)
{
    for (int pass = 0; pass < 2; pass++) {
        double gflops = t->flops[pass] / t->seconds[pass] * 1e-9;
        printf("  %8.3f %8.1f %4.0f%%", t->seconds[pass] * 1e3, gflops, 100.0 * gflops / peak);
    }
    printf("%s\n", note);
}

static void bench_conv2d(double peak)
{
    const double min_seconds = 0.3; /* per figure: the table takes about half a minute */
    static const int batches[] = {16, 64};
    enum { N_CASES = sizeof unet_convs / sizeof unet_convs[0], N_BATCHES = 2 };
    /* per batch: the 3x3 without the degenerate ones, all 3x3, all 1x1 */
    tally real3[N_BATCHES], all3[N_BATCHES], all1[N_BATCHES];
    memset(real3, 0, sizeof real3);
    memset(all3, 0, sizeof all3);
    memset(all1, 0, sizeof all1);
    printf("conv2d, default UNet shapes (best call of >= 5 and >= %.1f s; peak = %.1f GFLOP/s):\n",
           min_seconds, peak);
    printf("  %-9s %-16s %3s  %8s %8s %5s  %8s %8s %5s\n", "layer", "C_in->C_out K s H",
           "B", "fwd ms", "GFLOP/s", "peak", "bwd ms", "GFLOP/s", "peak");
    for (int bi = 0; bi < N_BATCHES; bi++)
        for (int i = 0; i < N_CASES; i++) {
            const conv_case *c = &unet_convs[i];
            tally row;
            measure_conv(c, batches[bi], min_seconds, &row.seconds[0], &row.seconds[1],
                         &row.flops[0], &row.flops[1]);
            char shape[32];
            snprintf(shape, sizeof shape, "%d->%d %dx%d s%d %d", c->C_in, c->C_out, c->K, c->K,
                     c->stride, c->H);
            printf("  %-9s %-16s %3d", c->name, shape, batches[bi]);
            print_figures(&row, peak, c->C_in == 1 ? "  (no dinp)" : "");
            tally_add(c->K == 1 ? &all1[bi] : &all3[bi], row.seconds, row.flops);
            if (c->K == 3 && !c->degenerate) tally_add(&real3[bi], row.seconds, row.flops);
        }
    printf("totals (time-weighted: all flops / all time):\n");
    const struct {
        const char *label;
        const tally *per_batch;
    } groups[] = {{"3x3 without conv_in/out", real3}, {"all 3x3", all3}, {"all 1x1", all1}};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (int bi = 0; bi < N_BATCHES; bi++) {
            printf("  %-26s %3d", groups[g].label, batches[bi]);
            print_figures(&groups[g].per_batch[bi], peak, "");
        }
}

static int bench_kernels(void)
{
    printf("BLIS %s, kernels %s (%s)\n", fd_blas_version(), fd_blas_kernel_set(),
           fd_blas_kernel_reason());
    int max_threads = fd_threads();
    printf("sgemm peak (n = 2048, best of 5):\n");
    double peak = 0.0;
    for (int t = 1; t <= max_threads; t *= 2) {
        peak = fd_bench_sgemm_gflops(2048, t, 5);
        printf("  %d thread(s): %7.1f GFLOP/s\n", t, peak);
    }
    printf("\n");
    bench_conv2d(peak);
    return 0;
}

int fd_cmd_bench(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help")) {
        printf("usage: feddiff bench kernels\n"
               "       feddiff bench train-step [--batch B] [--steps S] [--warmup W]\n"
               "       [mpirun -n R] feddiff bench checkpoint [--clients N] [--method M] ...\n"
               "  kernels     sgemm peak on 1..N threads, then each convolution of the default\n"
               "              UNet, forward and backward, as GFLOP/s and fraction of that peak\n"
               "  train-step  W warm-up then S timed training steps (forward, backward, gradient\n"
               "              clipping, AdamW) of the default UNet on random data at batch B\n"
               "              (defaults 64, 10, 2): images/s, ms/step, GFLOP/s as a fraction of\n"
               "              the sgemm peak on the current threads, peak RSS\n"
               "  checkpoint  write bandwidth of a federated checkpoint for many clients\n"
               "              ('feddiff bench checkpoint --help')\n");
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "kernels")) return bench_kernels();
    if (!strcmp(argv[0], "train-step")) return fd_bench_train_step(argc - 1, argv + 1);
    if (!strcmp(argv[0], "checkpoint")) return fd_bench_checkpoint(argc - 1, argv + 1);
    fprintf(stderr, "feddiff: error: unknown benchmark '%s' (try 'feddiff bench --help')\n",
            argv[0]);
    return 2;
}
